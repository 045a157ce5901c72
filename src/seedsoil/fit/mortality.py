"""Death from other causes, the competing event of recurrence-free survival: a Gompertz law in age.

Recurrence-free survival counts death without recurrence as an event. seedsoil's body
model does not give other-cause death (its death is death from metastatic burden), so a
fit to a recurrence-free endpoint models it beside the mechanistic recurrence process, as
an independent competing risk with the human mortality law of Gompertz (1825):

    h(a) = exp(α + β a)   per year at age a (years),
    H(a0, t) = ∫_0^t h(a0 + s) ds = e^(α + β a0) (e^(β t) − 1) / β,

so P(event-free at t) = S_recurrence(t) · exp(−H(a0, t)). The two are fitted apart
(their likelihoods factorise under independence): (α, β) by maximum likelihood on the
deaths without recurrence, censored at recurrence or last follow-up. Adult mortality
doubles every 7–8 years (β ≈ 0.085–0.1/year; Gompertz 1825, doi:10.1098/rstl.1825.0026;
Olshansky & Carnes 1997 doi:10.2307/2061651), a check the fit reports.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

YEAR = 365.25


def cumulative_hazard(alpha: float, beta: float, age: np.ndarray, days: np.ndarray) -> np.ndarray:
    """H(a0, t) of the module docstring; ``age`` in years at surgery, ``days`` after surgery."""
    age = np.asarray(age, dtype=float)
    t = np.asarray(days, dtype=float) / YEAR
    if abs(beta) < 1e-12:
        return np.exp(alpha) * t + 0.0 * age
    return np.exp(alpha + beta * age) * np.expm1(beta * t) / beta


def hazard_per_day(alpha: float, beta: float, age: np.ndarray, days: np.ndarray) -> np.ndarray:
    """h(a0 + t) per day."""
    return np.exp(alpha + beta * (np.asarray(age, dtype=float) + np.asarray(days, dtype=float) / YEAR)) / YEAR


@dataclass(frozen=True)
class GompertzMortality:
    """Fitted other-cause mortality: α (log rate per year at age 0), β (per year), their covariance."""

    alpha: float
    beta: float
    covariance: np.ndarray
    loglik: float
    deaths: int
    n: int

    @property
    def doubling_years(self) -> float:
        return math.log(2.0) / self.beta if self.beta > 0 else math.inf

    def survival(self, age: np.ndarray, days: np.ndarray) -> np.ndarray:
        return np.exp(-cumulative_hazard(self.alpha, self.beta, age, days))

    def to_dict(self) -> dict:
        se = np.sqrt(np.maximum(np.diag(self.covariance), 0.0))
        return {"alpha": self.alpha, "beta": self.beta, "alpha_se": float(se[0]), "beta_se": float(se[1]),
                "covariance": np.asarray(self.covariance).tolist(), "loglik": self.loglik, "deaths": self.deaths,
                "n": self.n, "doubling_years": self.doubling_years}

    @classmethod
    def from_dict(cls, d: dict) -> "GompertzMortality":
        return cls(float(d["alpha"]), float(d["beta"]), np.asarray(d["covariance"], dtype=float), float(d["loglik"]),
                   int(d["deaths"]), int(d["n"]))


def gompertz_loglik(params: np.ndarray, age: np.ndarray, days: np.ndarray, death: np.ndarray) -> float:
    """Σ_deaths log h(a0 + t) − Σ H(a0, t) (per-year hazard; the constant of units drops out)."""
    alpha, beta = params
    logh = alpha + beta * (age + days / YEAR)
    return float(np.sum(logh[death]) - np.sum(cumulative_hazard(alpha, beta, age, days)))


def fit_gompertz(age: np.ndarray, days: np.ndarray, death: np.ndarray) -> GompertzMortality:
    """Maximum likelihood (α, β) for deaths ``death`` (bool) at ``days`` after surgery, ages ``age``."""
    age = np.asarray(age, dtype=float)
    days = np.asarray(days, dtype=float)
    death = np.asarray(death, dtype=bool)
    if not (len(age) == len(days) == len(death)):
        raise ValueError("age, days and death must have one value per patient")
    if death.sum() < 2:
        raise ValueError(f"{int(death.sum())} deaths: too few to fit a Gompertz law (at least 2)")
    if np.any(~np.isfinite(age)) or np.any(days < 0):
        raise ValueError("ages must be finite and follow-up times >= 0")

    def nll(p):
        return -gompertz_loglik(p, age, days, death)

    def grad(p):
        alpha, beta = p
        t = days / YEAR
        h0 = np.exp(alpha + beta * age)
        H = cumulative_hazard(alpha, beta, age, days)
        # dH/dbeta = age·H + e^(α+βa0) [t e^(βt)/β − (e^(βt) − 1)/β²]
        dHdb = age * H + h0 * (t * np.exp(beta * t) / beta - np.expm1(beta * t) / beta ** 2)
        return -np.array([death.sum() - H.sum(), np.sum(age[death] + t[death]) - dHdb.sum()])

    start = np.array([math.log(death.sum() / (days.sum() / YEAR)) - 0.09 * age.mean(), 0.09])
    res = optimize.minimize(nll, start, jac=grad, method="BFGS", options={"gtol": 1e-8, "maxiter": 500})
    h = 1e-5
    hess = np.empty((2, 2))
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        hess[:, j] = (grad(res.x + e) - grad(res.x - e)) / (2 * h)
    hess = 0.5 * (hess + hess.T)
    return GompertzMortality(float(res.x[0]), float(res.x[1]), np.linalg.inv(hess), -float(res.fun),
                             int(death.sum()), int(len(age)))
