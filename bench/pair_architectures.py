"""Which pair architecture, against what a user already has? MRPC, paired over seeds, in the regimes of
`make evidence` (N = 64 / 256 / 1024 training pairs, N = 1024 with 20% label noise, all pairs).

Rows, all on the same validation pairs (the held-out 10% of the MRPC train file, seeded like every other draw):
- `majority`: the most frequent class for every pair; `zero_shot`: the untouched all-MiniLM-L6-v2's cosine (its own
  mean pooling + Normalize), F1 at its cosine threshold tuned on the same pairs. Both from every run's baselines.
- `ce_bce`, `ce_scl`: the cross-encoder (the seed's design) with BCE alone / BCE + SupCon (0.1, 0.2): by default the
  runs of `make evidence` (`bench/results/scl_evidence/<regime>`: the same recipe, config, flags, seeds, splits and
  subsamples), which predate average precision, so its AP is n/a; `--rerun_cross_encoder` runs them again here.
- `bi_bce`, `bi_scl`: `--architecture bi_encoder` with BCE alone / BCE + supervised SimCSE (`scl_weight=1`,
  `scl_temperature=0.05`, Gao et al.'s temperature), learning rate 2e-5 (the peer's), checkpoint picked on
  validation ROC-AUC with the untouched encoder (fitted scale and bias) as the step-0 candidate. One `compare` per
  regime (`bench/results/pair_architectures/<regime>/`).
- `bi_cosent`, `bi_online` (issue 31): the bi-encoder trained by CoSENT (scale 20) / the online contrastive loss
  (margin 0.5) instead of BCE, which then fits only the scale and bias;
- `bi_rank_scl` (issue 31; rule stated before any ranking run): the one of `bi_cosent` / `bi_online` with the higher
  mean over the five regimes of its mean validation ROC-AUC, + the supervised SimCSE term of `bi_scl` (weight 1,
  T 0.05). It joins the compares only once both ranking arms have every seed of every regime;
- `st_peer`: sentence-transformers' documented recipe for duplicate / paraphrase pairs, `OnlineContrastiveLoss` on
  all-MiniLM-L6-v2 (`SentenceTransformerTrainer`, lr 2e-5, the same splits, subsample, noise, seed, epochs, batch
  size and evaluation steps), checkpoint picked on the same validation ROC-AUC (so it has the same selection as our
  arms, except the step-0 candidate, which is our library's feature).

Settings were fixed before any run of this study; nothing here was tuned on its results. Metrics: ROC-AUC and AP of
the score (probability or cosine), F1 at the validation-tuned threshold. All selected and measured on validation (no
test split is available): the absolute numbers are optimistic for every arm alike; the differences are paired.

    python bench/pair_architectures.py [--regimes n64 ...] [--rerun_cross_encoder true]

Resumes: finished runs are skipped (run records kept, weights pruned). Writes bench/results/pair_architectures.json,
.md and .png.
"""

import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from results_io import RESULTS_DIR, paired_rows, plot_rows, save_markdown, save_result, summarize_rows
from scl_evidence import REGIMES, check_regimes, regime_argv
from transformers import HfArgumentParser

from scl_trainer.compare import find_recipe, load_recipe
from scl_trainer.compare import main as compare_main
from scl_trainer.metrics import pair_baselines
from scl_trainer.records import DEFAULT_DATA_DIR

REPO = Path(__file__).resolve().parent.parent
METRICS = {"roc_auc": "eval_roc_auc", "average_precision": "eval_average_precision", "f1": "eval_f1_at_threshold"}
BASELINE_METRICS = {"roc_auc": "roc_auc", "average_precision": "average_precision", "f1": "f1"}
CE_ARMS = {"ce_bce": "scl_weight=0", "ce_scl": "scl_weight=0.1,scl_temperature=0.2"}
BI = "architecture=bi_encoder,learning_rate=2e-5,metric_for_best_model=roc_auc"
BI_ARMS = {"bi_bce": f"{BI},scl_weight=0", "bi_scl": f"{BI},scl_weight=1.0,scl_temperature=0.05",
           # issue 31: the ranking losses train the encoder (BCE fits only scale and bias), the peer's margin 0.5
           "bi_cosent": f"{BI},scl_weight=0,pair_loss=cosent",
           "bi_online": f"{BI},scl_weight=0,pair_loss=online_contrastive"}  # fmt: skip
