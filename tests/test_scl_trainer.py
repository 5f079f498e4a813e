"""SCLTrainer: the loss it optimises, equivalence to plain BCE at weight 0, gradient accumulation, logging,
threshold handling, and its argument checks."""

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import BertForSequenceClassification, Trainer, TrainingArguments

from scl_trainer import SCLConfig, SCLTrainer, SupConLoss
from tests.helpers import tiny_bert_config

WORDS = "the house near school good room price floor new city market company report year people share".split()


def toy_pairs(n=32, seed=0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    rows = {"text_a": [], "text_b": [], "label": []}
    for _ in range(n):
        a = [WORDS[i] for i in torch.randint(len(WORDS), (5,), generator=g)]
        label = int(torch.randint(2, (1,), generator=g))
        b = a[::-1] if label else [WORDS[i] for i in torch.randint(len(WORDS), (5,), generator=g)]
        rows["text_a"].append(" ".join(a))
        rows["text_b"].append(" ".join(b))
        rows["label"].append(label)
    return Dataset.from_dict(rows)


def config(tmp_path, **overrides) -> SCLConfig:
    values = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        max_steps=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=7,
        max_length=32,
        disable_tqdm=True,
    )
    values.update(overrides)
    return SCLConfig(**values)


def test_every_parameter_changes(tmp_path, tiny_classifier, tiny_tokenizer):
    before = {name: p.detach().clone() for name, p in tiny_classifier.named_parameters()}
    trainer = SCLTrainer(tiny_classifier, config(tmp_path), train_dataset=toy_pairs(), processing_class=tiny_tokenizer)
    trainer.train()
    for name, param in trainer.model.named_parameters():
        assert not torch.allclose(param, before[name]), f"{name} did not change"


def test_compute_loss_is_bce_plus_weighted_supcon_on_final_cls(tmp_path, tiny_classifier, tiny_tokenizer):
    """Against a hand-built reference: the encoder's last hidden state [CLS] (BertModel run separately), the
    classifier head's logit, BCE + 0.3 * SupCon."""
    trainer = SCLTrainer(
        tiny_classifier,
        config(tmp_path, scl_weight=0.3, scl_temperature=0.1),
        train_dataset=toy_pairs(16),
        processing_class=tiny_tokenizer,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()  # no dropout: both computations see the same network
    loss = trainer.compute_loss(model, batch)

    labels = batch["labels"].float()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        hidden = model.bert(**inputs).last_hidden_state
        logits = model.classifier(model.bert.pooler(hidden)).squeeze(-1)
    expected_bce = F.binary_cross_entropy(torch.sigmoid(logits), labels)
    expected = expected_bce + 0.3 * SupConLoss(0.1)(hidden[:, 0], batch["labels"])
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)


def test_weight_zero_trains_exactly_like_plain_bce(tmp_path, tiny_classifier, tiny_tokenizer):
    """The reference is a plain transformers Trainer on the model's own BCE head (float labels shaped (N, 1)),
    dropout on, same seed and data: the parameters must be identical after the same steps."""
    data = toy_pairs(40)
    scl_model, bce_model = tiny_classifier, copy.deepcopy(tiny_classifier)

    SCLTrainer(
        scl_model, config(tmp_path, scl_weight=0.0, max_steps=5), train_dataset=data, processing_class=tiny_tokenizer
    ).train()

    bce_data = data.map(
        lambda b: {
            **tiny_tokenizer(b["text_a"], b["text_b"], truncation=True, max_length=32),
            "labels": [[float(y)] for y in b["label"]],
        },
        batched=True,
        remove_columns=data.column_names,
    )
    plain_args = TrainingArguments(
        output_dir=str(tmp_path / "plain"),
        per_device_train_batch_size=8,
        max_steps=5,
        learning_rate=1e-3,
        save_strategy="no",
        report_to="none",
        seed=7,
        disable_tqdm=True,
    )
    Trainer(bce_model, plain_args, train_dataset=bce_data, processing_class=tiny_tokenizer).train()

    for (name, p), q in zip(scl_model.named_parameters(), bce_model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-7, msg=f"{name} differs from the plain BCE run")


