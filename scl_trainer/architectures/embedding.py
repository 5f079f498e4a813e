"""The embedding classifier: a linear head on the encoder's own sentence embedding (the base model's pooling,
normalized), SupCon on that embedding over dropout views of every text, the head started from (and refit as) a logistic
regression on the embeddings: SupCon where it can work (SetFit's and FastFit's lesson).

- Single texts: the head reads the normalized embedding u; pairs (K >= 3 classes, e.g. entailment): it reads
  Sentence-BERT's classification features [u, v, |u - v|, u * v] of the two texts' embeddings.
- Every training batch holds `views` dropout views of each text (so every anchor has a positive, SimCSE's trick) and,
  with a class-pair sampler, every class of the batch at least twice; with `label_anchors`, one more member of each
  class: its name (or `label_descriptions`' text).
- At step 0 the head is a logistic regression fitted on the frozen training embeddings (the `frozen_lr` baseline);
  the untouched encoder with that head competes for the best checkpoint. With `refit_head` the head is fitted again on
  the current embeddings before every validation evaluation, so each checkpoint is scored as it is exported.
- Saved as a sentence encoder (`SentenceTransformer` and `AutoModel` load it; pooling + Normalize) with the head
  beside it (`classification_head.safetensors`) and the class names in `config.json`.
"""

import json
import os
from typing import TYPE_CHECKING

import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, DataCollatorWithPadding

from ..checkpoints import RESUME_FIX
from ..collators import SentencePairCollator
from ..errors import ConfigError
from ..export import read_sentence_pooling
from ..safe_load import read_tensors
from ..samplers import ClassPairSampler
from ..sentence_encoder import SentenceEncoder
from ..tokenization import side_inputs, tokenize_separately, tokenize_texts
from ..utils import from_pretrained, resolve_model_name_or_path
from .base import Architecture
from .cross_encoder import is_cross_encoder, refuse_cross_encoder

__all__ = ["EMBEDDING", "HEAD_WEIGHTS_NAME", "Embedding", "EmbeddingClassifier", "load_embedding_classifier"]

if TYPE_CHECKING:  # loading it at run time would load all of transformers' modeling (the CLI answers before)
    from transformers import PreTrainedModel

EMBEDDING = "embedding"  # the value of `pair_architecture` in a saved embedding classifier's config.json
HEAD_WEIGHTS_NAME = "classification_head.safetensors"  # the head's `weight` (C, F) and `bias` (C,)


class EmbeddingClassifier(SentenceEncoder):
    """A sentence encoder with a linear head on its normalized sentence embedding.

    `forward` takes a tokenized batch of single texts (`input_ids`, ...) or of pairs (`a_*`, `b_*`) and returns one
    row per text or pair, [logits | features], (B, C + F): the logits for the classification loss and the features the
    head reads (u, or [u, v, |u - v|, u * v]), for SupCon, from one call of one module.

    Args:
        encoder: the `transformers` encoder (`AutoModel`).
        pooler: `mean` or `cls_before_pooler` (the base model's own).
        num_logits: 1 for two classes (sigmoid), K for K >= 3 (softmax).
        pairs: the head reads pair features of two texts.
    """

    def __init__(self, encoder: "PreTrainedModel", pooler: str = "mean", num_logits: int = 1, pairs: bool = False):
        super().__init__(encoder, pooler, normalize=True)  # the head reads unit vectors; the export normalizes too
        self.pairs = pairs
        self.head = nn.Linear(encoder.config.hidden_size * (4 if pairs else 1), num_logits)
        self.config.pair_architecture = EMBEDDING  # what `predict` reads the model's architecture from
        self.config.text_input = "pair" if pairs else "single"

    @property
    def num_logits(self) -> int:
        return self.head.out_features

    def features(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """(N, H) float32 unit-length sentence embeddings."""
        return F.normalize(self.pool(input_ids, attention_mask, token_type_ids).float(), dim=-1)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, a_input_ids=None,
                a_attention_mask=None, b_input_ids=None, b_attention_mask=None, a_token_type_ids=None,
                b_token_type_ids=None) -> torch.Tensor:  # fmt: skip
        if self.pairs:
            u = self.features(a_input_ids, a_attention_mask, a_token_type_ids)  # (B, H)
            v = self.features(b_input_ids, b_attention_mask, b_token_type_ids)  # (B, H)
            x = torch.cat([u, v, (u - v).abs(), u * v], dim=-1)  # (B, 4H)
        else:
            x = self.features(input_ids, attention_mask, token_type_ids)  # (B, H)
        return torch.cat([self.head(x), x], dim=1)  # (B, C + F)

    def set_head(self, weight, bias) -> None:
        """Set the head to (C, F) weights and (C,) biases (e.g. a logistic regression's `coef_`, `intercept_`)."""
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(weight, dtype=self.head.weight.dtype))
            self.head.bias.copy_(torch.as_tensor(bias, dtype=self.head.bias.dtype))


