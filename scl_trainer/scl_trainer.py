import json
import logging
import math
import os
from collections import defaultdict

import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedModel,
    Trainer,
    TrainerCallback,
)
from transformers import (
    __version__ as transformers_version,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from .data import tokenize_pairs
from .distributed import gather_with_grad, gather_without_grad
from .grad_cache import cached_forward
from .losses import SupConLoss
from .metrics import pair_classification_metrics
from .model_card import markdown_table, render_model_card
from .scl_config import SCLConfig
from .utils import pop_step_metrics

__all__ = ["SCLTrainer", "check_max_length"]

logger = logging.getLogger(__name__)


def check_max_length(max_length: int, model: PreTrainedModel, tokenizer, field_name: str = "max_length") -> None:
    """Refuse a max sequence length the model cannot embed (position embeddings / the tokenizer's limit)."""
    limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [limit for limit in limits if isinstance(limit, int) and limit < 1_000_000]
    if limits and max_length > min(limits):
        raise ValueError(
            f"{field_name}={max_length} is above the limit of the model {model.config._name_or_path!r} "
            f"({min(limits)} tokens); pass --{field_name} {min(limits)} or less"
        )


class _RestoreBestThreshold(TrainerCallback):
    """`load_best_model_at_end` reloads the best weights but not the config: take the decision threshold that was
    tuned for those weights from the best checkpoint's `config.json`."""

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if not (args.load_best_model_at_end and state.best_model_checkpoint and model is not None):
            return
        with open(os.path.join(state.best_model_checkpoint, "config.json"), encoding="utf-8") as f:
            threshold = json.load(f).get("decision_threshold")
        if threshold is not None:
            model.config.decision_threshold = threshold


class SCLTrainer(Trainer):
    r"""Pair classification with a one-logit head: BCE + `scl_weight` x SupCon on the final-layer [CLS] vector.

    One forward pass of an `AutoModelForSequenceClassification` with `num_labels=1` gives both the logit (for BCE) and
    the last hidden state, whose [CLS] vector goes to [`SupConLoss`]; loss = bce + scl_weight * supcon.

    Datasets may be raw (`text_a`, `text_b`, `label` columns, as returned by `scl_trainer.data`) or already tokenized.
    Evaluation reports F1/precision/recall/accuracy at 0.5 and at the F1-maximising threshold, plus ROC-AUC; that
    threshold is stored as `decision_threshold` in the model's `config.json` (so every checkpoint carries the threshold
    tuned for its weights) and is what prediction uses.

    Logged separately per mode: `bce`, `supcon`, `supcon_no_positive_share` (share of anchors whose label occurs
    once in the batch, which SupCon cannot use), `supcon_negatives_per_anchor` and `supcon_pos_neg_gap` (mean cosine
    to positives minus the hardest negative's, a training-health signal). With `scl_weight=0` SupCon is still logged
    but computed without graph, so training is exactly plain BCE.

    Scale: with several processes the [CLS] vectors of all of them are SupCon candidates (exact gradients, see
    `scl_trainer.distributed`); `contrastive_chunk_size` turns on GradCache (`scl_trainer.grad_cache`).

    Args:
        model: a `PreTrainedModel` with a one-logit sequence classification head, or a model id / path to load one.
        args: an [`SCLConfig`].
        processing_class: the tokenizer (loaded from the model's path when omitted).
        compute_metrics: defaults to [`pair_classification_metrics`].
        Other arguments as for `transformers.Trainer`.
    """

    _tag_names = ["scl_trainer", "supervised-contrastive-learning", "text-pair-classification"]

    # `compute_loss` returns a per-batch mean, never a sum normalised by `num_items_in_batch`, so the Trainer must
    # divide it by the gradient accumulation steps. Said explicitly: transformers 5.x otherwise infers "already
    # scaled" from the model's forward accepting **kwargs (BERT's does) and accumulates k times too large a gradient.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model: PreTrainedModel | str,
        args: SCLConfig,
        data_collator=None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class=None,
        compute_metrics=None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers=(None, None),
        **kwargs,
    ):
        if not isinstance(args, SCLConfig):
            raise TypeError(f"SCLTrainer needs an SCLConfig, got {type(args).__name__}")
        if isinstance(model, str):
            model = AutoModelForSequenceClassification.from_pretrained(
                model, num_labels=1, problem_type="multi_label_classification"
            )
        if model.config.num_labels != 1:
            raise ValueError(
                f"SCLTrainer needs a one-logit head (num_labels=1, sigmoid + BCE), but the model "
                f"{model.config._name_or_path!r} has num_labels={model.config.num_labels}. Load the encoder with "
                "AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)."
            )
        # One logit read as a probability: BCE in the model's own loss, sigmoid in `pipeline("text-classification")`.
        model.config.problem_type = "multi_label_classification"
        if processing_class is None:
            processing_class = AutoTokenizer.from_pretrained(model.config._name_or_path)
        check_max_length(args.max_length, model, processing_class)

        train_dataset = self._tokenize(train_dataset, processing_class, args.max_length, "train")
        if isinstance(eval_dataset, dict):
            eval_dataset = {
                name: self._tokenize(ds, processing_class, args.max_length, name) for name, ds in eval_dataset.items()
            }
        else:
            eval_dataset = self._tokenize(eval_dataset, processing_class, args.max_length, "eval")

        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator if data_collator is not None else DataCollatorWithPadding(processing_class),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=compute_metrics if compute_metrics is not None else pair_classification_metrics,
            callbacks=[*(callbacks or []), _RestoreBestThreshold()],
            optimizers=optimizers,
            **kwargs,
        )
        # Same reason as `loss_is_scaled_for_ga`, for the 5.x releases that decide from this flag alone.
        self.model_accepts_loss_kwargs = False

        self.supcon_loss = SupConLoss(temperature=args.scl_temperature)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._metric_key_prefix = "eval"

    @staticmethod
    def _tokenize(dataset, tokenizer, max_length: int, name: str):
        if dataset is None or not isinstance(dataset, Dataset) or "input_ids" in dataset.column_names:
            return dataset
        missing = [c for c in ("text_a", "text_b") if c not in dataset.column_names]
        if missing:
            raise ValueError(
                f"SCLTrainer: the {name} dataset has no column {missing[0]!r} (columns: {dataset.column_names}); "
                "pass text_a/text_b/label columns or a tokenized dataset"
            )
        dataset, num_truncated = tokenize_pairs(dataset, tokenizer, max_length)
        if num_truncated:
            logger.warning(
                f"{name} dataset: {num_truncated} of {len(dataset)} pairs "
                f"({num_truncated / len(dataset):.1%}) are longer than max_length={max_length} and were truncated"
            )
        return dataset

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if model.training else "eval"
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("SCLTrainer needs 0/1 labels in every batch (a `label` column in the dataset)")
        labels = labels.reshape(-1)  # (N,)

        outputs = None
        if model.training and self.args.contrastive_chunk_size:
            # GradCache: [logit | final-layer CLS] per row, chunk by chunk; backward replays the chunks.
            def forward(chunk):
                out = model(**chunk, output_hidden_states=True)
                return torch.cat([out.logits, out.hidden_states[-1][:, 0]], dim=1)  # (rows, 1 + H)

            rows = cached_forward(
                forward, inputs, self.args.contrastive_chunk_size, no_sync=lambda: self.accelerator.no_sync(model)
            )
            logits, cls = rows[:, 0], rows[:, 1:]
        else:
            outputs = model(**inputs, output_hidden_states=True)
            logits = outputs.logits.squeeze(-1)  # (N,)
            cls = outputs.hidden_states[-1][:, 0]  # (N, H): final-layer [CLS], before any pooler
        bce = F.binary_cross_entropy_with_logits(logits.float(), labels.float())  # mean over this process's rows

        # Candidates: this process's rows, or every process's rows (gathered with gradient). The loss is then this
        # process's share of the global SupCon, times the world size because DDP averages the gradients.
        scale, anchors, candidates, candidate_labels = 1, None, cls, labels
        if self.args.gather_across_devices and self.accelerator.num_processes > 1:
            candidates, anchors = gather_with_grad(cls)
            candidate_labels = gather_without_grad(labels)
            scale = self.accelerator.num_processes
        if self.args.scl_weight > 0:
            supcon, stats = self.supcon_loss(candidates, candidate_labels, anchors, return_stats=True)
            supcon = supcon * scale
            loss = bce + self.args.scl_weight * supcon
        else:  # logged for comparison, but outside the graph: training is exactly plain BCE
            with torch.no_grad():
                supcon, stats = self.supcon_loss(candidates.detach(), candidate_labels, anchors, return_stats=True)
                supcon = supcon * scale
            loss = bce

        metrics = self._metrics[mode]
        metrics["bce"].append(bce.detach())
        metrics["supcon"].append(supcon.detach())
        metrics["supcon_no_positive_share"].append(stats["anchors_without_positive"] / stats["anchors"])
        metrics["supcon_negatives_per_anchor"].append(stats["negatives_per_anchor"])
        if not torch.isnan(stats["pos_neg_gap"]):
            metrics["supcon_pos_neg_gap"].append(stats["pos_neg_gap"])

        if not return_outputs:
            return loss
        # Only the logits go to the evaluation loop (not the hidden states of every layer).
        logits_out = outputs.logits if outputs is not None else logits.unsqueeze(-1)
        return loss, SequenceClassifierOutput(loss=loss, logits=logits_out)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        if isinstance(eval_dataset, Dataset):
            eval_dataset = self._tokenize(eval_dataset, self.processing_class, self.args.max_length, metric_key_prefix)
        self._metric_key_prefix = metric_key_prefix
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        # The validation split tunes the threshold; other splits (e.g. a test set) only report at it.
        threshold = metrics.get(f"{metric_key_prefix}_threshold")
        if metric_key_prefix == "eval" and threshold is not None and math.isfinite(threshold):
            self.model.config.decision_threshold = threshold
        return metrics

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Adds the loss terms recorded since the last log, train or `<prefix>_*` for evaluation."""
        mode = "train" if self.model.training else "eval"
        prefix = "" if mode == "train" else f"{self._metric_key_prefix}_"
        metrics = pop_step_metrics(self._metrics[mode], self.accelerator)
        super().log({**logs, **{f"{prefix}{key}": value for key, value in metrics.items()}}, start_time)

    def create_model_card(
        self,
        model_name: str | None = None,
        dataset_name: str | None = None,
        tags: str | list[str] | None = None,
        **kwargs,
    ) -> None:
        """Write `README.md` in `output_dir`: base model, data, hyperparameters, validation metrics, the decision
        threshold and a usage snippet. Also called by `push_to_hub` (keyword arguments are passed through)."""
        if not self.is_world_process_zero():
            return
        config, args = self.model.config, self.args
        model_name = model_name or os.path.basename(os.path.normpath(args.output_dir))
        base_model = kwargs.get("finetuned_from") or config._name_or_path
        threshold = getattr(config, "decision_threshold", 0.5)
        tags = [tags] if isinstance(tags, str) else list(tags or [])

        evaluation = self._reported_eval_metrics()
        hyperparameters = {
            "scl_weight": args.scl_weight,
            "scl_temperature": args.scl_temperature,
            "learning_rate": args.learning_rate,
            "lr_scheduler_type": args.lr_scheduler_type.value,
            "warmup_steps": args.warmup_steps,
            "weight_decay": args.weight_decay,
            "per_device_train_batch_size": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "number of processes": args.world_size,
            "optimizer steps trained": self.state.global_step,
            "epochs trained": round(self.state.epoch or 0.0, 3),
            "max_length": args.max_length,
            "seed": args.seed,
        }
        usage = f"""```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{self.hub_model_id or model_name}")
out = classifier({{"text": "first text", "text_pair": "second text"}})
# out["score"] is the probability that the pair matches; the tuned decision threshold is in the config:
is_match = out["score"] >= classifier.model.config.decision_threshold  # {threshold:.4f}
```"""
        sections = {
            "Usage": usage,
            "Training data": f"`{dataset_name or 'unspecified'}`: "
            f"{len(self.train_dataset) if self.train_dataset is not None else 'n/a'} training pairs"
            + (f", {len(self.eval_dataset)} validation pairs." if isinstance(self.eval_dataset, Dataset) else "."),
            "Training procedure": "Loss: `bce + scl_weight * supcon`, BCE-with-logits on the one-logit head and "
            "supervised contrastive loss (Khosla et al. 2020, Eq. 2) on the final-layer [CLS] vector of the same "
            "forward pass (Gunel et al. 2021).\n\n" + markdown_table(hyperparameters, ("hyperparameter", "value")),
            "Evaluation": (
                "Validation metrics of this checkpoint. `*_at_0.5` use the threshold 0.5; `*_at_threshold` use the "
                f"F1-maximising threshold tuned on the same validation data (**{threshold:.4f}**, stored as "
                "`decision_threshold` in `config.json`), so they are optimistic for new data.\n\n"
                + markdown_table(evaluation, ("metric", "value"))
                if evaluation
                else "No evaluation was run."
            ),
            "Framework versions": f"scl_trainer, transformers {transformers_version}, torch {torch.__version__}",
        }
        card = render_model_card(
            title=model_name,
            summary=f"A text-pair classifier fine-tuned from `{base_model}` with scl_trainer's `SCLTrainer` "
            "(binary cross-entropy + supervised contrastive learning).",
            base_model=base_model,
            datasets=[dataset_name] if dataset_name else [],
            pipeline_tag="text-classification",
            tags=[*self._tag_names, *tags],
            sections=sections,
        )
        with open(os.path.join(args.output_dir, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)

    def _reported_eval_metrics(self) -> dict[str, float]:
        """The validation metrics of the weights in hand: those logged at the best checkpoint's step when the best
        model was reloaded, else the last evaluation."""
        evals = [log for log in self.state.log_history if "eval_f1_at_threshold" in log]
        if self.args.load_best_model_at_end and self.state.best_model_checkpoint:
            best_step = int(self.state.best_model_checkpoint.rstrip("/").rsplit("-", 1)[-1])
            evals = [log for log in evals if log["step"] == best_step] or evals
        if not evals:
            return {}
        skip = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch", "step"}
        return {key.removeprefix("eval_"): value for key, value in evals[-1].items() if key not in skip}
