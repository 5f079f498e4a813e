"""Labelled texts for classification: single texts or text pairs with class labels (names or integers), K >= 2.

A dataset holds `text` (single texts) or `text_a` + `text_b` (pairs), and `label`: the class name as read (a string)
until `encode_labels` turns it into the class index. The class names come from the training data, sorted (integers
numerically), or from the user (`--label_names`, which also fixes their order); a validation or prediction label
outside them is an error naming the file, the row and the value. Every label value is read by the one rule of
`labels` (whitespace, case, numeric spellings, missing values).

Named datasets (in `data_dir`, see its README): `trec`, `sst2`, `cr`, `subj` (`text_classification/<name>/train.jsonl`,
`text` and `label`) and `sick` (`sick/sick_train.tsv`: `sentence_A`, `sentence_B`, `entailment_judgment`).
"""

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .data import source_kind, to_dataset
from .errors import DataError
from .labels import label_key, read_label
from .records import DEFAULT_DATA_DIR, check_text, checked_rows, iter_records, require_file, where
from .rendering import check_line_field

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "CLASSIFICATION_SOURCES",
    "check_label_indices",
    "check_labelled",
    "class_names",
    "encode_labels",
    "iter_labelled",
    "load_labelled",
]

logger = logging.getLogger(__name__)

# name -> (file in data_dir, its text column, its second text column or None, its label column)
CLASSIFICATION_SOURCES = {
    **{
        name: (f"text_classification/{name}/train.jsonl", "text", None, "label")
        for name in ("trec", "sst2", "cr", "subj")
    },
    "sick": ("sick/sick_train.tsv", "sentence_A", "sentence_B", "entailment_judgment"),
}


def iter_labelled(
    source: str,
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR,
    text_column: str = "text",
    text_b_column: str | None = None,
    label_column: str | None = "label",
    id_columns: tuple[str, ...] = (),
    empty_texts: str = "error",
    classes: list[str] | None = None,
) -> Iterator[dict]:
    """The rows of a named classification dataset or a .csv/.tsv/.jsonl file: {ids..., text | text_a + text_b[,
    label]}, every value checked. Labels are kept as read (a string); with `classes` (the training data's class names)
    a label outside them is an error. `label_column=None` reads unlabelled rows (prediction). Empty texts: "error",
    "drop" (logged) or "keep" (as for the pair loaders)."""
    if source in CLASSIFICATION_SOURCES:
        file, text_column, text_b_column, named_label = CLASSIFICATION_SOURCES[source]
        path = require_file(Path(data_dir) / file, source)
        label_column = named_label if label_column is not None else None
    elif source_kind(source) == "file":
        path = require_file(source, "classification file")
    else:
        raise DataError(
            f"{source}: a classification dataset is one of {sorted(CLASSIFICATION_SOURCES)} or a .csv/.tsv/.jsonl file"
        )
    flags = {column: "id_columns" for column in id_columns}
    flags[text_column] = "text_column"
    if text_b_column is not None:
        flags[text_b_column] = "text_b_column"
    if label_column is not None:
        flags[label_column] = "label_column"
    texts = {"text": text_column} if text_b_column is None else {"text_a": text_column, "text_b": text_b_column}

    known = None if classes is None else {label_key(name): name for name in classes}

    def class_label(value, source, row, column) -> str:
        label = read_label(value, source, row, column)
        if known is None:
            return label
        if label_key(label) not in known:
            raise DataError(
                f"{where(source, row, column)}: label {label!r} is not one of the training data's classes "
                f"{list(classes)}"
            )
        return known[label_key(label)]  # the training data's spelling of the class

    yield from checked_rows(iter_records(path, flags), path, texts, label_column, class_label, id_columns, empty_texts)


def load_labelled(source: str, **kwargs) -> "Dataset":
    """`iter_labelled` as a Dataset."""
    return to_dataset(iter_labelled(source, **kwargs), source)


