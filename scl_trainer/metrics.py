"""Evaluation metrics: one-logit (binary) classifiers, K-class classifiers (scikit-learn does the counting), their
baselines, and STS (scipy)."""

import numpy as np
from scipy.spatial.distance import pdist
from scipy.special import expit
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    matthews_corrcoef,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.metrics.pairwise import paired_cosine_distances
from transformers import EvalPrediction

from .labels import class_metric_keys

__all__ = [
    "below_baselines",
    "best_f1_threshold",
    "class_metrics",
    "classification_baselines",
    "frozen_lr",
    "majority_baseline",
    "multiclass_metrics",
    "pair_baselines",
    "pair_classification_metrics",
    "similar_and_random_cosines",
    "sts_metrics",
]


def best_f1_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The decision threshold t (predict 1 when p >= t) that maximises F1 on these labels.

    The candidates are the distinct predicted probabilities (`precision_recall_curve`; any score works, e.g. a
    cosine). The returned t lies halfway between the best candidate and the next lower score, so it gives the same
    predictions on this data while leaving a margin on both sides for new data.
    """
    if labels.sum() == 0:
        return 0.5  # no positive: F1 is 0 at every threshold, keep the neutral one
    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision[:-1] * recall[:-1] / (precision[:-1] + recall[:-1]))
    best = int(np.argmax(f1))
    lower = probabilities[probabilities < thresholds[best]]
    if lower.size:
        return float((thresholds[best] + lower.max()) / 2)
    return float(thresholds[best] - abs(thresholds[best]) / 2)  # below every score (any sign: cosines too)


def _at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """F1, precision, recall, accuracy and MCC of predicting 1 when score >= threshold."""
    predicted = (scores >= threshold).astype(int)
    return {
        "f1": f1_score(labels, predicted, zero_division=0.0),
        "precision": precision_score(labels, predicted, zero_division=0.0),
        "recall": recall_score(labels, predicted, zero_division=0.0),
        "accuracy": accuracy_score(labels, predicted),
        "mcc": matthews_corrcoef(labels, predicted),
        "macro_f1": f1_score(labels, predicted, average="macro", labels=[0, 1], zero_division=0.0),
    }


def _ranking(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC and average precision (the area under the precision-recall curve, sentence-transformers' primary
    classification metric) of `scores`; NaN with a single class in the labels (both are undefined then)."""
    if len(np.unique(labels)) < 2:
        return {"roc_auc": float("nan"), "average_precision": float("nan")}
    return {"roc_auc": roc_auc_score(labels, scores), "average_precision": average_precision_score(labels, scores)}


def pair_classification_metrics(eval_pred: EvalPrediction, min_per_class: int = 0) -> dict[str, float]:
    """F1, precision, recall, accuracy, MCC at 0.5 and at the F1-maximising threshold (keys say which), ROC-AUC and
    average precision.

    `predictions` are the (N, 1) logits of the one-logit head, `label_ids` the (N,) 0/1 labels. The threshold is tuned
    only when each class has at least `min_per_class` examples (else it stays 0.5; `threshold_tuned` says which).
    Also reported: the class counts, and `threshold_one_class` (1 when the threshold puts every example in one class).
    """
    probabilities = expit(np.asarray(eval_pred.predictions, dtype=np.float64).reshape(-1))
    labels = np.asarray(eval_pred.label_ids).reshape(-1).astype(int)
    positives, negatives = int(labels.sum()), int((labels == 0).sum())
    tuned = min(positives, negatives) >= max(min_per_class, 1)
    threshold = best_f1_threshold(labels, probabilities) if tuned else 0.5

    metrics = {}
    for name, t in (("0.5", 0.5), ("threshold", threshold)):
        metrics.update({f"{key}_at_{name}": value for key, value in _at_threshold(labels, probabilities, t).items()})
    metrics.update(_ranking(labels, probabilities))
    metrics["threshold"] = threshold
    metrics["threshold_tuned"] = float(tuned)
    metrics["threshold_one_class"] = float(len(np.unique(probabilities >= threshold)) == 1)
    metrics["positives"], metrics["negatives"] = positives, negatives
    return {key: float(value) for key, value in metrics.items()}


