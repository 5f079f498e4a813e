"""Batch builders that the `transformers` collators do not cover."""

import torch

__all__ = ["SentencePairCollator", "SimCSECollator"]


class SentencePairCollator:
    """Pads pairs tokenized as two separate sentences (`a_*` and `b_*` columns, as
    `scl_trainer.data.tokenize_separately` writes them) side by side, each side to its own longest row, plus the
    `labels` as float32 when present (STS scores, 0/1 pair labels). Other columns (e.g. `length`) are not batched."""

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None):
        self.tokenizer = tokenizer
        self.pad_to_multiple_of = pad_to_multiple_of

    def _pad(self, features: list[dict]) -> dict:
        return self.tokenizer.pad(features, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")

    def __call__(self, features: list[dict]) -> dict:
        batch = {}
        for side in ("a", "b"):
            padded = self._pad([{k[2:]: v for k, v in f.items() if k.startswith(f"{side}_")} for f in features])
            batch.update({f"{side}_{k}": v for k, v in padded.items()})
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float32)
        return batch


class SimCSECollator(SentencePairCollator):
    """Pads a list of tokenized examples into a batch.

    Training examples (`input_ids`, ...) are each put in the batch twice, in place: [a, a, b, b, ...], so that one
    forward pass over 2B rows gives two dropout views of every sentence on adjacent rows. Evaluation examples (STS
    pairs: `a_*`, `b_*` columns and `labels`) are padded side by side, once (`SentencePairCollator`).
    """

    def __call__(self, features: list[dict]) -> dict:
        if "a_input_ids" in features[0]:
            return super().__call__(features)
        return self._pad([f for f in features for _ in range(2)])
