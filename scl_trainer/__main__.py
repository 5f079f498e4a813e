"""Command line: `python -m scl_trainer {predict,embed,compare} ...`.

predict: streaming prediction with a trained pair classifier.

    python -m scl_trainer predict --model outputs/ccf --input ccf_qa_match --output predictions.tsv
    python -m scl_trainer predict --model outputs/mrpc --input pairs.tsv --text_a_column q --text_b_column r \
        --output scores.tsv --write_probability
    # after an interruption: the same command with --resume continues where the output stops

The input is read lazily and the output written batch by batch, so memory stays flat however large the input is.
"""

import os
import sys
from dataclasses import dataclass, field

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from .base_trainer import check_max_length
from .bi_encoder import BI_ENCODER, is_cross_encoder, load_bi_encoder
from .errors import USER_ERRORS, ConfigError, OutputDirError
from .parser import ConfigArgumentParser
from .predict import open_pairs, predict_pairs
from .records import DEFAULT_DATA_DIR
from .utils import from_pretrained


@dataclass
class PredictArguments:
    model: str = field(
        metadata={
            "help": "Trained pair classifier, cross- or bi-encoder (output dir of recipes/supcon_pair.py or hub id)."
        }
    )
    input: str = field(
        metadata={
            "help": "`ccf_qa_match` (the CCF test files in data_dir, written as query_id<TAB>reply_id<TAB>label) or "
            "a .csv/.tsv/.jsonl file with a header."
        }
    )
    output: str = field(metadata={"help": "Output TSV (no header): ids, label[, probability]."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding ccf_qa_match/."})
    split: str = field(default="test", metadata={"help": "CCF split to read ({split}.query.tsv/{split}.reply.tsv)."})
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
    write_probability: bool = field(default=False, metadata={"help": "Append the match probability to each line."})
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue a partly written output (<output>.partial, or an output cut short) after checking "
            "that its lines belong to this input and format, instead of starting over."
        },
    )


def predict(args: PredictArguments) -> int:
    """Check everything (paths, model, settings) before reading a row or touching the output, then predict."""
    if os.path.exists(args.input) and os.path.abspath(args.input) == os.path.abspath(args.output):
        raise OutputDirError(f"--output {args.output} is the input file: it would be overwritten; choose another")
    config = from_pretrained(AutoConfig, args.model, field_name="model")
    bi_encoder = getattr(config, "pair_architecture", None) == BI_ENCODER
    if not bi_encoder and (not is_cross_encoder(config) or config.num_labels != 1):
        raise ConfigError(
            f"--model {args.model}: not a one-logit pair classifier nor a bi-encoder (architectures "
            f"{config.architectures}, num_labels={config.num_labels}, no pair_scale); predict needs the output of "
            "recipes/supcon_pair.py (--architecture cross_encoder or bi_encoder)"
        )
    tokenizer = from_pretrained(AutoTokenizer, args.model, field_name="model")
    attention = {"attn_implementation": args.attn_implementation} if args.attn_implementation else {}
    if bi_encoder:
        model = load_bi_encoder(args.model, field_name="model", **attention)
    else:
        model = from_pretrained(AutoModelForSequenceClassification, args.model, field_name="model", **attention)
    print(f"attention: {model.config._attn_implementation}", file=sys.stderr)
    max_length = args.max_length or getattr(model.config, "train_max_length", None) or 128
    check_max_length(max_length, model, tokenizer)
    pairs, id_columns, total = open_pairs(
        args.input, args.data_dir, args.text_a_column, args.text_b_column, tuple(args.id_columns), args.split
    )
    n = predict_pairs(
        model,
        tokenizer,
        pairs,
        args.output,
        max_length=max_length,
        id_columns=id_columns,
        batch_size=args.batch_size,
        window_size=args.window_size,
        threshold=args.threshold,
        write_probability=args.write_probability,
        resume=args.resume,
        total=total,
    )
    print(f"{n} predictions in {args.output}", file=sys.stderr)
    return n


COMMANDS = {
    "predict": "score text pairs with a trained pair classifier, streaming, resumable",
    "embed": "sentence vectors of one text column with a sentence encoder, to a .npy file, streaming, resumable",
    "compare": "run a recipe under two or more arms over several seeds, paired, and report the differences",
}


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [
            "usage: python -m scl_trainer predict --model DIR --input {ccf_qa_match|FILE} --output FILE [options]",
            "       python -m scl_trainer embed --model DIR --input FILE --output OUT.npy [--text_column text] [...]",
            "       python -m scl_trainer compare --recipe NAME --arm NAME:key=value --arm ... --output_dir DIR [...]",
            "",
            "commands (COMMAND --help lists its options):",
        ]
        lines += [f"  {name:<9} {text}" for name, text in COMMANDS.items()]
        print("\n".join(lines), file=sys.stdout if argv and argv[0] in ("-h", "--help") else sys.stderr)
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    command, rest = argv[0], argv[1:]
    try:
        if command == "predict":
            (args,) = ConfigArgumentParser(PredictArguments, yaml_config=False).parse_args_and_config(rest)
            predict(args)
        elif command == "embed":
            from .embed import EmbedArguments, embed

            (args,) = ConfigArgumentParser(EmbedArguments, yaml_config=False).parse_args_and_config(rest)
            embed(args)
        else:
            from .compare import main as compare_main

            compare_main(rest)
    except USER_ERRORS as e:
        if os.environ.get("SCL_TRAINER_DEBUG") == "1":  # the traceback, for a bug report
            raise
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
