"""Mixed precision: under bf16 autocast (CPU) both losses run in float32, agree with the float32 computation, and no
half-precision tensor ever holds -inf or a huge masking constant (the seeds' `- eye * 1e12` would)."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from scl_trainer import SCLTrainer, SimCSELoss, SimCSETrainer, SupConLoss
from tests.test_scl_trainer import config as scl_config
from tests.test_scl_trainer import toy_pairs
from tests.test_simcse_trainer import config as simcse_config
from tests.test_simcse_trainer import sentences

HALF = (torch.float16, torch.bfloat16)

# Stated tolerance of a bf16 training step vs float32 (bf16 has an 8-bit mantissa: ~0.4% per rounding).
BF16_LOSS_RTOL = 2e-2


class HalfTensorWatch(TorchDispatchMode):
    """Records every op whose output is a float16/bfloat16 tensor holding a non-finite value or |x| >= 1e4."""

    def __init__(self):
        super().__init__()
        self.offenders = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.dtype in HALF and t.numel():
                if not torch.isfinite(t).all() or t.abs().max() >= 1e4:
                    self.offenders.append(str(func))
        return out


def seed_style_mask(embeddings):
    """The Keras seeds' masking, `similarities - eye * 1e12`, done in the embeddings' (half) dtype."""
    z = torch.nn.functional.normalize(embeddings, dim=-1)
    return z @ z.T - torch.eye(len(z), dtype=z.dtype) * 1e12


def test_watch_catches_the_seed_masking_in_half_precision():
    watch = HalfTensorWatch()
    with watch:
        seed_style_mask(torch.randn(4, 8, dtype=torch.bfloat16))
    assert watch.offenders  # so the tests below can fail


@pytest.mark.parametrize("dtype", HALF)
def test_losses_never_put_inf_or_huge_constants_in_half_tensors(dtype):
    embeddings = torch.randn(8, 16, dtype=dtype, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 4])
    watch = HalfTensorWatch()
    with watch, torch.autocast("cpu", dtype=torch.bfloat16):
        supcon = SupConLoss(0.2)(embeddings, labels)
        simcse = SimCSELoss(0.05)(embeddings, sentence_ids=torch.tensor([0, 0, 1, 1, 2, 2, 0, 0]))
        (supcon + simcse).backward()
    assert watch.offenders == []
    assert supcon.dtype == simcse.dtype == torch.float32


def test_scl_trainer_bf16_step_matches_float32(tmp_path, tiny_classifier, tiny_tokenizer):
    trainer = SCLTrainer(
        tiny_classifier, scl_config(tmp_path), train_dataset=toy_pairs(16), processing_class=tiny_tokenizer
    )
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()  # no dropout: both runs see the same network
    with torch.no_grad():
        fp32 = trainer.compute_loss(model, batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = trainer.compute_loss(model, batch)
    assert bf16.dtype == torch.float32
    assert bf16.item() == pytest.approx(fp32.item(), rel=BF16_LOSS_RTOL)


def test_simcse_trainer_bf16_step_matches_float32(tmp_path, tiny_tokenizer):
    from transformers import BertModel

    from tests.helpers import tiny_bert_config

    torch.manual_seed(0)
    trainer = SimCSETrainer(
        BertModel(tiny_bert_config()),
        simcse_config(tmp_path),
        train_dataset=sentences(16),
        processing_class=tiny_tokenizer,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.train()
    with torch.no_grad():
        torch.manual_seed(1)
        fp32 = trainer.compute_loss(model, batch)
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = trainer.compute_loss(model, batch)
    assert bf16.dtype == torch.float32
    assert bf16.item() == pytest.approx(fp32.item(), rel=BF16_LOSS_RTOL)


def test_bf16_training_runs_and_tracks_float32(tmp_path, tiny_classifier, tiny_tokenizer):
    """`bf16=True` through the Trainer (accelerate's CPU autocast): the logged losses stay finite and the first step's
    loss is the float32 one within the stated tolerance."""
    import copy

    losses = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        trainer = SCLTrainer(
            copy.deepcopy(tiny_classifier),
            scl_config(tmp_path / name, bf16=bf16, use_cpu=True),
            train_dataset=toy_pairs(32),
            processing_class=tiny_tokenizer,
        )
        trainer.train()
        losses[name] = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert all(torch.isfinite(torch.tensor(losses["bf16"])))
    assert losses["bf16"][0] == pytest.approx(losses["fp32"][0], rel=BF16_LOSS_RTOL)
