"""Label values: the one rule by which a label becomes a class, for both recipes, every file (training, validation,
predict) and the Python API.

- Surrounding whitespace is not part of a label: `" positive "` is `positive`.
- Case does not make a class: `Positive` and `positive` are one class, named by its first spelling in the training
  data (the other spellings are logged). Names given with `--label_names` are matched the same way.
- A number is its integer when it is integral: `1`, `1.0`, `"1"`, `" 1.00 "` and `"01"` are all the label `1`.
  Other texts are kept as written (`"0.5"`, `"one"`); a JSON boolean is the name `true` / `false` (and 1 / 0 where
  a pair task wants 0/1).
- A missing value (null/None, NaN, an empty or whitespace-only text, the text `nan`) is an error naming the file,
  row and column: a row without a label is never a class of its own.

Two-class pairs (`parse_label`, `BinaryLabels`) read their values by the same rule, then require 0/1 (or, with
`--positive_label`, that label and one other). Metric keys per class (`class_metric_keys`) are unique for any set
of class names.

Nothing here imports `datasets`, numpy or scikit-learn: labels are checked before the training stack loads.
"""

import logging
import math
import re

from .errors import DataError
from .records import where

logger = logging.getLogger(__name__)

__all__ = ["BinaryLabels", "class_metric_keys", "label_key", "parse_label", "read_label"]

_INTEGRAL = re.compile(r"[+-]?\d+(\.0*)?")


def read_label(value, source, row, column) -> str:
    """A label value as its class spelling (see the module's rule); a missing value or a value that is not a scalar
    is a `DataError` naming the row."""
    if isinstance(value, bool):
        return str(value).lower()  # as JSON writes it
    if isinstance(value, (dict, list, tuple)):
        raise DataError(f"{where(source, row, column)}: expected a class label, got {value!r}")
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    text = "" if missing else str(value).strip()
    if not text or text.casefold() == "nan":
        raise DataError(
            f"{where(source, row, column)}: missing label ({value!r}); give the row its class or remove the row"
        )
    if _INTEGRAL.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text


def label_key(label: str) -> str:
    """What makes two label spellings the same class: the text without case (`casefold`)."""
    return label.casefold()


def parse_label(value, source, row, column) -> int:
    """0 or 1 (`read_label`'s spellings: 0/1 as int, bool, integral float or text); anything else (2, 'yes', NaN,
    an empty value) is an error."""
    if isinstance(value, bool):
        return int(value)
    label = read_label(value, source, row, column)
    if label in ("0", "1"):
        return int(label)
    hint = ""
    if not _INTEGRAL.fullmatch(label):
        hint = (
            f"; for labels such as {label!r}, name the label of the positive class with --positive_label (e.g. "
            f"--positive_label {label}): it counts as 1, the one other label of the file as 0"
        )
    elif int(label) > 1:
        hint = "; for three classes or more, name them all (--label_names, SCLConfig(label_names=...))"
    raise DataError(f"{where(source, row, column)}: label must be 0 or 1, got {value!r}{hint}")


class BinaryLabels:
    """The 0/1 labels of one file, row by row: 0/1 as `parse_label` reads them, or with `positive` (the
    `--positive_label` flag) that label as 1 and the one other label of the file as 0 (`match`/`no_match`,
    `yes`/`no`, `true`/`false`; compared by `label_key`). A third label is an error naming both rows."""

    def __init__(self, positive: str | None = None):
        self.positive = None if positive is None else read_label(positive, "--positive_label", None, None)
        self.negative: tuple[str, int] | None = None  # the other label and the row it was first seen on

    def __call__(self, value, source, row, column) -> int:
        if self.positive is None:
            return parse_label(value, source, row, column)
        label = read_label(value, source, row, column)
        if label_key(label) == label_key(self.positive):
            return 1
        if self.negative is None:
            self.negative = (label, row)
        elif label_key(label) != label_key(self.negative[0]):
            raise DataError(
                f"{where(source, row, column)}: label {label!r} is neither the positive label {self.positive!r} nor "
                f"{self.negative[0]!r} (the other label, first at row {self.negative[1]}); a pair task has two labels"
            )
        return 0


def class_metric_keys(class_names: list[str]) -> list[str]:
    """The key of each class in metric names (`f1_<key>`): non-word characters as `_`; where two names would give
    the same key (`a b`, `a_b`), the later ones get their class index appended (`a_b_1`), so every key is unique."""
    keys: list[str] = []
    for index, name in enumerate(class_names):
        key = re.sub(r"\W+", "_", name)
        while key in keys:
            key = f"{key}_{index}"
        keys.append(key)
    return keys
