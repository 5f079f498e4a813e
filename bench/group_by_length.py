"""Training with less padding: does grouping pairs by length speed the pair recipe up, and what does it do to quality?

`--train_sampling_strategy group_by_length` (the Trainer's `LengthGroupedSampler`: batches of pairs of similar length,
so each pads to a shorter longest row) against the default random order, on the CCF pairs whose replies range from a
few characters to paragraphs. Grouping also changes which pairs share a batch, i.e. SupCon's positives and negatives,
so quality is measured too: one `python -m scl_trainer compare` of the pair recipe, arms `random` and `grouped`,
paired seeds (same split, subsample and initialisation per seed). Model: the offline all-MiniLM-L6-v2 (its vocabulary
has the CJK characters) with `ccf_qa_match.yaml`'s settings, on the first `--train_pairs` training pairs, one epoch,
validation = 10% of the queries (grouped split), no test prediction.

    python bench/group_by_length.py [--seeds 1 2 3] [--train_pairs 6000]

Writes bench/results/group_by_length/ (compare.{json,md,png}, pruned runs) and bench/results/group_by_length.{json,md}:
the per-seed training-time ratio grouped / random (`train_runtime`, the Trainer's own timer: the training loop only)
and the paired quality differences with their intervals. Resumes like every compare.
"""

import json
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from results_io import save_markdown, save_result
from transformers import HfArgumentParser

from scl_trainer.compare import main as compare_main
from scl_trainer.records import DEFAULT_DATA_DIR

REPO = Path(__file__).resolve().parent.parent
METRICS = ["eval_f1_at_threshold", "eval_f1_at_0.5", "eval_roc_auc"]
ARMS = ("random", "grouped")


@dataclass
class GroupingArguments:
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3], metadata={"help": "Seeds (paired over the arms)."})
    train_pairs: int = field(default=6000, metadata={"help": "Training pairs (the first N of the training split)."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding ccf_qa_match/."})
    output_dir: str = field(default="bench/results/group_by_length", metadata={"help": "compare's output dir."})


def main(args: GroupingArguments) -> dict:
    argv = [
        "--recipe", "supcon_pair", "--config", "recipes/supcon_pair/ccf_qa_match.yaml",
        "--output_dir", args.output_dir, "--prune_runs", "true", "--seeds", *map(str, args.seeds),
        "--arm", "random:train_sampling_strategy=random", "--arm", "grouped:train_sampling_strategy=group_by_length",
        *[token for m in METRICS for token in ("--metric", m)],
        "--model_name_or_path", "sentence-transformers/all-MiniLM-L6-v2", "--learning_rate", "5e-5",
        "--num_train_epochs", "1", "--max_train_samples", str(args.train_pairs), "--predict_file", "",
        "--data_dir", args.data_dir, "--disable_tqdm", "true", "--save_total_limit", "1",
    ]  # fmt: skip
    report = compare_main(argv)
    runtime = {
        (run["arm"], run["seed"]): json.loads((Path(run["run_dir"]) / "train_results.json").read_text())[
            "train_runtime"
        ]
        for run in report["runs"]
    }
    seeds = [s for s in args.seeds if ("random", s) in runtime and ("grouped", s) in runtime]
    ratios = [runtime["grouped", s] / runtime["random", s] for s in seeds]
    quality = {
        metric: {
            key: report["differences"][metric]["grouped"][key]
            for key in ("mean", "t_ci", "bootstrap_ci", "wilcoxon_p", "wins", "ties", "losses", "n")
        }
        for metric in METRICS
    }
    resolved = [m for m, d in quality.items() if d["t_ci"][0] > 0 or d["t_ci"][1] < 0]
    result = {
        "train_pairs": args.train_pairs,
        "seeds": seeds,
        "train_runtime_s": {f"{arm}-seed{s}": runtime[arm, s] for s in seeds for arm in ARMS},
        "time_ratio_grouped_over_random": {
            "per_seed": ratios,
            "mean": statistics.mean(ratios) if ratios else None,
            "sd": statistics.stdev(ratios) if len(ratios) > 1 else None,
        },
        "arm_summary": {
            metric: {arm: {k: report["summary"][metric][arm][k] for k in ("mean", "sd", "n")} for arm in ARMS}
            for metric in METRICS
        },
        "quality_difference_grouped_minus_random": quality,
        "metrics_whose_95_t_interval_excludes_0": resolved,
        "compare": str(Path(args.output_dir) / "compare.md"),
    }
    save_markdown("group_by_length", result)
    return save_result("group_by_length.json", result)


if __name__ == "__main__":
    os.chdir(REPO)  # the run records keep repository-relative paths, valid wherever the checkout is
    (grouping_args,) = HfArgumentParser(GroupingArguments).parse_args_into_dataclasses()
    if grouping_args.train_pairs < 2:
        sys.exit(f"error: --train_pairs must be >= 2, got {grouping_args.train_pairs}")
    main(grouping_args)
