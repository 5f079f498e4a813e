"""Model cards of both recipes, parsed back with huggingface_hub: model-index results, license, language, widget,
BibTeX, the training-log table, the plots; the SimCSE card's base-model rows; what `--push_to_hub` of the SimCSE
recipe would upload (tiny models, offline: the Hub calls are intercepted)."""

import json
import re
from pathlib import Path

import pytest
import transformers
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from scl_trainer import __version__
from scl_trainer.recipe_setup import run_recipe
from scl_trainer.sentence_data import load_stsb
from tests.helpers import load_recipe

STEPS = ["--max_steps", "4", "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", "steps",
         "--save_steps", "2", "--load_best_model_at_end", "true", "--report_to", "none",
         "--disable_tqdm", "true"]  # fmt: skip


def load_card(path: Path) -> tuple[ModelCard, dict]:
    card = ModelCard.load(path)
    data = card.data.to_dict()
    # The model-index must parse back into evaluation results (what the Hub's widget reads).
    name, results = model_index_to_eval_results(data["model-index"])
    assert name and results
    return card, data


@pytest.mark.parametrize("tuned", [False, True], ids=["untuned", "tuned"])
def test_pair_card(tmp_path, tiny_encoder_dir, data_dir, tuned, caplog):
    recipe = load_recipe("supcon_pair")
    out = tmp_path / "pair"
    argv = ["--dataset_name", "mrpc", "--data_dir", str(data_dir), "--max_train_samples", "64",
            "--max_eval_samples", "24", "--model_name_or_path", tiny_encoder_dir, "--output_dir", str(out),
            "--per_device_train_batch_size", "16", "--max_length", "48", "--license", "apache-2.0", "--language", "en",
            *STEPS]  # fmt: skip
    if tuned:  # 24 validation pairs hold at least 2 of each class; the model is to be pushed as someone/mrpc-pair
        argv += ["--threshold_min_per_class", "2", "--hub_model_id", "someone/mrpc-pair"]
    with caplog.at_level("INFO"):
        run_recipe(recipe.main, recipe.parser(), argv)
    card, data = load_card(out / "README.md")
    assert data["license"] == "apache-2.0" and data["language"] == ["en"]
    assert data["datasets"] == ["nyu-mll/glue"]  # the MRPC train file is GLUE's MRPC train split
    # Validation was a seeded share of that train file, not the dataset's validation split, and the card says so.
    assert {r["dataset"]["split"] for r in data["model-index"][0]["results"]} == {"10% of train held out, seed 42"}
    results = {(r["task"]["type"], m["name"]) for r in data["model-index"][0]["results"] for m in r["metrics"]}
    assert ("text-classification", "F1 at 0.5") in results and ("text-classification", "ROC-AUC") in results
    assert len(data["widget"]) == 3 and all(" [SEP] " in w["text"] for w in data["widget"])
    assert all(w["text"] != w["text"].lower() for w in data["widget"])  # as written, not decoded lower-case tokens
    text = card.text
    for needle in ("@inproceedings{khosla2020supcon", "@inproceedings{gunel2021scl", "### Training log",
                   "| step | epoch | train loss |", "![training_curves.png](training_curves.png)",
                   "![validation_scores.png](validation_scores.png)", "decision_threshold"):  # fmt: skip
        assert needle in text, needle
    for plot in ("training_curves.png", "validation_scores.png"):
        assert (out / plot).stat().st_size > 10_000
    # The sentences that depend on the run say what happened in it.
    listed = set(re.findall(r"^!\[(.+?)\]\(\1\)$", text, flags=re.M))
    assert listed == {path.name for path in out.glob("*.png")}
    flat, log = " ".join(text.split()), caplog.text
    assert f"## Framework versions scl_trainer {__version__}, transformers {transformers.__version__}, torch" in flat
    if tuned:
        assert 'pipeline("text-classification", model="someone/mrpc-pair")' in text
        assert "was tuned for F1 on 24 validation pairs" in flat
        assert "F1-maximising threshold tuned on the same validation data" in flat
        assert "at the tuned threshold" in log
    else:  # 24 validation pairs: fewer than 30 of each class, so the threshold was not tuned, and the card says why.
        assert f'pipeline("text-classification", model="{out}")' in text  # no hub id: the folder, which loads
        assert "is the neutral 0.5" in flat and "too few to tune it" in flat
        assert "The threshold was not tuned (see above)" in flat
        assert "tuned on the same validation data" not in flat and "tuned threshold" not in log
        assert "the threshold was not tuned (too few validation pairs of a class)" in log


def test_simcse_card_with_base_rows(tmp_path, st_encoder_dir, data_dir):
    recipe = load_recipe("simcse_unsup")
    out = tmp_path / "simcse"
    argv = ["--data_dir", str(data_dir), "--max_train_samples", "64", "--max_eval_samples", "24",
            "--model_name_or_path", str(st_encoder_dir), "--output_dir", str(out), "--per_device_train_batch_size",
            "16", "--max_length", "16", "--eval_max_length", "32", "--pooler", "cls", "--license", "mit",
            *STEPS]  # fmt: skip
    metrics = run_recipe(recipe.main, recipe.parser(), argv)
    card, data = load_card(out / "README.md")
    assert data["license"] == "mit" and data["library_name"] == "sentence-transformers"
    assert "sentence-transformers/stsb" in data["datasets"]
    splits = {r["dataset"]["split"] for r in data["model-index"][0]["results"]}
    assert splits == {"validation", "test"}
    dev = load_stsb(data_dir, "validation")
    assert data["widget"][0]["source_sentence"] == dev[0]["sentence1"]  # as written, not decoded tokens
    assert data["widget"][0]["sentences"] == dev["sentence2"][:3]
    text = card.text
    for row in ("base native dev spearman", "base native test spearman", "base dev spearman", "test spearman"):
        assert f"| {row} |" in text, row
    assert f"{metrics['base_native_test_spearman']:.4f}" in text
    assert "mean + normalize" in text and "@inproceedings{gao2021simcse" in text and "### Training log" in text
    assert "![cosine_histograms.png](cosine_histograms.png)" in text
    if metrics["kept_base_model"]:
        assert "**This is the base model, unchanged.**" in text


