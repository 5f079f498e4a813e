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
from sklearn.utils.class_weight import compute_class_weight
from transformers import DataCollatorWithPadding
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
from .classification_data import check_label_indices, check_labelled, class_names, encode_labels
from .classifier import load_classifier
from .collators import SentencePairCollator
from .data import check_pairs
from .errors import ConfigError, DataError
from .losses import SimCSELoss, SupConLoss
from .metrics import classification_baselines, multiclass_metrics, pair_baselines, pair_classification_metrics
from .plots import plot_confusion_matrix, plot_validation_scores
from .scl_card import scl_card_content
from .scl_config import SCLConfig
from .simcse_model import SimCSEModel, sentence_ids_of
from .tokenization import tokenize_pairs, tokenize_separately, tokenize_texts

__all__ = ["SCLTrainer"]

logger = logging.getLogger(__name__)


class SCLTrainer(BaseTrainer):
    r"""Classification of text pairs or single texts: BCE (two classes, one logit) or cross-entropy (K >= 3 classes,
    K logits) + `scl_weight` x SupCon on the final-layer [CLS] vector.

    One forward pass of an `AutoModelForSequenceClassification` gives both the logits (for BCE / CE) and the last
    hidden state, whose [CLS] vector goes to [`SupConLoss`] with the class labels; loss = bce (or ce) + scl_weight *
    supcon.

    Datasets may be raw or already tokenized. Raw: `text_a`, `text_b` (pairs) or `text` (single texts) and `label`,
    0/1 or a class index or name (`args.label_names`, by default the training data's labels sorted). K >= 3 classes
    report accuracy, macro/weighted F1 and per-class precision/recall/F1, and the baselines `baseline_majority_*`
    and `baseline_frozen_lr_*` (a logistic regression on the untouched encoder's vectors). What follows describes the
    two-class pair classifier.
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

    single_text = False  # set from the training data (`_read_training_data`)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_names = ["labels"]  # the batch key of the targets (`args.label_names` names the classes here)
        if self.single_text:
            self._tag_names = ["scl_trainer", "supervised-contrastive-learning", "text-classification"]
        self.bi_encoder = self.args.architecture == "bi_encoder"
        self.supcon_loss = SupConLoss(temperature=self.args.scl_temperature)
        self.pair_loss = SimCSELoss(temperature=self.args.scl_temperature)  # supervised SimCSE (bi-encoder)
        self._threshold_warnings: set[str] = set()  # each threshold warning once per run
        self.baselines: dict[str, float] = {}  # `evaluate_baselines`, before training
        self.below_zero_shot = False  # the final model ranks validation pairs worse than the untouched encoder
        self.below_frozen_lr = False  # the final classifier's macro-F1 is below the frozen-encoder baseline's
        if self.bi_encoder and not getattr(self.model, "calibrated", True) and self.train_dataset is not None:
            self._calibrate()
        self.class_weights = self._class_weights()  # (K,) per class index, or None

    def _class_weights(self) -> torch.Tensor | None:
        """scikit-learn's `balanced` weights n / (K x n_k) of the training labels (`class_weight="balanced"`)."""
        if self.args.class_weight == "none" or self.train_dataset is None:  # no training data: nothing to weigh
            return None
        column = "labels" if "labels" in self.train_dataset.column_names else "label"  # the bi-encoder's: `labels`
        labels = np.asarray(self.train_dataset[column], dtype=np.int64)
        classes = np.arange(max(self.num_logits, 2))  # one logit: the classes 0 and 1
        weights = compute_class_weight("balanced", classes=classes, y=labels)  # every class is in training (checked)
        names = self.args.label_names or [str(c) for c in classes]
        logger.info("class weights (balanced): " + ", ".join(f"{n} {w:.3f}" for n, w in zip(names, weights)))
        return torch.tensor(weights, dtype=torch.float32, device=self.args.device)  # where the loss is computed

    def _default_compute_metrics(self, eval_pred):
        if self.num_logits > 1:
            return multiclass_metrics(eval_pred, self.args.label_names)
        return pair_classification_metrics(eval_pred, min_per_class=self.args.threshold_min_per_class)

    @property
    def pair_binary(self) -> bool:
        """Two classes of text pairs: the seed's task (a threshold, pair baselines, ROC-AUC)."""
        return self.num_logits == 1 and not self.single_text

    def _read_training_data(self, args: SCLConfig, train_dataset) -> None:
        """The classes and the input kind (single texts or pairs) from a raw training dataset: `label_names` default
        to its labels, sorted, when they are class names (indices are 0/1, or name their classes in `label_names`)."""
        columns = getattr(train_dataset, "column_names", None) or []
        self.single_text = "text" in columns and "text_a" not in columns
        if args.label_names is None and "label" in columns and "input_ids" not in columns:
            labels = train_dataset["label"]
            if labels and all(isinstance(label, str) for label in labels):  # class names; indices need label_names
                args.label_names = class_names(labels)
                logger.info(f"classes (label_names) read from the training data: {args.label_names}")
        names = args.label_names
        self.num_logits = len(names) if names and len(names) > 2 else 1  # K logits for K >= 3 classes, one for two

    def _prepare_model(self, model, args: SCLConfig):
        if self.num_logits > 1 and args.metric_for_best_model in ("f1_at_threshold", "eval_f1_at_threshold"):
            args.metric_for_best_model = "macro_f1"  # the default names a two-class metric
            logger.info("metric_for_best_model: macro_f1 (K classes have no tuned threshold)")
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
            model = load_classifier(model, args.label_names, field_name="model")
        if isinstance(model, SimCSEModel) or model.config.num_labels != self.num_logits:
            kind = f"{self.num_logits} logits (softmax + CE)" if self.num_logits > 1 else "one logit (sigmoid + BCE)"
            raise ConfigError(
                f"SCLTrainer (architecture=cross_encoder) needs a head with {kind} for the classes "
                f"{args.label_names or [0, 1]}, but the model {model.config._name_or_path!r} ({type(model).__name__}) "
                f"has num_labels={model.config.num_labels}. Load the encoder with "
                f"AutoModelForSequenceClassification.from_pretrained(name, num_labels={self.num_logits})."
            )
        # One logit is a probability: BCE in the model's own loss, sigmoid in `pipeline("text-classification")`.
        model.config.problem_type = (
            "multi_label_classification" if self.num_logits == 1 else "single_label_classification"
        )
        model.config.train_max_length = args.max_length  # prediction truncates as training did
        model.config.class_names = args.label_names  # prediction writes class names
        model.config.text_input = "single" if self.single_text else "pair"
        return model

    def _default_collator(self, tokenizer, args):
        return (
            SentencePairCollator(tokenizer)
            if args.architecture == "bi_encoder"
            else DataCollatorWithPadding(tokenizer)
        )

    def _check_tokenized(self, dataset, args: SCLConfig, name: str) -> None:
        # A dataset tokenized by the user skips the text checks, not the label checks.
        if name in ("train", "eval"):
            if "label" not in dataset.column_names:
                raise DataError(f"the {name} dataset (tokenized): no `label` column; the columns are "
                                f"{dataset.column_names}")  # fmt: skip
            classes = max(self.num_logits, 2)  # one logit: the two classes 0 and 1
            check_label_indices(dataset["label"], f"the {name} dataset", classes, require_two_classes=True)

    def _tokenize(self, dataset, tokenizer, args: SCLConfig, name: str):
        # What the recipes' loaders check, for datasets built by hand: texts, labels, every class to train on.
        if args.label_names is not None and "label" in dataset.column_names:
            dataset = encode_labels(dataset, args.label_names, f"the {name} dataset")
        if not self.pair_binary:
            if args.architecture == "bi_encoder":
                raise ConfigError("architecture=bi_encoder classifies text pairs as matching or not, not single texts")
            check_labelled(dataset, f"the {name} dataset", len(args.label_names or [0, 1]), name in ("train", "eval"))
            dataset, num_truncated = tokenize_texts(dataset, tokenizer, args.max_length)
            return dataset, num_truncated, "texts" if self.single_text else "pairs", "max_length"
        check_pairs(dataset, f"the {name} dataset", require_both_classes=name in ("train", "eval"))
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

    def _frozen_features(self, dataset: Dataset) -> np.ndarray:
        """The untouched encoder's vectors of a raw dataset (its own pooling): u for single texts, the SentEval pair
        features [u, v, |u - v|, u * v] for pairs."""
        model, args = self._sentence_model(), self.args
        encode = lambda texts: encode_texts(model, self.processing_class, texts, args.max_length,  # noqa: E731
                                            args.per_device_eval_batch_size).numpy()  # fmt: skip
        if self.single_text:
            return encode(dataset["text"])
        u, v = encode(dataset["text_a"]), encode(dataset["text_b"])
        return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)

    def evaluate_baselines(self) -> dict[str, float]:
        """The rows the validation metrics stand beside, with the encoder as it is now (call before training:
        `train()` does): for two classes of pairs the majority class and the zero-shot cosine (`pair_baselines`),
        otherwise the majority class and a logistic regression on the frozen encoder's vectors, fit on the training
        data (`classification_baselines`). Empty when the data was given tokenized."""
        validation, train = self.raw_datasets.get("eval"), self.raw_datasets.get("train")
        if validation is None or (train is None and not self.pair_binary):
            return {}
        if self.pair_binary:
            self.baselines = pair_baselines(validation["label"], self._pair_cosines(validation))
        else:
            labels = [encode_labels(d, self.args.label_names or ["0", "1"])["label"] for d in (train, validation)]
            features = [self._frozen_features(d) for d in (train, validation)]
            self.baselines = classification_baselines(labels[0], labels[1], *features, seed=self.args.seed)
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
        final, frozen = self.kept_eval_log().get("eval_macro_f1"), self.baselines.get("baseline_frozen_lr_macro_f1")
        self.below_frozen_lr = final is not None and frozen is not None and final < frozen
        if self.below_frozen_lr and self.is_world_process_zero():
            logger.warning(
                f"the trained classifier's validation macro-F1 {final:.4f} is below a logistic regression on the "
                f"untouched encoder's vectors ({frozen:.4f}): the frozen encoder with a linear head is the better "
                "classifier here"
            )
        return output

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("SCLTrainer needs labels in every batch (a `label` column in the dataset)")
        labels = labels.reshape(-1)  # (B,)
        num_logits = self.num_logits

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

            def forward(batch):  # [logits | final-layer CLS, before any pooler] per row
                out = model(**batch, output_hidden_states=True)
                return torch.cat([out.logits, out.hidden_states[-1][:, 0]], dim=1)  # (B, C + H)

            rows = self._embed(model, inputs, forward)
            logits, cls = rows[:, :num_logits].squeeze(-1), rows[:, num_logits:]  # (B,) or (B, C); (B, H)
            candidates, anchors, (candidate_labels,), scale = self._gather(cls, labels)
            term = lambda c: self.supcon_loss(c, candidate_labels, anchors, return_stats=True)  # noqa: E731
            name = "supcon"
        if num_logits == 1:
            task_name = "bce"
            per_row = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")  # (B,)
        else:
            task_name = "ce"
            per_row = F.cross_entropy(logits.float(), labels.long(), reduction="none")  # (B,)
        if self.class_weights is None:  # the mean over this process's rows
            task = per_row.mean()
        else:  # the weighted mean sum(w_y l) / sum(w_y), as `F.cross_entropy(weight=...)`
            row_weights = self.class_weights[labels.long()]  # (B,)
            task = (row_weights * per_row).sum() / row_weights.sum()

        if self.args.scl_weight > 0:
            contrastive, stats = term(candidates)
            contrastive = contrastive * scale
            loss = task + self.args.scl_weight * contrastive
        else:  # logged for comparison, but outside the graph: training is exactly plain BCE / CE
            with torch.no_grad():
                contrastive, stats = term(candidates.detach())
                contrastive = contrastive * scale
            loss = task

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
        self._record(model, **{task_name: task, name: contrastive}, **health)
        # Only the logits go to the evaluation loop (not the hidden states or sentence vectors): (B, 1) or (B, C).
        logits = logits.unsqueeze(-1) if logits.dim() == 1 else logits
        return (loss, SequenceClassifierOutput(loss=loss, logits=logits)) if return_outputs else loss

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

    def _method_plots(self, output_dir: str) -> list[str]:
        if self.eval_dataset is None or isinstance(self.eval_dataset, dict):
            return []
        output = self.predict(self.eval_dataset, metric_key_prefix="plot")
        if not self.is_world_process_zero():
            return []
        os.makedirs(output_dir, exist_ok=True)
        labels = np.asarray(output.label_ids).reshape(-1).astype(int)
        if self.num_logits > 1:
            predicted = np.asarray(output.predictions).argmax(-1)
            plot_confusion_matrix(
                labels, predicted, self.args.label_names, os.path.join(output_dir, "confusion_matrix.png")
            )
            return ["confusion_matrix.png"]
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
        return scl_card_content(self)
