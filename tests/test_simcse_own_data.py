"""The SimCSE recipe on a user's own data, without STS-B: `--eval_file` scored pairs (any score scale, checked row by
row) or no evaluation at all (`--eval_strategy no`)."""

import json

import pytest

from scl_trainer.errors import DataError
from scl_trainer.recipe_setup import run_recipe
from scl_trainer.sentence_data import load_sts_file
from tests.helpers import REPO_ROOT, load_recipe

WORDS = "the house near school good room price floor new city market company report year people share".split()


@pytest.fixture(scope="module")
def simcse_unsup():
    return load_recipe("simcse_unsup")


@pytest.fixture
def own_files(tmp_path):
    sentences = [" ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 6)) for i in range(40)]
    (tmp_path / "sentences.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    rows = [f"{sentences[i]},{sentences[(i * 7) % 40]},{(i % 5) / 4:.2f}" for i in range(24)]
    (tmp_path / "pairs.csv").write_text("sentence1,sentence2,score\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path


def argv(files, model, *extra):
    return [
        "--train_file", str(files / "sentences.txt"), "--model_name_or_path", model,
        "--data_dir", str(files / "no-data-here"),  # no stsbenchmark/ anywhere
        "--output_dir", str(files / "out"), "--max_steps", "2", "--per_device_train_batch_size", "8",
        "--max_length", "16", "--eval_max_length", "32", "--report_to", "none", "--pooler", "mean", *extra,
    ]  # fmt: skip


def test_eval_file_instead_of_stsb(simcse_unsup, own_files, tiny_encoder_dir, caplog):
    extra = ["--eval_file", str(own_files / "pairs.csv"), "--eval_strategy", "steps", "--eval_steps", "1",
             "--save_strategy", "steps", "--save_steps", "1", "--load_best_model_at_end", "true"]  # fmt: skip
    with caplog.at_level("INFO"):
        metrics = run_recipe(simcse_unsup.main, simcse_unsup.parser(), argv(own_files, tiny_encoder_dir, *extra))
    assert "scores range from 0 to 1 (inferred from the file)" in caplog.text
    assert {"eval_spearman", "base_dev_spearman"} <= metrics.keys() and "test_spearman" not in metrics
    results = json.loads((own_files / "out" / "eval_results.json").read_text())
    assert results["eval_spearman"] == metrics["eval_spearman"]


def test_the_score_range_is_inferred_from_every_evaluation_file(simcse_unsup, own_files, tiny_encoder_dir, caplog):
    # The dev file scores 0-1; a test score of 1.2 is beyond it, not an error: the range is every file's.
    (own_files / "test.csv").write_text("sentence1,sentence2,score\na b,c d,1.2\ne f,g h,0.1\nx y,z w,0.7\n")
    extra = ["--eval_file", str(own_files / "pairs.csv"), "--test_file", str(own_files / "test.csv"),
             "--eval_strategy", "no", "--interpolate", "none"]  # fmt: skip
    with caplog.at_level("INFO"):
        metrics = run_recipe(simcse_unsup.main, simcse_unsup.parser(), argv(own_files, tiny_encoder_dir, *extra))
    assert "score range 0 to 1.2: inferred from the evaluation files" in caplog.text
    assert "test_spearman" in metrics
    # The card names each score by the file it was measured on (a test score once carried the dev file's name).
    from huggingface_hub import ModelCard

    results = ModelCard.load(own_files / "out" / "README.md").data.to_dict()["model-index"][0]["results"]
    named = {(r["dataset"]["split"], r["dataset"]["name"]) for r in results}
    assert ("test", "test.csv") in named and ("test", "pairs.csv") not in named, named


def test_no_evaluation_at_all(simcse_unsup, own_files, tiny_encoder_dir, caplog):
    # The shipped config asks for the best checkpoint by STS-B dev; --eval_strategy no turns that off, with a word.
    with caplog.at_level("WARNING"):
        metrics = run_recipe(
            simcse_unsup.main,
            simcse_unsup.parser(),
            [
                "--config",
                str(REPO_ROOT / "recipes" / "simcse_unsup" / "stsb_minilm.yaml"),
                *argv(own_files, tiny_encoder_dir, "--eval_strategy", "no"),
            ],
        )
    assert "load_best_model_at_end is turned off" in caplog.text
    assert not any(key.endswith("_spearman") for key in metrics)
    assert (own_files / "out" / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("content", "score_range", "message"),
    [
        ("sentence1,sentence2,score\na,b,0.5\nc,d,high\n", None, r"pairs\.csv, row 3, column 'score': not a number"),
        ("sentence1,sentence2,score\na,b,0.5\nc,d,7\n", (0, 5), r"row 3, column 'score': must be within \[0, 5\]"),
        ("sentence1,sentence2,score\na,b,nan\n", None, r"row 2, column 'score': must be a finite number"),
        ("sentence1,sentence2,score\na, ,1\n", None, r"row 2, column 'sentence2': empty or whitespace-only text"),
        ("sentence1,score\na,1\n", None, r"row 1, column 'sentence2': column not found"),
    ],
)
def test_bad_eval_files(tmp_path, content, score_range, message):
    path = tmp_path / "pairs.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_sts_file(path, score_range)
