"""Reading data files and records, every value checked: the one place a row of a user's file becomes a Python value.

Errors are `DataError`s naming the file, the row (1-based line number for text files) and the column (`where`):
- text files are UTF-8 (`TextFile`; another encoding is an error naming the line, with the `iconv` fix);
- `iter_records`: the rows of a `.csv` (header, standard quoting), `.tsv`/`.txt` (header, tabs, no quoting) or
  `.jsonl`/`.json` (one object per line; a `.json` file may hold one array of objects instead) file, the needed
  columns checked, JSON strings checked to be text (no lone surrogate); `read_tsv`: a header-less fixed layout;
- `check_text`, `parse_score`: one value of a row (labels: `labels.read_label`).

Nothing here imports `datasets`, numpy or scikit-learn: the command line parses its flags and checks its input files
before the training stack loads.
"""

import csv
import difflib
import itertools
import json
import logging
import math
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import DataError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DATA_DIR",
    "RECORD_FILE_SUFFIXES",
    "TextFile",
    "check_text",
    "checked_rows",
    "count_records",
    "is_blank",
    "iter_records",
    "missing_column",
    "parse_score",
    "read_tsv",
    "require_file",
    "where",
]

DEFAULT_DATA_DIR = "../shared/data"
# Files read as records with a header (`iter_records`): .csv, tab-separated .tsv/.txt, one JSON object per line.
RECORD_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json")

csv.field_size_limit(2**31 - 1)


def where(source: str | os.PathLike, row: int | None = None, column: str | None = None) -> str:
    text = str(source)
    if row is not None:
        text += f", row {row}"
    if column is not None:
        text += f", column '{column}'"
    return text


def require_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise DataError(f"{what}: {path} is a directory; give the data file inside it")
    if not path.parent.is_dir():
        raise DataError(
            f"{what}: directory {path.parent} does not exist (looking for {path.name}). "
            "Set the data directory (`--data_dir`) to the folder that holds the data."
        )
    raise DataError(f"{what}: file {path} does not exist")


def is_blank(text: str) -> bool:
    """Nothing a model could read: only whitespace, zero-width and control/format characters (NUL, ZWSP, BOM, ...)."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def check_text(value, source, row, column) -> str | None:
    """The text, or None when it is blank (`is_blank`; the caller decides: error or logged drop)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str):
        raise DataError(f"{where(source, row, column)}: expected text, got {type(value).__name__} {value!r}")
    return None if is_blank(value) else value


def checked_rows(
    rows: Iterable[tuple[int, dict]],
    source,
    texts: dict[str, str],
    label_column: str | None,
    parse: Callable[[object, object, int, str], object],
    id_columns: tuple[str, ...] = (),
    empty_texts: str = "error",
) -> Iterator[dict]:
    """Map source rows (row number, record) to {ids..., texts..., [label]}, every value checked: `texts` maps each
    output key to its column (`{"text_a": ..., "text_b": ...}` or `{"text": ...}`), `parse(value, source, row,
    column)` reads a label. An empty or whitespace-only text raises (`empty_texts="error"`), drops the row with a
    logged count (`"drop"`, never silently) or is kept as it is (`"keep"`, for prediction, where every input row
    needs an output row)."""
    if empty_texts not in ("error", "drop", "keep"):
        raise ValueError(f"empty_texts must be 'error', 'drop' or 'keep', got {empty_texts!r}")
    dropped = []
    for row, record in rows:
        values = {key: check_text(record[column], source, row, column) for key, column in texts.items()}
        empty = next((texts[key] for key, value in values.items() if value is None), None)
        if empty is not None and empty_texts != "keep":
            if empty_texts == "error":
                raise DataError(
                    f"{where(source, row, empty)}: empty or whitespace-only text. Fix the row, or pass "
                    "`--drop_empty_texts` to drop such rows with a logged count."
                )
            dropped.append(row)
            continue
        out = {name: record[name] for name in id_columns}
        out.update({key: value or "" for key, value in values.items()})
        if label_column is not None:
            out["label"] = parse(record[label_column], source, row, label_column)
        yield out
    if dropped:
        shown = ", ".join(map(str, dropped[:10])) + (", ..." if len(dropped) > 10 else "")
        logger.warning(f"{source}: dropped {len(dropped)} rows with empty text (rows {shown})")


