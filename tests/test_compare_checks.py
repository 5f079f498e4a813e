"""`compare` checks every arm as its run would, before the first run trains (issue 32, "up front means every arm"):
each recipe's own `check` (its data, its architecture against its task and base model, its metric) runs for every
(arm, seed); the default metric of a K-class run is one its runs report."""

import json
from pathlib import Path

import pytest

from scl_trainer.compare import CompareError, check_metrics, find_recipe, load_recipe
from scl_trainer.compare import main as compare_main

WORDS = "the house near school good room price floor new city market company".split()


def _pair_file(path: Path) -> Path:
    rows = [f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]}\t{WORDS[(i * 7) % 12]} {WORDS[i % 5]}\t{i % 2}" for i in range(48)]
    path.write_text("text_a\ttext_b\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _k_class_file(path: Path) -> Path:
    rows = [
        f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]} {WORDS[(i * 7) % 12]}\t{('a', 'b', 'c')[i % 3]}" for i in range(48)
    ]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _sts_file(path: Path) -> Path:
    rows = [f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]}\t{WORDS[(i * 7) % 12]} {WORDS[i % 5]}\t{i % 6}" for i in range(12)]
    path.write_text("sentence1\tsentence2\tscore\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cross_encoder_dir(tmp_path, tiny_classifier, tiny_tokenizer) -> str:
    path = tmp_path / "cross-encoder"
    tiny_classifier.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return str(path)


# One row per kind of arm that only its run's data, architecture or metric can refuse: (recipe, what the data is,
# the second arm, more compare flags, the error). The first arm is always fine.
LATE_FAILURES = [
    ("supcon_pair", "pairs", "b:text_a_column=question", [], r"arm b, seed 1: .*question"),
    ("supcon_pair", "pairs", "b:architecture=bi_encoder,model_name_or_path={cross_encoder}", [],
     r"arm b, seed 1: .*is a cross-encoder classifier"),
    ("supcon_pair", "pairs", "b:predict_file={missing}", [], r"arm b, seed 1: .*missing\.tsv"),
    ("supcon_classify", "k_class", "b:architecture=bi_encoder", [], r"arm b, seed 1: .*not single texts"),
    ("supcon_classify", "k_class", "b:architecture=embedding", [], r"arm b, seed 1: .*declares no sentence pooling"),
    ("supcon_classify", "k_class", "b:label_column=intent", [], r"arm b, seed 1: .*intent"),
    ("supcon_classify", "k_class", "b:", ["--metric", "eval_roc_auc"],
     r"--metric eval_roc_auc: not a metric the runs of arm a report"),
    ("supcon_classify", "k_class", "b:metric_for_best_model=f1_at_0.5", [],
     r"arm b, seed 1: .*metric_for_best_model 'f1_at_0.5' is not a validation metric"),
    ("simcse_unsup", "sentences", "b:eval_file={missing}", [], r"arm b, seed 1: .*missing\.tsv"),
]  # fmt: skip


@pytest.mark.parametrize(("recipe", "data", "arm", "flags", "message"), LATE_FAILURES)
def test_an_arm_its_run_would_refuse_is_refused_before_the_first_run(
    tmp_path, tiny_encoder_dir, cross_encoder_dir, recipe, data, arm, flags, message
):
    out = tmp_path / "cmp"
    arm = arm.format(cross_encoder=cross_encoder_dir, missing=tmp_path / "missing.tsv")
    if data == "sentences":
        sentences = tmp_path / "sentences.txt"
        sentences.write_text("\n".join(" ".join(WORDS[i : i + 3]) for i in range(9)) + "\n", encoding="utf-8")
        data_flags = ["--train_file", str(sentences), "--eval_file", str(_sts_file(tmp_path / "sts.tsv"))]
    else:
        make = _pair_file if data == "pairs" else _k_class_file
        data_flags = ["--dataset_name", str(make(tmp_path / "data.tsv"))]
    argv = ["--recipe", recipe, "--output_dir", str(out), "--arm", "a:", "--arm", arm, "--seeds", "1", *flags,
            *data_flags, "--model_name_or_path", tiny_encoder_dir, "--max_length", "16"]  # fmt: skip
    with pytest.raises(CompareError, match=message):
        compare_main(argv)
    assert not out.exists()  # nothing ran, nothing was written


def test_the_default_metric_of_a_k_class_compare_is_one_its_runs_report(tmp_path, tiny_encoder_dir):
    out = tmp_path / "cmp"
    argv = ["--recipe", "supcon_classify", "--output_dir", str(out), "--arm", "ce:scl_weight=0",
            "--arm", "scl:scl_weight=0.5", "--seeds", "1", "--dataset_name", str(_k_class_file(tmp_path / "k.tsv")),
            "--model_name_or_path", tiny_encoder_dir, "--max_length", "16", "--max_steps", "1",
            "--per_device_train_batch_size", "8", "--eval_strategy", "no", "--save_strategy", "no"]  # fmt: skip
    report = compare_main(argv)  # before: eval_f1_at_threshold, which no K-class run reports, failed after the runs
    assert report["metrics"][0] == "eval_macro_f1"
    summary = json.loads((out / "compare.json").read_text())["summary"]["eval_macro_f1"]
    assert set(summary) == {"ce", "scl"} and all(0 <= arm["mean"] <= 1 for arm in summary.values())


def test_simcse_default_metrics_are_known_up_front(tmp_path, tiny_encoder_dir):
    recipe = load_recipe(find_recipe("simcse_unsup"))
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("the house\nnear school\ngood room\n", encoding="utf-8")
    sts = str(_sts_file(tmp_path / "sts.tsv"))
    parsed = recipe.parser().parse_args_and_config(
        [
            "--train_file",
            str(sentences),
            "--eval_file",
            sts,
            "--test_file",
            sts,
            "--output_dir",
            str(tmp_path / "o"),
            "--model_name_or_path",
            tiny_encoder_dir,
        ]  # fmt: skip
    )
    reported = {("a", 1): recipe.check(*parsed)}
    check_metrics(["eval_spearman", *recipe.UNBIASED_METRICS], reported)  # the defaults compare uses
    with pytest.raises(CompareError, match=r"--metric test_spearmann: not a metric the runs of arm a report"):
        check_metrics(["test_spearmann"], reported)
