"""Training and validation splits and the regimes drawn from a training split: held-out validation (stratified, or
grouped by query), class-balanced subsamples, label noise, and the data conflicts worth a warning."""

import logging
from collections import Counter, defaultdict

import numpy as np
from datasets import Dataset, DatasetDict
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from .errors import DataError

__all__ = [
    "balanced_subsample",
    "find_label_conflicts",
    "flip_labels",
    "sample_per_class",
    "split_by_group",
    "split_train_validation",
]

logger = logging.getLogger(__name__)


def find_label_conflicts(dataset: Dataset) -> dict[tuple[str, str], int]:
    """Data conflicts: the (text_a, text_b) pairs that occur with both labels, with how many rows each has."""
    labels = defaultdict(Counter)  # (text_a, text_b) -> rows per label
    for text_a, text_b, label in zip(dataset["text_a"], dataset["text_b"], dataset["label"]):
        labels[text_a, text_b][label] += 1
    return {pair: sum(counts.values()) for pair, counts in labels.items() if len(counts) > 1}


def split_by_group(dataset: Dataset, group_column: str, validation_size: float, seed: int) -> DatasetDict:
    """Train/validation split in which every value of `group_column` (e.g. `query_id`) lands in exactly one split.
    Row order inside each split is the input order."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=validation_size, random_state=seed)
    train_idx, val_idx = next(splitter.split(range(len(dataset)), groups=dataset[group_column]))
    return DatasetDict(train=dataset.select(sorted(train_idx)), validation=dataset.select(sorted(val_idx)))


def split_train_validation(dataset: Dataset, validation_size: float, seed: int) -> DatasetDict:
    """Row-level train/validation split, stratified by `label` so both splits keep the class balance."""
    train_idx, val_idx = train_test_split(
        range(len(dataset)), test_size=validation_size, random_state=seed, stratify=dataset["label"]
    )
    return DatasetDict(train=dataset.select(sorted(train_idx)), validation=dataset.select(sorted(val_idx)))


def balanced_subsample(dataset: Dataset, n: int, seed: int) -> Dataset:
    """`n` rows drawn without replacement, as many of each label as possible (n // 2 of label 0, the rest of label
    1; a class with fewer rows gives all of them and the other class fills up), seeded; rows keep their order.

    The few-shot regime of Gunel et al. (ICLR 2021, Sec. 5.2): the same `seed` gives the same subsample."""
    labels = np.asarray(dataset["label"])
    if not 2 <= n <= len(labels):
        raise DataError(f"train_size={n}: must be between 2 and the {len(labels)} training rows")
    rng = np.random.default_rng([seed, 0])
    by_class = {label: rng.permutation(np.flatnonzero(labels == label)) for label in (0, 1)}
    take0 = min(n // 2, len(by_class[0]))
    take1 = min(n - take0, len(by_class[1]))
    take0 = n - take1  # when label 1 is short, label 0 fills up
    chosen = np.concatenate([by_class[0][:take0], by_class[1][:take1]])
    return dataset.select(np.sort(chosen).tolist())


def sample_per_class(dataset: Dataset, k: int, seed: int) -> Dataset:
    """`k` rows of every label, drawn without replacement and seeded (SetFit's `sample_dataset` regime; the same
    `seed` gives the same rows); a class with fewer rows keeps all of them, and the log says so. Rows keep their
    order."""
    if not k >= 1:
        raise DataError(f"samples_per_class={k}: must be >= 1")
    labels = np.asarray(dataset["label"])
    rng = np.random.default_rng([seed, 3])
    chosen = []
    for label in sorted(set(labels.tolist())):
        rows = rng.permutation(np.flatnonzero(labels == label))
        if len(rows) < k:
            logger.warning(f"samples_per_class={k}: class {label} has only {len(rows)} training rows, all kept")
        chosen.append(rows[:k])
    return dataset.select(np.sort(np.concatenate(chosen)).tolist())


def flip_labels(dataset: Dataset, fraction: float, seed: int, num_classes: int = 2) -> tuple[Dataset, list[int]]:
    """Replace the label of exactly round(fraction x rows) rows, chosen uniformly without replacement and seeded, by
    another class drawn uniformly (with two classes: the other one, 1 - label). Returns the noisy dataset and the
    changed row indices (label noise, Gunel et al. 2021, Sec. 5.3)."""
    if not 0.0 <= fraction <= 1.0:
        raise DataError(f"label_noise={fraction}: must be a fraction in [0, 1]")
    k = round(fraction * len(dataset))
    flipped = np.sort(np.random.default_rng([seed, 1]).choice(len(dataset), size=k, replace=False)).tolist()
    # A draw in 1..K-1 added to the label (mod K) is a uniformly drawn other class; with K = 2 it is always 1.
    shifts = dict(zip(flipped, np.random.default_rng([seed, 2]).integers(1, num_classes, size=k).tolist()))
    noisy = dataset.map(
        lambda row, i: {"label": (row["label"] + shifts[i]) % num_classes if i in shifts else row["label"]},
        with_indices=True,
        desc="Flipping labels",
    )
    return noisy, flipped
