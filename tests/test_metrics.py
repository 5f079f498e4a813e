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


def test_baselines_against_a_hand_computation():
    """5 pairs, 3 positive. Majority = positive: precision 3/5, recall 1, F1 = 2 * 0.6 / 1.6 = 0.75, accuracy 0.6,
    MCC 0 (a constant prediction). Cosines: positives 0.9, 0.4, 0.7; negatives 0.5, -0.2. Ranking: of the 6
    positive-negative pairs, the positive scores higher in 5 (0.4 < 0.5 is the one loss): ROC-AUC 5/6. AP, by
    descending cosine 0.9+ 0.7+ 0.5- 0.4+ -0.2-: precision at each positive 1/1, 2/2, 3/4: AP = (1 + 1 + 0.75) / 3.
    Best F1 over thresholds: all 5 in (t <= -0.2): 0.75; t in (-0.2, 0.4]: P 3/4, R 1 -> F1 6/7; t in (0.4, 0.5]:
    P 2/3, R 2/3 -> 2/3: the tuned threshold lies in (-0.2, 0.4) with F1 6/7, accuracy 4/5, MCC (3*1 - 1*0) /
    sqrt(4 * 3 * 2 * 1) = 3 / sqrt(24)."""
    from scl_trainer.metrics import pair_baselines

    rows = pair_baselines([1, 0, 1, 1, 0], [0.9, 0.5, 0.4, 0.7, -0.2])
    assert rows["baseline_majority_class"] == 1
    assert rows["baseline_majority_f1"] == pytest.approx(0.75)
    assert rows["baseline_majority_accuracy"] == pytest.approx(0.6)
    assert rows["baseline_majority_mcc"] == 0.0
    assert rows["baseline_zero_shot_roc_auc"] == pytest.approx(5 / 6)
    assert rows["baseline_zero_shot_average_precision"] == pytest.approx(2.75 / 3)
    assert rows["baseline_zero_shot_f1"] == pytest.approx(6 / 7)
    assert -0.2 < rows["baseline_zero_shot_threshold"] <= 0.4
    assert rows["baseline_zero_shot_accuracy"] == pytest.approx(0.8)
    assert rows["baseline_zero_shot_mcc"] == pytest.approx(3 / np.sqrt(24))


def test_a_best_threshold_at_the_lowest_negative_score_keeps_every_pair():
    """All pairs positive: the threshold must lie below the lowest score, also when it is a negative cosine."""
    assert best_f1_threshold(np.array([1, 1]), np.array([-0.4, -0.1])) < -0.4


def test_average_precision_and_mcc_in_the_pair_metrics():
    labels = np.array([1, 0, 1, 1, 0])
    probabilities = np.array([0.9, 0.5, 0.4, 0.7, 0.2])
    metrics = pair_classification_metrics(EvalPrediction(predictions=logit(probabilities)[:, None], label_ids=labels))
    assert metrics["average_precision"] == pytest.approx(2.75 / 3)
    # at 0.5: predicted 1, 1, 0, 1, 0 -> TP 2, FP 1, FN 1, TN 1: MCC (2 - 1) / sqrt(3 * 3 * 2 * 2) = 1 / 6
    assert metrics["mcc_at_0.5"] == pytest.approx(1 / 6)


def test_majority_baseline_of_a_class_balanced_sample_is_the_mean_over_the_tied_classes():
    from scl_trainer.metrics import classification_baselines

    # Training: 2 rows of each of 3 classes (a --samples_per_class draw); validation: 1 x class 0, 3 x 1, 6 x 2.
    train, validation = np.array([0, 0, 1, 1, 2, 2]), np.array([0] + [1] * 3 + [2] * 6)
    features = lambda labels: np.eye(3)[labels]  # noqa: E731
    rows = classification_baselines(train, validation, features(train), features(validation))
    # Constant guesses: accuracy 0.1, 0.3, 0.6 -> mean 1/3; macro-F1 = (2p / (1 + p)) / 3 for a class of share p.
    assert rows["baseline_majority_accuracy"] == pytest.approx(1 / 3)
    expected_f1 = np.mean([2 * p / (1 + p) / 3 for p in (0.1, 0.3, 0.6)])
    assert rows["baseline_majority_macro_f1"] == pytest.approx(expected_f1)
    assert (rows["baseline_majority_class"], rows["baseline_majority_tied_classes"]) == (0, 3)
    # A unique majority in training is the constant guess itself.
    rows = classification_baselines(np.array([0, 2, 2, 1]), validation, features(np.array([0, 2, 2, 1])),
                                    features(validation))  # fmt: skip
    assert rows["baseline_majority_accuracy"] == pytest.approx(0.6)
    assert (rows["baseline_majority_class"], rows["baseline_majority_tied_classes"]) == (2, 1)
    assert rows["baseline_frozen_lr_accuracy"] == pytest.approx(1.0)
