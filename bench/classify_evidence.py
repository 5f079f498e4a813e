"""Does SupCon help a classifier, at how many examples per class? CE alone vs CE + SupCon (the seed's setting and Gunel
et al.'s) on SST-2 and TREC (8 and 64 examples per class, all data), CR and SUBJ (8 and 64 per class) and SICK
entailment pairs (64 per class, all), cross-encoder and embedding architectures, beside the majority class, a logistic
regression on the frozen encoder (SetFit's head-only baseline) and SetFit.

Rows, all on the same validation rows (the held-out 10% of the training file, stratified, seeded like every draw):
- `majority`: the most frequent class of the seed's training rows (on a class-balanced subsample: the mean over the
  tied classes); `frozen_lr`: from every run's baselines (a logistic regression on the seed's training subsample, the
  untouched MiniLM's vectors in its own pooling; for SICK pairs [u, v, |u - v|, u * v]);
- `ce`: `recipes/supcon_classify.py` with `scl_weight=0`; `scl_seed`: + SupCon at the seed's (0.1, T 0.2);
  `scl_gunel`: Gunel et al.'s lambda 0.9, T 0.3 (`scl_weight` 9 = 0.9 / 0.1); `scl_chosen`: of the two SupCon arms,
  the one with the higher mean validation macro-F1 in that regime (chosen on validation, as a user would);
- `scl_balanced` (all of TREC and SICK, whose classes are imbalanced): `scl_seed` with `class_weight=balanced`;
- `emb_ce`, `emb_scl`, `emb_scl_anchors` (the few-shot regimes): `--architecture embedding` (a head on the encoder's
  own normalized embedding, started as the frozen logistic regression; two dropout views of every text, the whole
  training set in one batch at 8 per class) with `scl_weight` 0, 1 (T 0.1) and 1 with the class names as label
  anchors; learning rate and `refit_head` fixed by `bench/embedding_pilot.py` on pilot seeds, before these runs;
- `setfit`: SetFit 1.2.0 (contrastive fine-tuning of the same MiniLM on pairs, then a logistic-regression head) on the
  same training rows, scored on the same validation rows; skipped with the reason when `setfit` is not installed.

The default of the `supcon_classify` configs, a rule stated before the embedding runs: the arm with the highest mean
over the eight few-shot regimes of its mean validation macro-F1 (each regime counts once) among `ce`, `scl_chosen` and
the three embedding arms; its architecture and settings become the configs' defaults.

One `compare` per regime (`bench/results/classify_evidence/<regime>/`); settings fixed before any run, nothing tuned
on results. Metrics: accuracy and macro-F1 (two classes: at 0.5, the model's argmax). All selected and measured on
validation (no test split here): absolute numbers are optimistic for every trained arm alike; differences are paired.

    python bench/classify_evidence.py [--regimes trec-8 ...] [--setfit true]

Resumes: finished runs are skipped. Writes bench/results/classify_evidence.json, .md and .png.
"""

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from results_io import (
    RESULTS_DIR,
    extra_flag_tokens,
    paired_rows,
    plot_rows,
    save_markdown,
    save_result,
    summarize_rows,
)
from transformers import HfArgumentParser

from scl_trainer.compare import find_recipe, load_recipe
from scl_trainer.compare import main as compare_main
from scl_trainer.metrics import majority_baseline
from scl_trainer.records import DEFAULT_DATA_DIR

REPO = Path(__file__).resolve().parent.parent
ARMS = {"ce": "scl_weight=0", "scl_seed": "scl_weight=0.1,scl_temperature=0.2",
        "scl_gunel": "scl_weight=9,scl_temperature=0.3"}  # fmt: skip
# The embedding architecture (issue 30), fixed before its runs: the pilot's choice (bench/results/embedding_pilot.md)
# of learning rate and refit_head; temperature 0.1 and weight 1 from the prototype; one batch of 64 texts (x 2 views).
EMBEDDING = (
    "architecture=embedding,per_device_train_batch_size=64,warmup_steps=0.1,learning_rate={lr},refit_head={refit}"
)
EMB_ARMS = {"emb_ce": "scl_weight=0", "emb_scl": "scl_weight=1,scl_temperature=0.1",
            "emb_scl_anchors": "scl_weight=1,scl_temperature=0.1,label_anchors=true"}  # fmt: skip
