"""The colony kernels against closed forms and against each other (SSA vs exact leap)."""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from seedsoil.body._kernels import bd_leap
from seedsoil.rng import stream


@numba.njit
def _leaps(rng, x0, b, d, dt, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = bd_leap(rng, x0, b, d, dt)
    return out


@numba.njit
def _ssa(rng, x0, b, d, dt, n):
    out = np.empty(n)
    for i in range(n):
        x = x0
        s = 0.0
        while x > 0:
            s += rng.exponential(1.0 / ((b + d) * x))
            if s > dt:
                break
            if rng.random() * (b + d) < b:
                x += 1.0
            else:
                x -= 1.0
        out[i] = x
    return out


@pytest.mark.parametrize("x0,b,d,dt", [(1.0, 0.5, 0.45, 1.0), (80.0, 0.3, 0.29, 1.0), (5.0, 1.0, 1.0, 2.0),
                                       (20.0, 0.0, 0.2, 3.0), (3.0, 0.7, 0.0, 2.0)])
def test_leap_moments_match_kendall(x0, b, d, dt):
    """E[X] = x e^{rt}; Var[X] = x (b+d)/(b-d) e^{rt}(e^{rt}-1) (x (b+d) t when b = d)."""
    n = 200_000
    xs = _leaps(stream(7, int(x0), 1), x0, b, d, dt, n)
    r = b - d
    mean = x0 * math.exp(r * dt)
    var = x0 * 2 * b * dt if r == 0 else x0 * (b + d) / r * math.exp(r * dt) * (math.exp(r * dt) - 1.0)
    assert abs(xs.mean() - mean) < 5 * math.sqrt(var / n) + 1e-12
    assert abs(xs.var() / var - 1.0) < 0.03
    assert np.all(xs >= 0) and np.all(xs == np.round(xs))


def test_leap_extinction_probability():
    """P(extinct by t) from one cell = alpha(t); as t grows it tends to d/b."""
    b, d = 0.5, 0.45
    xs = _leaps(stream(11), 1.0, b, d, 400.0, 100_000)
    p = float((xs == 0).mean())
    er = math.exp((b - d) * 400.0)
    alpha = d * (er - 1) / (b * er - d)
    assert abs(p - alpha) < 5 * math.sqrt(alpha * (1 - alpha) / 100_000)
    assert abs(alpha - d / b) < 1e-6


def test_leap_and_gillespie_give_the_same_distribution():
    """Two independent engines for the same process: compare the whole distribution (chi-square)."""
    from scipy.stats import chi2_contingency

    n = 60_000
    a = _leaps(stream(3), 4.0, 0.6, 0.5, 2.0, n)
    s = _ssa(stream(4), 4.0, 0.6, 0.5, 2.0, n)
    edges = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 1e9]) - 0.5
    ha, _ = np.histogram(a, edges)
    hs, _ = np.histogram(s, edges)
    _, pval, _, _ = chi2_contingency(np.vstack([ha, hs]))
    assert pval > 1e-3, (ha, hs)
