import json
import logging
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight
from transformers.modeling_outputs import SequenceClassifierOutput

from .architectures import ARCHITECTURES, Architecture
from .base_trainer import BaseTrainer
from .classification_data import check_label_indices, check_labelled, class_names, encode_labels
from .data import check_pairs
from .errors import DataError
from .metrics import below_baselines, multiclass_metrics, pair_classification_metrics
from .plots import classifier_plots
from .scl_card import scl_card_content
from .scl_config import SCLConfig
from .sentence_encoder import SentenceEncoder

__all__ = ["SCLTrainer"]

logger = logging.getLogger(__name__)


class SCLTrainer(BaseTrainer):
    r"""Classification of text pairs or single texts: BCE (two classes, one logit) or cross-entropy (K >= 3 classes,
    K logits) + `scl_weight` x a supervised contrastive term, in one forward pass.

    The architecture (`args.architecture`: a class of `scl_trainer.architectures`) decides how texts become logits
    and contrastive vectors, e.g. `cross_encoder` (the seed's: a pair read together, a new head, SupCon on the
    final-layer [CLS] vector) or `bi_encoder` (each text of a pair embedded alone, probability = sigmoid(scale x
    cos(u, v) + bias), supervised SimCSE over the batch's sentences). This class is the method, the same for every
    architecture: loss = bce or ce (weighted by class with `class_weight=balanced`) + scl_weight x contrastive term;
    metrics, baselines, the decision threshold and the card.

    Datasets may be raw or already tokenized. Raw: `text_a`, `text_b` (pairs) or `text` (single texts) and `label`,
    0/1 or a class index or name (`args.label_names`, by default the training data's labels sorted). K >= 3 classes
    report accuracy, macro/weighted F1 and per-class precision/recall/F1. Two classes report F1/precision/recall/
    accuracy at 0.5 and at the F1-maximising threshold, plus ROC-AUC; the threshold tuned on the validation data is
    stored as `decision_threshold` in `config.json` (every checkpoint carries the threshold tuned for its weights) and
    is what prediction uses. Baselines (`Architecture.baselines`: majority class, zero-shot cosine or frozen-encoder
    logistic regression), scored before training, are logged, returned by `evaluate()` on the validation data and
    shown in the card; a final model below them is warned about.

    Logged per mode: the classification term (`bce` or `ce`), the contrastive term (`supcon`, or `contrastive` for
    the bi-encoder) and its health values (e.g. `supcon_no_positive_share`: anchors whose label occurs once in the
    batch, which SupCon cannot use). With `scl_weight=0` the contrastive term is still logged but computed without
    graph, so training is exactly plain BCE / CE. Scale (cross-process candidates, GradCache) comes from
    [`BaseTrainer`].

    Args:
        model: a model of the architecture (e.g. a `PreTrainedModel` with a sequence classification head for the
            cross-encoder, an encoder for the bi-encoder), or a model id / path to load one.
        args: an [`SCLConfig`].
        processing_class: the tokenizer (loaded from the model's path when omitted).
        compute_metrics: defaults to [`pair_classification_metrics`] (two classes) or [`multiclass_metrics`].
        Other arguments as for `transformers.Trainer`.
    """

    config_class = SCLConfig
    _tag_names = ["scl_trainer", "supervised-contrastive-learning", "text-pair-classification"]
    _card_template = "scl_model_card.md"
    _summed_metrics = ("contrastive_masked_duplicates",)

    single_text = False  # set from the training data (`_read_training_data`)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_names = ["labels"]  # the batch key of the targets (`args.label_names` names the classes here)
        if self.single_text:
            self._tag_names = ["scl_trainer", "supervised-contrastive-learning", "text-classification"]
        self._threshold_warnings: set[str] = set()  # each threshold warning once per run
        self.baselines: dict[str, float] = {}  # `evaluate_baselines`, before training
        self.below_zero_shot = False  # the final model ranks validation pairs worse than the untouched encoder
        self.below_frozen_lr = False  # the final classifier's macro-F1 is below the frozen-encoder baseline's
        if self.train_dataset is not None:  # what the head can learn from the untouched encoder, before step 0
            model = self.accelerator.unwrap_model(self.model)
            self.architecture.initialize_head(model, self.processing_class, self.raw_datasets.get("train"))
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
            if any(isinstance(label, str) for label in labels):  # class names (and missing values, refused there)
                args.label_names = class_names(labels)
                logger.info(f"classes (label_names) read from the training data: {args.label_names}")
        names = args.label_names
        self.num_logits = len(names) if names and len(names) > 2 else 1  # K logits for K >= 3 classes, one for two

    architecture: Architecture  # set in `_prepare_model`, from `args.architecture`

    def _prepare_model(self, model, args: SCLConfig):
        args.fit_to_task(self.num_logits, "SCLTrainer")  # the K-class default metric; one this task reports
        self.architecture = ARCHITECTURES[args.architecture](args, self.num_logits, self.single_text)
        self.architecture.check_task(args, self.single_text, self.num_logits)
        model = self.architecture.prepare_model(model)
        model.config.train_max_length = args.max_length  # prediction truncates as training did
        return model

    def _default_collator(self, tokenizer, args):
        return self.architecture.collator(tokenizer)

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
        if self.pair_binary:
            check_pairs(dataset, f"the {name} dataset", require_both_classes=name in ("train", "eval"))
        else:
            check_labelled(dataset, f"the {name} dataset", len(args.label_names or [0, 1]), name in ("train", "eval"))
        dataset, num_truncated, unit = self.architecture.tokenize(dataset, tokenizer)
        return dataset, num_truncated, unit, "max_length"

    # ---- The untouched encoder: the zero-shot and frozen-encoder baselines ----

    def evaluate_baselines(self) -> dict[str, float]:
        """The rows the validation metrics stand beside, with the encoder as it is now (call before training:
        `train()` does; `Architecture.baselines`). Empty when the data was given tokenized."""
        validation, train = self.raw_datasets.get("eval"), self.raw_datasets.get("train")
        if validation is None or (train is None and not self.pair_binary):
            return {}
        model = self.accelerator.unwrap_model(self.model)
        self.baselines = self.architecture.baselines(model, self.processing_class, train, validation)
        if self.is_world_process_zero():
            logger.info("validation baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in self.baselines.items()))
        return self.baselines

    def train(self, *args, **kwargs):
        """`Trainer.train`, after scoring the baselines with the untouched encoder, and with a warning when the final
        model ranks the validation pairs worse than the untouched encoder's cosine."""
        if not self.baselines:
            self.evaluate_baselines()
        output = super().train(*args, **kwargs)
        below = below_baselines(self.kept_eval_log(), self.baselines)
        self.below_zero_shot, self.below_frozen_lr = "zero_shot" in below, "frozen_lr" in below
        for message in below.values() if self.is_world_process_zero() else ():
            logger.warning(message)
        return output

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("SCLTrainer needs labels in every batch (a `label` column in the dataset)")
        architecture = self.architecture
        if model.training:  # e.g. dropout views, label anchors
            inputs, labels = architecture.training_batch(inputs, labels, self.processing_class)
        rows = self._embed(model, inputs, lambda batch: architecture.forward(model, batch))
        logits, labels, vectors, extras = architecture.outputs(rows, inputs, labels.reshape(-1))
        candidates, anchors, extras, scale = self._gather(vectors, *extras)

        if self.num_logits == 1:
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
            contrastive, health = architecture.contrastive(candidates, anchors, extras)
            contrastive = contrastive * scale
            loss = task + self.args.scl_weight * contrastive
        else:  # logged for comparison, but outside the graph: training is exactly plain BCE / CE
            with torch.no_grad():
                contrastive, health = architecture.contrastive(candidates.detach(), anchors, extras)
                contrastive = contrastive * scale
            loss = task
        extra = architecture.extra_terms(rows, labels)  # e.g. a ranking loss of the pair cosines
        loss = loss + sum(extra.values())
        self._record(model, **{task_name: task, architecture.contrastive_term: contrastive}, **extra, **health)
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
        output = self.predict(self.eval_dataset, metric_key_prefix="plot")  # every process (collective)
        if not self.is_world_process_zero():
            return []
        threshold = getattr(self.model.config, "decision_threshold", 0.5)
        return classifier_plots(output.label_ids, output.predictions, self.args.label_names, threshold, output_dir)

    # ---- Saving and loading: the weights, and what the architecture keeps beside them ----

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        model, output_dir = self.accelerator.unwrap_model(self.model), output_dir or self.args.output_dir
        if self.args.should_save:
            os.makedirs(output_dir, exist_ok=True)
            self.architecture.store_head(model, output_dir)  # in config.json, or a file of its own
        if not isinstance(model, SentenceEncoder):  # a `transformers` model: saved by the Trainer
            return super()._save(output_dir, state_dict)
        self._save_sentence_encoder(output_dir, state_dict, self.args.max_length, model.normalize)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        column = "labels" if "labels" in dataset.column_names else "label"
        return self.architecture.train_sampler(dataset[column]) or super()._get_train_sampler(train_dataset)

    def refresh_head(self) -> None:
        """The head as the architecture exports it (e.g. refit on the current embeddings with `refit_head`): before
        every validation evaluation, and at the end of a run that has none (the small-data policy)."""
        model = self.accelerator.unwrap_model(self.model)
        self.architecture.refresh_head(model, self.processing_class, self.raw_datasets.get("train"))

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        if eval_dataset is None:  # the validation data: the head as the architecture evaluates it
            self.refresh_head()
        return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)

    def _load_extra_state(self, checkpoint, model):
        # What a checkpoint's config.json holds for its weights, which weight loading does not read: the threshold
        # tuned for them and the architecture's head (e.g. a bi-encoder's scale and bias).
        with open(os.path.join(checkpoint, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        if config.get("decision_threshold") is not None:
            model.config.decision_threshold = config["decision_threshold"]
        self.architecture.load_head(model, config, checkpoint)

    def _card_content(self) -> dict:
        return scl_card_content(self)
