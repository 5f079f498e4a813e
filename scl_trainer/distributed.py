"""Cross-process candidates for contrastive losses, with exact gradients.

Every process embeds its own rows; `gather_with_grad` concatenates the rows of all processes (in rank order) so the
loss can use them as candidates, and its backward sends every process the sum of the gradients that all processes
computed for its rows. Each process then takes the loss of its own anchors only, normalised by the *global* number
of anchors, and multiplies it by the world size: DDP averages gradients over processes, so the average of
world_size x (local share of the global loss) is exactly the gradient of the global loss, as if one process held the
whole batch.

A gather without gradient (`accelerator.gather`) would silently drop every cross-process term of the gradient;
scaling by 1 instead of world_size (as SimCSE's reference code does) shrinks it by 1/world_size.
"""

import torch
import torch.distributed as dist

__all__ = ["gather_with_grad", "gather_without_grad"]


class _AllGatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rows, ctx.rank = tensor.size(0), dist.get_rank()
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)  # (world_size * rows, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # Every process holds d(its loss)/d(all rows); the gradient of the global loss for this process's rows is
        # the sum over processes. all_reduce + slice works on every backend (gloo has no reduce_scatter).
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def _check_even(tensor: torch.Tensor) -> None:
    sizes = [torch.zeros(1, dtype=torch.long, device=tensor.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([tensor.size(0)], device=tensor.device))
    if len({int(s) for s in sizes}) != 1:
        raise RuntimeError(
            f"cross-process negatives need the same number of rows on every process, got {[int(s) for s in sizes]}; "
            "keep accelerate's even_batches (the default) or set gather_across_devices=False"
        )


def gather_with_grad(tensor: torch.Tensor) -> tuple[torch.Tensor, slice]:
    """All processes' rows (rank order) with gradient, and the slice of this process's rows in the result.

    tensor: (n, ...) with the same n on every process. Returns ((world_size * n, ...), slice)."""
    _check_even(tensor)
    n, rank = tensor.size(0), dist.get_rank()
    return _AllGatherWithGrad.apply(tensor), slice(rank * n, (rank + 1) * n)


def gather_without_grad(tensor: torch.Tensor) -> torch.Tensor:
    """All processes' rows (rank order) for tensors that need no gradient (labels, ids)."""
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)
