"""Contrastive and ranking losses as small, pure `nn.Module`s: tensors in, a scalar out. No model inside.

The contrastive losses (SupCon, SimCSE)

- L2-normalize the embeddings themselves, so callers pass raw encoder vectors;
- run in float32 (float64 stays float64) with autocast switched off, so bf16/fp16 training does not put the
  exp/log of a softmax in half precision;
- exclude self-similarity by masking, never by subtracting a huge constant such as the seeds' `1e12`, which
  overflows a float16 tensor.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CoSENTLoss", "OnlineContrastiveLoss", "SimCSELoss", "SupConLoss"]


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

    Distributed use: pass the rows of all processes as `embeddings`/`labels` (every row is a candidate) and this
    process's rows as `anchors`; the result is this process's share of the batch loss (the sum of L_i over its
    anchors divided by the number of anchors with a positive in the whole batch), so the shares add up to the loss.

    Args:
        temperature: the softmax temperature t (> 0). The CCF QA-matching seed uses 0.2.

    Shapes:
        embeddings: (N, D) float tensor, not necessarily normalized.
        labels: (N,) integer (or integral float) tensor.
        anchors: a slice of the N rows (default: all rows), A rows.
        returns: scalar tensor; with `return_stats=True` a tuple (loss, stats) of detached 0-dim tensors over the
            anchors: `anchors`, `anchors_without_positive`, `negatives_per_anchor` (mean) and `pos_neg_gap` (mean
            over anchors with positives and negatives of: mean cosine to positives - max cosine to negatives).

    References:
        Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, https://arxiv.org/abs/2004.11362, Eq. (2)
        (L^sup_out). Used for fine-tuning as in Gunel et al., "Supervised Contrastive Learning for Pre-trained
        Language Model Fine-Tuning", ICLR 2021, https://arxiv.org/abs/2011.01403, Sec. 3.
    """

    def __init__(self, temperature: float = 0.2):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"SupConLoss: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        anchors: slice | None = None,
        return_stats: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if embeddings.dim() != 2 or labels.dim() != 1 or labels.size(0) != embeddings.size(0):
            raise ValueError(
                f"SupConLoss expects embeddings (N, D) and labels (N,), got {tuple(embeddings.shape)} and "
                f"{tuple(labels.shape)}"
            )
        n = embeddings.size(0)
        anchors = anchors if anchors is not None else slice(0, n)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            z = F.normalize(embeddings.to(_compute_dtype(embeddings.dtype)), dim=-1)  # (N, D)
            cosine = z[anchors] @ z.T  # (A, N)
            rows = torch.arange(n, device=z.device)[anchors]  # (A,) index of each anchor among the N rows
            self_mask = rows.unsqueeze(1) == torch.arange(n, device=z.device).unsqueeze(0)  # (A, N)
            same_label = labels[anchors].unsqueeze(1) == labels.unsqueeze(0)  # (A, N)
            positive_mask = same_label & ~self_mask  # (A, N)
            negative_mask = ~same_label  # (A, N)
            num_positives = positive_mask.sum(dim=1)  # (A,)
            has_positive = num_positives > 0  # (A,)
            # Anchors with a positive in the whole batch: the denominator of the batch mean.
            _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
            batch_with_positive = (counts[inverse] >= 2).sum()

            stats = {}
            if return_stats:
                with torch.no_grad():
                    has_both = has_positive & negative_mask.any(dim=1)
                    mean_positive = torch.where(positive_mask, cosine, 0.0).sum(1) / num_positives.clamp(min=1)
                    hardest_negative = cosine.masked_fill(~negative_mask, float("-inf")).max(dim=1).values
                    gap = (mean_positive - hardest_negative)[has_both]
                    stats = {
                        "anchors": torch.tensor(len(rows), device=z.device),
                        "anchors_without_positive": (~has_positive).sum(),
                        "negatives_per_anchor": negative_mask.sum(1).float().mean(),
                        "pos_neg_gap": gap.mean() if gap.numel() else torch.tensor(float("nan"), device=z.device),
                    }

            logits = cosine / self.temperature  # (A, N)
            if not has_positive.any():
                # Nothing to contrast here: a zero that keeps the graph (and gives exact zero gradients).
                loss = logits.sum() * 0.0
                return (loss, stats) if return_stats else loss

            # log-softmax over k != i. -inf on the diagonal is safe in float32/64 (it is never a half tensor), and
            # every anchor row keeps a finite entry (n >= 2 here: an anchor with a positive exists).
            logits = logits.masked_fill(self_mask, float("-inf"))
            log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (A, N), diagonal -inf
            # `where` rather than multiply, so the -inf diagonal never meets a 0 (0 * -inf = NaN).
            positive_log_prob = torch.where(positive_mask, log_prob, torch.zeros_like(log_prob)).sum(dim=1)  # (A,)
            per_anchor = -positive_log_prob[has_positive] / num_positives[has_positive]  # (A',)
            loss = per_anchor.sum() / batch_with_positive
        return (loss, stats) if return_stats else loss


