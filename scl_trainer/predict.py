"""Streaming prediction for the classifiers of `SCLTrainer` (pairs, cross- or bi-encoder; single texts; K classes):
rows in, one output line per row, in input order.

Rows are read lazily, tokenized and scored batch by batch and written as they come, so memory does not grow with the
input; a partly written output can be continued with `resume=True` (the rows already written are skipped).
"""

import itertools
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .architectures import saved_architecture
from .data import iter_pairs, source_id_columns, source_kind
from .errors import ConfigError, OutputDirError
from .outputs import ResumeState, open_output, refuse_symlink
from .records import count_records
from .rendering import check_line_field

__all__ = ["open_pairs", "open_texts", "predict_pairs"]

logger = logging.getLogger(__name__)


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


def open_texts(
    source: str, text_column: str = "text", id_columns: tuple[str, ...] = ()
) -> tuple[Iterator[dict], tuple[str, ...], int | None]:
    """The single texts of a .csv/.tsv/.jsonl file to classify, lazily (`text`, the id columns), with the id columns
    to write and the row count. Labels are not read; empty texts are kept (every row gets an output line)."""
    from .classification_data import iter_labelled

    rows = iter_labelled(source, text_column=text_column, label_column=None, id_columns=id_columns, empty_texts="keep")
    return rows, tuple(id_columns), count_records(source) if Path(source).is_file() else None


def _complete_lines(path) -> tuple[int, int]:
    """The number of complete lines of a partly written output and their length in bytes (a run killed mid-write
    leaves a torn last line after them)."""
    count = end = 0
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                count, end = count + 1, end + len(line)
    return count, end


def _row_ids(index: int, row: dict, id_columns: tuple[str, ...]) -> list[str]:
    """The ids written first on a row's output line; an id holding a tab or a line break would shift or split the
    TSV line, so it is an error naming the row (0-based) and the column (`rendering.check_line_field`)."""
    if not id_columns:
        return [str(index)]
    return [check_line_field(str(row[column]), "input", index, column, "id") for column in id_columns]


