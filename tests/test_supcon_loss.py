"""SupConLoss against independent references (a loop transcription of the seed, pytorch-metric-learning) and its
invariants, edge cases and gradients."""

import math

import pytest
import torch
from pytorch_metric_learning.losses import SupConLoss as PMLSupConLoss

from scl_trainer import SupConLoss


def seed_supcon_loop(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float) -> tuple[float, list]:
    """Loop transcription of `compute_loss_of_scl` in ../shared/seeds/000_*.txt, in float64 Python scalars:
    l2-normalize; s_ik = z_i . z_k / T; denominator sum over k != i of exp(s_ik); for every positive j != i
    -log(exp(s_ij) / denominator), averaged over the positives; then the seed's K.mean over *all* anchors (anchors
    without positives contribute 0). The seed's K.epsilon() guards are left out (they only avoid log(0) / 0/0).

    Returns (the seed's mean over all anchors, the per-anchor losses with None for anchors without positives)."""
    z = [[float(x) for x in row] for row in embeddings.double()]
    z = [[x / math.sqrt(sum(v * v for v in row)) for x in row] for row in z]
    labels = [int(y) for y in labels]
    n = len(z)
    per_anchor = []
    for i in range(n):
        sims = [sum(a * b for a, b in zip(z[i], z[k])) / temperature for k in range(n)]
        denominator = sum(math.exp(sims[k]) for k in range(n) if k != i)
        positives = [j for j in range(n) if j != i and labels[j] == labels[i]]
        if not positives:
            per_anchor.append(None)
            continue
        per_anchor.append(sum(-math.log(math.exp(sims[j]) / denominator) for j in positives) / len(positives))
    seed_mean = sum(loss or 0.0 for loss in per_anchor) / n
    return seed_mean, per_anchor


def random_batch(n=12, d=16, num_classes=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, d, generator=g, dtype=dtype)
    labels = torch.arange(n) % num_classes  # every class appears n / num_classes >= 2 times
    labels = labels[torch.randperm(n, generator=g)]
    return embeddings, labels


@pytest.mark.parametrize("temperature", [0.05, 0.2, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_seed_loop_when_every_anchor_has_a_positive(temperature, seed):
    embeddings, labels = random_batch(seed=seed)
    expected, _ = seed_supcon_loop(embeddings, labels, temperature)
    got = SupConLoss(temperature)(embeddings, labels)
    assert got.item() == pytest.approx(expected, abs=1e-5, rel=1e-6)


def test_matches_seed_loop_with_singletons_up_to_the_documented_mean():
    """With anchors that have no positive, ours averages over anchors with positives; the seed averages over all."""
    embeddings, _ = random_batch(n=10, seed=3)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 4, 1, 5])  # classes 2, 3, 4, 5 are singletons
    seed_mean, per_anchor = seed_supcon_loop(embeddings, labels, 0.2)
    with_positive = [loss for loss in per_anchor if loss is not None]
    loss, stats = SupConLoss(0.2)(embeddings, labels, return_stats=True)
    assert loss.item() == pytest.approx(sum(with_positive) / len(with_positive), abs=1e-6)
    assert loss.item() * len(with_positive) / len(labels) == pytest.approx(seed_mean, abs=1e-6)
    assert stats["anchors_without_positive"].item() == 4
    assert stats["anchors"].item() == 10


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_pytorch_metric_learning(seed):
    embeddings, labels = random_batch(n=16, d=8, num_classes=4, seed=seed, dtype=torch.float32)
    ours = SupConLoss(temperature=0.2)(embeddings, labels)
    reference = PMLSupConLoss(temperature=0.2)(embeddings, labels)
    assert ours.item() == pytest.approx(reference.item(), abs=1e-5)


def test_invariant_to_row_permutation_and_positive_rescaling():
    embeddings, labels = random_batch(seed=4)
    loss = SupConLoss(0.2)(embeddings, labels)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    assert SupConLoss(0.2)(embeddings[perm], labels[perm]).item() == pytest.approx(loss.item(), abs=1e-10)
    scales = torch.rand(len(labels), 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 10 + 0.1
    assert SupConLoss(0.2)(embeddings * scales, labels).item() == pytest.approx(loss.item(), abs=1e-10)


def test_lower_when_classes_are_separated():
    """Sanity of direction: embeddings clustered by label give a lower loss than the same points shuffled."""
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    clustered = torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.9, 0.0], [-1.0, 0.1], [-1.0, -0.1], [-0.9, 0.0]])
    mixed = clustered[torch.tensor([0, 3, 1, 4, 2, 5])]
    assert SupConLoss(0.2)(clustered, labels) < SupConLoss(0.2)(mixed, labels)


def test_gradcheck_float64():
    embeddings, labels = random_batch(n=6, d=4, num_classes=2, seed=5)
    embeddings.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: SupConLoss(0.3)(e, labels), (embeddings,))


def test_gradcheck_float64_with_singletons():
    embeddings, _ = random_batch(n=5, d=4, seed=6)
    embeddings.requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 2, 2])
    assert torch.autograd.gradcheck(lambda e: SupConLoss(0.3)(e, labels), (embeddings,))


@pytest.mark.parametrize(
    "labels",
    [torch.tensor([1, 1, 1, 1]), torch.tensor([0, 0, 0, 0, 0, 0, 0, 0])],
    ids=["single-class-4", "single-class-8"],
)
def test_single_class_batch_is_finite_and_all_anchors_count(labels):
    """Every other row is a positive, there are no negatives: the loss is the log of the number of candidates minus
    the mean positive logit relative to logsumexp, finite."""
    embeddings = torch.randn(len(labels), 8, requires_grad=True)
    loss, stats = SupConLoss(0.2)(embeddings, labels, return_stats=True)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(embeddings.grad).all()
    assert stats["anchors_without_positive"].item() == 0
    # Identical embeddings: every candidate equally likely, loss = log(N - 1) exactly.
    same = torch.ones(len(labels), 8)
    assert SupConLoss(0.2)(same, labels).item() == pytest.approx(math.log(len(labels) - 1), abs=1e-6)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_all_singletons_give_connected_zero(n):
    embeddings = torch.randn(n, 8, requires_grad=True)
    labels = torch.arange(n)
    loss, stats = SupConLoss(0.2)(embeddings, labels, return_stats=True)
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))
    assert stats["anchors_without_positive"].item() == n


def test_float32_under_bf16_autocast_and_half_inputs():
    embeddings, labels = random_batch(n=16, d=32, num_classes=4, seed=7, dtype=torch.float32)
    reference = SupConLoss(0.05)(embeddings, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = SupConLoss(0.05)(embeddings, labels)
    from_half = SupConLoss(0.05)(embeddings.half(), labels)
    assert under_autocast.dtype == torch.float32 and from_half.dtype == torch.float32
    assert under_autocast.item() == pytest.approx(reference.item(), abs=1e-6)
    # Only the rounding of the inputs to float16 remains.
    assert from_half.item() == pytest.approx(reference.item(), rel=2e-3)


def test_large_scale_logits_stay_finite():
    """A tiny temperature makes logits of +-1000: logsumexp keeps it finite where exp() would overflow."""
    embeddings, labels = random_batch(n=8, d=4, num_classes=2, seed=8, dtype=torch.float32)
    loss = SupConLoss(temperature=1e-3)(embeddings, labels)
    assert torch.isfinite(loss)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        SupConLoss(temperature=0.0)
    with pytest.raises(ValueError, match=r"expects embeddings \(N, D\) and labels \(N,\)"):
        SupConLoss()(torch.randn(4, 3), torch.tensor([0, 1, 0]))
