"""Tokenization of pairs, sentences and sentence pairs for the trainers, counting what had to be truncated."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by `predict`, which must not load datasets
    from datasets import Dataset

__all__ = [
    "count_truncated",
    "tokenize_pairs",
    "tokenize_rows",
    "tokenize_sentences",
    "tokenize_separately",
    "tokenize_sts",
    "tokenize_texts",
    "side_inputs",
]


def _encode(tokenizer, texts, text_pairs, max_length: int) -> tuple[dict, list[bool]]:
    """Tokenize with truncation to `max_length` and say which inputs were truncated (exactly: `count_truncated`)."""
    encoded = tokenizer(texts, text_pairs, truncation=True, max_length=max_length)
    cut = set(count_truncated(tokenizer, encoded["input_ids"], texts, text_pairs, max_length))
    return dict(encoded), [i in cut for i in range(len(encoded["input_ids"]))]


def count_truncated(tokenizer, input_ids: list[list[int]], texts, text_pairs, max_length: int) -> list[int]:
    """The indices of the inputs that `tokenizer(texts, text_pairs, truncation=True, max_length=max_length)` (whose
    `input_ids` are given) had to truncate. Only inputs that reached `max_length` can have been cut: those alone are
    tokenized again with one more token allowed, so counting costs nearly nothing when few inputs are long."""
    full = [i for i, ids in enumerate(input_ids) if len(ids) >= max_length]
    if not full:
        return []
    probe = tokenizer([texts[i] for i in full], [text_pairs[i] for i in full] if text_pairs else None,
                      truncation=True, max_length=max_length + 1)["input_ids"]  # fmt: skip
    return [i for i, ids in zip(full, probe) if len(ids) > max_length]


def _map_counting_truncation(dataset: "Dataset", encode, keep: list[str], desc: str) -> tuple["Dataset", int]:
    remove = [c for c in dataset.column_names if c not in keep]
    tokenized = dataset.map(encode, batched=True, remove_columns=remove, desc=desc)
    num_truncated = sum(tokenized["truncated"])
    return tokenized.remove_columns("truncated"), num_truncated


def tokenize_pairs(dataset: "Dataset", tokenizer, max_length: int) -> tuple["Dataset", int]:
    """Tokenize `text_a`/`text_b` pairs (truncated to `max_length`, longest text first). Returns the dataset with the
    tokenizer's columns plus `label` (when present) and the number of pairs that had to be truncated."""

    def encode(batch):
        encoded, truncated = _encode(tokenizer, batch["text_a"], batch["text_b"], max_length)
        return {**encoded, "truncated": truncated}

    keep = ["label"] if "label" in dataset.column_names else []
    return _map_counting_truncation(dataset, encode, keep, "Tokenizing pairs")


def tokenize_texts(dataset: "Dataset", tokenizer, max_length: int) -> tuple["Dataset", int]:
    """A classification dataset as one sequence per row: `text` (single texts) or `text_a`/`text_b` (pairs, read
    together), truncated to `max_length`; keeps `label` when present. Returns it and the number of truncated rows."""
    if "text_a" in dataset.column_names:
        return tokenize_pairs(dataset, tokenizer, max_length)

    def encode(batch):
        encoded, truncated = _encode(tokenizer, batch["text"], None, max_length)
        return {**encoded, "truncated": truncated}

    keep = ["label"] if "label" in dataset.column_names else []
    return _map_counting_truncation(dataset, encode, keep, "Tokenizing texts")


def tokenize_sentences(dataset: "Dataset", tokenizer, max_length: int, column: str = "text") -> tuple["Dataset", int]:
    """Tokenize single sentences (truncated to `max_length`); returns the tokenizer's columns and the number of
    truncated sentences."""

    def encode(batch):
        encoded, truncated = _encode(tokenizer, batch[column], None, max_length)
        return {**encoded, "truncated": truncated}

    return _map_counting_truncation(dataset, encode, [], "Tokenizing sentences")


def tokenize_separately(
    dataset: "Dataset", tokenizer, max_length: int, first: str, second: str, label: str | None
) -> tuple["Dataset", int]:
    """Tokenize the two texts of each row as two separate sentences (for a bi-encoder): `a_*` columns for `first`,
    `b_*` for `second`, `labels` from the `label` column (when given and present) and `length` (the tokens of both
    sides, what `group_by_length` sorts by). Returns the dataset and the number of rows with a truncated text."""

    def encode(batch):
        a, truncated_a = _encode(tokenizer, batch[first], None, max_length)
        b, truncated_b = _encode(tokenizer, batch[second], None, max_length)
        labels = {"labels": batch[label]} if label and label in batch else {}
        return {
            **{f"a_{k}": v for k, v in a.items()},
            **{f"b_{k}": v for k, v in b.items()},
            **labels,
            "length": [len(x) + len(y) for x, y in zip(a["input_ids"], b["input_ids"])],
            "truncated": [x or y for x, y in zip(truncated_a, truncated_b)],
        }

    return _map_counting_truncation(dataset, encode, [], "Tokenizing texts separately")


def tokenize_sts(dataset: "Dataset", tokenizer, max_length: int) -> tuple["Dataset", int]:
    """Tokenize STS pairs as two separate sentences: `a_*` columns for sentence1, `b_*` for sentence2, `labels` for
    the gold score. Returns the dataset and the number of pairs with a truncated sentence."""
    dataset, num_truncated = tokenize_separately(dataset, tokenizer, max_length, "sentence1", "sentence2", "score")
    return dataset.remove_columns("length"), num_truncated


def tokenize_rows(tokenizer, texts_a: list[str], texts_b: list[str] | None, max_length: int, separately: bool):
    """Rows to predict, tokenized as a model reads them: single texts, or pairs read together (one side) or each text
    alone (`separately`: two sides, `a` and `b`). Returns (sides, tokens per row, indices of truncated rows)."""
    if texts_b is None or not separately:
        encoded = tokenizer(texts_a, texts_b, truncation=True, max_length=max_length)
        cut = count_truncated(tokenizer, encoded["input_ids"], texts_a, texts_b, max_length)
        return [encoded], [len(ids) for ids in encoded["input_ids"]], cut
    sides = [tokenizer(texts, truncation=True, max_length=max_length) for texts in (texts_a, texts_b)]
    lengths = [len(x) + len(y) for x, y in zip(sides[0]["input_ids"], sides[1]["input_ids"])]
    cut = [set(count_truncated(tokenizer, side["input_ids"], texts, None, max_length))
           for side, texts in zip(sides, (texts_a, texts_b))]  # fmt: skip
    return sides, lengths, sorted(cut[0] | cut[1])


def side_inputs(sides: list[dict]) -> dict:
    """The model inputs of padded `sides`: one side as it is, two as `a_*` and `b_*` (texts embedded alone)."""
    if len(sides) == 1:
        return dict(sides[0])
    return {f"{name}_{key}": value for name, side in zip("ab", sides) for key, value in side.items()}