def class_names(labels: list, given: list[str] | None = None, source: str = "the training data") -> list[str]:
    """The classes, in index order: `given` (`--label_names`: it must name every label found, each once), else the
    labels found, sorted (numerically when they are all integers). Labels are read by the rule of `labels`
    (`read_label`, `label_key`): a class is named by its first spelling; other spellings of it are logged. Two
    classes or more."""
    spellings: dict[str, list[str]] = {}
    for row, value in enumerate(labels):
        label = read_label(value, source, row, "label")
        same = spellings.setdefault(label_key(label), [])
        if label not in same:
            same.append(label)
    for variants in spellings.values():
        if len(variants) > 1:
            logger.warning(f"{source}: labels {variants} differ only in case and are one class, {variants[0]!r}")
    integer = lambda x: x.lstrip("-").isdigit()  # noqa: E731 (read_label writes integers as digits)
    found = sorted((v[0] for v in spellings.values()), key=lambda x: (0, int(x), x) if integer(x) else (1, 0, x))
    if given:
        given = [read_label(name, "--label_names", None, None) for name in given]
        keys = [label_key(name) for name in given]
        repeated = sorted({name for name, key in zip(given, keys, strict=True) if keys.count(key) > 1})
        if repeated:
            raise DataError(f"--label_names names {repeated} more than once (labels are compared without case)")
        unknown = [label for label in found if label_key(label) not in keys]
        if unknown:
            raise DataError(f"{source}: label {unknown[0]!r} is not one of --label_names {given}")
        names = list(given)
    else:
        names = found
    for name in names:  # a class name is a field of `predict`'s output lines
        check_line_field(name, source, None, "label", "class name")
    if len(names) < 2:
        only = names[0] if names else None
        raise DataError(f"{source}: every row has the label {only!r}; training needs two classes or more")
    return names


def encode_labels(dataset: "Dataset", names: list[str], source: str = "the dataset") -> "Dataset":
    """The `label` column as class indices: a name becomes its position in `names`; an index stays (checked by
    `check_labelled`). A name outside `names` is an error naming the row (from 0) and the value."""
    labels = dataset["label"]
    if all(isinstance(label, int) and not isinstance(label, bool) for label in labels):
        return dataset
    index = {label_key(name): i for i, name in enumerate(names)}
    encoded = []
    for row, value in enumerate(labels):
        key = label_key(read_label(value, source, row, "label"))
        if key not in index:
            raise DataError(f"{where(source, row, 'label')}: label {value!r} is not one of the classes {names}")
        encoded.append(index[key])
    return dataset.remove_columns("label").add_column("label", encoded)


def check_labelled(dataset: "Dataset", source: str, num_classes: int, require_two_classes: bool = False) -> None:
    """A classification dataset built by hand (the Python API): `text` or `text_a` + `text_b` not blank, `label` a
    class index in 0..K-1 on every row (rows from 0); with `require_two_classes`, two classes or more present."""
    texts = (
        ["text"] if "text" in dataset.column_names and "text_a" not in dataset.column_names else ["text_a", "text_b"]
    )
    missing = [c for c in (*texts, "label") if c not in dataset.column_names]
    if missing:
        raise DataError(
            f"{where(source, None, missing[0])}: column not found; the columns are {dataset.column_names} (single "
            "texts need `text` and `label`, pairs `text_a`, `text_b` and `label`)"
        )
    for row, record in enumerate(dataset.select_columns(texts)):
        for column in texts:
            if check_text(record[column], source, row, column) is None:
                raise DataError(f"{where(source, row, column)}: empty or whitespace-only text")
    check_label_indices(dataset["label"], source, num_classes, require_two_classes)


def check_label_indices(labels: list, source: str, num_classes: int, require_two_classes: bool = False) -> None:
    """Every label a class index in 0..K-1 (rows from 0); with `require_two_classes`, two classes or more present:
    training on one class learns nothing, and on one class ROC-AUC, AP and a tuned threshold are undefined (F1 and
    accuracy would read 1.0 for a model that says yes to everything)."""
    for row, label in enumerate(labels):
        integral = isinstance(label, int) or (isinstance(label, float) and label.is_integer())
        if not integral or isinstance(label, bool) or not 0 <= label < num_classes:
            raise DataError(
                f"{where(source, row, 'label')}: label must be a class index 0..{num_classes - 1}, got {label!r}"
            )
    if require_two_classes and len(set(labels)) < 2:
        raise DataError(
            f"{where(source, None, 'label')}: every row has label {labels[0]!r}; training and validation need two "
            "classes or more (one class: nothing to learn, and no metric to measure)"
        )
