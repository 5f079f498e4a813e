"""Streaming prediction for one-logit pair classifiers: rows in, one output line per row, in input order.

Rows are read lazily, tokenized and scored batch by batch and written as they come, so memory does not grow with the
input; a partly written output can be continued with `resume=True` (the rows already written are skipped).
"""

import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .data import count_records, iter_pairs, source_id_columns, source_kind

__all__ = ["open_pairs", "predict_pairs"]


def open_pairs(
    source: str,
    data_dir: str | os.PathLike,
    text_a_column: str = "text_a",
    text_b_column: str = "text_b",
    id_columns: tuple[str, ...] = (),
    split: str = "test",
) -> tuple[Iterator[dict], tuple[str, ...], int | None]:
    """The rows to predict, lazily, with the id columns to write and the row count when it is cheap to know.

    `source` is any data argument of `scl_trainer.data.iter_pairs`: `ccf_qa_match` (the CCF `{split}` files in
    `data_dir`, one row per reply, ids `query_id`/`reply_id`, the seed's submission format), a .csv/.tsv/.jsonl file
    with a header, ... Labels are not read. Empty texts are kept: every input row gets an output line. The count is
    known for CCF and for files (a streaming pass), not for Hub datasets.
    """
    id_columns = source_id_columns(source, id_columns)
    total = None
    if source_kind(source) == "ccf_qa_match":
        with open(Path(data_dir) / "ccf_qa_match" / f"{split}.reply.tsv", "rb") as f:  # one line per reply, no header
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    elif source_kind(source) == "file" and Path(source).is_file():
        total = count_records(source)  # one streaming pass with the same reader (quoted newlines count right)
    pairs = iter_pairs(
        source,
        data_dir,
        split,
        text_a_column,
        text_b_column,
        label_column=None,
        id_columns=() if source_kind(source) == "ccf_qa_match" else id_columns,
        empty_texts="keep",
    )
    return pairs, id_columns, total


def _complete_lines(path) -> int:
    """Count the complete lines of a partly written output and cut off a torn last line (a run killed mid-write)."""
    count = end = 0
    with open(path, "rb+") as f:
        for line in f:
            if line.endswith(b"\n"):
                count, end = count + 1, end + len(line)
        f.truncate(end)
    return count


@torch.inference_mode()
def predict_pairs(
    model,
    tokenizer,
    pairs: Iterable[dict],
    output_path: str | os.PathLike,
    *,
    max_length: int,
    id_columns: tuple[str, ...] = (),
    batch_size: int = 64,
    threshold: float | None = None,
    write_probability: bool = False,
    resume: bool = False,
    total: int | None = None,
) -> int:
    """Score `text_a`/`text_b` pairs and write `id_1<TAB>...<TAB>label[<TAB>probability]` lines (no header).

    With `id_columns=("query_id", "reply_id")` this is the CCF submission format `query_id<TAB>reply_id<TAB>label`.
    Without id columns the row index (0-based) is written first. `label` is 1 when sigmoid(logit) >= threshold, the
    model's tuned `config.decision_threshold` by default (0.5 if it has none). Returns the number of rows written.
    """
    if threshold is None:
        threshold = getattr(model.config, "decision_threshold", 0.5)
    model.eval()
    device = next(model.parameters()).device

    done = _complete_lines(output_path) if resume and os.path.exists(output_path) else 0
    rows = itertools.islice(enumerate(pairs), done, None)

    written = done
    with (
        open(output_path, "a" if done else "w", encoding="utf-8") as out,
        tqdm(total=total, initial=done, unit="pairs", desc="Predicting") as progress,
    ):
        while batch := list(itertools.islice(rows, batch_size)):
            encoded = tokenizer(
                [row["text_a"] for _, row in batch],
                [row["text_b"] for _, row in batch],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            probabilities = torch.sigmoid(model(**encoded).logits.float().squeeze(-1)).tolist()
            for (index, row), p in zip(batch, probabilities):
                ids = [str(row[c]) for c in id_columns] if id_columns else [str(index)]
                fields = [*ids, str(int(p >= threshold))] + ([f"{p:.6f}"] if write_probability else [])
                out.write("\t".join(fields) + "\n")
            out.flush()
            written += len(batch)
            progress.update(len(batch))
    return written