def _declared_pooler(name_or_path: str, field_name: str) -> str:
    """The pooling a sentence-transformers model declares; a model without one is refused (its sentence embedding
    is not defined)."""
    pooling = read_sentence_pooling(resolve_model_name_or_path(name_or_path))
    if pooling is None:
        raise ConfigError(
            f"--{field_name} {name_or_path!r} declares no sentence pooling (no sentence-transformers modules.json "
            "with a Pooling module, mean or CLS): architecture=embedding classifies the model's own sentence "
            "embedding. Use a sentence-transformers model, or --architecture cross_encoder"
        )
    return "cls_before_pooler" if pooling.pooler == "cls" else pooling.pooler


def load_embedding_classifier(
    name_or_path: str, num_logits: int = 1, pairs: bool = False, field_name: str = "model_name_or_path", **kwargs
) -> EmbeddingClassifier:
    """An embedding classifier from a sentence encoder (hub id or folder; the offline copy when installed) with a new
    head, or a saved embedding classifier with its head (`classification_head.safetensors`; `num_logits` and `pairs`
    are then read from it). `kwargs` go to `from_pretrained`."""
    config = from_pretrained(AutoConfig, name_or_path, field_name)
    refuse_cross_encoder(config, name_or_path, field_name, "the embedding classifier starts from a sentence encoder")
    pooler = _declared_pooler(name_or_path, field_name)
    saved = getattr(config, "pair_architecture", None) == EMBEDDING
    head = None
    if saved:
        head = read_tensors(
            _model_file(name_or_path, HEAD_WEIGHTS_NAME), f"Save the model again, or pass another --{field_name}"
        )
        num_logits, pairs = head["weight"].shape[0], getattr(config, "text_input", "single") == "pair"
    encoder = from_pretrained(AutoModel, name_or_path, field_name, **kwargs)
    encoder.config._name_or_path = name_or_path  # the hub id in the card, not the path of an offline copy
    model = EmbeddingClassifier(encoder, pooler, num_logits, pairs)
    if head is not None:
        model.head.load_state_dict(head)
    return model


def _model_file(name_or_path: str, file_name: str) -> str:
    """A file of a model folder, or of a Hub repo (from the local cache, or the Hub when reachable)."""
    folder = resolve_model_name_or_path(name_or_path)
    if os.path.isdir(folder):
        path = os.path.join(folder, file_name)
        if not os.path.isfile(path):
            raise ConfigError(f"{folder}: no {file_name}: not a saved embedding classifier (its head is missing)")
        return path
    from huggingface_hub import hf_hub_download

    return hf_hub_download(name_or_path, file_name)


