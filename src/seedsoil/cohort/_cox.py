"""Cox proportional-hazards fit (Efron ties) in O(n log n), with cluster-robust errors.

This is lifelines' ``CoxPHFitter`` (unpenalized, unweighted, unstratified), the same
algorithm step for step, with its per-row Python loops replaced by cumulative sums:

* rows sorted by (duration, event) with a stable sort, as lifelines sorts them;
* covariates centred and scaled by their mean and standard deviation (ddof 1);
* Newton–Raphson from 0 with lifelines' step-size schedule and stopping rules
  (|delta| < 1e-7, relative change of the log partial likelihood < 1e-9, Newton
  decrement < 1e-7), so the returned coefficients are the iterate lifelines returns;
* gradient, Hessian and log partial likelihood of Efron's approximation summed over
  the distinct event times at once (lifelines loops over rows, or over times);
* cluster-robust (sandwich) variance from lifelines' score residuals: for row i in
  sorted order, with risk sums R_k = Σ_{j≥k} φ_j, S_k = Σ_{j≥k} φ_j x_j,

      r_i = E_i (x_i − S_i/R_i) − φ_i Σ_{k≤i} E_k/R_k (x_i − S_k/R_k)
          = E_i (x_i − S_i/R_i) − φ_i (x_i A_i − B_i),
      A_i = Σ_{k≤i} E_k/R_k,  B_i = Σ_{k≤i} E_k S_k/R_k²,

  (two running sums instead of lifelines' O(n²) loop), delta-betas r V, summed by
  cluster, V_robust = D'D.

Time O(n log n + n d²) and memory O(n d) for n rows and d covariates; lifelines' robust
fit makes n Python iterations each touching up to n rows. ``tests/test_cohort_stats.py`` checks the results
against lifelines (``CoxPHFitter().fit(..., cluster_col=...)``) to 1e-10.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: lifelines' Newton–Raphson defaults (CoxPHFitter._newton_raphson_for_efron_model)
STEP_SIZE = 0.95
PRECISION = 1e-07
R_PRECISION = 1e-9
MAX_STEPS = 500


class CoxConvergenceWarning(RuntimeWarning):
    """Newton–Raphson did not converge (as lifelines' ConvergenceWarning)."""


@dataclass(frozen=True)
class CoxFit:
    """Coefficients (log hazard ratios, original covariate scale) and their standard errors."""

    coef: np.ndarray
    se: np.ndarray
    log_likelihood: float
    iterations: int

    def summary(self, alpha: float = 0.05) -> dict[str, np.ndarray]:
        """``hr``, ``ci_lower``, ``ci_upper`` (Wald, ``1 - alpha``) and ``p_value``, as lifelines' summary."""
        from scipy import stats

        z = stats.norm.ppf(1 - alpha / 2)
        hr = np.exp(self.coef)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return {"hr": hr, "ci_lower": hr * np.exp(-z * self.se), "ci_upper": hr * np.exp(z * self.se),
                    "p_value": stats.chi2.sf((self.coef / self.se) ** 2, 1)}


class _StepSizer:
    """lifelines.utils.StepSizer (same constants)."""

    def __init__(self, initial: float):
        self.initial = initial
        self.step_size = initial
        self.temper_back_up = False
        self.norms: list[float] = []

    def update(self, norm_of_delta: float) -> float:
        self.norms.append(norm_of_delta)
        if self.temper_back_up:
            self.step_size = min(self.step_size * 1.3, self.initial)
        if norm_of_delta >= 15.0:
            self.step_size *= 0.1
            self.temper_back_up = True
        elif 15.0 > norm_of_delta > 5.0:
            self.step_size *= 0.25
            self.temper_back_up = True
        if len(self.norms) >= 3:
            if np.all(np.diff(self.norms[-3:]) < 0):
                self.step_size = min(self.step_size * 1.3, 1.0)
            else:
                self.step_size *= 0.98
        return self.step_size


def _rev_cumsum(a: np.ndarray) -> np.ndarray:
    return a[::-1].cumsum(0)[::-1]


class _Efron:
    """Sorted data and the tie structure, reused by every Newton iteration."""

    def __init__(self, T: np.ndarray, E: np.ndarray, X: np.ndarray):
        self.X = X
        self.Ef = E.astype(float)
        # first row of each distinct time (T ascending): its risk set is the rows from there on
        self.starts = np.flatnonzero(np.r_[True, T[1:] != T[:-1]])
        deaths = np.add.reduceat(E.astype(np.int64), self.starts)
        self.has = deaths > 0  # times with at least one event
        m = deaths[self.has]
        # Efron: l / m for l = 0 .. m-1 at a time with m deaths
        self.group_of_l = np.repeat(np.arange(len(m)), m)
        offsets = np.cumsum(m) - m
        self.prop = (np.arange(int(m.sum())) - offsets[self.group_of_l]) / m[self.group_of_l]
        self.x_death_sum = self._ties(X * self.Ef[:, None])

    def _risk(self, values: np.ndarray) -> np.ndarray:
        """Sum of per-row ``values`` over the risk set (rows with T >= t) of each event time t."""
        return _rev_cumsum(np.add.reduceat(values, self.starts, axis=0))[self.has]

    def _ties(self, values: np.ndarray) -> np.ndarray:
        """Sum of per-row ``values`` over the rows with T == t, at each event time t."""
        return np.add.reduceat(values, self.starts, axis=0)[self.has]

    def values(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(Hessian, gradient, log partial likelihood) at ``beta`` (normalized covariates)."""
        X, Ef = self.X, self.Ef
        d = X.shape[1]
        phi = np.exp(X @ beta)
        phi_x = phi[:, None] * X
        risk_phi, tie_phi = self._risk(phi), self._ties(phi * Ef)
        risk_phi_x, tie_phi_x = self._risk(phi_x), self._ties(phi_x * Ef[:, None])
        g, prop = self.group_of_l, self.prop
        denom = 1.0 / (risk_phi[g] - prop * tie_phi[g])
        numer = risk_phi_x[g] - prop[:, None] * tie_phi_x[g]
        summand = numer * denom[:, None]
        n_times = len(risk_phi)
        sum_denom = np.bincount(g, weights=denom, minlength=n_times)
        sum_prop_denom = np.bincount(g, weights=prop * denom, minlength=n_times)
        # a1 = Σ_t (risk_phi_xx Σ_l denom - tie_phi_xx Σ_l prop denom), one covariate pair at a time
        a1 = np.empty((d, d))
        for a in range(d):
            for b in range(a, d):
                phi_xx = phi_x[:, a] * X[:, b]
                a1[a, b] = a1[b, a] = self._risk(phi_xx) @ sum_denom - self._ties(phi_xx * Ef) @ sum_prop_denom
        a2 = summand.T @ summand
        gradient = self.x_death_sum.sum(0) - summand.sum(0)
        log_lik = float((self.x_death_sum @ beta).sum() + np.log(denom).sum())
        return a2 - a1, gradient, log_lik


def fit_cox(durations: np.ndarray, events: np.ndarray, covariates: np.ndarray,
            clusters: np.ndarray | None = None) -> CoxFit:
    """Efron Cox fit of ``durations`` (days), ``events`` (bool) on ``covariates`` (n × d).

    ``clusters`` (one label per row): cluster-robust (sandwich) standard errors, as
    lifelines' ``cluster_col``; None: model-based errors (inverse information).
    """
    from scipy.linalg import inv, norm, solve

    T = np.asarray(durations, dtype=float)
    E = np.asarray(events, dtype=bool)
    X = np.asarray(covariates, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    order = np.lexsort((E, T))  # stable, as pandas sort_values(by=[T, E])
    T, E, X = T[order], E[order], X[order]
    mean = X.mean(0)
    std = X.std(0, ddof=1)
    Xn = (X - mean) / std
    efron = _Efron(T, E, Xn)
    d = X.shape[1]
    beta = np.zeros(d)
    delta = np.zeros(d)
    sizer = _StepSizer(STEP_SIZE)
    step_size = sizer.step_size
    previous_ll = 0.0
    i = 0
    success = False
    while True:
        beta = beta + step_size * delta
        i += 1
        h, g, ll = efron.values(beta)
        try:
            delta = solve(-h, g, assume_a="pos", check_finite=False)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise np.linalg.LinAlgError(f"Cox fit: the information matrix is singular or not finite ({exc}); "
                                        "are the covariates collinear or constant?") from None
        if np.any(np.isnan(delta)):
            raise np.linalg.LinAlgError("Cox fit: Newton step is NaN (Hessian or gradient not finite)")
        hessian = h
        norm_delta = float(norm(delta))
        newton_decrement = g.dot(delta) / 2
        if norm_delta < PRECISION:
            success = True
            break
        if previous_ll != 0 and abs(ll - previous_ll) / (-previous_ll) < R_PRECISION:
            success = True
            break
        if newton_decrement < PRECISION:
            success = True
            break
        if i >= MAX_STEPS or step_size <= 0.00001:
            break
        if abs(ll) < 0.0001 and norm_delta > 1.0:
            break
        previous_ll = ll
        step_size = sizer.update(norm_delta)
    if not success or norm_delta > 0.1:
        warnings.warn(f"Cox fit: Newton–Raphson did not converge (|delta| = {norm_delta:.3g} after {i} steps); "
                      "the hazard ratio may be unreliable (complete separation?)", CoxConvergenceWarning,
                      stacklevel=2)
    coef = beta / std
    variance = -inv(hessian) / np.outer(std, std)
    if clusters is None:
        se = np.sqrt(variance.diagonal())
    else:
        se = np.sqrt(_cluster_sandwich(efron, coef * std, variance * std[:, None],
                                       np.asarray(clusters)[order]).diagonal())
    return CoxFit(coef=coef, se=se, log_likelihood=ll, iterations=i)


def _cluster_sandwich(efron: _Efron, beta: np.ndarray, scaled_variance: np.ndarray,
                      clusters: np.ndarray) -> np.ndarray:
    """D'D with D the delta-betas (score residuals × scaled variance) summed by cluster."""
    import pandas as pd

    X, Ef = efron.X, efron.Ef
    phi = np.exp(X @ beta)
    R = _rev_cumsum(phi)
    S = _rev_cumsum(phi[:, None] * X)
    xbar = S / R[:, None]
    A = np.cumsum(Ef / R)
    B = np.cumsum(Ef[:, None] * xbar / R[:, None], axis=0)
    score = Ef[:, None] * (X - xbar) - phi[:, None] * (X * A[:, None] - B)
    delta_betas = score @ scaled_variance
    codes, uniques = pd.factorize(clusters, sort=True)
    summed = np.stack([np.bincount(codes, weights=delta_betas[:, k], minlength=len(uniques))
                       for k in range(delta_betas.shape[1])], axis=1)
    return summed.T @ summed
