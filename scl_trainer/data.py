"""Data loading: every loader returns a `datasets.Dataset` with `text_a`, `text_b` and (when labelled) `label`.

Rows are read and checked one by one, so bad input fails before training starts with a `DataError` that names the
file, the row (1-based line number for text files) and the column.

Sources:
- `load_ccf_qa_match`: CCF BDCI 2020 real-estate QA matching (`{split}.query.tsv` + `{split}.reply.tsv`), the seed's
  task. Keeps `query_id` and `reply_id`; split train/validation with `split_by_group` on `query_id`.
- `load_mrpc`: the Microsoft Research Paraphrase Corpus text file (header line optional, quotes are literal).
- `load_pair_file`: any CSV (header, standard quoting), TSV (header, no quoting) or JSONL file.
- `load_hub_pairs`: any dataset on the Hugging Face Hub (or a local dataset script/folder) via `load_dataset`.
- `iter_pairs` / `load_pairs`: any of the above from one data argument (`mrpc`, `ccf_qa_match`, a file path or a
  hub id), the one resolution the recipes and `python -m scl_trainer predict` use (`source_kind` says which).

SimCSE's data (sentence corpora, scored sentence pairs) is `sentence_data`.

Reading a file's rows and checking their values is `records`; splits and regimes are `splits`; tokenization is
`tokenization`.
"""

import difflib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError
from .labels import BinaryLabels
from .records import (
    DEFAULT_DATA_DIR,
    RECORD_FILE_SUFFIXES,
    checked_rows,
    is_blank,
    iter_records,
    missing_column,
    read_tsv,
    require_file,
    where,
)

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "NAMED_SOURCES",
    "check_pairs",
    "iter_ccf_qa_match",
    "iter_hub_pairs",
    "iter_mrpc",
    "iter_pair_file",
    "iter_pairs",
    "load_ccf_qa_match",
    "load_hub_dataset",
    "load_hub_pairs",
    "load_mrpc",
    "load_pair_file",
    "load_pairs",
    "source_id_columns",
    "source_kind",
    "to_dataset",
]

logger = logging.getLogger(__name__)


def _pairs(
    rows: Iterable[tuple[int, dict]],
    source: str,
    text_a_column: str,
    text_b_column: str,
    label_column: str | None,
    id_columns: tuple[str, ...] = (),
    empty_texts: str = "error",
    positive_label: str | None = None,
) -> Iterator[dict]:
    """Map source rows to {ids..., text_a, text_b[, label]}, checking every value. An empty or whitespace-only text
    raises (`empty_texts="error"`), drops the row with a logged count (`"drop"`, never silently) or is kept as it is
    (`"keep"`, for prediction, where every input row needs an output row). Labels: 0/1, or with `positive_label`
    that label and one other (`BinaryLabels`)."""
    texts = {"text_a": text_a_column, "text_b": text_b_column}
    labels = BinaryLabels(positive_label)
    yield from checked_rows(rows, source, texts, label_column, labels, id_columns, empty_texts)


def _column_flags(text_a_column, text_b_column, label_column, id_columns) -> dict[str, str]:
    """The columns a pair source must have -> the flag (and loader argument) that names each."""
    flags = {column: "id_columns" for column in id_columns}
    flags.update({text_a_column: "text_a_column", text_b_column: "text_b_column"})
    if label_column is not None:
        flags[label_column] = "label_column"
    return flags


def check_pairs(dataset: "Dataset", source: str, require_both_classes: bool = False) -> None:
    """The checks the loaders make, for a dataset built some other way (the Python API): `text_a`/`text_b` present
    and not blank, `label` present and 0/1 on every row (rows numbered from 0), and with `require_both_classes`
    both labels present. Raises `DataError` naming the dataset, row and column."""
    missing = [c for c in ("text_a", "text_b", "label") if c not in dataset.column_names]
    if missing:
        raise DataError(
            f"{where(source, None, missing[0])}: column not found; the columns are {dataset.column_names} "
            "(pairs need text_a, text_b and a 0/1 label)"
        )
    labels = [row["label"] for row in _pairs(enumerate(dataset), source, "text_a", "text_b", "label")]
    if require_both_classes and len(set(labels)) < 2:
        raise DataError(
            f"{where(source, None, 'label')}: every one of the {len(labels)} pairs has label {labels[0]}; training "
            "and validation need both classes (a classifier of one class learns nothing and SupCon has no negatives; "
            "on one class ROC-AUC and the threshold are undefined and F1 reads 1.0 for a model that says yes)"
        )


