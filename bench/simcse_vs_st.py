"""Unsupervised SimCSE: scl_trainer's `SimCSETrainer` vs sentence-transformers' documented recipe, same budget.

Both start from the same encoder (offline all-MiniLM-L6-v2), train on the same corpus (the unique STS-B train
sentences) with the same batch size (64 sentences), max length (32), learning rate (3e-5, linear decay, no warm-up),
temperature (0.05 = MNRL scale 20), seed and number of steps, with CLS pooling:

- ours: one forward pass over the duplicated batch [a, a, b, b, ...] (2B rows), `SimCSELoss` (2B x 2B, the other
  view as target), the `cls` pooler (MLP in training only, initialised as `mlp_init` says: `orthogonal` like
  `recipes/simcse_unsup/stsb_minilm.yaml`);
- sentence-transformers: `MultipleNegativesRankingLoss` on (s, s) pairs (anchors and positives embedded in two
  forward passes of B rows, B x B similarities), `Pooling(pooling_mode="cls")`, `SentenceTransformerTrainer`.

Throughput = sentences per second from the median step time (ends of consecutive optimizer steps). Quality = STS-B
test Spearman x100 of the final weights, both scored the same way: `SentenceTransformer.encode` (ours through its
exported output dir) with max_seq_length 128, cosine similarity, `sts_metrics`.

    python bench/simcse_vs_st.py [--max_steps 165]

Writes bench/results/simcse_vs_st.json.
"""

import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import sentence_transformers
import torch
import transformers
from datasets import Dataset
from results_io import save_result
from sentence_transformers import (
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
    losses,
)
from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
from transformers import AutoModel, AutoTokenizer, EvalPrediction, HfArgumentParser, TrainerCallback

from scl_trainer import SimCSEConfig, SimCSETrainer
from scl_trainer.metrics import sts_metrics
from scl_trainer.records import DEFAULT_DATA_DIR
from scl_trainer.sentence_data import load_sentences, load_stsb
from scl_trainer.utils import resolve_model_name_or_path


