"""The sentence encoder every method shares: a `transformers` encoder and the pooling that turns its token states into
one vector per text, in the base model's own pooling (sentence-transformers `modules.json`, + Normalize).

SimCSE (`SimCSEModel` adds its training-only MLP) and the bi-encoder pair classifier are
sentence encoders; the cross-encoder's encoder is read as one for its baselines. Below both methods: no method file
imports another's.
"""

import contextlib
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .export import SentencePooling, read_sentence_pooling
from .utils import resolve_model_name_or_path

if TYPE_CHECKING:  # loading it at run time would load all of transformers' modeling (the CLI answers before)
    from transformers import PreTrainedModel

__all__ = [
    "SentenceEncoder",
    "encode_texts",
    "native_pooling",
    "pair_cosines",
    "sentence_ids_of",
    "sentence_model",
]

POOLERS = ("cls", "cls_before_pooler", "mean")


class SentenceEncoder(nn.Module):
    """An encoder and its pooling: token ids in, one vector per text out.

    - `cls_before_pooler` (or `cls`): the final-layer [CLS] vector (no pooler layer);
    - `mean`: the mean of the final-layer token vectors under the attention mask.

    `normalize` records that the model's sentence vectors are unit-length (a Normalize module follows the pooling in
    its sentence-transformers export); `forward` returns the pooled vector as it is, `embed` the sentence vector as
    the exported model gives it (normalized when `normalize`). Cosine similarities are the same either way.

    The whole forward pass is one call of one module, which is what DDP needs to synchronise its gradients.
    """

    def __init__(self, encoder: "PreTrainedModel", pooler: str = "mean", normalize: bool = False):
        super().__init__()
        self.encoder = encoder
        self.pooler = pooler
        self.normalize = normalize

    @property
    def config(self):
        return self.encoder.config

    @contextlib.contextmanager
    def pooling(self, pooler: str | None):
        """Pool with `pooler` (`cls` or `mean`) inside the block, e.g. to evaluate the base model with its own
        pooling; None keeps the current one."""
        previous, self.pooler = self.pooler, pooler or self.pooler
        try:
            yield self
        finally:
            self.pooler = previous

    def activation_checkpointing_enable(self, **kwargs):
        return self.encoder.gradient_checkpointing_enable(**kwargs)

    def pool(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """(N, H) pooled final-layer states, not normalized."""
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        if self.pooler == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (N, L, 1)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (N, H)
        return hidden[:, 0]  # (N, H)

    def embed(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """(N, H) sentence vectors as the exported model gives them: pooled, then normalized when `normalize`."""
        pooled = self.pool(input_ids, attention_mask, token_type_ids)
        return F.normalize(pooled.float(), dim=-1).to(pooled.dtype) if self.normalize else pooled

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        return self.pool(input_ids, attention_mask, token_type_ids)


def native_pooling(name_or_path: str) -> SentencePooling:
    """The pooling a model folder or Hub id declares (sentence-transformers `modules.json`, + Normalize), else mean
    pooling: how the base model itself turns token vectors into a sentence vector."""
    return read_sentence_pooling(resolve_model_name_or_path(name_or_path)) or SentencePooling("mean", False)


def sentence_model(encoder: "PreTrainedModel", name_or_path: str) -> SentenceEncoder:
    """`encoder` pooled as the model `name_or_path` declares (`native_pooling`; [CLS] as `cls_before_pooler`), with
    its Normalize."""
    pooling = native_pooling(name_or_path)
    return SentenceEncoder(
        encoder, "cls_before_pooler" if pooling.pooler == "cls" else pooling.pooler, pooling.normalize
    )


@torch.no_grad()
def encode_texts(
    model: SentenceEncoder, tokenizer, texts: list[str], max_length: int, batch_size: int = 64, normalize=False
) -> torch.Tensor:
    """(N, H) float32 pooled vectors of `texts` (in order) from a sentence encoder in eval mode, batched over texts
    of similar length; `normalize`: as the exported model gives them (`SentenceEncoder.embed`)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), model.config.hidden_size)
    encode = SentenceEncoder.embed if normalize else SentenceEncoder.pool  # never a subclass's own forward
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt").to(device)  # fmt: skip
            out[rows] = encode(model, **batch).float().cpu()
    finally:
        model.train(was_training)
    return out


def pair_cosines(model: SentenceEncoder, tokenizer, texts_a, texts_b, max_length: int, batch_size: int) -> np.ndarray:
    """(N,) float64 cosine of each pair's two texts under a sentence encoder, in eval mode."""
    u, v = (encode_texts(model, tokenizer, texts, max_length, batch_size) for texts in (texts_a, texts_b))
    return F.cosine_similarity(u, v, dim=-1).numpy().astype(np.float64)


def sentence_ids_of(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """(rows,) int64 id per row of a tokenized batch, equal for equal token sequences (padding ignored) and the same
    on every process: what the contrastive terms use to keep identical sentences from being each other's negatives."""
    ids = [hash(tuple(row[mask.bool()].tolist())) for row, mask in zip(inputs["input_ids"], inputs["attention_mask"])]
    return torch.tensor(ids, dtype=torch.int64, device=inputs["input_ids"].device)