def test_gradient_accumulation_averages_micro_batch_losses(tmp_path, tiny_tokenizer):
    """2 micro-batches of 4 with accumulation 2 and SGD must move the weights by -lr * grad((L1 + L2) / 2).
    transformers 5.x skips the division for models whose forward takes **kwargs, which doubles the step."""
    data = toy_pairs(8, seed=3)
    torch.manual_seed(0)  # dropout off, so the reference sees the same network as the Trainer
    model = BertForSequenceClassification(
        tiny_bert_config(num_labels=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    )
    reference = copy.deepcopy(model)
    args = config(
        tmp_path,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        max_steps=1,
        optim="sgd",
        learning_rate=0.5,
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        weight_decay=0.0,
        train_sampling_strategy="sequential",
    )
    trainer = SCLTrainer(model, args, train_dataset=data, processing_class=tiny_tokenizer)
    batches = [b for b in trainer.get_train_dataloader()]  # sequential: rows 0-3, then 4-7
    reference.train()
    total = sum(trainer.compute_loss(reference, b) for b in batches) / 2
    total.backward()
    trainer.train()
    for (name, p), r in zip(model.named_parameters(), reference.parameters()):
        if r.grad is None:
            continue
        torch.testing.assert_close(p, r.detach() - 0.5 * r.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_logs_each_term_per_mode(tmp_path, tiny_classifier, tiny_tokenizer):
    trainer = SCLTrainer(
        tiny_classifier,
        config(tmp_path, eval_strategy="steps", eval_steps=2),
        train_dataset=toy_pairs(),
        eval_dataset=toy_pairs(16, seed=1),
        processing_class=tiny_tokenizer,
    )
    trainer.train()
    train_logs = [log for log in trainer.state.log_history if "loss" in log]
    eval_logs = [log for log in trainer.state.log_history if "eval_loss" in log]
    assert train_logs and eval_logs
    for log in train_logs:
        assert {"bce", "supcon", "supcon_no_positive_share"} <= log.keys()
        assert log["loss"] == pytest.approx(log["bce"] + 0.1 * log["supcon"], rel=1e-5)
    for log in eval_logs:
        assert {"eval_bce", "eval_supcon", "eval_supcon_no_positive_share"} <= log.keys()
        assert {"eval_f1_at_0.5", "eval_f1_at_threshold", "eval_threshold", "eval_roc_auc"} <= log.keys()
        assert log["eval_loss"] == pytest.approx(log["eval_bce"] + 0.1 * log["eval_supcon"], rel=1e-5)
        assert 0.0 <= log["eval_supcon_no_positive_share"] <= 1.0


def test_threshold_in_config_of_each_checkpoint_and_best_one_restored(tmp_path, tiny_classifier, tiny_tokenizer):
    trainer = SCLTrainer(
        tiny_classifier,
        config(
            tmp_path,
            max_steps=6,
            eval_strategy="steps",
            eval_steps=2,
            save_strategy="steps",
            save_steps=2,
            load_best_model_at_end=True,
            metric_for_best_model="eval_loss",
        ),
        train_dataset=toy_pairs(),
        eval_dataset=toy_pairs(24, seed=1),
        processing_class=tiny_tokenizer,
    )
    trainer.train()
    evals = {log["step"]: log for log in trainer.state.log_history if "eval_threshold" in log}
    for step, log in evals.items():
        saved = json.loads((tmp_path / "out" / f"checkpoint-{step}" / "config.json").read_text())
        assert saved["decision_threshold"] == pytest.approx(log["eval_threshold"])
    best_step = int(trainer.state.best_model_checkpoint.rsplit("-", 1)[1])
    assert trainer.model.config.decision_threshold == pytest.approx(evals[best_step]["eval_threshold"])


def test_evaluate_on_another_split_does_not_move_the_threshold(tmp_path, tiny_classifier, tiny_tokenizer):
    trainer = SCLTrainer(
        tiny_classifier, config(tmp_path), eval_dataset=toy_pairs(16, seed=1), processing_class=tiny_tokenizer
    )
    tuned = trainer.evaluate()["eval_threshold"]
    test_metrics = trainer.evaluate(toy_pairs(16, seed=9), metric_key_prefix="test")
    assert "test_f1_at_threshold" in test_metrics
    assert "test_bce" in trainer.state.log_history[-1]  # the loss terms are logged under the same prefix
    assert trainer.model.config.decision_threshold == tuned


def test_rejects_multi_logit_head(tmp_path, tiny_tokenizer):
    model = BertForSequenceClassification(tiny_bert_config(num_labels=2))
    with pytest.raises(ValueError, match=r"needs a head with one logit \(sigmoid \+ BCE\) .* has num_labels=2"):
        SCLTrainer(model, config(tmp_path), processing_class=tiny_tokenizer)


def test_rejects_max_length_above_model_limit(tmp_path, tiny_classifier, tiny_tokenizer):
    with pytest.raises(ValueError, match=r"max_length=512 is above the limit .* \(128 tokens\)"):
        SCLTrainer(tiny_classifier, config(tmp_path, max_length=512), processing_class=tiny_tokenizer)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scl_weight": -0.1}, "scl_weight must be >= 0"),
        ({"scl_temperature": 0.0}, "scl_temperature must be > 0"),
        ({"scl_temperature": -1.0}, "scl_temperature must be > 0"),
    ],
)
def test_config_validation(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **overrides)


