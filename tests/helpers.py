"""Helpers shared by the tests (fixtures are in conftest.py)."""

import contextlib
import importlib.util
import subprocess
import sys
from pathlib import Path

from transformers import BertConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def tiny_bert_config(**overrides) -> BertConfig:
    """A 2-layer, 32-wide BERT over tests/fixtures/vocab.txt (English words + common Chinese characters)."""
    vocab_size = sum(1 for line in open(FIXTURES / "vocab.txt", encoding="utf-8") if line.strip())
    config = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    config.update(overrides)
    return BertConfig(**config)


def save_st_encoder(path, tokenizer, **overrides) -> str:
    """A tiny BERT saved as a sentence-transformers model (mean pooling + Normalize, as all-MiniLM-L6-v2)."""
    import torch
    from transformers import BertModel

    from scl_trainer.export import write_sentence_transformers_config

    torch.manual_seed(0)
    BertModel(tiny_bert_config(**overrides)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    write_sentence_transformers_config(str(path), "mean", 32, 32, normalize=True)
    return str(path)


def load_recipe(name: str):
    """Import recipes/<name>.py as a module (recipes are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", REPO_ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def locked_by_another_process(target, flag: str, folder: bool = False):
    """Another process holding the `OutputLock` of `target` (as a running run or predict does); yields its pid. The
    process is killed on exit, which frees the lock."""
    code = ("import sys, time; from scl_trainer.outputs import OutputLock; "
            f"lock = OutputLock(sys.argv[1], {flag!r}, folder={folder}).acquire(); print('locked', flush=True); "
            "time.sleep(120)")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()
