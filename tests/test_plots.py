"""The training-curves picture: which logged values become panels, in which order, and how they are drawn."""

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scl_trainer.plots import plot_training_curves


def test_training_curves_panels_and_styles(tmp_path, monkeypatch):
    log_history = [
        {"step": 0, "eval_spearman": 86.7, "eval_runtime": 1.0},
        {"step": 10, "loss": 0.5, "grad_norm": 1.0, "learning_rate": 3e-5},
        {"step": 10, "eval_spearman": 84.0},
        {"step": 20, "loss": 0.2, "grad_norm": 0.5, "learning_rate": 1e-5},
        {"step": 20, "eval_spearman": 85.0},
        {"step": 20, "eval_spearman": 85.0},  # the end-of-training re-evaluation: not a second point
        {"step": 20, "test_spearman": 82.0, "test_runtime": 2.0},  # scored once, at the end
        {"step": 20, "train_loss": 0.3, "train_runtime": 9.0, "total_flos": 1.0},
    ]
    drawn = []  # one (steps, values, style, color) per panel, in the order of the returned names
    original = Axes.plot

    def record(ax, x, y, style, **kwargs):
        drawn.append((list(x), list(y), style, kwargs["color"]))
        return original(ax, x, y, style, **kwargs)

    titles = []
    original_title = Figure.suptitle
    monkeypatch.setattr(Axes, "plot", record)
    monkeypatch.setattr(Figure, "suptitle", lambda fig, text, **kw: titles.append(text) or original_title(fig, text))
    names = plot_training_curves(log_history, tmp_path / "curves.png")
    # A value logged once (the end-of-training test score, a baseline) is no curve: not a panel of its own.
    assert names == ["grad_norm", "learning_rate", "loss", "eval_spearman"]
    assert (tmp_path / "curves.png").stat().st_size > 0
    by_name = dict(zip(names, drawn, strict=True))
    assert by_name["loss"] == ([10, 20], [0.5, 0.2], "-", "tab:blue")
    assert by_name["eval_spearman"] == ([0, 10, 20], [86.7, 84.0, 85.0], "o-", "tab:orange")
    assert (
        titles[-1]
        == "training (blue, per logging step), validation (orange, per evaluation) against the optimizer step"
    )

    # A test score measured before and after training is a curve, and the title names it.
    log_history.insert(0, {"step": 0, "test_spearman": 80.0})
    drawn.clear()
    names = plot_training_curves(log_history, tmp_path / "curves.png")
    assert names[-1] == "test_spearman" and drawn[-1] == ([0, 20], [80.0, 82.0], "o-", "tab:green")
    assert titles[-1].endswith("validation (orange, per evaluation), test (green) against the optimizer step")


def test_nothing_to_draw_writes_no_file(tmp_path):
    log_history = [{"step": 0, "eval_roc_auc": 0.7, "baseline_majority_f1": 0.8}, {"step": 5, "loss": 0.4}]
    assert plot_training_curves(log_history, tmp_path / "curves.png") == []
    assert not (tmp_path / "curves.png").exists()
