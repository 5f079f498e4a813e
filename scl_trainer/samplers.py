"""Training samplers that the `transformers` Trainer does not have."""

import numpy as np
import torch

__all__ = ["ClassPairSampler"]


class ClassPairSampler(torch.utils.data.Sampler):
    """An epoch of the training rows in which every class comes in pairs: each class's rows are shuffled and cut into
    pairs (a class with an odd count pairs its last row with another of its rows, drawn at random, which is then seen
    twice), and the pairs are shuffled. A batch of an even size then holds every class it holds at least twice, so
    every SupCon anchor has another text of its class as a positive; a training set that fits in one batch is one
    batch. Seeded by `seed` and the epoch (`set_epoch`, which the Trainer calls), so a resumed run draws the same
    epochs.

    Args:
        labels: (N,) class index per row.
        seed: the run's seed.
    """

    def __init__(self, labels, seed: int = 0):
        self.labels = np.asarray(labels).reshape(-1).astype(np.int64)
        self.seed, self.epoch = seed, 0
        counts = np.bincount(self.labels)
        self.length = int(sum(count + count % 2 for count in counts if count > 0))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        pairs = []
        for label in np.unique(self.labels):
            rows = rng.permutation(np.flatnonzero(self.labels == label))
            if len(rows) % 2:  # the last row's partner: another row of its class (itself for a class of one)
                others = rows[:-1] if len(rows) > 1 else rows
                rows = np.append(rows, rng.choice(others))
            pairs.extend(rows.reshape(-1, 2).tolist())
        for index in rng.permutation(len(pairs)):
            yield from pairs[index]
