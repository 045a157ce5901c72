"""Death in the relapse-time engine: P(total tumour burden < lethal burden) from the detection flux.

The stochastic engine's patient dies when the primary plus all colony cells reach
``cells.lethal_burden`` L (docs/model.md §11). Given the deterministic inputs, the colonies
form a Poisson random measure (docs/model.md §13b), so the burden of the colonies that have
reached the detection size is a compound Poisson sum (shot noise):

    B(t) = Σ_i g(t − τ_i),   τ_i the detection times (Poisson, rate dΛ/dt),

with g(a) the size of a colony a days after it reached the detection size N_det, grown by its
growth law from N_det (``law.solution(N_det, a)``: at reference conditions, without immune kill
or therapy, which matter little at these sizes). Then

    P(alive at t) = P(B(t) < L − P(t) − U(t)),

P(t) the primary and U(t) the expected cells in colonies not yet detected (their sum has a
small spread next to L; taken at its mean). The compound Poisson distribution of B(t) on a
lattice of ``bins`` cells of width L/bins is computed exactly by Panjer's recursion (Panjer 1981,
ASTIN Bull 12:22, doi:10.1017/S0515036100006796); detected colonies smaller than one cell of the
lattice enter U at their mean. Each macro step's detections are placed at its midpoint.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit

#: cells of the burden lattice (width L / BINS)
BINS = 1000


@jit
def panjer_cdf(lam, severity, top):
    """P(S <= s) for s = 0 … ``top`` of a compound Poisson sum S with ``lam`` expected terms and
    integer severities distributed as ``severity`` (severity[j] = P(X = j), j >= 1; severity[0] = 0)."""
    n = top + 1
    f = np.zeros(n)
    f[0] = math.exp(-lam)
    nz = np.nonzero(severity[1:n])[0] + 1
    for s in range(1, n):
        acc = 0.0
        for j in nz:
            if j > s:
                break
            acc += j * severity[j] * f[s - j]
        f[s] = lam / s * acc
    return np.cumsum(f)


def alive_probability(times: np.ndarray, bounds_t: np.ndarray, detected: np.ndarray, size_after, lethal: float,
                      offset: np.ndarray, bins: int = BINS) -> np.ndarray:
    """P(B(t) < lethal − offset(t)) at each of ``times`` (module docstring).

    ``bounds_t``: macro boundaries (days) and ``detected`` the expected colonies detected by each
    (cumulative, every channel); ``size_after(a)``: the size ``a`` days after detection (vectorised);
    ``offset``: primary + expected undetected burden at ``times``."""
    d_lam = np.diff(detected)
    mid = 0.5 * (bounds_t[:-1] + bounds_t[1:])
    h = lethal / bins
    out = np.ones(len(times))
    for i, t in enumerate(times):
        room = lethal - offset[i]
        keep = (mid < t) & (d_lam > 0.0)
        if keep.any():
            sizes = size_after(t - mid[keep])
            mass = d_lam[keep]
            small = sizes < h
            room -= float(np.sum(mass[small] * sizes[small]))  # tiny colonies: at their mean
            sizes, mass = sizes[~small], mass[~small]
        else:
            sizes = mass = np.zeros(0)
        if room <= 0.0:
            out[i] = 0.0
            continue
        top = int(math.ceil(room / h)) - 1  # S h < room  <=>  S <= top
        lam = float(mass.sum())
        if lam <= 0.0:
            continue
        severity = np.zeros(bins + 2)
        np.add.at(severity, np.minimum(np.rint(sizes / h).astype(np.int64), bins + 1), mass / lam)
        out[i] = float(panjer_cdf(lam, severity, min(top, bins + 1))[-1]) if top >= 0 else 0.0
    return out
