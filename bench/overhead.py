"""Per-step overhead of SCLTrainer over a bare PyTorch loop doing the same work.

Both sides train the offline all-MiniLM-L6-v2 (one-logit head) on the same MRPC batches (same tokenization, same
collator, same order): forward with hidden states, BCE + 0.1 x SupCon on [CLS], backward, gradient clipping at 1.0,
fused AdamW step (the Trainer's default optimizer), linear LR schedule. Step time = wall time between the ends of
consecutive optimizer steps (data loading included on both sides). The runs alternate (trainer, loop, trainer, loop)
so drift on the machine hits both; the median over all measured steps is compared.

    python bench/overhead.py [--steps 40] [--warmup 5] [--repeats 3] [--batch_size 16]

Writes bench/results/overhead.json and prints the ratio (target: <= 1.03).
"""

import copy
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from results_io import save_result
from torch.utils.data import DataLoader
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    HfArgumentParser,
    TrainerCallback,
    get_linear_schedule_with_warmup,
)

from scl_trainer import SCLConfig, SCLTrainer, SupConLoss
from scl_trainer.data import load_mrpc
from scl_trainer.records import DEFAULT_DATA_DIR
from scl_trainer.tokenization import tokenize_pairs
from scl_trainer.utils import resolve_model_name_or_path


@dataclass
class BenchArguments:
    model_name_or_path: str = field(default="sentence-transformers/all-MiniLM-L6-v2", metadata={"help": "Encoder."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding mrpc/."})
    steps: int = field(default=40, metadata={"help": "Measured optimizer steps per run (after warm-up)."})
    warmup: int = field(default=5, metadata={"help": "Warm-up steps per run, not measured."})
    repeats: int = field(default=3, metadata={"help": "Alternating (trainer, loop) rounds."})
    batch_size: int = field(default=16, metadata={"help": "Pairs per step."})
    max_length: int = field(default=128, metadata={"help": "Max tokens per pair."})
    threads: int = field(default=2, metadata={"help": "torch threads."})


class StepTimer(TrainerCallback):
    def __init__(self):
        self.ends = []

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())


def step_times(ends: list[float], warmup: int) -> list[float]:
    return [b - a for a, b in zip(ends[warmup:], ends[warmup + 1 :])]


def run_trainer(model, tokenizer, data, bench: BenchArguments, total_steps: int, output_dir: str) -> list[float]:
    args = SCLConfig(
        output_dir=output_dir,
        per_device_train_batch_size=bench.batch_size,
        max_steps=total_steps,
        learning_rate=5e-5,
        warmup_steps=0.1,
        max_grad_norm=1.0,
        weight_decay=0.0,
        max_length=bench.max_length,
        train_sampling_strategy="sequential",
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        dataloader_num_workers=0,
        seed=0,
    )
    timer = StepTimer()
    trainer = SCLTrainer(model, args, train_dataset=data, processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    # The loop must use the optimizer the Trainer built (transformers 5.x defaults to fused AdamW).
    assert isinstance(trainer.optimizer.optimizer, torch.optim.AdamW) and trainer.optimizer.defaults["fused"]
    return step_times(timer.ends, bench.warmup)


def run_loop(model, tokenizer, data, bench: BenchArguments, total_steps: int) -> list[float]:
    loader = DataLoader(
        data, batch_size=bench.batch_size, shuffle=False, collate_fn=DataCollatorWithPadding(tokenizer)
    )
    supcon = SupConLoss(0.2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0, fused=True)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    model.train()
    ends = []
    batches = iter(loader)
    for _ in range(total_steps):
        batch = next(batches)
        labels = batch.pop("labels")
        outputs = model(**batch, output_hidden_states=True)
        bce = F.binary_cross_entropy_with_logits(outputs.logits.squeeze(-1), labels.float())
        loss = bce + 0.1 * supcon(outputs.hidden_states[-1][:, 0], labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        del batch, labels, outputs, bce, loss  # as in the Trainer: nothing of this step stays alive into the next
        ends.append(time.perf_counter())
    return step_times(ends, bench.warmup)


def main(bench: BenchArguments) -> dict:
    torch.set_num_threads(bench.threads)
    transformers.logging.set_verbosity_error()
    path = resolve_model_name_or_path(bench.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    base = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, problem_type="multi_label_classification"
    )
    total_steps = bench.warmup + bench.steps + 1
    pairs = load_mrpc(Path(bench.data_dir) / "mrpc" / "msr_paraphrase_train.txt").select(
        range(total_steps * bench.batch_size)
    )
    data, _ = tokenize_pairs(pairs, tokenizer, bench.max_length)

    trainer_steps, loop_steps = [], []
    for round_ in range(bench.repeats):
        torch.manual_seed(round_)
        trainer_steps += run_trainer(copy.deepcopy(base), tokenizer, data, bench, total_steps, f"/tmp/bench-{round_}")
        torch.manual_seed(round_)
        loop_steps += run_loop(copy.deepcopy(base), tokenizer, data, bench, total_steps)
        print(f"round {round_ + 1}/{bench.repeats} done", file=sys.stderr)

    trainer_median, loop_median = statistics.median(trainer_steps), statistics.median(loop_steps)
    result = {
        "benchmark": "SCLTrainer step time / bare PyTorch loop step time (median, same batches, one run)",
        "ratio": round(trainer_median / loop_median, 4),
        "target": "<= 1.03",
        "trainer_median_step_s": round(trainer_median, 4),
        "loop_median_step_s": round(loop_median, 4),
        "measured_steps_each": len(trainer_steps),
        "model": bench.model_name_or_path,
        "batch_size": bench.batch_size,
        "max_length": bench.max_length,
        "torch_threads": bench.threads,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, no GPU",
    }
    return save_result("overhead.json", result)


if __name__ == "__main__":
    (bench_args,) = HfArgumentParser(BenchArguments).parse_args_into_dataclasses(args=sys.argv[1:])
    main(bench_args)
