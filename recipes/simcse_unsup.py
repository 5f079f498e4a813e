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
from functools import partial

# Module level: only what the arguments need, so `--help` and an argument error answer before the training stack
# loads (datasets, the Trainer, scikit-learn); the functions below import what they use.
from scl_trainer.errors import ConfigError
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
)
from scl_trainer.simcse_config import SimCSEConfig

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
    eval_file: str | None = field(
        default=None,
        metadata={
            "help": "Evaluation pairs instead of STS-B dev: a .csv/.tsv/.jsonl file with a header and columns "
            "sentence1, sentence2, score (checked row by row). It picks the checkpoint; STS-B is not read."
        },
    )
    test_file: str | None = field(
        default=None,
        metadata={
            "help": "Held-out scored pairs (same format as eval_file) scored once at the end, never used to pick "
            "anything. Default: none with eval_file, STS-B test without."
        },
    )
    eval_score_range: list[float] | None = field(
        default=None,
        metadata={
            "help": "The score scale of eval_file/test_file as two numbers, e.g. `0 1`: scores outside it are an "
            "error. Default: inferred from the files (logged). Pairs in its top fifth count as similar for the "
            "alignment metric."
        },
    )
    ood_file: str = field(
        default="auto",
        metadata={
            "help": "Out-of-domain scored pairs for `--interpolate`'s choice (the coefficient's out-of-domain score "
            "may not fall below the base model's): `auto` (`sick` when data_dir holds it, else none, logged), "
            "`sick` (SICK relatedness, data_dir/sick/sick_train.tsv, scores "
            "1-5, split once with a fixed seed: `ood_pairs` pairs choose, 2,000 others are `ood_test`, scored at the "
            "end and never used to choose), a .csv/.tsv/.jsonl file of sentence1, sentence2, score (choice only), "
            "or `none`."
        },
    )
    ood_pairs: int = field(
        default=1000,
        metadata={"help": "Pairs of `ood_file` sampled (seeded) for the choice (at most max_eval_samples)."},
    )
    evaluate_base: bool = field(
        default=True,
        metadata={
            "help": "Score the untouched model on the evaluation (and test) pairs before training, with its own "
            "pooling (the baseline) and with the pooling being trained; in the log, eval_results.json and the card."
        },
    )