def to_dataset(records: Iterable[dict], source: str) -> "Dataset":
    from datasets import Dataset

    records = list(records)
    if not records:
        raise DataError(f"{source}: no rows")
    return Dataset.from_dict({key: [r[key] for r in records] for key in records[0]})


# ---- CCF BDCI 2020 QA matching ----------------------------------------------------------------------------------


def _ccf_queries(data_dir: str | os.PathLike, split: str, empty_texts: str = "error") -> dict[str, str]:
    """Query id -> query text. A blank query is an error here, at its own row of the query file (with
    `empty_texts="error"`), rather than at the first reply that refers to it."""
    path = require_file(Path(data_dir) / "ccf_qa_match" / f"{split}.query.tsv", "ccf_qa_match")
    queries = {}
    for row, record in read_tsv(path, ("query_id", "query")):
        if record["query_id"] in queries:
            raise DataError(f"{where(path, row, 'query_id')}: duplicate query id {record['query_id']!r}")
        if empty_texts == "error" and is_blank(record["query"]):
            raise DataError(
                f"{where(path, row, 'query')}: empty or whitespace-only text. Fix the row, or pass "
                "`--drop_empty_texts` to drop its replies with a logged count."
            )
        queries[record["query_id"]] = record["query"]
    return queries


def iter_ccf_qa_match(
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR, split: str = "train", empty_texts: str = "error"
) -> Iterator[dict]:
    """Stream the (query, reply) pairs of `{split}.reply.tsv` in file order, joined to `{split}.query.tsv` by query
    id: {query_id, reply_id, text_a (query), text_b (reply)[, label]}. `train` has labels, `test` has none."""
    queries = _ccf_queries(data_dir, split, empty_texts)
    path = require_file(Path(data_dir) / "ccf_qa_match" / f"{split}.reply.tsv", "ccf_qa_match")
    labelled = split == "train"
    fields = ("query_id", "reply_id", "reply", "label") if labelled else ("query_id", "reply_id", "reply")

    def joined():
        for row, record in read_tsv(path, fields):
            if record["query_id"] not in queries:
                raise DataError(
                    f"{where(path, row, 'query_id')}: query id {record['query_id']!r} has no query in "
                    f"{split}.query.tsv"
                )
            yield row, {**record, "query": queries[record["query_id"]]}

    yield from _pairs(
        joined(), str(path), "query", "reply", "label" if labelled else None, ("query_id", "reply_id"), empty_texts
    )


def load_ccf_qa_match(
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR, split: str = "train", empty_texts: str = "error"
) -> "Dataset":
    """The CCF QA-matching pairs as a Dataset (see `iter_ccf_qa_match`)."""
    return to_dataset(iter_ccf_qa_match(data_dir, split, empty_texts), f"ccf_qa_match/{split}")


# ---- MRPC -----------------------------------------------------------------------------------------------------------

_MRPC_FIELDS = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")


def iter_mrpc(path: str | os.PathLike, empty_texts: str = "error") -> Iterator[dict]:
    """Stream the pairs of an MSR paraphrase corpus file: `Quality<TAB>#1 ID<TAB>#2 ID<TAB>#1 String<TAB>#2 String`,
    with or without that header line; quote characters are part of the text."""
    path = require_file(path, "mrpc")

    def rows():
        for row, record in read_tsv(path, _MRPC_FIELDS):
            if row == 1 and record["Quality"] == "Quality":  # optional header line
                continue
            yield row, record

    yield from _pairs(rows(), str(path), "#1 String", "#2 String", "Quality", empty_texts=empty_texts)


def load_mrpc(path: str | os.PathLike, empty_texts: str = "error") -> "Dataset":
    """The MSR paraphrase corpus file as a Dataset (see `iter_mrpc`)."""
    return to_dataset(iter_mrpc(path, empty_texts), str(path))


