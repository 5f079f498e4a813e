"""`python -m scl_trainer predict` destroys nothing and checks everything before it reads a row: the output is
written beside and moved into place at the end, a resume appends only to its own lines, every setting is checked
first; and its length-sorted windows keep the input order and the probabilities of row-by-row scoring."""

import os
import random
import re
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification, BertModel

from scl_trainer.__main__ import main as cli
from scl_trainer.predict import predict_pairs
from tests.helpers import locked_by_another_process, tiny_bert_config

WORDS = "the house near school good room price floor new city market company report year people share".split()


@pytest.fixture
def pairs_file(tmp_path):
    rng = random.Random(0)
    lines = ["id\tq\tr"]
    for i in range(150):  # very different lengths, in random order
        a = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
        b = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
        lines.append(f"p{i}\t{a}\t{b}")
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(argv, capsys) -> tuple[int, str]:
    """`python -m scl_trainer predict ARGV` in process: (exit status, stderr)."""
    capsys.readouterr()
    try:
        cli(["predict", *map(str, argv)])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def base_argv(model, pairs, output, *extra):
    return ["--model", model, "--input", pairs, "--output", output, "--text_a_column", "q", "--text_b_column", "r",
            "--id_columns", "id", "--max_length", "64", *extra]  # fmt: skip


def one_error_line(err: str, pattern: str) -> None:
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.search(pattern, errors[0]), err
    assert "Traceback" not in err


def test_length_sorted_windows_keep_order_and_probabilities(classifier_dir, pairs_file, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(classifier_dir)
    rows = [line.split("\t") for line in pairs_file.read_text().splitlines()[1:]]
    with torch.no_grad():  # the reference: each pair alone, no padding at all
        reference = [
            torch.sigmoid(model(**tokenizer(a, b, truncation=True, max_length=64, return_tensors="pt")).logits)[0, 0]
            for _, a, b in rows
        ]
    pairs = ({"id": i, "text_a": a, "text_b": b} for i, a, b in rows)
    out = tmp_path / "out.tsv"
    n = predict_pairs(model, tokenizer, pairs, out, max_length=64, id_columns=("id",), batch_size=7, window_size=40,
                      write_probability=True)  # fmt: skip
    lines = [line.split("\t") for line in out.read_text().splitlines()]
    assert n == 150 and [line[0] for line in lines] == [r[0] for r in rows]  # input order
    assert [float(line[2]) for line in lines] == pytest.approx([p.item() for p in reference], abs=1e-5)


def test_default_attention_is_sdpa_and_eager_scores_the_same(classifier_dir, pairs_file, tmp_path, capsys):
    outputs = {}
    for attention in (None, "eager"):
        out = tmp_path / f"{attention}.tsv"
        extra = ["--attn_implementation", attention] if attention else []
        code, err = run_cli(base_argv(classifier_dir, pairs_file, out, "--write_probability", *extra), capsys)
        assert code == 0 and f"attention: {attention or 'sdpa'}" in err, err
        outputs[attention] = [line.split("\t") for line in out.read_text().splitlines()]
    assert [row[0] for row in outputs[None]] == [row[0] for row in outputs["eager"]]
    default, eager = ([float(row[2]) for row in rows] for rows in outputs.values())
    assert default == pytest.approx(eager, abs=1e-5)


def test_output_equal_to_input_is_refused(classifier_dir, pairs_file, capsys):
    before = pairs_file.read_bytes()
    code, err = run_cli(base_argv(classifier_dir, pairs_file, pairs_file), capsys)
    assert code == 2 and pairs_file.read_bytes() == before
    one_error_line(err, r"--output .*pairs\.tsv is the --input .*pairs\.tsv \(the same file\)")


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["--text_a_column", "question"], r"pairs\.tsv, row 1, column 'question': column not found"),
        (["--id_columns", "key"], r"column 'key': column not found"),
        (["--batch_size", "0"], r"batch_size must be >= 1, got 0"),
        (["--window_size", "0"], r"window_size must be >= 1, got 0"),
        (["--threshold", "nan"], r"threshold must be a probability in \[0, 1\], got nan"),
        (["--threshold", "5"], r"threshold must be a probability in \[0, 1\], got 5.0"),
        (["--max_length", "100000"], r"max_length=100000 is above the limit of the model"),
    ],
)
def test_bad_input_or_setting_leaves_an_existing_output_untouched(
    classifier_dir, pairs_file, tmp_path, capsys, extra, pattern
):
    out = tmp_path / "out.tsv"
    out.write_text("earlier results\n", encoding="utf-8")
    code, err = run_cli(base_argv(classifier_dir, pairs_file, out, *extra), capsys)
    assert code == 2 and out.read_text() == "earlier results\n"
    one_error_line(err, pattern)


@pytest.mark.parametrize("head", ["none", "three-way"])
def test_a_model_that_is_not_a_pair_classifier_is_refused(tmp_path, tiny_tokenizer, pairs_file, capsys, head):
    path = tmp_path / head
    model = (
        BertModel(tiny_bert_config())
        if head == "none"
        else BertForSequenceClassification(tiny_bert_config(num_labels=3))
    )
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    code, err = run_cli(base_argv(path, pairs_file, tmp_path / "out.tsv"), capsys)
    assert code == 2 and not (tmp_path / "out.tsv").exists()
    one_error_line(err, r"not a classifier of scl_trainer \(architectures")


