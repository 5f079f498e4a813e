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
from scl_trainer.classification_recipe import ClassificationArguments, classification_recipe, truncated_splits
from scl_trainer.errors import ConfigError, DataError
from scl_trainer.recipe_setup import ModelArguments as EncoderArguments
from scl_trainer.recipe_setup import run_recipe
from scl_trainer.scl_config import SCLConfig

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

# Metrics of a run's eval_results.json that `python -m scl_trainer compare` reports beside metric_for_best_model: that
# one picked the checkpoint (and for pairs the threshold) on the same data, so it is optimistic; these are not tuned.
UNBIASED_METRICS = ("eval_f1_at_0.5",)

DATASETS = (
    "`mrpc` (the MSR paraphrase file in data_dir), `ccf_qa_match` (the CCF QA-matching files in data_dir), a "
    ".csv/.tsv/.jsonl file with a header, or a Hugging Face Hub dataset id."
)


@dataclass
class ScriptArguments(ClassificationArguments):
    dataset_name: str = field(default="mrpc", metadata={"help": DATASETS})
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
    train_size: int | None = field(
        default=None,
        metadata={
            "help": "Few-shot regime: train on N pairs of the training split, drawn class-balanced (N/2 per label) "
            "and seeded by --seed; the validation split is untouched."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.train_size is not None and not self.train_size >= 2:
            raise ConfigError(f"train_size must be >= 2 (one pair of each class), got {self.train_size}")


@dataclass
class ModelArguments(EncoderArguments):
    label_name: str = field(
        default="match", metadata={"help": "Name of the positive class, shown by pipeline('text-classification')."}
    )


def load_splits(script_args: ScriptArguments, seed: int) -> tuple["datasets.DatasetDict", int]:
    """Training and validation pairs (`text_a`, `text_b`, `label`) of the chosen dataset, after the regime flags
    (`train_size`, `label_noise`), and how many training labels were flipped."""
    from scl_trainer.classification_recipe import hold_out_validation
    from scl_trainer.data import load_pairs, source_kind
    from scl_trainer.splits import (
        balanced_subsample,
        find_label_conflicts,
        flip_labels,
        split_by_group,
        split_train_validation,
    )

    name = script_args.dataset_name
    read = script_args.read_options(
        text_a_column=script_args.text_a_column,
        text_b_column=script_args.text_b_column,
        dataset_config=script_args.dataset_config,
        positive_label=script_args.positive_label,
    )
    train = load_pairs(name, split="train", **read)

    def read_validation():  # a split name for a hub dataset, a file for everything else
        if source_kind(name) == "hub":
            return load_pairs(name, split=script_args.validation_file, **read)
        return load_pairs(script_args.validation_file, **read)

    def split(rows):
        if name == "ccf_qa_match":
            return split_by_group(rows, "query_id", script_args.validation_size, seed)
        return split_train_validation(rows, script_args.validation_size, seed)

    conflicts = find_label_conflicts(train)
    if conflicts:
        example = next(iter(conflicts))
        logger.warning(
            f"{name}: {len(conflicts)} text pairs occur with both labels ({sum(conflicts.values())} rows), data "
            f"conflicts kept as they are; e.g. {example!r}"
        )
    splits, held_out = hold_out_validation(train, script_args, read_validation, split, "pairs")
    for split_name, rows in splits.items():  # both classes on both sides, or the run cannot learn, tune or be measured
        counts = {label: rows["label"].count(label) for label in (0, 1)}
        if min(counts.values()) == 0:
            raise DataError(
                f"{name}: the {split_name} split ({held_out}) has {counts[1]} positive and {counts[0]} negative "
                "pairs; it needs both classes. Choose a validation_size that leaves each class on both sides, or more "
                "data."
            )
    if script_args.train_size is not None:
        splits["train"] = balanced_subsample(splits["train"], script_args.train_size, seed)
    flipped = []
    if script_args.label_noise:
        splits["train"], flipped = flip_labels(splits["train"], script_args.label_noise, seed)
        logger.info(
            f"label noise {script_args.label_noise}: flipped {len(flipped)} of {len(splits['train'])} training labels"
        )
    return truncated_splits(splits, script_args), len(flipped)


def load_data(script_args: ScriptArguments, training_args: SCLConfig) -> tuple["datasets.DatasetDict", dict]:
    """The splits and what the run records about them (`data_results.json`)."""
    splits, flipped = load_splits(script_args, training_args.seed)
    summary = {
        "train_pairs": len(splits["train"]),
        "train_positives": int(sum(splits["train"]["label"])),
        "validation_pairs": len(splits["validation"]) if "validation" in splits else 0,  # 0: small data
        "validation_positives": int(sum(splits["validation"]["label"])) if "validation" in splits else 0,
        "label_noise_flipped": flipped,
    }
    return splits, summary


# `main(script_args, model_args, training_args, callbacks=None)`: one run; `parser()`: the YAML + flags parser;
# `check(script_args, model_args, training_args)`: the run's checks before training, for `compare`.
main, parser, check = classification_recipe(
    ScriptArguments, ModelArguments, load_data, predict_columns=lambda args: (args.text_a_column, args.text_b_column),
    launched=lambda: int(os.environ.get("WORLD_SIZE", "1")),
)  # fmt: skip


if __name__ == "__main__":
    run_recipe(main, parser(), sys.argv[1:], debug=os.environ.get("SCL_TRAINER_DEBUG") == "1")