def pair_baselines(labels, cosines) -> dict[str, float]:
    """What a user has without training, on the same labelled pairs: the rows every pair evaluation stands beside.

    - `baseline_majority_*`: predict the class most frequent in `labels` for every pair (ties: the positive class):
      `f1` (of the positive class), `accuracy`, `mcc` (0), and `class`;
    - `baseline_zero_shot_*`: the untouched encoder's cosine similarity of the two texts as the score: `roc_auc`,
      `average_precision`, and `f1`, `accuracy`, `mcc` at the cosine `threshold` that maximises F1 on these same
      pairs (optimistic, like the model's own `f1_at_threshold`).

    `labels`: (N,) 0/1; `cosines`: (N,) cosine similarities of the pairs."""
    labels = np.asarray(labels).reshape(-1).astype(int)
    cosines = np.asarray(cosines, dtype=np.float64).reshape(-1)
    majority = int(labels.sum() * 2 >= len(labels))
    metrics = {f"baseline_majority_{k}": v for k, v in _at_threshold(labels, np.full(len(labels), majority), 1).items()
               if k in ("f1", "accuracy", "mcc")}  # fmt: skip
    metrics["baseline_majority_class"] = majority
    threshold = best_f1_threshold(labels, cosines) if labels.any() else 0.5
    zero_shot = {**_ranking(labels, cosines), **_at_threshold(labels, cosines, threshold), "threshold": threshold}
    metrics.update({f"baseline_zero_shot_{k}": v for k, v in zero_shot.items() if k not in ("precision", "recall")})
    return {key: float(value) for key, value in metrics.items()}


def class_metrics(labels, predicted, class_names: list[str]) -> dict[str, float]:
    """Accuracy, macro- and weighted-F1, and per class (`<metric>_<key>`, `labels.class_metric_keys`: unique)
    precision, recall and F1 of `predicted` class indices against `labels` (both (N,) in 0..K-1)."""
    labels, predicted = np.asarray(labels).reshape(-1), np.asarray(predicted).reshape(-1)
    indices = list(range(len(class_names)))
    metrics = {
        "accuracy": accuracy_score(labels, predicted),
        "macro_f1": f1_score(labels, predicted, average="macro", labels=indices, zero_division=0.0),
        "weighted_f1": f1_score(labels, predicted, average="weighted", labels=indices, zero_division=0.0),
    }
    keys = class_metric_keys(class_names)
    for name, score in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        values = score(labels, predicted, average=None, labels=indices, zero_division=0.0)
        metrics.update({f"{name}_{key}": value for key, value in zip(keys, values, strict=True)})
    return {key: float(value) for key, value in metrics.items()}


def multiclass_metrics(eval_pred: EvalPrediction, class_names: list[str]) -> dict[str, float]:
    """`class_metrics` of the argmax of the (N, K) logits; `label_ids` are the (N,) class indices."""
    logits = np.asarray(eval_pred.predictions, dtype=np.float64)
    return class_metrics(eval_pred.label_ids, logits.argmax(-1), class_names)


def majority_baseline(train_labels, labels, class_names: list[str]) -> dict[str, float]:
    """`baseline_majority_*`: the class most frequent in `train_labels` predicted for every row of `labels` (class
    indices): `accuracy`, `macro_f1`, `class`. When classes tie (a class-balanced sample: `--samples_per_class`), the
    scores are the mean over the tied classes, the expected score of a constant guess among them (taking the lower
    index would score the rarest validation class as often as the commonest); `class` is then the lowest tied index
    and `tied_classes` counts them."""
    counts = np.bincount(np.asarray(train_labels).reshape(-1), minlength=len(class_names))
    tied = np.flatnonzero(counts == counts.max())
    constant = [class_metrics(labels, np.full(len(labels), c), class_names) for c in tied]
    metrics = {f"baseline_majority_{k}": np.mean([row[k] for row in constant]) for k in ("accuracy", "macro_f1")}
    metrics["baseline_majority_class"], metrics["baseline_majority_tied_classes"] = tied[0], len(tied)
    return {key: float(value) for key, value in metrics.items()}


