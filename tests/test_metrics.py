"""Threshold tuning and pair metrics against brute force with scikit-learn."""

import numpy as np
import pytest
from scipy.special import logit
from sklearn.metrics import f1_score
from transformers import EvalPrediction

from scl_trainer import best_f1_threshold, pair_classification_metrics


def brute_force_best_f1(labels, probabilities):
    """Try every distinct probability as the threshold (predict 1 when p >= t)."""
    return max(f1_score(labels, probabilities >= t, zero_division=0) for t in np.unique(probabilities))


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_reaches_the_brute_force_f1(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    probabilities = np.clip(labels * 0.3 + rng.random(300) * 0.7, 0, 1)
    threshold = best_f1_threshold(labels, probabilities)
    assert f1_score(labels, probabilities >= threshold) == pytest.approx(brute_force_best_f1(labels, probabilities))
    # Midpoint: strictly between two observed probabilities, never equal to one.
    assert threshold not in set(probabilities.tolist())


def test_metrics_at_half_and_at_tuned_threshold_are_labelled():
    labels = np.array([1, 1, 1, 0, 0, 0])
    probabilities = np.array([0.45, 0.4, 0.9, 0.3, 0.2, 0.1])  # all positives above 0.35, two below 0.5
    metrics = pair_classification_metrics(EvalPrediction(predictions=logit(probabilities)[:, None], label_ids=labels))
    assert metrics["f1_at_0.5"] == pytest.approx(f1_score(labels, probabilities >= 0.5))  # 0.5
    assert metrics["recall_at_0.5"] == pytest.approx(1 / 3)
    assert metrics["f1_at_threshold"] == 1.0
    assert 0.3 < metrics["threshold"] < 0.4
    assert metrics["roc_auc"] == 1.0
    assert metrics["accuracy_at_threshold"] == 1.0


def test_single_class_labels_do_not_crash():
    metrics = pair_classification_metrics(
        EvalPrediction(predictions=np.array([[0.1], [-0.3]]), label_ids=np.array([0, 0]))
    )
    assert np.isnan(metrics["roc_auc"])
    assert metrics["threshold"] == 0.5
    assert metrics["f1_at_threshold"] == 0.0
