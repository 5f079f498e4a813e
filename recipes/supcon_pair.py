"""Supervised pair classification: BCE on a one-logit head + scl_weight x SupCon on [CLS] (`SCLTrainer`).

    python recipes/supcon_pair.py --config recipes/supcon_pair/mrpc_minilm.yaml
    accelerate launch recipes/supcon_pair.py --config recipes/supcon_pair/ccf_qa_match.yaml --output_dir out/ccf

Any field of `ScriptArguments`, `ModelArguments` or `SCLConfig` (so any `TrainingArguments` field) can be set in the
YAML config and overridden by a flag. See recipes/supcon_pair/README.md.
"""

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# Module level: only what the arguments need, so `--help` and an argument error answer before the training stack
# loads (datasets, the Trainer, scikit-learn); the functions below import what they use.
from scl_trainer.errors import ConfigError, DataError
from scl_trainer.parser import ConfigArgumentParser
from scl_trainer.recipe_setup import ModelArguments as EncoderArguments
from scl_trainer.recipe_setup import (
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

# Metrics of a run's eval_results.json that `python -m scl_trainer compare` reports beside metric_for_best_model: that
# one picked the checkpoint (and for pairs the threshold) on the same data, so it is optimistic; these are not tuned.
UNBIASED_METRICS = ("eval_f1_at_0.5",)


@dataclass
class ScriptArguments(RunArguments):
    dataset_name: str = field(
        default="mrpc",
        metadata={
            "help": "`mrpc` (the MSR paraphrase file in data_dir), `ccf_qa_match` (the CCF QA-matching files in "
            "data_dir), a .csv/.tsv/.jsonl file with a header, or a Hugging Face Hub dataset id."
        },
    )
    text_a_column: str = field(default="text_a", metadata={"help": "First-text column of a file or hub dataset."})
    text_b_column: str = field(default="text_b", metadata={"help": "Second-text column of a file or hub dataset."})
    label_column: str = field(
        default="label", metadata={"help": "Label column of a file or hub dataset: 0/1 (or names: --positive_label)."}
    )
    positive_label: str | None = field(
        default=None,
        metadata={
            "help": "For labels given as names (match/no_match, yes/no, true/false): the one that means a positive "
            "pair (1); the one other label of the file is 0, a third is an error. Default: labels must be 0/1."
        },
    )
    validation_file: str | None = field(
        default=None,
        metadata={
            "help": "Validation data: a .csv/.tsv/.jsonl file (columns as for training), or a split name of a hub "
            "dataset. Default: hold out `validation_size` of the training data."
        },
    )
    validation_size: float = field(
        default=0.1,
        metadata={
            "help": "Share of the training data held out for validation when no validation_file is given. Grouped "
            "by query id for ccf_qa_match (no query in both splits), stratified by label otherwise."
        },
    )
    train_size: int | None = field(
        default=None,
        metadata={
            "help": "Few-shot regime: train on N pairs of the training split, drawn class-balanced (N/2 per label) "
            "and seeded by --seed; the validation split is untouched."
        },
    )
    label_noise: float = field(
        default=0.0,
        metadata={
            "help": "Label-noise regime: flip the labels of exactly round(P x N) training pairs (after --train_size), "
            "chosen by --seed; the validation split is untouched. The count is logged and saved in data_results.json."
        },
    )
    drop_empty_texts: bool = field(
        default=False,
        metadata={"help": "Drop rows with an empty text (logged with their row numbers) instead of stopping."},
    )
    predict_file: str | None = field(
        default=None,
        metadata={
            "help": "Unlabelled pairs to predict after training: `ccf_qa_match` (its test.query/test.reply files, "
            "written in the competition format query_id<TAB>reply_id<TAB>label) or a .csv/.tsv/.jsonl file."
        },
    )
    predictions_path: str | None = field(
        default=None, metadata={"help": "Where to write predictions. Default: <output_dir>/predictions.tsv."}
    )

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.validation_size < 1.0:
            raise ConfigError(f"validation_size must be a fraction in (0, 1), got {self.validation_size}")
        if self.train_size is not None and not self.train_size >= 2:
            raise ConfigError(f"train_size must be >= 2 (one pair of each class), got {self.train_size}")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ConfigError(f"label_noise must be a fraction in [0, 1], got {self.label_noise}")


@dataclass
class ModelArguments(EncoderArguments):
    label_name: str = field(
        default="match", metadata={"help": "Name of the positive class, shown by pipeline('text-classification')."}
    )


def load_splits(script_args: ScriptArguments, seed: int) -> tuple["datasets.DatasetDict", int]:
    """Training and validation pairs (`text_a`, `text_b`, `label`) of the chosen dataset, after the regime flags
    (`train_size`, `label_noise`), and how many training labels were flipped."""
    import datasets

    from scl_trainer.data import load_pairs, source_kind
    from scl_trainer.splits import (
        balanced_subsample,
        find_label_conflicts,
        flip_labels,
        split_by_group,
        split_train_validation,
    )

    name = script_args.dataset_name
    read = dict(
        data_dir=script_args.data_dir,
        text_a_column=script_args.text_a_column,
        text_b_column=script_args.text_b_column,
        label_column=script_args.label_column,
        empty_texts="drop" if script_args.drop_empty_texts else "error",
        dataset_config=script_args.dataset_config,
        positive_label=script_args.positive_label,
    )
    train = load_pairs(name, split="train", **read)
    validation = None
    if script_args.validation_file and os.path.realpath(script_args.validation_file) == os.path.realpath(name):
        logger.warning(
            f"--validation_file {script_args.validation_file} is the training file: validation measures the "
            "training pairs themselves (optimistic); hold data out instead (--validation_size)"
        )
    if script_args.validation_file:  # a split name for a hub dataset, a file for everything else
        if source_kind(name) == "hub":
            validation = load_pairs(name, split=script_args.validation_file, **read)
        else:
            validation = load_pairs(script_args.validation_file, **read)

    conflicts = find_label_conflicts(train)
    if conflicts:
        example = next(iter(conflicts))
        logger.warning(
            f"{name}: {len(conflicts)} text pairs occur with both labels ({sum(conflicts.values())} rows), data "
            f"conflicts kept as they are; e.g. {example!r}"
        )
    held_out = f"validation_size={script_args.validation_size} of {len(train)} pairs"
    if validation is not None:
        splits = datasets.DatasetDict(train=train, validation=validation)
        held_out = f"--validation_file {script_args.validation_file}"
    else:
        try:
            if name == "ccf_qa_match":
                splits = split_by_group(train, "query_id", script_args.validation_size, seed)
            else:
                splits = split_train_validation(train, script_args.validation_size, seed)
        except ValueError as e:  # scikit-learn: a split that would be empty, a class too small to stratify
            raise DataError(f"{name}: cannot hold out {held_out}: {e}") from None
    for split, rows in splits.items():  # both classes on both sides, or the run cannot learn, tune or be measured
        counts = {label: rows["label"].count(label) for label in (0, 1)}
        if min(counts.values()) == 0:
            raise DataError(
                f"{name}: the {split} split ({held_out}) has {counts[1]} positive and {counts[0]} negative pairs; "
                "it needs both classes. Choose a validation_size that leaves each class on both sides, or more data."
            )
    if script_args.train_size is not None:
        splits["train"] = balanced_subsample(splits["train"], script_args.train_size, seed)
    flipped = []
    if script_args.label_noise:
        splits["train"], flipped = flip_labels(splits["train"], script_args.label_noise, seed)
        logger.info(
            f"label noise {script_args.label_noise}: flipped {len(flipped)} of {len(splits['train'])} training labels"
        )
    splits["train"] = truncate(splits["train"], script_args.max_train_samples)
    splits["validation"] = truncate(splits["validation"], script_args.max_eval_samples)
    return splits, len(flipped)


def check_predict_file(script_args: ScriptArguments, output_dir: str) -> str | None:
    """Read every row of the file to predict after training now, so a missing file, column or bad row stops the
    run before training; refuse a predictions path that is the input. Returns the predictions path."""
    from scl_trainer.outputs import check_output_file
    from scl_trainer.predict import open_pairs

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
    pairs, _, _ = open_pairs(
        script_args.predict_file, script_args.data_dir, script_args.text_a_column, script_args.text_b_column
    )
    rows = sum(1 for _ in pairs)
    logger.info(f"{script_args.predict_file}: {rows} pairs to predict after training")
    return path


def load_model(model_args: ModelArguments, architecture: str):
    from transformers import AutoTokenizer

    from scl_trainer.bi_encoder import load_bi_encoder
    from scl_trainer.classifier import load_pair_classifier
    from scl_trainer.utils import from_pretrained

    if architecture == "bi_encoder":
        model = load_bi_encoder(model_args.model_name_or_path)
    else:
        model = load_pair_classifier(model_args.model_name_or_path, model_args.label_name)
    return model, from_pretrained(AutoTokenizer, model_args.model_name_or_path)


@recipe_main
def main(
    script_args: ScriptArguments,
    model_args: ModelArguments,
    training_args: SCLConfig,
    callbacks: list | None = None,
) -> dict[str, float]:
    """One run: data, model, training, evaluation, the saved run (and predictions when asked). `callbacks`: more
    `TrainerCallback`s for the Trainer."""
    from transformers import set_seed

    from scl_trainer.predict import open_pairs, predict_pairs
    from scl_trainer.scl_trainer import SCLTrainer

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    start_run(script_args, training_args, __name__, world_size, model_args.model_name_or_path)
    splits, flipped = load_splits(script_args, training_args.seed)
    predictions_path = check_predict_file(script_args, training_args.output_dir)  # before training, not after
    data_summary = {
        "train_pairs": len(splits["train"]),
        "train_positives": int(sum(splits["train"]["label"])),
        "validation_pairs": len(splits["validation"]),
        "validation_positives": int(sum(splits["validation"]["label"])),
        "label_noise_flipped": flipped,
    }
    logger.info(f"{script_args.dataset_name}: {data_summary}")
    set_seed(training_args.seed)  # before any new weights (the classification head) are initialised
    model, tokenizer = load_model(model_args, training_args.architecture)

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

    # Evaluate the weights in hand (the best checkpoint with load_best_model_at_end): it also tunes the threshold.
    metrics = trainer.evaluate()
    metrics["kept_base_model"] = float(trainer.kept_base_model)  # 1: the untouched bi-encoder beat every checkpoint
    at_threshold = (
        f"{metrics['eval_f1_at_threshold']:.4f} at the tuned threshold {metrics['eval_threshold']:.4f}"
        if metrics.get("eval_threshold_tuned")
        else "the threshold was not tuned (too few validation pairs of a class)"
    )
    logger.info(
        f"validation F1: {metrics['eval_f1_at_0.5']:.4f} at threshold 0.5, {at_threshold} (ROC-AUC "
        f"{metrics['eval_roc_auc']:.4f}, AP {metrics['eval_average_precision']:.4f})"
    )
    if trainer.baselines:
        logger.info(
            f"baselines: majority class F1 {metrics['baseline_majority_f1']:.4f}; untouched encoder's cosine ROC-AUC "
            f"{metrics['baseline_zero_shot_roc_auc']:.4f}, AP {metrics['baseline_zero_shot_average_precision']:.4f}, "
            f"F1 {metrics['baseline_zero_shot_f1']:.4f} at its tuned cosine threshold"
        )
    card = validation_card(script_args.dataset_name, script_args.validation_file)  # what validation measured
    finish_run(trainer, metrics, script_args, script_args.dataset_name, **card)

    if script_args.predict_file and trainer.accelerator.is_main_process:
        pairs, id_columns, total = open_pairs(
            script_args.predict_file, script_args.data_dir, script_args.text_a_column, script_args.text_b_column
        )
        n = predict_pairs(
            trainer.model,
            tokenizer,
            pairs,
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
