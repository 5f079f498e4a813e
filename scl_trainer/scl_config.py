import json
import logging
import math
from dataclasses import dataclass, field, fields

from .architectures import ARCHITECTURES, architecture_class
from .base_config import BaseConfig, check_temperature
from .errors import ConfigError
from .labels import class_metric_keys, label_key
from .rendering import check_line_field

CLASS_WEIGHTS = ("none", "balanced")
PAIR_LOSSES = ("bce", "cosent", "online_contrastive")
# Fields that only one architecture reads: set for another one they would do nothing, so they are refused.
ARCHITECTURE_FIELDS = {"views": "embedding", "label_anchors": "embedding", "label_descriptions": "embedding",
                       "refit_head": "embedding", "pair_loss": "bi_encoder", "cosent_scale": "bi_encoder",
                       "pair_margin": "bi_encoder"}  # fmt: skip

__all__ = ["SCLConfig"]

logger = logging.getLogger(__name__)


@dataclass
class SCLConfig(BaseConfig):
    r"""Configuration for [`SCLTrainer`]: a classification loss + `scl_weight` x SupCon on the final-layer [CLS].

    Two classes: BCE on a one-logit head (and a decision threshold tuned on validation); K >= 3 classes
    (`label_names`): softmax cross-entropy on K logits. Gunel et al.'s `(1 - lambda) CE + lambda SCL` is
    `(1 - lambda) x (CE + scl_weight x SCL)` with `scl_weight = lambda / (1 - lambda)` (lambda 0.9: `scl_weight` 9).
    The factor `1 - lambda` only scales the gradient, which AdamW's update normalises away (up to its epsilon and
    the gradient clipping at `max_grad_norm`), so the same learning rate applies.

    Defaults follow the CCF QA-matching seed (`SupervisedContrastiveLearning(alpha=0.1, T=0.2)`). The fields shared
    with SimCSE (`max_length`, `gather_across_devices`, `contrastive_chunk_size`) are in [`BaseConfig`]; every
    `TrainingArguments` field is available as well (`label_names` takes the meaning below: the trainer's batches
    always carry their targets as `labels`).
    """

    architecture: str = field(
        default="cross_encoder",
        metadata={
            "help": "`cross_encoder` (the seed's design: both texts read together, a one-logit head on the pair, "
            "SupCon on its [CLS]) or `bi_encoder` (one shared encoder embeds each text alone in the base model's own "
            "pooling; probability = sigmoid(scale x cos(u, v) + bias); the contrastive term is supervised SimCSE "
            "over the batch's sentences with the negative pairs' texts as hard negatives; the untouched encoder "
            "competes for the best checkpoint) or `embedding` (a linear head on the encoder's own normalized "
            "sentence embedding, started as a logistic regression on the frozen embeddings; SupCon on that embedding "
            "over `views` dropout views of every text; pairs of K >= 3 classes through [u, v, |u - v|, u * v]; the "
            "untouched encoder with its fitted head competes for the best checkpoint).",
            "choices": list(ARCHITECTURES),
        },
    )
    pair_loss: str = field(
        default="bce",
        metadata={
            "help": "architecture=bi_encoder: what trains the encoder on the pairs. `bce` (BCE on scale x cos + "
            "bias); `cosent` (CoSENT: every positive pair of the batch ranked above every negative one by its "
            "cosine, log(1 + sum exp(s (cos_neg - cos_pos))), scale `cosent_scale`); `online_contrastive` (cosine "
            "distance, a margin `pair_margin` for negatives, only the pairs the batch gets wrong, summed). With the "
            "ranking losses BCE still fits the scale and bias (on the detached cosine), so the probability, the "
            "tuned threshold and `predict` work as with `bce`; `scl_weight` adds the contrastive term to any of them.",
            "choices": list(PAIR_LOSSES),
        },
    )
    cosent_scale: float = field(default=20.0, metadata={"help": "pair_loss=cosent: the scale s (> 0)."})
    pair_margin: float = field(
        default=0.5, metadata={"help": "pair_loss=online_contrastive: the cosine-distance margin of negatives (> 0)."}
    )
    views: int = field(
        default=2,
        metadata={
            "help": "architecture=embedding: dropout views of every text in each training batch (>= 1); with 2 or "
            "more every SupCon anchor has a positive (its own other view), SimCSE's trick."
        },
    )
    label_anchors: bool = field(
        default=False,
        metadata={
            "help": "architecture=embedding, single texts: embed each class's name (or its `label_descriptions` "
            "text) as one more member of that class in every training batch (AncSetFit's label anchors)."
        },
    )
    label_descriptions: str | None = field(
        default=None,
        metadata={
            "help": "architecture=embedding with label_anchors: a JSON file of an object class name -> the text that "
            "stands for the class (default: the class name itself)."
        },
    )
    refit_head: bool = field(
        default=True,
        metadata={
            "help": "architecture=embedding: before every validation evaluation (and so for the exported model), "
            "fit the head again as a logistic regression on the training rows' current embeddings (SetFit's head), "
            "so every checkpoint is scored as it is exported. False: the head is trained by the classification loss "
            "from its step-0 fit."
        },
    )
    scl_weight: float = field(
        default=0.1,
        metadata={"help": "Weight of the supervised contrastive term: loss = bce + scl_weight * supcon (>= 0)."},
    )
    scl_temperature: float = field(
        default=0.2, metadata={"help": "Temperature of the SupCon softmax over cosine similarities (> 0)."}
    )

    class_weight: str = field(
        default="none",
        metadata={
            "help": "`none` (every training row counts the same) or `balanced`: the classification loss (BCE or CE) "
            "weighs a row of class k by n / (K x n_k), computed from the training data (scikit-learn's `balanced` "
            "class weights), so that rare classes count as much as common ones; the loss is the weighted mean "
            "sum(w_y x loss) / sum(w_y), as torch's cross-entropy `weight`. SupCon is not weighted.",
            "choices": list(CLASS_WEIGHTS),
        },
    )
    threshold_min_per_class: int = field(
        default=30,
        metadata={
            "help": "Tune the decision threshold on the validation data only when each class has at least this many "
            "examples there; with fewer the threshold stays 0.5 (a warning names the counts). A threshold tuned on "
            "a handful of pairs fits them, not new data."
        },
    )

    # TrainingArguments fields with another meaning or a different default.
    label_names: list[str] | None = field(
        default=None,
        metadata={
            "help": "The class names, in index order (logit i is class i): three or more for a K-class classifier; "
            "two for a binary one, the second being the positive class. Datasets may give labels as these names or "
            "as indices. Default: the training data's labels, sorted (integers numerically); two classes when they "
            "are 0/1."
        },
    )
    metric_for_best_model: str | None = field(
        default="f1_at_threshold",
        metadata={
            "help": "Metric that picks the best checkpoint (with `load_best_model_at_end`). Default: validation F1 at "
            "the tuned decision threshold, the threshold that prediction uses."
        },
    )

    def __post_init__(self):
        architecture = architecture_class(self.architecture)  # an unknown one is a one-line error naming the choices
        defaults = {f.name: f.default for f in fields(self) if f.name in ARCHITECTURE_FIELDS}
        for name, owner in ARCHITECTURE_FIELDS.items():
            if self.architecture != owner and getattr(self, name) != defaults[name]:
                raise ConfigError(f"SCLConfig: {name} is a setting of architecture={owner}, not {self.architecture}")
        if self.pair_loss not in PAIR_LOSSES:
            raise ConfigError(f"SCLConfig: pair_loss must be one of {', '.join(PAIR_LOSSES)}, got {self.pair_loss!r}")
        for name in ("cosent_scale", "pair_margin"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"SCLConfig: {name} must be a finite number > 0, got {getattr(self, name)}")
        if not self.views >= 1:
            raise ConfigError(f"SCLConfig: views must be >= 1 (dropout views of every text), got {self.views}")
        self.label_texts = self._read_label_descriptions()
        if self.label_names is not None:
            for name in self.label_names:  # a class name is a field of `predict`'s output lines
                check_line_field(str(name), "SCLConfig", None, "label_names", "class name")
            keys = [label_key(str(name).strip()) for name in self.label_names]  # compared as labels are (`labels`)
            repeated = sorted({name for name, key in zip(self.label_names, keys, strict=True) if keys.count(key) > 1})
            if len(self.label_names) < 2 or repeated:
                raise ConfigError(
                    f"SCLConfig: label_names must name two classes or more, each once, got {self.label_names}"
                )
        architecture.check_config(self)
        if not self.scl_weight >= 0:
            raise ConfigError(f"SCLConfig: scl_weight must be >= 0, got {self.scl_weight}")
        if not math.isfinite(self.scl_weight):
            raise ConfigError(f"SCLConfig: scl_weight must be finite (0 to turn SupCon off), got {self.scl_weight}")
        if not self.scl_temperature > 0:
            raise ConfigError(f"SCLConfig: scl_temperature must be > 0, got {self.scl_temperature}")
        check_temperature("SCLConfig", "scl_temperature", self.scl_temperature)
        if self.class_weight not in CLASS_WEIGHTS:
            raise ConfigError(
                f"SCLConfig: class_weight must be one of {', '.join(CLASS_WEIGHTS)}, got {self.class_weight!r}"
            )
        if not self.threshold_min_per_class >= 1:
            raise ConfigError(f"SCLConfig: threshold_min_per_class must be >= 1, got {self.threshold_min_per_class}")
        super().__post_init__()

    def _read_label_descriptions(self) -> dict[str, str]:
        """`label_descriptions` read now (a bad file is an error before anything loads): class name -> text."""
        if self.label_descriptions is None:
            return {}
        if not self.label_anchors:
            raise ConfigError("SCLConfig: label_descriptions are the texts of the label anchors: pass --label_anchors")
        try:
            with open(self.label_descriptions, encoding="utf-8") as f:
                texts = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(f"label_descriptions {self.label_descriptions}: not readable JSON ({e})") from None
        if not isinstance(texts, dict) or not all(isinstance(v, str) and v.strip() for v in texts.values()):
            raise ConfigError(
                f"label_descriptions {self.label_descriptions}: must be a JSON object of class name -> non-empty text"
            )
        return {str(name): text for name, text in texts.items()}

    def validation_metrics(self, num_logits: int | None = None) -> set[str]:
        """The metric names (without `eval_`) an evaluation reports. One logit (two classes): the metrics at 0.5 and
        at the tuned threshold, ROC-AUC, AP; K logits: accuracy, macro and weighted F1 and the per-class ones of
        `label_names`. `num_logits` None: not known yet (the classes may be read from the data), both sets."""
        known = {"loss", "supcon", "contrastive"}
        if num_logits in (None, 1):
            at = {
                f"{m}_at_{t}"
                for m in ("f1", "precision", "recall", "accuracy", "mcc", "macro_f1")
                for t in ("0.5", "threshold")
            }
            known |= {"bce", "roc_auc", "average_precision", "threshold", *at, *PAIR_LOSSES}
        if num_logits is None or num_logits > 1:
            known |= {"ce", "accuracy", "macro_f1", "weighted_f1"}
            for key in class_metric_keys(self.label_names or []):  # as `class_metrics` names them
                known |= {f"{m}_{key}" for m in ("precision", "recall", "f1")}
        return known

    def fit_to_task(self, num_logits: int, name: str = "SCLConfig") -> set[str]:
        """Once the classes are known (the recipes, before training; `compare`, before the first run; the trainer):
        the default metric_for_best_model (two classes' tuned F1) becomes macro-F1 for K classes, `macro_f1` becomes
        two classes' `macro_f1_at_threshold` (the macro-F1 of the model's decisions), and a metric this
        task does not report is refused now (a two-class metric for K classes, or the reverse). Returns the metric
        names the run's evaluations report."""
        metric = (self.metric_for_best_model or "").removeprefix("eval_")
        if num_logits > 1 and metric == "f1_at_threshold":
            self.metric_for_best_model = "macro_f1"  # the default names a two-class metric
            logger.info("metric_for_best_model: macro_f1 (K classes have no tuned threshold)")
        if num_logits == 1 and metric == "macro_f1":  # a config for any number of classes (e.g. your own file)
            self.metric_for_best_model = "macro_f1_at_threshold"  # two classes: the exported decision's macro-F1
            logger.info(
                "metric_for_best_model: macro_f1_at_threshold (two classes: at the model's decision threshold)"
            )
        known = self.validation_metrics(num_logits)
        self._check_metric(name, known)
        return known

    def untouched_model_competes(self) -> bool:
        # E.g. a bi-encoder's untouched encoder (with its fitted scale and bias) already scores pairs; a
        # cross-encoder's new head does not.
        return ARCHITECTURES[self.architecture].untouched_model_competes
