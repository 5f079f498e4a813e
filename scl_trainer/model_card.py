"""Helpers for the model cards (`README.md` of an output dir or Hub repo). The prose is in `templates/`; these only
turn values into what the templates show."""

import json
import math
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import ConfigError
from .rendering import Inert, escape_markdown, render

__all__ = [
    "base_model_id",
    "format_number",
    "format_value",
    "framework_versions",
    "hub_dataset_id",
    "markdown_table",
    "multi_seed_summary",
    "training_log_table",
    "write_model_card",
]

TEMPLATES = Path(__file__).parent / "templates"

# The named datasets of `scl_trainer.data` that are also on the Hub (the local files are copies of these).
HUB_DATASETS = {"mrpc": "nyu-mll/glue", "stsb": "sentence-transformers/stsb"}


def base_model_id(name_or_path: str) -> str | None:
    """The Hub id of a base model, or None for a local folder (the Hub rejects paths as `base_model`)."""
    return None if not name_or_path or os.path.isdir(name_or_path) else name_or_path


# What a trained model's files depend on, in the card's "Framework versions" (the installed ones only).
FRAMEWORKS = ("scl_trainer", "transformers", "torch", "accelerate", "datasets", "tokenizers", "huggingface_hub",
              "sentence-transformers")  # fmt: skip


def framework_versions() -> str:
    """`scl_trainer 0.1.0, transformers 5.x, torch 2.x, ...`: the installed version of every framework."""
    found = []
    for name in FRAMEWORKS:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def hub_dataset_id(name: str | None) -> str | None:
    """The Hub id of a data argument for the card's metadata: a named dataset's Hub copy, a Hub id as is, None for
    a local file or folder or a dataset with no Hub copy (the Hub rejects anything else in `datasets`)."""
    if not name or os.path.exists(name):
        return None
    return HUB_DATASETS.get(name, name if "/" in name else None)


