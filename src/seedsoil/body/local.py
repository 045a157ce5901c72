"""Residual disease at the surgical site and radiotherapy to it (docs/model.md §11d).

Surgery leaves a Poisson number of clonogenic cells at the surgical site, with mean
``m = local.residual_fraction × (primary cells at surgery)``. Each starts a colony of one cell
at surgery ("local" colonies, origin code 2 in the stochastic colony table) that grows with the
colony law under the same systemic signals as the distant colonies (immune kill, adjuvant
growth inhibition, the IL-1β dormancy state). A local recurrence is the first local colony
reaching ``detection.local_diameter``.

Radiotherapy kills cells of local colonies only, fraction by fraction, with the
linear-quadratic model: a fraction of dose d leaves each cell alive with probability
``S(d) = exp(−(α d + β d²))``, ``β = α / (α/β)``, independently of the others and of the cell's
state (radiation also kills dormant and non-dividing cells: it damages DNA, whereas
chemotherapy here acts through division). Everything here is deterministic: per-step arrays the
engines read.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

#: the therapy kind this module turns into per-step log survivals
KIND = "radiotherapy"


def lq_log_survival(alpha: float, alpha_beta: float, dose: float) -> float:
    """ln S of one fraction of ``dose`` Gy: −(α d + β d²) with β = α/(α/β)."""
    return -(alpha * dose + alpha / alpha_beta * dose * dose)


def fraction_times(start: float, fractions: int, per_week: int) -> np.ndarray:
    """Days of the fractions of a course starting at ``start``: ``per_week`` consecutive days of
    each week (5: Monday to Friday, the week end off), ``fractions`` in all."""
    j = np.arange(int(fractions))
    return start + 7.0 * (j // int(per_week)) + (j % int(per_week))


def course_days(fractions: int, per_week: int) -> float:
    """Length of a course (days from its start to the end of the day of its last fraction)."""
    return float(fraction_times(0.0, fractions, per_week)[-1]) + 1.0


def radiotherapy_log_survival(t: np.ndarray, courses: Iterable[tuple[Any, float]], p: Mapping[str, Any]) -> np.ndarray:
    """Per step k (from t[k] to t[k+1]): the sum of ln S of the fractions given in [t[k], t[k+1]).
    The engines apply it to the local colonies at the start of the step. ``courses``: (therapy,
    start day) of every radiotherapy course; ``p`` the parameters."""
    out = np.zeros(t.shape[0] - 1)
    dt = t[1] - t[0]  # uniform grid
    for th, start in courses:
        ls = lq_log_survival(p["radiotherapy.alpha"], p["radiotherapy.alpha_beta"], th.dose_per_fraction)
        for f in fraction_times(start, th.fractions, th.fractions_per_week):
            k = int(math.floor(f / dt + 1e-9))
            if 0 <= k < out.shape[0]:
                out[k] += ls
    return out
