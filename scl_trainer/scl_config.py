import math
from dataclasses import dataclass, field

from .base_config import BaseConfig, check_temperature
from .errors import ConfigError

PAIR_ARCHITECTURES = ("cross_encoder", "bi_encoder")

__all__ = ["SCLConfig"]


@dataclass
class SCLConfig(BaseConfig):
    r"""Configuration for [`SCLTrainer`]: BCE on a one-logit head + `scl_weight` x SupCon on the final-layer [CLS].

    Defaults follow the CCF QA-matching seed (`SupervisedContrastiveLearning(alpha=0.1, T=0.2)`). The fields shared
    with SimCSE (`max_length`, `gather_across_devices`, `contrastive_chunk_size`) are in [`BaseConfig`]; every
    `TrainingArguments` field is available as well.
    """

    architecture: str = field(
        default="cross_encoder",
        metadata={
            "help": "`cross_encoder` (the seed's design: both texts read together, a one-logit head on the pair, "
            "SupCon on its [CLS]) or `bi_encoder` (one shared encoder embeds each text alone in the base model's own "
            "pooling; probability = sigmoid(scale x cos(u, v) + bias); the contrastive term is supervised SimCSE "
            "over the batch's sentences with the negative pairs' texts as hard negatives; the untouched encoder "
            "competes for the best checkpoint).",
            "choices": list(PAIR_ARCHITECTURES),
        },
    )
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
        if self.architecture not in PAIR_ARCHITECTURES:
            raise ConfigError(
                f"SCLConfig: architecture must be one of {', '.join(PAIR_ARCHITECTURES)}, got {self.architecture!r}"
            )
        if self.architecture == "bi_encoder":
            # Batches carry two separately tokenized texts (`a_*`, `b_*` columns) that no forward signature names:
            # the Trainer must keep every column the trainer built, and read the 0/1 targets from `labels`.
            self.remove_unused_columns = False
            self.label_names = self.label_names or ["labels"]
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

    def untouched_model_competes(self) -> bool:
        # A bi-encoder's untouched encoder (with its fitted scale and bias) already scores pairs; a cross-encoder's
        # new head does not.
        return self.architecture == "bi_encoder"