# ---- Any CSV / TSV / JSONL file, any hub dataset --------------------------------------------------------------------


def iter_pair_file(
    path: str | os.PathLike,
    text_a_column: str = "text_a",
    text_b_column: str = "text_b",
    label_column: str | None = "label",
    id_columns: tuple[str, ...] = (),
    empty_texts: str = "error",
    positive_label: str | None = None,
) -> Iterator[dict]:
    """Stream the pairs of a `.csv` (header row, standard quoting), `.tsv`/`.txt` (header row, tabs, no quoting) or
    `.jsonl`/`.json` (one object per line) file. `label_column=None` reads unlabelled data."""
    path = require_file(path, "pair file")
    rows = iter_records(path, _column_flags(text_a_column, text_b_column, label_column, id_columns))
    yield from _pairs(
        rows, str(path), text_a_column, text_b_column, label_column, id_columns, empty_texts, positive_label
    )


def load_pair_file(
    path: str | os.PathLike,
    text_a_column: str = "text_a",
    text_b_column: str = "text_b",
    label_column: str | None = "label",
    empty_texts: str = "error",
    positive_label: str | None = None,
) -> "Dataset":
    """A pair file as a Dataset (see `iter_pair_file`)."""
    pairs = iter_pair_file(
        path, text_a_column, text_b_column, label_column, empty_texts=empty_texts, positive_label=positive_label
    )
    return to_dataset(pairs, str(path))


def load_hub_dataset(name: str, config_name: str | None, split: str) -> "Dataset":
    """`datasets.load_dataset(name, config_name, split=split)` with one clear error when the Hub (or the local
    dataset folder) cannot give it: unreachable or disabled, no such dataset, config or split."""
    from datasets import load_dataset
    from huggingface_hub import constants as hub_constants

    try:
        return load_dataset(name, config_name, split=split)
    except (ConnectionError, FileNotFoundError, ValueError) as e:  # datasets' not-found errors subclass these
        offline = hub_constants.HF_HUB_OFFLINE or os.environ.get("HF_DATASETS_OFFLINE") == "1"
        reason = "the Hugging Face Hub is disabled here (HF_HUB_OFFLINE=1)" if offline else " ".join(str(e).split())
        raise DataError(
            f"{name}" + (f" (config {config_name})" if config_name else "") + f", split {split!r}: not a local file "
            f"and not loadable as a dataset: {reason}. Give a .csv/.tsv/.jsonl file, or a dataset id, config and "
            "split that exist"
        ) from None


def iter_hub_pairs(
    name: str,
    config_name: str | None = None,
    split: str = "train",
    text_a_column: str = "text_a",
    text_b_column: str = "text_b",
    label_column: str | None = "label",
    id_columns: tuple[str, ...] = (),
    empty_texts: str = "error",
    positive_label: str | None = None,
) -> Iterator[dict]:
    """The pairs of a split of a hub dataset (e.g. `nyu-mll/glue`, config `mrpc`, columns `sentence1`/`sentence2`/
    `label`) or of a local dataset folder, through `datasets.load_dataset`."""
    dataset = load_hub_dataset(name, config_name, split)
    source = f"{name}" + (f"/{config_name}" if config_name else "") + f"[{split}]"
    flags = _column_flags(text_a_column, text_b_column, label_column, id_columns)
    for column, flag in flags.items():
        if column not in dataset.column_names:
            raise missing_column(source, None, column, flag, dataset.column_names, used=flags)
    # Hub rows are numbered from 0, as in the dataset viewer.
    yield from _pairs(
        enumerate(dataset), source, text_a_column, text_b_column, label_column, id_columns, empty_texts, positive_label
    )


def load_hub_pairs(name: str, config_name: str | None = None, split: str = "train", **columns) -> "Dataset":
    """A split of a hub dataset as a Dataset (see `iter_hub_pairs` for the column and empty-text arguments)."""
    source = f"{name}" + (f"/{config_name}" if config_name else "") + f"[{split}]"
    return to_dataset(iter_hub_pairs(name, config_name, split, **columns), source)


