import json
import logging
import os
from collections import defaultdict

import numpy as np
import safetensors.torch
import torch
from datasets import Dataset
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics.pairwise import paired_cosine_distances
from torch import nn
from transformers import (
    AutoModel,
    AutoTokenizer,
    EvalPrediction,
    PreTrainedModel,
    Trainer,
    TrainerCallback,
    set_seed,
)
from transformers import __version__ as transformers_version
from transformers.trainer import TRAINING_ARGS_NAME

from .data import tokenize_sentences, tokenize_sts
from .distributed import gather_with_grad, gather_without_grad
from .grad_cache import cached_forward
from .losses import SimCSELoss
from .model_card import markdown_table, render_model_card
from .scl_trainer import check_max_length
from .simcse_config import SimCSEConfig
from .utils import pop_step_metrics

__all__ = ["SimCSECollator", "SimCSEModel", "SimCSETrainer", "check_dropout", "sts_metrics"]

logger = logging.getLogger(__name__)

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
        raise ValueError(
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


class SimCSECollator:
    """Pads a list of tokenized examples into a batch.

    Training examples (`input_ids`, ...) are each put in the batch twice, in place: [a, a, b, b, ...], so that one
    forward pass over 2B rows gives two dropout views of every sentence on adjacent rows. Evaluation examples (STS
    pairs: `a_*`, `b_*` columns and `labels`) are padded side by side, once.
    """

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None):
        self.tokenizer = tokenizer
        self.pad_to_multiple_of = pad_to_multiple_of

    def _pad(self, features: list[dict]) -> dict:
        return self.tokenizer.pad(features, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")

    def __call__(self, features: list[dict]) -> dict:
        if "a_input_ids" in features[0]:
            batch = {}
            for side in ("a", "b"):
                padded = self._pad([{k[2:]: v for k, v in f.items() if k.startswith(f"{side}_")} for f in features])
                batch.update({f"{side}_{k}": v for k, v in padded.items()})
            if "labels" in features[0]:
                batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float32)
            return batch
        return self._pad([f for f in features for _ in range(2)])


def sts_metrics(eval_pred: EvalPrediction, positive_score: float = 4.0) -> dict[str, float]:
    """STS quality and embedding-space health.

    - `spearman`, `pearson`: correlation x100 between the cosine similarity of the two sentence vectors and the gold
      score;
    - `alignment`: mean squared distance between the normalized vectors of pairs with gold score >= 4 (lower: similar
      sentences closer), and `uniformity`: log of the mean of exp(-2 x squared distance) over all pairs of distinct
      sentences (lower: vectors spread over the sphere), Wang & Isola, ICML 2020, https://arxiv.org/abs/2005.10242,
      Eq. (2)-(3), as used in the SimCSE paper (Sec. 5).

    `predictions`: (N, 2, H) embeddings of sentence1/sentence2; `label_ids`: (N,) gold scores.
    """
    embeddings = np.asarray(eval_pred.predictions, dtype=np.float64)
    scores = np.asarray(eval_pred.label_ids, dtype=np.float64).reshape(-1)
    cosine = 1.0 - paired_cosine_distances(embeddings[:, 0], embeddings[:, 1])
    normalized = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
    positives = normalized[scores >= positive_score]
    alignment = float(((positives[:, 0] - positives[:, 1]) ** 2).sum(-1).mean()) if len(positives) else float("nan")
    sentences = np.unique(normalized.reshape(-1, normalized.shape[-1]), axis=0)
    uniformity = float(np.log(np.exp(-2.0 * pdist(sentences, "sqeuclidean")).mean())) if len(sentences) > 1 else 0.0
    return {
        "spearman": float(spearmanr(cosine, scores).statistic * 100),
        "pearson": float(pearsonr(cosine, scores).statistic * 100),
        "alignment": alignment,
        "uniformity": uniformity,
    }


