import json
import logging
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit
from transformers import AutoConfig, AutoModelForSequenceClassification, DataCollatorWithPadding
from transformers.modeling_outputs import SequenceClassifierOutput

from .base_trainer import BaseTrainer
from .data import check_pairs, tokenize_pairs
from .errors import ConfigError
from .losses import SupConLoss
from .metrics import pair_classification_metrics
from .plots import plot_validation_scores
from .scl_config import SCLConfig
from .utils import from_pretrained

__all__ = ["SCLTrainer", "load_pair_classifier"]

logger = logging.getLogger(__name__)


def load_pair_classifier(name_or_path: str, label_name: str = "match", field_name: str = "model_name_or_path"):
    """An encoder (hub id or local folder; the offline copy when one is installed, see
    `utils.resolve_model_name_or_path`) with a new one-logit head, read as a probability by BCE and by
    `pipeline("text-classification")`, whose label is `label_name`. A checkpoint that already has a head with another
    number of labels is refused: its head cannot be reused as one logit."""
    config = from_pretrained(AutoConfig, name_or_path, field_name)
    has_head = any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))
    if has_head and config.num_labels != 1:
        raise ConfigError(
            f"--{field_name} {name_or_path!r} has a sequence classification head with num_labels={config.num_labels}; "
            "a pair classifier here has a one-logit head (num_labels=1). Start from the base encoder instead."
        )
    model = from_pretrained(
        AutoModelForSequenceClassification,
        name_or_path,
        field_name,
        num_labels=1,
        problem_type="multi_label_classification",
        id2label={0: label_name},
        label2id={label_name: 0},
    )
    model.config._name_or_path = name_or_path  # the hub id in the card, not the path of an offline copy
    return model


