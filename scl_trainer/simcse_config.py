from dataclasses import dataclass, field

from .base_config import BaseConfig, check_temperature
from .errors import ConfigError
from .interpolation import parse_interpolate

__all__ = ["SimCSEConfig"]

POOLERS = ("cls", "cls_before_pooler", "mean")
MLP_INITS = ("normal", "orthogonal")


@dataclass
class SimCSEConfig(BaseConfig):
    r"""Configuration for [`SimCSETrainer`]: unsupervised SimCSE (dropout views of a duplicated batch).

    Defaults follow the SimCSE paper's unsupervised setting (temperature 0.05, max length 32, batch 64), except where
    our evidence on an encoder that is already a sentence encoder says otherwise (`make simcse-select`,
    bench/results/simcse_default.md): the pooler is the base model's own when it declares one (all-MiniLM-L6-v2: mean
    + Normalize; the paper's [CLS] + training-only MLP for a plain BERT), and the learning rate is 1e-5 (the paper's
    3e-5 for BERT-base never beat the base MiniLM on dev). The fields shared with SCL (`gather_across_devices`,
    `contrastive_chunk_size`) are in [`BaseConfig`]; every `TrainingArguments` field is available as well.
    """

    temperature: float = field(
        default=0.05, metadata={"help": "Softmax temperature over cosine similarities (> 0); the seed's scale 20."}
    )
    pooler: str | None = field(
        default=None,
        metadata={
            "help": "Sentence vector: `cls` (final-layer [CLS] through an MLP in training only, raw [CLS] at "
            "evaluation and export, as in the paper), `cls_before_pooler` ([CLS], no MLP) or `mean` (mean of the "
            "token vectors under the attention mask). Default: the base model's own pooling when it is a "
            "sentence-transformers model (all-MiniLM-L6-v2: mean; chosen on STS-B dev by make simcse-select), else "
            "`cls` (the paper's setting for a plain BERT). The choice is logged and written in the card.",
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

    interpolate: str = field(
        default="auto",
        metadata={
            "help": "WiSE-FT: export (1 - a) x base + a x trained weights. `auto` (the default; applied when the "
            "base model is a sentence encoder, i.e. declares its pooling): `a` from 0, 0.1, ..., 1, chosen after "
            "training by the rule: the best in-domain validation Spearman among the `a` whose out-of-domain "
            "Spearman is not below the base model's (the recipe's dev pairs and a sample of SICK relatedness "
            "pairs); every candidate's scores are logged, saved and in the card. `none`: the trained weights. A "
            "number in [0, 1]: that `a`."
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
    learning_rate: float = field(
        default=1e-5,
        metadata={
            "help": "Peak learning rate. 1e-5: chosen on STS-B dev for all-MiniLM-L6-v2 by make simcse-select (3e-5, "
            "the paper's BERT-base value, drifts from an encoder that is already a sentence encoder)."
        },
    )
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
        if self.pooler is not None and self.pooler not in POOLERS:
            raise ConfigError(f"SimCSEConfig: pooler must be one of {POOLERS}, got {self.pooler!r}")
        if self.mlp_init not in MLP_INITS:
            raise ConfigError(f"SimCSEConfig: mlp_init must be one of {MLP_INITS}, got {self.mlp_init!r}")
        try:
            parse_interpolate(self.interpolate)
        except ValueError:
            raise ConfigError(
                f"SimCSEConfig: interpolate must be auto, none or a number in [0, 1], got {self.interpolate!r}"
            ) from None
        if not self.eval_max_length >= 2:
            raise ConfigError(f"SimCSEConfig: eval_max_length must be >= 2, got {self.eval_max_length}")
        super().__post_init__()

    def validation_metrics(self) -> set[str]:
        return {"loss", "spearman", "pearson", "alignment", "uniformity"}

    def untouched_model_competes(self) -> bool:
        return True  # the base encoder is a sentence encoder already (`allow_regression` opts out)
