"""Does the SupCon term help, and when? BCE alone vs BCE + SupCon on MRPC, paired over seeds, in the regimes where
Gunel et al. (ICLR 2021) report gains: few training examples (N = 64 / 256 / 1024) and label noise (20% at N = 1024),
and on all the data.

Every regime is one `python -m scl_trainer compare` of the pair recipe (the offline MiniLM, `mrpc_minilm.yaml`,
validation = the held-out 10% of the MRPC train file, never a test set) with the arms
`bce:scl_weight=0` and `scl:scl_weight=<w>,scl_temperature=<t>` (default: the seed's 0.1 / 0.2). The runs are pruned
after their metrics are recorded (weights and checkpoints deleted) and kept in bench/results/scl_evidence/<regime>/,
so an interrupted `make evidence` resumes where it stopped (finished runs are skipped).

    python bench/scl_evidence.py [--regimes n64 n256 ...] [--scl_weight 0.1] [--scl_temperature 0.2]

Writes per regime compare.json/.md/.png, and bench/results/scl_evidence.json, .md and .png: the paired difference
scl - bce of each compared metric per regime with its interval.
"""

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from results_io import RESULTS_DIR, save_markdown, save_result
from transformers import HfArgumentParser

from scl_trainer.compare import main as compare_main
from scl_trainer.records import DEFAULT_DATA_DIR

REPO = Path(__file__).resolve().parent.parent
METRICS = ["eval_f1_at_threshold", "eval_f1_at_0.5", "eval_roc_auc"]

# Budgets: few-shot runs take more epochs over fewer pairs (80-100 optimizer steps), evaluated 3-5 times; all data
# keeps the demo's batch and learning rate for 2 epochs (the full-data arm is the expensive one). Measured per run on
# 2 CPU cores: n64 ~1.8 min, n256 ~2.8 min; N = 1024 was cut from 4 to 3 epochs (before any of its runs) to keep the
# whole study near 2 hours.
REGIMES = {
    "n64": {"train_size": 64, "seeds": [1, 2, 3, 4, 5], "flags": {
        "num_train_epochs": 20, "per_device_train_batch_size": 16, "eval_strategy": "steps", "eval_steps": 16,
        "save_strategy": "steps", "save_steps": 16}},
    "n256": {"train_size": 256, "seeds": [1, 2, 3, 4, 5], "flags": {
        "num_train_epochs": 10, "eval_strategy": "steps", "eval_steps": 16, "save_strategy": "steps",
        "save_steps": 16}},
    "n1024": {"train_size": 1024, "seeds": [1, 2, 3, 4, 5], "flags": {
        "num_train_epochs": 3, "eval_strategy": "steps", "eval_steps": 32, "save_strategy": "steps",
        "save_steps": 32}},
    "n1024-noise0.2": {"train_size": 1024, "label_noise": 0.2, "seeds": [1, 2, 3, 4, 5], "flags": {
        "num_train_epochs": 3, "eval_strategy": "steps", "eval_steps": 32, "save_strategy": "steps",
        "save_steps": 32}},
    "all": {"train_size": None, "seeds": [1, 2, 3], "flags": {"num_train_epochs": 2}},
}  # fmt: skip


