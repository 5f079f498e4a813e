"""Checks of a checkpoint before it is resumed from or loaded (`BaseTrainer.train`, `_load_from_checkpoint`): each
names the file that cannot be read or does not belong to this run, before the Trainer would fail late, load nothing
silently, or suggest an unsafe load."""

import json
from pathlib import Path

from transformers import AutoTokenizer, TrainerState

from .errors import ConfigError
from .safe_load import check_model_files, read_tensors

__all__ = ["SETTINGS_NAME", "check_checkpoint", "check_resume_files", "check_settings"]

SETTINGS_NAME = "scl_trainer_settings.json"  # in every checkpoint: the settings a resume must share
RESUME_FIX = "Resume from another checkpoint, or delete the file and pass --resume_inexact true"


def check_checkpoint(checkpoint: str, module, resuming: bool, inexact: bool) -> None:
    """A checkpoint of this kind of model, whole: its architecture is the model's (a SimCSE checkpoint holds no
    classification head, and the Trainer would load none of its weights silently), and its weights, and for a
    resume its optimizer, scheduler, random and trainer state, are there. Names what is missing or wrong."""
    path = Path(checkpoint)
    if not path.is_dir():
        raise ConfigError(f"resume_from_checkpoint: {checkpoint} is not a checkpoint folder")
    config_file = path / "config.json"
    try:
        architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError) as e:
        raise ConfigError(f"{config_file}: missing or not readable JSON ({e})") from None
    if architectures and type(module).__name__ not in architectures:
        raise ConfigError(
            f"{checkpoint} holds a {architectures[0]}, but this run trains a {type(module).__name__}: it is a "
            "checkpoint of another kind of model (e.g. SimCSE vs the pair classifier); resume from this run's own"
        )
    if not any((path / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json",
                                                     "pytorch_model.bin")):  # fmt: skip
        raise ConfigError(f"{checkpoint} has no model weights (model.safetensors): the save was cut short")
    check_model_files(path, "Resume from another checkpoint")
    missing = [f for f in ("trainer_state.json", "optimizer.pt", "scheduler.pt") if not (path / f).is_file()]
    if not any(path.glob("rng_state*.pth")):
        missing.append("rng_state.pth")
    if resuming and missing and not inexact:
        raise ConfigError(
            f"{checkpoint} lacks {', '.join(missing)}: training cannot continue exactly from it. Pass "
            "--resume_inexact true to continue anyway (fresh optimizer/random state), or use another checkpoint"
        )


def check_resume_files(path: Path, tokenizer, settings: dict, inexact: bool) -> TrainerState | None:
    """Read what a resume will read, naming the file that cannot be read (torch's message would not, and would
    suggest an unsafe load): the optimizer, scheduler and random states (safe loads: nothing is executed), the
    trainer state; and the saved tokenizer must be this run's (another vocabulary of the same size would train
    and be saved without a word). Returns the checkpoint's trainer state."""
    for file in [path / "optimizer.pt", path / "scheduler.pt", *sorted(path.glob("rng_state*.pth"))]:
        if file.is_file():  # memory-mapped: the structure is read and checked, the optimizer's moments not copied in
            read_tensors(file, RESUME_FIX, structure_only=True)
    check_settings(path, settings, inexact)
    state = None
    state_file = path / "trainer_state.json"
    if state_file.is_file():
        try:
            state = TrainerState.load_from_json(str(state_file))
            int(state.global_step)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"{state_file}: not a trainer state ({type(e).__name__}: {' '.join(str(e).split())[:120]}); "
                "resume from another checkpoint"
            ) from None
    if tokenizer is not None and hasattr(tokenizer, "get_vocab") and (path / "tokenizer_config.json").is_file():
        saved = AutoTokenizer.from_pretrained(str(path)).get_vocab()
        if saved != tokenizer.get_vocab():
            differ = len(saved.items() ^ tokenizer.get_vocab().items())
            raise ConfigError(
                f"{path}: its tokenizer is not this run's ({len(saved)} vs {len(tokenizer.get_vocab())} tokens, "
                f"{differ} entries differ): resume with the model and tokenizer the run started with"
            )
    return state


def check_settings(path: Path, settings: dict, inexact: bool) -> None:
    """A resume under other training settings (learning rate, batch size, loss weights, ...) would continue a
    different run than the one checkpointed: refused, naming the first difference, unless --resume_inexact."""
    file = path / SETTINGS_NAME
    if inexact:
        return
    if not file.is_file():  # nothing says which settings it was trained under: never a silent continue
        raise ConfigError(
            f"{path}: no {SETTINGS_NAME}, so nothing says the run's settings are the checkpoint's; resume from a "
            "checkpoint of scl_trainer, or pass --resume_inexact true to continue under this run's settings"
        )
    try:
        saved = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{file}: not readable JSON ({e}); resume from another checkpoint") from None
    now = json.loads(json.dumps(settings))  # JSON types, as saved
    differing = [key for key in now if key in saved and saved[key] != now[key]]
    if differing:
        key = differing[0]
        raise ConfigError(
            f"{path} was trained with {key}={saved[key]!r}, this run has {key}={now[key]!r} (differing: "
            f"{', '.join(differing)}): a resume continues the same run. Use the settings it was trained with, "
            "or pass --resume_inexact true to continue under the new ones"
        )