@dataclass
class BenchArguments:
    model_name_or_path: str = field(default="sentence-transformers/all-MiniLM-L6-v2", metadata={"help": "Encoder."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding stsbenchmark/."})
    max_steps: int = field(default=165, metadata={"help": "Optimizer steps for both (165 = one epoch of STS-B)."})
    batch_size: int = field(default=64, metadata={"help": "Sentences per step."})
    max_length: int = field(default=32, metadata={"help": "Max tokens per training sentence."})
    learning_rate: float = field(default=3e-5, metadata={"help": "Peak learning rate."})
    temperature: float = field(default=0.05, metadata={"help": "Temperature (MNRL scale = 1 / temperature)."})
    mlp_init: str = field(
        default="orthogonal", metadata={"help": "Our training-only MLP init (normal: paper, orthogonal: recipe)."}
    )
    warmup: int = field(default=5, metadata={"help": "Steps left out of the step-time median."})
    seed: int = field(default=42, metadata={"help": "Seed for both runs."})
    threads: int = field(default=2, metadata={"help": "torch threads."})
    output_dir: str = field(default="/tmp/bench-simcse", metadata={"help": "Scratch folder for both runs."})


class StepTimer(TrainerCallback):
    def __init__(self):
        self.ends = []

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())


def median_step(ends: list[float], warmup: int) -> float:
    return statistics.median(b - a for a, b in zip(ends[warmup:], ends[warmup + 1 :]))


def sts_test_spearman(model: SentenceTransformer, test: Dataset) -> float:
    model.max_seq_length = 128
    a = model.encode(test["sentence1"], batch_size=128, convert_to_numpy=True)
    b = model.encode(test["sentence2"], batch_size=128, convert_to_numpy=True)
    return sts_metrics(EvalPrediction(predictions=np.stack([a, b], axis=1), label_ids=np.array(test["score"])))[
        "spearman"
    ]


def run_ours(bench: BenchArguments, path: str, corpus: Dataset, test: Dataset) -> dict:
    out = f"{bench.output_dir}/ours"
    args = SimCSEConfig(
        output_dir=out,
        pooler="cls",
        mlp_init=bench.mlp_init,
        temperature=bench.temperature,
        max_length=bench.max_length,
        eval_max_length=128,
        learning_rate=bench.learning_rate,
        warmup_steps=0,
        per_device_train_batch_size=bench.batch_size,
        max_steps=bench.max_steps,
        seed=bench.seed,
        save_strategy="no",
        report_to="none",
        logging_steps=25,
    )
    timer = StepTimer()
    trainer = SimCSETrainer(
        AutoModel.from_pretrained(path),
        args,
        train_dataset=corpus,
        processing_class=AutoTokenizer.from_pretrained(path),
        callbacks=[timer],
    )
    trainer.train()
    trainer.save_model()
    step = median_step(timer.ends, bench.warmup)
    return {
        "median_step_s": round(step, 4),
        "sentences_per_s": round(bench.batch_size / step, 2),
        "sts_test_spearman": round(sts_test_spearman(SentenceTransformer(out, device="cpu"), test), 2),
    }


def run_sentence_transformers(bench: BenchArguments, path: str, corpus: Dataset, test: Dataset) -> dict:
    transformer = Transformer(path, max_seq_length=bench.max_length)
    model = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode="cls")], device="cpu"
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=f"{bench.output_dir}/sentence-transformers",
        learning_rate=bench.learning_rate,
        warmup_steps=0,
        per_device_train_batch_size=bench.batch_size,
        max_steps=bench.max_steps,
        seed=bench.seed,
        save_strategy="no",
        report_to="none",
        logging_steps=25,
    )
    timer = StepTimer()
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"anchor": corpus["text"], "positive": corpus["text"]}),
        loss=losses.MultipleNegativesRankingLoss(model, scale=1.0 / bench.temperature),
        callbacks=[timer],
    )
    trainer.train()
    step = median_step(timer.ends, bench.warmup)
    return {
        "median_step_s": round(step, 4),
        "sentences_per_s": round(bench.batch_size / step, 2),
        "sts_test_spearman": round(sts_test_spearman(model, test), 2),
    }


def main(bench: BenchArguments) -> dict:
    torch.set_num_threads(bench.threads)
    transformers.logging.set_verbosity_error()
    path = resolve_model_name_or_path(bench.model_name_or_path)
    corpus = load_sentences("stsb", bench.data_dir)
    test = load_stsb(bench.data_dir, "test")
    base = sts_test_spearman(
        SentenceTransformer(
            modules=[t := Transformer(path), Pooling(t.get_embedding_dimension(), pooling_mode="cls")], device="cpu"
        ),
        test,
    )
    ours = run_ours(bench, path, corpus, test)
    theirs = run_sentence_transformers(bench, path, corpus, test)
    result = {
        "benchmark": "unsupervised SimCSE, same model/corpus/batch/max length/lr/steps/seed, CLS pooling, one run",
        "throughput_ratio_ours_over_sentence_transformers": round(
            ours["sentences_per_s"] / theirs["sentences_per_s"], 3
        ),
        "target": ">= 1.0",
        "scl_trainer": ours,
        "sentence_transformers": theirs,
        "base_model_sts_test_spearman": round(base, 2),
        "setup": {
            "model": bench.model_name_or_path,
            "corpus": f"unique STS-B train sentences ({len(corpus)})",
            "batch_size": bench.batch_size,
            "max_length": bench.max_length,
            "learning_rate": bench.learning_rate,
            "temperature": bench.temperature,
            "max_steps": bench.max_steps,
            "seed": bench.seed,
            "scl_trainer_mlp_init": bench.mlp_init,
        },
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "machine": f"{platform.machine()}, {bench.threads} torch threads, no GPU",
    }
    return save_result("simcse_vs_st.json", result)


if __name__ == "__main__":
    (bench_args,) = HfArgumentParser(BenchArguments).parse_args_into_dataclasses(args=sys.argv[1:])
    main(bench_args)
