"""Relapse times with a lognormal shedding random effect: marginal likelihood and its maximum.

The relapse-time engine gives a patient's distant cumulative hazard Λ(t) and hazard λ(t) after
surgery. Disseminated cells arrive as a Poisson process whose rate is proportional to the
shedding rate μ, and each cell's fate does not depend on μ except through the effectors, which
the primary drives (with ``shedding.exponent = 1``); so Λ is proportional to μ: for the default
breast patient Λ(t)/μ stays within 0.2 % over μ × 0.1 … 10 (tests/test_fit.py). One engine
solve at a reference rate μ_ref therefore gives the curve at any rate:

    Λ_i(t; μ) = (μ / μ_ref) Λ_ref,i(t).

A patient's shedding rate is lognormal around her covariates' value (a frailty, the random
effect that carries patient-to-patient variability in metastatic potential; Benzekry 2016):

    μ_i = μ_ref · exp(θ0 + x_i·β + σ Z_i),   Z_i ~ N(0, 1),

x_i her covariates on the scale of the links (e.g. log(1 + positive nodes)). Her marginal
relapse-free probability and density (relapse-free at surgery) are

    S_i(t) = E_Z[exp(−m_i e^(σZ) Λ_ref,i(t))],
    f_i(t) = E_Z[m_i e^(σZ) λ_ref,i(t) exp(−m_i e^(σZ) Λ_ref,i(t))],   m_i = e^(θ0 + x_i·β),

computed by Gauss–Hermite quadrature (:func:`normal_nodes`), and the log-likelihood of
right-censored data is Σ_events log f_i(t_i) + Σ_censored log S_i(t_i). It is maximised over
(θ0, log σ, β) by L-BFGS-B (log σ bounded, :data:`LOG_SIGMA_BOUNDS`); intervals are Wald
intervals from the Hessian of the log-likelihood (central differences) at the maximum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .likelihood import normal_nodes

#: Gauss–Hermite nodes for the normal random effect (exact for polynomials of degree < 2n)
QUADRATURE_NODES = 48
#: bounds of log σ in the fit: σ from 0.01 to 5 (beyond 5 the quadrature's largest node, ~9.5 SD,
#: multiplies the rate by e^47; a fit at the upper bound says the model's hazard shape does not fit)
LOG_SIGMA_BOUNDS = (math.log(0.01), math.log(5.0))


def marginal_curves(cum: np.ndarray, haz: np.ndarray, sigma: float, multiplier: np.ndarray | float = 1.0,
                    n: int = QUADRATURE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """(S, f): the marginal relapse-free probability and density (module docstring) for cumulative
    hazards ``cum`` and hazards ``haz`` at the reference shedding rate, times ``multiplier`` = m_i,
    with a lognormal random effect of log-sd ``sigma`` (0: none)."""
    cum = np.asarray(cum, dtype=float) * multiplier
    haz = np.asarray(haz, dtype=float) * multiplier
    if sigma == 0.0:
        s = np.exp(-cum)
        return s, haz * s
    z, w = normal_nodes(n)
    m = np.exp(sigma * z)
    with np.errstate(over="ignore"):
        e = np.exp(-cum[..., None] * m)
    with np.errstate(invalid="ignore"):
        dens = np.nan_to_num(haz[..., None] * m * e, nan=0.0)  # inf·0: a rate so high it has already struck
    return e @ w, dens @ w


def marginal_loglik(cum: np.ndarray, haz: np.ndarray, event: np.ndarray, sigma: float,
                    multiplier: np.ndarray | float = 1.0) -> float:
    """Σ_events log f_i(t_i) + Σ_censored log S_i(t_i) (``cum``, ``haz`` at each patient's time)."""
    s, f = marginal_curves(cum, haz, sigma, multiplier)
    ev = np.asarray(event, dtype=bool)
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(f[ev])) + np.sum(np.log(s[~ev])))


def engine_reference(scenario: Any, days_after_surgery: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Λ_ref, λ_ref) of ``scenario`` at ``days_after_surgery`` from the relapse-time engine (distant
    relapse), at the scenario's own shedding rate (the reference)."""
    from ..body.relapse import relapse_free

    s, h = relapse_free(scenario, np.asarray(days_after_surgery, dtype=float))
    with np.errstate(divide="ignore"):
        return -np.log(s), h


