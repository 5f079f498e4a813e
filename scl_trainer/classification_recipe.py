"""The body the classification recipes share (`recipes/supcon_pair.py`, `recipes/supcon_classify.py`): their common
arguments, loading the model of the chosen architecture, the run (train, evaluate, save, card), prediction after
training and the end of the run. A recipe keeps only its own data: its arguments, how its splits are read, and how its
file to predict is opened.

Module level: only what the arguments need, so a recipe's `--help` and argument errors answer before the training
stack loads; the functions import what they use.
"""

import logging
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ConfigError, DataError
from .parser import ConfigArgumentParser
from .recipe_setup import RunArguments, end_run, finish_run, recipe_main, start_run, truncate, validation_card
from .scl_config import SCLConfig

if TYPE_CHECKING:
    import datasets

__all__ = [
    "CheckedRun",
    "ClassificationArguments",
    "check_classifier",
    "check_predict_file",
    "classification_recipe",
    "hold_out_validation",
    "load_model",
    "open_predict_file",
    "run_classifier",
    "small_data_steps",
    "truncated_splits",
    "validation_summary",
]

logger = logging.getLogger(__name__)


@dataclass
class ClassificationArguments(RunArguments):
    """The data arguments both classification recipes have (each recipe's `ScriptArguments` adds its dataset,
    columns and few-shot regime)."""

    validation_file: str | None = field(
        default=None,
        metadata={
            "help": "Validation data: a .csv/.tsv/.jsonl file (columns as for training; a label outside the training "
            "data's classes is an error), or a split name of a hub dataset. Default: hold out `validation_size` of "
            "the training data."
        },
    )
    validation_size: float = field(
        default=0.1,
        metadata={
            "help": "Share of the training data held out for validation when no validation_file is given: "
            "stratified by label (grouped by query id for ccf_qa_match, so that no query is in both splits)."
        },
    )
    label_noise: float = field(
        default=0.0,
        metadata={
            "help": "Label-noise regime: give exactly round(P x N) training rows (after the few-shot sampling), "
            "chosen by --seed, another label (two classes: the other one; K classes: another drawn uniformly); the "
            "validation split is untouched. The count is logged and saved in data_results.json."
        },
    )
    small_data_per_class: int = field(
        default=0,
        metadata={
            "help": "Small-data policy: when holding out validation_size would leave fewer than this many validation "
            "rows of some class (or cannot be done), no validation is held out: too few rows cannot pick a "
            "checkpoint, tune a threshold or tell whether training beat the untouched model. Training then uses "
            "every row for at least small_data_min_steps optimizer steps and keeps the final model; the log and the "
            "card say so. 0 (the default; the own-data configs set 10) turns the policy off: a tiny hold-out is "
            "made, or refused as before."
        },
    )
    small_data_min_steps: int = field(
        default=60,
        metadata={
            "help": "Under the small-data policy, the fewest optimizer steps a run takes (num_train_epochs of a few "
            "dozen rows are a handful of steps). 60: the step budget of the 8-per-class runs of "
            "`make classify-evidence`."
        },
    )
    drop_empty_texts: bool = field(
        default=False,
        metadata={"help": "Drop rows with an empty text (logged with their row numbers) instead of stopping."},
    )
    predict_file: str | None = field(
        default=None,
        metadata={
            "help": "Unlabelled rows to classify after training: a .csv/.tsv/.jsonl file (columns as for training), "
            "or for pairs `ccf_qa_match` (its test.query/test.reply files, written in the competition format "
            "query_id<TAB>reply_id<TAB>label)."
        },
    )
    predictions_path: str | None = field(
        default=None, metadata={"help": "Where to write predictions. Default: <output_dir>/predictions.tsv."}
    )

    def read_options(self, **columns) -> dict:
        """The keyword arguments of the recipe's data loader: the data folder, the label column (the recipe's
        `label_column`), what to do with empty texts, and the recipe's own `columns`."""
        empty_texts = "drop" if self.drop_empty_texts else "error"
        return dict(data_dir=self.data_dir, label_column=self.label_column, empty_texts=empty_texts, **columns)

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.validation_size < 1.0:
            raise ConfigError(f"validation_size must be a fraction in (0, 1), got {self.validation_size}")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ConfigError(f"label_noise must be a fraction in [0, 1], got {self.label_noise}")
        if self.small_data_per_class < 0:
            raise ConfigError(f"small_data_per_class must be >= 0 (0: off), got {self.small_data_per_class}")
        if self.small_data_min_steps < 1:
            raise ConfigError(f"small_data_min_steps must be >= 1, got {self.small_data_min_steps}")


