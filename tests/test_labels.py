"""The one rule for label values (`scl_trainer.labels`), through every entry point that reads labels: the classify
recipe's training and validation files, the Python API (`SCLTrainer` on a raw dataset) and the pair recipe's 0/1
files. Case and surrounding whitespace never make a class, numeric spellings of one number are one label, and a
missing value is an error naming the row, never a class `nan`."""

import json
import math

import pytest
from datasets import Dataset

from scl_trainer import SCLConfig, SCLTrainer
from scl_trainer.data import load_pairs
from scl_trainer.errors import DataError
from scl_trainer.labels import class_metric_keys, read_label
from scl_trainer.metrics import class_metrics
from tests.helpers import load_recipe


def write_jsonl(path, labels, pairs: bool = False) -> str:
    texts = ({"text_a": f"question {i}", "text_b": f"answer {i}"} if pairs else {"text": f"text number {i}"}
             for i in range(len(labels)))  # fmt: skip
    path.write_text("".join(json.dumps({**t, "label": label}) + "\n" for t, label in zip(texts, labels)))
    return str(path)


def classify_recipe_train(tmp_path, encoder, labels):
    """The classify recipe's reading of a training file: (class names, encoded training labels)."""
    recipe = load_recipe("supcon_classify")
    train = write_jsonl(tmp_path / "train.jsonl", labels)
    argv = [
        "--dataset_name",
        train,
        "--model_name_or_path",
        encoder,
        "--output_dir",
        str(tmp_path / "out"),
        "--validation_file",
        train,
    ]  # fmt: skip (a validation file: every training row stays, in order)
    script_args, _, training_args = recipe.parser().parse_args_and_config(argv)
    splits, _ = recipe.load_splits(script_args, training_args, seed=0)
    return training_args.label_names, splits["train"]["label"]


def classify_recipe_validation(tmp_path, encoder, labels):
    """The classify recipe's reading of a validation file, against training classes spelled in lower case."""
    recipe = load_recipe("supcon_classify")
    train = ["positive", "negative", "1"] * 2
    argv = ["--dataset_name", write_jsonl(tmp_path / "train.jsonl", train), "--model_name_or_path", encoder,
            "--output_dir", str(tmp_path / "out"), "--validation_file",
            write_jsonl(tmp_path / "valid.jsonl", labels)]  # fmt: skip
    script_args, _, training_args = recipe.parser().parse_args_and_config(argv)
    splits, _ = recipe.load_splits(script_args, training_args, seed=0)
    return training_args.label_names, splits["validation"]["label"]


def python_api(tmp_path, encoder, labels):
    """`SCLTrainer` given a raw dataset: the classes it reads and the labels it trains on."""
    labels = [v if v is None or isinstance(v, str) else str(v) for v in labels]  # one Arrow column: text or null
    data = Dataset.from_dict({"text": [f"text number {i}" for i in range(len(labels))], "label": labels})
    args = SCLConfig(output_dir=str(tmp_path / "out"), report_to="none", max_steps=1, disable_tqdm=True)
    trainer = SCLTrainer(encoder, args, train_dataset=data)
    return trainer.args.label_names, trainer.train_dataset["label"]


ENTRY_POINTS = [classify_recipe_train, classify_recipe_validation, python_api]


@pytest.mark.parametrize("read", ENTRY_POINTS)
def test_case_and_surrounding_whitespace_are_one_class(tmp_path, tiny_encoder_dir, read):
    labels = ["Positive", " positive", "NEGATIVE ", "negative", "1", "1"]
    names, encoded = read(tmp_path, tiny_encoder_dir, labels)
    assert len(names) == 3 and {n.casefold() for n in names} == {"positive", "negative", "1"}
    assert encoded[0] == encoded[1] and encoded[2] == encoded[3] and len(set(encoded)) == 3