def format_number(value, digits: int = 4, sign: bool = False) -> str:
    """A number with `digits` decimals (and its sign with `sign`); `n/a` for a missing value or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def format_value(value) -> str:
    """A table cell: a float with 4 decimals (small ones in scientific notation), anything else as escaped text."""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(escape_markdown(value))


def markdown_table(rows: dict, header: tuple[str, str] = ("", "")) -> Inert:
    """A two-column Markdown table of `rows` (name -> value), every cell escaped (`format_value`)."""
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| {format_value(key)} | {format_value(value)} |" for key, value in rows.items()]
    return Inert("\n".join(lines))


def training_log_table(log_history: list[dict], train_keys: list[str], eval_keys: list[str]) -> Inert:
    """One row per evaluation of the validation data (`eval_*` logs): step, epoch, the training values of the last
    training log at or before that step (`train_keys`), and the validation values (`eval_keys`). Empty without
    evaluations."""
    evals = list({log.get("step"): log for log in log_history if "eval_runtime" in log}.values())  # last per step
    if not evals:
        return ""
    header = ["step", "epoch", *[f"train {k}" for k in train_keys], *[k.removeprefix("eval_") for k in eval_keys]]
    header = [format_value(name) for name in header]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for log in evals:
        train = [t for t in log_history if "loss" in t and t.get("step", 0) <= log.get("step", 0)]
        train = train[-1] if train else {}
        values = [log.get("step", ""), log.get("epoch", "")]
        values += [train.get(k, "") for k in train_keys] + [log.get(k, "") for k in eval_keys]
        lines.append("| " + " | ".join(format_value(v) for v in values) + " |")
    return Inert("\n".join(lines))


def multi_seed_summary(path: str | os.PathLike | None) -> str:
    """The card section of a `compare.json` (written by `python -m scl_trainer compare`): per arm and compared metric
    mean ± sd (n) and the paired difference to the first arm with its t interval. Empty without `path`."""
    if not path:
        return ""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        report["summary"], report["differences"], report["arms"]  # noqa: B018 (the keys every section reads)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"--compare_report {path}: not a compare.json of scl_trainer compare ({e})") from e
    # The report is a file anyone can edit: every value it gives is printed as text, never as Markdown or HTML.
    return Inert(render(TEMPLATES / "multi_seed_summary.md", report=report, source=str(path), fmt=format_number))


def write_model_card(
    trainer,
    model_name: str | None = None,
    dataset_name: str | None = None,
    tags: str | list[str] | None = None,
    language: str | list[str] | None = None,
    license: str | None = None,
    finetuned_from: str | None = None,
    compare_report: str | None = None,
    **kwargs,
) -> None:
    """`BaseTrainer.create_model_card`: the card of `trainer`'s run (its method's template and `_card_content`),
    written as `README.md` in its output dir."""
    from datasets import Dataset
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    if not trainer.is_world_process_zero():
        return
    args, model = trainer.args, trainer.accelerator.unwrap_model(trainer.model)
    model_name = model_name or os.path.basename(os.path.normpath(args.output_dir))
    base_model = finetuned_from or model.config._name_or_path
    tags = [tags] if isinstance(tags, str) else list(tags or [])
    content = trainer._card_content()
    # Validation rows go into the card verbatim: published only from public data, unless asked (widget_examples).
    public = hub_dataset_id(kwargs.get("eval_dataset_name") or dataset_name) is not None
    if not (public if args.widget_examples is None else args.widget_examples):
        content["widget"] = None
    hyperparameters = {
        **content.pop("hyperparameters"),
        "learning_rate": args.learning_rate,
        "lr_scheduler_type": args.lr_scheduler_type.value,
        "warmup_steps": args.warmup_steps,
        "weight_decay": args.weight_decay,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "number of processes": args.world_size,
        "optimizer steps trained": trainer.state.global_step,
        "epochs trained": round(trainer.state.epoch or 0.0, 3),
        "seed": args.seed,
    }
    dataset_id = hub_dataset_id(dataset_name)
    # Each score is named by the data and split it was measured on (test scores by the test data, when another).
    eval_name = kwargs.get("eval_dataset_name") or dataset_name or "unspecified"
    names = {"validation": eval_name, "test": kwargs.get("test_dataset_name") or eval_name}
    splits = {"validation": kwargs.get("eval_split") or "validation", "test": "test"}
    eval_results = [
        EvalResult(
            task_type=content["task_type"],
            dataset_type=hub_dataset_id(names[row["split"]]) or os.path.basename(names[row["split"]]),
            dataset_name=os.path.basename(names[row["split"]]),
            dataset_split=splits[row["split"]],
            metric_type=row["metric"],
            metric_name=row.get("metric_name", row["metric"]),
            metric_value=round(float(row["value"]), 4),
        )
        for row in content.pop("eval_results")
    ]
    card_data = ModelCardData(
        model_name=model_name,
        base_model=base_model_id(base_model),
        datasets=sorted({d for d in (dataset_id, *map(hub_dataset_id, names.values())) if d}) or None,
        language=language,
        license=license,
        library_name=content.pop("library_name"),
        pipeline_tag=content.pop("pipeline_tag"),
        tags=[*trainer._tag_names, *tags],
        eval_results=eval_results or None,
        widget=content.pop("widget") or None,
    )
    values = dict(
        model_name=model_name,
        # The hub id when one is known (pushed, or --hub_model_id given); else the local folder, which loads too.
        repo_id=trainer.hub_model_id or args.hub_model_id or args.output_dir,
        base_model=base_model,
        # A local file is named by its file name: a card is meant for publishing, a local path says nothing there.
        dataset_name=os.path.basename(dataset_name)
        if dataset_name and os.path.exists(dataset_name)
        else (dataset_name or "unspecified"),
        num_train=len(trainer.train_dataset) if trainer.train_dataset is not None else None,
        num_eval=len(trainer.eval_dataset) if isinstance(trainer.eval_dataset, Dataset) else None,
        hyperparameters=markdown_table(hyperparameters, ("hyperparameter", "value")),
        training_log=training_log_table(trainer.state.log_history, *content.pop("log_keys")),
        plots=[name for name in trainer.plots if os.path.isfile(os.path.join(args.output_dir, name))],
        multi_seed=multi_seed_summary(compare_report),
        small_data=kwargs.get("small_data"),  # the recipes' small-data policy: what it decided (None: not applied)
        versions=framework_versions(),
        **content,
    )
    values = {**card_data.to_dict(), **values, "card_data": Inert(card_data.to_yaml())}
    # Every value reaches the card through `rendering.render`: escaped as text unless the template marks it
    # (`| code`, `| py`, `| shell`); the YAML metadata is quoted by `yaml.dump`.
    card = ModelCard(render(TEMPLATES / trainer._card_template, trim_blocks=False, **values))
    card.save(os.path.join(args.output_dir, "README.md"))