def hold_out_validation(
    train: "datasets.Dataset",
    script_args: ClassificationArguments,
    read_validation: Callable[[], "datasets.Dataset"],
    split: Callable[["datasets.Dataset"], "datasets.DatasetDict"],
    unit: str = "rows",
) -> tuple["datasets.DatasetDict", str]:
    """Training and validation splits: `read_validation()` when a validation file is given (warned about when it is
    the training file), else `split(train)` (scikit-learn's refusals as a `DataError`); `unit`: what a row is.
    Returns them and the words that say where validation came from."""
    import datasets

    name = script_args.dataset_name
    if script_args.validation_file and os.path.realpath(script_args.validation_file) == os.path.realpath(name):
        logger.warning(
            f"--validation_file {script_args.validation_file} is the training file: validation measures the "
            f"training {unit} themselves (optimistic); hold data out instead (--validation_size)"
        )
    if script_args.validation_file:
        return datasets.DatasetDict(train=train, validation=read_validation()), (
            f"--validation_file {script_args.validation_file}"
        )
    held_out = f"validation_size={script_args.validation_size} of {len(train)} {unit}"
    try:
        splits = split(train)
    except ValueError as e:  # scikit-learn: a split that would be empty, a class too small to stratify
        if not script_args.small_data_per_class:
            raise DataError(f"{name}: cannot hold out {held_out}: {e}") from None
        return _small_data(train, f"holding out {held_out} is not possible ({e})")
    held = Counter(splits["validation"]["label"])
    fewest = min(sorted(set(train["label"]), key=str), key=lambda label: held[label])
    if held[fewest] < script_args.small_data_per_class:
        return _small_data(
            train,
            f"holding out {held_out} would leave {held[fewest]} validation {unit} of the class {fewest!r}, fewer than "
            f"small_data_per_class={script_args.small_data_per_class}",
        )
    return splits, held_out


def _small_data(train: "datasets.Dataset", why: str) -> tuple["datasets.DatasetDict", str]:
    import datasets

    logger.warning(
        f"small data: {why}. No validation is held out: training uses all {len(train)} rows and keeps the final "
        "model; measure it on data of your own (--validation_file), or pass --small_data_per_class 0 to hold out "
        "anyway"
    )
    return datasets.DatasetDict(train=train), f"small data, no validation ({why})"


def small_data_steps(training_args: "SCLConfig", rows: int, min_steps: int, world_size: int) -> dict:
    """The small-data policy on the training settings of a run without validation: no evaluation, no checkpoint
    choice (the final model is kept), and at least `min_steps` optimizer steps. Returns what the card states."""
    from transformers.trainer_utils import IntervalStrategy

    per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * world_size
    planned = training_args.max_steps
    if planned <= 0:
        planned = math.ceil(training_args.num_train_epochs * math.ceil(rows / per_step))
    steps = max(planned, min_steps)
    training_args.max_steps = steps
    training_args.eval_strategy = IntervalStrategy.NO  # nothing to evaluate on
    training_args.do_eval = False
    training_args.load_best_model_at_end = False  # the final model is kept: no checkpoint can be chosen
    training_args.eval_on_start = False  # nor can the untouched model compete (the step-0 guard)
    logger.info(f"small data: {rows} training rows, {steps} optimizer steps (planned {planned}, floor {min_steps})")
    return {"rows": rows, "steps": steps, "planned": planned, "min_steps": min_steps}


def open_predict_file(script_args: ClassificationArguments, columns: tuple[str, str | None]):
    """The rows of `--predict_file`, lazily: (rows, id columns, row count). `columns`: its first and second text
    column (None: single texts)."""
    from .predict import open_pairs, open_texts

    text_a, text_b = columns
    if text_b is None:
        return open_texts(script_args.predict_file, text_a)
    return open_pairs(script_args.predict_file, script_args.data_dir, text_a, text_b)


def check_predict_file(script_args: ClassificationArguments, output_dir: str, columns) -> str | None:
    """Read every row of the file to classify after training now (`open_predict_file`, as prediction will), so a
    missing file, column or bad row stops the run before training; refuse a predictions path that is the input.
    Returns the predictions path."""
    from .outputs import check_output_file

    if not script_args.predict_file:
        return None
    path = script_args.predictions_path or os.path.join(output_dir, "predictions.tsv")
    check_output_file(
        path,
        {
            "predict_file": script_args.predict_file,
            "dataset_name": script_args.dataset_name,
            "validation_file": script_args.validation_file,
        },
        "predictions_path",
        {"output_dir": output_dir},
    )
    rows, _, _ = open_predict_file(script_args, columns)
    logger.info(f"{script_args.predict_file}: {sum(1 for _ in rows)} rows to classify after training")
    return path


