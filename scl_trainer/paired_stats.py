"""Statistics of a paired multi-seed comparison (scipy does the work).

Each arm is run once per seed with everything else equal (same seed, split and subsample), so arm B vs arm A is
judged on the per-seed differences B_k - A_k: their mean, a bootstrap interval for that mean, and two-sided paired
tests (Wilcoxon signed-rank, and the paired t-test for reference).

With few seeds these numbers are coarse and the report says so: the Wilcoxon test of n differences cannot give a
two-sided p below 2 / 2^n (0.25 for n = 3, 0.0625 for n = 5), and a percentile bootstrap of 3 values is narrower than
the uncertainty it describes. The t interval is given beside it for that reason.
"""

import math

import numpy as np
from scipy import stats

__all__ = ["arm_summary", "min_wilcoxon_p", "paired_difference"]


def arm_summary(values: list[float]) -> dict:
    """mean, sample sd (ddof=1; 0 for one value), n of one arm's per-seed values."""
    x = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(x.mean()) if x.size else math.nan,
        "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "n": int(x.size),
    }


def min_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p-value an exact Wilcoxon signed-rank test of n non-zero differences can give."""
    return min(1.0, 2.0 / 2**n)


def paired_difference(
    baseline: list[float],
    other: list[float],
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict:
    """`other - baseline`, seed by seed (the two lists are aligned by seed).

    Returns the differences, their mean and sd, a percentile bootstrap interval of the mean (`n_resamples`,
    generator seeded with `seed`), a t interval of the mean, the two-sided Wilcoxon signed-rank p-value (exact for
    small n; 1.0 when every difference is 0) and the paired t-test p-value, and wins/ties/losses of `other`.
    """
    a, b = np.asarray(baseline, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need one value per seed in both arms, got {a.size} and {b.size}")
    d = b - a
    n = int(d.size)
    result = {
        "differences": d.tolist(),
        "n": n,
        "mean": float(d.mean()) if n else math.nan,
        "sd": float(d.std(ddof=1)) if n > 1 else 0.0,
        "wins": int((d > 0).sum()),
        "ties": int((d == 0).sum()),
        "losses": int((d < 0).sum()),
        "confidence": confidence,
        "bootstrap_ci": [math.nan, math.nan],
        "t_ci": [math.nan, math.nan],
        "wilcoxon_p": math.nan,
        "ttest_p": math.nan,
        "min_wilcoxon_p": min_wilcoxon_p(n),
    }
    if n < 2:
        return result
    if np.allclose(
        d, d[0], rtol=0.0, atol=1e-12
    ):  # no spread: every resample has the same mean, the tests have nothing to test
        result["bootstrap_ci"] = [float(d[0]), float(d[0])]
        result["t_ci"] = [float(d[0]), float(d[0])]
        result["wilcoxon_p"] = 1.0 if d[0] == 0 else min_wilcoxon_p(n)
        result["ttest_p"] = 1.0 if d[0] == 0 else 0.0
        return result
    boot = stats.bootstrap(
        (d,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    result["bootstrap_ci"] = [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]
    t = stats.ttest_1samp(d, 0.0)
    ci = t.confidence_interval(confidence_level=confidence)
    result["t_ci"] = [float(ci.low), float(ci.high)]
    result["ttest_p"] = float(t.pvalue)
    result["wilcoxon_p"] = float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return result