def load_out_of_domain(script_args: ScriptArguments, training_args: SimCSEConfig) -> dict:
    """The out-of-domain scored pairs: `ood` (the interpolation's choice; only when interpolating) and, for SICK,
    `ood_test` (held out from the choice, scored at the end of every run, interpolated or not, so runs of either
    kind are paired on it); one fixed split, the same for every seed."""
    from scl_trainer.sentence_data import load_sts_file

    path = os.path.join(script_args.data_dir, "sick", "sick_train.tsv")
    ood_file = script_args.ood_file
    if ood_file == "auto":
        ood_file = "sick" if os.path.isfile(path) else "none"
        if ood_file == "none" and training_args.interpolate != "none":
            logger.warning(f"ood_file auto: {path} not found, so the interpolation is chosen on dev alone")
    interpolating = training_args.interpolate != "none"
    if ood_file == "none" or (ood_file != "sick" and not interpolating):
        return {}
    if ood_file != "sick":
        return {"ood": truncate(load_sts_file(ood_file)[0], script_args.ood_pairs)}
    pairs, _ = load_sts_file(path, (1.0, 5.0), "sentence_A", "sentence_B", "relatedness_score")
    pairs = pairs.shuffle(seed=0)
    n = min(script_args.ood_pairs, len(pairs) // 2)
    splits = {"ood": pairs.select(range(n)), "ood_test": pairs.select(range(n, min(len(pairs), n + 2000)))}
    return {name: truncate(rows, script_args.max_eval_samples) for name, rows in splits.items()
            if interpolating or name == "ood_test"}  # fmt: skip


def load_evaluation(script_args: ScriptArguments, training_args: SimCSEConfig) -> tuple[dict, tuple[float, float]]:
    """The scored pairs to evaluate on ({"dev": ..., "test": ...}, possibly empty) and their score scale: the
    user's files, else STS-B dev/test, else nothing with `--eval_strategy no` (STS-B is then not read at all)."""
    from transformers import IntervalStrategy

    from scl_trainer.sentence_data import load_sts_file, load_stsb

    score_range = tuple(script_args.eval_score_range) if script_args.eval_score_range else None
    if score_range is not None and (len(score_range) != 2 or not score_range[0] < score_range[1]):
        raise ConfigError(f"--eval_score_range needs two numbers low < high, got {list(score_range)}")
    files = {"dev": script_args.eval_file, "test": script_args.test_file}
    if any(files.values()):
        sts, found = {}, []
        for split, path in files.items():
            if path:
                sts[split], scale = load_sts_file(path, score_range)
                found.append(scale)
        if score_range is None:  # the scale of every file: a test score may lie beyond the dev file's
            score_range = (min(low for low, _ in found), max(high for _, high in found))
            logger.info(f"score range {score_range[0]:g} to {score_range[1]:g}: inferred from the evaluation files "
                        "(set it with --eval_score_range)")  # fmt: skip
        return {k: truncate(v, script_args.max_eval_samples) for k, v in sts.items()}, score_range
    if training_args.eval_strategy == IntervalStrategy.NO:
        return {}, (0.0, 5.0)
    sts = {split: load_stsb(script_args.data_dir, name) for split, name in (("dev", "validation"), ("test", "test"))}
    return {k: truncate(v, script_args.max_eval_samples) for k, v in sts.items()}, (0.0, 5.0)


def load_data(script_args: ScriptArguments, training_args: SimCSEConfig) -> tuple:
    """Everything a run reads, checked: the training sentences, the scored evaluation pairs (with the out-of-domain
    test pairs among them), their score range, the out-of-domain pairs that choose the interpolation."""
    from scl_trainer.sentence_data import load_sentences

    corpus = load_sentences(
        script_args.train_file,
        script_args.data_dir,
        column=script_args.text_column,
        config_name=script_args.dataset_config,
        split=script_args.dataset_split,
    )
    corpus = truncate(corpus, script_args.max_train_samples)
    sts, score_range = load_evaluation(script_args, training_args)
    ood = load_out_of_domain(script_args, training_args) if sts else {}
    sts.update({"ood_test": ood["ood_test"]} if "ood_test" in ood else {})
    return corpus, sts, score_range, ood


def check(script_args: ScriptArguments, model_args: ModelArguments, training_args: SimCSEConfig) -> set[str]:
    """The run's checks before training, with nothing written (`compare` calls it for every run before the first
    trains): every file it reads. Returns the metric names its evaluations report."""
    load_data(script_args, training_args)
    return training_args.validation_metrics()


@recipe_main
def main(
    script_args: ScriptArguments,
    model_args: ModelArguments,
    training_args: SimCSEConfig,
    callbacks: list | None = None,
) -> dict[str, float]:
    """One run: sentences, STS evaluation pairs, training, the saved run. `callbacks`: more `TrainerCallback`s."""
    from scl_trainer.metrics import sts_metrics
    from scl_trainer.simcse_trainer import SimCSETrainer

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    start_run(script_args, training_args, __name__, world_size, model_args.model_name_or_path)
    corpus, sts, score_range, ood = load_data(script_args, training_args)
    sizes = ", ".join(f"{split} {len(pairs)} pairs" for split, pairs in sts.items()) or "no evaluation"
    logger.info(f"{script_args.train_file}: {len(corpus)} training sentences; {sizes}")

    trainer = SimCSETrainer(
        model=model_args.model_name_or_path,  # loaded (offline copy when installed) with its tokenizer by the trainer
        args=training_args,
        train_dataset=corpus,
        eval_dataset=sts.get("dev"),
        # Pairs in the top fifth of the score scale count as similar for the alignment metric (STS-B: >= 4 of 5).
        compute_metrics=partial(sts_metrics, positive_score=score_range[0] + 0.8 * (score_range[1] - score_range[0])),
        callbacks=callbacks,
    )
    metrics = {}
    if script_args.evaluate_base and sts and not training_args.resume_from_checkpoint:
        metrics.update(trainer.evaluate_base(sts))

    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_metrics("train", train_result.metrics)

    # The weights in hand are the best checkpoint by dev Spearman (with load_best_model_at_end); WiSE-FT blends them
    # with the base's by the coefficient chosen on dev and the out-of-domain pairs (STS-B test never chooses).
    if "dev" in sts:
        choice = {"dev": sts["dev"], **({"ood": ood["ood"]} if "ood" in ood else {})}
        metrics.update(trainer.choose_interpolation(choice, "dev", "ood"))
        metrics.update(trainer.evaluate())
    for split in ("test", "ood_test"):  # held out: scored once, never used to choose
        if split in sts:
            metrics.update(trainer.evaluate(sts[split], metric_key_prefix=split))
    metrics["kept_base_model"] = float(trainer.kept_base_model)  # 1: training never beat the untouched model on dev
    if script_args.eval_file or script_args.test_file:  # STS-B was not read: each score names its own file
        names = {"eval_dataset_name": script_args.eval_file, "test_dataset_name": script_args.test_file}
    else:
        names = {"eval_dataset_name": "stsb" if sts else None}
    finish_run(trainer, metrics, script_args, script_args.train_file, **names)

    named = (("dev", "eval"), ("test", "test"), ("ood_test", "ood_test"))
    scores = [
        f"{split} {metrics[f'{prefix}_spearman']:.2f}" for split, prefix in named if f"{prefix}_spearman" in metrics
    ]
    base = []
    for prefix, pooling in (("base_native", trainer.base_pooling.describe() if trainer.base_pooling else None),
                            ("base", training_args.pooler)):  # fmt: skip
        found = [
            f"{split} {metrics[f'{prefix}_{split}_spearman']:.2f}"
            for split in sts
            if f"{prefix}_{split}_spearman" in metrics
        ]
        if found:
            base.append(f"{pooling} pooling{' (its own)' if prefix == 'base_native' else ''}: {', '.join(found)}")
    kept = trainer.describe_export()
    logger.info(
        f"Spearman x100 of the exported encoder ({kept}; {trainer.describe_pooling()} pooling): "
        + (", ".join(scores) or "not evaluated")
        + (f". Base model: {'; '.join(base)}" if base else "")
    )
    end_run(trainer)  # all processes leave together
    return metrics


def parser() -> ConfigArgumentParser:
    return ConfigArgumentParser((ScriptArguments, ModelArguments, SimCSEConfig))


if __name__ == "__main__":
    run_recipe(main, parser(), sys.argv[1:], debug=os.environ.get("SCL_TRAINER_DEBUG") == "1")
