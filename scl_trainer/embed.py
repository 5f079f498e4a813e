"""`python -m scl_trainer embed`: sentence vectors of one text column, streamed to a `.npy` file.

    python -m scl_trainer embed --model outputs/mrpc-bi --input replies.tsv --output replies.npy
    # after an interruption: the same command with --resume continues where the output stops

For any sentence encoder: a bi-encoder pair classifier or SimCSE output of scl_trainer, or any sentence-transformers
model folder (its own pooling, `Normalize` when it has one); a cross-encoder is refused (it embeds no single text).
Row i of the array is the vector of input row i; the ids go one per line to `<output stem>.ids.txt`. The rows are
written into `<output>.partial` (a `.npy` memory map of the final shape) window by window, with a sidecar that
records how far it got and for which command; the output and the ids file appear only when every row is written.
"""

import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer

from .architectures.cross_encoder import is_cross_encoder
from .arguments import EmbedArguments
from .data import source_kind
from .errors import ConfigError, DataError
from .export import _read_json
from .outputs import OutputLock, ResumeState, check_output_file, model_fingerprint, open_output, refuse_symlink
from .records import check_text, iter_records, require_file, where
from .rendering import check_line_field
from .sentence_encoder import encode_texts, sentence_model
from .utils import check_max_length, from_pretrained, resolve_model_name_or_path

__all__ = ["embed", "ids_path"]

logger = logging.getLogger(__name__)


def ids_path(output: str | os.PathLike) -> Path:
    """`replies.npy` -> `replies.ids.txt`: where `embed` writes the ids of the rows."""
    output = Path(output)
    return output.with_name(output.name.removesuffix(".npy") + ".ids.txt")


def _rows(path: Path, text_column: str, id_column: str | None):
    """(id, text) per data row; a blank text or id is an error naming file, row and column."""
    needed = {text_column: "text_column", **({id_column: "id_column"} if id_column else {})}
    for index, (row, record) in enumerate(iter_records(path, needed)):
        text = check_text(record[text_column], str(path), row, text_column)
        if text is None:
            raise DataError(f"{where(path, row, text_column)}: empty text; every row of the input gets a vector")
        row_id = str(record[id_column]) if id_column else str(index)
        if id_column and not row_id.strip():
            raise DataError(f"{where(path, row, id_column)}: the id must be one non-empty line, got {row_id!r}")
        if id_column:
            check_line_field(row_id, path, row, id_column, "id")  # one line of the ids file, for every reader
        yield row_id, text


def _load_sentence_model(name: str):
    """(SentenceEncoder with the model's own pooling, normalize, tokenizer, default max length) of a sentence
    encoder."""
    config = from_pretrained(AutoConfig, name, field_name="model")
    if is_cross_encoder(config):
        reads = (
            "a text through its classification head"
            if getattr(config, "text_input", "pair") == "single"
            else "the two texts together"
        )
        kind = "classifier" if getattr(config, "text_input", "pair") == "single" else "pair classifier"
        raise ConfigError(
            f"--model {name}: a cross-encoder {kind} ({config.architectures[0]}) reads {reads} and has no sentence "
            "vector; embed needs a sentence encoder (an --architecture bi_encoder or embedding output, a SimCSE "
            "output, or a sentence-transformers model)"
        )
    model = sentence_model(from_pretrained(AutoModel, name, field_name="model"), name)
    st_config = _read_json(resolve_model_name_or_path(name), "sentence_bert_config.json") or {}
    max_length = st_config.get("max_seq_length") or getattr(config, "train_max_length", None) or 128
    return model, model.normalize, from_pretrained(AutoTokenizer, name, field_name="model"), max_length


def embed(args: EmbedArguments) -> int:
    """Check everything (paths, model, every input row) before embedding, then embed; returns the row count. One
    writer per output (`OutputLock`)."""
    with OutputLock(args.output, "--output"):
        return _embed(args)


