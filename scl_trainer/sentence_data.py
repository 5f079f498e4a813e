"""SimCSE's data: unlabelled sentence corpora and scored sentence pairs (STS), every row checked.

- `load_sentences`: a training corpus, one `text` column, empty lines dropped and duplicates removed (`stsb`, a
  `.txt` file of one sentence per line, a `.csv`/`.tsv`/`.jsonl` column or a Hub dataset).
- `load_stsb`: the STS benchmark's pairs with their gold similarity; `load_sts_file`: your own scored pairs.
- `check_sentences` / `check_scored_pairs`: the same checks on datasets built by hand (the Python API).

Errors are `DataError`s naming the file, the row and the column, as for pairs (`data`, `records`).
"""

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .data import load_hub_dataset, source_kind, to_dataset
from .errors import DataError
from .records import (
    DEFAULT_DATA_DIR,
    TextFile,
    check_text,
    is_blank,
    iter_records,
    missing_column,
    parse_score,
    require_file,
    where,
)

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["STSB_FILES", "check_scored_pairs", "check_sentences", "load_sentences", "load_sts_file", "load_stsb"]

logger = logging.getLogger(__name__)


def check_sentences(dataset: "Dataset", source: str) -> None:
    """A training corpus built by hand (the Python API): a `text` column, no blank text (rows numbered from 0)."""
    for row, value in enumerate(dataset["text"]):
        if check_text(value, source, row, "text") is None:
            raise DataError(f"{where(source, row, 'text')}: empty or whitespace-only text")


def _scored_pair(record: dict, source, row: int, columns: tuple[str, str, str], score_range) -> dict:
    """One row of scored sentence pairs, checked: both texts not blank, the score a finite number (in range)."""
    texts = []
    for column in columns[:2]:
        text = check_text(record[column], source, row, column)
        if text is None:
            raise DataError(f"{where(source, row, column)}: empty or whitespace-only text")
        texts.append(text)
    score = parse_score(record[columns[2]], source, row, columns[2], score_range)
    return {"sentence1": texts[0], "sentence2": texts[1], "score": score}


def check_scored_pairs(dataset: "Dataset", source: str) -> None:
    """STS-style pairs built by hand: texts not blank, `score` a finite number on every row (rows from 0), and not
    one score for every pair (the Spearman correlation would be undefined: nan, which no checkpoint choice can use)."""
    scores = [_scored_pair(record, source, row, ("sentence1", "sentence2", "score"), None)["score"]
              for row, record in enumerate(dataset)]  # fmt: skip
    if len(set(scores)) == 1:
        raise DataError(
            f"{where(source, None, 'score')}: every pair has score {scores[0]:g}; the Spearman correlation of "
            "constant scores is undefined: give pairs of different similarity"
        )


STSB_FILES = {"train": "sts-train.csv", "validation": "sts-dev.csv", "dev": "sts-dev.csv", "test": "sts-test.csv"}


def load_stsb(data_dir: str | os.PathLike = DEFAULT_DATA_DIR, split: str = "validation") -> "Dataset":
    """STS benchmark pairs with their gold similarity: {sentence1, sentence2, score (0-5)}.

    The files are tab-separated without quoting: genre, file, year, id, score, sentence1, sentence2, and on some rows
    two more source fields, which are ignored. Rows are read by splitting on tabs (quote characters are text)."""
    if split not in STSB_FILES:
        raise ValueError(f"STS-B split must be one of {sorted(STSB_FILES)}, got {split!r}")
    path = require_file(Path(data_dir) / "stsbenchmark" / STSB_FILES[split], "stsbenchmark")
    records = []
    with TextFile(path) as f:
        for row, line in enumerate(f, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) not in (7, 9):
                raise DataError(
                    f"{where(path, row)}: expected 7 tab-separated fields (genre, file, year, id, score, sentence1, "
                    f"sentence2), or 9 with the two source fields; found {len(fields)}"
                )
            score = parse_score(fields[4], path, row, "score", (0.0, 5.0))
            for column, text in (("sentence1", fields[5]), ("sentence2", fields[6])):
                if is_blank(text):
                    raise DataError(f"{where(path, row, column)}: empty or whitespace-only text")
            records.append({"sentence1": fields[5], "sentence2": fields[6], "score": score})
    return to_dataset(records, str(path))