@dataclass
class EvidenceArguments:
    regimes: list[str] = field(default_factory=lambda: list(REGIMES), metadata={"help": f"Of {list(REGIMES)}."})
    scl_weight: float = field(default=0.1, metadata={"help": "SupCon weight of the `scl` arm (the seed's 0.1)."})
    scl_temperature: float = field(default=0.2, metadata={"help": "SupCon temperature of the `scl` arm (0.2)."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding mrpc/."})
    output_dir: str = field(
        default="bench/results/scl_evidence", metadata={"help": "Where the regimes' compare outputs go."}
    )


def regime_argv(name: str, output_dir: str, arms: dict[str, str], metrics: list[str], data_dir: str) -> list[str]:
    """The `compare` arguments of one regime of the pair recipe on MRPC: `arms` (name -> settings), the regime's
    seeds, training size, label noise and flags; runs pruned into `output_dir/<regime>`."""
    regime = REGIMES[name]
    argv = [
        "--recipe", "supcon_pair", "--config", "recipes/supcon_pair/mrpc_minilm.yaml",
        "--output_dir", str(Path(output_dir) / name), "--prune_runs", "true",
        *[token for arm, settings in arms.items() for token in ("--arm", f"{arm}:{settings}")],
        "--seeds", *map(str, regime["seeds"]), *[token for m in metrics for token in ("--metric", m)],
        "--data_dir", data_dir, "--disable_tqdm", "true", "--save_total_limit", "1",
    ]  # fmt: skip
    if regime["train_size"] is not None:
        argv += ["--train_size", str(regime["train_size"])]
    if regime.get("label_noise"):
        argv += ["--label_noise", str(regime["label_noise"])]
    for key, value in regime["flags"].items():
        argv += [f"--{key}", str(value)]
    return argv


def compare_argv(args: EvidenceArguments, name: str) -> list[str]:
    arms = {"bce": "scl_weight=0", "scl": f"scl_weight={args.scl_weight},scl_temperature={args.scl_temperature}"}
    return regime_argv(name, args.output_dir, arms, METRICS, args.data_dir)


def plot(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.6 * len(METRICS), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], METRICS):
        for i, row in enumerate(rows):
            d = row["differences"][metric]["scl"]
            ax.errorbar(i, d["mean"], yerr=[[d["mean"] - d["t_ci"][0]], [d["t_ci"][1] - d["mean"]]], fmt="o",
                        color="black", capsize=4)  # fmt: skip
            ax.scatter([i] * len(d["differences"]), d["differences"], color="0.6", s=12, zorder=3)
        ax.axhline(0.0, color="tab:red", lw=1)
        ax.set_xticks(range(len(rows)), [row["regime"] for row in rows], rotation=20, fontsize=8)
        ax.set_title(f"{metric}: scl - bce", fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(
        "BCE + SupCon minus BCE alone, paired by seed (grey: one seed; black: mean, 95% t interval)", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def check_regimes(names: list[str]) -> None:
    unknown = [name for name in names if name not in REGIMES]
    if unknown:
        sys.exit(f"error: unknown regime(s) {unknown}; choose from {list(REGIMES)}")


def main(args: EvidenceArguments) -> dict:
    check_regimes(args.regimes)
    start = time.perf_counter()
    rows = []
    for name in args.regimes:
        print(f"== regime {name}", file=sys.stderr)
        report = compare_main(compare_argv(args, name))
        rows.append(
            {
                "regime": name,
                "train_size": REGIMES[name]["train_size"],
                "label_noise": REGIMES[name].get("label_noise", 0.0),
                "seeds": report["seeds"],
                "summary": report["summary"],
                "differences": report["differences"],
                "compare": str(Path(args.output_dir) / name / "compare.md"),
                "run_wall_time_s": sum(run["wall_time_s"] for run in report["runs"]),
            }
        )
    result = {
        "arms": {
            "bce": {"scl_weight": 0.0},
            "scl": {"scl_weight": args.scl_weight, "scl_temperature": args.scl_temperature},
        },
        "metrics": METRICS,
        "regimes": rows,
        "wall_time_this_call_s": time.perf_counter() - start,
        "wall_time_all_runs_s": sum(row["run_wall_time_s"] for row in rows),
    }
    plot(RESULTS_DIR / "scl_evidence.png", rows)
    save_markdown("scl_evidence", result)
    return save_result("scl_evidence.json", result)


if __name__ == "__main__":
    os.chdir(REPO)  # every path below is relative to the repository, so the run records stay valid if it moves
    (evidence_args,) = HfArgumentParser(EvidenceArguments).parse_args_into_dataclasses()
    main(evidence_args)
