"""Choose the offline SimCSE default (`recipes/simcse_unsup/stsb_minilm.yaml`) from paired multi-seed evidence.

One `python -m scl_trainer compare` of the SimCSE recipe on its offline config (MiniLM, STS-B train sentences, one
epoch, best checkpoint by STS-B dev, the untouched model competing at step 0) over pooling {cls, mean} x learning
rate {3e-5, 1e-5}, seeds 1, 2, 3. The choice is the arm with the highest mean STS-B **dev** Spearman, the metric
that also picks each run's checkpoint; test is reported, never used to choose. Runs are pruned after their metrics
are recorded and kept in bench/results/simcse_default/, so an interrupted run resumes.

    python bench/simcse_default.py [--seeds 1 2 3]

Writes bench/results/simcse_default/compare.{json,md,png} and bench/results/simcse_default.{json,md} (the table the
READMEs quote: dev and test per arm, mean ± sd, n, and test minus the base model with its interval).
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from results_io import save_markdown, save_result
from transformers import HfArgumentParser

from scl_trainer.compare import main as compare_main
from scl_trainer.paired_stats import paired_difference
from scl_trainer.records import DEFAULT_DATA_DIR

REPO = Path(__file__).resolve().parent.parent
ARMS = {
    "cls-lr3e-5": "pooler=cls,learning_rate=3e-5",  # the default before this comparison
    "cls-lr1e-5": "pooler=cls,learning_rate=1e-5",
    "mean-lr3e-5": "pooler=mean,learning_rate=3e-5",
    "mean-lr1e-5": "pooler=mean,learning_rate=1e-5",
}
DEV, TEST = "eval_spearman", "test_spearman"


@dataclass
class SelectArguments:
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3], metadata={"help": "Seeds (paired over arms)."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding stsbenchmark/."})
    output_dir: str = field(default="bench/results/simcse_default", metadata={"help": "compare's output dir."})


def main(args: SelectArguments) -> dict:
    argv = [
        "--recipe", "simcse_unsup", "--config", "recipes/simcse_unsup/stsb_minilm.yaml",
        "--output_dir", args.output_dir, "--prune_runs", "true", "--seeds", *map(str, args.seeds),
        *[token for name, settings in ARMS.items() for token in ("--arm", f"{name}:{settings}")],
        "--metric", DEV, "--metric", TEST,
        "--metric", "base_native_test_spearman", "--metric", "base_native_dev_spearman",
        "--data_dir", args.data_dir, "--disable_tqdm", "true",
    ]  # fmt: skip
    report = compare_main(argv)
    dev = {arm: report["summary"][DEV][arm]["mean"] for arm in ARMS}
    chosen = max(dev, key=dev.get)
    runs = {arm: [run for run in report["runs"] if run["arm"] == arm] for arm in ARMS}
    result = {
        "chosen_on_dev": chosen,
        "chosen_settings": ARMS[chosen],
        "arms": {
            arm: {
                "settings": ARMS[arm],
                "dev": {k: report["summary"][DEV][arm][k] for k in ("mean", "sd", "n")},
                "test": {k: report["summary"][TEST][arm][k] for k in ("mean", "sd", "n")},
                # Paired with the same run's own measurement of the untouched model (the recipe's baseline row).
                "test_minus_base": paired_difference(
                    [run["metrics"]["base_native_test_spearman"] for run in runs[arm]],
                    [run["metrics"][TEST] for run in runs[arm]],
                ),
                "runs_that_kept_the_base_model": int(
                    sum(run["metrics"].get("kept_base_model", 0) for run in runs[arm])
                ),
            }
            for arm in ARMS
        },
        "base_native_test": report["summary"]["base_native_test_spearman"][chosen],
        "base_native_dev": report["summary"]["base_native_dev_spearman"][chosen],
        "wall_time_all_runs_s": sum(run["wall_time_s"] for run in report["runs"]),
        "compare": str(Path(args.output_dir) / "compare.md"),
    }
    save_markdown("simcse_default", result)
    print(f"chosen on dev: {chosen} ({ARMS[chosen]}), dev {dev[chosen]:.2f}", file=sys.stderr)
    return save_result("simcse_default.json", result)


if __name__ == "__main__":
    os.chdir(REPO)  # every path below is relative to the repository, so the run records stay valid if it moves
    (select_args,) = HfArgumentParser(SelectArguments).parse_args_into_dataclasses()
    main(select_args)
