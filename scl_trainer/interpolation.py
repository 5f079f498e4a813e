"""Weight-space interpolation of a fine-tuned encoder with its base (WiSE-FT): (1 - a) x base + a x trained, the
coefficient `a` chosen on held-out data by a rule stated in advance, so that an encoder fine-tuned on one domain does
not lose what the base model had on others.

Reference: Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022, https://arxiv.org/abs/2109.01903,
Eq. 1 (the weight-space ensemble) and Sec. 3 (choosing the mixing coefficient on held-out data).
"""

from collections.abc import Callable

import torch

__all__ = ["GRID", "choose_coefficient", "interpolate_encoder", "interpolated_state", "parse_interpolate"]

GRID = tuple(i / 10 for i in range(11))  # a = 0, 0.1, ..., 1


def parse_interpolate(value: str) -> tuple[float, ...] | None:
    """`auto` -> the grid; `none` -> None (no interpolation: the trained weights); a number in [0, 1] -> that `a`.
    Raises ValueError for anything else."""
    if value == "auto":
        return GRID
    if value == "none":
        return None
    a = float(value)  # ValueError for text
    if not 0.0 <= a <= 1.0:
        raise ValueError(value)
    return (a,)


def interpolated_state(base: dict[str, torch.Tensor], trained: dict[str, torch.Tensor], a: float) -> dict:
    """(1 - a) x base + a x trained for every floating-point tensor (others, e.g. integer position ids, are the
    trained ones). Exact at the ends: a = 0 gives the base tensors and a = 1 the trained ones, bit for bit."""
    return {
        key: ((1.0 - a) * base[key].to(value) + a * value) if value.is_floating_point() else value
        for key, value in trained.items()
    }


def choose_coefficient(scores: dict[float, dict[str, float]], in_domain: str, out_of_domain: str | None) -> float:
    """The rule, fixed before any run: among the coefficients whose out-of-domain score is not below the base's
    (a = 0), the one with the best in-domain score; ties go to the smaller `a` (closer to the base). Without
    out-of-domain data: the best in-domain score. `scores[a][name]`: a higher-is-better score per dataset."""
    candidates = sorted(scores)
    if out_of_domain is not None and 0.0 in scores:
        floor = scores[0.0][out_of_domain]
        candidates = [a for a in candidates if scores[a][out_of_domain] >= floor]
    return max(candidates, key=lambda a: (scores[a][in_domain], -a))


def interpolate_encoder(
    encoder: torch.nn.Module,
    base: dict[str, torch.Tensor],
    grid: tuple[float, ...],
    score: Callable[[], dict[str, float]],
    in_domain: str,
    out_of_domain: str | None,
) -> tuple[float, dict[float, dict[str, float]]]:
    """Score `encoder` interpolated with its `base` weights at every `a` of `grid` (`score()`: name -> score of the
    weights in place), load the weights of the `a` that `choose_coefficient` picks, and return it with every
    candidate's scores."""
    trained = {key: value.detach().clone() for key, value in encoder.state_dict().items()}
    scores = {}
    for a in grid:
        encoder.load_state_dict(interpolated_state(base, trained, a))
        scores[a] = score()
    chosen = choose_coefficient(scores, in_domain, out_of_domain) if len(grid) > 1 else grid[0]
    encoder.load_state_dict(interpolated_state(base, trained, chosen))
    return chosen, scores
