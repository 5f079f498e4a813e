"""The SimCSE sentence encoder: a `transformers` encoder and its pooling (with the paper's training-only MLP)."""

import contextlib

import torch
from torch import nn
from transformers import PreTrainedModel

from .errors import ConfigError

__all__ = ["MLP_WEIGHTS_NAME", "SimCSEModel", "check_dropout", "sentence_ids_of"]

# The training-only MLP is saved beside the encoder's weights, so the encoder loads with plain `AutoModel`.
MLP_WEIGHTS_NAME = "simcse_mlp.safetensors"


def check_dropout(model: nn.Module) -> None:
    """SimCSE's only augmentation is dropout: refuse an encoder whose dropout probabilities are all zero (both views
    of a sentence would be identical and the loss would only push sentences apart)."""
    module_p = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    config = getattr(model, "config", None)
    config_p = [
        v
        for k, v in (config.to_dict() if config is not None else {}).items()
        if "dropout" in k and isinstance(v, float)
    ]
    if not any(p > 0 for p in module_p + config_p):
        raise ConfigError(
            "SimCSE needs dropout: the two views of a sentence differ only by their dropout masks, but every dropout "
            f"probability of this encoder is 0 (modules: {sorted(set(module_p))}, config: {sorted(set(config_p))}). "
            "Load it with e.g. hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1."
        )


class SimCSEModel(nn.Module):
    """An encoder and its pooling: token ids in, one vector per sentence out.

    - `cls`: final-layer [CLS] through an MLP (Linear + tanh) in training mode only; raw [CLS] in eval mode. This is
      the paper's unsupervised setting (the MLP is a training-only projection, like a SimCLR head).
    - `cls_before_pooler`: final-layer [CLS], no MLP.
    - `mean`: mean of the final-layer token vectors under the attention mask.

    The MLP lives here (not in the encoder) so that the whole forward pass is one call of one module, which is what
    DDP needs to synchronise its gradients. `SimCSETrainer` saves the encoder in the plain `transformers` layout and
    the MLP in its own file, so the output loads with `AutoModel` and `SentenceTransformer`.
    """

    def __init__(self, encoder: PreTrainedModel, pooler: str = "cls", mlp_init: str = "normal"):
        super().__init__()
        self.encoder = encoder
        self.pooler = pooler
        self.mlp = None
        if pooler == "cls":
            hidden = encoder.config.hidden_size
            self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
            if mlp_init == "orthogonal":  # a random rotation: cosines and gradient scale of the encoder kept
                nn.init.orthogonal_(self.mlp[0].weight)
            else:  # as the encoder's own linear layers (SimCSE initialises its MLP with BERT's init_weights)
                nn.init.normal_(self.mlp[0].weight, std=getattr(encoder.config, "initializer_range", 0.02))
            nn.init.zeros_(self.mlp[0].bias)

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

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        if self.pooler == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (N, L, 1)
            embeddings = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (N, H)
        else:
            embeddings = hidden[:, 0]  # (N, H)
        if self.mlp is not None and self.training:
            embeddings = self.mlp(embeddings)
        return embeddings


def sentence_ids_of(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """(rows,) int64 id per row of a tokenized batch, equal for equal token sequences (padding ignored) and the same
    on every process: what SimCSE uses to keep identical sentences from being each other's negatives."""
    ids = [hash(tuple(row[mask.bool()].tolist())) for row, mask in zip(inputs["input_ids"], inputs["attention_mask"])]
    return torch.tensor(ids, dtype=torch.int64, device=inputs["input_ids"].device)
