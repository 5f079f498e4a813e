"""The bi-encoder pair classifier: one shared sentence encoder embeds each text alone, the score is the cosine of the
two vectors, and the probability is sigmoid(scale x cosine + bias) with a learned scale and bias.

A sentence-transformers base model (all-MiniLM-L6-v2) is already a good pair scorer this way (its cosine ranks MRPC
pairs at ROC-AUC 0.76 untouched), while a new head over a pair [CLS] starts from nothing. The classifier keeps the
base model's own pooling (`modules.json`, plus `Normalize`), is saved as a plain encoder folder that loads with
`AutoModel` and `SentenceTransformer`, and carries `pair_scale`, `pair_bias` and `decision_threshold` in its
`config.json`. The contrastive term is supervised SimCSE over the batch's sentences.
"""

import logging
import random
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel

from ..collators import SentencePairCollator
from ..errors import ConfigError
from ..losses import CoSENTLoss, OnlineContrastiveLoss, SimCSELoss
from ..sentence_encoder import SentenceEncoder, sentence_ids_of, sentence_model
from ..tokenization import side_inputs, tokenize_separately
from ..utils import from_pretrained
from .base import Architecture
from .cross_encoder import is_cross_encoder, refuse_cross_encoder

__all__ = [
    "BI_ENCODER",
    "BiEncoder",
    "BiEncoderPairClassifier",
    "as_bi_encoder",
    "fit_scale_and_bias",
    "load_bi_encoder",
]

if TYPE_CHECKING:  # loading it at run time would load all of transformers' modeling (the CLI answers before)
    from transformers import PreTrainedModel

logger = logging.getLogger(__name__)

BI_ENCODER = "bi_encoder"  # the value of `pair_architecture` in a saved bi-encoder's config.json


class BiEncoderPairClassifier(SentenceEncoder):
    """A sentence encoder (the encoder and its pooling) that scores a pair by the cosine of its two texts' vectors:
    logit = scale x cos(u, v) + bias, probability = sigmoid(logit).

    `forward` takes a tokenized pair batch (`a_*` and `b_*` columns) and returns one row per pair,
    [logit | u | v], (B, 1 + 2H): the logit for BCE and the two sentence vectors for the contrastive term, from one
    call of one module (what DDP and GradCache chunking need).

    Args:
        encoder: the `transformers` encoder (`AutoModel`).
        pooler: `mean` or `cls_before_pooler` ([CLS], no MLP).
        normalize: the base model normalizes its vectors (kept in the export; the cosine is the same either way).
        scale, bias: the initial logit scale and bias.
    """

    def __init__(self, encoder: "PreTrainedModel", pooler: str = "mean", normalize: bool = False, scale=1.0, bias=0.0):
        if pooler not in ("mean", "cls_before_pooler"):
            raise ConfigError(f"a bi-encoder pools with `mean` or `cls_before_pooler`, got {pooler!r}")
        super().__init__(encoder, pooler, normalize)
        self.config.pair_architecture = BI_ENCODER  # what `predict` reads the model's architecture from
        self.logit_cosine_detached = (
            False  # True: the logit's BCE fits only the scale and bias (a ranking loss trains)
        )
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def forward(
        self,
        a_input_ids,
        a_attention_mask,
        b_input_ids,
        b_attention_mask,
        a_token_type_ids=None,
        b_token_type_ids=None,
    ) -> torch.Tensor:
        u = self.pool(a_input_ids, a_attention_mask, a_token_type_ids).float()  # (B, H)
        v = self.pool(b_input_ids, b_attention_mask, b_token_type_ids).float()  # (B, H)
        cosine = F.cosine_similarity(u, v, dim=-1)  # (B,)
        logit = self.scale * (cosine.detach() if self.logit_cosine_detached else cosine) + self.bias  # (B,)
        return torch.cat([logit.unsqueeze(1), u, v], dim=1)  # (B, 1 + 2H)

    @property
    def calibrated(self) -> bool:
        """Whether scale and bias were fitted (by the trainer, or in the saved bi-encoder this was loaded from)."""
        return getattr(self.config, "pair_scale", None) is not None

    def store_in_config(self) -> None:
        """Write the head into the encoder's config (saved as config.json): architecture, scale and bias."""
        self.config.pair_architecture = BI_ENCODER
        self.config.pair_scale = float(self.scale.detach())
        self.config.pair_bias = float(self.bias.detach())


