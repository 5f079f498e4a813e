import math
from dataclasses import dataclass, field

from .base_config import BaseConfig, check_temperature
from .errors import ConfigError

__all__ = ["SCLConfig"]


@dataclass
class SCLConfig(BaseConfig):
    r"""Configuration for [`SCLTrainer`]: BCE on a one-logit head + `scl_weight` x SupCon on the final-layer [CLS].

    Defaults follow the CCF QA-matching seed (`SupervisedContrastiveLearning(alpha=0.1, T=0.2)`). The fields shared
    with SimCSE (`max_length`, `gather_across_devices`, `contrastive_chunk_size`) are in [`BaseConfig`]; every
    `TrainingArguments` field is available as well.
    """

    scl_weight: float = field(
        default=0.1,
        metadata={"help": "Weight of the supervised contrastive term: loss = bce + scl_weight * supcon (>= 0)."},
    )
    scl_temperature: float = field(
        default=0.2, metadata={"help": "Temperature of the SupCon softmax over cosine similarities (> 0)."}
    )

    threshold_min_per_class: int = field(
        default=30,
        metadata={
            "help": "Tune the decision threshold on the validation data only when each class has at least this many "
            "examples there; with fewer the threshold stays 0.5 (a warning names the counts). A threshold tuned on "
            "a handful of pairs fits them, not new data."
        },
    )

    # TrainingArguments fields with a different default.
    metric_for_best_model: str | None = field(
        default="f1_at_threshold",
        metadata={
            "help": "Metric that picks the best checkpoint (with `load_best_model_at_end`). Default: validation F1 at "
            "the tuned decision threshold, the threshold that prediction uses."
        },
    )

    def __post_init__(self):
        if not self.scl_weight >= 0:
            raise ConfigError(f"SCLConfig: scl_weight must be >= 0, got {self.scl_weight}")
        if not math.isfinite(self.scl_weight):
            raise ConfigError(f"SCLConfig: scl_weight must be finite (0 to turn SupCon off), got {self.scl_weight}")
        if not self.scl_temperature > 0:
            raise ConfigError(f"SCLConfig: scl_temperature must be > 0, got {self.scl_temperature}")
        check_temperature("SCLConfig", "scl_temperature", self.scl_temperature)
        if not self.threshold_min_per_class >= 1:
            raise ConfigError(f"SCLConfig: threshold_min_per_class must be >= 1, got {self.threshold_min_per_class}")
        super().__post_init__()
