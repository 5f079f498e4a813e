"""Shared by the scripts in bench/: each result file records the date and the exact command that measured it."""

import json
import math
import sys
import time
from pathlib import Path

from jinja2 import Template

from scl_trainer.model_card import format_number

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def save_result(file_name: str, result: dict, append: bool = False) -> dict:
    """Writes `result` (+ date and command) to bench/results/<file_name>: a JSON file, or one more line of a JSONL
    file when `append`; prints it and returns it."""
    command = " ".join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    result = {**result, "date": time.strftime("%Y-%m-%d"), "command": command}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if append:
        with (RESULTS_DIR / file_name).open("a") as f:
            f.write(json.dumps(result) + "\n")
    else:
        (RESULTS_DIR / file_name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


def extra_flag_tokens(settings: list[str]) -> list[str]:
    """`key=value` settings (a study's `--extra_flags`, e.g. `max_steps=2` for a check run) as recipe flags."""
    return [token for key, _, value in (s.partition("=") for s in settings) for token in (f"--{key}", value)]


def save_markdown(name: str, result: dict) -> None:
    """Renders bench/<name>.md.j2 with `result` (and `fmt`, the number format of the reports) into
    bench/results/<name>.md: the table a README quotes line for line."""
    source = (Path(__file__).resolve().parent / f"{name}.md.j2").read_text(encoding="utf-8")
    markdown = Template(source, trim_blocks=True, lstrip_blocks=True).render(result=result, fmt=format_number)
    (RESULTS_DIR / f"{name}.md").write_text(markdown, encoding="utf-8")


# ---- Multi-seed studies (pair_architectures, classify_evidence): rows x metrics x seeds ----


def summarize_rows(values: dict, seeds: list, rows: list[str], metrics) -> dict:
    """{row: {metric: arm_summary + per-seed values}} of `values[row][metric][seed]` (missing or non-finite values
    are left out of the summary and kept as they are in `values`)."""
    from scl_trainer.paired_stats import arm_summary

    summary = {}
    for row in rows:
        summary[row] = {}
        for metric in metrics:
            per_seed = values[row].get(metric, {})
            present = [per_seed[s] for s in seeds if per_seed.get(s) is not None and math.isfinite(per_seed[s])]
            summary[row][metric] = {**arm_summary(present), "values": {s: per_seed.get(s) for s in seeds}}
    return summary


def paired_rows(values: dict, seeds: list, pairs: list[tuple[str, str]], metrics) -> list[dict]:
    """For each (a, b) of `pairs` present in `values` and each metric: the paired difference a - b over the seeds
    both have (two or more), with its t interval, bootstrap interval and win/tie/loss count."""
    from scl_trainer.paired_stats import paired_difference

    differences = []
    for a_row, b_row in pairs:
        if a_row not in values or b_row not in values:
            continue
        for metric in metrics:
            a, b = values[a_row].get(metric, {}), values[b_row].get(metric, {})
            both = [s for s in seeds if a.get(s) is not None and b.get(s) is not None]
            if len(both) >= 2:
                d = paired_difference([b[s] for s in both], [a[s] for s in both], n_resamples=10_000, seed=0)
                differences.append({"pair": f"{a_row} - {b_row}", "metric": metric, **d, "seeds": both})
    return differences


def plot_rows(path: Path, regimes: list[dict], rows: list[str], metrics, colors: dict[str, str]) -> None:
    """One panel per metric: per regime, each row's mean ± sd over seeds (from `regime["summary"]`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5.6 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for j, row in enumerate(rows):
            points = [(i + (j - len(rows) // 2) * 0.09, r["summary"][row][metric]) for i, r in enumerate(regimes)
                      if row in r["summary"] and r["summary"][row][metric]["n"]]  # fmt: skip
            if points:
                xs, stats = zip(*points)
                ax.errorbar(xs, [s["mean"] for s in stats], yerr=[s["sd"] if s["n"] > 1 else 0 for s in stats],
                            fmt="o", color=colors[row], label=row, capsize=3, ms=4)  # fmt: skip
        ax.set_xticks(range(len(regimes)), [r["regime"] for r in regimes], rotation=20, fontsize=8)
        ax.set_title(f"validation {metric} (mean ± sd over seeds)", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
