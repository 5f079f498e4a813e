"""Command line: `python -m scl_trainer {predict,embed,compare} ...`.

predict: streaming prediction with a trained pair classifier.

    python -m scl_trainer predict --model outputs/ccf --input ccf_qa_match --output predictions.tsv
    python -m scl_trainer predict --model outputs/mrpc --input pairs.tsv --text_a_column q --text_b_column r \
        --output scores.tsv --write_probability
    # after an interruption: the same command with --resume continues where the output stops

The input is read lazily and the output written batch by batch, so memory stays flat however large the input is.
"""

import difflib
import os
import sys

# Only what parsing needs is imported here: `--help`, `--version` and every argument error answer before torch,
# transformers or the trainer stack load. A command imports its machinery once its arguments are parsed.
from . import __version__
from .arguments import EmbedArguments, PredictArguments
from .errors import USER_ERRORS, ConfigError, error_line
from .parser import ConfigArgumentParser


def predict(args: PredictArguments) -> int:
    """Check everything (paths, model, settings) before reading a row or touching the output, then predict."""
    from transformers import AutoConfig, AutoTokenizer

    from .architectures import saved_architecture
    from .architectures.cross_encoder import is_cross_encoder
    from .outputs import OutputLock, check_output_file, model_fingerprint
    from .predict import open_pairs, open_texts, predict_pairs
    from .utils import check_max_length, from_pretrained, resolve_model_name_or_path

    check_output_file(args.output, {"input": args.input}, "output", {"model": args.model})
    with OutputLock(args.output, "--output"):  # one writer per output
        config = from_pretrained(AutoConfig, args.model, field_name="model")
        architecture = saved_architecture(config)  # a cross-encoder unless its config names another
        classes = getattr(config, "class_names", None)
        saved_head = getattr(config, "pair_architecture", None) is not None
        if not saved_head and (not is_cross_encoder(config) or (config.num_labels != 1 and not classes)):
            raise ConfigError(
                f"--model {args.model}: not a classifier of scl_trainer (architectures {config.architectures}, "
                f"num_labels={config.num_labels}, no class_names, no pair_scale); predict needs the output of "
                "recipes/supcon_pair.py (--architecture cross_encoder or bi_encoder) or recipes/supcon_classify.py"
            )
        tokenizer = from_pretrained(AutoTokenizer, args.model, field_name="model")
        attention = {"attn_implementation": args.attn_implementation} if args.attn_implementation else {}
        model = architecture.load_trained(args.model, field_name="model", **attention)
        print(f"attention: {model.config._attn_implementation}", file=sys.stderr)
        max_length = args.max_length or getattr(model.config, "train_max_length", None) or 128
        check_max_length(max_length, model, tokenizer)
        text_input = getattr(config, "text_input", "pair")
        if text_input == "single":
            pairs, id_columns, total = open_texts(args.input, args.text_column, tuple(args.id_columns))
        else:
            pairs, id_columns, total = open_pairs(
                args.input, args.data_dir, args.text_a_column, args.text_b_column, tuple(args.id_columns), args.split
            )
        # What the resume check compares (predict_pairs adds the threshold, max_length and the output format).
        columns = [args.text_column] if text_input == "single" else [args.text_a_column, args.text_b_column]
        source = os.path.realpath(args.input) if os.path.isfile(args.input) else args.input
        ccf = (
            {"data_dir": os.path.realpath(args.data_dir), "split": args.split} if args.input == "ccf_qa_match" else {}
        )
        command = {**model_fingerprint(resolve_model_name_or_path(args.model)), "input": source, "columns": columns,
                   "write_probability": args.write_probability, "header": args.header, **ccf}  # fmt: skip
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
            header=args.header,
            total=total,
            command=command,
        )
    print(f"{n} predictions in {args.output}", file=sys.stderr)
    return n


COMMANDS = {
    "predict": "score text pairs with a trained pair classifier, streaming, resumable",
    "embed": "sentence vectors of one text column with a sentence encoder, to a .npy file, streaming, resumable",
    "compare": "run a recipe under two or more arms over several seeds, paired, and report the differences",
}


def usage() -> str:
    lines = [
        "usage: python -m scl_trainer predict --model DIR --input {ccf_qa_match|FILE} --output FILE [options]",
        "       python -m scl_trainer embed --model DIR --input FILE --output OUT.npy [--text_column text] [...]",
        "       python -m scl_trainer compare --recipe NAME --arm NAME:key=value --arm ... --output_dir DIR [...]",
        "       python -m scl_trainer --version",
        "",
        "commands (COMMAND --help lists its options):",
    ]
    return "\n".join(lines + [f"  {name:<9} {text}" for name, text in COMMANDS.items()])


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--version":
        print(f"scl_trainer {__version__}")
        return
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        sys.exit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    try:
        if command not in COMMANDS:
            close = difflib.get_close_matches(command, list(COMMANDS), n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise ConfigError(f"unknown command {command!r}; {hint}the commands are {', '.join(COMMANDS)}")
        prog = f"python -m scl_trainer {command}"
        if command == "predict":
            (args,) = ConfigArgumentParser(PredictArguments, yaml_config=False, prog=prog).parse_args_and_config(rest)
            predict(args)
        elif command == "embed":
            (args,) = ConfigArgumentParser(EmbedArguments, yaml_config=False, prog=prog).parse_args_and_config(rest)
            from .embed import embed

            embed(args)
        else:
            from .compare import main as compare_main

            compare_main(rest)
    except (*USER_ERRORS, OSError) as e:
        line = error_line(e, "the same command with --resume" if command in ("predict", "embed") else "it again")
        if os.environ.get("SCL_TRAINER_DEBUG") == "1" or line is None:  # the traceback, for a bug report
            raise
        print(line, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
