"""GradCache memory: a training step with a contrastive batch of 512 rows in chunks of 32 vs a plain step of 32 rows.

Each configuration runs in its own fresh process (so peak RSS belongs to that configuration alone): it loads the
offline all-MiniLM-L6-v2 and the data, builds the trainer, then runs `--steps` training steps of `SimCSETrainer` or
`SCLTrainer`. Reported per configuration:

- `peak_rss_mb`: peak resident memory of the process (`ru_maxrss`), everything included;
- `step_peak_mb`: peak RSS minus the RSS just before the first step (model, optimizer-free baseline, data, Python):
  the memory the training steps themselves add (activations, gradients, optimizer state);
- `seconds_per_step` (median) and `seconds_per_row`.

Configurations: `plain_32` (32 rows, one forward pass), `cached_512` (512 rows, `contrastive_chunk_size=32`), and for
context `plain_512` (512 rows in one forward pass, what GradCache avoids). For SimCSE, 32 rows are 16 sentences.
Targets: `cached_512` / `plain_32` peak memory <= 1.5.

    python bench/gradcache_memory.py [--trainer simcse|supcon] [--steps 4]

Writes bench/results/gradcache_memory_<trainer>.json.
"""

import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from results_io import save_result


@dataclass
class BenchArguments:
    trainer: str = field(default="simcse", metadata={"help": "simcse or supcon.", "choices": ["simcse", "supcon"]})
    model_name_or_path: str = field(default="sentence-transformers/all-MiniLM-L6-v2", metadata={"help": "Encoder."})
    data_dir: str = field(default="../shared/data", metadata={"help": "Folder holding stsbenchmark/ and mrpc/."})
    steps: int = field(default=4, metadata={"help": "Training steps per configuration."})
    max_length: int = field(default=32, metadata={"help": "Max tokens per row (pairs: per pair)."})
    threads: int = field(default=2, metadata={"help": "torch threads."})
    config: str | None = field(default=None, metadata={"help": "Internal: run one configuration (rows:chunk)."})


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def run_one(bench: BenchArguments) -> dict:
    """Runs in the child process: one configuration, prints a JSON line."""
    import torch
    import transformers
    from transformers import (
        AutoModel,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        TrainerCallback,
    )

    from scl_trainer import SCLConfig, SCLTrainer, SimCSEConfig, SimCSETrainer
    from scl_trainer.data import load_mrpc
    from scl_trainer.sentence_data import load_sentences
    from scl_trainer.utils import resolve_model_name_or_path

    torch.set_num_threads(bench.threads)
    transformers.logging.set_verbosity_error()
    rows, chunk = (int(x) if x != "none" else None for x in bench.config.split(":"))
    path = resolve_model_name_or_path(bench.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)

    class Probe(TrainerCallback):
        def __init__(self):
            self.ends, self.before = [], None

        def on_step_begin(self, args, state, control, **kwargs):
            if self.before is None:
                self.before = rss_mb()

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    probe = Probe()
    common = dict(
        output_dir="/tmp/bench-gradcache",
        max_steps=bench.steps,
        max_length=bench.max_length,
        contrastive_chunk_size=chunk,
        save_strategy="no",
        report_to="none",
        logging_steps=1000,
        disable_tqdm=True,
        seed=0,
    )
    if bench.trainer == "simcse":
        corpus = load_sentences("stsb", bench.data_dir).select(range(rows // 2 * (bench.steps + 1)))
        args = SimCSEConfig(per_device_train_batch_size=rows // 2, **common)
        trainer = SimCSETrainer(
            AutoModel.from_pretrained(path), args, train_dataset=corpus, processing_class=tokenizer, callbacks=[probe]
        )
    else:
        pairs = load_mrpc(Path(bench.data_dir) / "mrpc" / "msr_paraphrase_train.txt").select(
            range(rows * (bench.steps + 1))
        )
        args = SCLConfig(per_device_train_batch_size=rows, **common)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        trainer = SCLTrainer(model, args, train_dataset=pairs, processing_class=tokenizer, callbacks=[probe])
    trainer.train()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step = statistics.median(b - a for a, b in zip(probe.ends, probe.ends[1:])) if len(probe.ends) > 1 else None
    return {
        "rows": rows,
        "chunk": chunk,
        "peak_rss_mb": round(peak, 1),
        "step_peak_mb": round(peak - probe.before, 1),
        "seconds_per_step": round(step, 3),
        "seconds_per_row": round(step / rows, 4),
    }


def main(bench: BenchArguments) -> dict:
    configs = {"plain_32": "32:none", "cached_512": "512:32", "plain_512": "512:none"}
    measured = {}
    for name, config in configs.items():
        command = [sys.executable, __file__, "--trainer", bench.trainer, "--steps", str(bench.steps)]
        command += ["--data_dir", bench.data_dir, "--max_length", str(bench.max_length), "--config", config]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        measured[name] = json.loads(out.strip().splitlines()[-1])
        print(name, measured[name], file=sys.stderr)
    cached, plain, big = measured["cached_512"], measured["plain_32"], measured["plain_512"]
    result = {
        "benchmark": f"GradCache ({bench.trainer}): 512 rows in chunks of 32 vs a plain step of 32 rows, one run",
        "peak_memory_ratio_cached512_over_plain32": round(cached["peak_rss_mb"] / plain["peak_rss_mb"], 3),
        "step_memory_ratio_cached512_over_plain32": round(cached["step_peak_mb"] / plain["step_peak_mb"], 3),
        "target": "peak memory ratio <= 1.5",
        "time_ratio_per_row_cached512_over_plain512": round(cached["seconds_per_row"] / big["seconds_per_row"], 3),
        "time_ratio_per_step_cached512_over_plain32": round(cached["seconds_per_step"] / plain["seconds_per_step"], 3),
        "configurations": measured,
        "model": bench.model_name_or_path,
        "max_length": bench.max_length,
        "steps": bench.steps,
        "machine": f"{platform.machine()}, {bench.threads} torch threads, no GPU",
    }
    return save_result(f"gradcache_memory_{bench.trainer}.json", result)


if __name__ == "__main__":
    from transformers import HfArgumentParser

    (bench_args,) = HfArgumentParser(BenchArguments).parse_args_into_dataclasses(args=sys.argv[1:])
    if bench_args.config:
        print(json.dumps(run_one(bench_args)))
    else:
        main(bench_args)