EMB_STEPS = {8: 60, 64: 120}  # optimizer steps per run, evaluated (and checkpointed) twice after step 0
# Class-weighted CE + SupCon, an arm added after the first all-data runs (TREC: F1 0 on its rarest class in every run)
# in the regimes whose classes are imbalanced; it is not among the arms `scl_chosen` chooses from.
EXTRA_ARMS = {"scl_balanced": "scl_weight=0.1,scl_temperature=0.2,class_weight=balanced"}
FEW, ALL = [1, 2, 3, 4, 5], [1, 2, 3]
# Budgets: few-shot runs take more epochs over fewer rows, evaluated about 6 times; all data runs one epoch.


def regime(dataset: str, per_class: int | None, epochs: int, eval_steps: int, extra_arms: tuple = (),
           arms: tuple = tuple(ARMS), embedding: bool = False) -> dict:  # fmt: skip
    seeds = FEW if per_class else ALL
    return {"dataset": dataset, "per_class": per_class, "seeds": seeds, "extra_arms": list(extra_arms),
            "arms": list(arms), "embedding": embedding,
            "flags": {"num_train_epochs": epochs, "eval_steps": eval_steps}}  # fmt: skip


NEW = ("ce",)  # CR and SUBJ (added with the embedding arms): the cross-encoder with CE, for the time budget
REGIMES = {
    "sst2-8": regime("sst2", 8, 30, 5, embedding=True),
    "sst2-64": regime("sst2", 64, 10, 16, embedding=True),
    "sst2-all": regime("sst2", None, 1, 42),
    "trec-8": regime("trec", 8, 30, 15, embedding=True),
    "trec-64": regime("trec", 64, 10, 40, embedding=True),
    "cr-8": regime("cr", 8, 30, 5, arms=NEW, embedding=True),
    "cr-64": regime("cr", 64, 10, 16, arms=NEW, embedding=True),
    "subj-8": regime("subj", 8, 30, 5, arms=NEW, embedding=True),
    "subj-64": regime("subj", 64, 10, 16, arms=NEW, embedding=True),
    "trec-all": regime("trec", None, 1, 31, extra_arms=("scl_balanced",)),
    "sick-64": regime("sick", 64, 10, 20),
    "sick-all": regime("sick", None, 1, 28, extra_arms=("scl_balanced",)),
}
COMMON = {"per_device_train_batch_size": 16, "eval_strategy": "steps", "save_strategy": "steps"}
METRICS = {"accuracy": "accuracy", "macro_f1": "macro_f1"}
ROW_ORDER = ["majority", "frozen_lr", "setfit", "ce", "scl_seed", "scl_gunel", "scl_chosen", "scl_balanced",
             *EMB_ARMS, "best"]  # fmt: skip
PILOT = RESULTS_DIR / "embedding_pilot.json"


