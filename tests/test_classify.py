"""K-class classification of single texts and pairs (`SCLTrainer` with `label_names`, `recipes/supcon_classify.py`):
the loss against a naive reference, inputs, class names through `pipeline` and `predict`, the few-shot and noise
regimes, and label errors before training."""

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import BertForSequenceClassification, pipeline

from scl_trainer import SCLConfig, SCLTrainer
from scl_trainer.__main__ import main as cli
from scl_trainer.classification_data import class_names
from scl_trainer.errors import ConfigError, DataError
from scl_trainer.losses import SupConLoss
from scl_trainer.recipe_setup import run_recipe
from scl_trainer.splits import flip_labels, sample_per_class
from tests.helpers import load_recipe, tiny_bert_config
from tests.test_supcon_loss import seed_supcon_loop

WORDS = "the house near school good room price floor new city market company report year people share".split()
CLASSES = ["city", "market", "school"]


def texts(n: int, seed: int = 0) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [" ".join(WORDS[i] for i in torch.randint(len(WORDS), (5,), generator=g)) for _ in range(n)]


def single_texts(n: int = 24, seed: int = 0) -> Dataset:
    """Texts labelled by the class word they contain (learnable), as class names."""
    rows = texts(n, seed)
    labels = [CLASSES[i % 3] for i in range(n)]
    return Dataset.from_dict({"text": [f"{t} {label}" for t, label in zip(rows, labels)], "label": labels})


def config(tmp_path, **overrides) -> SCLConfig:
    values = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=12, per_device_eval_batch_size=12,
                  max_steps=3, learning_rate=1e-3, save_strategy="no", report_to="none", seed=3, max_length=16,
                  disable_tqdm=True, scl_weight=0.5)  # fmt: skip
    values.update(overrides)
    return SCLConfig(**values)


def test_k_class_loss_is_cross_entropy_plus_supcon_of_the_naive_loop(tmp_path, tiny_encoder_dir, tiny_tokenizer):
    trainer = SCLTrainer(str(tiny_encoder_dir), config(tmp_path), train_dataset=single_texts(12))
    assert trainer.args.label_names == CLASSES and trainer.model.config.num_labels == 3  # sorted class names
    model = trainer.model.eval()  # no dropout: the reference sees the same forward pass
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(12)])
    labels = batch["labels"]
    assert labels.tolist() == [CLASSES.index(CLASSES[i % 3]) for i in range(12)]
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k != "labels"}, output_hidden_states=True)
        loss = trainer.compute_loss(model, batch)
    supcon, _ = seed_supcon_loop(out.hidden_states[-1][:, 0], labels, 0.2)  # every class has 4 rows: seed's mean
    expected = F.cross_entropy(out.logits, labels).item() + 0.5 * supcon
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def imbalanced_texts(counts: dict[str, int]) -> Dataset:
    rows = texts(sum(counts.values()), seed=2)
    labels = [name for name, n in counts.items() for _ in range(n)]
    return Dataset.from_dict({"text": [f"{t} {label}" for t, label in zip(rows, labels)], "label": labels})


def test_balanced_class_weights_k_classes_are_torch_weighted_cross_entropy(tmp_path, tiny_encoder_dir):
    data = imbalanced_texts({"city": 6, "market": 4, "school": 2})
    trainer = SCLTrainer(str(tiny_encoder_dir), config(tmp_path, class_weight="balanced", scl_weight=0),
                         train_dataset=data)  # fmt: skip
    # n / (K n_k) by hand: 12 / (3 x 6), 12 / (3 x 4), 12 / (3 x 2)
    assert trainer.class_weights.tolist() == pytest.approx([2 / 3, 1.0, 2.0])
    model = trainer.model.eval()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(12)])
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        loss = trainer.compute_loss(model, batch)
    weight = torch.tensor([2 / 3, 1.0, 2.0])
    assert loss.item() == pytest.approx(F.cross_entropy(logits, batch["labels"], weight=weight).item(), rel=1e-5)
    assert loss.item() != pytest.approx(F.cross_entropy(logits, batch["labels"]).item(), rel=1e-3)  # it does weigh
    trainer.create_model_card()
    card = (tmp_path / "out" / "README.md").read_text()
    assert "`city` 0.667, `market` 1.000, `school` 2.000." in card and "| class_weight | balanced |" in card


def test_balanced_class_weights_two_classes_are_the_weighted_mean_of_bce(tmp_path, tiny_encoder_dir):
    data = imbalanced_texts({"no": 9, "yes": 3})  # one logit; weights 12 / (2 x 9) and 12 / (2 x 3)
    trainer = SCLTrainer(str(tiny_encoder_dir), config(tmp_path, class_weight="balanced"), train_dataset=data)
    model = trainer.model.eval()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(12)])
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k != "labels"}, output_hidden_states=True)
        loss = trainer.compute_loss(model, batch)
    total = weights = 0.0
    for logit, label in zip(out.logits[:, 0].tolist(), batch["labels"].tolist()):  # naive loop
        p, w = 1 / (1 + math.exp(-logit)), (2 / 3 if label == 0 else 2.0)
        total += w * -(math.log(p) if label == 1 else math.log(1 - p))
        weights += w
    supcon, _ = SupConLoss(0.2)(out.hidden_states[-1][:, 0], batch["labels"], return_stats=True)
    assert loss.item() == pytest.approx(total / weights + 0.5 * supcon.item(), rel=1e-5)