class TextFile:
    """A data file opened as UTF-8 (a byte-order mark is accepted), whose decoding errors become a `DataError`
    naming the file, the row (line) and the encoding, instead of a `UnicodeDecodeError` at a byte offset."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed in __exit__)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def __iter__(self):
        try:
            yield from self.file
        except UnicodeDecodeError as e:
            raise DataError(f"{where(self.path, _first_undecodable_line(self.path))}: {_not_utf8(e)}") from None


def _first_undecodable_line(path: Path) -> int:
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _not_utf8(error: UnicodeDecodeError) -> str:
    return (
        f"not UTF-8 text (byte {error.object[error.start : error.start + 1]!r} cannot be decoded); the file is in "
        "another encoding (e.g. GBK, Latin-1): convert it to UTF-8 first, e.g. `iconv -f GBK -t UTF-8`"
    )


def read_tsv(path: Path, fields: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """Header-less, quote-less tab-separated file with a fixed layout; yields (line number, {field: value})."""
    with TextFile(path) as f:
        for row, values in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not values:
                continue
            if len(values) != len(fields):
                hint = " Is the file tab-separated?" if len(values) == 1 else ""
                raise DataError(
                    f"{where(path, row)}: expected {len(fields)} tab-separated fields ({', '.join(fields)}), "
                    f"found {len(values)}.{hint}"
                )
            yield row, dict(zip(fields, values))


def missing_column(
    source, row: int | None, column: str, flag: str | None, found: list[str], used: Iterable[str] = ()
) -> DataError:
    """The error for a column the data does not have: where, the columns it has, and the flag that names another
    (with the closest column as the example, never one of the `used` columns, which another flag already reads)."""
    message = f"{where(source, row, column)}: column not found; the columns are {found}"
    if flag:
        free = [name for name in found if name not in set(used)]
        close = difflib.get_close_matches(column, free, n=1, cutoff=0.5)
        message += f". Name the column to use with --{flag} " + (f"(--{flag} {close[0]}?)" if close else "COLUMN")
    return DataError(message)


def iter_records(path: Path, needed: dict[str, str | None]) -> Iterator[tuple[int, dict]]:
    """(row number, {column: value}) of a `.csv` (header row, standard quoting), `.tsv`/`.txt` (header row, tabs, no
    quoting) or `.jsonl`/`.json` (one object per line, or a `.json` array of objects) file, checking that the
    `needed` columns exist (`needed`: each column -> the flag that picks it, named by the error)."""
    suffix = path.suffix.lower()

    def check_columns(found: Iterable[str], row: int):
        missing = [c for c in needed if c not in found]
        if missing:
            found = list(found)
            if len(found) == 1 and any(d in found[0] for d in "\t,;|"):
                raise DataError(
                    f"{where(path, row, missing[0])}: column not found; the header was read as a single column "
                    f"{found[0]!r}: wrong delimiter for a {suffix} file?"
                )
            used = [c for c in needed if c in found]  # read by another flag: never the suggestion
            raise missing_column(path, row, missing[0], needed[missing[0]], found, used)

    with TextFile(path) as f:
        if suffix in (".jsonl", ".json"):
            for row, record in _json_records(path, f, suffix):
                if not isinstance(record, dict):
                    raise DataError(f"{where(path, row)}: expected a JSON object, got {type(record).__name__}")
                for column, value in record.items():
                    if isinstance(value, str) and not _is_unicode(value):
                        raise DataError(
                            f"{where(path, row, column)}: a lone surrogate escape ({_first_surrogate(value)}) is not "
                            "text; fix or remove it (a \\uD800-\\uDFFF escape must be half of a pair)"
                        )
                check_columns(record, row)
                yield row, record
            return
        reader = csv.reader(f) if suffix == ".csv" else csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file (a header row with the column names is expected)")
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise DataError(f"{where(path, 1, repeated[0])}: the header names this column more than once")
        check_columns(header, 1)
        start = reader.line_num + 1  # the line a record starts on (a quoted field may span lines)
        for values in reader:
            if values and len(values) != len(header):
                at = where(path, start)
                if suffix == ".csv" and reader.line_num > start and any('"' in v or "\n" in v for v in values):
                    raise DataError(
                        f"{at}: a quote opened on this row is not closed (the record runs to line "
                        f"{reader.line_num}); close it, or double the quote inside a quoted field"
                    )
                raise DataError(f"{at}: {len(values)} fields, the header has {len(header)}")
            if values:
                yield start, dict(zip(header, values))
            start = reader.line_num + 1


def _json_records(path: Path, f: "TextFile", suffix: str) -> Iterator[tuple[int, object]]:
    """(row, value) of JSON Lines (row = line number); a `.json` file may instead hold one JSON array of objects
    (row = the object's position, from 1), as `datasets` reads it."""
    lines = enumerate(f, start=1)
    first = next(((row, line) for row, line in lines if line.strip()), None)
    if first is None:
        return
    if suffix == ".json" and first[1].lstrip().startswith("["):
        # One array: parsed whole, the skipped blank lines kept so that JSON errors name the file's line.
        text = "\n" * (first[0] - 1) + first[1] + "".join(rest for _, rest in lines)
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{where(path, e.lineno)}: not a JSON array of objects ({e.msg})") from None
        yield from enumerate(values if isinstance(values, list) else [values], start=1)
        return
    for row, line in itertools.chain([first], lines):
        if not line.strip():
            continue
        try:
            yield row, json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where(path, row)}: not a JSON object ({e.msg})") from None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_surrogate(text: str) -> str:
    return next(f"\\u{ord(c):04x}" for c in text if 0xD800 <= ord(c) <= 0xDFFF)


def count_records(path: str | os.PathLike) -> int:
    """The number of data rows of a .csv/.tsv/.txt/.jsonl file, read as `iter_pair_file` reads it (streaming)."""
    return sum(1 for _ in iter_records(require_file(path, "pair file"), {}))


def parse_score(value, source, row, column: str, score_range: tuple[float, float] | None) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where(source, row, column)}: not a number: {value!r}") from None
    if score_range is None and not math.isfinite(score):
        raise DataError(f"{where(source, row, column)}: must be a finite number, got {value!r}")
    if score_range is not None and not score_range[0] <= score <= score_range[1]:  # also rejects NaN and inf
        raise DataError(
            f"{where(source, row, column)}: must be within [{score_range[0]:g}, {score_range[1]:g}], got {value!r}"
        )
    return score
