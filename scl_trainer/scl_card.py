"""The model card content of `SCLTrainer` runs: the template variables of `templates/scl_model_card.md` (the prose
is there), the model-index results and the widget."""

import math

__all__ = ["scl_card_content"]


# (metric key, model-index metric type, its name) of the card's model-index, per task.
MODEL_INDEX = {
    "pair_binary": (
        ("f1_at_0.5", "f1", "F1 at 0.5"),
        ("f1_at_threshold", "f1", "F1 at the tuned threshold"),
        ("accuracy_at_0.5", "accuracy", "Accuracy at 0.5"),
        ("roc_auc", "roc_auc", "ROC-AUC"),
        ("average_precision", "average_precision", "Average precision"),
    ),
    "binary": (
        ("accuracy_at_0.5", "accuracy", "Accuracy at 0.5"),
        ("accuracy_at_threshold", "accuracy", "Accuracy at the tuned threshold"),
        ("macro_f1_at_0.5", "f1", "Macro F1 at 0.5"),
        ("macro_f1_at_threshold", "f1", "Macro F1 at the tuned threshold"),
        ("roc_auc", "roc_auc", "ROC-AUC"),
    ),
    "multiclass": (("accuracy", "accuracy", "Accuracy"), ("macro_f1", "f1", "Macro F1")),
}


def scl_card_content(trainer) -> dict:
    args, evaluation = trainer.args, trainer.kept_eval_log()
    model = trainer.accelerator.unwrap_model(trainer.model)
    threshold = getattr(model.config, "decision_threshold", 0.5)
    skip = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch", "step"}
    validation = {k.removeprefix("eval_"): v for k, v in evaluation.items() if k not in skip}
    task = "pair_binary" if trainer.pair_binary else "binary" if trainer.num_logits == 1 else "multiclass"
    tuned = bool(validation.get("threshold_tuned", 0.0))  # else the `*_at_threshold` values are those at 0.5
    eval_results = [
        {"split": "validation", "metric": metric, "metric_name": name, "value": validation[key]}
        for key, metric, name in MODEL_INDEX[task]
        if key in validation and math.isfinite(validation[key]) and (tuned or "_at_threshold" not in key)
    ]
    eval_keys = ["eval_loss", "eval_f1_at_0.5", "eval_f1_at_threshold", "eval_threshold", "eval_roc_auc"]
    if task != "pair_binary":
        eval_keys = ["eval_loss", "eval_accuracy", "eval_macro_f1"] if task == "multiclass" else [
            "eval_loss", "eval_accuracy_at_threshold", "eval_macro_f1_at_threshold", "eval_threshold"]  # fmt: skip
    architecture = trainer.architecture
    class_weights = None  # (class name, weight) with `class_weight=balanced`
    if trainer.class_weights is not None:
        names = args.label_names or ["0", "1"]
        class_weights = [(name, f"{weight:.3f}") for name, weight in zip(names, trainer.class_weights.tolist())]
    return {
        "task_type": "text-classification",
        "pipeline_tag": architecture.pipeline_tag,
        "library_name": architecture.library_name,
        "hyperparameters": {
            "architecture": args.architecture,
            "scl_weight": args.scl_weight,
            "scl_temperature": args.scl_temperature,
            "class_weight": args.class_weight,
            "max_length": args.max_length,
        },
        "class_weights": class_weights,
        "eval_results": eval_results,
        "widget": architecture.widget(trainer.raw_eval_examples, trainer.processing_class, trainer.first_eval_rows),
        "log_keys": (
            [
                "loss",
                "ce" if task == "multiclass" else "bce",
                *architecture.extra_term_names,
                architecture.contrastive_term,
            ],
            eval_keys,
        ),
        "task": task,
        "single_text": trainer.single_text,
        "class_names": args.label_names,
        "below_frozen_lr": trainer.below_frozen_lr,
        "threshold": f"{threshold:.4f}",
        "threshold_tuned": tuned,
        "tuned_on": getattr(model.config, "threshold_tuned_on", None),
        "min_per_class": args.threshold_min_per_class,
        "evaluation": validation,
        "baselines": trainer.baselines,
        "below_zero_shot": trainer.below_zero_shot,
        "kept_base_model": trainer.kept_base_model,
        "architecture": args.architecture,
        "normalized_baseline": architecture.sentence_model(model).normalize,  # frozen_lr's vectors
        **architecture.card_fields(model),
    }
