"""Classification of single texts or text pairs into K >= 2 classes: CE (BCE for two) + scl_weight x SupCon on [CLS].

    python recipes/supcon_classify.py --config recipes/supcon_classify/trec_minilm.yaml
    python recipes/supcon_classify.py --config recipes/supcon_classify/sick_minilm.yaml --samples_per_class 64

Gunel et al. (ICLR 2021)'s setting, measured against SetFit by `make classify-evidence`. Any field of
`ScriptArguments`, `ModelArguments` or `SCLConfig` (so any `TrainingArguments` field) can be set in the YAML config and
overridden by a flag. See recipes/supcon_classify/README.md.
"""

import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# Module level: only what the arguments need, so `--help` and an argument error answer before the training stack
# loads (datasets, the Trainer, scikit-learn); the functions below import what they use.
from scl_trainer.errors import ConfigError, DataError
from scl_trainer.parser import ConfigArgumentParser
from scl_trainer.recipe_setup import (
    ModelArguments,
    RunArguments,
    end_run,
    finish_run,
    recipe_main,
    run_recipe,
    start_run,
    truncate,
    validation_card,
)
from scl_trainer.scl_config import SCLConfig

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

# Metrics of a run's eval_results.json that `python -m scl_trainer compare` reports beside metric_for_best_model. The
# validation data picked the checkpoint (and for two classes the threshold), so every validation metric is optimistic
# alike; accuracy is reported beside the macro-F1 that picks.
UNBIASED_METRICS = ()


@dataclass
class ScriptArguments(RunArguments):
    dataset_name: str = field(
        default="trec",
        metadata={
            "help": "`trec`, `sst2`, `cr`, `subj` (single texts) or `sick` (3-class entailment pairs), read from "
            "data_dir; or a .csv/.tsv/.jsonl file with a header."
        },
    )
    text_column: str = field(default="text", metadata={"help": "Text column of a file (the first text of a pair)."})
    text_b_column: str | None = field(
        default=None, metadata={"help": "Second-text column of a file of pairs. Default: single texts."}
    )
    label_column: str = field(default="label", metadata={"help": "Label column of a file: class names or integers."})
    validation_file: str | None = field(
        default=None,
        metadata={
            "help": "Validation data: a .csv/.tsv/.jsonl file (columns as for training; a label outside the training "
            "data's classes is an error). Default: hold out `validation_size` of the training data."
        },
    )
    validation_size: float = field(
        default=0.1,
        metadata={"help": "Share of the training data held out for validation (stratified by class)."},
    )
    samples_per_class: int | None = field(
        default=None,
        metadata={
            "help": "Few-shot regime: train on K examples of every class of the training split, drawn seeded by "
            "--seed (SetFit's sample_dataset); a smaller class keeps all its rows (logged). Validation is untouched."
        },
    )
    label_noise: float = field(
        default=0.0,
        metadata={
            "help": "Label-noise regime: give exactly round(P x N) training rows (after --samples_per_class), chosen "
            "by --seed, another class drawn uniformly; logged and saved in data_results.json."
        },
    )
    drop_empty_texts: bool = field(
        default=False, metadata={"help": "Drop rows with an empty text (logged with their rows) instead of stopping."}
    )
    predict_file: str | None = field(
        default=None,
        metadata={
            "help": "Unlabelled rows (a .csv/.tsv/.jsonl file, columns as for training) to classify after training."
        },
    )
    predictions_path: str | None = field(
        default=None, metadata={"help": "Where to write predictions. Default: <output_dir>/predictions.tsv."}
    )

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.validation_size < 1.0:
            raise ConfigError(f"validation_size must be a fraction in (0, 1), got {self.validation_size}")
        if self.samples_per_class is not None and not self.samples_per_class >= 1:
            raise ConfigError(f"samples_per_class must be >= 1, got {self.samples_per_class}")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ConfigError(f"label_noise must be a fraction in [0, 1], got {self.label_noise}")


def load_splits(
    script_args: ScriptArguments, training_args: SCLConfig, seed: int
) -> tuple["datasets.DatasetDict", int]:
    """Training and validation rows (`text` or `text_a`/`text_b`, `label` as a class index) after the regime flags,
    and how many training labels were changed. Sets `training_args.label_names` (the classes, in index order) from
    the training data unless given."""
    import datasets

    from scl_trainer.classification_data import class_names, encode_labels, load_labelled
    from scl_trainer.splits import flip_labels, sample_per_class, split_train_validation

    read = dict(
        data_dir=script_args.data_dir,
        text_column=script_args.text_column,
        text_b_column=script_args.text_b_column,
        label_column=script_args.label_column,
        empty_texts="drop" if script_args.drop_empty_texts else "error",
    )
    name = script_args.dataset_name
    train = load_labelled(name, **read)
    names = class_names(train["label"], training_args.label_names, name)
    training_args.label_names = names
    if script_args.validation_file and os.path.realpath(script_args.validation_file) == os.path.realpath(name):
        logger.warning(
            f"--validation_file {script_args.validation_file} is the training file: validation measures the "
            "training rows themselves (optimistic); hold data out instead (--validation_size)"
        )
    if script_args.validation_file:
        validation = load_labelled(script_args.validation_file, **read, classes=names)
        splits = datasets.DatasetDict(train=train, validation=validation)
    else:
        try:
            splits = split_train_validation(train, script_args.validation_size, seed)
        except ValueError as e:  # scikit-learn: a class too small to stratify
            raise DataError(f"{name}: cannot hold out validation_size={script_args.validation_size}: {e}") from None
    splits = datasets.DatasetDict({split: encode_labels(rows, names, split) for split, rows in splits.items()})
    if script_args.samples_per_class is not None:
        splits["train"] = sample_per_class(splits["train"], script_args.samples_per_class, seed)
    flipped = []
    if script_args.label_noise:
        splits["train"], flipped = flip_labels(splits["train"], script_args.label_noise, seed, len(names))
        logger.info(f"label noise {script_args.label_noise}: changed {len(flipped)} of {len(splits['train'])} labels")
    splits["train"] = truncate(splits["train"], script_args.max_train_samples)
    splits["validation"] = truncate(splits["validation"], script_args.max_eval_samples)
    for split, rows in splits.items():
        missing = [names[i] for i in range(len(names)) if i not in set(rows["label"])]
        if missing and split == "train":
            raise DataError(f"{name}: the training split has no row of the class(es) {missing}")
        if missing:
            logger.warning(f"{name}: the validation split has no row of the class(es) {missing}")
    return splits, len(flipped)