def test_rejects_unlabelled_training_data(tmp_path, tiny_classifier, tiny_tokenizer):
    data = toy_pairs(8).remove_columns("label")
    # Found when the trainer is built, not at the first step (a tokenized dataset without labels still fails there).
    with pytest.raises(ValueError, match=r"the train dataset, column 'label': column not found"):
        SCLTrainer(tiny_classifier, config(tmp_path), train_dataset=data, processing_class=tiny_tokenizer)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([1, 0, 2, 0], r"the train dataset, row 2, column 'label': label must be 0 or 1, got 2"),
        ([1, 0, -1, 0], r"row 2, column 'label': label must be 0 or 1, got -1"),
        ([1.0, 0.0, 0.7, 0.0], r"row 2, column 'label': label must be 0 or 1, got 0.7"),
        ([1.0, 0.0, float("nan"), 0.0], r"row 2, column 'label': missing label \(nan\)"),
        ([1, 1, 1, 1], r"every one of the 4 pairs has label 1; training and validation need both classes"),
    ],
)
def test_python_api_checks_labels_like_the_recipes(tmp_path, tiny_classifier, tiny_tokenizer, labels, message):
    data = Dataset.from_dict({"text_a": ["a b", "c d", "e f", "g h"], "text_b": ["x", "y", "z", "w"], "label": labels})
    with pytest.raises(ValueError, match=message):
        SCLTrainer(tiny_classifier, config(tmp_path), train_dataset=data, processing_class=tiny_tokenizer)


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "\x00\x00", "\ufeff"])
def test_python_api_refuses_blank_texts_and_unlabelled_eval_sets(tmp_path, tiny_classifier, tiny_tokenizer, text):
    data = Dataset.from_dict({"text_a": ["a b", text], "text_b": ["x", "y"], "label": [1, 0]})
    with pytest.raises(ValueError, match=r"row 1, column 'text_a': empty or whitespace-only text"):
        SCLTrainer(tiny_classifier, config(tmp_path), train_dataset=data, processing_class=tiny_tokenizer)
    unlabelled = toy_pairs(8).remove_columns("label")
    with pytest.raises(ValueError, match=r"the eval dataset, column 'label': column not found"):
        SCLTrainer(tiny_classifier, config(tmp_path), eval_dataset=unlabelled, processing_class=tiny_tokenizer)


