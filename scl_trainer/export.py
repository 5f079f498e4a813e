"""The sentence-transformers layout of an encoder folder: read a base model's own pooling (so it can be the baseline
and the fallback), and write it for an exported encoder (so `SentenceTransformer(output_dir)` embeds as evaluated)."""

import json
import os
from dataclasses import dataclass

import safetensors.torch
import torch
from transformers import __version__ as transformers_version

__all__ = [
    "MLP_WEIGHTS_NAME",
    "SentencePooling",
    "read_sentence_pooling",
    "save_sentence_encoder",
    "write_sentence_transformers_config",
]

# SimCSE's training-only MLP is saved beside the encoder's weights, so the encoder loads with plain `AutoModel`.
MLP_WEIGHTS_NAME = "simcse_mlp.safetensors"

# sentence-transformers pooling modes that `SentenceEncoder` implements, by its name for them.
_MODES = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens"}


@dataclass(frozen=True)
class SentencePooling:
    """How a sentence-transformers folder turns token vectors into one sentence vector."""

    pooler: str  # `cls` or `mean`
    normalize: bool  # a Normalize module follows the pooling (unit-length vectors)

    def describe(self) -> str:
        return self.pooler + (" + normalize" if self.normalize else "")


def _read_json(folder: str, name: str) -> dict | list | None:
    path = os.path.join(folder, name)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    try:  # a Hub id: the file from the local cache, or from the Hub when it is reachable
        from huggingface_hub import hf_hub_download

        with open(hf_hub_download(folder, name), encoding="utf-8") as f:
            return json.load(f)
    except Exception:  # not a repo, no such file, offline without a cached copy: no native pooling known
        return None


def read_sentence_pooling(name_or_path: str) -> SentencePooling | None:
    """The pooling of a sentence-transformers model folder or Hub id (`modules.json` + its Pooling config, and
    whether a Normalize module follows), or None when it has none or one `SentenceEncoder` does not implement (max,
    mean-sqrt-len, weighted)."""
    modules = _read_json(name_or_path, "modules.json")
    if not isinstance(modules, list):
        return None
    pooling = next((m for m in modules if m.get("type", "").endswith("models.Pooling")), None)
    if pooling is None:
        return None
    config = _read_json(name_or_path, os.path.join(pooling.get("path", "1_Pooling"), "config.json")) or {}
    active = [key for key, value in config.items() if key.startswith("pooling_mode") and value]
    modes = [name for name, key in _MODES.items() if active == [key]]
    if not modes:
        return None
    normalize = any(m.get("type", "").endswith("models.Normalize") for m in modules)
    return SentencePooling(modes[0], normalize)


def write_sentence_transformers_config(
    output_dir: str, pooler: str, hidden_size: int, max_seq_length: int, normalize: bool = False
) -> None:
    """The module files that make `SentenceTransformer(output_dir)` rebuild encoder + pooling (+ Normalize) (the
    layout that sentence-transformers 2.x to 6.x all read). Normalize does not change cosine similarities, so the STS
    scores are the same with or without it."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    pooling = {
        "word_embedding_dimension": hidden_size,
        "pooling_mode_cls_token": pooler in ("cls", "cls_before_pooler"),
        "pooling_mode_mean_tokens": pooler == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    files = {
        "modules.json": modules,
        "sentence_bert_config.json": {"max_seq_length": max_seq_length, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "__version__": {"transformers": transformers_version, "pytorch": torch.__version__},
            "similarity_fn_name": "cosine",
        },
        os.path.join("1_Pooling", "config.json"): pooling,
    }
    for name, content in files.items():
        path = os.path.join(output_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2)
    if normalize:  # sentence-transformers expects the module folder to exist (it holds no files)
        os.makedirs(os.path.join(output_dir, "2_Normalize"), exist_ok=True)
    elif os.path.isdir(os.path.join(output_dir, "2_Normalize")):
        os.rmdir(os.path.join(output_dir, "2_Normalize"))


def save_sentence_encoder(model, output_dir: str, max_seq_length: int, normalize: bool, state_dict=None) -> None:
    """Save a `SentenceEncoder` (e.g. a `SimCSEModel`): the encoder in the plain `transformers` layout (loads with
    `AutoModel`), SimCSE's training-only MLP beside it (`simcse_mlp.safetensors`, for exact resume) and the
    sentence-transformers module files with the model's current pooling (+ Normalize)."""
    os.makedirs(output_dir, exist_ok=True)
    state_dict = state_dict if state_dict is not None else model.state_dict()
    encoder_state = {k.removeprefix("encoder."): v for k, v in state_dict.items() if k.startswith("encoder.")}
    model.encoder.save_pretrained(output_dir, state_dict=encoder_state)
    mlp_state = {k.removeprefix("mlp."): v.contiguous() for k, v in state_dict.items() if k.startswith("mlp.")}
    if mlp_state:
        safetensors.torch.save_file(mlp_state, os.path.join(output_dir, MLP_WEIGHTS_NAME))
    write_sentence_transformers_config(output_dir, model.pooler, model.config.hidden_size, max_seq_length, normalize)