def check_predict_file(script_args: ScriptArguments, output_dir: str) -> str | None:
    """Read every row of the file to classify after training now (a missing file, column or bad row stops the run
    before training); refuse a predictions path that is the input. Returns the predictions path."""
    from scl_trainer.classification_data import iter_labelled
    from scl_trainer.outputs import check_output_file

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
    rows = iter_labelled(
        script_args.predict_file,
        text_column=script_args.text_column,
        text_b_column=script_args.text_b_column,
        label_column=None,
        empty_texts="keep",
    )
    logger.info(f"{script_args.predict_file}: {sum(1 for _ in rows)} rows to classify after training")
    return path


@recipe_main
def main(
    script_args: ScriptArguments,
    model_args: ModelArguments,
    training_args: SCLConfig,
    callbacks: list | None = None,
) -> dict[str, float]:
    """One run: data, model, training, evaluation, the saved run (and predictions when asked). `callbacks`: more
    `TrainerCallback`s for the Trainer."""
    from transformers import AutoTokenizer, set_seed

    from scl_trainer.classifier import load_classifier
    from scl_trainer.predict import open_pairs, open_texts, predict_pairs
    from scl_trainer.scl_trainer import SCLTrainer
    from scl_trainer.utils import from_pretrained

    if training_args.architecture != "cross_encoder":
        raise ConfigError("supcon_classify reads every text (pair) as one sequence: --architecture cross_encoder")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    start_run(script_args, training_args, __name__, world_size, model_args.model_name_or_path)
    splits, flipped = load_splits(script_args, training_args, training_args.seed)
    predictions_path = check_predict_file(script_args, training_args.output_dir)  # before training, not after
    names = training_args.label_names
    counts = {split: Counter(rows["label"]) for split, rows in splits.items()}
    data_summary = {
        "classes": len(names),
        **{f"{split}_rows": len(rows) for split, rows in splits.items()},
        **{f"{split}_{names[i]}": counts[split][i] for split in splits for i in range(len(names))},
        "label_noise_changed": len(flipped) if flipped else 0,
    }
    logger.info(f"{script_args.dataset_name}: {data_summary}")
    set_seed(training_args.seed)  # before any new weights (the classification head) are initialised
    model = load_classifier(model_args.model_name_or_path, names)
    tokenizer = from_pretrained(AutoTokenizer, model_args.model_name_or_path)

    trainer = SCLTrainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"],
        eval_dataset=splits["validation"],
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.save_metrics("data", data_summary)
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_metrics("train", train_result.metrics)

    metrics = trainer.evaluate()  # the weights in hand (the best checkpoint with load_best_model_at_end)
    accuracy = metrics.get("eval_accuracy", metrics.get("eval_accuracy_at_threshold"))
    macro_f1 = metrics.get("eval_macro_f1", metrics.get("eval_macro_f1_at_threshold"))
    logger.info(
        f"validation accuracy {accuracy:.4f}, macro-F1 {macro_f1:.4f}; baselines: majority class accuracy "
        f"{metrics['baseline_majority_accuracy']:.4f}, frozen encoder + logistic regression accuracy "
        f"{metrics['baseline_frozen_lr_accuracy']:.4f}, macro-F1 {metrics['baseline_frozen_lr_macro_f1']:.4f}"
    )
    card = validation_card(script_args.dataset_name, script_args.validation_file)  # what validation measured
    finish_run(trainer, metrics, script_args, script_args.dataset_name, **card)

    if script_args.predict_file and trainer.accelerator.is_main_process:
        if script_args.text_b_column is None:
            rows, id_columns, total = open_texts(script_args.predict_file, script_args.text_column)
        else:
            rows, id_columns, total = open_pairs(
                script_args.predict_file, script_args.data_dir, script_args.text_column, script_args.text_b_column
            )
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


def parser() -> ConfigArgumentParser:
    return ConfigArgumentParser((ScriptArguments, ModelArguments, SCLConfig))


if __name__ == "__main__":
    run_recipe(main, parser(), sys.argv[1:], debug=os.environ.get("SCL_TRAINER_DEBUG") == "1")