@dataclass
class ClassifyEvidenceArguments:
    regimes: list[str] = field(default_factory=lambda: list(REGIMES), metadata={"help": f"Of {list(REGIMES)}."})
    setfit: bool = field(default=True, metadata={"help": "Run the SetFit peer (needs `pip install setfit`)."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding text_classification/, sick/."})
    output_dir: str = field(default="bench/results/classify_evidence", metadata={"help": "Where the runs go."})
    seeds: list[int] | None = field(default=None, metadata={"help": "Override every regime's seeds (a quick check)."})
    extra_flags: list[str] = field(
        default_factory=list, metadata={"help": "More recipe settings for every run, e.g. `max_steps=2` (a check)."}
    )


def study_config(dataset: str) -> str:
    """The config every run of a regime starts from (the arms override it): the cross-encoder settings the study was
    designed on. The single-text datasets' `<dataset>_minilm.yaml` is the users' default, which the study's rule
    (`default_rule`) sets; the study's base is its cross-encoder copy `<dataset>_minilm_cross_encoder.yaml`, so that
    a changed default never invalidates the recorded runs."""
    name = "sick_minilm.yaml" if dataset == "sick" else f"{dataset}_minilm_cross_encoder.yaml"
    return f"recipes/supcon_classify/{name}"


def metric_keys(dataset: str) -> dict[str, str]:
    """eval_results.json keys of accuracy and macro-F1: two classes report them at 0.5 (and at the tuned threshold)."""
    suffix = "_at_0.5" if dataset in ("sst2", "cr", "subj") else ""
    return {metric: f"eval_{key}{suffix}" for metric, key in METRICS.items()}


def embedding_common() -> str:
    """What every embedding arm shares: the architecture, one batch, the pilot's learning rate and refit_head."""
    pilot = json.loads(PILOT.read_text(encoding="utf-8"))
    chosen = pilot["variants"][pilot["chosen"]]
    lr = next(v for k, _, v in (s.partition("=") for s in chosen.split(",")) if k == "learning_rate")
    refit = "false" if "refit_head=false" in chosen else "true"
    return EMBEDDING.format(lr=lr, refit=refit)


def embedding_arms(per_class: int) -> dict[str, str]:
    """The embedding arms' settings in a few-shot regime: the shared settings, the step budget, the arm's loss."""
    steps = EMB_STEPS[per_class]
    common = f"{embedding_common()},max_steps={steps},eval_steps={steps // 2},save_steps={steps // 2}"
    return {arm: f"{common},{settings}" for arm, settings in EMB_ARMS.items()}


def compare_argv(args: ClassifyEvidenceArguments, name: str) -> list[str]:
    regime = REGIMES[name]
    flags = {**COMMON, **regime["flags"], "save_steps": regime["flags"]["eval_steps"]}
    arms = {**{arm: ARMS[arm] for arm in regime["arms"]}, **{arm: EXTRA_ARMS[arm] for arm in regime["extra_arms"]}}
    if regime["embedding"]:
        arms.update(embedding_arms(regime["per_class"]))
    argv = [
        "--recipe", "supcon_classify", "--config", study_config(regime["dataset"]),
        "--output_dir", str(Path(args.output_dir) / name), "--prune_runs", "true",
        *[token for arm, settings in arms.items() for token in ("--arm", f"{arm}:{settings}")],
        "--seeds", *map(str, args.seeds or regime["seeds"]),
        *[token for key in metric_keys(regime["dataset"]).values() for token in ("--metric", key)],
        "--data_dir", args.data_dir, "--disable_tqdm", "true", "--save_total_limit", "1",
        *[token for key, value in flags.items() for token in (f"--{key}", str(value))],
    ]  # fmt: skip
    argv += extra_flag_tokens(args.extra_flags)
    if regime["per_class"] is not None:
        argv += ["--samples_per_class", str(regime["per_class"])]
    return argv


def regime_splits(args: ClassifyEvidenceArguments, name: str, seed: int) -> tuple[dict, list[str]]:
    """The recipe's own training subsample and validation rows for `seed`, and the class names."""
    regime = REGIMES[name]
    recipe = load_recipe(find_recipe("supcon_classify"))
    argv = ["--config", study_config(regime["dataset"]), "--data_dir", args.data_dir,
            "--seed", str(seed)]  # fmt: skip
    if regime["per_class"] is not None:
        argv += ["--samples_per_class", str(regime["per_class"])]
    script_args, _, training_args = recipe.parser().parse_args_and_config(argv)
    splits, _ = recipe.load_splits(script_args, training_args, seed)
    return splits, training_args.label_names


def run_setfit(args: ClassifyEvidenceArguments, name: str, seed: int, splits: dict, names: list[str]) -> dict:
    """One SetFit run on the recipe's own split and subsample for `seed` (`regime_splits`): SetFit's defaults (batch
    16, 20 pair iterations, one epoch, logistic-regression head) in the few-shot regimes; with all the data one pair
    iteration (20 would be ~20x the training rows in pairs, hours on 2 CPU cores)."""
    record_path = Path(args.output_dir) / name / "setfit" / f"seed{seed}.json"
    if record_path.is_file():
        return json.loads(record_path.read_text(encoding="utf-8"))
    from setfit import SetFitModel, Trainer, TrainingArguments

    from scl_trainer.metrics import class_metrics
    from scl_trainer.utils import resolve_model_name_or_path

    regime = REGIMES[name]
    pairs = "text_a" in splits["train"].column_names

    def as_text(rows) -> list[str]:  # SetFit reads one text: a pair as `a [SEP] b`
        return [f"{a} [SEP] {b}" for a, b in zip(rows["text_a"], rows["text_b"])] if pairs else rows["text"]

    train = splits["train"].map(lambda rows: {"text": as_text(rows)}, batched=True).select_columns(["text", "label"])
    start = time.perf_counter()
    model = SetFitModel.from_pretrained(resolve_model_name_or_path("sentence-transformers/all-MiniLM-L6-v2"))
    run_dir = record_path.parent / f"seed{seed}-run"
    setfit_args = TrainingArguments(output_dir=str(run_dir), batch_size=16, num_epochs=1, seed=seed,
                                    num_iterations=20 if regime["per_class"] else 1, report_to="none")  # fmt: skip
    trainer = Trainer(model=model, args=setfit_args, train_dataset=train)
    trainer.train()
    predicted = model.predict(as_text(splits["validation"]), as_numpy=True)
    metrics = class_metrics(splits["validation"]["label"], np.asarray(predicted).astype(int), names)
    record = {"seed": seed, "metrics": {m: metrics[key] for m, key in METRICS.items()},
              "wall_time_s": time.perf_counter() - start, "train_rows": len(train)}  # fmt: skip
    shutil.rmtree(run_dir, ignore_errors=True)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def regime_rows(args: ClassifyEvidenceArguments, name: str) -> dict:
    """Per row and metric the per-seed values of one regime, from its compare report and the SetFit records."""
    report = compare_main(compare_argv(args, name))
    keys = metric_keys(REGIMES[name]["dataset"])
    seeds, values, wall, train_time, frozen = report["seeds"], {}, {}, {}, {}
    for run in report["runs"]:
        # frozen_lr: from the embedding runs where they ran (the model's own normalized embedding, what SetFit's head
        # reads and what their step 0 is); the cross-encoder runs of earlier versions used unnormalized vectors.
        source = "embedding" if run["arm"].startswith("emb_") else "other"
        for metric, key in keys.items():
            values.setdefault(run["arm"], {}).setdefault(metric, {})[run["seed"]] = run["metrics"].get(key)
            value = run["metrics"].get(f"baseline_frozen_lr_{metric}")
            if value is not None:
                frozen.setdefault(source, {}).setdefault(metric, {})[run["seed"]] = value
        wall[run["arm"]] = wall.get(run["arm"], 0.0) + run["wall_time_s"]
        train_time.setdefault(run["arm"], {})[run["seed"]] = run.get("train_runtime_s")
    values["frozen_lr"] = frozen.get("embedding") or frozen["other"]
    # The majority row from each seed's splits themselves (on a class-balanced sample: the mean over the tied classes),
    # so that it does not depend on which library version wrote a run's record; SetFit trains on the same splits.
    splits = {seed: regime_splits(args, name, seed) for seed in seeds}
    for seed, (split, names) in splits.items():
        scores = majority_baseline(split["train"]["label"], split["validation"]["label"], names)
        for metric in METRICS:
            values.setdefault("majority", {}).setdefault(metric, {})[seed] = scores[f"baseline_majority_{metric}"]
    # Chosen on validation: the SupCon setting with the higher mean macro-F1 in this regime.
    mean_f1 = lambda arm: np.mean(list(values[arm]["macro_f1"].values()))  # noqa: E731
    supcon_arms = [arm for arm in ("scl_seed", "scl_gunel") if arm in values]
    chosen = max(supcon_arms, key=mean_f1) if supcon_arms else None
    if chosen:
        values["scl_chosen"] = values[chosen]
    # Our best arm in this regime by mean validation macro-F1 (a choice on the same validation data: optimistic).
    best = max([arm for arm in values if arm in ARMS or arm in EMB_ARMS or arm in EXTRA_ARMS], key=mean_f1)
    values["best"] = values[best]
    setfit_note = None
    if args.setfit:
        try:
            for seed in seeds:
                record = run_setfit(args, name, seed, *splits[seed])
                for metric in METRICS:
                    values.setdefault("setfit", {}).setdefault(metric, {})[seed] = record["metrics"][metric]
                wall["setfit"] = wall.get("setfit", 0.0) + record["wall_time_s"]
                train_time.setdefault("setfit", {})[seed] = record["wall_time_s"]  # load + train + predict
        except ImportError as e:
            setfit_note = f"SetFit not run: {e} (pip install 'scl_trainer[bench]')"
    return {"seeds": seeds, "values": values, "wall_time_s": wall, "chosen": chosen, "setfit_note": setfit_note,
            "best": best, "train_time_s": train_time}  # fmt: skip


TARGET_REGIMES = ["sst2-8", "sst2-64", "trec-8", "trec-64"]  # where the issue sets a target


def target(differences: list[dict]) -> dict:
    """The issue's target on validation, per metric: CE + SupCon (`scl_chosen`) at least equal to CE (mean paired
    difference >= 0) and above both peers (the t interval of the difference to `frozen_lr` and to `setfit` above 0).
    A peer without runs is None, and the target is then not met."""
    verdict = {}
    for metric in METRICS:
        found = {d["pair"]: d for d in differences if d["metric"] == metric}
        checks = {
            "ce": found["scl_chosen - ce"]["mean"] >= 0 if "scl_chosen - ce" in found else None,
            **{peer: found[f"scl_chosen - {peer}"]["t_ci"][0] > 0 if f"scl_chosen - {peer}" in found else None
               for peer in ("frozen_lr", "setfit")},
        }  # fmt: skip
        verdict[metric] = {"checks": checks, "met": all(checks.values())}
    return verdict


def embedding_target(name: str, rows: dict, differences: list[dict]) -> dict | None:
    """Issue 30's targets on validation macro-F1 in a few-shot regime: our best arm at least equal to SetFit (mean
    paired difference >= 0) and above it (t interval above 0); `emb_scl` above `emb_ce` (t interval above 0; the
    issue asks it at 8 per class); the seeds in which an embedding arm is below `frozen_lr`; each embedding arm's mean
    training wall time (the Trainer's train(), evaluations and checkpoints included) against SetFit's (load, train,
    predict the validation rows)."""
    if not REGIMES[name]["embedding"]:
        return None
    values, times = rows["values"], rows["train_time_s"]
    found = {d["pair"]: d for d in differences if d["metric"] == "macro_f1"}
    frozen = values["frozen_lr"]["macro_f1"]
    below = {arm: [s for s, v in values[arm]["macro_f1"].items() if v is not None and v < frozen[s] - 1e-12]
             for arm in EMB_ARMS if arm in values}  # fmt: skip
    mean_time = {arm: float(np.mean(list(t.values()))) for arm, t in times.items() if all(t.values())}
    pair = lambda key: found.get(key, {})  # noqa: E731
    return {
        "best": rows["best"],
        "best_at_least_setfit": pair("best - setfit").get("mean", -1) >= 0 if "best - setfit" in found else None,
        "best_above_setfit": pair("best - setfit")["t_ci"][0] > 0 if "best - setfit" in found else None,
        "scl_above_ce": pair("emb_scl - emb_ce")["t_ci"][0] > 0 if "emb_scl - emb_ce" in found else None,
        "below_frozen_lr": below,
        "mean_train_time_s": mean_time,
        "time_at_most_setfit": {
            arm: mean_time[arm] <= mean_time["setfit"]
            for arm in EMB_ARMS
            if arm in mean_time and "setfit" in mean_time
        },  # fmt: skip
    }


def summarize(name: str, rows: dict) -> dict:
    seeds, values = rows["seeds"], rows["values"]
    present = [row for row in ROW_ORDER if row in values]
    pairs = [("scl_chosen", "ce"), ("scl_seed", "ce"), ("scl_gunel", "ce"), ("scl_chosen", "frozen_lr"),
             ("scl_chosen", "setfit"), ("ce", "setfit"), ("scl_balanced", "scl_seed"),
             ("scl_balanced", "setfit"), ("best", "setfit"), ("emb_scl", "emb_ce"), ("emb_scl_anchors", "emb_scl"),
             ("emb_ce", "setfit"), ("emb_scl", "setfit"), ("emb_scl_anchors", "setfit"), ("emb_scl", "frozen_lr"),
             ("emb_scl", "scl_chosen")]  # fmt: skip
    regime, differences = REGIMES[name], paired_rows(values, seeds, pairs, METRICS)
    return {"regime": name, "dataset": regime["dataset"], "per_class": regime["per_class"], "seeds": seeds,
            "rows": present, "summary": summarize_rows(values, seeds, present, METRICS), "chosen": rows["chosen"],
            "differences": differences, "setfit_note": rows["setfit_note"], "wall_time_s": rows["wall_time_s"],
            "target": target(differences) if name in TARGET_REGIMES else None,
            "embedding_target": embedding_target(name, rows, differences)}  # fmt: skip


DEFAULT_CANDIDATES = ["ce", "scl_chosen", *EMB_ARMS]


def default_rule(regimes: list[dict]) -> dict | None:
    """The rule stated before the embedding runs, applied: per candidate arm, the mean over the eight few-shot regimes
    of its mean validation macro-F1 (each regime once); the highest wins. An arm that did not run in every few-shot
    regime (`scl_chosen`: SST-2 and TREC only, by design) is not eligible; its mean is shown beside the others' over
    the same regimes. None until every few-shot regime is in the report."""
    few = [row for row in regimes if row["per_class"] is not None and REGIMES[row["regime"]]["embedding"]]
    if len(few) < sum(1 for r in REGIMES.values() if r["embedding"]):
        return None
    means = {arm: {row["regime"]: row["summary"][arm]["macro_f1"]["mean"] for row in few if arm in row["summary"]}
             for arm in DEFAULT_CANDIDATES}  # fmt: skip
    eligible = {arm: float(np.mean(list(m.values()))) for arm, m in means.items() if len(m) == len(few)}
    partial = {
        arm: {"regimes": sorted(m), "mean": float(np.mean(list(m.values()))),
              **{other: float(np.mean([means[other][r] for r in m])) for other in eligible}}
        for arm, m in means.items() if 0 < len(m) < len(few)
    }  # fmt: skip
    chosen = max(eligible, key=eligible.get)
    settings = f"{embedding_common()},{EMB_ARMS[chosen]}" if chosen in EMB_ARMS else ARMS[chosen]  # no step budget
    return {"regimes": [row["regime"] for row in few], "means": eligible, "partial": partial, "chosen": chosen,
            "settings": settings}  # fmt: skip


COLORS = {"majority": "0.6", "frozen_lr": "black", "setfit": "tab:green", "ce": "tab:orange", "scl_seed": "tab:red",
          "scl_gunel": "tab:purple", "scl_chosen": "tab:blue", "scl_balanced": "tab:cyan", "emb_ce": "tab:brown",
          "emb_scl": "tab:pink", "emb_scl_anchors": "tab:olive", "best": "tab:gray"}  # fmt: skip


def main(args: ClassifyEvidenceArguments) -> dict:
    unknown = [name for name in args.regimes if name not in REGIMES]
    if unknown:
        sys.exit(f"error: unknown regime(s) {unknown}; choose from {list(REGIMES)}")
    start = time.perf_counter()
    regimes = []
    for name in args.regimes:
        print(f"== regime {name}", file=sys.stderr)
        regimes.append(summarize(name, regime_rows(args, name)))
    result = {
        "arms": {**ARMS, **EXTRA_ARMS, "setfit": "SetFit 1.2.0 defaults (all data: 1 pair iteration)"},
        "metrics": list(METRICS),
        "regimes": regimes,
        "not_run": [name for name in REGIMES if name not in args.regimes],
        "default_rule": default_rule(regimes),
        "wall_time_this_call_s": time.perf_counter() - start,
        "wall_time_all_runs_s": sum(sum(row["wall_time_s"].values()) for row in regimes),
    }
    if args.output_dir == ClassifyEvidenceArguments.output_dir and not args.extra_flags and not args.seeds:
        plot_rows(RESULTS_DIR / "classify_evidence.png", regimes, ROW_ORDER, list(METRICS), COLORS)
        save_markdown("classify_evidence", result)
        return save_result("classify_evidence.json", result)
    print(json.dumps(result, indent=1, default=str))  # a check run: nothing in bench/results
    return result


if __name__ == "__main__":
    os.chdir(REPO)  # every path below is relative to the repository, so the run records stay valid if it moves
    (evidence_args,) = HfArgumentParser(ClassifyEvidenceArguments).parse_args_into_dataclasses()
    main(evidence_args)
