"""Streaming prediction keeps memory flat: peak RSS of `python -m scl_trainer predict` on the CCF test file (53,757
pairs) and on the same file repeated 10 times (537,570 pairs), same model, same settings, one run.

The model is a small randomly initialised BERT (2 layers, 128 wide, the offline MiniLM's tokenizer) so that the 10x
run takes minutes on 2 CPU cores; memory flatness depends on the streaming, not on the model size. Inputs are built in
a scratch folder: `test.query.tsv` copied, `test.reply.tsv` repeated (the repeats refer to the same queries).

    python bench/predict_memory.py [--repeat 10]

Writes bench/results/predict_memory.json (target: peak RSS ratio 10x / 1x <= 1.2).
"""

import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from results_io import save_result


@dataclass
class BenchArguments:
    data_dir: str = field(default="../shared/data", metadata={"help": "Folder holding ccf_qa_match/."})
    repeat: int = field(default=10, metadata={"help": "How many copies of test.reply.tsv in the large input."})
    scratch: str = field(default="/tmp/bench-predict", metadata={"help": "Scratch folder (model, inputs, outputs)."})
    batch_size: int = field(default=256, metadata={"help": "Pairs per forward pass."})
    max_length: int = field(default=64, metadata={"help": "Max tokens per pair."})


def build_model(path: Path) -> None:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from scl_trainer.utils import resolve_model_name_or_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_name_or_path("sentence-transformers/all-MiniLM-L6-v2"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        num_labels=1,
        problem_type="multi_label_classification",
    )
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)


def build_input(data_dir: Path, target: Path, repeat: int) -> int:
    (target / "ccf_qa_match").mkdir(parents=True, exist_ok=True)
    shutil.copy(data_dir / "ccf_qa_match" / "test.query.tsv", target / "ccf_qa_match" / "test.query.tsv")
    replies = (data_dir / "ccf_qa_match" / "test.reply.tsv").read_bytes()
    with open(target / "ccf_qa_match" / "test.reply.tsv", "wb") as f:
        for _ in range(repeat):
            f.write(replies)
    return replies.count(b"\n") * repeat


def peak_rss_of_predict(model: Path, data_dir: Path, output: Path, bench: BenchArguments) -> tuple[float, float]:
    """(peak RSS in MB of the predict process alone, wall seconds)."""
    command = [sys.executable, "-m", "scl_trainer", "predict", "--model", str(model), "--input", "ccf_qa_match"]
    command += ["--data_dir", str(data_dir), "--output", str(output), "--batch_size", str(bench.batch_size)]
    command += ["--max_length", str(bench.max_length)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {status}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main(bench: BenchArguments) -> dict:
    scratch = Path(bench.scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    build_model(scratch / "model")
    runs = {}
    for name, repeat in (("1x", 1), (f"{bench.repeat}x", bench.repeat)):
        rows = build_input(Path(bench.data_dir), scratch / name, repeat)
        output = scratch / f"predictions-{name}.tsv"
        peak, seconds = peak_rss_of_predict(scratch / "model", scratch / name, output, bench)
        written = sum(1 for _ in open(output, encoding="utf-8"))
        assert written == rows, (written, rows)
        runs[name] = {"pairs": rows, "peak_rss_mb": round(peak, 1), "seconds": round(seconds, 1)}
        print(name, runs[name], file=sys.stderr)
    small, large = runs["1x"], runs[f"{bench.repeat}x"]
    result = {
        "benchmark": f"peak RSS of `python -m scl_trainer predict`, CCF test file x1 vs x{bench.repeat}, one run",
        "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
        "target": "<= 1.2",
        "runs": runs,
        "model": "random BERT 2x128 with the all-MiniLM-L6-v2 tokenizer",
        "batch_size": bench.batch_size,
        "max_length": bench.max_length,
        "machine": f"{platform.machine()}, no GPU",
    }
    return save_result("predict_memory.json", result)


if __name__ == "__main__":
    from transformers import HfArgumentParser

    (bench_args,) = HfArgumentParser(BenchArguments).parse_args_into_dataclasses(args=sys.argv[1:])
    main(bench_args)