# ---- One data argument -> rows: named datasets, files, hub ids ------------------------------------------------------

NAMED_SOURCES = ("ccf_qa_match", "mrpc", "stsb")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def source_kind(source: str) -> str:
    """What a data argument names: one of `NAMED_SOURCES` (read from `data_dir`), `file` (a .csv/.tsv/.txt/.jsonl
    path, existing or not) or `hub` (a Hub dataset id or a local dataset folder, for `datasets.load_dataset`).
    An existing file of another type is an error, never a Hub lookup."""
    if source in NAMED_SOURCES:
        return source
    suffix = os.path.splitext(source)[1].lower()
    if suffix in RECORD_FILE_SUFFIXES:
        return "file"
    if os.path.isfile(source):
        raise DataError(
            f"{source}: unsupported file type {suffix or '(no suffix)'!r}; use one of "
            f"{', '.join(RECORD_FILE_SUFFIXES)}"
        )
    if os.path.isdir(source):
        return "hub"  # a local dataset folder, for `datasets.load_dataset`
    # Not a file, not a folder: a Hub id (`name` or `owner/name`), unless it looks like a path or a file name.
    close = difflib.get_close_matches(suffix, RECORD_FILE_SUFFIXES, n=1, cutoff=0.6) if suffix else []
    if close or not HUB_ID.fullmatch(source):
        hint = f" (a {close[0]} file?)" if close else ""
        raise DataError(
            f"{source}: no such file{hint}, and not a Hugging Face Hub dataset id (`name` or `owner/name`); data "
            f"files are {', '.join(RECORD_FILE_SUFFIXES)}"
        )
    return "hub"


def iter_pairs(
    source: str,
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR,
    split: str = "train",
    text_a_column: str = "text_a",
    text_b_column: str = "text_b",
    label_column: str | None = "label",
    id_columns: tuple[str, ...] = (),
    empty_texts: str = "error",
    dataset_config: str | None = None,
    positive_label: str | None = None,
) -> Iterator[dict]:
    """The pairs a data argument names, lazily, as {id columns..., text_a, text_b[, label]}: the one place that
    turns `--dataset_name`, `--validation_file` or `predict --input` into rows.

    - `ccf_qa_match`: `data_dir/ccf_qa_match/{split}.{query,reply}.tsv` (ids `query_id`, `reply_id`; labels in train);
    - `mrpc`: `data_dir/mrpc/msr_paraphrase_{split}.txt`;
    - a .csv/.tsv/.txt/.jsonl file with a header (the column arguments; `split` unused);
    - anything else: a Hub dataset id or local dataset folder, its `split` (and `dataset_config`).
    `label_column=None` reads unlabelled data. Empty texts: see `empty_texts` of the loaders. `positive_label`:
    the label that counts as 1 in a file or hub dataset whose labels are names (`BinaryLabels`).
    """
    kind = source_kind(source)
    if kind == "ccf_qa_match":
        yield from iter_ccf_qa_match(data_dir, split, empty_texts)
    elif kind == "mrpc":
        yield from iter_mrpc(Path(data_dir) / "mrpc" / f"msr_paraphrase_{split}.txt", empty_texts)
    elif kind == "file":
        yield from iter_pair_file(
            source, text_a_column, text_b_column, label_column, id_columns, empty_texts, positive_label
        )
    elif kind == "hub":
        yield from iter_hub_pairs(
            source,
            dataset_config,
            split,
            text_a_column,
            text_b_column,
            label_column,
            id_columns,
            empty_texts,
            positive_label,
        )
    else:
        raise DataError(f"{source}: holds scored sentence pairs (STS), not labelled pairs")


def source_id_columns(source: str, id_columns: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The id columns a source's rows carry for output files: CCF's query/reply ids, else the ones asked for."""
    return ("query_id", "reply_id") if source_kind(source) == "ccf_qa_match" else tuple(id_columns)


def load_pairs(source: str, **kwargs) -> "Dataset":
    """`iter_pairs` as a Dataset."""
    return to_dataset(iter_pairs(source, **kwargs), source)
