"""Command-line start-up: how long until `--help` (or an argument error) answers, against the import floor
`python -c "import torch, transformers"`, and `python -m scl_trainer predict` against a `transformers.pipeline` script
on a small file (3,000 CCF test pairs), both as whole processes (start, model load, reading, scoring, writing).

Every command runs `--repeats` times, interleaved (floor, predict --help, recipe --help, ...), and the median wall time
counts; the ratios are of medians measured in this one run (absolute seconds depend on the machine and its load).

    python bench/cli_start.py [--repeats 5] [--ccf_pairs 3000]

Writes bench/results/cli_start.json. Targets: start-up <= 1.3x the import floor; predict >= 2.0x the pipeline at
3,000 pairs (the full CCF file is bench/predict_speed.py's measurement, quoted beside it).
"""

import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from predict_speed import BenchArguments, build_model, read_pairs, run_ours, run_pipeline, write_inputs
from results_io import RESULTS_DIR, save_result
from transformers import HfArgumentParser

REPO = Path(__file__).resolve().parent.parent
FLOOR = [sys.executable, "-c", "import torch, transformers"]
STARTS = {
    "predict --help": [sys.executable, "-m", "scl_trainer", "predict", "--help"],
    "embed --help": [sys.executable, "-m", "scl_trainer", "embed", "--help"],
    "compare --help": [sys.executable, "-m", "scl_trainer", "compare", "--help"],
    "recipes/supcon_pair.py --help": [sys.executable, "recipes/supcon_pair.py", "--help"],
    "recipes/simcse_unsup.py --help": [sys.executable, "recipes/simcse_unsup.py", "--help"],
    "recipes/supcon_pair.py --scl_wieght 0.1 (a typo)": [
        sys.executable,
        "recipes/supcon_pair.py",
        "--scl_wieght",
        "0.1",
    ],
}


@dataclass
class CliStartArguments:
    repeats: int = field(default=5, metadata={"help": "Runs of every start-up command (median counts)."})
    predict_repeats: int = field(default=3, metadata={"help": "Runs of predict and of the pipeline (median)."})
    ccf_pairs: int = field(default=3000, metadata={"help": "CCF test pairs of the small-file prediction."})
    scratch: str = field(default="/tmp/bench-cli-start", metadata={"help": "Scratch folder (model, inputs)."})
    data_dir: str = field(default=str(REPO.parent / "shared" / "data"), metadata={"help": "Folder of the data."})


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, capture_output=True, check=False)
    return time.perf_counter() - start


def main(args: CliStartArguments) -> dict:
    times = {"floor": [], **{name: [] for name in STARTS}}
    for _ in range(args.repeats):
        times["floor"].append(wall_time(FLOOR))
        for name, command in STARTS.items():
            times[name].append(wall_time(command))
    floor = statistics.median(times["floor"])
    start_up = {
        name: {"median_s": statistics.median(v), "runs_s": v, "ratio_to_floor": statistics.median(v) / floor}
        for name, v in times.items()
    }

    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    bench = BenchArguments(data_dir=args.data_dir, scratch=args.scratch, ccf_pairs=args.ccf_pairs, english_pairs=1)
    model = scratch / "model"
    build_model(model)
    path = write_inputs(Path(args.data_dir), scratch, bench)["ccf"]
    ours, pipeline = [], []
    for _ in range(args.predict_repeats):
        ours.append(run_ours(model, path, scratch / "ccf.out.tsv", bench)[0])
        pipeline.append(run_pipeline(model, path, bench)[0])
    full = json.loads((RESULTS_DIR / "predict_speed.json").read_text())["results"]["ccf"]
    return save_result(
        "cli_start.json",
        {
            "targets": "start-up <= 1.3x the import floor; predict >= 2.0x the pipeline (3,000 pairs, full file)",
            "floor_command": " ".join(FLOOR[1:]),
            "floor_median_s": floor,
            "start_up": start_up,
            "max_start_up_ratio": max(v["ratio_to_floor"] for k, v in start_up.items() if k != "floor"),
            "predict_small_file": {
                "pairs": len(read_pairs(path)),
                "ours_s": ours,
                "pipeline_s": pipeline,
                "ratio": statistics.median(pipeline) / statistics.median(ours),
            },
            "predict_full_file": {
                "pairs": full["pairs"],
                "ratio": full["ratio"],
                "source": "bench/results/predict_speed.json (bench/predict_speed.py)",
            },
            "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        },
    )


if __name__ == "__main__":
    (cli_args,) = HfArgumentParser(CliStartArguments).parse_args_into_dataclasses()
    result = main(cli_args)
    print(json.dumps({k: result[k] for k in ("max_start_up_ratio", "predict_small_file")}, indent=1))
