"""Contrastive losses as small, pure `nn.Module`s: tensors in, a scalar out. No model inside.

Both losses

- L2-normalize the embeddings themselves, so callers pass raw encoder vectors;
- run in float32 (float64 stays float64) with autocast switched off, so bf16/fp16 training does not put the
  exp/log of a softmax in half precision;
- exclude self-similarity by masking, never by subtracting a huge constant such as the seeds' `1e12`, which
  overflows a float16 tensor.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SupConLoss"]


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16/bfloat16 -> float32; float32 and float64 unchanged."""
    return torch.promote_types(dtype, torch.float32)


class SupConLoss(nn.Module):
    r"""Supervised contrastive loss (SupCon), the "L_out" variant.

    For a batch of N embeddings z_i with labels y_i, positives of anchor i are P(i) = {p != i : y_p = y_i} and

        L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip / t) / sum_{k != i} exp(s_ik / t) ),   s = cosine similarity

    The loss is the mean of L_i over the anchors with |P(i)| >= 1. Anchors without any positive (a class seen once in
    the batch) cannot contribute; they are left out of the mean (the Keras seed in `compute_loss_of_scl` counts them
    as zeros in the mean, which shrinks the loss on batches with many singletons). When no anchor has a positive the
    loss is a zero that stays connected to the graph, so backward gives zero gradients rather than NaN.

    Args:
        temperature: the softmax temperature t (> 0). The CCF QA-matching seed uses 0.2.

    Shapes:
        embeddings: (N, D) float tensor, not necessarily normalized.
        labels: (N,) integer (or integral float) tensor.
        returns: scalar tensor; with `return_stats=True` a tuple (loss, stats) where stats holds
            `anchors_without_positive` and `anchors` (0-dim tensors, detached).

    References:
        Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, https://arxiv.org/abs/2004.11362, Eq. (2)
        (L^sup_out). Used for fine-tuning as in Gunel et al., "Supervised Contrastive Learning for Pre-trained
        Language Model Fine-Tuning", ICLR 2021, https://arxiv.org/abs/2011.01403, Eq. (2)-(3).
    """

    def __init__(self, temperature: float = 0.2):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"SupConLoss: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, return_stats: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if embeddings.dim() != 2 or labels.dim() != 1 or labels.size(0) != embeddings.size(0):
            raise ValueError(
                f"SupConLoss expects embeddings (N, D) and labels (N,), got {tuple(embeddings.shape)} and "
                f"{tuple(labels.shape)}"
            )
        n = embeddings.size(0)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            z = F.normalize(embeddings.to(_compute_dtype(embeddings.dtype)), dim=-1)  # (N, D)
            logits = z @ z.T / self.temperature  # (N, N)

            self_mask = torch.eye(n, dtype=torch.bool, device=z.device)  # (N, N)
            positive_mask = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~self_mask  # (N, N)
            num_positives = positive_mask.sum(dim=1)  # (N,)
            has_positive = num_positives > 0  # (N,)

            stats = {
                "anchors_without_positive": (~has_positive).sum().detach(),
                "anchors": torch.tensor(n, device=z.device),
            }
            if not has_positive.any():
                # Nothing to contrast: a zero that keeps the graph (and gives exact zero gradients).
                loss = logits.sum() * 0.0
                return (loss, stats) if return_stats else loss

            # log-softmax over k != i. -inf on the diagonal is safe in float32/64 (it is never a half tensor), and
            # every row keeps at least one finite entry because n >= 2 here (an anchor with a positive exists).
            logits = logits.masked_fill(self_mask, float("-inf"))
            log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (N, N), diagonal -inf
            # `where` rather than multiply, so the -inf diagonal never meets a 0 (0 * -inf = NaN).
            positive_log_prob = torch.where(positive_mask, log_prob, torch.zeros_like(log_prob)).sum(dim=1)  # (N,)
            per_anchor = -positive_log_prob[has_positive] / num_positives[has_positive]  # (A,)
            loss = per_anchor.mean()
        return (loss, stats) if return_stats else loss