def load_sts_file(
    path: str | os.PathLike,
    score_range: tuple[float, float] | None = None,
    sentence1_column: str = "sentence1",
    sentence2_column: str = "sentence2",
    score_column: str = "score",
) -> tuple["Dataset", tuple[float, float]]:
    """Scored sentence pairs from a .csv/.tsv/.jsonl file with a header: {sentence1, sentence2, score}, every row
    checked (texts not empty, score a finite number within `score_range` when given). Returns the pairs and the
    score range: the one given, or the one found in the file (logged as inferred)."""
    path = require_file(path, "STS file")
    columns = (sentence1_column, sentence2_column, score_column)
    needed = dict(zip(columns, ("sentence1_column", "sentence2_column", "score_column")))
    records = [_scored_pair(record, path, row, columns, score_range) for row, record in iter_records(path, needed)]
    dataset = to_dataset(records, str(path))
    if score_range is None:
        scores = dataset["score"]
        score_range = (min(scores), max(scores))
        logger.info(f"{path}: scores range from {score_range[0]:g} to {score_range[1]:g} (inferred from the file)")
    return dataset, score_range


def load_sentences(
    source: str = "stsb",
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR,
    column: str = "text",
    config_name: str | None = None,
    split: str = "train",
) -> "Dataset":
    """An unlabelled sentence corpus as a Dataset with one `text` column: empty lines dropped, duplicates removed
    (first occurrence kept, order preserved), both counts logged.

    `source`: `stsb` (the unique sentences of STS-B train, scores unused), a `.txt` file (one sentence per line), a
    `.csv`/`.tsv`/`.jsonl` file (`column`), or a Hugging Face Hub dataset id (`column`, `config_name`, `split`)."""
    kind, suffix = source_kind(source), os.path.splitext(source)[1].lower()
    if kind == "stsb":
        pairs = load_stsb(data_dir, "train")
        texts = [t for pair in zip(pairs["sentence1"], pairs["sentence2"]) for t in pair]
        origin = str(Path(data_dir) / "stsbenchmark" / STSB_FILES["train"])
    elif suffix == ".txt":
        path = require_file(source, "sentence file")
        with TextFile(path) as f:
            texts = [line.rstrip("\r\n") for line in f]
        origin = str(path)
    elif kind == "file":  # (.txt was taken above: one sentence per line, no header)
        path = require_file(source, "sentence file")
        rows = iter_records(path, {column: "text_column"})
        texts = [check_text(record[column], path, row, column) for row, record in rows]
        origin = str(path)
    elif kind == "hub":
        dataset = load_hub_dataset(source, config_name, split)
        if column not in dataset.column_names:
            raise missing_column(source, None, column, "text_column", dataset.column_names)
        texts = [check_text(value, source, row, column) for row, value in enumerate(dataset[column], start=1)]
        origin = source
    else:
        raise DataError(f"{source}: holds labelled pairs, not sentences; give `stsb`, a file or a Hub dataset id")
    non_empty = [t for t in texts if t is not None and not is_blank(t)]
    unique = list(dict.fromkeys(non_empty))
    if len(non_empty) < len(texts) or len(unique) < len(non_empty):
        logger.info(
            f"{origin}: {len(texts)} sentences, dropped {len(texts) - len(non_empty)} empty and "
            f"{len(non_empty) - len(unique)} duplicates, {len(unique)} left"
        )
    if not unique:
        raise DataError(f"{origin}: no sentences")
    return to_dataset([{"text": text} for text in unique], origin)
