"""`make pair-evidence`'s pre-stated rule for its `bi_rank_scl` arm (bench/pair_architectures.py)."""

import json
import sys

import pytest

from tests.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
try:
    import pair_architectures
finally:
    sys.path.remove(str(REPO_ROOT / "bench"))


def _write_reports(root, roc_auc):
    """compare.json per regime with the runs of `roc_auc[arm][regime] = [value per seed]` (arms absent: no runs)."""
    for name in pair_architectures.REGIMES:
        runs = [
            {"arm": arm, "seed": seed, "metrics": {"eval_roc_auc": value}}
            for arm, per_regime in roc_auc.items()
            for seed, value in zip(pair_architectures.REGIMES[name]["seeds"], per_regime.get(name, []))
        ]
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "compare.json").write_text(json.dumps({"runs": runs}), encoding="utf-8")


def _constant(value):
    return {name: [value] * len(regime["seeds"]) for name, regime in pair_architectures.REGIMES.items()}


def test_the_ranking_arm_is_chosen_by_its_mean_over_regimes_of_the_seed_means(tmp_path):
    # bi_online wins four regimes by 0.001; bi_cosent wins the last by 0.01: the mean over regimes picks bi_cosent
    # (a count of regimes won would pick bi_online).
    names = list(pair_architectures.REGIMES)
    online, cosent = _constant(0.80), _constant(0.799)
    cosent[names[-1]] = [0.81] * len(pair_architectures.REGIMES[names[-1]]["seeds"])
    _write_reports(tmp_path, {"bi_online": online, "bi_cosent": cosent})
    assert pair_architectures.ranking_choice(str(tmp_path)) == "bi_cosent"
    _write_reports(tmp_path, {"bi_online": _constant(0.80), "bi_cosent": _constant(0.70)})
    assert pair_architectures.ranking_choice(str(tmp_path)) == "bi_online"


@pytest.mark.parametrize("missing", ["a seed", "a regime", "an arm"])
def test_no_ranking_arm_is_chosen_before_both_have_every_seed_of_every_regime(tmp_path, missing):
    names = list(pair_architectures.REGIMES)
    runs = {"bi_online": _constant(0.80), "bi_cosent": _constant(0.70)}
    if missing == "a seed":
        runs["bi_cosent"][names[0]] = runs["bi_cosent"][names[0]][:-1]
    elif missing == "a regime":
        runs["bi_online"][names[2]] = []
    else:
        del runs["bi_cosent"]
    _write_reports(tmp_path, runs)
    assert pair_architectures.ranking_choice(str(tmp_path)) is None
    args = pair_architectures.PairEvidenceArguments(output_dir=str(tmp_path))
    assert pair_architectures.RANK_SCL not in pair_architectures.study_arms(args)


def test_the_rank_scl_arm_is_the_chosen_loss_with_the_bi_scl_term(tmp_path):
    _write_reports(tmp_path, {"bi_online": _constant(0.80), "bi_cosent": _constant(0.70)})
    arms = pair_architectures.study_arms(pair_architectures.PairEvidenceArguments(output_dir=str(tmp_path)))
    settings = dict(item.split("=") for item in arms[pair_architectures.RANK_SCL].split(","))
    bi_scl = dict(item.split("=") for item in arms["bi_scl"].split(","))
    assert settings == {**bi_scl, "pair_loss": "online_contrastive"}