def load_bi_encoder(name_or_path: str, field_name: str = "model_name_or_path", **kwargs) -> BiEncoderPairClassifier:
    """A bi-encoder pair classifier from a model folder or Hub id (the offline copy when installed): the encoder
    with its own pooling; the scale and bias of a saved bi-encoder (`pair_scale`/`pair_bias` in its config), else
    1 and 0 (`calibrated` False: the trainer fits them on the training pairs). `kwargs` go to `from_pretrained`."""
    BiEncoder.check_base(name_or_path, field_name=field_name)
    encoder = from_pretrained(AutoModel, name_or_path, field_name, **kwargs)
    encoder.config._name_or_path = name_or_path  # the hub id in the card, not the path of an offline copy
    return as_bi_encoder(encoder, name_or_path)


def as_bi_encoder(encoder: "PreTrainedModel", name_or_path: str | None = None) -> BiEncoderPairClassifier:
    """Wrap an encoder with the pooling of `name_or_path` (default: its config's `_name_or_path`) and the scale and
    bias its config carries, if any."""
    pooled = sentence_model(encoder, name_or_path or encoder.config._name_or_path)
    config = encoder.config
    return BiEncoderPairClassifier(
        encoder, pooled.pooler, pooled.normalize, getattr(config, "pair_scale", 1.0), getattr(config, "pair_bias", 0.0)
    )


