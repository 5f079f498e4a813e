"""The pilot that fixed the embedding architecture's settings before `make classify-evidence` ran its arms: learning
rate (2e-5, SetFit's body rate, vs 5e-5, the cross-encoder configs') and `refit_head`, on two pilot seeds (11, 12) that
are not evidence seeds (1-5): their subsamples and validation hold-outs are other draws of the same training files.
Temperature 0.1 and scl_weight 1 are the prototype's, not tuned here; 60 steps at 8 per class, every text in the
one batch, two dropout views.

    python bench/embedding_pilot.py

Resumes (compare records). Writes bench/results/embedding_pilot.json and .md: validation macro-F1 per variant, mean
over the 4 cells (2 datasets x 2 seeds). The variant with the highest mean is the one the evidence runs.
"""

import os
import sys
from pathlib import Path

import numpy as np
from classify_evidence import study_config
from results_io import save_markdown, save_result

from scl_trainer.compare import main as compare_main

REPO = Path(__file__).resolve().parent.parent
SEEDS = ["11", "12"]
COMMON = ("architecture=embedding,per_device_train_batch_size=64,max_steps=60,eval_steps=20,save_steps=20,"
          "warmup_steps=0.1")  # fmt: skip
VARIANTS = {
    "ce_lr2e-5": "scl_weight=0,learning_rate=2e-5",
    "scl_lr2e-5": "scl_weight=1,scl_temperature=0.1,learning_rate=2e-5",
    "scl_lr5e-5": "scl_weight=1,scl_temperature=0.1,learning_rate=5e-5",
    "scl_lr2e-5_norefit": "scl_weight=1,scl_temperature=0.1,learning_rate=2e-5,refit_head=false",
}
DATASETS = {"trec": "eval_macro_f1", "sst2": "eval_macro_f1_at_0.5"}


def main() -> dict:
    cells = {}
    for dataset, metric in DATASETS.items():
        argv = [
            "--recipe", "supcon_classify", "--config", study_config(dataset),
            "--output_dir", f"bench/results/embedding_pilot/{dataset}-8", "--prune_runs", "true",
            *[token for name, settings in VARIANTS.items() for token in ("--arm", f"{name}:{COMMON},{settings}")],
            "--seeds", *SEEDS, "--metric", metric, "--samples_per_class", "8", "--disable_tqdm", "true",
            "--eval_strategy", "steps", "--save_strategy", "steps", "--save_total_limit", "1",
        ]  # fmt: skip
        report = compare_main(argv)
        for run in report["runs"]:
            cells.setdefault(run["arm"], {})[f"{dataset}-seed{run['seed']}"] = run["metrics"][metric]
    means = {arm: float(np.mean(list(values.values()))) for arm, values in cells.items()}
    result = {"variants": VARIANTS, "common": COMMON, "macro_f1": cells, "mean": means,
              "chosen": max(means, key=means.get)}  # fmt: skip
    save_markdown("embedding_pilot", result)
    return save_result("embedding_pilot.json", result)


if __name__ == "__main__":
    os.chdir(REPO)
    print(main(), file=sys.stderr)
