import logging
import os

import numpy as np
import torch
from transformers import AutoModel, set_seed

from .base_trainer import BaseTrainer
from .checkpoints import RESUME_FIX
from .collators import SimCSECollator
from .errors import ConfigError, DataError
from .export import read_sentence_pooling
from .interpolation import interpolate_encoder, parse_interpolate
from .losses import SimCSELoss
from .metrics import similar_and_random_cosines, sts_metrics
from .plots import plot_cosine_histograms
from .safe_load import read_tensors
from .sentence_data import check_scored_pairs, check_sentences
from .sentence_encoder import sentence_ids_of
from .simcse_config import SimCSEConfig
from .simcse_model import MLP_WEIGHTS_NAME, SimCSEModel, check_dropout, default_pooler
from .tokenization import tokenize_sentences, tokenize_sts
from .utils import from_pretrained, resolve_model_name_or_path

__all__ = ["SimCSETrainer"]

logger = logging.getLogger(__name__)


class SimCSETrainer(BaseTrainer):
    r"""Unsupervised SimCSE: every sentence twice in the batch, dropout makes the two views differ, and
    [`SimCSELoss`] (cross-entropy over cosine similarity / temperature, the other view as target) pulls them together.

    Args:
        model: an encoder (`AutoModel`), a [`SimCSEModel`] around one, or a model id / path to load.
        args: a [`SimCSEConfig`].
        train_dataset: sentences, as a `text` column or already tokenized.
        eval_dataset: STS pairs (`sentence1`, `sentence2`, `score`, as from `scl_trainer.sentence_data.load_stsb`)
            or already tokenized (`a_*`, `b_*`, `labels`); evaluation reports Spearman/Pearson x100 of cosine
            similarity.
        processing_class: the tokenizer (loaded from the model's path when omitted).
        Other arguments as for `transformers.Trainer`.

    Logged per training step: `masked_duplicates` (false negatives masked per step, summed over processes) and
    `negatives_per_anchor`; per evaluation: STS `spearman`, `pearson`, `alignment`, `uniformity`. Scale
    (cross-process negatives, GradCache) comes from [`BaseTrainer`].

    The base model is the baseline, never silently made worse: its own pooling (`base_pooling`, from `modules.json`)
    is read; `evaluate_base` scores it; with `load_best_model_at_end` the untouched model is evaluated at step 0 and
    saved as `checkpoint-0`, a candidate for the best checkpoint (unless `allow_regression`); and `interpolate`
    (WiSE-FT, `choose_interpolation`) blends the kept weights with the base's by a coefficient chosen on in- and
    out-of-domain validation pairs. Saved: the encoder (`AutoModel`), the training-only MLP beside it and the
    sentence-transformers module files (`SentenceTransformer(output_dir)` embeds as evaluated).
    """

    config_class = SimCSEConfig
    _tag_names = ["scl_trainer", "simcse", "sentence-embeddings"]
    _max_length_fields = ("max_length", "eval_max_length")
    _summed_metrics = ("masked_duplicates",)
    _card_template = "simcse_model_card.md"
    _default_compute_metrics = staticmethod(sts_metrics)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.simcse_loss = SimCSELoss(temperature=self.args.temperature)
        self.base_pooling = read_sentence_pooling(resolve_model_name_or_path(self.model.config._name_or_path))
        self.normalize = bool(self.base_pooling and self.base_pooling.normalize)  # the export keeps Normalize
        self.base_metrics: dict[str, float] = {}  # from `evaluate_base` (train() starts a new log history)
        self.interpolation: dict | None = None  # `choose_interpolation`: the candidates' scores and the chosen `a`
        grid = parse_interpolate(self.args.interpolate)
        if self.args.interpolate == "auto" and self.base_pooling is None:  # WiSE-FT is for sentence-encoder bases
            logger.info(
                "interpolate auto: the base model declares no sentence pooling, so the trained weights are kept"
            )
            grid = None
        self.interpolation_grid = grid
        encoder = self.accelerator.unwrap_model(self.model).encoder  # the base weights, for WiSE-FT at the end
        self._base_state = {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()} if grid else None

    def _prepare_model(self, model, args: SimCSEConfig) -> SimCSEModel:
        if isinstance(model, str):
            name, model = model, from_pretrained(AutoModel, model, field_name="model")
            model.config._name_or_path = name  # the hub id in the card, not the path of an offline copy
        if args.pooler is None:  # the default: what the model already is, else the base model's own pooling
            own = isinstance(model, SimCSEModel)
            args.pooler = model.pooler if own else default_pooler(model.config._name_or_path)
        if not isinstance(model, SimCSEModel):
            set_seed(args.seed)  # the MLP's initialisation, reproducible like everything the Trainer seeds
            model = SimCSEModel(model, args.pooler, args.mlp_init)
        elif model.pooler != args.pooler:
            raise ConfigError(f"the SimCSEModel pools with {model.pooler!r} but args.pooler is {args.pooler!r}")
        check_dropout(model.encoder)
        return model

    def _default_collator(self, tokenizer, args):
        return SimCSECollator(tokenizer)

    def _tokenize(self, dataset, tokenizer, args: SimCSEConfig, name: str):
        columns = dataset.column_names  # checked like the loaders check files: no blank text, finite scores
        if "text" in columns:
            check_sentences(dataset, f"the {name} dataset")
            distinct = len(set(dataset["text"]))
            if distinct < 2:
                raise DataError(
                    f"the {name} dataset, column 'text': every sentence is the same; each one's only candidates "
                    "would be its own copies (masked as duplicates): the loss is 0 and nothing is learned"
                )
            if distinct < len(dataset) / 2 and self.is_world_process_zero():
                logger.warning(
                    f"the {name} dataset: {distinct} distinct sentences in {len(dataset)} rows; the copies of a "
                    "sentence in a batch are masked (mask_duplicates), so batches hold few negatives"
                )
            dataset, num_truncated = tokenize_sentences(dataset, tokenizer, args.max_length)
            return dataset, num_truncated, "sentences", "max_length"
        if {"sentence1", "sentence2", "score"} <= set(columns):
            check_scored_pairs(dataset, f"the {name} dataset")
            dataset, num_truncated = tokenize_sts(dataset, tokenizer, args.eval_max_length)
            return dataset, num_truncated, "pairs", "eval_max_length"
        raise DataError(
            f"SimCSETrainer: the {name} dataset needs a `text` column (training sentences) or `sentence1`, "
            f"`sentence2`, `score` (STS pairs); it has {columns}"
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "a_input_ids" in inputs:
            raise ValueError("SimCSETrainer trains on single sentences; STS pairs are for evaluation")
        embeddings = self._embed(model, inputs, lambda batch: model(**batch))  # (2B, H): rows 2i, 2i+1 = sentence i
        sentence_ids = sentence_ids_of(inputs) if self.args.mask_duplicates else None
        candidates, anchors, (sentence_ids,), scale = self._gather(embeddings, sentence_ids)
        loss, stats = self.simcse_loss(candidates, anchors, sentence_ids, return_stats=True)
        loss = loss * scale

        self._record(
            model,
            masked_duplicates=stats["masked_duplicates"].float(),
            negatives_per_anchor=stats["negatives_per_anchor"],
        )
        return (loss, {"embeddings": embeddings}) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Evaluation on STS pairs: the embeddings of both sentences, pooled as at inference (eval mode, no MLP),
        stacked as (N, 2, H) "predictions" for `compute_metrics`; the gold scores as labels; no loss."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            pairs = [model(**{k[2:]: v for k, v in inputs.items() if k.startswith(f"{side}_")}) for side in "ab"]
        return None, torch.stack(pairs, dim=1), inputs.get("labels")

    # ---- The base model: baseline rows and the step-0 candidate ----

    def evaluate_base(self, datasets: dict[str, object]) -> dict[str, float]:
        """Score the untouched model on each STS dataset (name -> data) with the pooling being trained
        (`base_<name>_*`) and, when the base model has its own sentence-transformers pooling, with that one
        (`base_native_<name>_*`, the baseline row: what the base model gives as it is)."""
        metrics = {}
        for name, dataset in datasets.items():
            metrics.update(self.evaluate(dataset, metric_key_prefix=f"base_{name}"))
            if self.base_pooling is not None:
                with self.accelerator.unwrap_model(self.model).pooling(self.base_pooling.pooler):
                    metrics.update(self.evaluate(dataset, metric_key_prefix=f"base_native_{name}"))
        self.base_metrics.update(metrics)
        if datasets:  # the untouched model as it is (its own pooling when it has one), for the cosine picture
            pooler = self.base_pooling.pooler if self.base_pooling is not None else None
            with self.accelerator.unwrap_model(self.model).pooling(pooler):
                self._cosines_before = (self.describe_pooling(), self._pair_cosines(next(iter(datasets.values()))))
        return metrics

    def choose_interpolation(self, datasets: dict, in_domain: str = "dev", out_of_domain: str | None = None) -> dict:
        """WiSE-FT after training: score (1 - a) x base + a x the weights in hand for every `a` of the grid on the
        STS `datasets` (name -> pairs), keep the `a` that `interpolation.choose_coefficient` picks (the best
        `in_domain` Spearman among the `a` not below the base on `out_of_domain`), and load its weights. Returns the
        flat metrics (`interpolation_a`, `interpolation_<a>_<name>_spearman`); the details are in
        `self.interpolation`, the log and the card. Nothing happens without a grid (`interpolate none`)."""
        if not self.interpolation_grid:
            return {}
        prepared = {name: self._prepare_dataset(data, self.processing_class, self.args, name)
                    for name, data in datasets.items()}  # fmt: skip
        score = lambda: {name: self.predict(data, metric_key_prefix="wise").metrics["wise_spearman"]  # noqa: E731
                         for name, data in prepared.items()}  # fmt: skip
        out_of_domain = out_of_domain if out_of_domain in datasets else None
        encoder = self.accelerator.unwrap_model(self.model).encoder
        chosen, scores = interpolate_encoder(encoder, self._base_state, self.interpolation_grid, score, in_domain,
                                             out_of_domain)  # fmt: skip
        self.interpolation = {
            "chosen": chosen,
            "scores": scores,
            "in_domain": in_domain,
            "out_of_domain": out_of_domain,
        }
        if self.is_world_process_zero():
            table = "; ".join(
                f"a={a:g}: " + ", ".join(f"{n} {v:.2f}" for n, v in s.items()) for a, s in scores.items()
            )
            logger.info(f"interpolation (WiSE-FT), Spearman x100 per a: {table}. Chosen: a={chosen:g}")
        flat = {f"interpolation_{a:g}_{n}_spearman": v for a, s in scores.items() for n, v in s.items()}
        return {"interpolation_a": chosen, **flat}

    def describe_export(self) -> str:
        """What the exported weights are, in words for the log: the base model (kept by the step-0 guard, or chosen
        by the interpolation at a = 0), the trained weights, or their blend."""
        chosen = self.interpolation["chosen"] if self.interpolation else 1.0
        if self.kept_base_model:
            return "the base model, unchanged (training never beat it on dev)"
        if chosen == 0:
            return "the base model's weights: the interpolation chose a = 0"
        return "trained" + (f", interpolated with the base at a = {chosen:g}" if chosen < 1 else "")

    def _pair_cosines(self, dataset) -> dict[str, np.ndarray]:
        """`similar_and_random_cosines` of a raw or tokenized STS dataset, with the current pooling."""
        dataset = self._prepare_dataset(dataset, self.processing_class, self.args, "plot")
        output = self.predict(dataset, metric_key_prefix="plot")
        return similar_and_random_cosines(output.predictions, output.label_ids)

    def _widget(self) -> list[dict] | None:
        """A real evaluation sentence against three others for the Hub's sentence-similarity widget."""
        raw = self.raw_eval_examples
        if raw:
            return [{"source_sentence": raw[0]["sentence1"], "sentences": [r["sentence2"] for r in raw]}]
        rows = self.first_eval_rows(3)
        decode = lambda ids: self.processing_class.decode(ids, skip_special_tokens=True)  # noqa: E731
        first = [{"source_sentence": decode(rows[0]["a_input_ids"])}] if rows else []
        return [{**w, "sentences": [decode(row["b_input_ids"]) for row in rows]} for w in first] or None

    def _method_plots(self, output_dir: str) -> list[str]:
        if self.eval_dataset is None or isinstance(self.eval_dataset, dict):
            return []
        cosines = {}
        if getattr(self, "_cosines_before", None) is not None:
            pooling, values = self._cosines_before
            cosines[f"untouched model ({pooling} pooling)"] = values
        kept = "the base model, kept" if self.kept_base_model else "trained"
        cosines[f"exported model ({kept}; {self.describe_pooling()} pooling)"] = self._pair_cosines(self.eval_dataset)
        if not self.is_world_process_zero():
            return []
        os.makedirs(output_dir, exist_ok=True)
        plot_cosine_histograms(cosines, os.path.join(output_dir, "cosine_histograms.png"))
        return ["cosine_histograms.png"]

    def _untouched_model_context(self):
        pooler = self.base_pooling.pooler if self.base_pooling is not None else None
        return self.accelerator.unwrap_model(self.model).pooling(pooler)

    def _on_keep_untouched_model(self) -> None:
        if self.base_pooling is not None:  # the base model is kept with the pooling it was evaluated with
            self.accelerator.unwrap_model(self.model).pooler = self.base_pooling.pooler

    def _describe_untouched_model(self) -> str:
        return f", with {self.describe_pooling()} pooling"

    def describe_pooling(self) -> str:
        pooler = self.accelerator.unwrap_model(self.model).pooler
        return pooler + (" + normalize" if self.normalize else "")

    # ---- Saving and loading: the encoder in the transformers layout, the training-only MLP beside it ----

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        self._save_sentence_encoder(output_dir, state_dict, self.args.eval_max_length, self.normalize)

    def _load_extra_state(self, checkpoint, model):
        if model.mlp is None:
            return
        path = os.path.join(checkpoint, MLP_WEIGHTS_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{checkpoint} has no {MLP_WEIGHTS_NAME}: it was not saved with the `cls` pooler's training-only MLP, "
                "so training cannot resume exactly from it"
            )
        model.mlp.load_state_dict(read_tensors(path, RESUME_FIX))

    # ---- Model card ----

    def _card_content(self) -> dict:
        args, model = self.args, self.accelerator.unwrap_model(self.model)
        scores = {k: v for k, v in self.base_metrics.items() if k.endswith(("_spearman", "_pearson"))}
        for log in self.state.log_history:
            for key, value in log.items():
                if key.endswith(("_spearman", "_pearson")):
                    scores[key] = value  # the last evaluation under each prefix
        kept = self.kept_eval_log()
        scores.update({k: kept[k] for k in ("eval_spearman", "eval_pearson") if k in kept})
        splits = {"eval": "validation", "test": "test"}
        eval_results = [
            {
                "split": splits[key.split("_")[0]],
                "metric": "spearmanr",
                "metric_name": "Spearman (cosine) x100",
                "value": value,
            }
            for key, value in scores.items()
            if key.endswith("_spearman") and key.split("_")[0] in splits
        ]
        return {
            "task_type": "sentence-similarity",
            "pipeline_tag": "sentence-similarity",
            "library_name": "sentence-transformers",
            "hyperparameters": {
                "pooler": args.pooler + (" (MLP in training only)" if args.pooler == "cls" else ""),
                "temperature": args.temperature,
                "max_length (training)": args.max_length,
                "eval_max_length (evaluation, inference)": args.eval_max_length,
            },
            "eval_results": eval_results,
            "widget": self._widget(),
            "log_keys": (["loss"], ["eval_spearman", "eval_pearson", "eval_alignment", "eval_uniformity"]),
            "pooling": "CLS" if model.pooler in ("cls", "cls_before_pooler") else "mean",
            "normalize": self.normalize,
            "base_pooling": self.base_pooling.describe() if self.base_pooling is not None else None,
            "kept_base_model": self.kept_base_model,
            "interpolation": self.interpolation,
            "eval_max_length": args.eval_max_length,
            "scores": {k.replace("_", " "): v for k, v in sorted(scores.items())},
        }
