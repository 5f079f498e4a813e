"""`python -m scl_trainer predict`: streamed, in input order, thresholded at the model's tuned threshold, resumable."""

import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from scl_trainer.__main__ import predict
from scl_trainer.arguments import PredictArguments
from scl_trainer.predict import open_pairs

WORDS = "the house near school good room price floor new city market company report year people share".split()


@pytest.fixture
def pair_file(tmp_path):
    g = torch.Generator().manual_seed(0)
    lines = ["id\tq\tr"]
    for i in range(203):
        a = " ".join(WORDS[j] for j in torch.randint(len(WORDS), (5,), generator=g))
        b = " ".join(WORDS[j] for j in torch.randint(len(WORDS), (5,), generator=g))
        lines.append(f"p{i}\t{a}\t{b}")
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def args(classifier_dir, pair_file, output, **overrides) -> PredictArguments:
    values = dict(
        model=str(classifier_dir),
        input=str(pair_file),
        output=str(output),
        text_a_column="q",
        text_b_column="r",
        id_columns=["id"],
        batch_size=16,
        max_length=32,
        write_probability=True,
    )
    values.update(overrides)
    return PredictArguments(**values)


def test_labels_are_the_models_probabilities_at_its_threshold(classifier_dir, pair_file, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir).eval()
    # A threshold between the scores, so both labels occur and a wrong threshold would show.
    rows = [line.split("\t") for line in pair_file.read_text().splitlines()[1:]]
    tokenizer = AutoTokenizer.from_pretrained(classifier_dir)
    with torch.no_grad():
        encoded = tokenizer([r[1] for r in rows], [r[2] for r in rows], padding=True, return_tensors="pt")
        probabilities = torch.sigmoid(model(**encoded).logits[:, 0])
    threshold = probabilities.median().item()
    model.config.decision_threshold = threshold
    model.save_pretrained(classifier_dir)

    assert predict(args(classifier_dir, pair_file, tmp_path / "out.tsv")) == 203
    out = [line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines()]
    assert [o[0] for o in out] == [r[0] for r in rows]  # ids, in input order
    assert [int(o[1]) for o in out] == (probabilities >= threshold).long().tolist()
    assert [float(o[2]) for o in out] == pytest.approx(probabilities.tolist(), abs=1e-5)
    assert {o[1] for o in out} == {"0", "1"}


def test_resume_continues_a_torn_output(classifier_dir, pair_file, tmp_path):
    full = tmp_path / "full.tsv"
    predict(args(classifier_dir, pair_file, full))
    lines = full.read_text().splitlines(keepends=True)
    partial = tmp_path / "partial.tsv"
    partial.write_text("".join(lines[:77]) + lines[77][:5])  # killed while writing line 78
    assert predict(args(classifier_dir, pair_file, partial, resume=True)) == 203
    assert partial.read_text() == full.read_text()
    # Without --resume an existing output is replaced, not appended to.
    predict(args(classifier_dir, pair_file, partial))
    assert partial.read_text() == full.read_text()


def test_cli_on_the_ccf_test_file(classifier_dir, data_dir, tmp_path):
    out = tmp_path / "submission.tsv"
    result = subprocess.run(
        [sys.executable, "-m", "scl_trainer", "predict", "--model", str(classifier_dir), "--input", "ccf_qa_match"]
        + ["--data_dir", str(data_dir), "--output", str(out), "--batch_size", "512", "--max_length", "64"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "53757 predictions" in result.stderr and "Predicting" in result.stderr  # the progress bar
    replies = (data_dir / "ccf_qa_match" / "test.reply.tsv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert len(rows) == 53_757 and [r[:2] for r in rows] == [line.split("\t")[:2] for line in replies]


def test_cli_without_subcommand_prints_usage():
    result = subprocess.run([sys.executable, "-m", "scl_trainer"], capture_output=True, text=True)
    assert result.returncode != 0 and "usage: python -m scl_trainer predict" in result.stderr


def test_open_pairs_counts_the_ccf_rows_it_yields(data_dir, pair_file):
    pairs, id_columns, total = open_pairs("ccf_qa_match", data_dir)
    assert id_columns == ("query_id", "reply_id")
    assert total == sum(1 for _ in pairs) == 53757  # the progress bar's total is the real row count
    pairs, id_columns, total = open_pairs(str(pair_file), data_dir, "q", "r", ("id",))
    assert (id_columns, total) == (("id",), 203)  # files are counted too: the progress bar has a total
    assert set(next(pairs)) >= {"text_a", "text_b", "id"}


def test_max_length_defaults_to_the_trained_one(classifier_dir, pair_file, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir)
    model.config.train_max_length = 6  # shorter than the pairs: truncation changes the scores
    model.save_pretrained(classifier_dir)
    predict(args(classifier_dir, pair_file, tmp_path / "default.tsv", max_length=None))
    predict(args(classifier_dir, pair_file, tmp_path / "six.tsv", max_length=6))
    predict(args(classifier_dir, pair_file, tmp_path / "long.tsv", max_length=32))
    assert (tmp_path / "default.tsv").read_text() == (tmp_path / "six.tsv").read_text()
    assert (tmp_path / "default.tsv").read_text() != (tmp_path / "long.tsv").read_text()


def test_progress_total_of_a_csv_with_quoted_newlines(tmp_path, data_dir):
    path = tmp_path / "pairs.csv"
    path.write_text('text_a,text_b\n"first\nline",b\nc,d\n"e","f"\n', encoding="utf-8")
    pairs, _, total = open_pairs(str(path), data_dir)
    assert total == 3 == sum(1 for _ in pairs)


def test_header_names_every_column_and_survives_a_resume(classifier_dir, pair_file, tmp_path):
    full = tmp_path / "full.tsv"
    predict(args(classifier_dir, pair_file, full, header=True))
    lines = full.read_text().splitlines(keepends=True)
    assert lines[0] == "id\tlabel\tprobability_1\n" and len(lines) == 204  # the probability of the second class
    without = tmp_path / "plain.tsv"
    predict(args(classifier_dir, pair_file, without))
    assert "".join(lines[1:]) == without.read_text()  # the header changes nothing else
    partial = tmp_path / "partial.tsv"
    partial.write_text("".join(lines[:78]) + lines[78][:5])  # killed while writing row 78
    assert predict(args(classifier_dir, pair_file, partial, header=True, resume=True)) == 203
    assert partial.read_text() == full.read_text()
