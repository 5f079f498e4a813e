"""Export of a sentence encoder in the layout `SentenceTransformer(output_dir)` reads."""

import json
import os

import torch
from transformers import __version__ as transformers_version

__all__ = ["write_sentence_transformers_config"]


def write_sentence_transformers_config(output_dir: str, pooler: str, hidden_size: int, max_seq_length: int) -> None:
    """The module files that make `SentenceTransformer(output_dir)` rebuild encoder + pooling (the layout that
    sentence-transformers 2.x to 6.x all read). No Normalize module: the vectors are the ones STS was scored with."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
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