def frozen_lr(train_features, train_labels, seed: int = 0):
    """The logistic regression of `frozen_lr`, fit (scikit-learn, L2 with C = 1, as SetFit's head) on (N, D) features
    and (N,) class indices: the baseline, and the embedding classifier's head before training and at each refit."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, random_state=seed).fit(train_features, np.asarray(train_labels))


def classification_baselines(train_labels, labels, train_features, features, seed: int = 0) -> dict[str, float]:
    """What a user has without fine-tuning, on the same evaluation rows (`labels`, class indices):

    - `baseline_majority_*`: the training data's most frequent class for every row (`majority_baseline`);
    - `baseline_frozen_lr_*`: a scikit-learn logistic regression on the untouched encoder's vectors (`features`,
      (N, D); SetFit's head-only baseline), fit on the training rows (`frozen_lr`): `accuracy`, `macro_f1`,
      `weighted_f1`."""
    train_labels, labels = np.asarray(train_labels).reshape(-1), np.asarray(labels).reshape(-1)
    names = [str(i) for i in range(int(max(train_labels.max(), labels.max())) + 1)]
    metrics = majority_baseline(train_labels, labels, names)
    classifier = frozen_lr(train_features, train_labels, seed)
    frozen = class_metrics(labels, classifier.predict(features), names)
    metrics.update({f"baseline_frozen_lr_{k}": frozen[k] for k in ("accuracy", "macro_f1", "weighted_f1")})
    return {key: float(value) for key, value in metrics.items()}


def below_baselines(validation: dict[str, float], baselines: dict[str, float]) -> dict[str, str]:
    """The baselines a kept model's validation log (`eval_*`) is below, each with the warning that says so:
    `zero_shot` (ROC-AUC below the untouched encoder's cosine) and `frozen_lr` (macro-F1 below a logistic regression
    on the untouched encoder's vectors)."""
    below = {}
    final, zero_shot = validation.get("eval_roc_auc"), baselines.get("baseline_zero_shot_roc_auc")
    if final is not None and zero_shot is not None and final < zero_shot:
        below["zero_shot"] = (
            f"the trained model ranks the validation pairs worse than the untouched encoder's cosine similarity "
            f"(ROC-AUC {final:.4f} vs {zero_shot:.4f} zero-shot): the base model, used as a bi-encoder without "
            "training, is the better pair scorer here (try --architecture bi_encoder)"
        )
    final, frozen = validation.get("eval_macro_f1"), baselines.get("baseline_frozen_lr_macro_f1")
    if final is not None and frozen is not None and final < frozen:
        below["frozen_lr"] = (
            f"the trained classifier's validation macro-F1 {final:.4f} is below a logistic regression on the "
            f"untouched encoder's vectors ({frozen:.4f}): the frozen encoder with a linear head is the better "
            "classifier here (try --architecture embedding)"
        )
    return below


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


def similar_and_random_cosines(embeddings, scores, seed: int = 0) -> dict[str, np.ndarray]:
    """Cosine similarities of the pairs whose gold score is in the top fifth of the scale (`similar`) and of random
    pairs (each first sentence with the second sentence of another pair, a seeded permutation: `random`).

    `embeddings`: (N, 2, H) vectors of sentence1/sentence2; `scores`: (N,) gold scores."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    a, b = (embeddings[:, i] / np.linalg.norm(embeddings[:, i], axis=-1, keepdims=True) for i in (0, 1))
    similar = scores >= scores.min() + 0.8 * (scores.max() - scores.min())
    shuffled = np.random.default_rng(seed).permutation(len(b))
    return {"similar": (a * b).sum(-1)[similar], "random": (a * b[shuffled]).sum(-1)}
