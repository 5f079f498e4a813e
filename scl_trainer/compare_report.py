"""The report of `python -m scl_trainer compare`: compare.json, compare.md and compare.png from the runs' records."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from .model_card import TEMPLATES, format_number
from .paired_stats import arm_summary, paired_difference
from .rendering import render

if TYPE_CHECKING:  # compare imports this module
    from .compare import Arm, CompareArguments

__all__ = ["plot", "summarize", "write_report"]


def summarize(args: CompareArguments, arms: list[Arm], records: dict, metrics: list[str]) -> tuple[dict, dict]:
    """Per metric: per arm summary (over the seeds it has) and per arm vs the first arm the paired difference (over
    the seeds both have)."""
    summary, differences = {}, {}
    for metric in metrics:
        values = {
            arm.name: {
                seed: records[arm.name, seed]["metrics"].get(metric)
                for seed in args.seeds
                if (arm.name, seed) in records
            }
            for arm in arms
        }
        summary[metric] = {
            name: {**arm_summary([v for v in per_seed.values() if v is not None]), "values": per_seed}
            for name, per_seed in values.items()
        }
        base = values[arms[0].name]
        differences[metric] = {}
        for arm in arms[1:]:
            seeds = [s for s in args.seeds if base.get(s) is not None and values[arm.name].get(s) is not None]
            result = paired_difference(
                [base[s] for s in seeds],
                [values[arm.name][s] for s in seeds],
                confidence=args.confidence,
                n_resamples=args.bootstrap_samples,
                seed=args.bootstrap_seed,
            )
            differences[metric][arm.name] = {**result, "seeds": seeds}
    return summary, differences


def plot(path: Path, arms: list[Arm], summary: dict, differences: dict, seeds: list[int], confidence: float) -> None:
    """One panel per metric: each seed's values joined across the arms (grey), each arm's mean with its t interval
    (black), and the paired difference of each arm vs the first in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    metrics = list(summary)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 4), squeeze=False)
    x = list(range(len(arms)))
    for ax, metric in zip(axes[0], metrics):
        for seed in seeds:
            ys = [summary[metric][arm.name]["values"].get(seed) for arm in arms]
            if sum(y is not None for y in ys) >= 1:
                ax.plot(x, [math.nan if y is None else y for y in ys], "o-", color="0.7", lw=1, ms=4)
        for i, arm in enumerate(arms):
            s = summary[metric][arm.name]
            half = 0.0
            if s["n"] > 1:
                half = stats.t.ppf(0.5 + confidence / 2, s["n"] - 1) * s["sd"] / math.sqrt(s["n"])
            ax.errorbar(i + 0.08, s["mean"], yerr=half, fmt="s", color="black", capsize=4, ms=6)
        labels = []
        for arm in arms[1:]:
            d = differences[metric][arm.name]
            labels.append(
                f"{arm.name} - {arms[0].name}: {d['mean']:+.4f} "
                f"[{d['bootstrap_ci'][0]:+.4f}, {d['bootstrap_ci'][1]:+.4f}], p={d['wilcoxon_p']:.3g}, n={d['n']}"
            )
        ax.set_xticks(x, [arm.name for arm in arms])
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("\n".join(labels), fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"paired over seeds {', '.join(map(str, seeds))}: grey = one seed, black = mean +- {confidence:.0%} t int.",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(
    args: CompareArguments,
    command: str,
    recipe_path: Path,
    shared: list[str],
    arms: list[Arm],
    records: dict,
    metrics: list[str],
) -> dict:
    out = Path(args.output_dir)
    summary, differences = summarize(args, arms, records, metrics)
    # The recipe as a person re-runs it: relative to the current directory when inside it (no checkout's path).
    cwd = Path.cwd().resolve()
    shown = str(recipe_path.relative_to(cwd)) if recipe_path.is_relative_to(cwd) else str(recipe_path)
    runs = [
        {
            "arm": arm.name,
            "seed": seed,
            "settings": arm.settings,
            "run_dir": str(out / "runs" / f"{arm.name}-seed{seed}"),
            "command": shlex.join(["python", shown, *records[arm.name, seed]["argv"]]),
            **records[arm.name, seed],
        }
        for seed in args.seeds
        for arm in arms
        if (arm.name, seed) in records
    ]
    # Rows every run reports beside its metrics (the pair recipe's majority-class and zero-shot baselines): they
    # depend on the seed's validation split, not on the arm, so one value per seed.
    baselines = {}
    for key in sorted({k for r in records.values() for k in r["metrics"] if k.startswith("baseline_")}):
        per_seed = {seed: r["metrics"][key] for (_, seed), r in records.items() if key in r["metrics"]}
        baselines[key] = {**arm_summary(list(per_seed.values())), "values": per_seed}
    report = {
        "command": command,
        "recipe": shown,
        "config": args.config,
        "shared_flags": shared,
        "arms": [{"name": arm.name, "settings": arm.settings} for arm in arms],
        "seeds": args.seeds,
        "metrics": metrics,
        "complete": len(runs) == len(arms) * len(args.seeds),
        "confidence": args.confidence,
        "bootstrap": {"resamples": args.bootstrap_samples, "seed": args.bootstrap_seed, "method": "percentile"},
        "summary": summary,
        "differences": differences,
        "baselines": baselines,
        "runs": runs,
    }
    (out / "compare.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    markdown = render(TEMPLATES / "compare.md", report=report, arms=arms, fmt=format_number)  # values escaped
    (out / "compare.md").write_text(markdown, encoding="utf-8")
    plot(out / "compare.png", arms, summary, differences, args.seeds, args.confidence)
    return report
