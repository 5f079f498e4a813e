"""What every scl_trainer method configures the same way: the sequence length, the cross-process and GradCache
options of the contrastive batch, and the checks on them. Each method's config adds only its own fields."""

import logging
from dataclasses import dataclass, field

import torch
from transformers import IntervalStrategy, TrainingArguments

from .errors import ConfigError

__all__ = ["BaseConfig"]

logger = logging.getLogger(__name__)


@dataclass
class BaseConfig(TrainingArguments):
    r"""Fields shared by [`SCLConfig`] and [`SimCSEConfig`] (a `TrainingArguments` subclass, like TRL's configs).

    Every `TrainingArguments` field is available as well.
    """

    max_length: int = field(
        default=128,
        metadata={
            "help": "Maximum number of tokens of one training input (a pair for SCL, a sentence for SimCSE). Longer "
            "inputs are truncated and counted in the log. Must not exceed the model's limit."
        },
    )
    gather_across_devices: bool = field(
        default=True,
        metadata={
            "help": "With several processes, use the embeddings (and labels) of all processes as contrastive "
            "candidates (gathered with gradient; exact full-batch gradients). No effect with one process."
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
    logging_steps: float = field(
        default=10, metadata={"help": "Log every X update steps (an integer, or a float in (0, 1) of all steps)."}
    )

    def __post_init__(self):
        name = type(self).__name__
        if not self.max_length >= 2:
            raise ConfigError(f"{name}: max_length must be >= 2, got {self.max_length}")
        if self.contrastive_chunk_size is not None:
            if not self.contrastive_chunk_size >= 1:
                raise ConfigError(f"{name}: contrastive_chunk_size must be >= 1, got {self.contrastive_chunk_size}")
            if self.fp16:
                raise ConfigError(
                    f"{name}: contrastive_chunk_size (GradCache) is not supported with fp16 loss scaling; use bf16 "
                    "or fp32"
                )
        if self.load_best_model_at_end and IntervalStrategy(self.eval_strategy) == IntervalStrategy.NO:
            # A config file asks for the best checkpoint, the command line for no evaluation: nothing can pick one.
            logger.warning(
                f"{name}: eval_strategy=no, so no checkpoint is evaluated: load_best_model_at_end is turned off and "
                "the final weights are kept"
            )
            self.load_best_model_at_end = False
        accelerator = getattr(torch, "accelerator", None)
        if self.dataloader_pin_memory and not (
            accelerator.is_available() if accelerator else torch.cuda.is_available()
        ):
            self.dataloader_pin_memory = (
                False  # nothing to pin to without an accelerator (torch warns on every loader)
            )
        super().__post_init__()
