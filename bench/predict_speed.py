"""Prediction speed: pairs/s of `python -m scl_trainer predict` vs `transformers.pipeline("text-classification",
batch_size=64)` on the same model and the same pairs, in one run; also checks that both give the same probabilities
(to 1e-5) in the input order.

Model: the offline all-MiniLM-L6-v2 with a one-logit head (seeded random head; speed does not depend on its
weights), saved once in a scratch folder. Inputs: the CCF test file (53,757 Chinese query-reply pairs of very
different lengths; `--ccf_pairs N` keeps the first N) and the MRPC train file (4,076 English sentence pairs;
`--english_pairs N`). Both sides truncate to `--max_length` tokens; each side runs once per input, ours first.

    python bench/predict_speed.py [--ccf_pairs N] [--english_pairs N]

Writes bench/results/predict_speed.json (target: ratio ours / pipeline >= 2.0 on the CCF pairs).
"""

import csv
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
from results_io import save_result
from transformers import HfArgumentParser

REPO = Path(__file__).resolve().parent.parent


@dataclass
class BenchArguments:
    data_dir: str = field(default=str(REPO.parent / "shared" / "data"), metadata={"help": "Folder of the data."})
    scratch: str = field(default="/tmp/bench-predict-speed", metadata={"help": "Scratch folder (model, inputs)."})
    ccf_pairs: int | None = field(default=None, metadata={"help": "CCF test pairs to score (default: all)."})
    english_pairs: int | None = field(default=None, metadata={"help": "MRPC pairs to score (default: all)."})
    max_length: int = field(default=128, metadata={"help": "Max tokens per pair, both sides."})
    batch_size: int = field(default=64, metadata={"help": "Pairs per forward pass, both sides."})


def build_model(path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from scl_trainer.utils import resolve_model_name_or_path

    name = resolve_model_name_or_path("sentence-transformers/all-MiniLM-L6-v2")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        name, num_labels=1, problem_type="multi_label_classification"
    )
    model.config.decision_threshold = 0.5
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(name).save_pretrained(path)


def write_inputs(data_dir: Path, scratch: Path, args: BenchArguments) -> dict[str, Path]:
    from scl_trainer.data import iter_ccf_qa_match, iter_mrpc

    inputs = {}
    for name, rows, n in (
        ("ccf", iter_ccf_qa_match(data_dir, "test", empty_texts="keep"), args.ccf_pairs),
        ("english", iter_mrpc(data_dir / "mrpc" / "msr_paraphrase_train.txt"), args.english_pairs),
    ):
        path = scratch / f"{name}.tsv"
        clean = lambda text: " ".join(text.split())  # noqa: E731  (one line, no tabs: a .tsv reads quotes literally)
        with open(path, "w", encoding="utf-8") as f:
            f.write("id\ttext_a\ttext_b\n")
            f.writelines(
                f"{i}\t{clean(row['text_a'])}\t{clean(row['text_b'])}\n" for i, row in enumerate(islice(rows, n))
            )
        inputs[name] = path
    return inputs


def read_pairs(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def run_ours(model: Path, path: Path, out: Path, args: BenchArguments) -> tuple[float, str]:
    command = [sys.executable, "-m", "scl_trainer", "predict", "--model", str(model), "--input", str(path),
               "--output", str(out), "--id_columns", "id", "--write_probability", "--max_length", str(args.max_length),
               "--batch_size", str(args.batch_size)]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    attention = [line for line in done.stderr.splitlines() if line.startswith("attention: ")]
    return seconds, attention[0].removeprefix("attention: ") if attention else "not reported"


def run_pipeline(model: Path, pairs: list[dict], args: BenchArguments) -> tuple[float, np.ndarray]:
    """The obvious alternative, timed the same way (process start and model load included)."""
    script = (
        "import sys, json, csv, time\n"
        "from transformers import pipeline\n"
        "rows = list(csv.DictReader(open(sys.argv[2], encoding='utf-8', newline=''), delimiter='\\t', "
        "quoting=csv.QUOTE_NONE))\n"
        f"clf = pipeline('text-classification', model=sys.argv[1], device='cpu', truncation=True, "
        f"max_length={args.max_length})\n"
        "inputs = [{'text': r['text_a'], 'text_pair': r['text_b']} for r in rows]\n"
        f"out = clf(inputs, batch_size={args.batch_size}, function_to_apply='sigmoid')\n"
        "json.dump([o['score'] for o in out], open(sys.argv[3], 'w'))\n"
    )
    scores_path = Path(args.scratch) / "pipeline_scores.json"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, str(model), str(pairs), str(scores_path)], check=True, cwd=REPO)
    seconds = time.perf_counter() - start
    import json

    return seconds, np.array(json.loads(scores_path.read_text()))


def main(args: BenchArguments) -> dict:
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    model = scratch / "model"
    build_model(model)
    inputs = write_inputs(Path(args.data_dir), scratch, args)
    results = {}
    for name, path in inputs.items():
        rows = read_pairs(path)
        out = scratch / f"{name}.out.tsv"
        ours_s, attention = run_ours(model, path, out, args)
        lines = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
        ours = np.array([float(line[2]) for line in lines])
        pipe_s, pipe = run_pipeline(model, path, args)
        results[name] = {
            "pairs": len(rows),
            "ours_s": ours_s,
            "pipeline_s": pipe_s,
            "ours_pairs_per_s": len(rows) / ours_s,
            "pipeline_pairs_per_s": len(rows) / pipe_s,
            "ratio": pipe_s / ours_s,
            "max_abs_probability_difference": float(np.abs(ours - pipe).max()),
            "probabilities_equal_to_1e-5": bool(np.allclose(ours, pipe, atol=1e-5, rtol=0)),
            "order_preserved": [line[0] for line in lines] == [r["id"] for r in rows],
            "our_attention": attention,
        }
    return save_result(
        "predict_speed.json",
        {
            "target": "ratio (pipeline time / ours) >= 2.0 on the CCF pairs",
            "settings": {"batch_size": args.batch_size, "max_length": args.max_length},
            "results": results,
            "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        },
    )


if __name__ == "__main__":
    (bench_args,) = HfArgumentParser(BenchArguments).parse_args_into_dataclasses()
    main(bench_args)