def load_model(model_name_or_path: str, training_args: "SCLConfig", positive_name: str = "match"):
    """The model of `training_args.architecture` for the classes `training_args.label_names`, and its tokenizer."""
    from transformers import AutoTokenizer

    from .architectures import ARCHITECTURES
    from .utils import from_pretrained

    architecture = ARCHITECTURES[training_args.architecture]
    model = architecture.load(model_name_or_path, training_args.label_names, positive_name)
    return model, from_pretrained(AutoTokenizer, model_name_or_path)


def validation_summary(metrics: dict[str, float]) -> str:
    """One log line of the kept model's validation scores beside its baselines."""
    if "eval_roc_auc" in metrics and "eval_f1_at_0.5" in metrics:  # two classes of pairs: the seed's task
        at_threshold = (
            f"{metrics['eval_f1_at_threshold']:.4f} at the tuned threshold {metrics['eval_threshold']:.4f}"
            if metrics.get("eval_threshold_tuned")
            else "the threshold was not tuned (too few validation pairs of a class)"
        )
        line = (
            f"validation F1: {metrics['eval_f1_at_0.5']:.4f} at threshold 0.5, {at_threshold} (ROC-AUC "
            f"{metrics['eval_roc_auc']:.4f}, AP {metrics['eval_average_precision']:.4f})"
        )
        if "baseline_zero_shot_roc_auc" in metrics:
            line += (
                f"; baselines: majority class F1 {metrics['baseline_majority_f1']:.4f}; untouched encoder's cosine "
                f"ROC-AUC {metrics['baseline_zero_shot_roc_auc']:.4f}, AP "
                f"{metrics['baseline_zero_shot_average_precision']:.4f}, F1 {metrics['baseline_zero_shot_f1']:.4f} at "
                "its tuned cosine threshold"
            )
        return line
    accuracy = metrics.get("eval_accuracy", metrics.get("eval_accuracy_at_threshold"))
    macro_f1 = metrics.get("eval_macro_f1", metrics.get("eval_macro_f1_at_threshold"))
    line = f"validation accuracy {accuracy:.4f}, macro-F1 {macro_f1:.4f}"
    if "baseline_frozen_lr_accuracy" in metrics:
        line += (
            f"; baselines: majority class accuracy {metrics['baseline_majority_accuracy']:.4f}, frozen encoder + "
            f"logistic regression accuracy {metrics['baseline_frozen_lr_accuracy']:.4f}, macro-F1 "
            f"{metrics['baseline_frozen_lr_macro_f1']:.4f}"
        )
    return line


@dataclass
class CheckedRun:
    """What `check_classifier` read and decided before anything is written or loaded."""

    splits: "datasets.DatasetDict"
    data_summary: dict
    single_text: bool
    predictions_path: str | None
    metrics: set[str]  # the metric names (without `eval_`) the run's evaluations report


def check_classifier(
    script_args: ClassificationArguments,
    model_args,
    training_args: "SCLConfig",
    load_data: Callable,
    predict_columns: tuple[str, str | None],
) -> CheckedRun:
    """Every check of a classification run that needs no output dir, in the order the run meets them: the data
    (`load_data(script_args, training_args)` -> (splits, data summary); it sets the classes), the task against the
    architecture and the base model (its configuration and pooling files, no weights), the metric that picks the
    checkpoint, the file to classify after training. The run calls it before training; `compare` calls it for every
    run before the first one trains, so an arm's bad data, architecture or metric is found up front."""
    from .architectures import ARCHITECTURES

    splits, data_summary = load_data(script_args, training_args)
    single_text = "text_a" not in splits["train"].column_names
    names = training_args.label_names
    num_logits = len(names) if names and len(names) > 2 else 1
    architecture = ARCHITECTURES[training_args.architecture]
    architecture.check_task(training_args, single_text, num_logits)
    architecture.check_base(model_args.model_name_or_path, names)
    metrics = training_args.fit_to_task(num_logits)
    if (predict_columns[1] is None) != single_text:
        kind = "single texts" if single_text else "pairs"
        raise ConfigError(f"--predict_file: the model classifies {kind}; its columns {predict_columns} are not")
    predictions_path = check_predict_file(script_args, training_args.output_dir, predict_columns)
    return CheckedRun(splits, data_summary, single_text, predictions_path, metrics)


