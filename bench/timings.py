"""The durations the README and `make help` quote, measured on an idle machine.

Each command is the `make` target a user types, run as is (`make demo` and `make simcse` write into a scratch folder
through `ARGS="--output_dir ..."`, so nothing of the user's `outputs/` is touched). Wall time counts; so does what the
rest of the machine did meanwhile: the CPU seconds that were not ours, from /proc/stat, per second of the run
(`other_load`, in cores). A timing is recorded only when the machine was idle: the 1-minute load average below
`--idle_load` at the start (the script waits up to `--wait_s` for it) and `other_load` below `--idle_load` during the
run; otherwise the timing is recorded as `idle: false` and the README keeps its previous number.

    python bench/timings.py [--targets demo simcse test]

Writes bench/results/timings.json: per target the newest idle timing (a busy attempt is kept beside it, never in its
place). tests/test_docs.py checks that the README and the Makefile quote each idle timing rounded to the minute.
"""

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from results_io import RESULTS_DIR, save_result
from transformers import HfArgumentParser

REPO = Path(__file__).resolve().parent.parent
TARGETS = {
    "demo": lambda scratch: ["make", "demo", f"ARGS=--output_dir {scratch / 'demo'}"],
    "simcse": lambda scratch: ["make", "simcse", f"ARGS=--output_dir {scratch / 'simcse'}"],
    "test": lambda scratch: ["make", "test"],
}


@dataclass
class TimingsArguments:
    targets: list[str] = field(default_factory=lambda: list(TARGETS), metadata={"help": "The make targets to time."})
    idle_load: float = field(default=0.3, metadata={"help": "Cores of other work below which the machine is idle."})
    wait_s: int = field(default=600, metadata={"help": "How long to wait for an idle machine before each target."})
    scratch: str = field(default="/tmp/bench-timings", metadata={"help": "Scratch folder for the runs' outputs."})

    def __post_init__(self):
        unknown = sorted(set(self.targets) - set(TARGETS))
        if unknown:
            raise ValueError(f"--targets: unknown {unknown}; choose from {sorted(TARGETS)}")


def busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux /proc/stat), or None elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_idle(limit: float, wait_s: int) -> float:
    """The 1-minute load average once it is below `limit`, or after `wait_s` seconds (whatever it is then)."""
    deadline = time.monotonic() + wait_s
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(15)
    return os.getloadavg()[0]


def time_target(name: str, args: TimingsArguments) -> dict:
    command = TARGETS[name](Path(args.scratch))
    load_at_start = wait_for_idle(args.idle_load, args.wait_s)
    machine_before, ours_before = busy_cpu_s(), os.times()
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    machine_after, ours_after = busy_cpu_s(), os.times()
    ours = (ours_after.children_user - ours_before.children_user) + (
        ours_after.children_system - ours_before.children_system
    )
    other_load = None if machine_before is None else max(0.0, (machine_after - machine_before - ours) / wall)
    idle = load_at_start < args.idle_load and other_load is not None and other_load < args.idle_load
    return {
        "command": " ".join(command),
        "returncode": completed.returncode,
        "wall_s": wall,
        "minutes": round(wall / 60),
        "our_cpu_s": ours,
        "load_at_start": load_at_start,
        "other_load": other_load,
        "idle": idle and completed.returncode == 0,
        "tail": (completed.stdout if completed.returncode == 0 else completed.stderr).splitlines()[-5:],
    }


def main(args: TimingsArguments) -> dict:
    path = RESULTS_DIR / "timings.json"
    previous = json.loads(path.read_text())["targets"] if path.exists() else {}
    targets = dict(previous)
    for name in args.targets:
        timing = time_target(name, args)
        print(json.dumps({name: timing}, indent=1), flush=True)
        if timing["idle"] or not previous.get(name, {}).get("idle"):
            targets[name] = timing
        else:  # an idle timing is never replaced by one taken on a busy machine
            targets[name] = {**previous[name], "last_busy_attempt": timing}
    return save_result(
        "timings.json",
        {
            "idle_load": args.idle_load,
            "targets": targets,
            "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        },
    )


if __name__ == "__main__":
    (cli_args,) = HfArgumentParser(TimingsArguments).parse_args_into_dataclasses()
    main(cli_args)
