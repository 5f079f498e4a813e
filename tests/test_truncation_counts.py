"""`predict` and `embed` count the rows longer than `max_length` tokens in one warning, the same way."""

import json
from pathlib import Path

import pytest

from scl_trainer.__main__ import main as cli


@pytest.fixture
def st_dir(st_encoder_dir) -> Path:
    return Path(st_encoder_dir)


@pytest.mark.parametrize("command", ["predict", "embed"])
def test_truncated_rows_are_counted(tmp_path, classifier_dir, st_dir, command, caplog):
    long = " ".join(["house"] * 40)  # 40 word tokens + 2 special ones > 16
    rows = [{"text_a": long, "text_b": "x", "text": long}, {"text_a": "a b", "text_b": "x", "text": "a b"}]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    model = classifier_dir if command == "predict" else st_dir
    out = tmp_path / ("o.tsv" if command == "predict" else "o.npy")
    with caplog.at_level("WARNING"):
        cli([command, "--model", str(model), "--input", str(path), "--output", str(out), "--max_length", "16"])
    unit = "rows predicted" if command == "predict" else "texts embedded"
    assert f"1 of the 2 {unit} were longer than max_length=16 tokens and were truncated" in caplog.text