RANKING_LOSSES = {"bi_cosent": "cosent", "bi_online": "online_contrastive"}
RANK_SCL = "bi_rank_scl"
PEER = "st_peer"
OURS = ["ce_bce", "ce_scl", "bi_bce", "bi_scl", "bi_cosent", "bi_online", RANK_SCL]
ARM_ORDER = ["majority", "zero_shot", *OURS, PEER]


@dataclass
class PairEvidenceArguments:
    regimes: list[str] = field(default_factory=lambda: list(REGIMES), metadata={"help": f"Of {list(REGIMES)}."})
    rerun_cross_encoder: bool = field(
        default=False,
        metadata={"help": "Run the cross-encoder arms here (with AP) instead of reading make evidence's runs."},
    )
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding mrpc/."})
    output_dir: str = field(default="bench/results/pair_architectures", metadata={"help": "Where the runs go."})


def ranking_choice(output_dir: str) -> str | None:
    """The rule of `bi_rank_scl`: the ranking arm with the higher mean over all regimes of its mean validation
    ROC-AUC (ties: the first of RANKING_LOSSES), or None while either lacks a seed of a regime."""
    means = {}
    for arm in RANKING_LOSSES:
        per_regime = []
        for name, regime in REGIMES.items():
            path = Path(output_dir) / name / "compare.json"
            runs = json.loads(path.read_text(encoding="utf-8"))["runs"] if path.is_file() else []
            by_seed = {run["seed"]: run["metrics"].get(METRICS["roc_auc"]) for run in runs if run["arm"] == arm}
            if any(by_seed.get(seed) is None for seed in regime["seeds"]):
                return None
            per_regime.append(statistics.fmean(by_seed[seed] for seed in regime["seeds"]))
        means[arm] = statistics.fmean(per_regime)
    return max(RANKING_LOSSES, key=lambda arm: means[arm])


def study_arms(args: PairEvidenceArguments) -> dict[str, str]:
    """Our arms of this call: the bi-encoder arms, `bi_rank_scl` once its rule can choose, and the cross-encoder
    arms when they are rerun here."""
    arms = {**(CE_ARMS if args.rerun_cross_encoder else {}), **BI_ARMS}
    chosen = ranking_choice(args.output_dir)
    if chosen is not None:
        arms[RANK_SCL] = f"{BI},scl_weight=1.0,scl_temperature=0.05,pair_loss={RANKING_LOSSES[chosen]}"
    return arms


def compare_argv(args: PairEvidenceArguments, name: str) -> list[str]:
    return regime_argv(name, args.output_dir, study_arms(args), list(METRICS.values()), args.data_dir)


def _regime_flag(name: str, key: str, default):
    return REGIMES[name]["flags"].get(key, default)


def roc_auc_evaluator(validation):
    """The peer's checkpoint selection: a sentence-transformers evaluator of the validation ROC-AUC of the cosine."""
    from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

    class RocAucEvaluator(SentenceEvaluator):
        def __init__(self):
            super().__init__()
            self.primary_metric = "roc_auc"

        def __call__(self, model, output_path=None, epoch=-1, steps=-1):
            return self.prefix_name_to_metrics({"roc_auc": peer_metrics(model, validation)["roc_auc"]}, "mrpc")

    return RocAucEvaluator()


def peer_metrics(model, validation) -> dict[str, float]:
    """ROC-AUC, AP and F1 at the tuned cosine threshold of a SentenceTransformer on the validation pairs: the same
    computation as the zero-shot baseline row."""
    u = model.encode(validation["text_a"], batch_size=128, convert_to_numpy=True, normalize_embeddings=True)
    v = model.encode(validation["text_b"], batch_size=128, convert_to_numpy=True, normalize_embeddings=True)
    rows = pair_baselines(validation["label"], (u * v).sum(-1))
    return {k.removeprefix("baseline_zero_shot_"): v for k, v in rows.items() if k.startswith("baseline_zero_shot_")}


