"""`python -m scl_trainer compare`: one recipe under two or more arms over K seeds, paired, with the evidence.

    python -m scl_trainer compare --recipe supcon_pair --config recipes/supcon_pair/mrpc_minilm.yaml \
        --arm bce:scl_weight=0 --arm scl:scl_weight=0.1 --seeds 1 2 3 --output_dir outputs/cmp [recipe flags]

Every run is the recipe script itself (`python recipes/<name>.py ...`, no second training loop), with the config,
the shared recipe flags, the arm's settings, `--seed k` and its own output dir `DIR/runs/<arm>-seed<k>/`. The seed
fixes everything else the recipe draws (data split, subsample, label noise, initialisation, data order), so the arms
of one seed differ only by their settings: the comparison is paired.

Outputs: `DIR/compare.json` (every run's settings, command and metrics; per arm mean, sd, n; per arm vs the first
arm the paired differences with a bootstrap and a t interval and the Wilcoxon / t-test p-values), `DIR/compare.md`
(the same for a person, with the exact command) and `DIR/compare.png` (per-seed values joined across arms, and each
arm's mean with its interval). A finished run leaves `compare_run.json` in its dir and is skipped when the same
command runs again with the same --config content, so a killed compare resumes; an unfinished run restarts from its
last checkpoint.
"""

import hashlib
import importlib.util
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .compare_report import write_report
from .errors import ConfigError
from .outputs import OutputLock
from .parser import ConfigArgumentParser, did_you_mean

__all__ = ["Arm", "CompareArguments", "CompareError", "compare", "parse_arm"]

RUN_RECORD = "compare_run.json"
# Set by compare for every run; an arm or a shared flag may not set them.
MANAGED_FLAGS = ("output_dir", "seed", "overwrite_output_dir", "resume_from_checkpoint", "config")
ARM_PATTERN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.+-]*)(:(?P<settings>.*))?$")


class CompareError(ConfigError):
    """A compare command that cannot run as given (bad arm, unknown key, bad value, failed run)."""


@dataclass
class CompareArguments:
    recipe: str = field(
        metadata={
            "help": "`supcon_pair` or `simcse_unsup` (recipes/<name>.py of this checkout, or of the current "
            "directory), or the path of a recipe script."
        }
    )
    output_dir: str = field(metadata={"help": "Where runs/, compare.json, compare.md and compare.png go."})
    arm: list[str] = field(
        default_factory=list,
        metadata={
            "help": "An arm: NAME:key=value[,key=value...] with recipe fields as keys (e.g. bce:scl_weight=0). "
            "Repeat --arm for each arm (two or more); the first is the baseline the others are compared with.",
            "action": "extend",
        },
    )
    seeds: list[int] = field(
        default_factory=lambda: [1, 2, 3], metadata={"help": "Seeds; every arm runs once per seed (paired)."}
    )
    config: str | None = field(default=None, metadata={"help": "The recipe's YAML config, for every run."})
    metric: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Metric(s) to compare, keys of the run's eval_results.json (e.g. eval_f1_at_0.5). Default: the "
            "recipe's metric_for_best_model (as eval_<name>) plus its unbiased metrics (pairs: F1 at 0.5, SimCSE: "
            "test Spearman). The first is the one the plot's title names.",
            "action": "extend",
        },
    )
    confidence: float = field(default=0.95, metadata={"help": "Confidence level of the intervals."})
    bootstrap_samples: int = field(default=10_000, metadata={"help": "Bootstrap resamples per interval."})
    bootstrap_seed: int = field(default=0, metadata={"help": "Seed of the bootstrap's random generator."})
    prune_runs: bool = field(
        default=False,
        metadata={
            "help": "After a run has finished and its metrics are recorded, delete its weights, checkpoints and "
            "tokenizer files (keeping metrics, state, card, config): for long comparisons that only need numbers."
        },
    )


@dataclass
class Arm:
    name: str
    settings: dict[str, str]  # recipe field -> value as given

    @property
    def flags(self) -> list[str]:
        return [token for key, value in self.settings.items() for token in (f"--{key}", value)]


# ---- Recipes and arms -----------------------------------------------------------------------------------------------


def find_recipe(recipe: str) -> Path:
    """A recipe name -> recipes/<name>.py of this checkout or of the current directory; a path as is."""
    candidates = [Path(recipe)] if recipe.endswith(".py") else []
    candidates += [root / "recipes" / f"{recipe}.py" for root in (Path(__file__).resolve().parent.parent, Path.cwd())]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise CompareError(f"--recipe {recipe}: no recipe script found (looked for {', '.join(map(str, candidates))})")


