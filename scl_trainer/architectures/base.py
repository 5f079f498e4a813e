"""The interface of an `SCLTrainer` architecture: everything that differs between the ways of turning texts into logits
and contrastive vectors, in one small class per architecture. `SCLTrainer` calls these methods and holds the method
itself (classification loss + `scl_weight` x contrastive term, class weights, metrics, baselines, card content)."""

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..losses import SupConLoss
from ..sentence_encoder import SentenceEncoder, encode_texts, pair_cosines

if TYPE_CHECKING:
    from datasets import Dataset

    from ..scl_config import SCLConfig

__all__ = ["Architecture"]


class Architecture:
    """One architecture of [`SCLTrainer`]. A subclass sets the class attributes and implements the methods marked
    "required"; the others have the defaults written here (SupCon with the class labels as the contrastive term, no
    head to initialise or save beside the weights, no untouched-model candidate).

    An instance is made by the trainer for one run: `args` (an [`SCLConfig`]), `num_logits` (1 for two classes, K
    for K >= 3) and `single_text` (single texts, not pairs) describe the task.
    """

    name: str = ""  # the `architecture` value that selects it
    contrastive_term: str = "supcon"  # the contrastive term's name in the log and the card
    pipeline_tag: str = "text-classification"  # the model card's metadata
    library_name: str = "transformers"
    untouched_model_competes: bool = False  # the untouched model is a usable classifier: checkpoint-0 competes
    extra_term_names: tuple[str, ...] = ()  # the names of `extra_terms`, in the log and the card

    def __init__(self, args: "SCLConfig", num_logits: int, single_text: bool):
        self.args, self.num_logits, self.single_text = args, num_logits, single_text
        self.supcon = SupConLoss(temperature=args.scl_temperature)

    # ---- Configuration and model ----

    @classmethod
    def check_config(cls, config: "SCLConfig") -> None:
        """Refuse (or complete) settings this architecture cannot train with, at parse time (`SCLConfig`)."""

    @classmethod
    def check_task(cls, config: "SCLConfig", single_text: bool, num_logits: int) -> None:
        """Refuse a task (single texts or pairs; one logit for two classes, K for K; the classes
        `config.label_names`) this architecture does not classify: called by the trainer and, before the model
        loads, by the recipes."""

    @classmethod
    def check_base(cls, name_or_path: str, label_names: list[str] | None = None,
                   field_name: str = "model_name_or_path") -> None:  # fmt: skip
        """Refuse a base model this architecture cannot start from, reading its configuration and pooling files only
        (no weights): what `load` would refuse, found by the recipes before training and by `compare` before the
        first run."""

    @classmethod
    def load(cls, name_or_path: str, label_names: list[str] | None = None, positive_name: str = "match",
             field_name: str = "model_name_or_path"):  # fmt: skip
        """Required. The model to train, from a hub id or folder (what the recipes load)."""
        raise NotImplementedError

    def prepare_model(self, model):
        """Required. The model to train from what the user passed to the trainer (a model, or an id / path to load),
        checked for this architecture and task."""
        raise NotImplementedError

    # ---- Data ----

    def tokenize(self, dataset: "Dataset", tokenizer) -> tuple["Dataset", int, str]:
        """Required. A checked raw dataset tokenized for this architecture: (dataset, truncated rows, what a row
        is)."""
        raise NotImplementedError

    def collator(self, tokenizer):
        """Required. The batch builder of tokenized rows."""
        raise NotImplementedError

    def train_sampler(self, labels) -> "torch.utils.data.Sampler | None":
        """The order of the training rows (`labels`: their class indices); None: the Trainer's own."""
        return None

    def training_batch(self, inputs: dict, labels: torch.Tensor, tokenizer) -> tuple[dict, torch.Tensor]:
        """A training batch as the forward pass takes it (e.g. every text repeated as dropout views, texts added as
        anchors), with a label per row. Default: as collated."""
        return inputs, labels

    # ---- The forward pass and the contrastive term ----

    def forward(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Required. One call of one module (what DDP and GradCache need): (rows, D) holding the logits and the
        vectors of the contrastive term, split again by `outputs`."""
        raise NotImplementedError

    def outputs(self, rows: torch.Tensor, inputs: dict[str, torch.Tensor], labels: torch.Tensor):
        """(logits, their labels, the contrastive vectors, extras): logits (B,) for one logit or (B, K); vectors
        (N, H); extras, tensors with one row per vector that are gathered across processes with them. Default: rows
        are [logits | vector], the extras the labels (SupCon's)."""
        logits, vectors = rows[:, : self.num_logits].squeeze(-1), rows[:, self.num_logits :]  # (B,) or (B, C); (B, H)
        return logits, labels, vectors, (labels,)

    def contrastive(self, candidates: torch.Tensor, anchors: slice | None, extras: tuple) -> tuple[torch.Tensor, dict]:
        """(loss, health values to log) of the contrastive term over the (gathered) vectors. Default: SupCon with the
        class labels (`extras` = (labels,)): every other row of the anchor's class is a positive."""
        (labels,) = extras
        loss, stats = self.supcon(candidates, labels, anchors, return_stats=True)
        health = {
            "supcon_no_positive_share": stats["anchors_without_positive"] / stats["anchors"],
            "supcon_negatives_per_anchor": stats["negatives_per_anchor"],
        }
        if not torch.isnan(stats["pos_neg_gap"]):
            health["supcon_pos_neg_gap"] = stats["pos_neg_gap"]
        return loss, health

    def extra_terms(self, rows: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of this architecture's own beside the classification and contrastive terms (added to the loss,
        logged under their names; e.g. a ranking loss on the pair cosines). Default: none."""
        return {}

    # ---- The untouched model: the baselines' encoder and the step-0 head ----

    def sentence_model(self, model) -> SentenceEncoder:
        """Required. The model's encoder with the base model's own pooling: what the baselines (zero-shot cosine,
        frozen-encoder logistic regression) embed with."""
        raise NotImplementedError

    def pair_cosines(self, model, tokenizer, dataset: "Dataset") -> np.ndarray:
        """(N,) cosine of text_a and text_b of a raw pair dataset under `sentence_model(model)`, in eval mode."""
        args = self.args
        return pair_cosines(self.sentence_model(model), tokenizer, dataset["text_a"], dataset["text_b"],
                            args.max_length, args.per_device_eval_batch_size)  # fmt: skip

    def frozen_features(self, model, tokenizer, dataset: "Dataset") -> np.ndarray:
        """The encoder's sentence vectors of a raw dataset as the model gives them (`sentence_model(model)`: its own
        pooling, normalized when it normalizes, as sentence-transformers and SetFit read them): u for single texts,
        the SentEval pair features [u, v, |u - v|, u * v] for pairs."""
        encoder, args = self.sentence_model(model), self.args
        encode = lambda texts: encode_texts(encoder, tokenizer, texts, args.max_length,  # noqa: E731
                                            args.per_device_eval_batch_size, encoder.normalize).numpy()  # fmt: skip
        if self.single_text:
            return encode(dataset["text"])
        u, v = encode(dataset["text_a"]), encode(dataset["text_b"])
        return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)

    def baselines(self, model, tokenizer, train: "Dataset | None", validation: "Dataset") -> dict[str, float]:
        """What a user has without fine-tuning, on the raw validation data: for two classes of pairs the majority
        class and the zero-shot cosine (`pair_baselines`), otherwise the majority class and a logistic regression on
        the frozen encoder's vectors, fit on the raw training data (`classification_baselines`)."""
        from ..classification_data import encode_labels
        from ..metrics import classification_baselines, pair_baselines

        if self.num_logits == 1 and not self.single_text:
            return pair_baselines(validation["label"], self.pair_cosines(model, tokenizer, validation))
        labels = [encode_labels(d, self.args.label_names or ["0", "1"])["label"] for d in (train, validation)]
        features = [self.frozen_features(model, tokenizer, d) for d in (train, validation)]
        return classification_baselines(labels[0], labels[1], *features, seed=self.args.seed)

    def initialize_head(self, model, tokenizer, train: "Dataset | None") -> None:
        """Before the first step: fit what the head can learn from the untouched encoder (the raw training data
        `train`; None when it was given tokenized)."""

    def refresh_head(self, model, tokenizer, train: "Dataset | None") -> None:
        """Before each evaluation on the validation data (e.g. refit the head on the current embeddings)."""

    # ---- Saving: what is saved beside the weights, restored with them ----

    def store_head(self, model, output_dir: str) -> None:
        """At every save (the main process), before the weights: write the head's state where the saved folder
        carries it (`config.json`, or a file of its own in `output_dir`)."""

    def load_head(self, model, config: dict, checkpoint: str) -> None:
        """Restore what `store_head` saved, from a checkpoint's `config.json` (`config`) or its folder."""

    # ---- Model card ----

    def card_fields(self, model) -> dict:
        """The architecture's own template variables and hyperparameter rows (e.g. pooling, scale, bias)."""
        return {}

    def widget(self, raw_rows: list[dict], tokenizer, first_eval_rows) -> list[dict] | None:
        """Up to three validation examples for the Hub widget: `raw_rows` as written (empty when the data was given
        tokenized; `first_eval_rows(n)` then gives the tokenized rows)."""
        return [{"text": row["text"]} for row in raw_rows] or None

    # ---- Prediction (`python -m scl_trainer predict`) ----

    @classmethod
    def load_trained(cls, name_or_path: str, field_name: str = "model", **kwargs):
        """Required. A saved classifier of this architecture, for prediction."""
        raise NotImplementedError

    texts_read_together = False  # a pair is one sequence (a cross-encoder), or each text is read alone

    @classmethod
    def predict_inputs(cls, tokenizer, texts_a: list[str], texts_b: list[str] | None, max_length: int):
        """The rows of one prediction window tokenized as training reads them (`texts_read_together`): (sides,
        lengths, truncated row indices), `sides` a list of tokenizer outputs padded alike per batch, `lengths` the
        tokens per row (to batch similar lengths)."""
        from ..tokenization import tokenize_rows

        return tokenize_rows(tokenizer, texts_a, texts_b, max_length, separately=not cls.texts_read_together)

    @staticmethod
    def predict_logits(model, sides: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """Required. (B, 1) or (B, K) float logits of a batch of padded `sides`."""
        raise NotImplementedError

    @staticmethod
    def num_logits_of(model) -> int:
        """The number of logits a saved model gives (1 for two classes)."""
        return model.config.num_labels
