"""The SimCSE model: the shared sentence encoder with the paper's training-only MLP."""

import logging

import torch
from torch import nn
from transformers import PreTrainedModel

from .errors import ConfigError
from .export import MLP_WEIGHTS_NAME, read_sentence_pooling
from .sentence_encoder import SentenceEncoder
from .utils import resolve_model_name_or_path

__all__ = ["MLP_WEIGHTS_NAME", "SimCSEModel", "check_dropout", "default_pooler"]

logger = logging.getLogger(__name__)


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


class SimCSEModel(SentenceEncoder):
    """A [`SentenceEncoder`] with SimCSE's poolings:

    - `cls`: final-layer [CLS] through an MLP (Linear + tanh) in training mode only; raw [CLS] in eval mode. This is
      the paper's unsupervised setting (the MLP is a training-only projection, like a SimCLR head).
    - `cls_before_pooler`: final-layer [CLS], no MLP.
    - `mean`: mean of the final-layer token vectors under the attention mask.

    The MLP lives here (not in the encoder) so that the whole forward pass is one call of one module, which is what
    DDP needs to synchronise its gradients. `SimCSETrainer` saves the encoder in the plain `transformers` layout and
    the MLP in its own file, so the output loads with `AutoModel` and `SentenceTransformer`.
    """

    def __init__(self, encoder: PreTrainedModel, pooler: str = "cls", mlp_init: str = "normal"):
        super().__init__(encoder, pooler)
        self.mlp = None
        if pooler == "cls":
            hidden = encoder.config.hidden_size
            self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
            if mlp_init == "orthogonal":  # a random rotation: cosines and gradient scale of the encoder kept
                nn.init.orthogonal_(self.mlp[0].weight)
            else:  # as the encoder's own linear layers (SimCSE initialises its MLP with BERT's init_weights)
                nn.init.normal_(self.mlp[0].weight, std=getattr(encoder.config, "initializer_range", 0.02))
            nn.init.zeros_(self.mlp[0].bias)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        embeddings = self.pool(input_ids, attention_mask, token_type_ids)  # (N, H)
        if self.mlp is not None and self.training:
            embeddings = self.mlp(embeddings)
        return embeddings


def default_pooler(name_or_path: str) -> str:
    """`SimCSEConfig.pooler`'s default: the pooling a sentence-transformers base model declares ([CLS] without the
    MLP for a CLS-pooled one), else `cls` with the training-only MLP (the paper's setting for a plain BERT)."""
    declared = read_sentence_pooling(resolve_model_name_or_path(name_or_path))
    if declared is None:
        logger.info(f"pooler: cls ([CLS] + training-only MLP, the paper's setting; {name_or_path} declares none)")
        return "cls"
    pooler = "cls_before_pooler" if declared.pooler == "cls" else declared.pooler
    logger.info(f"pooler: {pooler} (the pooling {name_or_path} declares)")
    return pooler