def test_class_weight_must_be_known(tmp_path):
    with pytest.raises(ConfigError, match="class_weight must be one of none, balanced, got 'inverse'"):
        config(tmp_path, class_weight="inverse")


@pytest.mark.parametrize("kind", ["single", "pairs"])
def test_single_texts_and_pairs_train_save_and_predict_class_names(tmp_path, tiny_encoder_dir, kind):
    data = single_texts(36)
    if kind == "pairs":
        data = Dataset.from_dict({"text_a": data["text"], "text_b": texts(36, seed=1), "label": data["label"]})
    args = config(tmp_path, eval_strategy="steps", eval_steps=3)
    trainer = SCLTrainer(str(tiny_encoder_dir), args, train_dataset=data.select(range(24)),
                         eval_dataset=data.select(range(24, 36)))  # fmt: skip
    trainer.train()
    metrics = trainer.evaluate()
    for key in ("eval_accuracy", "eval_macro_f1", "eval_weighted_f1", "eval_f1_city", "eval_recall_school",
                "baseline_majority_accuracy", "baseline_frozen_lr_macro_f1"):  # fmt: skip
        assert key in metrics, key
    trainer.save_model()
    out = tmp_path / "out"
    config_json = json.loads((out / "config.json").read_text())
    assert config_json["id2label"] == {"0": "city", "1": "market", "2": "school"}
    assert config_json["class_names"] == CLASSES
    assert config_json["text_input"] == ("single" if kind == "single" else "pair")
    # The pipeline returns class names; predict writes them, with every class's probability.
    classifier = pipeline("text-classification", model=str(out), device="cpu")
    example = data[30]["text"] if kind == "single" else {"text": data[30]["text_a"], "text_pair": data[30]["text_b"]}
    assert {row["label"] for row in classifier(example, top_k=None)} == set(CLASSES)
    rows = data.select(range(24, 36)).remove_columns("label").add_column("id", [f"r{i}" for i in range(12)])
    rows.to_json(tmp_path / "in.jsonl")
    cli(["predict", "--model", str(out), "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "o.tsv"),
         "--id_columns", "id", "--write_probability"])  # fmt: skip
    lines = [line.split("\t") for line in (tmp_path / "o.tsv").read_text().splitlines()]
    assert [line[0] for line in lines] == [f"r{i}" for i in range(12)] and all(len(line) == 5 for line in lines)
    for line in lines:
        probabilities = [float(x) for x in line[2:]]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert line[1] == CLASSES[int(np.argmax(probabilities))]


def test_a_k_logit_model_must_match_the_classes(tmp_path, tiny_tokenizer):
    model = BertForSequenceClassification(tiny_bert_config(num_labels=1))
    with pytest.raises(ValueError, match=r"needs a head with 3 logits \(softmax \+ CE\) for the classes \['city'"):
        SCLTrainer(model, config(tmp_path), train_dataset=single_texts(6), processing_class=tiny_tokenizer)
    with pytest.raises(ValueError, match=r"the eval dataset, row 1, column 'label': label 'park' is not one of"):
        SCLTrainer(BertForSequenceClassification(tiny_bert_config(num_labels=3)), config(tmp_path),
                   train_dataset=single_texts(6), processing_class=tiny_tokenizer,
                   eval_dataset=Dataset.from_dict({"text": ["a", "b"], "label": ["city", "park"]}))  # fmt: skip


def test_samples_per_class_exact_counts_and_seeding(caplog):
    labels = [0] * 50 + [1] * 30 + [2] * 5
    data = Dataset.from_dict({"text": [str(i) for i in range(len(labels))], "label": labels})
    with caplog.at_level("WARNING"):
        few = sample_per_class(data, 8, seed=1)
    assert np.bincount(few["label"]).tolist() == [8, 8, 5]  # class 2 keeps all five
    assert "class 2 has only 5 training rows, all kept" in caplog.text
    assert few["text"] == sample_per_class(data, 8, seed=1)["text"]  # same seed, same rows
    assert few["text"] != sample_per_class(data, 8, seed=2)["text"]
    assert [int(t) for t in few["text"]] == sorted(int(t) for t in few["text"])  # input order kept
    assert set(sample_per_class(data, 8, seed=1)["text"][:8]) <= set(sample_per_class(data, 20, seed=1)["text"])