def load_recipe(path: Path):
    """Import a recipe script as a module (its `main` is not run)."""
    spec = importlib.util.spec_from_file_location(f"scl_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("parser", "main", "check", "UNBIASED_METRICS"):
        if not hasattr(module, name):
            raise CompareError(
                f"--recipe {path}: a recipe script defines `parser()`, `main`, `check()` and `UNBIASED_METRICS`"
            )
    return module


def _recipe_actions(parser) -> dict:
    return {action.dest: action for action in parser._actions if action.option_strings and action.dest != "help"}


def _check_value(key: str, value: str, action, where: str) -> None:
    if action.type is not None:
        try:
            converted = action.type(value)
        except Exception as e:  # argparse type functions raise several kinds
            raise CompareError(
                f"{where}: {key}={value!r} is not a valid {getattr(action.type, '__name__', 'value')} ({e})"
            ) from None
    else:
        converted = value
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(str(c) for c in action.choices)
        raise CompareError(f"{where}: {key}={value!r} is not one of {choices}")


def parse_arm(text: str, recipe_parser) -> Arm:
    """`NAME:key=value[,key=value...]` -> Arm, every key a field of the recipe and every value of its type."""
    where = f"--arm {text}"
    match = ARM_PATTERN.match(text.strip())
    if not match:
        raise CompareError(
            f"{where}: expected NAME:key=value[,key=value...], NAME of letters, digits and _ . + - (e.g. "
            "bce:scl_weight=0)"
        )
    actions = _recipe_actions(recipe_parser)
    settings = {}
    for item in filter(None, (part.strip() for part in (match["settings"] or "").split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().removeprefix("--")
        if not sep or not key:
            raise CompareError(f"{where}: {item!r} is not key=value")
        if key in MANAGED_FLAGS:
            raise CompareError(f"{where}: {key} is set by compare for every run and cannot be an arm setting")
        if key not in actions:
            hint = did_you_mean(key, [name for name in actions if name not in MANAGED_FLAGS])
            raise CompareError(f"{where}: unknown key {key!r}: not a field of the recipe or of its config.{hint}")
        if key in settings:
            raise CompareError(f"{where}: {key} is given twice")
        _check_value(key, value.strip(), actions[key], where)
        settings[key] = value.strip()
    return Arm(match["name"], settings)


def check_shared_flags(flags: list[str], recipe_parser, compare_flags: list[str]) -> None:
    """The recipe flags given to compare (applied to every run) must be recipe fields compare does not manage; a
    typo names the closest compare option or recipe field."""
    actions = _recipe_actions(recipe_parser)
    for token in flags:
        if not token.startswith("--"):
            continue
        key = token[2:].split("=", 1)[0]
        if key.replace("-", "_") in MANAGED_FLAGS:
            raise CompareError(f"{token}: set by compare for every run (use --seeds, --output_dir, --config)")
        if key.replace("-", "_") not in actions:
            known = compare_flags + [f"--{name}" for name in actions if name not in MANAGED_FLAGS]
            hint = did_you_mean(f"--{key}", known)
            raise CompareError(f"{token}: not a compare option nor a field of the recipe.{hint}")


def check_metrics(metrics: list[str], reported: dict) -> None:
    """Every `--metric` must be one every run will report, found before the first run, not after the last:
    `<split>_<name>` with `name` one of the metric names (without prefix) its recipe's check says its evaluations
    report (`reported`: (arm, seed) -> those names, None if not known in advance) and `split` an evaluation of the
    run (`eval`, `test`, `ood_test`) or a baseline row (`baseline_*`, `base_*`); or what every evaluation reports."""
    always = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch"}
    splits = ("eval_", "test_", "ood_test_", "baseline_", "base_")
    for metric in metrics:
        for (arm, _), known in reported.items():
            if metric in always or known is None:
                continue
            if metric.startswith(splits) and any(metric.endswith(f"_{name}") for name in known):
                continue
            hint = did_you_mean(metric, sorted(f"eval_{m}" for m in known)) or " its runs report eval_ + one of " + (
                ", ".join(sorted(known))
            )
            raise CompareError(f"--metric {metric}: not a metric the runs of arm {arm} report;{hint}")


def check_models(runs: dict) -> None:
    """Each arm's model and tokenizer, loaded and checked before any run (a missing model or a max_length above its
    limit is found now, not after the other arms trained): once per distinct (model, max_length)."""
    from types import SimpleNamespace

    from transformers import AutoConfig, AutoTokenizer

    from .utils import check_max_length, from_pretrained

    checked = set()
    for (arm, _), parsed in runs.items():
        model = next((a.model_name_or_path for a in parsed if hasattr(a, "model_name_or_path")), None)
        max_length = getattr(parsed[-1], "max_length", None)
        if model is None or (model, max_length) in checked:
            continue
        try:
            config = from_pretrained(AutoConfig, model)
            if max_length is not None:
                check_max_length(max_length, SimpleNamespace(config=config), from_pretrained(AutoTokenizer, model))
        except (ValueError, OSError) as e:
            raise CompareError(f"arm {arm}: {' '.join(str(e).split())}") from None
        checked.add((model, max_length))


# ---- Runs -----------------------------------------------------------------------------------------------------------


def run_argv(args: CompareArguments, shared: list[str], arm: Arm, seed: int, run_dir: Path) -> list[str]:
    """The recipe arguments of one run (after the script path). Paths stay as the user gave them (relative to the
    working directory), so a finished run's record still matches when the same command runs from another checkout."""
    config = ["--config", args.config] if args.config else []
    return [*config, *shared, *arm.flags, "--seed", str(seed), "--output_dir", str(run_dir)]


def _last_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = [p for p in run_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _prune(run_dir: Path) -> None:
    """Delete a finished run's weights and checkpoints; keep its metrics, card, plots and predictions."""
    keep_suffixes = (".json", ".md", ".png", ".tsv")
    for path in run_dir.iterdir():
        if path.is_dir() and path.name.startswith("checkpoint-"):
            shutil.rmtree(path)
        elif path.is_file() and (not path.name.endswith(keep_suffixes) or path.name.startswith("tokenizer")):
            path.unlink()


def _die_with_parent() -> None:  # runs in the child before the recipe starts
    """Linux: the kernel sends the child SIGTERM when compare dies, however it dies (even SIGKILL)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the `finally` of run_one still stops the child
        pass


def _run_child(command: list[str], log) -> int:
    """Run one recipe process and return its exit status; if compare stops (an error, Ctrl-C, SIGTERM) the child is
    stopped too, so no run keeps training and writing after its compare is gone."""
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    try:
        return child.wait()
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def run_one(
    recipe_path: Path, argv: list[str], run_dir: Path, log_path: Path, prune: bool, config_digest: str | None
) -> dict:
    """Run (or resume) one recipe run in a subprocess; return its record (also written to run_dir), with the sha256
    of the --config file it ran with."""
    extra = []
    if run_dir.exists():  # an unfinished earlier attempt: continue from its last checkpoint, else start again
        checkpoint = _last_checkpoint(run_dir)
        extra = ["--resume_from_checkpoint", str(checkpoint)] if checkpoint else ["--overwrite_output_dir"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {shlex.join([sys.executable, str(recipe_path), *argv, *extra])}\n")
        log.flush()
        returncode = _run_child([sys.executable, str(recipe_path), *argv, *extra], log)
    wall_time = time.perf_counter() - start
    if returncode != 0:
        lines = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        raise CompareError(
            f"run {run_dir.name} failed (exit {returncode}): {lines[-1] if lines else 'no output'} "
            f"(full log: {log_path})"
        )
    metrics = json.loads((run_dir / "eval_results.json").read_text(encoding="utf-8"))
    train = run_dir / "train_results.json"
    record = {
        "argv": argv,
        "config_sha256": config_digest,
        "resumed_with": extra,
        "metrics": metrics,
        "train_runtime_s": json.loads(train.read_text(encoding="utf-8")).get("train_runtime")
        if train.exists()
        else None,
        "wall_time_s": wall_time,
    }
    if prune:
        _prune(run_dir)
    (run_dir / RUN_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


# ---- Entry point ----------------------------------------------------------------------------------------------------


def compare(args: CompareArguments, shared: list[str], command: str, compare_flags: list[str] = ()) -> dict:
    """Validate everything, run the missing runs (seed by seed, every arm), write the report; return it."""
    recipe_path = find_recipe(args.recipe)
    recipe = load_recipe(recipe_path)
    recipe_parser = recipe.parser()
    if len(args.arm) < 2:
        raise CompareError(f"compare needs two or more --arm, got {len(args.arm)}")
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        raise CompareError(f"--seeds must be distinct seeds, got {args.seeds}")
    if not 0 < args.confidence < 1:
        raise CompareError(f"--confidence must be in (0, 1), got {args.confidence}")
    arms = [parse_arm(text, recipe_parser) for text in args.arm]
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise CompareError(f"arm names must differ, got {names}")
    check_shared_flags(shared, recipe_parser, list(compare_flags))

    # Before anything trains, every run's arguments are parsed and the recipe's own checks run on each, as its run
    # would (`recipe.check`: its data, its architecture against its task and base model, its metric): a bad arm is
    # found now, not after the arms before it trained.
    out = Path(args.output_dir)  # as given: relative paths keep the run records valid when the checkout moves
    runs, reported = {}, {}
    for arm in arms:
        for seed in args.seeds:
            argv = run_argv(args, shared, arm, seed, out / "runs" / f"{arm.name}-seed{seed}")
            try:
                runs[arm.name, seed] = recipe_parser.parse_args_and_config(argv)
            except (ValueError, OSError) as e:
                raise CompareError(f"arm {arm.name}, seed {seed}: {e}") from None
    check_models(runs)
    for (name, seed), parsed in runs.items():
        try:
            reported[name, seed] = recipe.check(*parsed)
        except (ValueError, OSError) as e:
            raise CompareError(f"arm {name}, seed {seed}: {' '.join(str(e).split())}") from None
    # The recipe's metric that picks the checkpoint, as its check settled it (e.g. macro-F1 for K classes).
    metric_for_best = next(iter(runs.values()))[-1].metric_for_best_model
    metrics = list(args.metric) or [f"eval_{metric_for_best.removeprefix('eval_')}", *recipe.UNBIASED_METRICS]
    metrics = list(dict.fromkeys(metrics))
    check_metrics(metrics, reported)

    with OutputLock(out, "--output_dir", folder=True):  # one compare per folder: a second one is refused
        records = {}
        todo = []
        # The same command with an edited --config is another run: the config's content is part of the record.
        config_digest = hashlib.sha256(Path(args.config).read_bytes()).hexdigest() if args.config else None
        for seed in args.seeds:
            for arm in arms:
                run_dir = out / "runs" / f"{arm.name}-seed{seed}"
                argv = run_argv(args, shared, arm, seed, run_dir)
                record_path = run_dir / RUN_RECORD
                if record_path.is_file():
                    record = json.loads(record_path.read_text(encoding="utf-8"))
                    if record["argv"] != argv:
                        raise CompareError(
                            f"{run_dir} holds a finished run of another command ({shlex.join(record['argv'])}); use "
                            "another --output_dir or remove it"
                        )
                    if record.get("config_sha256", config_digest) != config_digest:  # records before 2026-12 lack it
                        raise CompareError(
                            f"{run_dir} holds a finished run of another --config {args.config}: the file has changed "
                            "since that run; use another --output_dir, or remove the runs to redo them"
                        )
                    records[arm.name, seed] = record
                else:
                    todo.append((arm, seed, run_dir, argv))
        total = len(arms) * len(args.seeds)
        with tqdm(total=total, initial=total - len(todo), unit="run", desc="compare") as progress:
            for arm, seed, run_dir, argv in todo:
                progress.set_postfix_str(f"{arm.name} seed {seed}")
                log_path = out / "logs" / f"{arm.name}-seed{seed}.log"
                records[arm.name, seed] = run_one(recipe_path, argv, run_dir, log_path, args.prune_runs, config_digest)
                progress.update(1)
        missing = [m for m in metrics if all(m not in r["metrics"] for r in records.values())]
        if missing:
            known = sorted({k for r in records.values() for k in r["metrics"]})
            raise CompareError(f"--metric {missing[0]}: no run reported it; the runs report {known}")
        return write_report(args, command, recipe_path, shared, arms, records, metrics)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> dict:
    parser = ConfigArgumentParser(
        CompareArguments, yaml_config=False, allow_abbrev=False, prog="python -m scl_trainer compare"
    )
    try:
        args, shared = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except ValueError as e:
        raise CompareError(str(e)) from None
    command = shlex.join(["python", "-m", "scl_trainer", "compare", *argv])
    # SIGTERM stops compare as Ctrl-C does: through `run_one`'s cleanup, which stops the running recipe.
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set a signal handler
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main_thread else None
    try:
        report = compare(args, shared, command, parser.flag_names())
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(f"compare: {len(report['runs'])} runs; report in {Path(args.output_dir) / 'compare.md'}", file=sys.stderr)
    return report
