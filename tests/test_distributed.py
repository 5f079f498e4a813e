"""Cross-device negatives: 2 CPU processes (gloo) must give the loss and the gradients of one process holding the
whole batch, to 1e-6 in float64, for SupCon (with its BCE term) and SimCSE, with and without GradCache.

Both sides run the real `compute_loss` of the trainers. Forward passes are deterministic (dropout probabilities set to
0 after the trainer's dropout check): dropout masks cannot be the same for a batch split over two processes and the
same batch in one process, and the test is about the gradient bookkeeping, not about dropout."""

import copy
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from transformers import BertTokenizer

from scl_trainer import SCLConfig, SCLTrainer, SimCSEConfig, SimCSETrainer
from scl_trainer.collators import SimCSECollator
from scl_trainer.tokenization import tokenize_pairs, tokenize_sentences
from tests.helpers import FIXTURES, tiny_bert_config
from tests.test_scl_trainer import toy_pairs
from tests.test_simcse_trainer import sentences

WORLD_SIZE = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_dropout(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    for name in ("attention_probs_dropout_prob", "hidden_dropout_prob"):
        setattr(model.config, name, 0.0)
    for module in model.modules():  # attention layers that keep the probability as a float
        if hasattr(module, "dropout_prob"):
            module.dropout_prob = 0.0
    return model


def build(kind: str, output_dir: str, chunk_size: int | None, tokenizer):
    """A trainer over a float64 tiny BERT (same weights in every process) and the full batch of 8 rows."""
    torch.manual_seed(0)
    if kind == "supcon":
        from transformers import BertForSequenceClassification

        model = BertForSequenceClassification(tiny_bert_config(num_labels=1)).double()
        args = SCLConfig(
            output_dir=output_dir,
            use_cpu=True,
            report_to="none",
            max_length=32,
            scl_weight=0.5,
            contrastive_chunk_size=chunk_size,
        )
        trainer = SCLTrainer(model, args, processing_class=tokenizer)
        data, _ = tokenize_pairs(toy_pairs(8, seed=4), tokenizer, 32)
        # Labels with a class that has one member on each process: its positive is only across the split.
        data = data.map(lambda _, i: {"label": [1, 0, 0, 0, 0, 1, 1, 1][i]}, with_indices=True)
    elif kind == "bi_encoder":
        from transformers import BertModel

        from scl_trainer.tokenization import tokenize_separately

        model = BertModel(tiny_bert_config()).double()
        args = SCLConfig(
            output_dir=output_dir,
            use_cpu=True,
            report_to="none",
            max_length=32,
            architecture="bi_encoder",
            scl_weight=0.5,
            scl_temperature=0.1,
            contrastive_chunk_size=chunk_size,
        )
        trainer = SCLTrainer(model, args, processing_class=tokenizer)
        trainer.model.double()
        pairs = toy_pairs(8, seed=4).to_dict()
        # A query on both processes with a matching reply on one and a non-matching one on the other (a hard
        # negative across the split), and a reply repeated across the split (a duplicate to mask).
        pairs["text_a"][5] = pairs["text_a"][0]
        pairs["text_b"][6] = pairs["text_b"][2]
        pairs["label"] = [1, 0, 1, 0, 1, 0, 1, 1]
        from datasets import Dataset

        data, _ = tokenize_separately(Dataset.from_dict(pairs), tokenizer, 32, "text_a", "text_b", "label")
    else:
        from transformers import BertModel

        model = BertModel(tiny_bert_config()).double()
        args = SimCSEConfig(
            output_dir=output_dir, use_cpu=True, report_to="none", max_length=32, contrastive_chunk_size=chunk_size
        )
        trainer = SimCSETrainer(model, args, processing_class=tokenizer)
        trainer.model.double()
        texts = list(sentences(8, seed=5)["text"])
        assert len(texts) == 8
        texts[6] = texts[1]  # the same sentence on both processes: a false negative to mask across the split
        from datasets import Dataset

        data, _ = tokenize_sentences(Dataset.from_dict({"text": texts}), tokenizer, 32)
    no_dropout(trainer.model)
    return trainer, [data[i] for i in range(len(data))]


def collate(trainer, features):
    if isinstance(trainer, SimCSETrainer):
        return SimCSECollator(trainer.processing_class)(features)
    return trainer.data_collator(features)


def loss_and_grads(trainer, model, batch):
    model.train()
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    named = model.module.named_parameters() if isinstance(model, DistributedDataParallel) else model.named_parameters()
    return loss.detach(), {name: p.grad.clone() for name, p in named if p.grad is not None}


def detached_gather(tensor):
    """`accelerator.gather` semantics: the other processes' rows arrive without gradient."""
    import torch.distributed as dist

    from scl_trainer.distributed import gather_without_grad

    n, rank = tensor.size(0), dist.get_rank()
    everything = gather_without_grad(tensor.detach())
    return torch.cat([everything[: rank * n], tensor, everything[(rank + 1) * n :]]), slice(rank * n, (rank + 1) * n)


def worker(rank: int, port: int, kind: str, chunk_sizes: list, output_dir: str, detach: bool = False):
    """Each of `chunk_sizes` in turn, in one process group (one spawn per kind: the processes start once)."""
    if detach:
        import scl_trainer.base_trainer

        scl_trainer.base_trainer.gather_with_grad = detached_gather
    tokenizer = BertTokenizer(vocab=str(FIXTURES / "vocab.txt"), model_max_length=128)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
        LOCAL_WORLD_SIZE=str(WORLD_SIZE),
    )
    torch.set_num_threads(1)
    for chunk_size in chunk_sizes:
        trainer, features = build(kind, output_dir, chunk_size, tokenizer)
        assert trainer.accelerator.num_processes == WORLD_SIZE
        rows = len(features) // WORLD_SIZE
        batch = collate(trainer, features[rank * rows : (rank + 1) * rows])
        ddp = DistributedDataParallel(trainer.model, find_unused_parameters=True)
        loss, grads = loss_and_grads(trainer, ddp, batch)
        record = {"loss": loss, "grads": grads, "log": dict(trainer._metrics["train"])}
        torch.save(record, f"{output_dir}/rank{rank}-chunk{chunk_size}.pt")