def test_multiclass_label_noise_never_keeps_the_old_label():
    labels = [i % 5 for i in range(1000)]
    data = Dataset.from_dict({"label": labels})
    noisy, changed = flip_labels(data, 0.3, seed=4, num_classes=5)
    assert len(changed) == 300
    new = np.asarray(noisy["label"])
    assert all(new[i] != labels[i] for i in changed)
    assert all(new[i] == labels[i] for i in set(range(1000)) - set(changed))
    # The new class is uniform over the four others: every (old, new) combination occurs.
    pairs = {(labels[i], int(new[i])) for i in changed}
    assert pairs == {(a, b) for a in range(5) for b in range(5) if a != b}
    binary, flipped = flip_labels(Dataset.from_dict({"label": [0, 1] * 50}), 0.2, seed=4)
    assert all(binary["label"][i] == 1 - [0, 1][i % 2] for i in flipped)  # two classes: the other one


@pytest.mark.parametrize(
    ("train", "validation", "message"),
    [
        ("abc", "abd", r"valid.csv, row 4, column 'label': label 'd' is not one of the training data's classes "
                       r"\['a', 'b', 'c'\]"),
        ("aaa", None, r"every row has the label 'a'; training needs two classes or more"),
    ],
)  # fmt: skip
def test_label_errors_are_one_line_before_training(tmp_path, tiny_encoder_dir, capsys, train, validation, message):
    recipe = load_recipe("supcon_classify")

    def write(name, classes):
        rows = "".join(f"text number {i},{classes[i % len(classes)]}\n" for i in range(12))
        (tmp_path / name).write_text("text,label\n" + rows)
        return str(tmp_path / name)

    argv = ["--dataset_name", write("train.csv", train), "--model_name_or_path", str(tiny_encoder_dir),
            "--output_dir", str(tmp_path / "out"), "--max_steps", "1", "--report_to", "none"]  # fmt: skip
    if validation:
        argv += ["--validation_file", write("valid.csv", validation)]
    with pytest.raises(SystemExit):
        run_recipe(recipe.main, recipe.parser(), argv)
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_label_names_must_cover_the_training_labels():
    assert class_names(["b", "a", "c"]) == ["a", "b", "c"]
    assert class_names(["10", "2", "1"]) == ["1", "2", "10"]  # integers numerically
    assert class_names(["pos", "neg"], ["pos", "neg"]) == ["pos", "neg"]  # the user's order
    with pytest.raises(DataError, match=r"label 'neutral' is not one of --label_names \['pos', 'neg'\]"):
        class_names(["pos", "neg", "neutral"], ["pos", "neg"])


def test_the_predict_file_of_a_pair_model_is_read_as_pairs(tmp_path, tiny_encoder_dir):
    """`sick` trains a pair model: its `--predict_file` is read with the pair columns training read (it was read as
    single texts of a `text` column)."""
    recipe = load_recipe("supcon_classify")
    (tmp_path / "data" / "sick").mkdir(parents=True)
    judgments = ["ENTAILMENT", "NEUTRAL", "CONTRADICTION"]
    rows = [f"{WORDS[i % 16]} {WORDS[(i * 3) % 16]}\t{WORDS[(i * 5) % 16]} {WORDS[(i * 7) % 16]}\t{judgments[i % 3]}"
            for i in range(30)]  # fmt: skip
    header = "sentence_A\tsentence_B\tentailment_judgment\n"
    (tmp_path / "data" / "sick" / "sick_train.tsv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    to_classify = tmp_path / "to_classify.tsv"
    to_classify.write_text("sentence_A\tsentence_B\nthe house\tthe house\ngood room\tnew city\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["--dataset_name", "sick", "--data_dir", str(tmp_path / "data"), "--model_name_or_path", tiny_encoder_dir,
            "--output_dir", str(out), "--max_steps", "1", "--max_length", "16", "--eval_strategy", "no",
            "--save_strategy", "no", "--report_to", "none", "--predict_file", str(to_classify)]  # fmt: skip
    run_recipe(recipe.main, recipe.parser(), argv, debug=True)
    lines = (out / "predictions.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(line.split("\t")[-1] in judgments for line in lines), lines
    model = BertForSequenceClassification.from_pretrained(out)
    assert model.config.text_input == "pair"


def test_macro_f1_is_the_macro_f1_of_the_decisions_for_two_classes(tmp_path):
    """One config for any number of classes (`own_minilm_embedding.yaml`): `macro_f1` picks the checkpoint for K
    classes, and for two (one logit) the macro-F1 of the decisions at the model's threshold."""
    two = SCLConfig(output_dir=str(tmp_path / "a"), metric_for_best_model="macro_f1")
    assert "macro_f1_at_threshold" in two.fit_to_task(1) and two.metric_for_best_model == "macro_f1_at_threshold"
    k = SCLConfig(output_dir=str(tmp_path / "b"), metric_for_best_model="macro_f1")
    assert "macro_f1" in k.fit_to_task(3) and k.metric_for_best_model == "macro_f1"
