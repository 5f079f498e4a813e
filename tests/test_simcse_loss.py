"""SimCSELoss against a loop transcription of the seed (../shared/seeds/001_*.txt), gradcheck, invariants, B = 1."""

import math

import pytest
import torch

from scl_trainer import SimCSELoss


def seed_simcse_loop(embeddings: torch.Tensor, scale: float = 20.0) -> float:
    """Loop transcription of the seed's `simcse_loss` in float64 Python scalars: y_true row j is one-hot at
    j + 1 - 2 (j mod 2); y_pred is l2-normalized; similarities = dot products, the diagonal minus 1e12, times 20;
    categorical cross-entropy from logits, averaged over rows. exp(-1e12 * 20 - ...) is exactly 0 in floating point,
    so the diagonal term is left out of the sum."""
    z = [[float(x) for x in row] for row in embeddings.double()]
    z = [[x / math.sqrt(sum(v * v for v in row)) for x in row] for row in z]
    n = len(z)
    losses = []
    for j in range(n):
        target = j + 1 - j % 2 * 2
        logits = {k: scale * sum(a * b for a, b in zip(z[j], z[k])) for k in range(n) if k != j}
        log_norm = math.log(sum(math.exp(v) for v in logits.values()))
        losses.append(-(logits[target] - log_norm))
    return sum(losses) / n


def views(batch_sentences=6, d=16, noise=0.3, seed=0, dtype=torch.float64):
    """(2B, D): sentence vectors, each twice with independent noise (the two "dropout views")."""
    g = torch.Generator().manual_seed(seed)
    sentences = torch.randn(batch_sentences, d, generator=g, dtype=dtype)
    doubled = sentences.repeat_interleave(2, dim=0)
    return doubled + noise * torch.randn(doubled.shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("batch_sentences", [2, 5, 16])
def test_matches_seed_loop_float64(seed, batch_sentences):
    embeddings = views(batch_sentences, seed=seed)
    assert SimCSELoss(temperature=0.05)(embeddings).item() == pytest.approx(
        seed_simcse_loop(embeddings, scale=20.0), abs=1e-6
    )


def test_temperature_is_inverse_scale():
    embeddings = views(4, seed=3)
    assert SimCSELoss(temperature=0.1)(embeddings).item() == pytest.approx(
        seed_simcse_loop(embeddings, 10.0), abs=1e-6
    )


def test_gradcheck_float64():
    embeddings = views(3, d=5, seed=4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: SimCSELoss(0.5)(e), (embeddings,))


def test_single_sentence_batch_is_zero_with_zero_gradient():
    """B = 1: the only candidate of each view is the other view, so -log softmax = 0: no negatives, no signal."""
    embeddings = torch.randn(2, 8, requires_grad=True)
    loss = SimCSELoss(0.05)(embeddings)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    assert torch.isfinite(embeddings.grad).all() and embeddings.grad.abs().max().item() < 1e-6


def test_invariant_to_pair_order_view_order_and_rescaling():
    embeddings = views(6, seed=5)
    loss = SimCSELoss(0.05)(embeddings)
    pairs = embeddings.view(6, 2, -1)
    shuffled = pairs[torch.tensor([3, 0, 5, 1, 4, 2])].reshape(12, -1)
    swapped = pairs.flip(1).reshape(12, -1)
    scaled = embeddings * torch.linspace(0.1, 7.0, 12, dtype=torch.float64)[:, None]
    for other in (shuffled, swapped, scaled):
        assert SimCSELoss(0.05)(other).item() == pytest.approx(loss.item(), abs=1e-10)


def test_lower_when_views_agree():
    sentences = torch.randn(8, 16, generator=torch.Generator().manual_seed(6)).repeat_interleave(2, dim=0)
    noisy = sentences + torch.randn(sentences.shape, generator=torch.Generator().manual_seed(7))
    assert SimCSELoss(0.05)(sentences) < SimCSELoss(0.05)(noisy)


def test_float32_under_bf16_autocast_and_half_inputs():
    embeddings = views(8, d=32, seed=8, dtype=torch.float32)
    reference = SimCSELoss(0.05)(embeddings)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = SimCSELoss(0.05)(embeddings)
    from_half = SimCSELoss(0.05)(embeddings.half())
    assert under_autocast.dtype == torch.float32 and from_half.dtype == torch.float32
    assert under_autocast.item() == pytest.approx(reference.item(), abs=1e-6)
    assert from_half.item() == pytest.approx(reference.item(), rel=5e-3)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        SimCSELoss(temperature=-0.05)
    with pytest.raises(ValueError, match=r"expects \(2B, D\) embeddings"):
        SimCSELoss()(torch.randn(5, 4))
