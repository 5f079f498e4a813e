"""The arguments of `python -m scl_trainer predict` and `embed`: dataclasses that import nothing heavy, so `--help` and
an argument error answer before torch or transformers load (the recipes' configs are `SCLConfig`/`SimCSEConfig`,
`compare`'s are `CompareArguments`)."""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelNotFoundError
from .records import DEFAULT_DATA_DIR

__all__ = ["EmbedArguments", "PredictArguments", "check_model_path"]

# What a Hugging Face Hub model id can be: `name` or `namespace/name` (letters, digits, `-`, `_`, `.`).
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def check_model_path(value: str, flag: str) -> None:
    """A model argument that can only mean a local folder (it starts with `.`, `/` or `~`, is no hub id, or its
    parent folder exists here, as `outputs/run` does) and does not exist is an error now, without a Hub lookup
    (which would retry for half a minute before failing)."""
    path = Path(os.path.expanduser(value))
    if path.exists():
        return
    local = value.startswith((".", "/", "~")) or not HUB_ID.match(value) or ("/" in value and path.parent.is_dir())
    if local:
        parent = path.parent if str(path.parent) not in ("", ".") else Path.cwd()
        where = f"{parent} has no {path.name!r}" if parent.is_dir() else f"{parent} does not exist either"
        raise ModelNotFoundError(
            f"--{flag} {value}: no such local model folder ({where}); give the folder of a trained model (one with "
            "config.json), or a Hugging Face Hub id such as sentence-transformers/all-MiniLM-L6-v2"
        )


@dataclass
class PredictArguments:
    model: str = field(
        metadata={
            "help": "Trained classifier: a pair classifier, cross- or bi-encoder (recipes/supcon_pair.py), or a "
            "classifier of single texts or pairs into K classes (recipes/supcon_classify.py); a folder or hub id."
        }
    )
    input: str = field(
        metadata={
            "help": "`ccf_qa_match` (the CCF test files in data_dir, written as query_id<TAB>reply_id<TAB>label) or "
            "a .csv/.tsv/.jsonl file with a header."
        }
    )
    output: str = field(
        metadata={"help": "Output TSV: ids, label (0/1, or the class name)[, probabilities]; a header with --header."}
    )
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding ccf_qa_match/."})
    split: str = field(default="test", metadata={"help": "CCF split to read ({split}.query.tsv/{split}.reply.tsv)."})
    text_column: str = field(default="text", metadata={"help": "Text column of a file, for a single-text classifier."})
    text_a_column: str = field(default="text_a", metadata={"help": "First-text column of a file."})
    text_b_column: str = field(default="text_b", metadata={"help": "Second-text column of a file."})
    id_columns: list[str] = field(
        default_factory=list, metadata={"help": "Columns of a file written before the label (default: row index)."}
    )
    batch_size: int = field(default=64, metadata={"help": "Pairs per forward pass (>= 1)."})
    window_size: int = field(
        default=4096,
        metadata={
            "help": "Rows read, tokenized and length-sorted at a time (>= 1): batches are built from rows of similar "
            "length within a window, the output keeps the input order, and memory is bounded by the window."
        },
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "Max tokens per pair. Default: the max_length the model was trained with (`train_max_length` in "
            "its config.json), else 128."
        },
    )
    threshold: float | None = field(
        default=None, metadata={"help": "Decision threshold; default: the model's tuned `decision_threshold`."}
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={
            "help": "Attention kernel (`sdpa`, `eager`, `flash_attention_2`, ...). Default: transformers' choice, the "
            "fastest the model supports without extra packages (`sdpa`, PyTorch's fused attention, else `eager`)."
        },
    )
    write_probability: bool = field(
        default=False,
        metadata={
            "help": "Append the probability to each line: the positive class's (two classes), or every class's."
        },
    )
    header: bool = field(
        default=False,
        metadata={
            "help": "Write a header line first: the id columns (`row` without them), `label`, and with "
            "--write_probability `probability_<class>` for each probability column. Default: none (the CCF "
            "submission format)."
        },
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue a partly written output (<output>.partial, or an output cut short) after checking "
            "that its lines belong to this input and format, instead of starting over."
        },
    )

    def __post_init__(self):
        check_model_path(self.model, "model")


@dataclass
class EmbedArguments:
    model: str = field(
        metadata={
            "help": "A sentence encoder: a bi-encoder (`--architecture bi_encoder`) or SimCSE output dir, any "
            "sentence-transformers model folder or hub id. Not a cross-encoder."
        }
    )
    input: str = field(metadata={"help": "A .csv/.tsv/.jsonl file with a header."})
    output: str = field(metadata={"help": "The .npy file of the vectors (rows in input order)."})
    text_column: str = field(default="text", metadata={"help": "The column to embed."})
    id_column: str | None = field(
        default=None,
        metadata={
            "help": "The column written to <output stem>.ids.txt, one id per line. Default: `id` when the file has "
            "it, else the row number (0-based)."
        },
    )
    batch_size: int = field(default=64, metadata={"help": "Texts per forward pass (>= 1)."})
    window_size: int = field(
        default=4096,
        metadata={"help": "Rows read, length-sorted into batches and written at a time (>= 1); bounds memory."},
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "Max tokens per text. Default: the model's sentence-transformers max_seq_length, else the "
            "max_length it was trained with, else 128."
        },
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue <output>.partial after checking that it was written by this same command (model, "
            "input, columns, max length), instead of starting over."
        },
    )

    def __post_init__(self):
        check_model_path(self.model, "model")