def _check_resumable(path: Path, rows: Iterator, id_columns: tuple[str, ...], fields: int, header: str | None) -> int:
    """The number of lines of a partial output that match the input, consuming those rows from `rows`; an output
    written for other input (other ids), in another format (other field count) or longer than the input is an
    error naming its first differing line, and nothing is appended to it. Read only: the caller cuts a torn last
    line once every check has passed."""
    done, _ = _complete_lines(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        if header is not None and done:  # the header line first, exactly this run's
            first = f.readline().rstrip("\n")
            if first != header:
                raise OutputDirError(
                    f"--resume: {path}, line 1 is {first!r}, not this command's header {header!r}; it was written by "
                    "another command. Use another --output or drop --resume."
                )
            done -= 1
        first_row_line = 2 if header is not None else 1
        for line_number, line in zip(range(first_row_line, first_row_line + done), f):
            values = line.rstrip("\n").split("\t")
            row = next(rows, None)
            if row is None:
                raise OutputDirError(
                    f"--resume: {path} has more lines ({done}) than the input has rows "
                    f"({line_number - first_row_line}); it was written for other input. Use another --output or drop "
                    "--resume."
                )
            expected = _row_ids(*row, id_columns)
            if len(values) != fields or values[: len(expected)] != expected:
                raise OutputDirError(
                    f"--resume: {path}, line {line_number} is {values!r}, but this input and format give ids "
                    f"{expected} and {fields} fields per line; it was written by another command. Use another "
                    "--output or drop --resume."
                )
    return done


def output_columns(id_columns, names: list[str] | None, num_logits: int, write_probability: bool) -> list[str]:
    """The column names of `predict`'s lines (its `--header` line): the ids (`row` without id columns), `label`, and
    with `write_probability` the probability of the positive class (two classes) or of each class, by name."""
    columns = [*(id_columns or ["row"]), "label"]
    if write_probability:
        classes = names if names else [str(i) for i in range(max(num_logits, 2))]
        columns += [f"probability_{name}" for name in (classes[1:] if num_logits == 1 else classes)]
    return columns


def _batches(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


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
    window_size: int = 4096,
    threshold: float | None = None,
    write_probability: bool = False,
    resume: bool = False,
    header: bool = False,
    total: int | None = None,
    command: dict | None = None,
) -> int:
    """Classify rows, `text_a`/`text_b` pairs or `text` single texts, with a classifier of `SCLTrainer` (a
    cross-encoder with one logit or K, or a `BiEncoderPairClassifier`, which embeds each text alone) and write
    `id_1<TAB>...<TAB>label[<TAB>probability...]` lines (no header).

    With `id_columns=("query_id", "reply_id")` this is the CCF submission format `query_id<TAB>reply_id<TAB>label`.
    Without id columns the row index (0-based) is written first. One logit: `label` is 1 when sigmoid(logit) >=
    threshold, the model's tuned `config.decision_threshold` by default (0.5 if it has none), written as the class
    name when the model has `class_names` (`[negative, positive]`), and the probability is the positive class's. K
    logits: `label` is the class name of the argmax, and `write_probability` writes every class's probability (in
    `class_names` order). Returns the number of rows written.

    Speed: the input is read in windows of `window_size` rows; each window is tokenized at once, its rows sorted by
    length into batches of `batch_size` (so a batch pads to rows of similar length), and written back in input
    order. Memory is bounded by the window.

    Nothing is destroyed: the lines go to `<output>.partial`, which replaces the output only when every row is
    written; beside it `<output>.partial.json` records the command (`command`, e.g. the model's fingerprint and the
    input, plus the settings given here). `resume=True` continues `<output>.partial` after checking, before anything
    is touched, that it was written by the same command and that its lines are this input's, in this format. Rows
    longer than `max_length` tokens are truncated, and counted in a warning.
    """
    threshold = getattr(model.config, "decision_threshold", 0.5) if threshold is None else threshold
    if not 0.0 <= threshold <= 1.0:  # also NaN
        raise ConfigError(f"threshold must be a probability in [0, 1], got {threshold}")
    for name, value in (("batch_size", batch_size), ("window_size", window_size), ("max_length", max_length)):
        if not value >= 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)  # a new folder is made, never a late failure
    partial = output_path.with_name(output_path.name + ".partial")
    names = getattr(model.config, "class_names", None)
    for name in names or []:  # a class name is a field of every output line
        check_line_field(str(name), f"{model.config._name_or_path}/config.json", None, "class_names", "class name")
    architecture = saved_architecture(model.config)  # how its rows are tokenized and scored
    unit = "texts" if getattr(model.config, "text_input", "pair") == "single" else "pairs"
    num_logits = architecture.num_logits_of(model)
    fields = max(len(id_columns), 1) + 1 + (num_logits if num_logits > 1 else 1) * int(write_probability)
    header_line = "\t".join(output_columns(id_columns, names, num_logits, write_probability)) if header else None
    rows = enumerate(pairs)
    settings = {"threshold": threshold, "max_length": max_length, "id_columns": list(id_columns), "fields": fields,
                "header": header}  # fmt: skip
    state = ResumeState(partial, {"model": model.config._name_or_path, **settings, **(command or {})})
    done = 0
    if resume and state.check():  # every check before the partial output is touched
        done = _check_resumable(partial, rows, id_columns, fields, header_line)
        refuse_symlink(partial)
        with open(partial, "rb+") as f:
            f.truncate(_complete_lines(partial)[1])  # a torn last line (a run killed mid-write)
    elif resume:
        logger.info(f"--resume: no {partial} to continue; writing {output_path} from the first row")
    state.save()
    model.eval()
    device = next(model.parameters()).device

    written, truncated = done, 0
    with (
        open_output(partial, "a" if done else "w") as out,
        tqdm(total=total, initial=done, unit=unit, desc="Predicting") as progress,
    ):
        if header_line is not None and not done:
            out.write(header_line + "\n")
        for window in _batches(rows, window_size):
            single = "text" in window[0][1]
            texts_a = [row["text" if single else "text_a"] for _, row in window]
            texts_b = None if single else [row["text_b"] for _, row in window]
            sides, lengths, cut = architecture.predict_inputs(tokenizer, texts_a, texts_b, max_length)
            truncated += len(cut)
            order = sorted(range(len(window)), key=lambda i: lengths[i])
            probabilities = [[0.0]] * len(window)
            for batch in _batches(order, batch_size):
                padded = [tokenizer.pad({k: [v[i] for i in batch] for k, v in side.items()}, return_tensors="pt")
                          for side in sides]  # fmt: skip
                logits = architecture.predict_logits(model, [side.to(device) for side in padded])  # (B, 1) or (B, K)
                scores = torch.sigmoid(logits.reshape(-1, 1)) if num_logits == 1 else logits.softmax(-1)
                for i, p in zip(batch, scores.tolist()):
                    probabilities[i] = p
            for (index, row), p in zip(window, probabilities):
                if num_logits == 1:
                    label = int(p[0] >= threshold)
                    label = names[label] if names else str(label)
                else:
                    label = names[max(range(num_logits), key=p.__getitem__)] if names else str(p.index(max(p)))
                line = [*_row_ids(index, row, id_columns), label]
                out.write("\t".join(line + ([f"{x:.6f}" for x in p] if write_probability else [])) + "\n")
            out.flush()
            written += len(window)
            progress.update(len(window))
    os.replace(partial, output_path)
    state.remove()
    if truncated:
        logger.warning(
            f"{truncated} of the {written - done} rows predicted were longer than max_length={max_length} tokens and "
            "were truncated (pass a larger --max_length, up to the model's limit, to read them whole)"
        )
    return written