@pytest.mark.parametrize("read", ENTRY_POINTS)
def test_numeric_spellings_of_one_number_are_one_label(tmp_path, tiny_encoder_dir, read):
    labels = [1, 1.0, "1.0", " 1 ", "negative", "Positive", "positive"]
    names, encoded = read(tmp_path, tiny_encoder_dir, labels)
    assert "1" in names and "1.0" not in names and len(names) == 3
    assert len(set(encoded[:4])) == 1


MISSING = {"null": None, "nan": math.nan, "empty": "", "blank": "  ", "nan-text": "NaN"}


@pytest.mark.parametrize("read", ENTRY_POINTS)
@pytest.mark.parametrize("missing", list(MISSING.values()), ids=list(MISSING))
def test_a_missing_label_is_an_error_naming_the_row_never_a_class(tmp_path, tiny_encoder_dir, read, missing):
    labels = ["positive", "negative", "1", missing, "positive", "negative"]
    row = 3 if read is python_api else 4  # a dataset's rows count from 0, a file's lines from 1
    with pytest.raises(DataError, match=rf", row {row}, column 'label': missing label"):
        read(tmp_path, tiny_encoder_dir, labels)


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_pair_labels_read_by_the_same_rule(tmp_path, suffix):
    labels = [1, "1.0", " 0 ", 0.0, True if suffix == "jsonl" else "+1", "01"]  # JSON's true; a text "True" is a name
    if suffix == "csv":
        path = tmp_path / "pairs.csv"
        rows = "".join(f"q {i},a {i},{str(v).strip()}\n" for i, v in enumerate(labels))
        path.write_text("text_a,text_b,label\n" + rows)
    else:
        path = write_jsonl(tmp_path / "pairs.jsonl", labels, pairs=True)
    assert load_pairs(str(path))["label"] == [1, 1, 0, 0, 1, 1]
    with pytest.raises(DataError, match=r"missing\.jsonl, row 2, column 'label': missing label"):
        load_pairs(write_jsonl(tmp_path / "missing.jsonl", [1, math.nan, 0], pairs=True))
    named = write_jsonl(tmp_path / "named.jsonl", ["Match", " match", "no_match", "NO_MATCH"], pairs=True)
    assert load_pairs(named, positive_label="MATCH")["label"] == [1, 1, 0, 0]


def test_the_rule_by_hand():
    assert [read_label(v, "f", 0, "label") for v in (1, 1.0, "1.0", " +1 ", "01", True)] == ["1"] * 5 + ["true"]
    assert [read_label(v, "f", 0, "label") for v in ("0.5", " one ", "None", "1e3")] == ["0.5", "one", "None", "1e3"]
    with pytest.raises(DataError, match=r"^f, row 0, column 'label': expected a class label, got \['a'\]$"):
        read_label(["a"], "f", 0, "label")


def test_metric_keys_are_unique_for_any_class_names():
    names = ["a b", "a_b", "a-b", "a_b_1", "x"]
    keys = class_metric_keys(names)
    assert len(set(keys)) == len(names) and keys[0] == "a_b" and keys[-1] == "x"
    metrics = class_metrics([0, 1, 2, 3, 4], [0, 1, 2, 3, 3], names)
    assert len(metrics) == 3 + 3 * len(names)  # accuracy, macro/weighted F1, and P/R/F1 per class, none overwritten
    assert metrics[f"f1_{keys[3]}"] == pytest.approx(2 / 3) and metrics[f"f1_{keys[4]}"] == 0.0


def test_a_missing_column_never_suggests_a_column_another_flag_reads(tmp_path):
    from scl_trainer.classification_data import load_labelled

    path = tmp_path / "train.csv"
    path.write_text("label,sentence\npositive,a b\nnegative,c d\n")
    with pytest.raises(DataError, match=r"column 'label_text': column not found.*--text_column COLUMN$"):
        load_labelled(str(path), text_column="label_text")  # not "--text_column label": that is the label column
    with pytest.raises(DataError, match=r"--text_column sentence\?"):
        load_labelled(str(path), text_column="sentenc")