def test_simcse_push_to_hub_uploads_weights_tokenizer_sentence_transformers_files_and_card(
    tmp_path, st_encoder_dir, data_dir, hub_uploads
):
    recipe = load_recipe("simcse_unsup")
    out = tmp_path / "push"
    argv = ["--data_dir", str(data_dir), "--max_train_samples", "64", "--max_eval_samples", "16",
            "--model_name_or_path", str(st_encoder_dir), "--output_dir", str(out), "--per_device_train_batch_size",
            "16", "--max_length", "16", "--eval_max_length", "32", "--push_to_hub", "true",
            "--hub_model_id", "someone/tiny-simcse", *STEPS]  # fmt: skip
    run_recipe(recipe.main, recipe.parser(), argv)
    final = hub_uploads[-1]
    assert final["repo_id"] == "someone/tiny-simcse" and final["path_in_repo"] is None
    expected = ["config.json", "model.safetensors", "README.md", "tokenizer_config.json", "modules.json",
                "sentence_bert_config.json", "1_Pooling/config.json", "config_sentence_transformers.json"]  # fmt: skip
    for name in expected:
        assert name in final["files"], f"{name} not uploaded: {final['files']}"
    assert not any(f.startswith("checkpoint-") for f in final["files"])
    assert 'SentenceTransformer("someone/tiny-simcse")' in final["readme"], final["readme"][:3000]
    modules = json.loads((out / "modules.json").read_text())
    assert modules[-1]["type"].endswith("Normalize")  # the base normalizes, so the export does


def test_a_compare_report_cannot_inject_markup_into_the_card(tmp_path):
    """`--compare_report` is a file anyone can edit: its strings are printed as text (no HTML, heading, table row,
    link or code fence of their own)."""
    from scl_trainer.model_card import multi_seed_summary

    arm = "<script>alert(1)</script>"
    report = {
        "seeds": [1, 2], "complete": True, "confidence": 0.95, "metrics": ["eval_f1 | x"],
        "command": "python -m scl_trainer compare\n```\n# Injected heading\n<img src=x>",
        "arms": [{"name": "bce", "settings": {}}, {"name": arm, "settings": {"scl_weight": "1`\n| a | b |\n[x](http://e)"}}],
        "summary": {"eval_f1 | x": {name: {"mean": 0.5, "sd": 0.1, "n": 2} for name in ("bce", arm)}},
        "differences": {"eval_f1 | x": {arm: {"mean": 0.1, "t_ci": [0.0, 0.2], "wins": 2, "ties": 0, "losses": 0}}},
        "runs": [],
    }  # fmt: skip
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(report))
    section = multi_seed_summary(path)
    before, fenced, after = section.split("```")
    assert fenced.count("\n") == 2  # the command stays one line inside the fence, where nothing is markup
    outside = before + after
    assert "<script>" not in outside and "<img" not in outside and "&lt;script&gt;" in outside
    assert not any(line.startswith("# Injected") for line in section.splitlines())
    assert "``scl_weight=1` \\| a \\| b \\| [x](http://e)``" in section  # a code span: a link in it is text
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) == 4 and all(row.count(" | ") == rows[0].count(" | ") for row in rows)  # no extra row or cell


@pytest.mark.parametrize("publish", [None, "true"], ids=["default", "widget_examples"])
def test_a_local_validation_file_is_what_the_card_names_and_its_rows_stay_private(tmp_path, tiny_encoder_dir, publish):
    recipe = load_recipe("supcon_pair")

    def pairs(name: str, n: int) -> str:
        rows = [f"private text a{i}\tprivate text b{i}\t{i % 2}" for i in range(n)]
        (tmp_path / name).write_text("text_a\ttext_b\tlabel\n" + "\n".join(rows) + "\n")
        return str(tmp_path / name)

    out = tmp_path / "pair"
    argv = ["--dataset_name", pairs("train.tsv", 16), "--validation_file", pairs("held_out.tsv", 8),
            "--model_name_or_path", tiny_encoder_dir, "--output_dir", str(out), "--per_device_train_batch_size", "8",
            "--max_length", "16", *STEPS, *(["--widget_examples", publish] if publish else [])]  # fmt: skip
    run_recipe(recipe.main, recipe.parser(), argv)
    card, data = load_card(out / "README.md")
    datasets = {(r["dataset"]["name"], r["dataset"]["split"]) for r in data["model-index"][0]["results"]}
    assert datasets == {("held_out.tsv", "validation")}  # the file measured, not the training data's name
    if publish:
        assert [w["text"].startswith("private text a") for w in data["widget"]] == [True] * 3
    else:  # a local file's rows are not published by default
        assert "widget" not in data and "private text" not in card.content
