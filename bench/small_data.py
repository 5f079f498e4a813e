"""Small data, as a new user has it: does the README's own-file command, as written, beat the untouched model?

Tasks (subsets of the training files in ../shared/data, seeded; scored on `--score_rows` rows of the same file outside
the subset, the same rows for every row of a seed):
- `trec-60`: 10 questions per class of TREC's 6 classes (an intent-like set of 60 texts);
- `sst2-20`: 10 sentences per class of SST-2's 2 classes;
- `mrpc-40`: 40 MRPC pairs, 20 per class (a small FAQ-like set of matched and unmatched pairs).

Rows:
- `majority`: the subset's most frequent class (a class-balanced subset: the mean over the tied classes);
- `untouched`: what a user has without training, from the same subset. Texts: a logistic regression on the untouched
  all-MiniLM-L6-v2's normalized embeddings (`frozen_lr`, SetFit's head-only baseline); pairs: the untouched model's
  cosine, at the threshold that maximises F1 on the subset;
- `ours`: the README's own-file command as written (`OUR_COMMANDS`; only the data, columns, output folder and seed
  filled in), then `python -m scl_trainer predict` on the scoring rows. With this little data the small-data policy
  applies: no hold-out, at least 60 steps, the final model kept;
- `setfit`: SetFit 1.2.0 with its defaults (batch 16, 20 pair iterations, one epoch, logistic-regression head; a pair
  as `a [SEP] b`) on the same subset, when `setfit` is installed.

The target (issue "What a new user hit"): `ours` never below `untouched` in any seed, and above it on average.
Metrics: accuracy and macro-F1. Nothing was tuned on these rows.

    python bench/small_data.py [--tasks trec-60 ...] [--seeds 1 2 3 4 5] [--setfit true]

Resumes: each (task, seed) is recorded in bench/results/small_data/<task>/seed<k>.json once done; the subsets, runs and
predictions are in --work_dir (outside the repository: the data is never copied into it). Writes
bench/results/small_data.json and .md.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from results_io import RESULTS_DIR, paired_rows, save_markdown, save_result, summarize_rows
from transformers import HfArgumentParser

from scl_trainer.records import DEFAULT_DATA_DIR

REPO = Path(__file__).resolve().parent.parent
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
METRICS = ("accuracy", "macro_f1")
ROWS = ["majority", "untouched", "ours", "setfit"]
TASKS = {
    "trec-60": {"dataset": "trec", "per_class": 10, "pairs": False},
    "sst2-20": {"dataset": "sst2", "per_class": 10, "pairs": False},
    "mrpc-40": {"dataset": "mrpc", "per_class": 20, "pairs": True},
}
# The README's own-file commands (README.md "Your own data"; tests/test_docs.py checks they are the same), as
# written; {data}, {out} and the seed are filled in.
OUR_COMMANDS = {
    False: "python recipes/supcon_classify.py --config recipes/supcon_classify/own_minilm_embedding.yaml "
    "--dataset_name {data} --text_column utterance --label_column intent --output_dir {out}",
    True: "python recipes/supcon_pair.py --config recipes/supcon_pair/mrpc_minilm_bi_encoder.yaml "
    "--dataset_name {data} --text_a_column question --text_b_column reply --output_dir {out}",
}


@dataclass
class SmallDataArguments:
    tasks: list[str] = field(default_factory=lambda: list(TASKS), metadata={"help": f"Of {list(TASKS)}."})
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5], metadata={"help": "One subset per seed."})
    score_rows: int = field(default=1000, metadata={"help": "Rows outside the subset each seed is scored on."})
    setfit: bool = field(default=True, metadata={"help": "Run the SetFit peer (needs `pip install setfit`)."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding text_classification/, mrpc/."})
    work_dir: str = field(default="outputs/small_data", metadata={"help": "Subsets, runs and predictions."})
    record: bool = field(
        default=True, metadata={"help": "Write bench/results/small_data*; false: a check run, printed only."}
    )


def load_task(args: SmallDataArguments, task: dict):
    """(all rows of the task's training file, class names)."""
    from scl_trainer.classification_data import class_names, load_labelled
    from scl_trainer.data import load_pairs

    if task["pairs"]:
        return load_pairs(task["dataset"], split="train", data_dir=args.data_dir), ["0", "1"]
    rows = load_labelled(task["dataset"], data_dir=args.data_dir)
    return rows, class_names(rows["label"], None, task["dataset"])


def draw(rows, names: list[str], per_class: int, score_rows: int, seed: int) -> tuple[list[int], list[int]]:
    """Row indices of the subset (`per_class` of each class) and of the scoring rows (outside it), seeded."""
    rng = np.random.default_rng(seed)
    labels = [str(label) for label in rows["label"]]
    subset = []
    for name in names:
        members = [i for i, label in enumerate(labels) if label == name]
        subset += sorted(rng.choice(members, per_class, replace=False).tolist())
    rest = np.setdiff1d(np.arange(len(labels)), subset)
    return subset, sorted(rng.choice(rest, min(score_rows, len(rest)), replace=False).tolist())


def write_tsv(path: Path, rows, indices: list[int], pairs: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        out.writerow(["id", "question", "reply", "label"] if pairs else ["id", "utterance", "intent"])
        for i in indices:
            row = rows[i]
            texts = [row["text_a"], row["text_b"]] if pairs else [row["text"]]
            out.writerow([f"r{i}", *texts, row["label"]])


def untouched(rows, subset: list[int], scored: list[int], labels, names: list[str], pairs: bool, seed: int) -> dict:
    """The untouched encoder on the scoring rows: a logistic regression on its embeddings of the subset (texts), or
    its cosine at the subset's F1-maximising threshold (pairs)."""
    from transformers import AutoModel, AutoTokenizer

    from scl_trainer.metrics import best_f1_threshold, class_metrics, frozen_lr
    from scl_trainer.sentence_encoder import encode_texts, pair_cosines, sentence_model
    from scl_trainer.utils import from_pretrained

    model = sentence_model(from_pretrained(AutoModel, MODEL), MODEL)
    tokenizer = from_pretrained(AutoTokenizer, MODEL)
    if pairs:
        cosines = [pair_cosines(model, tokenizer, rows.select(part)["text_a"], rows.select(part)["text_b"], 128, 64)
                   for part in (subset, scored)]  # fmt: skip
        threshold = best_f1_threshold(np.asarray(labels[0]), cosines[0])
        return class_metrics(labels[1], (cosines[1] >= threshold).astype(int), names)
    features = [encode_texts(model, tokenizer, rows.select(part)["text"], 64, 64, normalize=True).numpy()
                for part in (subset, scored)]  # fmt: skip
    classifier = frozen_lr(features[0], labels[0], seed)
    return class_metrics(labels[1], classifier.predict(features[1]), names)


def run_ours(folder: Path, pairs: bool, seed: int) -> tuple[np.ndarray, float]:
    """The README's own-file command on the subset, then `predict` on the scoring rows: (predicted class indices,
    training wall time)."""
    out = folder / "ours"
    shutil.rmtree(out, ignore_errors=True)  # an unfinished run of this bench (its own folder): start it again
    command = OUR_COMMANDS[pairs].format(data=folder / "subset.tsv", out=out).split() + ["--seed", str(seed)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    subprocess.run([sys.executable, *command[1:]], cwd=REPO, env=env, check=True)
    seconds = time.perf_counter() - start
    columns = ["--text_a_column", "question", "--text_b_column", "reply"] if pairs else ["--text_column", "utterance"]
    predictions = folder / "predictions.tsv"
    subprocess.run([sys.executable, "-m", "scl_trainer", "predict", "--model", str(out), "--input",
                    str(folder / "scored.tsv"), *columns, "--id_columns", "id", "--output", str(predictions)],
                   cwd=REPO, env=env, check=True)  # fmt: skip
    names = json.loads((out / "config.json").read_text(encoding="utf-8")).get("class_names")
    with open(predictions, encoding="utf-8") as f:
        predicted = [line.rstrip("\n").split("\t")[1] for line in f]
    return np.array([names.index(p) if names else int(p) for p in predicted]), seconds


def run_setfit(rows, subset: list[int], scored: list[int], labels, pairs: bool, seed: int, folder: Path):
    """SetFit's defaults on the subset: (predicted class indices on the scoring rows, training wall time)."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from scl_trainer.utils import resolve_model_name_or_path

    def texts(part):
        chosen = rows.select(part)
        return [f"{a} [SEP] {b}" for a, b in zip(chosen["text_a"], chosen["text_b"])] if pairs else chosen["text"]

    start = time.perf_counter()
    model = SetFitModel.from_pretrained(resolve_model_name_or_path(MODEL))
    setfit_args = TrainingArguments(output_dir=str(folder / "setfit"), batch_size=16, num_epochs=1, seed=seed,
                                    num_iterations=20, report_to="none")  # fmt: skip
    trainer = Trainer(model=model, args=setfit_args,
                      train_dataset=Dataset.from_dict({"text": texts(subset), "label": labels[0]}))  # fmt: skip
    trainer.train()
    seconds = time.perf_counter() - start
    shutil.rmtree(folder / "setfit", ignore_errors=True)
    return np.asarray(model.predict(texts(scored), as_numpy=True)).astype(int), seconds


def task_seed(args: SmallDataArguments, name: str, seed: int, rows, names: list[str]) -> dict:
    """Every row of one (task, seed), recorded once done."""
    from scl_trainer.metrics import class_metrics, majority_baseline

    records = RESULTS_DIR / "small_data" if args.record else Path(args.work_dir) / "records"
    record = records / name / f"seed{seed}.json"
    if record.is_file():
        return json.loads(record.read_text(encoding="utf-8"))
    task = TASKS[name]
    subset, scored = draw(rows, names, task["per_class"], args.score_rows, seed)
    folder = Path(args.work_dir) / name / f"seed{seed}"
    write_tsv(folder / "subset.tsv", rows, subset, task["pairs"])
    write_tsv(folder / "scored.tsv", rows, scored, task["pairs"])
    index = {n: i for i, n in enumerate(names)}
    labels = [[index[str(rows[i]["label"])] for i in part] for part in (subset, scored)]
    values = {"majority": majority_baseline(labels[0], labels[1], names)}
    values["majority"] = {m: values["majority"][f"baseline_majority_{m}"] for m in METRICS}
    values["untouched"] = untouched(rows, subset, scored, labels, names, task["pairs"], seed)
    predicted, seconds = run_ours(folder, task["pairs"], seed)
    values["ours"], times = class_metrics(labels[1], predicted, names), {"ours": seconds}
    if args.setfit:
        predicted, times["setfit"] = run_setfit(rows, subset, scored, labels, task["pairs"], seed, folder)
        values["setfit"] = class_metrics(labels[1], predicted, names)
    result = {"seed": seed, "subset_rows": len(subset), "scored_rows": len(scored), "wall_time_s": times,
              "metrics": {row: {m: v[m] for m in METRICS} for row, v in values.items()}}  # fmt: skip
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def summarize(name: str, records: list[dict]) -> dict:
    seeds = [r["seed"] for r in records]
    values = {row: {m: {r["seed"]: r["metrics"][row][m] for r in records if row in r["metrics"]} for m in METRICS}
              for row in ROWS}  # fmt: skip
    differences = paired_rows(values, seeds, [("ours", "untouched"), ("ours", "setfit"), ("ours", "majority")],
                              METRICS)  # fmt: skip
    below = {m: sum(values["ours"][m][s] < values["untouched"][m][s] for s in seeds) for m in METRICS}
    mean_gain = {d["metric"]: d["mean"] for d in differences if d["pair"] == "ours - untouched"}
    return {
        "task": name, **TASKS[name], "seeds": seeds, "scored_rows": records[0]["scored_rows"],
        "summary": summarize_rows(values, seeds, ROWS, METRICS), "differences": differences,
        "seeds_below_untouched": below,
        "target_met": {m: below[m] == 0 and mean_gain.get(m, 0.0) > 0 for m in METRICS},
        "wall_time_s": {row: float(np.mean([r["wall_time_s"][row] for r in records if row in r["wall_time_s"]]))
                        for row in ("ours", "setfit") if any(row in r["wall_time_s"] for r in records)},
    }  # fmt: skip


def main(args: SmallDataArguments) -> dict:
    unknown = [name for name in args.tasks if name not in TASKS]
    if unknown:
        sys.exit(f"error: unknown task(s) {unknown}; choose from {list(TASKS)}")
    tasks = []
    for name in args.tasks:
        rows, names = load_task(args, TASKS[name])
        tasks.append(summarize(name, [task_seed(args, name, seed, rows, names) for seed in args.seeds]))
    result = {"model": MODEL, "commands": {"texts": OUR_COMMANDS[False], "pairs": OUR_COMMANDS[True]}, "tasks": tasks}
    if not args.record:
        print(json.dumps(result, indent=1, default=str))
        return result
    save_markdown("small_data", result)
    return save_result("small_data.json", result)


if __name__ == "__main__":
    os.chdir(REPO)
    (small_data_args,) = HfArgumentParser(SmallDataArguments).parse_args_into_dataclasses()
    main(small_data_args)
