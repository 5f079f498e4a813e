"""The architectures of `SCLTrainer`, by the `architecture` value that selects them.

A new architecture is one module here with one subclass of [`Architecture`] (see `base.py` for what it must
provide), added to `ARCHITECTURES`; `SCLTrainer`, the recipes, `predict` and the card use it through that interface.
"""

from ..errors import ConfigError
from .base import Architecture
from .bi_encoder import BiEncoder
from .cross_encoder import CrossEncoder
from .embedding import Embedding

__all__ = ["ARCHITECTURES", "Architecture", "architecture_class", "saved_architecture"]

ARCHITECTURES: dict[str, type[Architecture]] = {
    "cross_encoder": CrossEncoder,
    "bi_encoder": BiEncoder,
    "embedding": Embedding,
}


def architecture_class(name: str, where: str = "SCLConfig") -> type[Architecture]:
    """The architecture named `name`; an unknown name is a one-line error naming the choices."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"{where}: architecture must be one of {', '.join(ARCHITECTURES)}, got {name!r}")
    return ARCHITECTURES[name]


def saved_architecture(config) -> type[Architecture]:
    """The architecture of a classifier saved by scl_trainer, from its `config.json` (what `store_head` wrote; a
    model without it is a cross-encoder)."""
    return architecture_class(getattr(config, "pair_architecture", None) or "cross_encoder", "config.json")