def _embed(args: EmbedArguments) -> int:
    output, ids_file = Path(args.output), ids_path(args.output)
    if output.suffix != ".npy":
        raise ConfigError(f"--output {args.output}: the vectors are written as a .npy file; name it *.npy")
    if source_kind(args.input) != "file":
        raise ConfigError(f"--input {args.input}: embed reads a .csv/.tsv/.jsonl file with a header")
    source = require_file(args.input, "input file")
    for path in (output, ids_file):  # neither may be the input (real paths) nor a folder
        check_output_file(str(path), {"input": str(source)}, "output", {"model": args.model})
    for name, value in (("batch_size", args.batch_size), ("window_size", args.window_size)):
        if not value >= 1:
            raise ConfigError(f"--{name} must be >= 1, got {value}")
    model, normalize, tokenizer, default_length = _load_sentence_model(args.model)
    max_length = args.max_length or default_length
    check_max_length(max_length, model, tokenizer)

    first = next(iter_records(source, {args.text_column: "text_column"}), None)
    id_column = args.id_column or ("id" if first is not None and "id" in first[1] else None)
    total = sum(1 for _ in _rows(source, args.text_column, id_column))  # every row checked before any work
    if total == 0:
        raise DataError(f"{source}: no data rows to embed")

    partial = output.with_name(output.name + ".partial")
    ids_partial = ids_file.with_name(ids_file.name + ".partial")
    command = {**asdict(args), **model_fingerprint(resolve_model_name_or_path(args.model)),
               "input": os.path.realpath(source), "id_column": id_column, "max_length": max_length, "rows": total,
               "dim": model.config.hidden_size}  # fmt: skip
    for key in ("output", "resume", "batch_size", "window_size"):  # do not change the vectors
        command.pop(key)
    state = ResumeState(partial, command)
    done = int(state.check().get("done", 0)) if args.resume else 0  # checked before anything is touched
    for path in (partial, ids_partial):
        refuse_symlink(path)
    if done:
        vectors = np.lib.format.open_memmap(partial, mode="r+")
        with open(ids_partial, "rb+") as f:  # keep exactly the ids of the rows written
            lines = f.read().split(b"\n")[:done]
            f.seek(0)
            f.write(b"".join(line + b"\n" for line in lines))
            f.truncate()
    else:
        vectors = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(total, command["dim"]))
        open_output(ids_partial).close()
        state.save(done=0)

    rows = _rows(source, args.text_column, id_column)
    for _ in range(done):
        next(rows)
    first, truncated = done, 0
    with (
        open_output(ids_partial, "a") as ids_out,
        tqdm(total=total, initial=done, unit="texts", desc="Embedding") as progress,
    ):
        while done < total:
            window = [row for _, row in zip(range(args.window_size), rows)]
            texts = [text for _, text in window]
            embedded = encode_texts(model, tokenizer, texts, max_length, args.batch_size)
            # A text of at most max_length - 2 characters cannot exceed max_length tokens (a token is a character or
            # more): only longer ones are tokenized whole to be counted.
            long = [text for text in texts if len(text) > max_length - 2]
            lengths = tokenizer(long, truncation=False)["input_ids"] if long else []
            truncated += sum(len(ids) > max_length for ids in lengths)
            if normalize:
                embedded = F.normalize(embedded, dim=-1)
            vectors[done : done + len(window)] = embedded.numpy()
            vectors.flush()
            ids_out.write("".join(f"{row_id}\n" for row_id, _ in window))
            ids_out.flush()
            done += len(window)
            state.save(done=done)
            progress.update(len(window))
    del vectors
    if truncated:
        logger.warning(
            f"{truncated} of the {total - first} texts embedded were longer than max_length={max_length} tokens and "
            "were truncated (pass a larger --max_length, up to the model's limit, to read them whole)"
        )
    os.replace(partial, output)
    os.replace(ids_partial, ids_file)
    state.remove()
    print(f"{total} vectors of {command['dim']} in {output}, ids in {ids_file}", file=sys.stderr)
    return total
