"""GradCache: a contrastive batch larger than what fits in memory at once, with the gradients of the full batch.

1. Split the batch into chunks and compute each chunk's representations without a graph, recording the random
   state (dropout!) before each chunk.
2. The caller computes the loss over all representations together (they are a leaf that requires grad).
3. When backward reaches that leaf, each chunk is run again with a graph under its recorded random state (so the
   dropout masks are the ones the loss saw) and its rows' gradient is backpropagated into the model.

Peak activation memory is that of one chunk; the price is a second forward pass. The gradient the hook receives
already carries everything the Trainer applies to the loss (division by gradient accumulation steps, mixed precision
loss scaling), so nothing is done twice or forgotten.

References:
    Gao, Zhang, Han, Callan, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup", RepL4NLP
    2021, https://arxiv.org/abs/2101.06983, Sec. 3 (gradient cache).
"""

import contextlib
from collections.abc import Callable

import torch

__all__ = ["cached_forward"]


class _RandomState:
    """The CPU and CUDA random states at one point, to run a forward pass again with the same dropout masks."""

    def __init__(self):
        self.cpu = torch.get_rng_state()
        self.devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
        self.cuda = [torch.cuda.get_rng_state(d) for d in self.devices]

    @contextlib.contextmanager
    def replay(self):
        # fork_rng restores the surrounding random state afterwards: the replay does not shift later dropout masks.
        with torch.random.fork_rng(devices=self.devices):
            torch.set_rng_state(self.cpu)
            for device, state in zip(self.devices, self.cuda):
                torch.cuda.set_rng_state(state, device)
            yield


def _split(batch: dict[str, torch.Tensor], chunk_size: int) -> list[dict[str, torch.Tensor]]:
    rows = next(iter(batch.values())).size(0)
    return [{k: v[start : start + chunk_size] for k, v in batch.items()} for start in range(0, rows, chunk_size)]


def cached_forward(
    forward: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    batch: dict[str, torch.Tensor],
    chunk_size: int,
    no_sync: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> torch.Tensor:
    """Representations of all rows of `batch`, computed chunk by chunk without a graph, as a leaf tensor whose
    backward replays the chunks with a graph (same random state) and backpropagates into the model.

    forward: maps a chunk of the batch (dict of (rows, ...) tensors) to its (rows, D) representations.
    no_sync: context manager that suspends DDP's gradient all-reduce; used for every chunk but the last, so the
        processes synchronise once per step on the accumulated gradient.
    Returns: (rows, D) tensor, requires_grad. Its backward can run once.
    """
    chunks = _split(batch, chunk_size)
    states, parts = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(_RandomState())
            parts.append(forward(chunk))
    representations = torch.cat(parts).requires_grad_()

    def replay(grad: torch.Tensor) -> None:
        start = 0
        with torch.enable_grad():  # backward hooks run with grad mode off
            for i, (chunk, state) in enumerate(zip(chunks, states)):
                sync = contextlib.nullcontext() if i == len(chunks) - 1 else no_sync()
                with sync, state.replay():
                    output = forward(chunk)
                    output.backward(grad[start : start + output.size(0)].to(output.dtype))
                start += output.size(0)

    representations.register_hook(replay)
    return representations
