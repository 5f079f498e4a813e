"""The cross-encoder (the seed's design): the two texts of a pair read together as one sequence (or a single text), a
new classification head on the pooled [CLS] (one logit for two classes, K for K >= 3), SupCon on the final-layer [CLS]
vector of the same forward pass. Saved as a plain `AutoModelForSequenceClassification`."""

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, DataCollatorWithPadding

from ..errors import ConfigError
from ..sentence_encoder import SentenceEncoder, sentence_model
from ..tokenization import tokenize_texts
from ..utils import from_pretrained
from .base import Architecture

__all__ = ["CrossEncoder", "is_cross_encoder", "load_classifier", "load_pair_classifier", "refuse_cross_encoder"]


def is_cross_encoder(config, model=None) -> bool:
    """True for a model with a sequence classification head (it scores a pair read together, it embeds nothing):
    the saved `config` says so, or the `model` in hand (built from a config, never saved) is one."""
    names = [*(config.architectures or []), *([type(model).__name__] if model is not None else [])]
    return any(name.endswith("ForSequenceClassification") for name in names)


def refuse_cross_encoder(config, name_or_path: str, field_name: str, starts_from: str) -> None:
    """A cross-encoder classifier as the base of an architecture that needs a sentence encoder: refused, naming what
    `starts_from` (e.g. "a bi-encoder starts from a sentence encoder")."""
    if is_cross_encoder(config):
        raise ConfigError(
            f"--{field_name} {name_or_path!r} is a cross-encoder classifier (architectures {config.architectures}); "
            f"{starts_from} (e.g. the base model)"
        )


def check_head(config, label_names: list[str] | None, name_or_path: str, field_name: str) -> int:
    """The number of logits the classes `label_names` need (K for K >= 3, else one); a checkpoint whose head has
    another number is refused: its head cannot be reused."""
    num_labels = len(label_names) if label_names and len(label_names) > 2 else 1
    if is_cross_encoder(config) and config.num_labels != num_labels:
        raise ConfigError(
            f"--{field_name} {name_or_path!r} has a sequence classification head with num_labels={config.num_labels}; "
            f"this classifier needs {num_labels} (one logit for two classes). Start from the base encoder instead."
        )
    return num_labels


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
    num_labels = check_head(
        from_pretrained(AutoConfig, name_or_path, field_name), label_names, name_or_path, field_name
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


class CrossEncoder(Architecture):
    name = "cross_encoder"
    texts_read_together = True  # a pair is one sequence: [CLS] a [SEP] b [SEP]

    @classmethod
    def check_base(cls, name_or_path, label_names=None, field_name="model_name_or_path"):
        check_head(from_pretrained(AutoConfig, name_or_path, field_name), label_names, name_or_path, field_name)

    @classmethod
    def load(cls, name_or_path, label_names=None, positive_name="match", field_name="model_name_or_path"):
        return load_classifier(name_or_path, label_names, field_name, positive_name)

    def prepare_model(self, model):
        args, num_logits = self.args, self.num_logits
        if isinstance(model, str):
            model = load_classifier(model, args.label_names, field_name="model")
        if isinstance(model, SentenceEncoder) or model.config.num_labels != num_logits:
            kind = f"{num_logits} logits (softmax + CE)" if num_logits > 1 else "one logit (sigmoid + BCE)"
            raise ConfigError(
                f"SCLTrainer (architecture=cross_encoder) needs a head with {kind} for the classes "
                f"{args.label_names or [0, 1]}, but the model {model.config._name_or_path!r} ({type(model).__name__}) "
                f"has num_labels={model.config.num_labels}. Load the encoder with "
                f"AutoModelForSequenceClassification.from_pretrained(name, num_labels={num_logits})."
            )
        # One logit is a probability: BCE in the model's own loss, sigmoid in `pipeline("text-classification")`.
        model.config.problem_type = "multi_label_classification" if num_logits == 1 else "single_label_classification"
        model.config.class_names = args.label_names  # prediction writes class names
        model.config.text_input = "single" if self.single_text else "pair"
        return model

    def tokenize(self, dataset, tokenizer):
        dataset, num_truncated = tokenize_texts(dataset, tokenizer, self.args.max_length)  # a pair as one sequence
        return dataset, num_truncated, "texts" if self.single_text else "pairs"

    def collator(self, tokenizer):
        return DataCollatorWithPadding(tokenizer)

    def forward(self, model, batch):
        out = model(**batch, output_hidden_states=True)  # [logits | final-layer CLS, before any pooler] per row
        return torch.cat([out.logits, out.hidden_states[-1][:, 0]], dim=1)  # (B, C + H)

    def sentence_model(self, model):
        return sentence_model(model.base_model, model.config._name_or_path)

    def widget(self, raw_rows, tokenizer, first_eval_rows):
        """Pairs: one text `text_a [SEP] text_b`, the way the model reads a pair (split back by token type where the
        tokenizer has them)."""
        if self.single_text:
            return super().widget(raw_rows, tokenizer, first_eval_rows)
        sep = f" {tokenizer.sep_token or '|'} "
        if raw_rows:  # as written
            return [{"text": sep.join((row["text_a"], row["text_b"]))} for row in raw_rows]
        widget = []
        for row in first_eval_rows(3):
            types = row.get("token_type_ids") or [0] * len(row["input_ids"])
            parts = [[i for i, t in zip(row["input_ids"], types) if t == side] for side in (0, 1)]
            texts = [tokenizer.decode(part, skip_special_tokens=True) for part in parts if part]
            widget.append({"text": sep.join(texts)})
        return widget or None

    @classmethod
    def load_trained(cls, name_or_path, field_name="model", **kwargs):
        return from_pretrained(AutoModelForSequenceClassification, name_or_path, field_name=field_name, **kwargs)

    @staticmethod
    def predict_logits(model, sides):
        return model(**sides[0]).logits.float()  # (B, 1) or (B, K)