def write_sentence_transformers_config(output_dir: str, pooler: str, hidden_size: int, max_seq_length: int) -> None:
    """The module files that make `SentenceTransformer(output_dir)` rebuild encoder + pooling (the layout that
    sentence-transformers 2.x to 6.x all read). No Normalize module: the vectors are the ones STS was scored with."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    pooling = {
        "word_embedding_dimension": hidden_size,
        "pooling_mode_cls_token": pooler in ("cls", "cls_before_pooler"),
        "pooling_mode_mean_tokens": pooler == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    files = {
        "modules.json": modules,
        "sentence_bert_config.json": {"max_seq_length": max_seq_length, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "__version__": {"transformers": transformers_version, "pytorch": torch.__version__},
            "similarity_fn_name": "cosine",
        },
        os.path.join("1_Pooling", "config.json"): pooling,
    }
    for name, content in files.items():
        path = os.path.join(output_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2)


class SimCSETrainer(Trainer):
    r"""Unsupervised SimCSE: every sentence twice in the batch, dropout makes the two views differ, and
    [`SimCSELoss`] (cross-entropy over cosine similarity / temperature, the other view as target) pulls them together.

    Args:
        model: an encoder (`AutoModel`), a [`SimCSEModel`] around one, or a model id / path to load.
        args: a [`SimCSEConfig`].
        train_dataset: sentences, as a `text` column or already tokenized.
        eval_dataset: STS pairs (`sentence1`, `sentence2`, `score`, as from `scl_trainer.data.load_stsb`) or already
            tokenized (`a_*`, `b_*`, `labels`); evaluation reports Spearman/Pearson x100 of cosine similarity.
        processing_class: the tokenizer (loaded from the model's path when omitted).
        Other arguments as for `transformers.Trainer`.

    Checkpoints and the final output hold the encoder in the plain `transformers` layout (`AutoModel` loads it),
    the sentence-transformers module files (`SentenceTransformer` loads it, with the pooling used at evaluation) and,
    for the `cls` pooler, the training-only MLP in `simcse_mlp.safetensors` (so training can resume exactly).
    """

    _tag_names = ["scl_trainer", "simcse", "sentence-similarity", "feature-extraction"]

    # `compute_loss` returns a per-batch mean: the Trainer must divide it by the gradient accumulation steps
    # (transformers 5.x otherwise infers "already scaled" when the model's forward takes **kwargs).
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model: PreTrainedModel | SimCSEModel | str,
        args: SimCSEConfig,
        data_collator=None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class=None,
        compute_metrics=None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers=(None, None),
        **kwargs,
    ):
        if not isinstance(args, SimCSEConfig):
            raise TypeError(f"SimCSETrainer needs a SimCSEConfig, got {type(args).__name__}")
        if isinstance(model, str):
            model = AutoModel.from_pretrained(model)
        if not isinstance(model, SimCSEModel):
            set_seed(args.seed)  # the MLP's initialisation, reproducible like everything the Trainer seeds
            model = SimCSEModel(model, args.pooler, args.mlp_init)
        elif model.pooler != args.pooler:
            raise ValueError(f"the SimCSEModel pools with {model.pooler!r} but args.pooler is {args.pooler!r}")
        check_dropout(model.encoder)
        if processing_class is None:
            processing_class = AutoTokenizer.from_pretrained(model.config._name_or_path)
        check_max_length(args.max_length, model.encoder, processing_class, "max_length")
        check_max_length(args.eval_max_length, model.encoder, processing_class, "eval_max_length")

        train_dataset = self._tokenize(train_dataset, processing_class, args, "train")
        if isinstance(eval_dataset, dict):
            eval_dataset = {
                name: self._tokenize(ds, processing_class, args, name) for name, ds in eval_dataset.items()
            }
        else:
            eval_dataset = self._tokenize(eval_dataset, processing_class, args, "eval")

        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator if data_collator is not None else SimCSECollator(processing_class),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=compute_metrics if compute_metrics is not None else sts_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        # Same reason as `loss_is_scaled_for_ga`, for the 5.x releases that decide from this flag alone.
        self.model_accepts_loss_kwargs = False
        self.simcse_loss = SimCSELoss(temperature=args.temperature)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}

    @staticmethod
    def _tokenize(dataset, tokenizer, args: SimCSEConfig, name: str):
        if dataset is None or not isinstance(dataset, Dataset):
            return dataset
        columns = dataset.column_names
        if "input_ids" in columns or "a_input_ids" in columns:
            return dataset
        if "text" in columns:
            dataset, num_truncated = tokenize_sentences(dataset, tokenizer, args.max_length)
            length = args.max_length
        elif {"sentence1", "sentence2", "score"} <= set(columns):
            dataset, num_truncated = tokenize_sts(dataset, tokenizer, args.eval_max_length)
            length = args.eval_max_length
        else:
            raise ValueError(
                f"SimCSETrainer: the {name} dataset needs a `text` column (training sentences) or `sentence1`, "
                f"`sentence2`, `score` (STS pairs); it has {columns}"
            )
        if num_truncated:
            logger.warning(
                f"{name} dataset: {num_truncated} of {len(dataset)} rows are longer than {length} tokens and were "
                "truncated"
            )
        return dataset

    @staticmethod
    def _sentence_ids(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(rows,) int64 id per row, equal for equal token sequences (padding ignored), the same on every process."""
        ids = [
            hash(tuple(row[mask.bool()].tolist())) for row, mask in zip(inputs["input_ids"], inputs["attention_mask"])
        ]
        return torch.tensor(ids, dtype=torch.int64, device=inputs["input_ids"].device)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "a_input_ids" in inputs:
            raise ValueError("SimCSETrainer trains on single sentences; STS pairs are for evaluation")
        mode = "train" if model.training else "eval"
        if model.training and self.args.contrastive_chunk_size:  # GradCache; backward replays the chunks
            embeddings = cached_forward(
                lambda chunk: model(**chunk),
                inputs,
                self.args.contrastive_chunk_size,
                no_sync=lambda: self.accelerator.no_sync(model),
            )
        else:
            embeddings = model(**inputs)  # (2B, H); rows 2i, 2i+1 are the two dropout views of sentence i
        sentence_ids = self._sentence_ids(inputs) if self.args.mask_duplicates else None

        # Negatives: this process's rows, or every process's rows (gathered with gradient). The loss is then this
        # process's share of the global loss, times the world size because DDP averages the gradients.
        scale, anchors, candidates = 1, None, embeddings
        if self.args.gather_across_devices and self.accelerator.num_processes > 1:
            candidates, anchors = gather_with_grad(embeddings)
            sentence_ids = gather_without_grad(sentence_ids) if sentence_ids is not None else None
            scale = self.accelerator.num_processes
        loss, stats = self.simcse_loss(candidates, anchors, sentence_ids, return_stats=True)
        loss = loss * scale

        self._metrics[mode]["masked_duplicates"].append(stats["masked_duplicates"].float())
        self._metrics[mode]["negatives_per_anchor"].append(stats["negatives_per_anchor"])
        return (loss, {"embeddings": embeddings}) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Adds the per-step SimCSE statistics of the steps since the last log: `masked_duplicates` (false negatives
        masked per step, summed over processes) and `negatives_per_anchor` (mean)."""
        mode = "train" if self.model.training else "eval"
        logs = {**logs, **pop_step_metrics(self._metrics[mode], self.accelerator, sum_keys=("masked_duplicates",))}
        super().log(logs, start_time)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """As `Trainer.evaluate`; a raw STS dataset (`sentence1`, `sentence2`, `score`) is tokenized first."""
        if isinstance(eval_dataset, Dataset):
            eval_dataset = self._tokenize(eval_dataset, self.processing_class, self.args, metric_key_prefix)
        return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Evaluation on STS pairs: the embeddings of both sentences, pooled as at inference (eval mode, no MLP),
        stacked as (N, 2, H) "predictions" for `compute_metrics`; the gold scores as labels; no loss."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            pairs = [model(**{k[2:]: v for k, v in inputs.items() if k.startswith(f"{side}_")}) for side in "ab"]
        return None, torch.stack(pairs, dim=1), inputs.get("labels")

    # ---- Saving and loading: the encoder in the transformers layout, the training-only MLP beside it ----

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        state_dict = state_dict if state_dict is not None else model.state_dict()
        encoder_state = {k.removeprefix("encoder."): v for k, v in state_dict.items() if k.startswith("encoder.")}
        model.encoder.save_pretrained(output_dir, state_dict=encoder_state)
        mlp_state = {k.removeprefix("mlp."): v.contiguous() for k, v in state_dict.items() if k.startswith("mlp.")}
        if mlp_state:
            safetensors.torch.save_file(mlp_state, os.path.join(output_dir, MLP_WEIGHTS_NAME))
        write_sentence_transformers_config(
            output_dir, model.pooler, model.config.hidden_size, self.args.eval_max_length
        )
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        model = self.accelerator.unwrap_model(model if model is not None else self.model)
        super()._load_from_checkpoint(resume_from_checkpoint, model=model.encoder)
        if model.mlp is not None:
            path = os.path.join(resume_from_checkpoint, MLP_WEIGHTS_NAME)
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{resume_from_checkpoint} has no {MLP_WEIGHTS_NAME}: it was not saved with the `cls` pooler's "
                    "training-only MLP, so training cannot resume exactly from it"
                )
            model.mlp.load_state_dict(safetensors.torch.load_file(path, device="cpu"))

    def _load_best_model(self) -> None:
        logger.info(f"Loading best model from {self.state.best_model_checkpoint} (score: {self.state.best_metric}).")
        self._load_from_checkpoint(self.state.best_model_checkpoint)

    # ---- Model card ----

    def create_model_card(
        self,
        model_name: str | None = None,
        dataset_name: str | None = None,
        tags: str | list[str] | None = None,
        **kwargs,
    ) -> None:
        """Write `README.md` in `output_dir`: base model, training corpus, hyperparameters, STS scores (every
        `*_spearman` evaluation logged: dev of the kept checkpoint, test, and the base model if it was evaluated)
        and usage with sentence-transformers and plain transformers. Also called by `push_to_hub`."""
        if not self.is_world_process_zero():
            return
        args, model = self.args, self.accelerator.unwrap_model(self.model)
        model_name = model_name or os.path.basename(os.path.normpath(args.output_dir))
        base_model = kwargs.get("finetuned_from") or model.config._name_or_path
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        repo = self.hub_model_id or model_name

        scores = {}
        for log in self.state.log_history:
            for key, value in log.items():
                if key.endswith(("_spearman", "_pearson")):
                    scores[key] = value  # the last evaluation under each prefix
        if self.state.best_model_checkpoint and args.load_best_model_at_end:
            best_step = int(self.state.best_model_checkpoint.rstrip("/").rsplit("-", 1)[-1])
            best = [log for log in self.state.log_history if log.get("step") == best_step and "eval_spearman" in log]
            if best:
                scores["eval_spearman"], scores["eval_pearson"] = best[-1]["eval_spearman"], best[-1]["eval_pearson"]
        hyperparameters = {
            "pooler": args.pooler + (" (MLP in training only)" if args.pooler == "cls" else ""),
            "temperature": args.temperature,
            "max_length (training)": args.max_length,
            "eval_max_length (evaluation, inference)": args.eval_max_length,
            "learning_rate": args.learning_rate,
            "lr_scheduler_type": args.lr_scheduler_type.value,
            "warmup_steps": args.warmup_steps,
            "weight_decay": args.weight_decay,
            "per_device_train_batch_size (sentences; 2x rows)": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "number of processes": args.world_size,
            "optimizer steps trained": self.state.global_step,
            "epochs trained": round(self.state.epoch or 0.0, 3),
            "seed": args.seed,
        }
        pooling = "CLS" if args.pooler in ("cls", "cls_before_pooler") else "mean"
        usage = f"""```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{repo}")  # encoder + {pooling} pooling, as evaluated
embeddings = model.encode(["A man is playing a guitar.", "Someone plays an instrument."])
print(model.similarity(embeddings, embeddings))
```

With plain transformers (`AutoModel` loads the encoder; the training-only MLP is not part of it):

```python
import torch
from transformers import AutoModel, AutoTokenizer

tokenizer, encoder = AutoTokenizer.from_pretrained("{repo}"), AutoModel.from_pretrained("{repo}")
batch = tokenizer(["A man is playing a guitar."], padding=True, truncation=True, max_length={args.eval_max_length},
                  return_tensors="pt")
with torch.no_grad():
    hidden = encoder(**batch).last_hidden_state
"""
        usage += (
            "embedding = hidden[:, 0]  # [CLS]\n```"
            if pooling == "CLS"
            else "mask = batch['attention_mask'].unsqueeze(-1)\nembedding = (hidden * mask).sum(1) / mask.sum(1)\n```"
        )
        score_rows = {k.replace("_", " "): v for k, v in sorted(scores.items())}
        sections = {
            "Usage": usage,
            "Training data": f"`{dataset_name or 'unspecified'}`: "
            f"{len(self.train_dataset) if self.train_dataset is not None else 'n/a'} unique sentences, each seen "
            "twice per batch with different dropout masks (no labels).",
            "Training procedure": "Unsupervised SimCSE (Gao et al. 2021): cross-entropy over the cosine similarities "
            "of a batch of 2B dropout views divided by the temperature, the other view of the same sentence as the "
            "target, self-similarity masked.\n\n" + markdown_table(hyperparameters, ("hyperparameter", "value")),
            "Evaluation": (
                "Spearman and Pearson correlation x100 between cosine similarity and the gold scores of the STS "
                "benchmark (`eval` = the dev split that picked this checkpoint, `test` = the test split, `base_*` = "
                "the model before training).\n\n" + markdown_table(score_rows, ("score", "value"))
                if scores
                else "No evaluation was run."
            ),
            "Framework versions": f"scl_trainer, transformers {transformers_version}, torch {torch.__version__}",
        }
        card = render_model_card(
            title=model_name,
            summary=f"Sentence embeddings fine-tuned from `{base_model}` with unsupervised SimCSE (scl_trainer's "
            "`SimCSETrainer`).",
            base_model=base_model,
            datasets=[dataset_name] if dataset_name else [],
            pipeline_tag="sentence-similarity",
            tags=[*self._tag_names, "sentence-transformers", *tags],
            sections=sections,
            library_name="sentence-transformers",
        )
        with open(os.path.join(args.output_dir, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)
