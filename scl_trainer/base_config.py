"""What every scl_trainer method configures the same way: the sequence length, the cross-process and GradCache
options of the contrastive batch, and the checks on them. Each method's config adds only its own fields."""

import dataclasses
import logging
import math
from dataclasses import dataclass, field

import torch
from transformers import IntervalStrategy, TrainingArguments

from .errors import ConfigError

__all__ = ["TEMPERATURE_RANGE", "BaseConfig", "check_temperature"]

# Contrastive temperatures: below 1e-4 the logits cos/T (up to 1e4) and their gradients overflow half precision and
# lose the softmax in float32; above 100 every logit is ~0 and the loss is constant (nothing is learned).
TEMPERATURE_RANGE = (1e-4, 100.0)


def check_temperature(config_name: str, field_name: str, value: float) -> None:
    low, high = TEMPERATURE_RANGE
    if not low <= value <= high:
        raise ConfigError(f"{config_name}: {field_name} must be within [{low:g}, {high:g}], got {value}")


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

    resume_inexact: bool = field(
        default=False,
        metadata={
            "help": "Allow --resume_from_checkpoint from a checkpoint without its optimizer, scheduler, random or "
            "trainer state (training then continues, but not exactly as an uninterrupted run would)."
        },
    )

    widget_examples: bool | None = field(
        default=None,
        metadata={
            "help": "Put three validation examples, verbatim, in the model card's widget (published with "
            "--push_to_hub). Default: only when the data is public (a Hub dataset id or a named public dataset such "
            "as mrpc); the rows of a local file or of a Dataset built in Python are never published unless true."
        },
    )

    allow_regression: bool = field(
        default=False,
        metadata={
            "help": "For methods whose untouched model is already a usable answer (SimCSE; the bi-encoder pair "
            "classifier): by default it is evaluated at step 0 and competes for the best checkpoint (with "
            "`load_best_model_at_end`), so when training never beats it on the validation data the untouched model "
            "is what is kept and exported, with a warning. True: only trained checkpoints compete, even if all are "
            "worse."
        },
    )

    # TrainingArguments fields with a different default.
    logging_steps: float = field(
        default=10, metadata={"help": "Log every X update steps (an integer, or a float in (0, 1) of all steps)."}
    )

    def __post_init__(self):
        name = type(self).__name__
        self._check_ranges(name)
        self._check_metric(name)
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
        if self.load_best_model_at_end and not self.allow_regression and self.untouched_model_competes():
            self.eval_on_start = True  # the step-0 evaluation makes the untouched model a candidate

    def untouched_model_competes(self) -> bool:
        """Whether the untouched model is a candidate for the best checkpoint (evaluated at step 0): a method whose
        model is usable before any step says so."""
        return False

    def validation_metrics(self) -> set[str] | None:
        """The metric names the trainer's evaluation reports (without `eval_`), for checking
        `metric_for_best_model` up front; None: not known in advance."""
        return None

    # TrainingArguments fields that change what training computes (a resume under other values is not a resume).
    # The run's length (max_steps, num_train_epochs) may change: resuming to train longer is a resume.
    TRAJECTORY_FIELDS = (
        "learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "seed", "data_seed",
        "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm", "adam_beta1", "adam_beta2",
        "adam_epsilon", "optim", "bf16", "fp16",
        "label_names",  # SCLConfig gives it its own meaning (the classes, in logit order): another order, another run
    )  # fmt: skip
    # Our own fields that do not: they govern evaluation, the card or the resume itself.
    NOT_TRAJECTORY_FIELDS = ("widget_examples", "resume_inexact", "allow_regression", "threshold_min_per_class",
                             "interpolate")  # fmt: skip

    def training_settings(self) -> dict:
        """The settings a resumed run must share with the run that wrote its checkpoint: the `TrainingArguments`
        fields that change the optimization, every field of ours except those of evaluation and the card, and the
        number of processes. Saved in each checkpoint (`scl_trainer_settings.json`) and compared on resume."""
        from transformers import TrainingArguments

        inherited = {f.name for f in dataclasses.fields(TrainingArguments)}
        ours = [f.name for f in dataclasses.fields(self) if f.name not in inherited]
        values = self.to_dict()
        names = [*self.TRAJECTORY_FIELDS, *(n for n in ours if n not in self.NOT_TRAJECTORY_FIELDS)]
        return {**{name: values.get(name) for name in names}, "world_size": self.world_size}

    def _check_metric(self, name: str, known: set[str] | None = None) -> None:
        """A misspelled `metric_for_best_model` (or one the task does not report: `known`, default all this trainer
        may report) is an error now, naming the closest metrics, not at the first evaluation."""
        known = self.validation_metrics() if known is None else known
        metric = self.metric_for_best_model
        if known is None or metric is None or metric.removeprefix("eval_") in known:
            return
        from .parser import did_you_mean

        hint = did_you_mean(metric.removeprefix("eval_"), sorted(known)) or " the metrics are " + ", ".join(
            sorted(known)
        )
        raise ConfigError(
            f"{name}: metric_for_best_model {metric!r} is not a validation metric of this trainer;{hint}"
        )

    def _check_ranges(self, name: str) -> None:
        """The inherited settings a run cannot train with, refused before anything loads (torch or the Trainer would
        reject some only after the model is loaded, and accept others silently: 0 epochs, fp16 on CPU)."""
        checks = [
            ("learning_rate", self.learning_rate, math.isfinite(self.learning_rate) and self.learning_rate > 0, "> 0"),
            ("per_device_train_batch_size", self.per_device_train_batch_size, self.per_device_train_batch_size >= 1,
             ">= 1"),
            ("per_device_eval_batch_size", self.per_device_eval_batch_size, self.per_device_eval_batch_size >= 1,
             ">= 1"),
            ("gradient_accumulation_steps", self.gradient_accumulation_steps, self.gradient_accumulation_steps >= 1,
             ">= 1"),
            ("max_steps", self.max_steps, self.max_steps != 0, "> 0 (or -1: use num_train_epochs)"),
            ("num_train_epochs", self.num_train_epochs,
             self.max_steps > 0 or (math.isfinite(self.num_train_epochs) and self.num_train_epochs > 0), "> 0"),
            ("weight_decay", self.weight_decay, math.isfinite(self.weight_decay) and self.weight_decay >= 0, ">= 0"),
            ("seed", self.seed, 0 <= self.seed < 2**32, "in [0, 2^32) (numpy's and torch's seeds)"),
        ]  # fmt: skip
        for field_name, value, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"{name}: {field_name} must be {allowed}, got {value}")
        if self.fp16 and not torch.cuda.is_available():
            raise ConfigError(
                f"{name}: fp16 needs a CUDA GPU and there is none here, so it would do nothing; on CPU use "
                "--bf16 true --use_cpu true (bfloat16 autocast), or no mixed precision"
            )