@dataclass(frozen=True)
class FrailtyFit:
    """Maximum-likelihood estimates of (θ0, log σ, β), their standard errors and Wald intervals.

    ``estimates`` / ``se``: by name (``log_median_ratio`` = θ0, ``log_sigma``, then the
    covariates' names); ``loglik`` at the maximum; ``n``, ``events``; ``converged``."""

    names: tuple[str, ...]
    estimates: np.ndarray
    covariance: np.ndarray
    loglik: float
    n: int
    events: int
    converged: bool
    message: str = ""
    level: float = 0.95
    extra: dict = field(default_factory=dict)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.covariance), 0.0))

    def interval(self, level: float | None = None) -> np.ndarray:
        """Wald intervals (rows: parameters; columns: low, high)."""
        q = stats.norm.ppf(0.5 + 0.5 * (self.level if level is None else level))
        return np.column_stack([self.estimates - q * self.se, self.estimates + q * self.se])

    @property
    def sigma(self) -> float:
        return float(math.exp(self.estimates[1]))

    def to_frame(self) -> pd.DataFrame:
        ci = self.interval()
        return pd.DataFrame({"parameter": self.names, "estimate": self.estimates, "se": self.se,
                             "low": ci[:, 0], "high": ci[:, 1]})

    def __repr__(self) -> str:
        return (f"FrailtyFit(n={self.n}, events={self.events}, loglik={self.loglik:.2f}, "
                f"sigma={self.sigma:.3g}, converged={self.converged})")


def _hessian(fun, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of ``fun`` at ``x``."""
    k = len(x)
    h = step * np.maximum(1.0, np.abs(x))
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            def f(di, dj):
                y = x.copy()
                y[i] += di
                y[j] += dj
                return fun(y)
            v = (f(h[i], h[j]) - f(h[i], -h[j]) - f(-h[i], h[j]) + f(-h[i], -h[j])) / (4 * h[i] * h[j])
            out[i, j] = out[j, i] = v
    return out


def fit_shedding_frailty(cum_ref: np.ndarray, haz_ref: np.ndarray, event: np.ndarray,
                         covariates: np.ndarray | None = None, names: Sequence[str] = (), *,
                         start: Sequence[float] | None = None, level: float = 0.95) -> FrailtyFit:
    """Maximum likelihood of (θ0, log σ, β) (module docstring) for right-censored relapse data.

    ``cum_ref``, ``haz_ref``: each patient's Λ_ref and λ_ref at her observed time (relapse or last
    follow-up, days after surgery) at the reference shedding rate; ``event``: relapse observed;
    ``covariates``: (patients × k) design on the links' scale, with ``names``."""
    cum_ref = np.asarray(cum_ref, dtype=float)
    haz_ref = np.asarray(haz_ref, dtype=float)
    ev = np.asarray(event, dtype=bool)
    n = len(cum_ref)
    if not (len(haz_ref) == len(ev) == n):
        raise ValueError(f"cum_ref, haz_ref and event must have one value per patient (got {len(cum_ref)}, "
                         f"{len(haz_ref)}, {len(ev)})")
    if not np.all(np.isfinite(cum_ref)) or np.any(cum_ref < 0) or np.any(haz_ref < 0):
        raise ValueError("cum_ref and haz_ref must be finite and >= 0 (the engine's curve at each patient's time)")
    if np.any(ev & (haz_ref <= 0)):
        raise ValueError("a relapse observed where the reference hazard is 0: the model gives it no density")
    x = np.zeros((n, 0)) if covariates is None else np.asarray(covariates, dtype=float).reshape(n, -1)
    if x.shape[1] != len(names):
        raise ValueError(f"covariates have {x.shape[1]} columns but {len(names)} names")
    all_names = ("log_median_ratio", "log_sigma", *names)

    def nll(p: np.ndarray) -> float:
        m = np.exp(p[0] + x @ p[2:])
        v = -marginal_loglik(cum_ref, haz_ref, ev, math.exp(p[1]), m)
        return v if math.isfinite(v) else 1e300

    p0 = np.zeros(2 + x.shape[1]) if start is None else np.asarray(start, dtype=float)
    if start is None:
        # start: the median ratio that matches the event count (no covariates, sigma 0.5)
        p0[0] = math.log(max(ev.sum(), 1) / max(cum_ref.sum(), 1e-300))
        p0[1] = math.log(0.5)
    bounds = [(None, None), LOG_SIGMA_BOUNDS] + [(None, None)] * x.shape[1]
    p0[1] = min(max(p0[1], LOG_SIGMA_BOUNDS[0]), LOG_SIGMA_BOUNDS[1])
    res = optimize.minimize(nll, p0, method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000, "ftol": 1e-12,
                                                                                 "gtol": 1e-8})
    at_bound = bool(np.isclose(res.x[1], LOG_SIGMA_BOUNDS[0]) or np.isclose(res.x[1], LOG_SIGMA_BOUNDS[1]))
    hess = _hessian(nll, res.x)
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.full_like(hess, np.nan)
    return FrailtyFit(all_names, res.x, cov, -float(res.fun), n, int(ev.sum()), bool(res.success),
                      str(res.message), level, {"sigma_at_bound": at_bound})
