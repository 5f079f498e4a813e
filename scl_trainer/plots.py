"""The pictures a run leaves in its output dir (matplotlib, headless): what a person looks at before trusting a model.

- `training_curves.png` (both methods): every logged training loss term and health value, and every validation
  metric, against the optimizer step;
- K-class (and single-text) classifiers: `confusion_matrix.png`, validation counts per true and predicted class;
- pairs: `validation_scores.png`, the validation match probabilities per class with the decision threshold, and the
  precision-recall curve with the chosen point;
- SimCSE: `cosine_histograms.png`, cosine similarities of similar pairs vs random pairs, before and after training.
"""

import math
import os

import numpy as np
from scipy.special import expit

__all__ = [
    "classifier_plots",
    "plot_confusion_matrix",
    "plot_cosine_histograms",
    "plot_training_curves",
    "plot_validation_scores",
]

SKIP = {
    "epoch",
    "step",
    "total_flos",
    "train_loss",
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
}
# Timing and bookkeeping (class counts, flags), not curves.
EVAL_SKIP = ("_runtime", "_samples_per_second", "_steps_per_second", "_model_preparation_time", "_positives",
             "_negatives", "_threshold_tuned", "_threshold_one_class")  # fmt: skip


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: files only
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(log_history: list[dict], path: str | os.PathLike) -> list[str]:
    """One small panel per logged value with at least two points (a curve): training values (loss terms, health) as
    lines, validation and test values as points at their steps; values logged once (a baseline, a final score) are
    in the metrics files, not drawn. Returns the names plotted (empty: no curve, no file written)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for log in log_history:
        step = log.get("step")
        for key, value in log.items():
            if key in SKIP or key.endswith(EVAL_SKIP) or not isinstance(value, (int, float)) or step is None:
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            points = series.setdefault(key, [])
            if points and points[-1][0] == step:  # the end-of-training re-evaluation of the kept weights
                continue
            points.append((step, float(value)))
    series = {name: points for name, points in series.items() if len(points) >= 2}
    if not series:
        return []
    kind = lambda name: 2 if name.startswith("test_") else 1 if name.startswith("eval_") else 0  # noqa: E731
    names = sorted(series, key=lambda k: (kind(k), k))
    columns = 4
    rows = math.ceil(len(names) / columns)
    plt = _pyplot()
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        steps, values = zip(*series[name])
        style = "o-" if kind(name) else "-"  # evaluations are points joined, training values lines
        ax.plot(steps, values, style, ms=3, lw=1, color=("tab:blue", "tab:orange", "tab:green")[kind(name)])
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    legend = ("training (blue, per logging step)", "validation (orange, per evaluation)", "test (green)")
    shown = [legend[k] for k in sorted({kind(name) for name in names})]
    fig.suptitle(", ".join(shown) + " against the optimizer step", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return names


def plot_validation_scores(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float, path: str | os.PathLike
) -> None:
    """Left: histograms of the match probability of the validation pairs per class, with the decision threshold.
    Right: the precision-recall curve with the point of that threshold."""
    from sklearn.metrics import precision_recall_curve, precision_score, recall_score

    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    bins = np.linspace(0.0, 1.0, 41)
    for label, color, name in ((0, "tab:blue", "no match"), (1, "tab:orange", "match")):
        left.hist(
            probabilities[labels == label],
            bins=bins,
            alpha=0.6,
            color=color,
            label=f"{name} ({(labels == label).sum()})",
        )
    left.axvline(threshold, color="black", ls="--", label=f"threshold {threshold:.3f}")
    left.set_xlabel("match probability")
    left.set_ylabel("validation pairs")
    left.legend(fontsize=8)
    if len(np.unique(labels)) == 2:
        precision, recall, _ = precision_recall_curve(labels, probabilities)
        right.plot(recall, precision, color="tab:green")
        predicted = (probabilities >= threshold).astype(int)
        p, r = (
            precision_score(labels, predicted, zero_division=0.0),
            recall_score(labels, predicted, zero_division=0.0),
        )
        right.plot([r], [p], "ko", label=f"threshold {threshold:.3f}: precision {p:.3f}, recall {r:.3f}")
        right.legend(fontsize=8, loc="lower left")
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    right.set_xlim(0, 1.02)
    right.set_ylim(0, 1.02)
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cosine_histograms(cosines: dict[str, dict[str, np.ndarray]], path: str | os.PathLike) -> None:
    """`cosines[panel][kind]`: one panel per model (e.g. the untouched and the exported one), kind `similar` (gold
    score in the top fifth of the scale) / `random` (a sentence with another pair's sentence)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(cosines), figsize=(5.5 * len(cosines), 3.6), squeeze=False)
    values = np.concatenate([v for kinds in cosines.values() for v in kinds.values() if v is not None and len(v)])
    low, high = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
    bins = np.linspace(low - 1e-3, high + 1e-3, 61)  # the range the values use, the same in every panel
    for ax, (moment, kinds) in zip(axes[0], cosines.items()):
        for kind, color in (("similar", "tab:orange"), ("random", "tab:blue")):
            values = kinds.get(kind)
            if values is not None and len(values):
                ax.hist(values, bins=bins, alpha=0.6, color=color, density=True,
                        label=f"{kind} pairs (n={len(values)}, mean {np.mean(values):.2f})")  # fmt: skip
        ax.set_title(moment, fontsize=10)
        ax.set_xlabel("cosine similarity")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion_matrix(labels, predicted, class_names: list[str], path: str | os.PathLike) -> None:
    """Validation rows per (true class, predicted class), counts and row shares (scikit-learn's display)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    size = 2.5 + 0.6 * len(class_names)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, labels=list(range(len(class_names))), display_labels=class_names, ax=ax, colorbar=False,
        xticks_rotation=45,
    )  # fmt: skip
    accuracy = float(np.mean(np.asarray(labels) == np.asarray(predicted)))
    ax.set_title(f"validation: {len(labels)} rows, accuracy {accuracy:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def classifier_plots(labels, logits, class_names: list[str] | None, threshold: float, output_dir: str) -> list[str]:
    """A classifier's validation picture, written into `output_dir`: with K logits the confusion matrix, with one
    the scores of both classes against the decision `threshold`. Returns the file names."""
    os.makedirs(output_dir, exist_ok=True)
    labels, logits = np.asarray(labels).reshape(-1).astype(int), np.asarray(logits, dtype=np.float64)
    if logits.ndim == 2 and logits.shape[1] > 1:
        plot_confusion_matrix(labels, logits.argmax(-1), class_names, os.path.join(output_dir, "confusion_matrix.png"))
        return ["confusion_matrix.png"]
    probabilities = expit(logits.reshape(-1))
    plot_validation_scores(labels, probabilities, threshold, os.path.join(output_dir, "validation_scores.png"))
    return ["validation_scores.png"]
