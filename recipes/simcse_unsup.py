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

from transformers import AutoModel, AutoTokenizer, TrainerCallback

from scl_trainer import SimCSEConfig, SimCSETrainer
from scl_trainer.data import load_sentences, load_stsb
from scl_trainer.parser import ConfigArgumentParser
from scl_trainer.recipe_setup import ModelArguments, RunArguments, finish_run, run_recipe, start_run, truncate
from scl_trainer.utils import from_pretrained

logger = logging.getLogger(__name__)

# Metrics of a run's eval_results.json that `python -m scl_trainer compare` reports beside metric_for_best_model: that
# one picked the checkpoint (and for pairs the threshold) on the same data, so it is optimistic; these are not tuned.
UNBIASED_METRICS = ("test_spearman",)


@dataclass
class ScriptArguments(RunArguments):
    text_column: str = field(default="text", metadata={"help": "Sentence column of a csv/tsv/jsonl or hub dataset."})
    train_file: str = field(
        default="stsb",
        metadata={
            "help": "Training sentences: `stsb` (the unique sentences of STS-B train, scores unused), a .txt file "
            "(one sentence per line), a .csv/.tsv/.jsonl file (column `text_column`) or a Hub dataset id. Empty "
            "lines are dropped and duplicates removed."
        },
    )
    dataset_split: str = field(default="train", metadata={"help": "Split of a hub dataset."})
    evaluate_base: bool = field(
        default=True,
        metadata={
            "help": "Score the untouched model on STS-B dev and test before training, with its own pooling (the "
            "baseline) and with the pooling being trained; in the log, eval_results.json and the card."
        },
    )


def main(
    script_args: ScriptArguments,
    model_args: ModelArguments,
    training_args: SimCSEConfig,
    callbacks: list[TrainerCallback] | None = None,
) -> dict[str, float]:
    start_run(script_args, training_args, __name__, int(os.environ.get("WORLD_SIZE", "1")))
    corpus = load_sentences(
        script_args.train_file,
        script_args.data_dir,
        column=script_args.text_column,
        config_name=script_args.dataset_config,
        split=script_args.dataset_split,
    )
    corpus = truncate(corpus, script_args.max_train_samples)
    sts = {
        split: truncate(load_stsb(script_args.data_dir, split), script_args.max_eval_samples)
        for split in ("validation", "test")
    }
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
        metrics.update(trainer.evaluate_base({"dev": sts["validation"], "test": sts["test"]}))

    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_metrics("train", train_result.metrics)

    # The weights in hand are the best checkpoint by dev Spearman (with load_best_model_at_end).
    metrics.update(trainer.evaluate())
    metrics.update(trainer.evaluate(sts["test"], metric_key_prefix="test"))
    metrics["kept_base_model"] = float(trainer.exported_base)  # 1: training never beat the untouched model on dev
    finish_run(trainer, metrics, script_args.train_file)

    base = []
    if "base_native_dev_spearman" in metrics:
        base.append(
            f"{trainer.base_pooling.describe()} pooling (its own): dev {metrics['base_native_dev_spearman']:.2f}, "
            f"test {metrics['base_native_test_spearman']:.2f}"
        )
    if "base_dev_spearman" in metrics:
        base.append(
            f"{training_args.pooler} pooling: dev {metrics['base_dev_spearman']:.2f}, "
            f"test {metrics['base_test_spearman']:.2f}"
        )
    kept = "the base model, unchanged (training never beat it on dev)" if trainer.exported_base else "trained"
    logger.info(
        f"STS-B Spearman x100 of the exported encoder ({kept}; {trainer.describe_pooling()} pooling): "
        f"dev {metrics['eval_spearman']:.2f}, test {metrics['test_spearman']:.2f}"
        + (f". Base model: {'; '.join(base)}" if base else "")
    )
    return metrics


def parser() -> ConfigArgumentParser:
    return ConfigArgumentParser((ScriptArguments, ModelArguments, SimCSEConfig))


if __name__ == "__main__":
    run_recipe(main, parser(), sys.argv[1:], debug=os.environ.get("SCL_TRAINER_DEBUG") == "1")
