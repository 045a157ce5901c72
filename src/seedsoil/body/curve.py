"""A relapse-free curve with a hazard constant on each step: its value between the steps.

The relapse-time engine gives the cumulative hazard Λ at step boundaries; the hazard is
constant within a step, so Λ is linear between boundaries and S = exp(−Λ). Pure maths, used by
the engine (:mod:`seedsoil.body.relapse`) and by :class:`~seedsoil.body.result.RelapseResult`.
"""
from __future__ import annotations

import numpy as np

#: endpoint of the relapse-time engine -> (cumulative hazard column, hazard column) of its curve table:
#: distant relapse (the first detected metastasis after surgery), local recurrence (the first colony of
#: residual disease at the surgical site reaching the local detection size), any recurrence (either),
#: death (the total burden reaching the lethal burden; body/death.py)
ENDPOINT_COLUMNS = {
    "distant": ("cumulative_hazard", "hazard_per_day"),
    "local": ("local_cumulative_hazard", "local_hazard_per_day"),
    "any": ("any_cumulative_hazard", "any_hazard_per_day"),
    "death": ("death_cumulative_hazard", "death_hazard_per_day"),
}
#: the curve's survival column of each endpoint (death: alive, given alive at surgery)
SURVIVAL_COLUMNS = {"distant": "relapse_free_probability", "local": "local_recurrence_free_probability",
                    "any": "recurrence_free_probability", "death": "alive_probability"}


def check_endpoint(endpoint: str) -> str:
    if endpoint not in ENDPOINT_COLUMNS:
        raise ValueError(f"endpoint = {endpoint!r}: one of {', '.join(map(repr, ENDPOINT_COLUMNS))}")
    return endpoint


def evaluate(d: np.ndarray, cum: np.ndarray, haz: np.ndarray, t) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative hazard, hazard) at ``t`` days after surgery from a curve's arrays: Λ linear between
    boundaries, the hazard of the step containing t; 0 before the window, NaN past the end."""
    t = np.asarray(t, dtype=float)
    c = np.interp(t, d, cum)
    if len(d) > 1:
        i = np.clip(np.searchsorted(d, t, side="left"), 1, len(d) - 1)
        h = haz[i]
    else:
        h = np.zeros_like(t)
    before = t < d[0]
    after = t > d[-1] + 1e-9
    c = np.where(before, 0.0, np.where(after, np.nan, c))
    h = np.where(before, 0.0, np.where(after, np.nan, h))
    return c, h


def log_likelihood(log_s: np.ndarray, haz: np.ndarray, event) -> np.ndarray:
    """Each observation's log-likelihood from log S(t) and the hazard h(t) at its time: log h + log S
    (the density) for a relapse at t, log S for relapse-free when last seen at t."""
    return np.where(np.asarray(event, dtype=bool), np.log(haz) + log_s, log_s)