# ---- Edge-case batches: finite losses with a documented meaning ----


def edge_batch(tiny_tokenizer, labels):
    texts = [" ".join(WORDS[i : i + 4]) for i in range(len(labels))]
    batch = tiny_tokenizer(texts, texts[::-1], padding=True, return_tensors="pt")
    return {**batch, "labels": torch.tensor(labels)}


@pytest.mark.parametrize(
    ("labels", "supcon_is_zero"),
    [
        ([1, 1, 1, 1], False),  # one class: every other row is a positive, there are no negatives; finite, > 0
        ([0, 1], True),  # two singletons: no anchor has a positive -> SupCon contributes 0, loss = BCE
        ([1], True),  # batch of one: same
        ([0, 0, 1], False),  # one singleton: it is left out of the mean, the others count
    ],
    ids=["single-class", "singletons", "batch-size-1", "one-singleton"],
)
def test_edge_case_batches(tmp_path, tiny_classifier, tiny_tokenizer, labels, supcon_is_zero):
    trainer = SCLTrainer(tiny_classifier, config(tmp_path, scl_weight=0.5), processing_class=tiny_tokenizer)
    loss = trainer.compute_loss(trainer.model.train(), edge_batch(tiny_tokenizer, labels))
    loss.backward()
    bce, supcon = trainer._metrics["train"]["bce"][-1], trainer._metrics["train"]["supcon"][-1]
    assert torch.isfinite(loss) and torch.isfinite(supcon)
    assert all(torch.isfinite(p.grad).all() for p in trainer.model.parameters() if p.grad is not None)
    assert (supcon.item() == 0.0) == supcon_is_zero
    assert loss.item() == pytest.approx(bce.item() + 0.5 * supcon.item(), rel=1e-6)
    expected_share = sum(labels.count(y) == 1 for y in labels) / len(labels)
    assert trainer._metrics["train"]["supcon_no_positive_share"][-1].item() == pytest.approx(expected_share)


def test_last_incomplete_batch_and_truncation_are_handled_and_logged(
    tmp_path, tiny_classifier, tiny_tokenizer, caplog
):
    data = toy_pairs(10)  # batches of 4, 4, 2
    long = Dataset.from_dict({"text_a": ["the house " * 40], "text_b": ["near school"], "label": [1]})
    from datasets import concatenate_datasets

    with caplog.at_level("WARNING"):
        trainer = SCLTrainer(
            tiny_classifier,
            config(tmp_path, per_device_train_batch_size=4, max_steps=-1, num_train_epochs=1, max_length=32),
            train_dataset=concatenate_datasets([data, long]),
            processing_class=tiny_tokenizer,
        )
    assert "train dataset: 1 of 11 pairs (9.1%) are longer than max_length=32 and were truncated" in caplog.text
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert trainer.state.global_step == 3 and len(losses) == 3 and all(map(torch.isfinite, torch.tensor(losses)))


# ---- Threshold safety ----


def test_small_validation_split_keeps_threshold_half_and_warns_once(tmp_path, tiny_classifier, tiny_tokenizer, caplog):
    trainer = SCLTrainer(
        tiny_classifier,
        config(tmp_path, eval_strategy="steps", eval_steps=2, max_steps=4),
        train_dataset=toy_pairs(),
        eval_dataset=toy_pairs(12, seed=1),  # 12 pairs: far fewer than 30 of each class
        processing_class=tiny_tokenizer,
    )
    with caplog.at_level("WARNING"):
        trainer.train()
        metrics = trainer.evaluate()
    assert metrics["eval_threshold"] == 0.5 and metrics["eval_threshold_tuned"] == 0.0
    assert trainer.model.config.decision_threshold == 0.5
    positives = int(metrics["eval_positives"])
    assert caplog.text.count("the decision threshold stays 0.5") == 1
    assert f"has {positives} positive and {12 - positives} negative pairs" in caplog.text
    assert trainer.model.config.threshold_tuned_on == {"positives": positives, "negatives": 12 - positives}


