"""scl_trainer: contrastive fine-tuning of transformer encoders on top of the Hugging Face Trainer."""

from .base_config import BaseConfig
from .base_trainer import BaseTrainer
from .errors import DataError
from .losses import SimCSELoss, SupConLoss
from .metrics import best_f1_threshold, pair_classification_metrics, sts_metrics
from .records import DEFAULT_DATA_DIR
from .scl_config import SCLConfig
from .scl_trainer import SCLTrainer, load_pair_classifier
from .simcse_config import SimCSEConfig
from .simcse_model import SimCSEModel
from .simcse_trainer import SimCSETrainer
from .utils import resolve_model_name_or_path

__version__ = "0.1.0"

__all__ = [
    "BaseConfig",
    "BaseTrainer",
    "DEFAULT_DATA_DIR",
    "DataError",
    "SCLConfig",
    "SCLTrainer",
    "SimCSEConfig",
    "SimCSELoss",
    "SimCSEModel",
    "SimCSETrainer",
    "SupConLoss",
    "best_f1_threshold",
    "load_pair_classifier",
    "pair_classification_metrics",
    "resolve_model_name_or_path",
    "sts_metrics",
]