@pytest.mark.parametrize("kind", ["supcon", "simcse", "bi_encoder"])
def test_two_processes_match_one_process_holding_the_whole_batch(tmp_path, tiny_tokenizer, kind):
    """Plain and with GradCache (chunks of 3 rows), both in one spawn of two processes."""
    mp.spawn(worker, args=(free_port(), kind, [None, 3], str(tmp_path)), nprocs=WORLD_SIZE)
    for chunk_size in (None, 3):
        check_against_one_process(tmp_path, tiny_tokenizer, kind, chunk_size)


def check_against_one_process(tmp_path, tiny_tokenizer, kind, chunk_size):
    trainer, features = build(kind, str(tmp_path), None, tiny_tokenizer)
    reference = copy.deepcopy(trainer.model)
    expected_loss, expected_grads = loss_and_grads(trainer, reference, collate(trainer, features))
    ranks = [torch.load(tmp_path / f"rank{r}-chunk{chunk_size}.pt") for r in range(WORLD_SIZE)]

    # The logged loss is the mean over processes (the Trainer's reduction): the global loss.
    mean_loss = sum(r["loss"] for r in ranks) / WORLD_SIZE
    assert mean_loss.item() == pytest.approx(expected_loss.item(), abs=1e-6)
    for r in ranks:  # DDP leaves the averaged gradient on every process
        assert r["grads"].keys() == expected_grads.keys()
        for name, grad in expected_grads.items():
            torch.testing.assert_close(r["grads"][name], grad, rtol=1e-6, atol=1e-6, msg=name)
    # Every anchor saw the candidates of both processes.
    key = {"supcon": "supcon_negatives_per_anchor", "simcse": "negatives_per_anchor"}.get(
        kind, "contrastive_negatives_per_anchor"
    )
    local_negatives = trainer._metrics["train"][key][0].item()
    for r in ranks:
        assert r["log"][key][0].item() > local_negatives / 2
    if kind == "simcse":  # the sentence repeated across processes: each of its 4 rows masks the other sentence's 2
        assert sum(r["log"]["masked_duplicates"][0].item() for r in ranks) == 8
    if kind == "bi_encoder":  # the masks across the split equal those of the whole batch in one process
        expected = trainer._metrics["train"]["contrastive_masked_duplicates"][0].item()
        assert expected > 0
        assert sum(r["log"]["contrastive_masked_duplicates"][0].item() for r in ranks) == expected


def test_a_gather_without_gradient_is_caught(tmp_path, tiny_tokenizer):
    """The comparison above can fail: with `accelerator.gather` semantics (the other process's rows without
    gradient) the loss is the same but the gradients are not."""
    trainer, features = build("supcon", str(tmp_path), None, tiny_tokenizer)
    expected_loss, expected_grads = loss_and_grads(trainer, copy.deepcopy(trainer.model), collate(trainer, features))
    mp.spawn(worker, args=(free_port(), "supcon", [None], str(tmp_path), True), nprocs=WORLD_SIZE)
    ranks = [torch.load(tmp_path / f"rank{r}-chunkNone.pt") for r in range(WORLD_SIZE)]
    assert (sum(r["loss"] for r in ranks) / WORLD_SIZE).item() == pytest.approx(expected_loss.item(), abs=1e-6)
    with pytest.raises(AssertionError):  # the message is the parameter name of the first mismatch
        for name, grad in expected_grads.items():
            torch.testing.assert_close(ranks[0]["grads"][name], grad, rtol=1e-6, atol=1e-6, msg=name)