def interrupted(model, pairs, out, capsys, monkeypatch, keep: int, torn: str = "", *extra) -> tuple[str, Path]:
    """What a run killed after `keep` complete lines (and a torn `torn`) leaves: the partial output and its record.
    Returns the full output a complete run writes and the partial file."""
    run_cli(base_argv(model, pairs, out, *extra), capsys)
    full = out.read_text()
    out.unlink()
    real_replace = os.replace

    def killed_at_the_end(source, target):  # the run dies where the output would be moved into place
        if str(source).endswith(".partial"):
            raise RuntimeError("killed")
        real_replace(source, target)

    with monkeypatch.context() as patch:
        patch.setattr("scl_trainer.predict.os.replace", killed_at_the_end)
        with pytest.raises(RuntimeError, match="killed"):
            run_cli(base_argv(model, pairs, out, "--window_size", "16", *extra), capsys)
    partial = out.with_name(out.name + ".partial")
    assert partial.read_text() == full and partial.with_name(partial.name + ".json").is_file()
    partial.write_text("".join(full.splitlines(keepends=True)[:keep]) + torn, encoding="utf-8")
    return full, partial


def test_resume_refuses_another_command_or_output_before_touching_it(
    classifier_dir, pairs_file, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out.tsv"
    full, partial = interrupted(classifier_dir, pairs_file, out, capsys, monkeypatch, keep=20, torn="p20\t")
    lines = full.splitlines(keepends=True)
    content = "".join(lines[:20]) + "p20\t"
    other_model = tmp_path / "other"
    shutil.copytree(classifier_dir, other_model)
    cases = {  # name: (what the partial holds, extra flags, the error)
        "another threshold": (content, ["--threshold", "0.9"], r"another command \(threshold: .* differing"),
        "another model": (content, ["--model", str(other_model)], r"another command \(model: "),
        "another format": (content, ["--write_probability", "true"], r"another command \(fields: 2 then, 3 now"),
        "other ids": ("".join(line.replace("p1\t", "x1\t", 1) for line in lines[:20]), [], "line 2 is"),
        "longer": (full + "p150\t1\n", [], "more lines"),
    }
    for name, (partial_text, extra, pattern) in cases.items():
        partial.write_text(partial_text, encoding="utf-8")
        argv = base_argv(classifier_dir, pairs_file, out, "--resume")
        if "--model" in extra:
            argv[1] = extra[1]
        else:
            argv += extra
        code, err = run_cli(argv, capsys)
        assert code == 2, name
        assert partial.read_text() == partial_text and not out.exists(), name  # not cut, not appended to
        one_error_line(err, r"--resume: .*" + pattern)
    partial.with_name(partial.name + ".json").unlink()  # a partial output with no record of its command
    code, err = run_cli(base_argv(classifier_dir, pairs_file, out, "--resume"), capsys)
    assert code == 2 and partial.read_text() == partial_text
    one_error_line(err, r"--resume: .*out.tsv.partial has no readable record of the command that wrote it")


def test_an_interrupted_run_leaves_the_output_alone_and_resumes(
    classifier_dir, pairs_file, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out.tsv"
    full, partial = interrupted(classifier_dir, pairs_file, out, capsys, monkeypatch, keep=60, torn="p60\t")
    out.write_text("earlier results\n", encoding="utf-8")
    assert out.read_text() == "earlier results\n"  # what a kill leaves: the old output intact
    code, _ = run_cli(base_argv(classifier_dir, pairs_file, out, "--resume"), capsys)
    assert code == 0 and out.read_text() == full and not partial.exists()
    assert not os.path.exists(str(partial) + ".json")


def test_two_processes_cannot_write_one_output(classifier_dir, pairs_file, tmp_path, capsys):
    out = tmp_path / "out.tsv"
    with locked_by_another_process(out, "--output") as pid:  # as a running predict holds it
        code, err = run_cli(base_argv(classifier_dir, pairs_file, out), capsys)
        assert code == 2 and not out.exists() and not os.path.exists(f"{out}.partial")
        one_error_line(err, rf"--output .*out.tsv is in use by another scl_trainer process \(pid {pid};")
    code, _ = run_cli(base_argv(classifier_dir, pairs_file, out), capsys)  # the dead holder's lock is free
    assert code == 0 and len(out.read_text().splitlines()) == 150 and not os.path.exists(f"{out}.lock")


def test_an_id_with_a_tab_or_line_break_is_refused_before_it_breaks_a_line(classifier_dir, tmp_path, capsys):
    rows = tmp_path / "ids.jsonl"
    rows.write_text('{"id": "a", "text_a": "x", "text_b": "y"}\n{"id": "b\\tc", "text_a": "x", "text_b": "y"}\n')
    argv = ["--model", classifier_dir, "--input", rows, "--output", tmp_path / "o.tsv", "--id_columns", "id"]
    code, err = run_cli(argv, capsys)
    assert code == 2 and not (tmp_path / "o.tsv").exists()
    one_error_line(err, r"input, row 1, column 'id': the id 'b\\tc' holds a line break or a tab")


def test_an_output_that_is_a_file_of_the_model_is_refused(classifier_dir, pairs_file, tmp_path, capsys):
    config = Path(classifier_dir) / "config.json"
    before = config.read_text()
    for name in ("config.json", "README.md", "tokenizer.json"):
        code, err = run_cli(base_argv(classifier_dir, pairs_file, Path(classifier_dir) / name), capsys)
        assert code == 2
        one_error_line(err, rf"--output .*{name} is a file of the model folder --model .*: writing it would break")
    assert config.read_text() == before
