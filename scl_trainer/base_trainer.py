"""The mechanics every scl_trainer method shares, written once (as TRL's `_BaseTrainer` under its methods):

- the `__init__` preamble: config type, default tokenizer, max-length checks, tokenizing raw datasets;
- the contrastive batch: embed (optionally with GradCache) -> gather across processes -> scale by the world size;
- per-mode metric logging: each loss term and health value, train under its name, evaluation under its prefix;
- checkpoints: the method's extra state (beyond the Trainer's weights) restored by one mechanism, on resume and when
  the best checkpoint is reloaded;
- the model card: metadata, model-index results, training log, rendered from a template of the method.

A method's trainer subclasses [`BaseTrainer`] and keeps only its model preparation, tokenization, loss, evaluation
metric and card content.
"""

import contextlib
import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
from datasets import Dataset
from safetensors import SafetensorError
from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainerState
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_utils import TrainOutput, get_last_checkpoint

from .base_config import BaseConfig
from .checkpoints import SETTINGS_NAME, check_checkpoint, check_resume_files
from .distributed import gather_with_grad, gather_without_grad
from .errors import ConfigError
from .export import save_sentence_encoder
from .grad_cache import cached_forward
from .model_card import write_model_card
from .outputs import RunManifest, check_free_space
from .plots import plot_training_curves
from .sentence_encoder import SentenceEncoder
from .utils import check_max_length, from_pretrained, pop_step_metrics

__all__ = ["BaseTrainer"]

logger = logging.getLogger(__name__)


