"""GradCache gives the gradients of the uncached computation, dropout on: the reference runs the same chunks with a
graph kept for all of them (same seed, so the same dropout masks), computes the same loss over the whole batch and
backpropagates once. The cached run keeps no graph in its first pass and replays each chunk during backward."""

import copy

import pytest
import torch
import torch.nn.functional as F

from scl_trainer import SCLTrainer, SimCSELoss, SimCSETrainer, SupConLoss
from scl_trainer.collators import SimCSECollator
from scl_trainer.tokenization import tokenize_sentences
from tests.test_scl_trainer import config as scl_config
from tests.test_scl_trainer import toy_pairs
from tests.test_simcse_trainer import config as simcse_config
from tests.test_simcse_trainer import sentences

CHUNK = 3


def chunks(batch, size=CHUNK):
    rows = batch["input_ids"].size(0)
    return [{k: v[i : i + size] for k, v in batch.items()} for i in range(0, rows, size)]


def grads(model):
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_grads(cached, reference, atol=1e-5):
    assert cached.keys() == reference.keys()
    for name in reference:
        torch.testing.assert_close(cached[name], reference[name], rtol=0, atol=atol, msg=name)


def scl_reference(model, batch, seed, weight=0.5, temperature=0.2):
    torch.manual_seed(seed)
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits, cls = [], []
    for chunk in chunks(inputs):
        out = model(**chunk, output_hidden_states=True)
        logits.append(out.logits[:, 0])
        cls.append(out.hidden_states[-1][:, 0])
    logits, cls = torch.cat(logits), torch.cat(cls)
    loss = F.binary_cross_entropy_with_logits(logits, labels.float()) + weight * SupConLoss(temperature)(cls, labels)
    loss.backward()
    return loss.detach(), grads(model)


def test_scl_gradcache_equals_uncached_with_dropout(tmp_path, tiny_classifier, tiny_tokenizer):
    trainer = SCLTrainer(
        tiny_classifier,
        scl_config(tmp_path, scl_weight=0.5, contrastive_chunk_size=CHUNK),
        train_dataset=toy_pairs(8, seed=2),
        processing_class=tiny_tokenizer,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    reference_model = copy.deepcopy(trainer.model).train()
    model = trainer.model.train()

    torch.manual_seed(123)
    loss = trainer.compute_loss(model, batch)
    after_first_pass = torch.get_rng_state()
    loss.backward()
    assert torch.equal(torch.get_rng_state(), after_first_pass)  # the replay leaves the random stream alone

    expected_loss, expected = scl_reference(reference_model, batch, seed=123)
    assert loss.item() == pytest.approx(expected_loss.item(), abs=1e-6)
    assert_same_grads(grads(model), expected)

    # Dropout is on and matters: other masks give other gradients, which the replay must not produce.
    reference_model.zero_grad()
    _, other_masks = scl_reference(reference_model, batch, seed=7)
    with pytest.raises(AssertionError):
        assert_same_grads(grads(model), other_masks)


def test_simcse_gradcache_equals_uncached_with_dropout(tmp_path, tiny_tokenizer):
    from transformers import BertModel

    from tests.helpers import tiny_bert_config

    torch.manual_seed(0)
    trainer = SimCSETrainer(
        BertModel(tiny_bert_config()),
        simcse_config(tmp_path, contrastive_chunk_size=CHUNK, temperature=0.1),
        processing_class=tiny_tokenizer,
    )
    tokenized, _ = tokenize_sentences(sentences(5, seed=3), tiny_tokenizer, 16)
    batch = SimCSECollator(tiny_tokenizer)([tokenized[i] for i in range(5)])  # 10 rows: chunks of 3, 3, 3, 1
    reference_model = copy.deepcopy(trainer.model).train()
    model = trainer.model.train()

    torch.manual_seed(99)
    loss = trainer.compute_loss(model, batch)
    loss.backward()

    torch.manual_seed(99)
    embeddings = torch.cat([reference_model(**chunk) for chunk in chunks(batch)])
    expected_loss = SimCSELoss(0.1)(embeddings)
    expected_loss.backward()
    assert loss.item() == pytest.approx(expected_loss.item(), abs=1e-6)
    assert_same_grads(grads(model), grads(reference_model))