class SimCSELoss(nn.Module):
    r"""SimCSE loss over a batch of sentence pairs on adjacent rows: rows 2i and 2i+1 are pair i.

    Unsupervised (the default): rows 2i and 2i+1 are two dropout views of sentence i. Supervised (`positive_pairs`
    given): rows 2i, 2i+1 are the two texts of a labelled pair; only the pairs labelled positive make anchors, and
    the texts of the negative pairs stay in the batch as candidates, so the second text of a negative pair is a hard
    negative of its first text wherever that text is also an anchor (the same text in a positive pair).

    With z the L2-normalized rows and s_jk = z_j . z_k / t, every anchor row j is a classification over the other
    rows whose target is the other row of its pair, t(j) = j + 1 - 2 (j mod 2) (the seed's `idxs + 1 - idxs % 2 * 2`):

        L = 1/|J| sum_{j in J}  -log( exp(s_j,t(j)) / sum_{k not masked for j} exp(s_jk) ),   J = the anchor rows

    Both rows of a pair act as anchors (the loss is symmetric), and every other row is an in-batch negative. Masked
    out of the softmax of anchor j (never negatives): j itself; with `sentence_ids`, every other row holding the
    anchor's text or its target's text (false negatives: duplicates, or both views of one sentence); and with
    `positive_pairs`, every row holding a text that a positive pair of the batch matches with the anchor's text
    (another positive, e.g. a second matching reply of the same query). The target itself is never masked. With B = 1
    unsupervised the only candidate is the target: the loss is exactly 0 (no negatives, no signal) with zero
    gradients, not NaN; when no pair of the batch is positive the loss is a zero connected to the graph.

    Distributed use: pass the rows of all processes as `embeddings` (and their `sentence_ids` / `positive_pairs`) and
    this process's rows as `anchors` (an even slice); the result is this process's share of the batch loss (its
    anchor rows' terms divided by the number of anchor rows in the whole batch).

    The seed multiplies cosine similarities by a scale of 20, i.e. temperature 0.05 (the paper's value).

    Args:
        temperature: the softmax temperature t (> 0).

    Shapes:
        embeddings: (2B, D) float tensor, the two rows of a pair adjacent, not necessarily normalized.
        anchors: a slice of the 2B rows starting at an even row (default: all rows), A rows.
        sentence_ids: (2B,) integer tensor, equal for identical inputs (both views of a sentence share one).
        positive_pairs: (B,) bool tensor, True for the pairs whose two texts match (supervised); None: every pair is
            positive (unsupervised).
        returns: scalar tensor; with `return_stats=True` a tuple (loss, stats) of detached 0-dim tensors:
            `masked_duplicates` (anchor-candidate pairs masked as false negatives, beyond self and target),
            `negatives_per_anchor` (mean over anchor rows) and `anchors` (anchor rows of this slice).

    References:
        Gao, Yao, Chen, "SimCSE: Simple Contrastive Learning of Sentence Embeddings", EMNLP 2021,
        https://arxiv.org/abs/2104.08821, Eq. (1) (unsupervised) and Eq. (5) (supervised, with hard negatives);
        here symmetric over both rows of a pair, the hard negatives being the texts of the negative pairs.
    """

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"SimCSELoss: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(
        self,
        embeddings: torch.Tensor,
        anchors: slice | None = None,
        sentence_ids: torch.Tensor | None = None,
        return_stats: bool = False,
        positive_pairs: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if embeddings.dim() != 2 or embeddings.size(0) % 2 or embeddings.size(0) == 0:
            raise ValueError(
                f"SimCSELoss expects (2B, D) embeddings with the two rows of each pair adjacent, got "
                f"{tuple(embeddings.shape)}"
            )
        n = embeddings.size(0)
        if positive_pairs is not None and tuple(positive_pairs.shape) != (n // 2,):
            raise ValueError(f"SimCSELoss: positive_pairs must be ({n // 2},), got {tuple(positive_pairs.shape)}")
        anchors = anchors if anchors is not None else slice(0, n)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            z = F.normalize(embeddings.to(_compute_dtype(embeddings.dtype)), dim=-1)  # (2B, D)
            rows = torch.arange(n, device=z.device)[anchors]  # (A,)
            if rows.numel() % 2 or (rows.numel() and rows[0] % 2):
                raise ValueError("SimCSELoss: anchors must hold whole pairs of rows (an even slice)")
            logits = z[anchors] @ z.T / self.temperature  # (A, 2B)
            columns = torch.arange(n, device=z.device).unsqueeze(0)  # (1, 2B)
            targets = rows + 1 - rows % 2 * 2  # (A,): the other row of each anchor's pair
            is_target = columns == targets.unsqueeze(1)  # (A, 2B)
            masked = rows.unsqueeze(1) == columns  # (A, 2B): self-similarity
            false_negatives = torch.zeros_like(masked)
            if sentence_ids is not None:  # the anchor's text or its target's text on another row
                same_text = sentence_ids[anchors].unsqueeze(1) == sentence_ids.unsqueeze(0)  # (A, 2B)
                same_text |= sentence_ids[targets].unsqueeze(1) == sentence_ids.unsqueeze(0)
                false_negatives |= same_text
            is_anchor = torch.ones(rows.numel(), dtype=torch.bool, device=z.device)  # (A,)
            total_anchors = n
            if positive_pairs is not None:
                positive_pairs = positive_pairs.bool()
                is_anchor = positive_pairs[rows // 2]
                total_anchors = 2 * int(positive_pairs.sum())
                ids = sentence_ids if sentence_ids is not None else torch.arange(n, device=z.device)
                first, second = ids[0::2][positive_pairs], ids[1::2][positive_pairs]  # (P,) texts of positive pairs
                anchor_ids = ids[anchors].unsqueeze(1)  # (A, 1)
                # Texts matched with the anchor's text by a positive pair, then the rows holding them.
                partner_first = (anchor_ids == first.unsqueeze(0)).float() @ (second.unsqueeze(1) == ids).float()
                partner_second = (anchor_ids == second.unsqueeze(0)).float() @ (first.unsqueeze(1) == ids).float()
                false_negatives |= (partner_first + partner_second) > 0  # (A, 2B)
            false_negatives &= ~is_target & ~masked
            masked = masked | false_negatives
            stats = {}
            if return_stats:
                with torch.no_grad():
                    negatives = (n - 2 - false_negatives.sum(1))[is_anchor].float()
                    stats = {
                        "masked_duplicates": false_negatives[is_anchor].sum().detach(),
                        "negatives_per_anchor": negatives.mean() if negatives.numel() else negatives.new_tensor(0.0),
                        "anchors": is_anchor.sum().detach(),
                    }
            if total_anchors == 0:  # no positive pair anywhere in the batch: nothing to pull together
                loss = logits.sum() * 0.0
                return (loss, stats) if return_stats else loss
            # -inf is safe here: float32/64 only, and every row keeps its (finite) target.
            logits = logits.masked_fill(masked, float("-inf"))
            loss = F.cross_entropy(logits[is_anchor], targets[is_anchor], reduction="sum") / total_anchors
        return (loss, stats) if return_stats else loss


class CoSENTLoss(nn.Module):
    r"""CoSENT: every positive pair of the batch ranked above every negative pair by its cosine.

    With c_i the cosine of pair i's two texts and s the scale,

        L = log( 1 + sum_{i negative, j positive} exp(s (c_i - c_j)) )

    a smooth maximum over the mis-rankings (the log-sum-exp of 0 and every negative-minus-positive gap): a pair
    classifier's ROC-AUC is exactly the share of (positive, negative) pairs ranked right, which this optimises
    directly. With no positive or no negative pair in the batch the sum is empty and the loss is a zero connected to
    the graph (zero gradients). Computed in float32 (float64 stays float64) with autocast off.

    Distributed use: pass every process's pairs (the loss compares all of them); the result is the whole batch's
    loss, the same on every process.

    Args:
        scale: s (> 0); 20 as sentence-transformers' `CoSENTLoss` and AnglE.

    Shapes:
        cosines: (B,) cosine of each pair's two texts.
        labels: (B,) 0/1 (bool, integer or float) pair labels.
        returns: scalar tensor.

    References:
        Su, "CoSENT: a more effective sentence vector scheme than Sentence-BERT", 2022,
        https://kexue.fm/archives/8847 (the loss above, Eq. 4); Li and Li, "AnglE-optimized Text Embeddings", 2023,
        https://arxiv.org/abs/2309.12871 (Eq. 2, the cosine objective).
    """

    def __init__(self, scale: float = 20.0):
        super().__init__()
        if not scale > 0:
            raise ValueError(f"CoSENTLoss: scale must be > 0, got {scale}")
        self.scale = scale

    def extra_repr(self) -> str:
        return f"scale={self.scale}"

    def forward(self, cosines: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=cosines.device.type, enabled=False):
            c = cosines.reshape(-1).to(_compute_dtype(cosines.dtype)) * self.scale  # (B,)
            positive = labels.reshape(-1) > 0.5  # (B,)
            gaps = c.unsqueeze(1) - c.unsqueeze(0)  # (B, B): s c_i - s c_j
            mis_ranked = ~positive.unsqueeze(1) & positive.unsqueeze(0)  # i negative, j positive
            terms = torch.cat([c.new_zeros(1), gaps[mis_ranked]])  # the 0 is log(1 + ...)'s 1
            return torch.logsumexp(terms, dim=0) + c.sum() * 0.0  # connected to the graph when the sum is empty


class OnlineContrastiveLoss(nn.Module):
    r"""Contrastive loss (Hadsell et al.) on the pairs the batch gets wrong, summed.

    With d_i = 1 - c_i the cosine distance of pair i and m the margin, the hard pairs are the positives farther apart
    than the closest negative and the negatives closer than the farthest positive (with no pair of the other class,
    every pair of a class is hard: its own term decides), and

        L = sum_{i hard positive} d_i^2 + sum_{i hard negative} max(0, m - d_i)^2

    Summed, not averaged (as sentence-transformers' `OnlineContrastiveLoss`, the peer `make pair-evidence` measures):
    a batch with more mistakes weighs more. With no hard pair the loss is a zero connected to the graph.

    Args:
        margin: m, the distance beyond which a negative pair costs nothing (0.5 as the peer).

    Shapes:
        cosines: (B,) cosine of each pair's two texts.
        labels: (B,) 0/1 pair labels.
        returns: scalar tensor.

    References:
        Hadsell, Chopra, LeCun, "Dimensionality Reduction by Learning an Invariant Mapping", CVPR 2006, Eq. 4 (the
        contrastive loss); the online hard-pair selection as in sentence-transformers' `OnlineContrastiveLoss`.
    """

    def __init__(self, margin: float = 0.5):
        super().__init__()
        if not margin > 0:
            raise ValueError(f"OnlineContrastiveLoss: margin must be > 0, got {margin}")
        self.margin = margin

    def extra_repr(self) -> str:
        return f"margin={self.margin}"

    def forward(self, cosines: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=cosines.device.type, enabled=False):
            d = 1.0 - cosines.reshape(-1).to(_compute_dtype(cosines.dtype))  # (B,) cosine distances
            positive = labels.reshape(-1) > 0.5  # (B,)
            d_pos, d_neg = d[positive], d[~positive]
            hard_pos = d_pos > d_neg.min() if d_neg.numel() else torch.ones_like(d_pos, dtype=torch.bool)
            hard_neg = d_neg < d_pos.max() if d_pos.numel() else torch.ones_like(d_neg, dtype=torch.bool)
            loss = d_pos[hard_pos].pow(2).sum() + F.relu(self.margin - d_neg[hard_neg]).pow(2).sum()
            return loss + d.sum() * 0.0  # connected to the graph when no pair is hard
