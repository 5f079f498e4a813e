"""The embedding classifier (`--architecture embedding`): its loss against a naive loop (dropout views, label anchors,
class-pair batches), step 0 = the frozen logistic regression, the step-0 guard, the export (sentence-transformers,
AutoModel, the card's snippet, `predict`), and its one-line errors."""

import json
import math
import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import AutoModel, BertForSequenceClassification

from scl_trainer import SCLConfig, SCLTrainer
from scl_trainer.architectures.embedding import HEAD_WEIGHTS_NAME, EmbeddingClassifier
from scl_trainer.errors import ConfigError
from scl_trainer.samplers import ClassPairSampler
from tests.helpers import REPO_ROOT, save_st_encoder, tiny_bert_config
from tests.test_classify import CLASSES, single_texts

# ---- Fixtures ----


@pytest.fixture
def st_dir(st_encoder_dir) -> str:
    return st_encoder_dir


def emb_config(tmp_path, **overrides) -> SCLConfig:
    values = dict(output_dir=str(tmp_path / "out"), architecture="embedding", per_device_train_batch_size=64,
                  per_device_eval_batch_size=16, max_steps=3, learning_rate=1e-3, save_strategy="no",
                  report_to="none", seed=3, max_length=16, disable_tqdm=True, scl_weight=0.5, scl_temperature=0.1,
                  use_cpu=True)  # fmt: skip
    values.update(overrides)
    return SCLConfig(**values)


def pair_rows(n: int = 18, seed: int = 0) -> Dataset:
    """Pairs of three classes (as SICK's entailment labels)."""
    texts = single_texts(2 * n, seed)["text"]
    labels = ["contradiction", "entailment", "neutral"]
    return Dataset.from_dict({"text_a": texts[:n], "text_b": texts[n:], "label": [labels[i % 3] for i in range(n)]})


# ---- The loss, against a naive loop ----


def naive_loss(encoder, head_weight, head_bias, batch, labels, weight, temperature) -> float:
    """CE on the head + weight x SupCon, by hand in float64: mean pooling under the mask, unit length, logits
    W x + b, per-row cross-entropy, then for every anchor the mean over its positives (same label, another row) of
    -log(exp(s_ip / T) / sum_{k != i} exp(s_ik / T)), averaged over the anchors with a positive."""
    with torch.no_grad():
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].tolist()
    rows = []
    for r in range(len(mask)):
        tokens = [hidden[r, t].double().tolist() for t in range(len(mask[r])) if mask[r][t]]
        mean = [sum(col) / len(tokens) for col in zip(*tokens)]
        norm = math.sqrt(sum(x * x for x in mean))
        rows.append([x / norm for x in mean])
    w, b, y = head_weight.double().tolist(), head_bias.double().tolist(), [int(v) for v in labels]
    ce = 0.0
    for x, label in zip(rows, y):
        logits = [sum(wi * xi for wi, xi in zip(w_k, x)) + b_k for w_k, b_k in zip(w, b)]
        top = max(logits)
        ce += -(logits[label] - top - math.log(sum(math.exp(v - top) for v in logits)))
    ce /= len(rows)
    n, losses = len(rows), []
    for i in range(n):
        sims = [sum(a * c for a, c in zip(rows[i], rows[k])) / temperature for k in range(n)]
        denominator = sum(math.exp(sims[k]) for k in range(n) if k != i)
        positives = [p for p in range(n) if p != i and y[p] == y[i]]
        if positives:
            losses.append(sum(-math.log(math.exp(sims[p]) / denominator) for p in positives) / len(positives))
    return ce + weight * sum(losses) / len(losses)


