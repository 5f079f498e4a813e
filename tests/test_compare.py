"""`python -m scl_trainer compare`: its statistics against hand-computed values and scipy, arm-syntax errors, an
end-to-end run on tiny models (2 arms x 2 seeds) with a kill and a resume, and the recipe regimes it sweeps
(train_size, label_noise)."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset
from scipy import stats

from scl_trainer.compare import CompareError, load_recipe, parse_arm
from scl_trainer.compare import main as compare_main
from scl_trainer.errors import DataError
from scl_trainer.paired_stats import arm_summary, min_wilcoxon_p, paired_difference
from scl_trainer.splits import balanced_subsample, flip_labels
from tests.helpers import REPO_ROOT

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

# ---- Statistics ----


def test_arm_summary_by_hand():
    assert arm_summary([1.0, 2.0, 3.0, 6.0]) == {"mean": 3.0, "sd": pytest.approx(np.sqrt(14 / 3)), "n": 4}
    assert arm_summary([0.5]) == {"mean": 0.5, "sd": 0.0, "n": 1}


def test_wilcoxon_p_against_hand_computed_exact_values_and_scipy():
    # d = [1, -2, 3, 4, -0.5]: ranks of |d| are 2, 3, 4, 5, 1; W- = 3 + 1 = 4. Subsets of {1..5} with rank sum <= 4:
    # {}, {1}, {2}, {3}, {4}, {1,2}, {1,3} -> 7 of 32, two-sided p = 14/32.
    base = [10.0, 10.0, 10.0, 10.0, 10.0]
    other = [11.0, 8.0, 13.0, 14.0, 9.5]
    result = paired_difference(base, other, n_resamples=2000)
    assert result["differences"] == [1.0, -2.0, 3.0, 4.0, -0.5]
    assert result["mean"] == pytest.approx(1.1)
    assert (result["wins"], result["ties"], result["losses"]) == (3, 0, 2)
    assert result["wilcoxon_p"] == pytest.approx(14 / 32)
    assert result["wilcoxon_p"] == pytest.approx(stats.wilcoxon(other, base).pvalue)
    assert result["ttest_p"] == pytest.approx(stats.ttest_rel(other, base).pvalue)
    # Every difference positive, n = 5: the smallest two-sided exact p, 2 / 2^5.
    assert paired_difference(base, [11, 12, 13, 14, 15])["wilcoxon_p"] == pytest.approx(0.0625) == min_wilcoxon_p(5)


def test_bootstrap_interval_matches_exact_enumeration_and_is_seeded():
    d = np.array([0.0, 1.0, 2.0, 6.0])
    # All 4^4 resamples are equally likely: the exact percentile interval by enumeration (the reference).
    means = np.array([np.mean(d[list(idx)]) for idx in itertools.product(range(4), repeat=4)])
    exact = np.quantile(means, [0.025, 0.975])
    result = paired_difference(np.zeros(4), d, n_resamples=100_000, seed=7)
    assert result["bootstrap_ci"] == pytest.approx(exact, abs=0.13)
    assert result["bootstrap_ci"][0] <= result["mean"] <= result["bootstrap_ci"][1]
    again = paired_difference(np.zeros(4), d, n_resamples=100_000, seed=7)
    assert again["bootstrap_ci"] == result["bootstrap_ci"]
    t = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert result["t_ci"] == pytest.approx([t.low, t.high])


def test_constant_and_tiny_differences():
    same = paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["mean"] == 0 and same["bootstrap_ci"] == [0.0, 0.0] and same["wilcoxon_p"] == 1.0
    shift = paired_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert shift["bootstrap_ci"] == [1.0, 1.0] and shift["wilcoxon_p"] == pytest.approx(0.25)
    one = paired_difference([1.0], [2.0])
    assert one["n"] == 1 and np.isnan(one["wilcoxon_p"])
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference([1.0, 2.0], [1.0])


# ---- Arm syntax: clear one-line errors before anything trains ----


@pytest.fixture(scope="module")
def pair_parser():
    return load_recipe(REPO_ROOT / "recipes" / "supcon_pair.py").parser()


def test_parse_arm(pair_parser):
    arm = parse_arm("scl:scl_weight=0.1, scl_temperature=0.2", pair_parser)
    assert arm.name == "scl" and arm.settings == {"scl_weight": "0.1", "scl_temperature": "0.2"}
    assert arm.flags == ["--scl_weight", "0.1", "--scl_temperature", "0.2"]
    assert parse_arm("base", pair_parser).settings == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bce=scl_weight=0", r"expected NAME:key=value"),
        (":scl_weight=0", r"expected NAME:key=value"),
        ("bce:scl_wieght=0", r"unknown key 'scl_wieght'"),
        ("bce:scl_weight", r"'scl_weight' is not key=value"),
        ("bce:scl_weight=zero", r"scl_weight='zero' is not a valid float"),
        ("bce:train_size=1.5", r"train_size='1.5' is not a valid int"),
        ("bce:seed=3", r"seed is set by compare"),
        ("bce:scl_weight=0,scl_weight=1", r"scl_weight is given twice"),
        ("bce:lr_scheduler_type=sometimes", r"lr_scheduler_type='sometimes' is not"),
    ],
)
def test_bad_arms_are_one_line_errors(pair_parser, text, message):
    with pytest.raises(CompareError, match=message) as error:
        parse_arm(text, pair_parser)
    assert "\n" not in str(error.value)


def test_command_line_errors_before_training(tmp_path):
    common = [sys.executable, "-m", "scl_trainer", "compare", "--recipe", "supcon_pair", "--output_dir", str(tmp_path)]
    cases = [
        (["--arm", "a:scl_weight=0", "--arm", "b:scl_wieght=1"], "error: --arm b:scl_wieght=1: unknown key"),
        (["--arm", "a:scl_weight=0"], "error: compare needs two or more --arm, got 1"),
        (["--arm", "a:scl_weight=0", "--arm", "a:scl_weight=1"], "error: arm names must differ"),
        (
            ["--arm", "a:scl_weight=0", "--arm", "b:scl_weight=-1"],
            "error: arm b, seed 1: SCLConfig: scl_weight must be",
        ),
        (["--arm", "a:", "--arm", "b:", "--seed", "3"], "error: --seed: set by compare for every run"),
        (["--arm", "a:", "--arm", "b:", "--learning_rate", "fast"], "error: arm a, seed 1: argument --learning_rate"),
    ]
    for extra, message in cases:
        result = subprocess.run([*common, *extra], capture_output=True, text=True, env=ENV, cwd=REPO_ROOT, timeout=300)
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not (tmp_path / "runs").exists()


# ---- Regimes of the pair recipe ----


def pairs(n_pos: int, n_neg: int) -> Dataset:
    labels = [1] * n_pos + [0] * n_neg
    return Dataset.from_dict(
        {"text_a": [f"a{i}" for i in range(len(labels))], "text_b": ["b"] * len(labels), "label": labels}
    )


def test_balanced_subsample_is_class_balanced_and_seeded():
    data = pairs(30, 70)
    sub = balanced_subsample(data, 20, seed=1)
    assert sorted(sub["label"]).count(1) == 10 and len(sub) == 20
    assert sub["text_a"] == balanced_subsample(data, 20, seed=1)["text_a"]  # same seed, same rows
    assert sub["text_a"] != balanced_subsample(data, 20, seed=2)["text_a"]
    assert balanced_subsample(data, 21, seed=1)["label"].count(1) == 11  # odd N: the extra row is a positive
    short = balanced_subsample(pairs(4, 70), 20, seed=1)  # 4 positives only: all of them, negatives fill up
    assert short["label"].count(1) == 4 and len(short) == 20
    with pytest.raises(DataError, match=r"train_size=101: must be between 2 and the 100 training rows"):
        balanced_subsample(data, 101, seed=1)


def test_label_noise_flips_exactly_round_p_n_labels_seeded():
    data = pairs(30, 70)
    noisy, flipped = flip_labels(data, 0.2, seed=3)
    changed = [i for i, (a, b) in enumerate(zip(data["label"], noisy["label"])) if a != b]
    assert changed == flipped and len(flipped) == 20
    assert flip_labels(data, 0.2, seed=3)[1] == flipped and flip_labels(data, 0.2, seed=4)[1] != flipped
    assert len(flip_labels(data, 0.125, seed=3)[1]) == round(0.125 * 100)
    with pytest.raises(DataError, match=r"label_noise=1.5: must be a fraction in \[0, 1\]"):
        flip_labels(data, 1.5, seed=3)


def test_recipe_regimes_touch_the_training_split_only(data_dir):
    recipe = load_recipe(REPO_ROOT / "recipes" / "supcon_pair.py")
    plain, _ = recipe.load_splits(recipe.ScriptArguments(data_dir=str(data_dir)), seed=5)
    args = recipe.ScriptArguments(data_dir=str(data_dir), train_size=64, label_noise=0.25)
    regime, flipped = recipe.load_splits(args, seed=5)
    assert regime["validation"]["text_a"] == plain["validation"]["text_a"]
    assert regime["validation"]["label"] == plain["validation"]["label"]
    assert len(regime["train"]) == 64 and flipped == 16
    clean, _ = recipe.load_splits(recipe.ScriptArguments(data_dir=str(data_dir), train_size=64), seed=5)
    assert clean["train"]["label"].count(1) == 32 and set(clean["train"]["text_a"]) <= set(plain["train"]["text_a"])
    assert sum(a != b for a, b in zip(clean["train"]["label"], regime["train"]["label"])) == 16
    again, _ = recipe.load_splits(args, seed=5)
    assert again["train"]["label"] == regime["train"]["label"]  # the same seed gives every arm the same data


# ---- End to end: 2 arms x 2 seeds on a tiny model, killed after the first run, resumed ----


def _pair_file(path: Path) -> Path:
    words = "the house near school good room price floor new city market company".split()
    rows = [f"{words[i % 12]} {words[(i * 5) % 12]}\t{words[(i * 7) % 12]} {words[i % 5]}\t{i % 2}" for i in range(48)]
    path.write_text("text_a\ttext_b\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_compare_end_to_end_with_kill_and_resume(tmp_path, tiny_encoder_dir, monkeypatch):
    out = tmp_path / "cmp"
    argv = [
        "--recipe", "supcon_pair", "--output_dir", str(out),
        "--arm", "bce:scl_weight=0", "--arm", "scl:scl_weight=0.5,scl_temperature=0.3", "--seeds", "1", "2",
        "--dataset_name", str(_pair_file(tmp_path / "pairs.tsv")), "--validation_size", "0.25",
        "--model_name_or_path", tiny_encoder_dir, "--max_steps", "3", "--per_device_train_batch_size", "8",
        "--learning_rate", "1e-3", "--max_length", "32", "--eval_strategy", "no", "--save_strategy", "no",
        "--report_to", "none", "--disable_tqdm", "true",
    ]  # fmt: skip
    # Started as a user would, killed (with its running recipe) as soon as one run has finished.
    process = subprocess.Popen(
        [sys.executable, "-m", "scl_trainer", "compare", *argv],
        cwd=REPO_ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 600
    while not list(out.glob("runs/*/compare_run.json")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = list(out.glob("runs/*/compare_run.json"))
    assert len(finished) == 1 and not (out / "compare.json").exists()
    first = {path: path.stat().st_mtime_ns for path in finished}

    monkeypatch.chdir(REPO_ROOT)
    report = compare_main(argv)  # the same command again: resumes

    assert {path: path.stat().st_mtime_ns for path in first} == first  # the finished run was skipped
    assert report["complete"] and len(report["runs"]) == 4
    assert report["metrics"] == ["eval_f1_at_threshold", "eval_f1_at_0.5"]
    for run in report["runs"]:
        run_dir = Path(run["run_dir"])
        assert (run_dir / "config.json").exists() and (
            run_dir / "model.safetensors"
        ).exists()  # a normal recipe output
        assert f"--seed {run['seed']}" in run["command"]
        assert run["command"].startswith("python recipes/supcon_pair.py ")  # no checkout's absolute path
    metric = "eval_f1_at_0.5"
    for arm in ("bce", "scl"):
        values = [r["metrics"][metric] for r in report["runs"] if r["arm"] == arm]
        assert report["summary"][metric][arm]["mean"] == pytest.approx(np.mean(values))
        assert report["summary"][metric][arm]["n"] == 2
    diff = report["differences"][metric]["scl"]
    by_run = {(r["arm"], r["seed"]): r["metrics"][metric] for r in report["runs"]}
    assert diff["differences"] == pytest.approx([by_run["scl", s] - by_run["bce", s] for s in (1, 2)])
    assert json.loads((out / "compare.json").read_text())["differences"][metric]["scl"]["mean"] == diff["mean"]
    markdown = (out / "compare.md").read_text()
    assert "python -m scl_trainer compare --recipe supcon_pair" in markdown and "| scl |" in markdown
    assert (out / "compare.png").stat().st_size > 10_000
    # The baselines every pair run reports: one value per seed (the seed's validation split), in json and markdown.
    zero_shot = report["baselines"]["baseline_zero_shot_roc_auc"]
    assert zero_shot["n"] == 2 and zero_shot["values"] == {
        r["seed"]: r["metrics"]["baseline_zero_shot_roc_auc"] for r in report["runs"]
    }
    assert "## Baselines on the same validation data" in markdown and "| zero_shot_roc_auc |" in markdown
    # Both arms of a seed saw the same data: the same number of training pairs, the same split.
    data = {
        (r["arm"], r["seed"]): json.loads((Path(r["run_dir"]) / "data_results.json").read_text())
        for r in report["runs"]
    }
    assert data["bce", 1] == data["scl", 1] and data["bce", 2] == data["scl", 2]

    again = compare_main(argv)  # nothing left to run
    assert again["summary"] == report["summary"]

    # A run of this configuration given the report (`--compare_report`) shows the multi-seed summary in its card.
    recipe_argv = argv[argv.index("--dataset_name") :]
    card_dir = tmp_path / "card-run"
    subprocess.run(
        [sys.executable, "recipes/supcon_pair.py", *recipe_argv, "--scl_weight", "0.5", "--scl_temperature", "0.3",
         "--output_dir", str(card_dir), "--compare_report", str(out / "compare.json")],
        cwd=REPO_ROOT, env=ENV, check=True, capture_output=True,
    )  # fmt: skip
    card = (card_dir / "README.md").read_text()
    assert "## Evidence over seeds" in card and "seeds (1, 2)" in card
    assert f"zero_shot_roc_auc {zero_shot['mean']:.4f} ± {zero_shot['sd']:.4f}" in card
    assert "### Baselines on the same validation pairs" in card
    s = report["summary"][metric]["scl"]
    row = f"| scl `scl_weight=0.5` `scl_temperature=0.3` | {s['mean']:.4f} ± {s['sd']:.4f} (2) | {diff['mean']:+.4f}"
    assert row in card
    assert f"[{diff['t_ci'][0]:+.4f}, {diff['t_ci'][1]:+.4f}]" in card


def test_a_finished_run_is_not_reused_when_its_config_file_has_changed(tmp_path, tiny_encoder_dir, monkeypatch):
    """The same command with an edited --config is another experiment: the finished runs are refused, not reused
    (before, only the command line was compared and the edited file's runs counted as the old ones)."""
    config = tmp_path / "pairs.yaml"
    config.write_text("learning_rate: 1.0e-3\nmax_steps: 2\n")
    argv = [
        "--recipe", "supcon_pair", "--output_dir", str(tmp_path / "cmp"), "--config", str(config),
        "--arm", "bce:scl_weight=0", "--arm", "scl:scl_weight=0.5", "--seeds", "1",
        "--dataset_name", str(_pair_file(tmp_path / "pairs.tsv")), "--validation_size", "0.25",
        "--model_name_or_path", tiny_encoder_dir, "--per_device_train_batch_size", "8", "--max_length", "32",
        "--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
    ]  # fmt: skip
    monkeypatch.chdir(REPO_ROOT)
    first = compare_main(argv)
    assert first["complete"] and all(len(r["config_sha256"]) == 64 for r in first["runs"])

    config.write_text("learning_rate: 2.0e-3\nmax_steps: 2\n")
    with pytest.raises(CompareError, match=r"runs/bce-seed1 holds a finished run of another --config .*pairs\.yaml"):
        compare_main(argv)

    config.write_text("learning_rate: 1.0e-3\nmax_steps: 2\n")  # the file as the runs had it: they count again
    assert compare_main(argv)["summary"] == first["summary"]


# ---- Late failures, concurrency, stopping ----


def test_what_would_fail_after_training_fails_before_the_first_run(tmp_path, tiny_encoder_dir):
    common = ["--recipe", "supcon_pair", "--output_dir", str(tmp_path / "cmp"), "--dataset_name",
              str(_pair_file(tmp_path / "pairs.tsv")), "--model_name_or_path", tiny_encoder_dir]  # fmt: skip
    cases = [  # a typo in --metric; an arm whose model, or whose max_length, only its model can refuse
        (
            ["--arm", "a:", "--arm", "b:", "--metric", "eval_roc_acu"],
            r"--metric eval_roc_acu: not a metric the runs of arm a report; did you mean eval_roc_auc",
        ),
        (["--arm", "a:", "--arm", f"b:model_name_or_path={tmp_path / 'gone'}"], r"arm b, seed 1: .*gone"),
        (["--arm", "a:", "--arm", "b:max_length=100000"], r"arm b: max_length=100000 is above the limit"),
    ]
    for extra, message in cases:
        with pytest.raises(CompareError, match=message):
            compare_main([*common, *extra])
    assert not (tmp_path / "cmp").exists()
    from scl_trainer.compare import check_metrics
    from scl_trainer.scl_config import SCLConfig

    known = ["baseline_zero_shot_roc_auc", "eval_average_precision", "eval_f1_at_0.5", "eval_runtime"]
    check_metrics(known, {("a", 1): SCLConfig(output_dir=str(tmp_path / "o")).validation_metrics(1)})  # reported


FAKE_RECIPE = """
import os, sys, time
from dataclasses import dataclass, field
from scl_trainer.parser import ConfigArgumentParser

UNBIASED_METRICS = ()


@dataclass
class Args:
    output_dir: str = field(default="o", metadata={"help": "Output."})
    seed: int = field(default=0, metadata={"help": "Seed."})
    metric_for_best_model: str = field(default="loss", metadata={"help": "Metric."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Overwrite."})
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "Resume."})


def parser():
    return ConfigArgumentParser(Args)


def check(args):
    return None  # nothing to check up front; the metric is not checked


def main(args):
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "pid"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(300)  # a long training


if __name__ == "__main__":
    main(*parser().parse_args_and_config(sys.argv[1:]))
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie is dead
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_compare_stops_its_running_recipe_and_a_second_compare_is_refused(tmp_path, stop):
    recipe = tmp_path / "sleepy.py"
    recipe.write_text(FAKE_RECIPE)
    out = tmp_path / "cmp"
    argv = [sys.executable, "-m", "scl_trainer", "compare", "--recipe", str(recipe), "--output_dir", str(out),
            "--arm", "a:", "--arm", "b:", "--seeds", "1"]  # fmt: skip
    process = subprocess.Popen(argv, cwd=REPO_ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = out / "runs" / "a-seed1" / "pid"
    deadline = time.time() + 120
    while not (pid_file.is_file() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.2)
    child = int(pid_file.read_text())
    assert _alive(child)
    second = subprocess.run(argv, cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    assert f"cmp is in use by another scl_trainer process (pid {process.pid};" in second.stderr
    process.send_signal(stop)
    process.wait(timeout=60)
    deadline = time.time() + 30
    while _alive(child) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive(child)