def run_classifier(
    script_args: ClassificationArguments,
    model_args,
    training_args: "SCLConfig",
    load_data: Callable,
    predict_columns: tuple[str, str | None],
    world_size: int,
    callbacks: list | None = None,
) -> dict[str, float]:
    """One run of a classification recipe: `check_classifier`, the model (the positive class named
    `model_args.label_name` when it has one), training, evaluation, the saved run, and predictions of
    `script_args.predict_file` (its text columns `predict_columns`, the second None for single texts) when asked.
    `world_size`: the processes the launcher started; `callbacks`: more `TrainerCallback`s for the Trainer."""
    from transformers import set_seed

    from .predict import predict_pairs
    from .scl_trainer import SCLTrainer

    # The recipe's logger is the module of its functions (`__main__` when launched).
    start_run(script_args, training_args, load_data.__module__, world_size, model_args.model_name_or_path)
    checked = check_classifier(script_args, model_args, training_args, load_data, predict_columns)
    splits, data_summary, predictions_path = checked.splits, checked.data_summary, checked.predictions_path
    logger.info(f"{script_args.dataset_name}: {data_summary}")
    small_data = None
    if "validation" not in splits:  # the small-data policy (`hold_out_validation`)
        small_data = small_data_steps(training_args, len(splits["train"]), script_args.small_data_min_steps,
                                      world_size)  # fmt: skip
        small_data["per_class"] = script_args.small_data_per_class
    set_seed(training_args.seed)  # before any new weights (the classification head) are initialised
    positive_name = getattr(model_args, "label_name", "match")
    model, tokenizer = load_model(model_args.model_name_or_path, training_args, positive_name)

    trainer = SCLTrainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"],
        eval_dataset=splits.get("validation"),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.save_metrics("data", data_summary)
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_metrics("train", train_result.metrics)

    # Evaluate the weights in hand (the best checkpoint with load_best_model_at_end): it also tunes the threshold.
    if small_data:
        trainer.refresh_head()  # as an evaluation would before export (e.g. the embedding head refit)
    metrics = {} if small_data else trainer.evaluate()
    metrics["kept_base_model"] = float(trainer.kept_base_model)  # 1: the untouched model beat every checkpoint
    if not small_data:
        logger.info(validation_summary(metrics))
    card = validation_card(
        script_args.dataset_name, script_args.validation_file, script_args.validation_size, training_args.seed
    )  # what validation measured
    card["small_data"] = small_data
    finish_run(trainer, metrics, script_args, script_args.dataset_name, **card)

    if script_args.predict_file and trainer.accelerator.is_main_process:
        rows, id_columns, total = open_predict_file(script_args, predict_columns)
        n = predict_pairs(
            trainer.model,
            tokenizer,
            rows,
            predictions_path,
            max_length=training_args.max_length,
            id_columns=id_columns,
            batch_size=training_args.per_device_eval_batch_size,
            total=total,
        )
        logger.info(f"wrote {n} predictions to {predictions_path}")
    end_run(trainer)  # all processes leave together (the main process predicted alone)
    return metrics


def truncated_splits(splits: "datasets.DatasetDict", script_args: RunArguments) -> "datasets.DatasetDict":
    """The splits cut to `max_train_samples` / `max_eval_samples` (quick runs)."""
    splits["train"] = truncate(splits["train"], script_args.max_train_samples)
    if "validation" in splits:  # none under the small-data policy
        splits["validation"] = truncate(splits["validation"], script_args.max_eval_samples)
    return splits


def classification_recipe(
    script_arguments: type, model_arguments: type, load_data: Callable, predict_columns: Callable, launched: Callable
) -> tuple[Callable, Callable, Callable]:
    """A classification recipe's entry points: `main(script_args, model_args, training_args, callbacks=None)`, one
    run (`run_classifier`; the output dir it locks is released when it returns or fails); `parser()`, its
    YAML-config + flags parser over `script_arguments`, `model_arguments` and `SCLConfig`; `check(script_args,
    model_args, training_args)`, the run's checks (`check_classifier`) with nothing written, returning the metric
    names its evaluations report. `predict_columns(script_args)`: the text columns of `--predict_file`;
    `launched()`: the number of processes the launcher started (the recipe reads it from its environment)."""

    @recipe_main
    def main(script_args, model_args, training_args: SCLConfig, callbacks: list | None = None) -> dict[str, float]:
        columns = predict_columns(script_args)
        return run_classifier(script_args, model_args, training_args, load_data, columns, launched(), callbacks)

    def parser() -> ConfigArgumentParser:
        return ConfigArgumentParser((script_arguments, model_arguments, SCLConfig))

    def check(script_args, model_args, training_args: SCLConfig) -> set[str]:
        columns = predict_columns(script_args)
        return check_classifier(script_args, model_args, training_args, load_data, columns).metrics

    return main, parser, check