def test_loss_is_ce_plus_supcon_over_views_and_anchors_of_a_naive_loop(tmp_path, tiny_tokenizer):
    # No dropout, so the views are equal and the hand-computed forward pass is the trainer's.
    path = save_st_encoder(tmp_path / "st", tiny_tokenizer, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    data = single_texts(12)
    trainer = SCLTrainer(path, emb_config(tmp_path, views=3, label_anchors=True), train_dataset=data)
    batch = next(iter(trainer.get_train_dataloader()))  # the class-pair sampler: one batch holds all 12 texts
    assert sorted(batch["labels"].tolist()) == sorted(CLASSES.index(c) for c in data["label"])
    model = trainer.model.train()
    inputs, labels = trainer.architecture.training_batch(
        {k: v for k, v in batch.items() if k != "labels"}, batch["labels"], trainer.processing_class
    )
    assert len(labels) == 12 * 3 + 3 and labels[-3:].tolist() == [0, 1, 2]  # 3 views each, one anchor per class
    assert labels[:6].tolist() == [batch["labels"][0]] * 3 + [batch["labels"][1]] * 3  # views on adjacent rows
    anchors = [trainer.processing_class.decode(ids, skip_special_tokens=True) for ids in inputs["input_ids"][-3:]]
    assert anchors == CLASSES  # the class names themselves
    loss = trainer.compute_loss(model, batch)
    expected = naive_loss(model.encoder, model.head.weight, model.head.bias, inputs, labels, 0.5, 0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    assert trainer._metrics["train"]["supcon_no_positive_share"][-1].item() == 0  # every anchor has a positive


def test_label_descriptions_are_the_anchor_texts(tmp_path, st_dir):
    descriptions = tmp_path / "d.json"
    descriptions.write_text(json.dumps({"city": "a town", "school": "a place to learn"}))
    config = emb_config(tmp_path, label_anchors=True, label_descriptions=str(descriptions))
    trainer = SCLTrainer(st_dir, config, train_dataset=single_texts(12))
    assert trainer.architecture.anchor_texts() == {"city": "a town", "market": "market", "school": "a place to learn"}


def test_class_pair_sampler_puts_every_class_of_a_batch_twice_in_it():
    labels = [0] * 7 + [1] * 4 + [2] * 5 + [3] * 1
    sampler = ClassPairSampler(labels, seed=5)
    epoch = list(sampler)
    assert len(epoch) == len(sampler) == 8 + 4 + 6 + 2 and set(epoch) == set(range(len(labels)))  # odd: one twice
    for batch in (epoch[i : i + 4] for i in range(0, len(epoch), 4)):  # an even batch size
        assert min(Counter(labels[i] for i in batch).values()) >= 2
    assert list(ClassPairSampler(labels, seed=5)) == epoch  # seeded
    sampler.set_epoch(1)
    assert list(sampler) != epoch  # a new draw every epoch (the Trainer calls set_epoch)


# ---- Step 0 and the guard ----


def frozen_lr_predictions(st_dir, train, validation, seed):
    """An independent reference: sentence-transformers' own (normalized) embeddings + scikit-learn's logistic
    regression with the baseline's settings."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    model = SentenceTransformer(st_dir, device="cpu")
    fit = LogisticRegression(max_iter=2000, random_state=seed)
    fit.fit(model.encode(train["text"]), [CLASSES.index(c) for c in train["label"]])
    return fit.predict(model.encode(validation["text"]))


def test_step_0_is_the_frozen_logistic_regression(tmp_path, st_dir):
    train, validation = single_texts(24, seed=1), single_texts(30, seed=2)
    trainer = SCLTrainer(st_dir, emb_config(tmp_path), train_dataset=train, eval_dataset=validation)
    predicted = np.asarray(trainer.predict(trainer.eval_dataset).predictions).argmax(-1)
    expected = frozen_lr_predictions(st_dir, train, validation, seed=3)
    assert predicted.tolist() == expected.tolist()
    baselines = trainer.evaluate_baselines()
    metrics = trainer.evaluate()
    assert metrics["eval_macro_f1"] == pytest.approx(baselines["baseline_frozen_lr_macro_f1"])


def test_a_binary_head_is_one_logit_of_the_logistic_regression(tmp_path, st_dir):
    def binary(rows):
        return rows.map(lambda row: {"label": "yes" if row["label"] == "city" else "no"})

    data, validation = binary(single_texts(24, seed=1)), binary(single_texts(12, seed=2))
    trainer = SCLTrainer(st_dir, emb_config(tmp_path), train_dataset=data, eval_dataset=validation)
    assert trainer.model.num_logits == 1 and trainer.args.label_names == ["no", "yes"]
    metrics = trainer.evaluate()
    assert metrics["eval_accuracy_at_0.5"] == pytest.approx(
        trainer.evaluate_baselines()["baseline_frozen_lr_accuracy"]
    )


@pytest.mark.parametrize("trained_wins", [False, True])
def test_the_untouched_encoder_competes_and_is_kept_or_replaced(tmp_path, st_dir, trained_wins):
    train, validation = single_texts(24, seed=1), single_texts(12, seed=2)
    base = {k: v.clone() for k, v in AutoModel.from_pretrained(st_dir).state_dict().items()}

    def scores(eval_pred):  # a metric that rises (or falls) with training, whatever the tiny model learns
        step = trainer.state.global_step
        return {"macro_f1": 0.5 + (0.1 if trained_wins else -0.1) * (step > 0), "accuracy": 0.5}

    config = emb_config(tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2, save_strategy="steps",
                        save_steps=2, load_best_model_at_end=True, metric_for_best_model="macro_f1")  # fmt: skip
    trainer = SCLTrainer(st_dir, config, train_dataset=train, eval_dataset=validation, compute_metrics=scores)
    step0_head = trainer.model.head.weight.detach().clone()
    trainer.train()
    trainer.save_model()
    assert trainer.kept_base_model is not trained_wins
    saved = AutoModel.from_pretrained(config.output_dir).state_dict()
    unchanged = all(torch.equal(saved[k], base[k]) for k in base)
    assert unchanged is not trained_wins
    from safetensors.torch import load_file

    head = load_file(f"{config.output_dir}/{HEAD_WEIGHTS_NAME}")
    assert torch.equal(head["weight"], trainer.model.head.weight.detach())
    if not trained_wins:  # the exported head is the step-0 logistic regression
        assert torch.allclose(head["weight"], step0_head)


# ---- The export: sentence-transformers, AutoModel, the card's snippet, predict ----


@pytest.fixture
def trained_embedding(tmp_path, st_dir):
    train, validation = single_texts(24, seed=1), single_texts(30, seed=2)
    config = emb_config(tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2, save_strategy="steps",
                        save_steps=2, load_best_model_at_end=True, metric_for_best_model="macro_f1",
                        allow_regression=True)  # fmt: skip
    trainer = SCLTrainer(st_dir, config, train_dataset=train, eval_dataset=validation)
    trainer.train()
    trainer.evaluate()
    trainer.save_model()
    trainer.create_model_card(dataset_name="toy")
    return trainer, validation


def test_export_loads_in_sentence_transformers_and_automodel_with_the_trainers_embeddings(trained_embedding):
    from sentence_transformers import SentenceTransformer

    trainer, validation = trained_embedding
    out = trainer.args.output_dir
    embeddings = SentenceTransformer(out, device="cpu").encode(validation["text"], convert_to_tensor=True)
    batch = trainer.data_collator([trainer.eval_dataset[i] for i in range(len(validation))])
    model = trainer.model.eval()
    with torch.no_grad():
        ours = model.features(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    assert torch.allclose(embeddings.cpu(), ours, atol=1e-5)
    encoder = AutoModel.from_pretrained(out)
    assert all(torch.equal(encoder.state_dict()[k], v) for k, v in model.encoder.state_dict().items())
    with open(f"{out}/config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["class_names"] == CLASSES and config["pair_architecture"] == "embedding"


def test_the_cards_snippet_and_predict_give_the_trainers_classes(trained_embedding, tmp_path):
    trainer, validation = trained_embedding
    out = trainer.args.output_dir
    expected = [CLASSES[i] for i in np.asarray(trainer.predict(trainer.eval_dataset).predictions).argmax(-1)]
    card = open(f"{out}/README.md", encoding="utf-8").read()
    snippet = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    assert "SentenceTransformer" in snippet and HEAD_WEIGHTS_NAME in snippet
    namespace = {}
    exec(snippet.replace('["a text to classify"]', repr(list(validation["text"]))), namespace)  # noqa: S102
    assert namespace["labels"] == expected
    inputs = tmp_path / "in.tsv"
    inputs.write_text("text\n" + "".join(f"{t}\n" for t in validation["text"]))
    command = ["-m", "scl_trainer", "predict", "--model", out, "--input", str(inputs), "--output", tmp_path / "o.tsv"]
    done = subprocess.run([sys.executable, *map(str, command)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[1] for line in (tmp_path / "o.tsv").read_text().splitlines()] == expected


def test_pairs_of_k_classes_read_u_v_their_difference_and_product(tmp_path, st_dir):
    pairs = pair_rows(18)
    trainer = SCLTrainer(st_dir, emb_config(tmp_path), train_dataset=pairs, eval_dataset=pair_rows(9, seed=4))
    model = trainer.model.eval()
    assert isinstance(model, EmbeddingClassifier) and model.pairs and model.head.in_features == 4 * 32
    batch = trainer.data_collator([trainer.eval_dataset[i] for i in range(9)])
    with torch.no_grad():
        rows = model(**{k: v for k, v in batch.items() if k != "labels"})
        u = model.features(batch["a_input_ids"], batch["a_attention_mask"])
        v = model.features(batch["b_input_ids"], batch["b_attention_mask"])
    features = torch.cat([u, v, (u - v).abs(), u * v], dim=-1)
    assert torch.allclose(rows[:, 3:], features) and torch.allclose(rows[:, :3], model.head(features))
    metrics = trainer.evaluate()  # step 0: the frozen logistic regression on the same features
    assert metrics["eval_macro_f1"] == pytest.approx(trainer.evaluate_baselines()["baseline_frozen_lr_macro_f1"])


# ---- One-line errors ----


def one_line(done) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    return errors[0]


def run_classify(tmp_path, *flags) -> subprocess.CompletedProcess:
    rows = single_texts(24)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows.to_list()))
    return subprocess.run(
        [sys.executable, "recipes/supcon_classify.py", "--dataset_name", str(data), "--architecture", "embedding",
         "--output_dir", str(tmp_path / "run"), "--max_steps", "1", "--validation_size", "0.5", *flags],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_views_below_one_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^SCLConfig: views must be >= 1 \(dropout views of every text\), got 0$"):
        emb_config(tmp_path, views=0)
    assert "views must be >= 1" in one_line(run_classify(tmp_path, "--views", "0"))


def test_embedding_only_settings_are_refused_for_another_architecture(tmp_path):
    with pytest.raises(ConfigError, match=r"label_anchors is a setting of architecture=embedding, not cross_encoder"):
        emb_config(tmp_path, architecture="cross_encoder", label_anchors=True)


def test_a_cross_encoder_in_hand_is_refused(tmp_path, tiny_tokenizer):
    model = BertForSequenceClassification(tiny_bert_config(num_labels=3))  # never saved: no config.architectures
    message = r"^architecture=embedding needs an encoder \(AutoModel\), got a cross-encoder$"
    with pytest.raises(ConfigError, match=message):
        SCLTrainer(model, emb_config(tmp_path), train_dataset=single_texts(12), processing_class=tiny_tokenizer)


def test_label_descriptions_naming_an_unknown_class_is_one_line_before_training(tmp_path, st_dir):
    descriptions = tmp_path / "d.json"
    descriptions.write_text(json.dumps({"city": "a town", "villages": "small places"}))
    line = one_line(run_classify(tmp_path, "--model_name_or_path", st_dir, "--label_anchors", "true",
                                 "--label_descriptions", str(descriptions)))  # fmt: skip
    assert "['villages'] are not classes of the training data" in line and "d.json" in line
    assert not (tmp_path / "run" / "checkpoint-1").exists()
    with pytest.raises(ConfigError, match=r"d.json: must be a JSON object"):
        descriptions.write_text("[1, 2]")
        emb_config(tmp_path, label_anchors=True, label_descriptions=str(descriptions))


def test_a_model_without_a_sentence_pooling_is_one_line(tmp_path, tiny_encoder_dir):
    line = one_line(run_classify(tmp_path, "--model_name_or_path", tiny_encoder_dir))
    assert "declares no sentence pooling" in line and "--architecture cross_encoder" in line
    with pytest.raises(ConfigError, match=r"declares no sentence pooling"):
        SCLTrainer(tiny_encoder_dir, emb_config(tmp_path), train_dataset=single_texts(12))


def test_two_classes_of_pairs_are_the_bi_encoders(tmp_path, st_dir):
    pairs = pair_rows(12).map(lambda row: {"label": "a" if row["label"] == "neutral" else "b"})
    with pytest.raises(ConfigError, match=r"two classes of pairs are the bi-encoder's task"):
        SCLTrainer(st_dir, emb_config(tmp_path), train_dataset=pairs)
