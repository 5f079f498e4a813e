"""CoSENT and the online contrastive loss against naive loops in float64 Python scalars: ordinary batches, batches
with no positive or no negative pair, and the direction of the gradient of a mis-ranked pair."""

import math

import pytest
import torch

from scl_trainer.losses import CoSENTLoss, OnlineContrastiveLoss


def cosent_loop(cosines, labels, scale) -> float:
    """log(1 + sum over (negative i, positive j) of exp(scale (c_i - c_j)))."""
    c, y = [float(x) for x in cosines], [int(v) for v in labels]
    total = 1.0
    for i in range(len(c)):
        for j in range(len(c)):
            if y[i] == 0 and y[j] == 1:
                total += math.exp(scale * (c[i] - c[j]))
    return math.log(total)


def online_contrastive_loop(cosines, labels, margin) -> float:
    """Hard positives: farther than the closest negative; hard negatives: closer than the farthest positive (with no
    pair of the other class, all of a class); sum of d^2 and max(0, margin - d)^2."""
    d, y = [1.0 - float(x) for x in cosines], [int(v) for v in labels]
    positives = [di for di, yi in zip(d, y) if yi == 1]
    negatives = [di for di, yi in zip(d, y) if yi == 0]
    loss = 0.0
    for di in positives:
        if not negatives or di > min(negatives):
            loss += di * di
    for di in negatives:
        if not positives or di < max(positives):
            loss += max(0.0, margin - di) ** 2
    return loss


BATCHES = {
    "mixed": ([0.9, 0.2, 0.7, 0.4, 0.85, -0.1], [1, 0, 1, 0, 0, 1]),
    "no positive": ([0.3, 0.8, -0.2], [0, 0, 0]),
    "no negative": ([0.3, 0.8, 0.95], [1, 1, 1]),
    "perfectly ranked": ([0.9, 0.8, 0.1, 0.0], [1, 1, 0, 0]),
    "one pair": ([0.5], [1]),
}


@pytest.mark.parametrize("name", list(BATCHES))
@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_cosent_is_the_naive_loop(name, scale):
    cosines, labels = BATCHES[name]
    c = torch.tensor(cosines, dtype=torch.float64, requires_grad=True)
    loss = CoSENTLoss(scale)(c, torch.tensor(labels))
    assert loss.item() == pytest.approx(cosent_loop(cosines, labels, scale), rel=1e-12, abs=1e-12)
    loss.backward()  # connected to the graph, finite gradients, also when the sum is empty
    assert torch.isfinite(c.grad).all()
    if name in ("no positive", "no negative", "one pair"):
        assert loss.item() == 0.0 and not c.grad.any()


@pytest.mark.parametrize("name", list(BATCHES))
@pytest.mark.parametrize("margin", [0.5, 1.2])
def test_online_contrastive_is_the_naive_loop(name, margin):
    cosines, labels = BATCHES[name]
    c = torch.tensor(cosines, dtype=torch.float64, requires_grad=True)
    loss = OnlineContrastiveLoss(margin)(c, torch.tensor(labels))
    assert loss.item() == pytest.approx(online_contrastive_loop(cosines, labels, margin), rel=1e-12, abs=1e-12)
    loss.backward()
    assert torch.isfinite(c.grad).all()


def test_a_mis_ranked_pair_is_pushed_the_right_way():
    """A negative pair above a positive one: both losses raise the positive's cosine and lower the negative's."""
    for loss_fn in (CoSENTLoss(20.0), OnlineContrastiveLoss(0.5)):
        c = torch.tensor([0.3, 0.8], dtype=torch.float64, requires_grad=True)  # positive 0.3, negative 0.8
        loss_fn(c, torch.tensor([1, 0])).backward()
        assert c.grad[0] < 0 < c.grad[1], type(loss_fn).__name__  # descent: c_pos up, c_neg down


def test_cosent_gradient_matches_finite_differences():
    cosines, labels = BATCHES["mixed"]
    c = torch.tensor(cosines, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: CoSENTLoss(5.0)(x, torch.tensor(labels)), (c,))


def test_a_bad_scale_or_margin_is_refused():
    with pytest.raises(ValueError, match=r"CoSENTLoss: scale must be > 0, got 0"):
        CoSENTLoss(0)
    with pytest.raises(ValueError, match=r"OnlineContrastiveLoss: margin must be > 0, got -1"):
        OnlineContrastiveLoss(-1)


# ---- In the bi-encoder (`--pair_loss`) ----


@pytest.mark.parametrize("pair_loss", ["cosent", "online_contrastive"])
def test_the_ranking_loss_trains_the_encoder_and_bce_only_the_scale_and_bias(tmp_path, tiny_tokenizer, pair_loss):
    import torch.nn.functional as F

    from scl_trainer import SCLTrainer
    from tests.helpers import save_st_encoder
    from tests.test_bi_encoder import bi_config
    from tests.test_scl_trainer import toy_pairs

    path = save_st_encoder(tmp_path / "st", tiny_tokenizer, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config = bi_config(tmp_path, scl_weight=0, pair_loss=pair_loss, cosent_scale=5.0, pair_margin=0.7)
    trainer = SCLTrainer(path, config, train_dataset=toy_pairs(16, seed=1))
    model = trainer.model.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(16)])
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    got = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    # The reference: the ranking loss of the cosines trains the encoder, BCE of the detached cosine the head.
    u = model.pool(batch["a_input_ids"], batch["a_attention_mask"], batch.get("a_token_type_ids")).float()
    v = model.pool(batch["b_input_ids"], batch["b_attention_mask"], batch.get("b_token_type_ids")).float()
    cosines = F.cosine_similarity(u, v, dim=-1)
    ranking = CoSENTLoss(5.0) if pair_loss == "cosent" else OnlineContrastiveLoss(0.7)
    logits = model.scale * cosines.detach() + model.bias
    bce = F.binary_cross_entropy_with_logits(logits, batch["labels"].float())
    reference = bce + ranking(cosines, batch["labels"])
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    reference.backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.allclose(got[name], p.grad, atol=1e-6), name
    assert trainer._metrics["train"][pair_loss][-1].item() == pytest.approx(ranking(cosines, batch["labels"]).item())


def test_a_bad_pair_loss_is_one_line(tmp_path):
    import subprocess
    import sys

    from scl_trainer import SCLConfig
    from scl_trainer.errors import ConfigError
    from tests.helpers import REPO_ROOT

    with pytest.raises(ConfigError, match=r"pair_loss must be one of bce, cosent, online_contrastive, got 'hinge'"):
        SCLConfig(output_dir=str(tmp_path), architecture="bi_encoder", pair_loss="hinge")
    with pytest.raises(ConfigError, match=r"pair_loss is a setting of architecture=bi_encoder, not cross_encoder"):
        SCLConfig(output_dir=str(tmp_path), pair_loss="cosent")
    done = subprocess.run([sys.executable, "recipes/supcon_pair.py", "--architecture", "bi_encoder", "--pair_loss",
                           "hinge", "--output_dir", str(tmp_path / "o")], cwd=REPO_ROOT, capture_output=True,
                          text=True)  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "--pair_loss" in errors[0] and "cosent" in errors[0]