class Embedding(Architecture):
    """Classification of the encoder's own sentence embedding (single texts; pairs of K >= 3 classes through
    [u, v, |u - v|, u * v]). The contrastive term is SupCon with the class labels on the features the head reads, over
    `views` dropout views of every text (and the label anchors); see the module docstring."""

    name = EMBEDDING
    library_name = "sentence-transformers"
    untouched_model_competes = True  # the frozen encoder with its fitted head is the frozen_lr classifier

    @classmethod
    def check_config(cls, config):
        config.remove_unused_columns = False  # pair batches carry `a_*`, `b_*` columns no signature names alike

    @classmethod
    def check_task(cls, config, single_text, num_logits):
        if not single_text and num_logits == 1:
            raise ConfigError(
                "architecture=embedding classifies pairs of three or more classes ([u, v, |u - v|, u * v]); two "
                "classes of pairs are the bi-encoder's task: --architecture bi_encoder"
            )
        if config.label_anchors and not single_text:
            raise ConfigError("label_anchors: a class name is one text; anchors are for single texts, not pairs")
        unknown = sorted(set(config.label_texts) - set(config.label_names or []))
        if unknown:
            raise ConfigError(
                f"label_descriptions {config.label_descriptions}: {unknown} are not classes of the training data; "
                f"the classes are {config.label_names}"
            )

    @classmethod
    def check_base(cls, name_or_path, label_names=None, field_name="model_name_or_path"):
        config = from_pretrained(AutoConfig, name_or_path, field_name)
        refuse_cross_encoder(
            config, name_or_path, field_name, "the embedding classifier starts from a sentence encoder"
        )
        _declared_pooler(name_or_path, field_name)  # a model without a sentence embedding

    @classmethod
    def load(cls, name_or_path, label_names=None, positive_name="match", field_name="model_name_or_path"):
        cls.check_base(name_or_path, label_names, field_name)  # refused now, before the trainer builds the model
        return name_or_path  # built in `prepare_model`, once the input kind (texts or pairs) sets the head's width

    def prepare_model(self, model):
        if isinstance(model, str):
            model = load_embedding_classifier(model, self.num_logits, not self.single_text, field_name="model")
        elif not isinstance(model, SentenceEncoder) and hasattr(model, "get_input_embeddings"):
            if is_cross_encoder(model.config, model):
                raise ConfigError("architecture=embedding needs an encoder (AutoModel), got a cross-encoder")
            name = model.config._name_or_path
            model = EmbeddingClassifier(model, _declared_pooler(name, "model"), self.num_logits, not self.single_text)
        if not isinstance(model, EmbeddingClassifier):
            raise ConfigError(f"architecture=embedding needs an encoder or an EmbeddingClassifier, got {type(model)}")
        if model.num_logits != self.num_logits or model.pairs == self.single_text:
            raise ConfigError(
                f"the EmbeddingClassifier has {model.num_logits} logits for {'pairs' if model.pairs else 'texts'}; "
                f"this data needs {self.num_logits} for {'texts' if self.single_text else 'pairs'}"
            )
        model.config.class_names = self.args.label_names  # prediction writes class names
        return model

    def tokenize(self, dataset, tokenizer):
        if self.single_text:
            dataset, num_truncated = tokenize_texts(dataset, tokenizer, self.args.max_length)
            return dataset, num_truncated, "texts"
        dataset, num_truncated = tokenize_separately(dataset, tokenizer, self.args.max_length, "text_a", "text_b",
                                                     "label")  # fmt: skip
        return dataset, num_truncated, "pairs (a text of)"

    def collator(self, tokenizer):
        return DataCollatorWithPadding(tokenizer) if self.single_text else SentencePairCollator(tokenizer)

    def train_sampler(self, labels):
        return ClassPairSampler(labels, self.args.seed)

    def training_batch(self, inputs, labels, tokenizer):
        views = self.args.views  # rows i*V .. i*V + V-1: the views of text i (dropout makes them differ)
        inputs = {key: value.repeat_interleave(views, dim=0) for key, value in inputs.items()}
        labels = labels.repeat_interleave(views)
        anchors = self.anchor_texts()
        if not anchors:
            return inputs, labels
        names = list(anchors)
        encoded = tokenizer([anchors[name] for name in names], padding=True, truncation=True,
                            max_length=self.args.max_length, return_tensors="pt")  # fmt: skip
        length = max(inputs["input_ids"].shape[1], encoded["input_ids"].shape[1])
        pad = {"input_ids": tokenizer.pad_token_id or 0}
        widen = lambda key, t: F.pad(t, (0, length - t.shape[1]), value=pad.get(key, 0))  # noqa: E731
        device = labels.device
        inputs = {key: torch.cat([widen(key, value), widen(key, encoded[key].to(device))])
                  for key, value in inputs.items() if key in encoded}  # fmt: skip
        anchor_labels = torch.tensor([self.args.label_names.index(n) for n in names], device=device)
        return inputs, torch.cat([labels, anchor_labels.to(labels.dtype)])

    def anchor_texts(self) -> dict[str, str]:
        """Class name -> the text that stands for the class in every batch (`label_anchors`): its description, else
        its name."""
        if not self.args.label_anchors:
            return {}
        descriptions = self.args.label_texts
        return {name: descriptions.get(name, name) for name in self.args.label_names}

    def forward(self, model, batch):
        return model(**batch)  # (rows, C + F): [logits | features]

    def sentence_model(self, model):
        return model

    def fit_head(self, model, tokenizer, train) -> None:
        """The head := the logistic regression of `frozen_lr` on the training rows' current features."""
        from ..classification_data import encode_labels
        from ..metrics import frozen_lr

        labels = encode_labels(train, self.args.label_names or ["0", "1"])["label"]
        fit = frozen_lr(self.frozen_features(model, tokenizer, train), labels, self.args.seed)
        model.set_head(fit.coef_, fit.intercept_)

    def initialize_head(self, model, tokenizer, train):
        if train is not None:  # else (tokenized data) the head starts as initialised
            self.fit_head(model, tokenizer, train)

    def refresh_head(self, model, tokenizer, train):
        if self.args.refit_head and train is not None:
            self.fit_head(model, tokenizer, train)

    def store_head(self, model, output_dir):
        state = {key: value.detach().contiguous().cpu() for key, value in model.head.state_dict().items()}
        safetensors.torch.save_file(state, os.path.join(output_dir, HEAD_WEIGHTS_NAME))

    def load_head(self, model, config, checkpoint):
        model.head.load_state_dict(read_tensors(_model_file(checkpoint, HEAD_WEIGHTS_NAME), RESUME_FIX))

    def widget(self, raw_rows, tokenizer, first_eval_rows):
        return super().widget(raw_rows, tokenizer, first_eval_rows) if self.single_text else None

    def card_fields(self, model):
        return {
            "pooling": model.pooler.replace("cls_before_pooler", "CLS") + " + Normalize",
            "views": self.args.views,
            "refit_head": self.args.refit_head,
            "anchors": json.dumps(self.anchor_texts()) if self.args.label_anchors else None,
            "head_file": HEAD_WEIGHTS_NAME,
        }

    @classmethod
    def load_trained(cls, name_or_path, field_name="model", **kwargs):
        return load_embedding_classifier(name_or_path, field_name=field_name, **kwargs)

    @staticmethod
    def predict_logits(model, sides):
        return model(**side_inputs(sides))[:, : model.num_logits]  # (B, C)

    @staticmethod
    def num_logits_of(model):
        return model.num_logits
