"""The bi-encoder pair classifier: one shared sentence encoder embeds each text alone, the score is the cosine of the
two vectors, and the probability is sigmoid(scale x cosine + bias) with a learned scale and bias.

A sentence-transformers base model (all-MiniLM-L6-v2) is already a good pair scorer this way (its cosine ranks MRPC
pairs at ROC-AUC 0.76 untouched), while a new head over a pair [CLS] starts from nothing. The classifier keeps the
base model's own pooling (`modules.json`, plus `Normalize`), is saved as a plain encoder folder that loads with
`AutoModel` and `SentenceTransformer`, and carries `pair_scale`, `pair_bias` and `decision_threshold` in its
`config.json`.
"""

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel

from .errors import ConfigError
from .export import SentencePooling, read_sentence_pooling
from .simcse_model import SimCSEModel
from .utils import from_pretrained, resolve_model_name_or_path

__all__ = [
    "BI_ENCODER",
    "as_bi_encoder",
    "BiEncoderPairClassifier",
    "encode_texts",
    "fit_scale_and_bias",
    "is_cross_encoder",
    "load_bi_encoder",
    "native_pooling",
    "sentence_model",
]

logger = logging.getLogger(__name__)

BI_ENCODER = "bi_encoder"  # the value of `pair_architecture` in a saved bi-encoder's config.json


def native_pooling(name_or_path: str) -> SentencePooling:
    """The pooling a model folder or Hub id declares (sentence-transformers `modules.json`, + Normalize), else mean
    pooling: how the base model itself turns token vectors into a sentence vector."""
    return read_sentence_pooling(resolve_model_name_or_path(name_or_path)) or SentencePooling("mean", False)


def sentence_model(encoder: PreTrainedModel, name_or_path: str) -> tuple[SimCSEModel, bool]:
    """`encoder` pooled as the model `name_or_path` declares (`native_pooling`; [CLS] without the SimCSE MLP), and
    whether that model normalizes its vectors."""
    pooling = native_pooling(name_or_path)
    return SimCSEModel(encoder, "cls_before_pooler" if pooling.pooler == "cls" else pooling.pooler), pooling.normalize


def is_cross_encoder(config) -> bool:
    """True for a model with a sequence classification head (it scores a pair read together, it embeds nothing)."""
    return any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))


class BiEncoderPairClassifier(SimCSEModel):
    """A sentence encoder (the encoder and its pooling, no MLP) that scores a pair by the cosine of its two texts'
    vectors: logit = scale x cos(u, v) + bias, probability = sigmoid(logit).

    `forward` takes a tokenized pair batch (`a_*` and `b_*` columns) and returns one row per pair,
    [logit | u | v], (B, 1 + 2H): the logit for BCE and the two sentence vectors for the contrastive term, from one
    call of one module (what DDP and GradCache chunking need).

    Args:
        encoder: the `transformers` encoder (`AutoModel`).
        pooler: `mean` or `cls_before_pooler` ([CLS], no MLP).
        normalize: the base model normalizes its vectors (kept in the export; the cosine is the same either way).
        scale, bias: the initial logit scale and bias.
    """

    def __init__(self, encoder: PreTrainedModel, pooler: str = "mean", normalize: bool = False, scale=1.0, bias=0.0):
        if pooler not in ("mean", "cls_before_pooler"):
            raise ConfigError(f"a bi-encoder pools with `mean` or `cls_before_pooler`, got {pooler!r}")
        super().__init__(encoder, pooler)
        self.normalize = normalize
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def embed(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """(N, H) sentence vectors in the model's pooling (not normalized)."""
        return super().forward(input_ids, attention_mask, token_type_ids)

    def forward(
        self,
        a_input_ids,
        a_attention_mask,
        b_input_ids,
        b_attention_mask,
        a_token_type_ids=None,
        b_token_type_ids=None,
    ) -> torch.Tensor:
        u = self.embed(a_input_ids, a_attention_mask, a_token_type_ids).float()  # (B, H)
        v = self.embed(b_input_ids, b_attention_mask, b_token_type_ids).float()  # (B, H)
        logit = self.scale * F.cosine_similarity(u, v, dim=-1) + self.bias  # (B,)
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
    config = from_pretrained(AutoConfig, name_or_path, field_name)
    if is_cross_encoder(config):
        raise ConfigError(
            f"--{field_name} {name_or_path!r} is a cross-encoder pair classifier (architectures "
            f"{config.architectures}); a bi-encoder starts from a sentence encoder (e.g. the base model)"
        )
    encoder = from_pretrained(AutoModel, name_or_path, field_name, **kwargs)
    encoder.config._name_or_path = name_or_path  # the hub id in the card, not the path of an offline copy
    return as_bi_encoder(encoder, name_or_path)


def as_bi_encoder(encoder: PreTrainedModel, name_or_path: str | None = None) -> BiEncoderPairClassifier:
    """Wrap an encoder with the pooling of `name_or_path` (default: its config's `_name_or_path`) and the scale and
    bias its config carries, if any."""
    pooled, normalize = sentence_model(encoder, name_or_path or encoder.config._name_or_path)
    config = encoder.config
    return BiEncoderPairClassifier(
        encoder, pooled.pooler, normalize, getattr(config, "pair_scale", 1.0), getattr(config, "pair_bias", 0.0)
    )


@torch.no_grad()
def encode_texts(model: SimCSEModel, tokenizer, texts: list[str], max_length: int, batch_size: int = 64):
    """(N, H) float32 sentence vectors of `texts` (in order) from a sentence model (`SimCSEModel` or
    `BiEncoderPairClassifier`) in eval mode, batched over texts of similar length."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), model.config.hidden_size)
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt").to(device)  # fmt: skip
            out[rows] = SimCSEModel.forward(model, **batch).float().cpu()
    finally:
        model.train(was_training)
    return out


def fit_scale_and_bias(labels, cosines) -> tuple[float, float]:
    """Logistic regression of the labels on the cosines (almost unregularised): the scale and bias with which
    sigmoid(scale x cos + bias) is a calibrated probability of the untouched encoder's cosine. The ranking is the
    cosine's whenever the scale is positive."""
    from sklearn.linear_model import LogisticRegression  # training only: predict and embed need not load sklearn

    labels = np.asarray(labels).astype(int)
    fit = LogisticRegression(C=1e4).fit(np.asarray(cosines, dtype=np.float64).reshape(-1, 1), labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])