def fit_scale_and_bias(labels, cosines) -> tuple[float, float]:
    """Logistic regression of the labels on the cosines (almost unregularised): the scale and bias with which
    sigmoid(scale x cos + bias) is a calibrated probability of the untouched encoder's cosine. The ranking is the
    cosine's whenever the scale is positive."""
    from sklearn.linear_model import LogisticRegression  # training only: predict and embed need not load sklearn

    labels = np.asarray(labels).astype(int)
    fit = LogisticRegression(C=1e4).fit(np.asarray(cosines, dtype=np.float64).reshape(-1, 1), labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


class BiEncoder(Architecture):
    """Two classes of text pairs. The contrastive term is supervised SimCSE ([`SimCSELoss`] with `positive_pairs`)
    over the batch's sentences: a positive pair's texts are each other's positive, every other sentence a negative
    (the texts of negative pairs are hard negatives), duplicates masked. The untouched encoder, with its scale and bias
    fitted on the training pairs' cosines, competes for the best checkpoint."""

    name = BI_ENCODER
    contrastive_term = "contrastive"
    pipeline_tag = "sentence-similarity"
    library_name = "sentence-transformers"
    untouched_model_competes = True

    # Training pairs whose cosines the initial scale and bias are fitted on (a seeded sample).
    calibration_pairs = 2048

    def __init__(self, args, num_logits, single_text):
        super().__init__(args, num_logits, single_text)
        self.loss = SimCSELoss(temperature=args.scl_temperature)  # supervised SimCSE
        rankings = {
            "cosent": CoSENTLoss(args.cosent_scale),
            "online_contrastive": OnlineContrastiveLoss(args.pair_margin),
        }
        self.ranking = rankings.get(args.pair_loss)  # None: BCE trains the encoder
        self.extra_term_names = (args.pair_loss,) if self.ranking is not None else ()

    @classmethod
    def check_config(cls, config):
        # Batches carry two separately tokenized texts (`a_*`, `b_*` columns) that no forward signature names: the
        # Trainer must keep every column the trainer built (the targets are `labels`, as for every batch).
        config.remove_unused_columns = False
        if config.label_names is not None and len(config.label_names) != 2:
            raise ConfigError(
                f"SCLConfig: architecture=bi_encoder scores pairs as matching or not (two classes), got "
                f"label_names {config.label_names}; use the cross-encoder for {len(config.label_names)} classes"
            )

    @classmethod
    def check_task(cls, config, single_text, num_logits):
        if single_text or num_logits != 1:
            raise ConfigError("architecture=bi_encoder classifies text pairs as matching or not, not single texts")

    @classmethod
    def check_base(cls, name_or_path, label_names=None, field_name="model_name_or_path"):
        config = from_pretrained(AutoConfig, name_or_path, field_name)
        refuse_cross_encoder(config, name_or_path, field_name, "a bi-encoder starts from a sentence encoder")

    @classmethod
    def load(cls, name_or_path, label_names=None, positive_name="match", field_name="model_name_or_path"):
        return load_bi_encoder(name_or_path, field_name=field_name)

    def prepare_model(self, model):
        if isinstance(model, str):
            model = load_bi_encoder(model, field_name="model")
        elif not isinstance(model, BiEncoderPairClassifier):
            if not hasattr(model, "get_input_embeddings") or is_cross_encoder(model.config, model):
                raise ConfigError(
                    f"architecture=bi_encoder needs an encoder (AutoModel) or a BiEncoderPairClassifier, got "
                    f"{type(model).__name__}"
                )
            model = as_bi_encoder(model)
        model.logit_cosine_detached = self.ranking is not None
        return model

    def tokenize(self, dataset, tokenizer):
        dataset, num_truncated = tokenize_separately(dataset, tokenizer, self.args.max_length, "text_a", "text_b",
                                                     "label")  # fmt: skip
        return dataset, num_truncated, "pairs (a text of)"

    def collator(self, tokenizer):
        return SentencePairCollator(tokenizer)

    def forward(self, model, batch):
        return model(**batch)  # (B, 1 + 2H): [logit | u | v]

    def outputs(self, rows, inputs, labels):
        sentences = rows[:, 1:].reshape(2 * rows.size(0), -1)  # (2B, H): rows 2i, 2i+1 = text_a, text_b of pair i
        side_ids = [sentence_ids_of({k[2:]: v for k, v in inputs.items() if k.startswith(f"{s}_")}) for s in "ab"]
        ids = torch.stack(side_ids, dim=1).reshape(-1)  # (2B,)
        return rows[:, 0], labels, sentences, (ids, labels > 0.5)

    def contrastive(self, candidates, anchors, extras):
        ids, positive = extras
        loss, stats = self.loss(candidates, anchors, ids, return_stats=True, positive_pairs=positive)
        health = {
            "contrastive_masked_duplicates": stats["masked_duplicates"].float(),
            "contrastive_negatives_per_anchor": stats["negatives_per_anchor"],
        }
        return loss, health

    def extra_terms(self, rows, labels):
        if self.ranking is None:
            return {}
        hidden = (rows.size(1) - 1) // 2  # rows: [logit | u | v]
        cosines = F.cosine_similarity(rows[:, 1 : 1 + hidden], rows[:, 1 + hidden :], dim=-1)  # (B,)
        return {self.args.pair_loss: self.ranking(cosines, labels)}

    def sentence_model(self, model):
        return model

    def initialize_head(self, model, tokenizer, train):
        """Fit the scale and bias on (a seeded sample of) the training pairs' cosines, so that step 0 is the
        untouched encoder's ranking with a calibrated probability."""
        if model.calibrated:
            return
        if train is None:
            logger.warning("bi-encoder: the training data was given tokenized, so the scale and bias start at 1 and 0")
            return
        rows = sorted(random.Random(self.args.seed).sample(range(len(train)), min(len(train), self.calibration_pairs)))
        sample = train.select(rows)
        scale, bias = fit_scale_and_bias(sample["label"], self.pair_cosines(model, tokenizer, sample))
        with torch.no_grad():
            model.scale.fill_(scale)
            model.bias.fill_(bias)
        model.store_in_config()  # fitted: the config carries them (`calibrated`)
        logger.info(f"bi-encoder: probability = sigmoid({scale:.3f} x cosine {bias:+.3f}), fitted on {len(rows)} "
                    "training pairs")  # fmt: skip

    def store_head(self, model, output_dir):
        model.store_in_config()  # scale and bias in config.json (beside the threshold)

    def load_head(self, model, config, checkpoint):
        if config.get("pair_scale") is None:
            raise ConfigError(f"{checkpoint}: config.json has no pair_scale/pair_bias: not a bi-encoder checkpoint")
        with torch.no_grad():
            model.scale.fill_(config["pair_scale"])
            model.bias.fill_(config["pair_bias"])

    def card_fields(self, model):
        return {
            "pooling": model.pooler.replace("cls_before_pooler", "CLS") + (" + Normalize" if model.normalize else ""),
            "scale": f"{model.scale.item():.4f}",
            "bias": f"{model.bias.item():+.4f}",
            "pair_loss": self.args.pair_loss,
        }

    def widget(self, raw_rows, tokenizer, first_eval_rows):
        """The sentence-similarity widget: the first text_a against three text_b."""
        if not raw_rows:
            return None
        return [{"source_sentence": raw_rows[0]["text_a"], "sentences": [row["text_b"] for row in raw_rows]}]

    @classmethod
    def load_trained(cls, name_or_path, field_name="model", **kwargs):
        return load_bi_encoder(name_or_path, field_name=field_name, **kwargs)

    @staticmethod
    def predict_logits(model, sides):
        return model(**side_inputs(sides))[:, :1]  # (B, 1)

    @staticmethod
    def num_logits_of(model):
        return 1