def run_peer(args: PairEvidenceArguments, name: str, seed: int) -> dict:
    """One sentence-transformers OnlineContrastiveLoss run on the recipe's own split/subsample/noise for `seed`."""
    record_path = Path(args.output_dir) / name / "peer" / f"seed{seed}.json"
    if record_path.is_file():
        return json.loads(record_path.read_text(encoding="utf-8"))
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import OnlineContrastiveLoss
    from transformers import set_seed

    from scl_trainer.utils import resolve_model_name_or_path

    recipe = load_recipe(find_recipe("supcon_pair"))
    regime = REGIMES[name]
    script_args, _, _ = recipe.parser().parse_args_and_config(
        ["--config", "recipes/supcon_pair/mrpc_minilm.yaml", "--data_dir", args.data_dir, "--seed", str(seed)]
        + (["--train_size", str(regime["train_size"])] if regime["train_size"] else [])
        + (["--label_noise", str(regime["label_noise"])] if regime.get("label_noise") else [])
    )
    splits, _ = recipe.load_splits(script_args, seed)
    run_dir = record_path.parent / f"seed{seed}-run"
    shutil.rmtree(run_dir, ignore_errors=True)  # an interrupted peer run starts over (they are short)
    start = time.perf_counter()
    set_seed(seed)
    model = SentenceTransformer(resolve_model_name_or_path("sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
    train = (
        splits["train"]
        .rename_columns({"text_a": "sentence1", "text_b": "sentence2"})
        .select_columns(["sentence1", "sentence2", "label"])
    )
    eval_steps = _regime_flag(name, "eval_steps", None)
    strategy = "steps" if eval_steps else "epoch"
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(run_dir),
        num_train_epochs=_regime_flag(name, "num_train_epochs", 3),
        per_device_train_batch_size=_regime_flag(name, "per_device_train_batch_size", 32),
        learning_rate=2e-5,
        warmup_steps=0.1,
        seed=seed,
        eval_strategy=strategy,
        save_strategy=strategy,
        **({"eval_steps": eval_steps, "save_steps": eval_steps} if eval_steps else {}),
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="eval_mrpc_roc_auc",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        loss=OnlineContrastiveLoss(model),
        evaluator=roc_auc_evaluator(splits["validation"]),
    )
    trainer.train()
    metrics = peer_metrics(trainer.model, splits["validation"])
    record = {"seed": seed, "metrics": metrics, "wall_time_s": time.perf_counter() - start,
              "best_checkpoint": trainer.state.best_model_checkpoint, "steps": trainer.state.global_step}  # fmt: skip
    shutil.rmtree(run_dir, ignore_errors=True)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def regime_rows(args: PairEvidenceArguments, name: str) -> dict:
    """Per arm and metric the per-seed values of one regime, from the compare report(s) and the peer's records."""
    report = compare_main(compare_argv(args, name))
    seeds, values, wall = report["seeds"], {}, {}
    runs = list(report["runs"])
    if not args.rerun_cross_encoder:  # the cross-encoder runs of make evidence (same command, same seeds)
        evidence = json.loads((RESULTS_DIR / "scl_evidence" / name / "compare.json").read_text(encoding="utf-8"))
        renamed = {"bce": "ce_bce", "scl": "ce_scl"}
        runs += [{**run, "arm": renamed[run["arm"]]} for run in evidence["runs"] if run["seed"] in seeds]
    for run in runs:
        for metric, key in METRICS.items():
            values.setdefault(run["arm"], {}).setdefault(metric, {})[run["seed"]] = run["metrics"].get(key)
        wall[run["arm"]] = wall.get(run["arm"], 0.0) + run["wall_time_s"]
        for arm, prefix in (("majority", "baseline_majority_"), ("zero_shot", "baseline_zero_shot_")):
            for metric in METRICS:
                value = run["metrics"].get(prefix + metric)
                if value is not None:
                    values.setdefault(arm, {}).setdefault(metric, {})[run["seed"]] = value
    for seed in seeds:
        record = run_peer(args, name, seed)
        for metric in METRICS:
            values.setdefault(PEER, {}).setdefault(metric, {})[seed] = record["metrics"][metric]
        wall[PEER] = wall.get(PEER, 0.0) + record["wall_time_s"]
    values.setdefault("majority", {}).update({"roc_auc": {s: 0.5 for s in seeds}})  # a constant score ranks at chance
    return {"seeds": seeds, "values": values, "wall_time_s": wall}


def summarize(name: str, rows: dict) -> dict:
    seeds, values = rows["seeds"], rows["values"]
    arms = [arm for arm in ARM_ORDER if arm in values]
    summary = summarize_rows(values, seeds, arms, METRICS)
    ours = [arm for arm in OURS if arm in arms]
    best = max(ours, key=lambda arm: summary[arm]["roc_auc"]["mean"])  # the best of ours by mean validation ROC-AUC
    # issue 31's target: the best bi-encoder arm against the peer (the cross-encoder arms never came close)
    best_bi = max((arm for arm in ours if arm.startswith("bi_")), key=lambda arm: summary[arm]["roc_auc"]["mean"])
    pairs = [(best, "zero_shot"), (best, PEER)] + ([(best_bi, PEER)] if best_bi != best else [])
    differences = paired_rows(values, seeds, pairs, METRICS)
    versus_peer = next(d for d in differences if d["pair"] == f"{best_bi} - {PEER}" and d["metric"] == "roc_auc")
    return {
        "regime": name,
        "train_size": REGIMES[name]["train_size"],
        "label_noise": REGIMES[name].get("label_noise", 0.0),
        "seeds": seeds,
        "arms": arms,
        "summary": summary,
        "best_ours": best,
        "differences": differences,
        "best_bi": best_bi,
        "best_bi_at_least_peer": summary[best_bi]["roc_auc"]["mean"] >= summary[PEER]["roc_auc"]["mean"],
        "best_bi_above_peer": versus_peer["t_ci"][0] > 0,
        "wall_time_s": rows["wall_time_s"],
    }


COLORS = {"majority": "0.6", "zero_shot": "black", "ce_bce": "tab:orange", "ce_scl": "tab:red", "bi_bce": "tab:cyan",
          "bi_scl": "tab:blue", "bi_cosent": "tab:purple", "bi_online": "tab:brown", RANK_SCL: "tab:pink",
          PEER: "tab:green"}  # fmt: skip


def main(args: PairEvidenceArguments) -> dict:
    check_regimes(args.regimes)
    start = time.perf_counter()
    regimes = []
    for name in args.regimes:
        print(f"== regime {name}", file=sys.stderr)
        regimes.append(summarize(name, regime_rows(args, name)))
    result = {
        "arms": {**CE_ARMS, **study_arms(args), PEER: "OnlineContrastiveLoss, lr 2e-5"},
        "ranking_choice": ranking_choice(args.output_dir),
        "target": {
            "regimes": len(regimes),
            "at_least_peer": sum(row["best_bi_at_least_peer"] for row in regimes),
            "above_peer": sum(row["best_bi_above_peer"] for row in regimes),
        },
        "cross_encoder_runs": "rerun here" if args.rerun_cross_encoder else "bench/results/scl_evidence (AP n/a)",
        "metrics": list(METRICS),
        "regimes": regimes,
        "wall_time_this_call_s": time.perf_counter() - start,
        "wall_time_all_runs_s": sum(sum(row["wall_time_s"].values()) for row in regimes),
    }
    plot_rows(RESULTS_DIR / "pair_architectures.png", regimes, ARM_ORDER, list(METRICS), COLORS)
    save_markdown("pair_architectures", result)
    return save_result("pair_architectures.json", result)


if __name__ == "__main__":
    os.chdir(REPO)  # every path below is relative to the repository, so the run records stay valid if it moves
    (evidence_args,) = HfArgumentParser(PairEvidenceArguments).parse_args_into_dataclasses()
    main(evidence_args)