def test_enough_examples_tune_the_threshold(tmp_path, tiny_classifier, tiny_tokenizer):
    trainer = SCLTrainer(
        tiny_classifier,
        config(tmp_path, threshold_min_per_class=3),
        eval_dataset=toy_pairs(16, seed=1),
        processing_class=tiny_tokenizer,
    )
    metrics = trainer.evaluate()
    assert metrics["eval_threshold_tuned"] == 1.0
    assert trainer.model.config.decision_threshold == metrics["eval_threshold"]


def test_threshold_that_puts_everything_in_one_class_warns(caplog):
    from transformers import EvalPrediction

    from scl_trainer.metrics import pair_classification_metrics

    # Scores that do not separate the classes: the best F1 is "everything positive", below every score.
    logits = np.array([[0.1], [0.2], [0.3], [0.4], [0.5], [0.6]])
    metrics = pair_classification_metrics(EvalPrediction(logits, np.array([1, 0, 1, 0, 1, 0])), min_per_class=3)
    assert metrics["threshold_one_class"] == 1.0 and metrics["recall_at_threshold"] == 1.0
    assert metrics["precision_at_threshold"] == 0.5


def test_trainer_warns_once_when_the_tuned_threshold_is_one_class(tmp_path, tiny_classifier, tiny_tokenizer, caplog):
    trainer = SCLTrainer(tiny_classifier, config(tmp_path), processing_class=tiny_tokenizer)
    metrics = {"eval_threshold": 0.05, "eval_threshold_tuned": 1.0, "eval_threshold_one_class": 1.0}
    with caplog.at_level("WARNING"):
        trainer._on_evaluate(metrics, "eval", on_validation=True)
        trainer._on_evaluate(metrics, "eval", on_validation=True)
    assert caplog.text.count("puts every validation pair in one class") == 1
    assert trainer.model.config.decision_threshold == 0.05


def test_length_grouped_sampler_pads_less_and_trains(tmp_path, tiny_classifier, tiny_tokenizer):
    """`train_sampling_strategy="group_by_length"` (the Trainer's LengthGroupedSampler, what bench/group_by_length.py
    measures) works with SCLTrainer's tokenized pairs: every row is seen once per epoch, batches hold pairs of similar
    length, so there are fewer padding tokens than in random order (counted independently from the batches)."""
    g = torch.Generator().manual_seed(0)
    rows = {"text_a": [], "text_b": [], "label": []}
    for i in range(64):
        n = int(torch.randint(1, 25, (1,), generator=g))  # 1 to 24 words: very different lengths, like CCF replies
        rows["text_a"].append(" ".join(WORDS[(i + j) % len(WORDS)] for j in range(n)))
        rows["text_b"].append(WORDS[i % len(WORDS)])
        rows["label"].append(i % 2)
    data = Dataset.from_dict(rows)

    def padding_tokens(strategy: str) -> tuple[int, list[int]]:
        trainer = SCLTrainer(
            copy.deepcopy(tiny_classifier),
            config(tmp_path, train_sampling_strategy=strategy, max_length=64),
            train_dataset=data,
            processing_class=tiny_tokenizer,
        )
        padding, seen = 0, []
        for batch in trainer.get_train_dataloader():
            padding += int((batch["attention_mask"] == 0).sum())
            seen += batch["input_ids"][:, 1].tolist()  # the first word of each pair, to check coverage
        return padding, sorted(seen), trainer

    random_padding, random_seen, _ = padding_tokens("random")
    grouped_padding, grouped_seen, trainer = padding_tokens("group_by_length")
    assert type(trainer._get_train_sampler()).__name__ == "LengthGroupedSampler"
    assert grouped_seen == random_seen  # the same rows, once each
    assert grouped_padding < 0.7 * random_padding, (grouped_padding, random_padding)  # measured: 318 vs 582
    trainer.train()
    assert all(np.isfinite(log["loss"]) for log in trainer.state.log_history if "loss" in log)
