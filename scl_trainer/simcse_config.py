from dataclasses import dataclass, field

from .base_config import BaseConfig, check_temperature
from .errors import ConfigError

__all__ = ["SimCSEConfig"]

POOLERS = ("cls", "cls_before_pooler", "mean")
MLP_INITS = ("normal", "orthogonal")


@dataclass
class SimCSEConfig(BaseConfig):
    r"""Configuration for [`SimCSETrainer`]: unsupervised SimCSE (dropout views of a duplicated batch).

    Defaults follow the SimCSE paper's unsupervised BERT setting (temperature 0.05, `cls` pooler with an MLP used in
    training only, max length 32, lr 3e-5, batch 64). The fields shared with SCL (`gather_across_devices`,
    `contrastive_chunk_size`) are in [`BaseConfig`]; every `TrainingArguments` field is available as well.
    """

    temperature: float = field(
        default=0.05, metadata={"help": "Softmax temperature over cosine similarities (> 0); the seed's scale 20."}
    )
    pooler: str = field(
        default="cls",
        metadata={
            "help": "Sentence vector: `cls` (final-layer [CLS] through an MLP in training only, raw [CLS] at "
            "evaluation and export, as in the paper), `cls_before_pooler` ([CLS], no MLP) or `mean` (mean of the "
            "token vectors under the attention mask).",
            "choices": list(POOLERS),
        },
    )
    mlp_init: str = field(
        default="normal",
        metadata={
            "help": "Initial weights of the `cls` pooler's training-only MLP: `normal` (N(0, 0.02), as the paper, "
            "which initialises it like BERT's layers) or `orthogonal` (a random rotation: it keeps the cosine "
            "geometry and the gradient scale of an encoder that is already a good sentence encoder, which matters "
            "on short budgets).",
            "choices": list(MLP_INITS),
        },
    )
    eval_max_length: int = field(
        default=128,
        metadata={
            "help": "Max tokens per sentence at evaluation (STS) and inference; written to the exported "
            "sentence-transformers config, so `SentenceTransformer(output_dir)` embeds exactly as evaluated."
        },
    )

    mask_duplicates: bool = field(
        default=True,
        metadata={
            "help": "Identical inputs (same token ids, e.g. a sentence repeated in the corpus or equal after "
            "truncation) are not negatives of each other: mask them out of the softmax, across processes too."
        },
    )

    # Fields with a different default.
    max_length: int = field(
        default=32, metadata={"help": "Max tokens per training sentence; longer ones are truncated and counted."}
    )
    learning_rate: float = field(default=3e-5, metadata={"help": "Peak learning rate (SimCSE: 3e-5 for BERT-base)."})
    per_device_train_batch_size: int = field(
        default=64, metadata={"help": "Sentences per device and step; the forward pass sees twice as many rows."}
    )
    metric_for_best_model: str | None = field(
        default="spearman",
        metadata={"help": "Metric that picks the best checkpoint: STS Spearman of cosine similarity (x100)."},
    )
    # Training batches carry no labels (the targets come from the row layout) and evaluation batches carry two
    # tokenized sentences per row (a_* and b_* columns) that the encoder's forward signature does not name: the
    # Trainer must neither look for label columns nor drop "unused" columns.
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep False: the trainer builds exactly the columns it needs."}
    )
    label_names: list[str] | None = field(
        default_factory=list, metadata={"help": "Keep empty: SimCSE training has no labels."}
    )

    def __post_init__(self):
        if not self.temperature > 0:
            raise ConfigError(f"SimCSEConfig: temperature must be > 0, got {self.temperature}")
        check_temperature("SimCSEConfig", "temperature", self.temperature)
        if self.pooler not in POOLERS:
            raise ConfigError(f"SimCSEConfig: pooler must be one of {POOLERS}, got {self.pooler!r}")
        if self.mlp_init not in MLP_INITS:
            raise ConfigError(f"SimCSEConfig: mlp_init must be one of {MLP_INITS}, got {self.mlp_init!r}")
        if not self.eval_max_length >= 2:
            raise ConfigError(f"SimCSEConfig: eval_max_length must be >= 2, got {self.eval_max_length}")
        super().__post_init__()

    def untouched_model_competes(self) -> bool:
        return True  # the base encoder is a sentence encoder already (`allow_regression` opts out)
