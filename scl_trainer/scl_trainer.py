import json
import logging
import math
import os
import random

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from scipy.special import expit
from transformers import AutoConfig, AutoModelForSequenceClassification, DataCollatorWithPadding
from transformers.modeling_outputs import SequenceClassifierOutput

from .base_trainer import BaseTrainer
from .bi_encoder import (
    BiEncoderPairClassifier,
    as_bi_encoder,
    encode_texts,
    fit_scale_and_bias,
    load_bi_encoder,
    sentence_model,
)
from .collators import SentencePairCollator
from .data import check_pairs
from .errors import ConfigError
from .losses import SimCSELoss, SupConLoss
from .metrics import pair_baselines, pair_classification_metrics
from .plots import plot_validation_scores
from .scl_config import SCLConfig
from .simcse_model import SimCSEModel, sentence_ids_of
from .tokenization import tokenize_pairs, tokenize_separately
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

    With `args.architecture="bi_encoder"` the model is a [`BiEncoderPairClassifier`] instead: one shared encoder
    embeds each text alone in the base model's own pooling, logit = scale x cos(u, v) + bias (scale and bias fitted
    by a logistic regression on the training pairs' cosines before the first step, then learned), and the
    `scl_weight` term is supervised SimCSE ([`SimCSELoss`] with `positive_pairs`) over the batch's sentences: a
    positive pair's texts are each other's positive, every other sentence a negative (the texts of negative pairs
    are hard negatives), duplicates masked. Logged: `bce`, `contrastive`, `contrastive_masked_duplicates`,
    `contrastive_negatives_per_anchor`. The untouched encoder is evaluated at step 0 and competes for the best
    checkpoint (unless `allow_regression`). It is saved as a sentence encoder that loads with `AutoModel` and
    `SentenceTransformer`, with `pair_scale`, `pair_bias` and `decision_threshold` in its `config.json`.

    Baselines: before training, the validation pairs are scored by the majority class and by the untouched encoder's
    cosine (`baseline_majority_*`, `baseline_zero_shot_*`, see [`pair_baselines`]); they are logged, returned by
    `evaluate()` on the validation data and shown in the card, and a final model below the zero-shot ROC-AUC is
    warned about.

    Scale (cross-process candidates, GradCache) comes from [`BaseTrainer`].

    Args:
        model: a `PreTrainedModel` with a one-logit sequence classification head (cross-encoder), an encoder or a
            [`BiEncoderPairClassifier`] (bi-encoder), or a model id / path to load one.
        args: an [`SCLConfig`].
        processing_class: the tokenizer (loaded from the model's path when omitted).
        compute_metrics: defaults to [`pair_classification_metrics`].
        Other arguments as for `transformers.Trainer`.
    """

    config_class = SCLConfig
    _tag_names = ["scl_trainer", "supervised-contrastive-learning", "text-pair-classification"]
    _card_template = "scl_model_card.md"
    _summed_metrics = ("contrastive_masked_duplicates",)

    # Training pairs whose cosines the bi-encoder's initial scale and bias are fitted on (a seeded sample).
    calibration_pairs = 2048

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bi_encoder = self.args.architecture == "bi_encoder"
        self.supcon_loss = SupConLoss(temperature=self.args.scl_temperature)
        self.pair_loss = SimCSELoss(temperature=self.args.scl_temperature)  # supervised SimCSE (bi-encoder)
        self._threshold_warnings: set[str] = set()  # each threshold warning once per run
        self.baselines: dict[str, float] = {}  # `evaluate_baselines`, before training
        self.below_zero_shot = False  # the final model ranks validation pairs worse than the untouched encoder
        if self.bi_encoder and not getattr(self.model, "calibrated", True) and self.train_dataset is not None:
            self._calibrate()

    def _default_compute_metrics(self, eval_pred):
        return pair_classification_metrics(eval_pred, min_per_class=self.args.threshold_min_per_class)

    def _prepare_model(self, model, args: SCLConfig):
        if args.architecture == "bi_encoder":
            if isinstance(model, str):
                model = load_bi_encoder(model, field_name="model")
            elif not isinstance(model, BiEncoderPairClassifier):
                if not hasattr(model, "get_input_embeddings") or type(model).__name__.endswith(
                    "ForSequenceClassification"
                ):
                    raise ConfigError(
                        f"architecture=bi_encoder needs an encoder (AutoModel) or a BiEncoderPairClassifier, got "
                        f"{type(model).__name__}"
                    )
                model = as_bi_encoder(model)
            model.config.train_max_length = args.max_length  # prediction truncates as training did
            return model
        if isinstance(model, str):
            model = load_pair_classifier(model, field_name="model")
        if isinstance(model, SimCSEModel) or model.config.num_labels != 1:
            raise ConfigError(
                f"SCLTrainer (architecture=cross_encoder) needs a one-logit head (num_labels=1, sigmoid + BCE), but "
                f"the model {model.config._name_or_path!r} ({type(model).__name__}) has "
                f"num_labels={model.config.num_labels}. Load the encoder with "
                "AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)."
            )
        # One logit read as a probability: BCE in the model's own loss, sigmoid in `pipeline("text-classification")`.
        model.config.problem_type = "multi_label_classification"
        model.config.train_max_length = args.max_length  # prediction truncates as training did
        return model

    def _default_collator(self, tokenizer, args):
        return (
            SentencePairCollator(tokenizer)
            if args.architecture == "bi_encoder"
            else DataCollatorWithPadding(tokenizer)
        )

    def _tokenize(self, dataset, tokenizer, args: SCLConfig, name: str):
        # What the recipes' loaders check, for datasets built by hand: texts, 0/1 labels, both classes to train on.
        check_pairs(dataset, f"the {name} dataset", require_both_classes=name == "train")
        if args.architecture == "bi_encoder":
            dataset, num_truncated = tokenize_separately(
                dataset, tokenizer, args.max_length, "text_a", "text_b", "label"
            )
            return dataset, num_truncated, "pairs (a text of)", "max_length"
        dataset, num_truncated = tokenize_pairs(dataset, tokenizer, args.max_length)
        return dataset, num_truncated, "pairs", "max_length"

    # ---- The untouched encoder: the bi-encoder's initial scale and bias, the zero-shot baseline ----

    def _sentence_model(self) -> SimCSEModel:
        """The encoder with the base model's own pooling: the bi-encoder itself, or the cross-encoder's encoder."""
        model = self.accelerator.unwrap_model(self.model)
        return (
            model
            if isinstance(model, SimCSEModel)
            else sentence_model(model.base_model, model.config._name_or_path)[0]
        )

    def _pair_cosines(self, dataset: Dataset) -> np.ndarray:
        """(N,) cosine of text_a and text_b of a raw pair dataset under `_sentence_model()`, in eval mode."""
        model, args = self._sentence_model(), self.args
        u, v = (encode_texts(model, self.processing_class, dataset[column], args.max_length,
                             args.per_device_eval_batch_size) for column in ("text_a", "text_b"))  # fmt: skip
        return F.cosine_similarity(u, v, dim=-1).numpy().astype(np.float64)

    def _calibrate(self) -> None:
        """Fit the bi-encoder's scale and bias on (a seeded sample of) the training pairs' cosines, so that step 0
        is the untouched encoder's ranking with a calibrated probability."""
        train = self.raw_datasets.get("train")
        if train is None:
            logger.warning("bi-encoder: the training data was given tokenized, so the scale and bias start at 1 and 0")
            return
        rows = sorted(random.Random(self.args.seed).sample(range(len(train)), min(len(train), self.calibration_pairs)))
        sample = train.select(rows)
        scale, bias = fit_scale_and_bias(sample["label"], self._pair_cosines(sample))
        model = self.accelerator.unwrap_model(self.model)
        with torch.no_grad():
            model.scale.fill_(scale)
            model.bias.fill_(bias)
        model.store_in_config()  # fitted: the config carries them (`calibrated`)
        logger.info(f"bi-encoder: probability = sigmoid({scale:.3f} x cosine {bias:+.3f}), fitted on {len(rows)} "
                    "training pairs")  # fmt: skip

    def evaluate_baselines(self) -> dict[str, float]:
        """The majority-class and zero-shot rows of the validation pairs (`pair_baselines`), with the encoder as it
        is now (call before training: `train()` does). Empty when the validation data was given tokenized."""
        validation = self.raw_datasets.get("eval")
        if validation is None:
            return {}
        self.baselines = pair_baselines(validation["label"], self._pair_cosines(validation))
        if self.is_world_process_zero():
            logger.info("validation baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in self.baselines.items()))
        return self.baselines

    def train(self, *args, **kwargs):
        """`Trainer.train`, after scoring the baselines with the untouched encoder, and with a warning when the final
        model ranks the validation pairs worse than the untouched encoder's cosine."""
        if not self.baselines:
            self.evaluate_baselines()
        output = super().train(*args, **kwargs)
        final, zero_shot = self.kept_eval_log().get("eval_roc_auc"), self.baselines.get("baseline_zero_shot_roc_auc")
        self.below_zero_shot = final is not None and zero_shot is not None and final < zero_shot
        if self.below_zero_shot and self.is_world_process_zero():
            logger.warning(
                f"the trained model ranks the validation pairs worse than the untouched encoder's cosine similarity "
                f"(ROC-AUC {final:.4f} vs {zero_shot:.4f} zero-shot): the base model, used as a bi-encoder without "
                "training, is the better pair scorer here (try --architecture bi_encoder)"
            )
        return output

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("SCLTrainer needs 0/1 labels in every batch (a `label` column in the dataset)")
        labels = labels.reshape(-1)  # (B,)

        if self.bi_encoder:
            rows = self._embed(model, inputs, lambda batch: model(**batch))  # (B, 1 + 2H): [logit | u | v]
            logits = rows[:, 0]  # (B,)
            sentences = rows[:, 1:].reshape(2 * rows.size(0), -1)  # (2B, H): rows 2i, 2i+1 = text_a, text_b of pair i
            side_ids = [sentence_ids_of({k[2:]: v for k, v in inputs.items() if k.startswith(f"{s}_")}) for s in "ab"]
            ids = torch.stack(side_ids, dim=1).reshape(-1)  # (2B,)
            candidates, anchors, (ids, positive), scale = self._gather(sentences, ids, labels > 0.5)
            term = lambda c: self.pair_loss(c, anchors, ids, return_stats=True, positive_pairs=positive)  # noqa: E731
            name = "contrastive"
        else:

            def forward(batch):  # [logit | final-layer CLS, before any pooler] per row
                out = model(**batch, output_hidden_states=True)
                return torch.cat([out.logits, out.hidden_states[-1][:, 0]], dim=1)  # (B, 1 + H)

            rows = self._embed(model, inputs, forward)
            logits, cls = rows[:, 0], rows[:, 1:]  # (B,), (B, H)
            candidates, anchors, (candidate_labels,), scale = self._gather(cls, labels)
            term = lambda c: self.supcon_loss(c, candidate_labels, anchors, return_stats=True)  # noqa: E731
            name = "supcon"
        bce = F.binary_cross_entropy_with_logits(logits.float(), labels.float())  # mean over this process's rows

        if self.args.scl_weight > 0:
            contrastive, stats = term(candidates)
            contrastive = contrastive * scale
            loss = bce + self.args.scl_weight * contrastive
        else:  # logged for comparison, but outside the graph: training is exactly plain BCE
            with torch.no_grad():
                contrastive, stats = term(candidates.detach())
                contrastive = contrastive * scale
            loss = bce

        if self.bi_encoder:
            health = {
                "contrastive_masked_duplicates": stats["masked_duplicates"].float(),
                "contrastive_negatives_per_anchor": stats["negatives_per_anchor"],
            }
        else:
            health = {
                "supcon_no_positive_share": stats["anchors_without_positive"] / stats["anchors"],
                "supcon_negatives_per_anchor": stats["negatives_per_anchor"],
            }
            if not torch.isnan(stats["pos_neg_gap"]):
                health["supcon_pos_neg_gap"] = stats["pos_neg_gap"]
        self._record(model, bce=bce, **{name: contrastive}, **health)
        # Only the logits go to the evaluation loop (not the hidden states or sentence vectors).
        return (loss, SequenceClassifierOutput(loss=loss, logits=logits.unsqueeze(-1))) if return_outputs else loss

    def _on_evaluate(self, metrics, metric_key_prefix, on_validation):
        if on_validation:  # the rows the validation metrics stand beside (returned, saved in eval_results.json)
            metrics.update(self.baselines)
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
        """Three real validation pairs for the Hub widget. A cross-encoder's widget takes one text: `text_a [SEP]
        text_b`, the way the model reads a pair (split back by token type where the tokenizer has them); a
        bi-encoder's is the sentence-similarity widget: the first text_a against three text_b."""
        tokenizer, widget = self.processing_class, []
        if self.bi_encoder:
            rows = self.raw_eval_examples
            if not rows:
                return None
            return [{"source_sentence": rows[0]["text_a"], "sentences": [row["text_b"] for row in rows]}]
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

    # ---- Saving and loading: a bi-encoder is saved as a sentence encoder, its head in config.json ----

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        if not self.bi_encoder:
            return super()._save(output_dir, state_dict)
        model = self.accelerator.unwrap_model(self.model)
        model.store_in_config()  # scale and bias in config.json (beside the threshold)
        self._save_sentence_encoder(output_dir, state_dict, self.args.max_length, model.normalize)

    def _checkpoint_module(self, model):
        return model.encoder if self.bi_encoder else model  # a bi-encoder's weight files hold the encoder

    def _load_extra_state(self, checkpoint, model):
        # What a checkpoint's config.json holds for its weights, which weight loading does not read: the threshold
        # tuned for them and, for a bi-encoder, the scale and bias.
        with open(os.path.join(checkpoint, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        if config.get("decision_threshold") is not None:
            model.config.decision_threshold = config["decision_threshold"]
        if self.bi_encoder:
            if config.get("pair_scale") is None:
                raise ConfigError(
                    f"{checkpoint}: config.json has no pair_scale/pair_bias: not a bi-encoder checkpoint"
                )
            with torch.no_grad():
                model.scale.fill_(config["pair_scale"])
                model.bias.fill_(config["pair_bias"])

    def _card_content(self) -> dict:
        args, evaluation = self.args, self.kept_eval_log()
        model = self.accelerator.unwrap_model(self.model)
        threshold = getattr(model.config, "decision_threshold", 0.5)
        skip = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch", "step"}
        validation = {k.removeprefix("eval_"): v for k, v in evaluation.items() if k not in skip}
        eval_results = [
            {"split": "validation", "metric": metric, "metric_name": name, "value": validation[key]}
            for key, metric, name in (
                ("f1_at_0.5", "f1", "F1 at 0.5"),
                ("f1_at_threshold", "f1", "F1 at the tuned threshold"),
                ("accuracy_at_0.5", "accuracy", "Accuracy at 0.5"),
                ("roc_auc", "roc_auc", "ROC-AUC"),
                ("average_precision", "average_precision", "Average precision"),
            )
            if key in validation and math.isfinite(validation[key])
        ]
        architecture = {"architecture": args.architecture}
        if self.bi_encoder:
            architecture.update(
                pooling=model.pooler.replace("cls_before_pooler", "CLS") + (" + Normalize" if model.normalize else ""),
                scale=f"{model.scale.item():.4f}",
                bias=f"{model.bias.item():+.4f}",
            )
        return {
            "task_type": "text-classification",
            "pipeline_tag": "sentence-similarity" if self.bi_encoder else "text-classification",
            "library_name": "sentence-transformers" if self.bi_encoder else "transformers",
            "hyperparameters": {
                "architecture": args.architecture,
                "scl_weight": args.scl_weight,
                "scl_temperature": args.scl_temperature,
                "max_length": args.max_length,
            },
            "eval_results": eval_results,
            "widget": self._widget(),
            "log_keys": (
                ["loss", "bce", "contrastive" if self.bi_encoder else "supcon"],
                ["eval_loss", "eval_f1_at_0.5", "eval_f1_at_threshold", "eval_threshold", "eval_roc_auc"],
            ),
            "threshold": f"{threshold:.4f}",
            "threshold_tuned": bool(validation.get("threshold_tuned", 0.0)),
            "tuned_on": getattr(model.config, "threshold_tuned_on", None),
            "min_per_class": args.threshold_min_per_class,
            "evaluation": validation,
            "baselines": self.baselines,
            "below_zero_shot": self.below_zero_shot,
            "kept_base_model": self.kept_base_model,
            **architecture,
        }
