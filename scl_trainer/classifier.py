"""The classification model of `SCLTrainer`'s cross-encoder: an encoder with a new sequence classification head, one
logit for two classes, K logits for K >= 3."""

from transformers import AutoConfig, AutoModelForSequenceClassification

from .errors import ConfigError
from .utils import from_pretrained

__all__ = ["load_classifier", "load_pair_classifier"]


def load_classifier(
    name_or_path: str,
    label_names: list[str] | None = None,
    field_name: str = "model_name_or_path",
    positive_name: str = "match",
):
    """An encoder (hub id or local folder; the offline copy when one is installed, see
    `utils.resolve_model_name_or_path`) with a new classification head: K logits (softmax + cross-entropy) for
    `label_names` of K >= 3 classes, whose names `pipeline("text-classification")` returns; else one logit read as a
    probability by BCE and by the pipeline, labelled with the positive class (the second of two `label_names`, else
    `positive_name`). A checkpoint that already has a head with another number of labels is refused: its head cannot
    be reused."""
    num_labels = len(label_names) if label_names and len(label_names) > 2 else 1
    config = from_pretrained(AutoConfig, name_or_path, field_name)
    has_head = any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))
    if has_head and config.num_labels != num_labels:
        raise ConfigError(
            f"--{field_name} {name_or_path!r} has a sequence classification head with num_labels={config.num_labels}; "
            f"this classifier needs {num_labels} (one logit for two classes). Start from the base encoder instead."
        )
    if num_labels == 1:
        id2label = {0: label_names[1] if label_names else positive_name}
    else:
        id2label = dict(enumerate(label_names))
    model = from_pretrained(
        AutoModelForSequenceClassification,
        name_or_path,
        field_name,
        num_labels=num_labels,
        problem_type="multi_label_classification" if num_labels == 1 else "single_label_classification",
        id2label=id2label,
        label2id={name: i for i, name in id2label.items()},
    )
    model.config._name_or_path = name_or_path  # the hub id in the card, not the path of an offline copy
    return model


def load_pair_classifier(name_or_path: str, label_name: str = "match", field_name: str = "model_name_or_path"):
    """`load_classifier` for 0/1 pairs: one logit, labelled `label_name`."""
    return load_classifier(name_or_path, None, field_name, positive_name=label_name)