class SCLTrainer(BaseTrainer):
    r"""Pair classification with a one-logit head: BCE + `scl_weight` x SupCon on the final-layer [CLS] vector.

    One forward pass of an `AutoModelForSequenceClassification` with `num_labels=1` gives both the logit (for BCE) and
    the last hidden state, whose [CLS] vector goes to [`SupConLoss`]; loss = bce + scl_weight * supcon.

    Datasets may be raw (`text_a`, `text_b`, `label` columns, as returned by `scl_trainer.data`) or already tokenized.
    Evaluation reports F1/precision/recall/accuracy at 0.5 and at the F1-maximising threshold, plus ROC-AUC; the
    threshold tuned on the trainer's validation data is stored as `decision_threshold` in the model's `config.json`
    (so every checkpoint carries the threshold tuned for its weights) and is what prediction uses.

    Logged separately per mode: `bce`, `supcon`, `supcon_no_positive_share` (share of anchors whose label occurs
    once in the batch, which SupCon cannot use), `supcon_negatives_per_anchor` and `supcon_pos_neg_gap` (mean cosine
    to positives minus the hardest negative's, a training-health signal). With `scl_weight=0` SupCon is still logged
    but computed without graph, so training is exactly plain BCE.

    Scale (cross-process candidates, GradCache) comes from [`BaseTrainer`].

    Args:
        model: a `PreTrainedModel` with a one-logit sequence classification head, or a model id / path to load one.
        args: an [`SCLConfig`].
        processing_class: the tokenizer (loaded from the model's path when omitted).
        compute_metrics: defaults to [`pair_classification_metrics`].
        Other arguments as for `transformers.Trainer`.
    """

    config_class = SCLConfig
    _tag_names = ["scl_trainer", "supervised-contrastive-learning", "text-pair-classification"]
    _card_template = "scl_model_card.md"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.supcon_loss = SupConLoss(temperature=self.args.scl_temperature)
        self._threshold_warnings: set[str] = set()  # each threshold warning once per run

    def _default_compute_metrics(self, eval_pred):
        return pair_classification_metrics(eval_pred, min_per_class=self.args.threshold_min_per_class)

    def _prepare_model(self, model, args: SCLConfig):
        if isinstance(model, str):
            model = load_pair_classifier(model, field_name="model")
        if model.config.num_labels != 1:
            raise ConfigError(
                f"SCLTrainer needs a one-logit head (num_labels=1, sigmoid + BCE), but the model "
                f"{model.config._name_or_path!r} has num_labels={model.config.num_labels}. Load the encoder with "
                "AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)."
            )
        # One logit read as a probability: BCE in the model's own loss, sigmoid in `pipeline("text-classification")`.
        model.config.problem_type = "multi_label_classification"
        model.config.train_max_length = args.max_length  # prediction truncates as training did
        return model

    def _default_collator(self, tokenizer):
        return DataCollatorWithPadding(tokenizer)

    def _tokenize(self, dataset, tokenizer, args: SCLConfig, name: str):
        # What the recipes' loaders check, for datasets built by hand: texts, 0/1 labels, both classes to train on.
        check_pairs(dataset, f"the {name} dataset", require_both_classes=name == "train")
        dataset, num_truncated = tokenize_pairs(dataset, tokenizer, args.max_length)
        return dataset, num_truncated, "pairs", "max_length"

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("SCLTrainer needs 0/1 labels in every batch (a `label` column in the dataset)")
        labels = labels.reshape(-1)  # (N,)

        def forward(batch):  # [logit | final-layer CLS, before any pooler] per row
            out = model(**batch, output_hidden_states=True)
            return torch.cat([out.logits, out.hidden_states[-1][:, 0]], dim=1)  # (N, 1 + H)

        rows = self._embed(model, inputs, forward)
        logits, cls = rows[:, 0], rows[:, 1:]  # (N,), (N, H)
        bce = F.binary_cross_entropy_with_logits(logits.float(), labels.float())  # mean over this process's rows

        candidates, anchors, (candidate_labels,), scale = self._gather(cls, labels)
        if self.args.scl_weight > 0:
            supcon, stats = self.supcon_loss(candidates, candidate_labels, anchors, return_stats=True)
            supcon = supcon * scale
            loss = bce + self.args.scl_weight * supcon
        else:  # logged for comparison, but outside the graph: training is exactly plain BCE
            with torch.no_grad():
                supcon, stats = self.supcon_loss(candidates.detach(), candidate_labels, anchors, return_stats=True)
                supcon = supcon * scale
            loss = bce

        self._record(
            model,
            bce=bce,
            supcon=supcon,
            supcon_no_positive_share=stats["anchors_without_positive"] / stats["anchors"],
            supcon_negatives_per_anchor=stats["negatives_per_anchor"],
        )
        if not torch.isnan(stats["pos_neg_gap"]):
            self._record(model, supcon_pos_neg_gap=stats["pos_neg_gap"])
        # Only the logits go to the evaluation loop (not the hidden states of every layer).
        return (loss, SequenceClassifierOutput(loss=loss, logits=logits.unsqueeze(-1))) if return_outputs else loss

    def _on_evaluate(self, metrics, metric_key_prefix, on_validation):
        # The validation data tunes the threshold; other data (e.g. a test set) only reports at it.
        threshold = metrics.get(f"{metric_key_prefix}_threshold")
        if not (on_validation and threshold is not None and math.isfinite(threshold)):
            return
        self.model.config.decision_threshold = threshold
        counts = {key: int(metrics.get(f"{metric_key_prefix}_{key}", 0)) for key in ("positives", "negatives")}
        self.model.config.threshold_tuned_on = counts  # recorded in config.json and the card
        if not metrics.get(f"{metric_key_prefix}_threshold_tuned", 1.0):
            self._warn_once(
                "not tuned",
                f"the validation data has {counts['positives']} positive and {counts['negatives']} negative pairs, "
                f"fewer than threshold_min_per_class={self.args.threshold_min_per_class} of one class: the decision "
                "threshold stays 0.5 instead of being tuned on so few examples",
            )
        elif metrics.get(f"{metric_key_prefix}_threshold_one_class"):
            self._warn_once(
                "one class",
                f"the tuned decision threshold {threshold:.4f} puts every validation pair in one class: the model "
                "does not separate the classes yet, and predictions at this threshold will all be the same",
            )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._threshold_warnings and self.is_world_process_zero():
            self._threshold_warnings.add(key)
            logger.warning(message)

    def _widget(self) -> list[dict] | None:
        """Three real validation pairs for the Hub widget, which takes one text: `text_a [SEP] text_b`, the way the
        model reads a pair (split back by token type where the tokenizer has them)."""
        tokenizer, widget = self.processing_class, []
        sep = f" {tokenizer.sep_token or '|'} "
        if self.raw_eval_examples:  # as written
            return [{"text": sep.join((row["text_a"], row["text_b"]))} for row in self.raw_eval_examples]
        for row in self.first_eval_rows(3):
            types = row.get("token_type_ids") or [0] * len(row["input_ids"])
            parts = [[i for i, t in zip(row["input_ids"], types) if t == side] for side in (0, 1)]
            texts = [tokenizer.decode(part, skip_special_tokens=True) for part in parts if part]
            widget.append({"text": sep.join(texts)})
        return widget or None

    def _method_plots(self, output_dir: str) -> list[str]:
        if self.eval_dataset is None or isinstance(self.eval_dataset, dict):
            return []
        output = self.predict(self.eval_dataset, metric_key_prefix="plot")
        if not self.is_world_process_zero():
            return []
        os.makedirs(output_dir, exist_ok=True)
        probabilities = expit(np.asarray(output.predictions, dtype=np.float64).reshape(-1))
        labels = np.asarray(output.label_ids).reshape(-1).astype(int)
        threshold = getattr(self.model.config, "decision_threshold", 0.5)
        plot_validation_scores(labels, probabilities, threshold, os.path.join(output_dir, "validation_scores.png"))
        return ["validation_scores.png"]

    def _load_extra_state(self, checkpoint, model):
        # The threshold tuned for a checkpoint's weights is in its config.json, which weight loading does not read.
        with open(os.path.join(checkpoint, "config.json"), encoding="utf-8") as f:
            threshold = json.load(f).get("decision_threshold")
        if threshold is not None:
            model.config.decision_threshold = threshold

    def _card_content(self) -> dict:
        args, evaluation = self.args, self.kept_eval_log()
        threshold = getattr(self.model.config, "decision_threshold", 0.5)
        skip = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch", "step"}
        validation = {k.removeprefix("eval_"): v for k, v in evaluation.items() if k not in skip}
        eval_results = [
            {"split": "validation", "metric": metric, "metric_name": name, "value": validation[key]}
            for key, metric, name in (
                ("f1_at_0.5", "f1", "F1 at 0.5"),
                ("f1_at_threshold", "f1", "F1 at the tuned threshold"),
                ("accuracy_at_0.5", "accuracy", "Accuracy at 0.5"),
                ("roc_auc", "roc_auc", "ROC-AUC"),
            )
            if key in validation and math.isfinite(validation[key])
        ]
        return {
            "task_type": "text-classification",
            "pipeline_tag": "text-classification",
            "library_name": "transformers",
            "hyperparameters": {
                "scl_weight": args.scl_weight,
                "scl_temperature": args.scl_temperature,
                "max_length": args.max_length,
            },
            "eval_results": eval_results,
            "widget": self._widget(),
            "log_keys": (
                ["loss", "bce", "supcon"],
                ["eval_loss", "eval_f1_at_0.5", "eval_f1_at_threshold", "eval_threshold", "eval_roc_auc"],
            ),
            "threshold": f"{threshold:.4f}",
            "threshold_tuned": bool(validation.get("threshold_tuned", 0.0)),
            "tuned_on": getattr(self.model.config, "threshold_tuned_on", None),
            "min_per_class": args.threshold_min_per_class,
            "evaluation": validation,
        }
