"""Every weight or state file the library reads (a base model, a model given to `predict`/`embed`, a saved head, a
resume checkpoint's optimizer, scheduler and random state) is read here: safely (a pickle is loaded with
`weights_only=True`, so nothing in it is run), and a file that cannot be read is one error naming the file, why and
the fix, never a traceback that suggests an unsafe load."""

import json
import os
import pickle
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from .errors import ConfigError

__all__ = ["check_model_files", "read_tensors"]

# The weight files of a model folder, as `save_pretrained` writes them (one file, or shards and their index).
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


def _cannot_read(file: Path, error: Exception, fix: str) -> ConfigError:
    unsafe = isinstance(error, pickle.UnpicklingError) and "unsupported global" in str(error).lower()
    reason = (
        "it holds Python objects that a safe load refuses (a pickle that transformers or the Trainer did not write; "
        "nothing in it was run)"
        if unsafe
        else f"truncated or corrupt ({type(error).__name__})"
    )
    return ConfigError(f"{file}: cannot be read: {reason}. {fix}")


def read_tensors(file: str | os.PathLike, fix: str, structure_only: bool = False):
    """The tensors (or, for a torch pickle, the object) in `file`, `.safetensors` or a `torch.save` pickle, read
    safely. `structure_only`: check that the whole file can be read without copying the tensors in (the safetensors
    header and its coverage of the file; a memory-mapped torch load) and return None."""
    from transformers.trainer_pt_utils import safe_globals  # the numpy types the Trainer's random state holds

    file = Path(file)
    try:
        if file.suffix == ".safetensors":
            if structure_only:
                with safetensors.safe_open(str(file), framework="pt") as f:
                    f.keys()
                return None
            return safetensors.torch.load_file(str(file), device="cpu")
        with safe_globals():
            try:
                loaded = torch.load(file, map_location="cpu", weights_only=True, mmap=structure_only)
            except RuntimeError as e:
                if not structure_only or "mmap" not in str(e):
                    raise
                loaded = torch.load(file, map_location="cpu", weights_only=True)  # the legacy (non-zip) format
        return None if structure_only else loaded
    except Exception as e:  # any failure of an untrusted file is the same answer: it cannot be read
        raise _cannot_read(file, e, fix) from None


def check_model_files(folder: str | os.PathLike, fix: str) -> None:
    """Every weight file of a local model folder (and of the sentence-transformers modules it lists) can be read
        safely, checked before `from_pretrained` reads it: a truncated download or a pickle holding code is named here,
    with `fix`."""
    folder = Path(folder)
    folders = [folder]
    modules = folder / "modules.json"
    if modules.is_file():
        try:
            folders += [folder / m["path"] for m in json.loads(modules.read_text(encoding="utf-8")) if m.get("path")]
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # not ours to judge here: sentence-transformers names a bad modules.json itself
    for module in folders:
        for pattern in WEIGHT_PATTERNS:
            for file in sorted(module.glob(pattern)):
                read_tensors(file, fix, structure_only=True)
