from dataclasses import dataclass, field

from transformers import TrainingArguments

__all__ = ["SCLConfig"]


@dataclass
class SCLConfig(TrainingArguments):
    r"""Configuration for [`SCLTrainer`]: BCE on a one-logit head + `scl_weight` x SupCon on the final-layer [CLS].

    Defaults follow the CCF QA-matching seed (`SupervisedContrastiveLearning(alpha=0.1, T=0.2)`). Every
    `TrainingArguments` field is available as well; the ones whose default differs are listed below.
    """

    scl_weight: float = field(
        default=0.1,
        metadata={"help": "Weight of the supervised contrastive term: loss = bce + scl_weight * supcon (>= 0)."},
    )
    scl_temperature: float = field(
        default=0.2, metadata={"help": "Temperature of the SupCon softmax over cosine similarities (> 0)."}
    )
    max_length: int = field(
        default=128,
        metadata={
            "help": "Maximum number of tokens of a (text_a, text_b) pair. Longer pairs are truncated, longest text "
            "first, and counted in the log. Must not exceed the model's limit."
        },
    )

    gather_across_devices: bool = field(
        default=True,
        metadata={
            "help": "With several processes, use the [CLS] vectors and labels of all processes as SupCon candidates "
            "(gathered with gradient; exact full-batch gradients). No effect with one process."
        },
    )
    contrastive_chunk_size: int | None = field(
        default=None,
        metadata={
            "help": "GradCache: run the forward pass in chunks of this many rows (first without graph, then again "
            "with the same dropout masks during backward), so the contrastive batch can exceed what fits in memory. "
            "None: one forward pass over the batch."
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
    logging_steps: float = field(
        default=10, metadata={"help": "Log every X update steps (an integer, or a float in (0, 1) of all steps)."}
    )

    def __post_init__(self):
        if not self.scl_weight >= 0:
            raise ValueError(f"SCLConfig: scl_weight must be >= 0, got {self.scl_weight}")
        if not self.scl_temperature > 0:
            raise ValueError(f"SCLConfig: scl_temperature must be > 0, got {self.scl_temperature}")
        if not self.max_length >= 2:
            raise ValueError(f"SCLConfig: max_length must be >= 2, got {self.max_length}")
        check_chunk_size(self, "SCLConfig")
        super().__post_init__()


def check_chunk_size(config, name: str) -> None:
    if config.contrastive_chunk_size is None:
        return
    if not config.contrastive_chunk_size >= 1:
        raise ValueError(f"{name}: contrastive_chunk_size must be >= 1, got {config.contrastive_chunk_size}")
    if config.fp16:
        raise ValueError(
            f"{name}: contrastive_chunk_size (GradCache) is not supported with fp16 loss scaling; use bf16 or fp32"
        )