class BaseTrainer(Trainer):
    """`transformers.Trainer` with the shared contrastive mechanics; see the module docstring. Subclasses set the class
    attributes below and implement `_prepare_model`, `_tokenize`, `compute_loss` and `_card_content`."""

    config_class: type[BaseConfig] = BaseConfig
    _tag_names: list[str] = ["scl_trainer"]
    _max_length_fields: tuple[str, ...] = ("max_length",)  # config fields checked against the model's limit
    _summed_metrics: tuple[str, ...] = ()  # step metrics summed (not averaged) over processes
    _card_template: str = ""  # file name in scl_trainer/templates/

    # `compute_loss` returns a per-batch mean, never a sum normalised by `num_items_in_batch`, so the Trainer must
    # divide it by the gradient accumulation steps. Said explicitly: transformers 5.x otherwise infers "already
    # scaled" from the model's forward accepting **kwargs (BERT's does) and accumulates k times too large a gradient.
    # (`model_accepts_loss_kwargs`, set in `__init__`, says the same to the 5.x releases that read only that flag.)
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model,
        args: BaseConfig,
        data_collator=None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class=None,
        compute_metrics: Callable | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers=(None, None),
        **kwargs,
    ):
        if not isinstance(args, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(args).__name__}")
        self._read_training_data(args, train_dataset)
        model = self._prepare_model(model, args)
        if processing_class is None:
            processing_class = from_pretrained(AutoTokenizer, model.config._name_or_path, field_name="model")
        for field_name in self._max_length_fields:
            check_max_length(getattr(args, field_name), model, processing_class, field_name)

        train_dataset = self._prepare_dataset(train_dataset, processing_class, args, "train")
        if isinstance(eval_dataset, dict):
            eval_dataset = {
                name: self._prepare_dataset(ds, processing_class, args, name) for name, ds in eval_dataset.items()
            }
        else:
            eval_dataset = self._prepare_dataset(eval_dataset, processing_class, args, "eval")

        super().__init__(
            model=model,
            args=args,
            data_collator=(
                data_collator if data_collator is not None else self._default_collator(processing_class, args)
            ),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=compute_metrics if compute_metrics is not None else self._default_compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        self.model_accepts_loss_kwargs = False  # see `loss_is_scaled_for_ga`
        if self.is_world_process_zero():  # the final save must fit: found now, not after training
            size = sum(p.numel() * p.element_size() for p in self.model.parameters())
            check_free_space(args.output_dir, size, checkpoints=args.save_strategy != "no")
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self.plots: list[str] = []  # written by `save_plots`, listed in the card

    # ---- What a method defines ----

    def _read_training_data(self, args, train_dataset) -> None:
        """Complete `args` from the training data before the model is built (e.g. its classes)."""

    def _prepare_model(self, model, args):
        """The model to train, from what the user passed (a model, or an id / path to load one)."""
        raise NotImplementedError

    def _tokenize(self, dataset: Dataset, tokenizer, args, name: str) -> tuple[Dataset, int, str, str]:
        """Tokenize a raw dataset: (tokenized, number of truncated rows, what a row is, the max-length field)."""
        raise NotImplementedError

    def _check_tokenized(self, dataset: Dataset, args, name: str) -> None:
        """Check a dataset the user tokenized (its texts cannot be checked; its labels can)."""

    def _default_collator(self, tokenizer, args):
        raise NotImplementedError

    _default_compute_metrics: Callable | None = None

    def _card_content(self) -> dict:
        """The method's part of the model card: its template's own variables, plus for the shared part
        `task_type`, `pipeline_tag`, `library_name`, `hyperparameters` (dict), `eval_results` (rows with `split`,
        `metric`, `value`, optionally `dataset_name`/`dataset_type`/`metric_name`), `widget` (list or None) and
        `log_keys` (training and validation keys of the training-log table)."""
        raise NotImplementedError

    def _checkpoint_module(self, model):
        """The module whose weights the Trainer saves in a checkpoint: a sentence encoder's encoder (its other parts,
        e.g. SimCSE's MLP or a bi-encoder's scale and bias, are the method's extra state), else the model itself."""
        return model.encoder if isinstance(model, SentenceEncoder) else model

    def _load_extra_state(self, checkpoint: str, model) -> None:
        """Restore what a checkpoint holds beyond the Trainer's weights (called on resume and for the best model)."""

    def _on_evaluate(self, metrics: dict[str, float], metric_key_prefix: str, on_validation: bool) -> None:
        """Called after each evaluation; `on_validation` when it ran on the trainer's own validation data."""

    # ---- Datasets ----

    def _prepare_dataset(self, dataset, tokenizer, args, name: str):
        if dataset is None or not isinstance(dataset, Dataset):
            return dataset
        columns = dataset.column_names
        if "input_ids" in columns or "a_input_ids" in columns:  # already tokenized
            self._check_tokenized(dataset, args, name)
            return dataset
        if name == "eval":  # real examples for the card's widget, as written (decoded tokens are lower-cased, split)
            self.raw_eval_examples = dataset.select(range(min(3, len(dataset)))).to_list()
        self.raw_datasets = {**getattr(self, "raw_datasets", {}), name: dataset}  # the texts as given, by name
        dataset, num_truncated, unit, length_field = self._tokenize(dataset, tokenizer, args, name)
        if num_truncated:
            logger.warning(
                f"{name} dataset: {num_truncated} of {len(dataset)} {unit} ({num_truncated / len(dataset):.1%}) are "
                f"longer than {length_field}={getattr(args, length_field)} and were truncated"
            )
        return dataset

    # ---- The contrastive batch ----

    def _embed(self, model, inputs: dict[str, torch.Tensor], forward: Callable) -> torch.Tensor:
        """`forward(inputs)` -> (rows, D), or the same through GradCache when training with
        `contrastive_chunk_size` (the backward pass replays the chunks under their recorded random state)."""
        if model.training and self.args.contrastive_chunk_size:
            return cached_forward(
                forward, inputs, self.args.contrastive_chunk_size, no_sync=lambda: self.accelerator.no_sync(model)
            )
        return forward(inputs)

    def _gather(self, embeddings: torch.Tensor, *extras: torch.Tensor | None):
        """The contrastive candidates: this process's rows, or every process's rows (gathered with gradient) with
        `gather_across_devices`. Returns (candidates, anchors, extras gathered alike, scale): `anchors` is the slice of
        this process's rows (None: all rows), and `scale` multiplies the loss, which is then this process's share of
        the global loss times the world size, because DDP averages the gradients (`scl_trainer.distributed`)."""
        if not (self.args.gather_across_devices and self.accelerator.num_processes > 1):
            return embeddings, None, extras, 1
        candidates, anchors = gather_with_grad(embeddings)
        extras = tuple(gather_without_grad(extra) if extra is not None else None for extra in extras)
        return candidates, anchors, extras, self.accelerator.num_processes

    def _record(self, model, **values: torch.Tensor) -> None:
        """Per-step values for the log, kept per mode (train / evaluation)."""
        metrics = self._metrics["train" if model.training else "eval"]
        for key, value in values.items():
            metrics[key].append(value.detach() if isinstance(value, torch.Tensor) else torch.tensor(value))

    # ---- Logging and evaluation ----

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Training logs get the loss terms and health values recorded since the last log (averaged over steps and
        processes). Evaluation values go into the evaluation's own metrics (`evaluation_loop`)."""
        if self.model.training:
            logs = {**logs, **pop_step_metrics(self._metrics["train"], self.accelerator, self._summed_metrics)}
        super().log(logs, start_time)

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None, **kwargs):
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, **kwargs)
        prefix = kwargs.get("metric_key_prefix", "eval")
        step_metrics = pop_step_metrics(self._metrics["eval"], self.accelerator, self._summed_metrics)
        output.metrics.update({f"{prefix}_{key}": value for key, value in step_metrics.items()})
        return output

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """As `Trainer.evaluate`; a raw dataset is tokenized first. Evaluating the trainer's own validation data
        (`eval_dataset=None`) is what may update state tied to it (the pair classifier's decision threshold)."""
        on_validation = eval_dataset is None
        if isinstance(eval_dataset, Dataset):
            eval_dataset = self._prepare_dataset(eval_dataset, self.processing_class, self.args, metric_key_prefix)
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        self._on_evaluate(metrics, metric_key_prefix, on_validation)
        return metrics

    def kept_eval_log(self) -> dict[str, float]:
        """The validation log of the weights in hand: the best checkpoint's when it was reloaded at the end, else
        the last evaluation (empty when none ran)."""
        evals = [log for log in self.state.log_history if "eval_runtime" in log]
        if self.args.load_best_model_at_end and self.state.best_global_step is not None:  # 0: the untouched model
            evals = [log for log in evals if log["step"] == self.state.best_global_step] or evals
        return evals[-1] if evals else {}

    # ---- Plots ----

    def save_plots(self, output_dir: str | None = None) -> list[str]:
        """Write the run's pictures into `output_dir` (default: args.output_dir): training curves of every logged
        term and validation metric, plus the method's own (`_method_plots`). Returns the file names (listed in
        the model card). Called on every process; the main one writes."""
        output_dir = output_dir or self.args.output_dir
        # Every process runs the method's predictions (collective with several processes); the main one writes.
        method_files = self._method_plots(output_dir)
        if not self.is_world_process_zero():
            return []
        files = []
        if plot_training_curves(self.state.log_history, os.path.join(output_dir, "training_curves.png")):
            files.append("training_curves.png")
        self.plots = files + method_files
        return self.plots

    raw_eval_examples: list[dict] = []  # the first rows of a raw (untokenized) evaluation dataset, set in __init__
    raw_datasets: dict[str, Dataset] = {}  # the raw datasets given (by name: train, eval, ...), before tokenizing

    def first_eval_rows(self, n: int) -> list[dict]:
        """The first `n` rows of the (single, tokenized) evaluation dataset; none when there is no such dataset."""
        if self.eval_dataset is None or isinstance(self.eval_dataset, dict) or self.processing_class is None:
            return []
        return list(self.eval_dataset.select(range(min(n, len(self.eval_dataset)))))

    def _method_plots(self, output_dir: str) -> list[str]:
        """The method's own plots (file names written in output_dir). Runs on every process, writes on the main."""
        return []

    # ---- Checkpoints: the Trainer's weights + the method's extra state, one mechanism ----

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """`Trainer.train`, with a resumed checkpoint checked first (every file it holds readable, else named; its
        tokenizer this run's), and a checkpoint of the run's last step finished without training: the Trainer would
        take one step more than `max_steps`."""
        checkpoint = resume_from_checkpoint
        if isinstance(checkpoint, str) and checkpoint.lower() == "true" and not os.path.exists(checkpoint):
            checkpoint = resume_from_checkpoint = True  # `--resume_from_checkpoint true`: the output_dir's last one
        if checkpoint is True:
            checkpoint = get_last_checkpoint(self.args.output_dir) if os.path.isdir(self.args.output_dir) else None
            if checkpoint is None:
                raise ConfigError(
                    f"resume_from_checkpoint: output_dir {self.args.output_dir} holds no checkpoint-* folder to "
                    "resume from; name a checkpoint folder, or drop --resume_from_checkpoint"
                )
        if isinstance(checkpoint, str | os.PathLike):
            module = self._checkpoint_module(self.accelerator.unwrap_model(self.model))
            check_checkpoint(str(checkpoint), module, self.state.global_step == 0, self.args.resume_inexact)
            state = check_resume_files(Path(checkpoint), self.processing_class, self.args.training_settings(),
                                       self.args.resume_inexact)  # fmt: skip
            if state is not None and self._is_last_step(state):
                return self._finish_from_checkpoint(str(checkpoint), state)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _save_checkpoint(self, model, trial):
        if self.is_world_process_zero():  # recorded before it is written: a kill mid-save leaves it known as ours
            manifest = RunManifest(self._get_output_dir(trial))
            manifest.claim()
            manifest.record(f"checkpoint-{self.state.global_step}")
        super()._save_checkpoint(model, trial)
        if self.is_world_process_zero():  # what a resume from it must share (`BaseConfig.training_settings`)
            folder = os.path.join(self._get_output_dir(trial), f"checkpoint-{self.state.global_step}")
            with open(os.path.join(folder, SETTINGS_NAME), "w", encoding="utf-8") as f:
                json.dump(self.args.training_settings(), f, indent=2)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        final = output_dir is None or os.path.abspath(output_dir) == os.path.abspath(self.args.output_dir)
        manifest = RunManifest(self.args.output_dir) if final and self.is_world_process_zero() else None
        if manifest is not None:  # the final save: `saving` while it runs, its files recorded once done
            manifest.claim()
            manifest.record(saving=True)
        super().save_model(output_dir, _internal_call)
        if manifest is not None:
            manifest.record(present=True, finished=True)

    def _is_last_step(self, state: TrainerState) -> bool:
        """The checkpoint is the run's last step, under the same length settings as this run."""
        same_length = (
            self.args.max_steps == state.max_steps
            if self.args.max_steps > 0
            else state.num_train_epochs == math.ceil(self.args.num_train_epochs)
        )
        return bool(state.max_steps) and state.global_step >= state.max_steps and same_length

    def _finish_from_checkpoint(self, checkpoint: str, state: TrainerState) -> TrainOutput:
        logger.info(
            f"{checkpoint} is this run's last step ({state.global_step} of {state.max_steps}): nothing is left to "
            "train; its weights (and the best checkpoint, when kept at the end) are loaded and the run ends as it "
            "would have"
        )
        self._load_from_checkpoint(checkpoint)
        self.state = state
        best = state.best_model_checkpoint
        if self.args.load_best_model_at_end and best and os.path.isdir(best):
            self._load_best_model()
        losses = [entry["train_loss"] for entry in state.log_history if "train_loss" in entry]
        train_loss = losses[-1] if losses else float("nan")
        metrics = {"train_runtime": 0.0, "train_loss": train_loss, "epoch": state.epoch}
        return TrainOutput(state.global_step, train_loss, metrics)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        model = self.accelerator.unwrap_model(model if model is not None else self.model)
        # the best-model load at the end happens after steps: a resume is at step 0
        check_checkpoint(resume_from_checkpoint, self._checkpoint_module(model), self.state.global_step == 0,
                         self.args.resume_inexact)  # fmt: skip
        try:
            super()._load_from_checkpoint(resume_from_checkpoint, model=self._checkpoint_module(model))
            self._load_extra_state(resume_from_checkpoint, model)
        except (OSError, RuntimeError, ValueError, SafetensorError) as e:  # a truncated or corrupt weight file
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(
                f"{resume_from_checkpoint}: its weights cannot be loaded ({' '.join(str(e).split())})"
            ) from e

    def _load_best_model(self) -> None:
        # The best checkpoint is loaded exactly as a resume loads one: weights, then the method's extra state.
        logger.info(f"Loading best model from {self.state.best_model_checkpoint} (score: {self.state.best_metric}).")
        self._load_from_checkpoint(self.state.best_model_checkpoint)
        if os.path.basename(os.path.normpath(self.state.best_model_checkpoint)) == "checkpoint-0":
            self.kept_base_model = True
            self._on_keep_untouched_model()
            logger.warning(
                f"training never beat the untouched model on the evaluation data ({self.args.metric_for_best_model} "
                f"{self.state.best_metric:.4f} at step 0{self._describe_untouched_model()}): the base model is what "
                "is kept and exported. Pass --allow_regression to keep the best trained checkpoint instead."
            )

    # ---- The untouched model as a candidate for the best checkpoint (`BaseConfig.untouched_model_competes`) ----

    kept_base_model: bool = False  # set when the untouched model (checkpoint-0) was the best and is what is kept

    def _untouched_model_context(self) -> contextlib.AbstractContextManager:
        """The setting the untouched model is evaluated in at step 0 (SimCSE: the base model's own pooling)."""
        return contextlib.nullcontext()

    def _on_keep_untouched_model(self) -> None:
        """Called when checkpoint-0 was reloaded as the best model (e.g. to restore the pooling it was scored with)."""

    def _describe_untouched_model(self) -> str:
        """Words appended to the warning that the untouched model is kept (e.g. its pooling)."""
        return ""

    def _evaluate(self, trial, ignore_keys_for_eval, skip_scheduler: bool = False):
        """At step 0 (`eval_on_start`, set by the config when the untouched model competes): evaluate the untouched
        model and save it as checkpoint-0, a candidate for the best checkpoint like any other."""
        competes = (
            self.args.load_best_model_at_end
            and not self.args.allow_regression
            and self.args.untouched_model_competes()
        )
        if self.state.global_step > 0 or not competes:
            return super()._evaluate(trial, ignore_keys_for_eval, skip_scheduler)
        with self._untouched_model_context():
            metrics = super()._evaluate(trial, ignore_keys_for_eval, skip_scheduler)
            self._determine_best_metric(metrics, trial)
            self._save_checkpoint(self.model, trial)  # saved as evaluated (SimCSE: its pooling in the ST files)
        # `best_global_step` 0 reads as "none" to the Trainer: name the checkpoint itself; a later better
        # evaluation replaces it as usual.
        self.state.best_model_checkpoint = os.path.join(self._get_output_dir(trial), "checkpoint-0")
        return metrics

    def _save_sentence_encoder(self, output_dir: str | None, state_dict, max_seq_length: int, normalize: bool):
        """`_save` of a method whose model is a sentence encoder (a `SentenceEncoder`): the encoder in the
        plain `transformers` layout, the sentence-transformers module files, the tokenizer and the arguments."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        save_sentence_encoder(model, output_dir, max_seq_length, normalize, state_dict)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))

    # ---- Model card ----

    def create_model_card(
        self,
        model_name: str | None = None,
        dataset_name: str | None = None,
        tags: str | list[str] | None = None,
        language: str | list[str] | None = None,
        license: str | None = None,
        finetuned_from: str | None = None,
        compare_report: str | None = None,
        **kwargs,
    ) -> None:
        """Write `README.md` in `output_dir` from the method's template: metadata (base model, datasets, license,
        language, tags, model-index results, widget), usage, data, hyperparameters, evaluation, training log.
        `eval_dataset_name` and `eval_split` (keyword arguments) name the evaluation data and its split when they are
        not the training dataset's held-out validation split; `test_dataset_name` the test data, when it is another.
        `compare_report`: a `compare.json` of `python -m scl_trainer compare` whose multi-seed summary the card shows.
        Also called by `push_to_hub` (keyword arguments are passed through)."""
        write_model_card(self, model_name, dataset_name, tags, language, license, finetuned_from, compare_report,
                         **kwargs)  # fmt: skip
