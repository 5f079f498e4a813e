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
from scl_trainer.classification_recipe import ClassificationArguments, classification_recipe, truncated_splits
from scl_trainer.errors import ConfigError, DataError
from scl_trainer.recipe_setup import ModelArguments, run_recipe
from scl_trainer.scl_config import SCLConfig

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

# Metrics of a run's eval_results.json that `python -m scl_trainer compare` reports beside metric_for_best_model. The
# validation data picked the checkpoint (and for two classes the threshold), so every validation metric is optimistic
# alike; accuracy is reported beside the macro-F1 that picks.
UNBIASED_METRICS = ()


@dataclass
class ScriptArguments(ClassificationArguments):
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
    samples_per_class: int | None = field(
        default=None,
        metadata={
            "help": "Few-shot regime: train on K examples of every class of the training split, drawn seeded by "
            "--seed (SetFit's sample_dataset); a smaller class keeps all its rows (logged). Validation is untouched."
        },
    )
    label_column: str = field(default="label", metadata={"help": "Label column of a file: class names or integers."})

    def __post_init__(self):
        super().__post_init__()
        if self.samples_per_class is not None and not self.samples_per_class >= 1:
            raise ConfigError(f"samples_per_class must be >= 1, got {self.samples_per_class}")


def load_splits(
    script_args: ScriptArguments, training_args: SCLConfig, seed: int
) -> tuple["datasets.DatasetDict", int]:
    """Training and validation rows (`text` or `text_a`/`text_b`, `label` as a class index) after the regime flags,
    and how many training labels were changed. Sets `training_args.label_names` (the classes, in index order) from
    the training data unless given."""
    import datasets

    from scl_trainer.classification_data import class_names, encode_labels, load_labelled
    from scl_trainer.classification_recipe import hold_out_validation
    from scl_trainer.splits import flip_labels, sample_per_class, split_train_validation

    read = script_args.read_options(text_column=script_args.text_column, text_b_column=script_args.text_b_column)
    name = script_args.dataset_name
    train = load_labelled(name, **read)
    names = class_names(train["label"], training_args.label_names, name)
    training_args.label_names = names
    splits, _ = hold_out_validation(
        train,
        script_args,
        lambda: load_labelled(script_args.validation_file, **read, classes=names),
        lambda rows: split_train_validation(rows, script_args.validation_size, seed),
    )
    splits = datasets.DatasetDict({split: encode_labels(rows, names, split) for split, rows in splits.items()})
    if script_args.samples_per_class is not None:
        splits["train"] = sample_per_class(splits["train"], script_args.samples_per_class, seed)
    flipped = []
    if script_args.label_noise:
        splits["train"], flipped = flip_labels(splits["train"], script_args.label_noise, seed, len(names))
        logger.info(f"label noise {script_args.label_noise}: changed {len(flipped)} of {len(splits['train'])} labels")
    splits = truncated_splits(splits, script_args)
    for split, rows in splits.items():
        missing = [names[i] for i in range(len(names)) if i not in set(rows["label"])]
        if missing and split == "train":
            raise DataError(f"{name}: the training split has no row of the class(es) {missing}")
        if missing:
            logger.warning(f"{name}: the validation split has no row of the class(es) {missing}")
    return splits, len(flipped)


def load_data(script_args: ScriptArguments, training_args: SCLConfig) -> tuple["datasets.DatasetDict", dict]:
    """The splits and what the run records about them (`data_results.json`): rows per split and class."""
    splits, flipped = load_splits(script_args, training_args, training_args.seed)
    names = training_args.label_names
    counts = {split: Counter(rows["label"]) for split, rows in splits.items()}
    summary = {
        "classes": len(names),
        **{f"{split}_rows": len(rows) for split, rows in splits.items()},
        **{f"{split}_{names[i]}": counts[split][i] for split in splits for i in range(len(names))},
        "label_noise_changed": flipped,
    }
    return splits, summary


def predict_columns(script_args: ScriptArguments) -> tuple[str, str | None]:
    """The text columns of `--predict_file`: those training read (a named dataset's own: `sick` is pairs of
    `sentence_A`, `sentence_B`), so a pair model's file is read as pairs and a single-text model's as texts."""
    from scl_trainer.classification_data import CLASSIFICATION_SOURCES

    if script_args.dataset_name in CLASSIFICATION_SOURCES:
        _, text_column, text_b_column, _ = CLASSIFICATION_SOURCES[script_args.dataset_name]
        return text_column, text_b_column
    return script_args.text_column, script_args.text_b_column


# `main(script_args, model_args, training_args, callbacks=None)`: one run; `parser()`: the YAML + flags parser;
# `check(script_args, model_args, training_args)`: the run's checks before training, for `compare`.
main, parser, check = classification_recipe(
    ScriptArguments,
    ModelArguments,
    load_data,
    predict_columns,
    launched=lambda: int(os.environ.get("WORLD_SIZE", "1")),
)


if __name__ == "__main__":
    run_recipe(main, parser(), sys.argv[1:], debug=os.environ.get("SCL_TRAINER_DEBUG") == "1")
