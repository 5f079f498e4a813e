"""scl_trainer: contrastive fine-tuning of transformer encoders on top of the Hugging Face Trainer.

The names below load on first use (PEP 562), so `import scl_trainer.<module>` and the command line's `--help` and
argument errors do not pay for the trainer stack (torch, transformers' Trainer, datasets, scikit-learn, matplotlib).
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scl_trainer")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0.1.0"

# public name -> the module that defines it
_MODULES = {
    "BaseConfig": "base_config",
    "BaseTrainer": "base_trainer",
    "DEFAULT_DATA_DIR": "records",
    "DataError": "errors",
    "SCLConfig": "scl_config",
    "SCLTrainer": "scl_trainer",
    "SentenceEncoder": "sentence_encoder",
    "SimCSEConfig": "simcse_config",
    "SimCSELoss": "losses",
    "SimCSEModel": "simcse_model",
    "SimCSETrainer": "simcse_trainer",
    "SupConLoss": "losses",
    "best_f1_threshold": "metrics",
    "load_classifier": "architectures.cross_encoder",
    "load_pair_classifier": "architectures.cross_encoder",
    "pair_classification_metrics": "metrics",
    "resolve_model_name_or_path": "utils",
    "sts_metrics": "metrics",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module 'scl_trainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])
