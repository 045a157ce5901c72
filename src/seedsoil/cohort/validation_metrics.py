"""Scoring survival predictions against an observed cohort, whatever model made them.

Any model (seedsoil's mechanistic model, the Cox baseline :func:`fit_cox_baseline`, anything
else) is scored from the same input: its predicted event-free probabilities ``S_i(t)``, one
row per test patient and one column per point of a time grid, and the observed
``(time, event)`` of those patients. Metrics that weight by the inverse probability of
censoring (IPCW) also take a training set's ``(time, event)``, from which the censoring
distribution ``G`` is estimated (Kaplan–Meier of the censoring times).

:func:`score_predictions` computes, with the implementations the field maintains
(scikit-survival's ``sksurv.metrics`` and lifelines' ``KaplanMeierFitter``; nothing here
re-implements a metric):

* Harrell's C (``concordance_index_censored``) and Uno's C (``concordance_index_ipcw``,
  truncated at ``tau`` = the risk horizon), with the risk score ``1 - S_i(t*)`` at the
  stated risk horizon ``t*`` (by default the last horizon, 5 years);
* the cumulative/dynamic AUC at each horizon (``cumulative_dynamic_auc``; the risk at
  horizon ``h`` is ``1 - S_i(h)``);
* the IPCW Brier score at each horizon (``brier_score``) and the integrated Brier score
  over a stated interval (``integrated_brier_score``, trapezoid over the grid points in it);
* calibration: per risk group (quartiles of ``1 - S_i(h)`` by default) the mean predicted
  ``S_i(h)`` against the group's Kaplan–Meier estimate at ``h`` with its confidence
  interval (lifelines' log(-log) Greenwood bounds), and the largest absolute difference;
  the Greenwood–Nam–D'Agostino chi-square test of those differences
  (:meth:`PredictionScores.calibration_test`); and, to tell a miss from the test cohort's own
  sampling noise, the largest difference a perfectly calibrated model would show on a cohort
  of the same size, risks and censoring (:func:`perfect_calibration_errors`).

Times are in the unit of the data (days for seedsoil's tables and the clinical cohorts).
``docs/cohort.md`` ("Scoring predictions against a cohort") gives the definitions and
references. scikit-survival, lifelines and matplotlib are imported inside the functions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from ..errors import SeedsoilError
from ..units import DAYS_PER_YEAR

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ScoringInputError", "PredictionScores", "score_predictions", "perfect_calibration_errors",
           "censoring_sampler", "CoxBaseline", "fit_cox_baseline", "DEFAULT_HORIZONS_DAYS"]

#: 3 and 5 years, in days
DEFAULT_HORIZONS_DAYS: tuple[float, float] = (3 * DAYS_PER_YEAR, 5 * DAYS_PER_YEAR)


class ScoringInputError(SeedsoilError, ValueError):
    """Predictions, outcomes or a covariate table cannot be scored; the message names the problem."""


# --------------------------------------------------------------------------- input checks
def _outcomes(name: str, time: Any, event: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    if t.ndim != 1 or e.ndim != 1:
        raise ScoringInputError(f"{name} times and events must be 1-D arrays (one value per patient), "
                                f"got shapes {t.shape} and {e.shape}")
    if len(t) != len(e):
        raise ScoringInputError(f"{name} times and events have different lengths ({len(t)} and {len(e)})")
    if len(t) < 2:
        raise ScoringInputError(f"{name} set needs at least 2 patients, got {len(t)}")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        i = int(np.flatnonzero(~np.isfinite(t) | (t < 0))[0])
        raise ScoringInputError(f"{name} times must be finite and >= 0; patient {i} has {t[i]!r}")
    if e.dtype != bool:
        if not np.isin(e, [0, 1]).all():
            i = int(np.flatnonzero(~np.isin(e, [0, 1]))[0])
            raise ScoringInputError(f"{name} events must be bool or 0/1 (1 = event observed); "
                                    f"patient {i} has {e[i]!r}")
        e = e.astype(bool)
    if not e.any():
        raise ScoringInputError(f"{name} set has no event; every metric needs at least one")
    return t, e


def _structured(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event, time
    return y


def _grid_index(times: np.ndarray, values: Sequence[float], what: str) -> np.ndarray:
    """Indices of ``values`` in the grid ``times`` (each must be a grid point)."""
    idx = np.searchsorted(times, values)
    out = []
    for v, i in zip(values, idx):
        hit = [j for j in (i - 1, i) if 0 <= j < len(times) and math.isclose(times[j], v, rel_tol=1e-9, abs_tol=1e-9)]
        if not hit:
            raise ScoringInputError(
                f"{what} {v:g} is not a point of the prediction grid ({times[0]:g} .. {times[-1]:g}, "
                f"{len(times)} points); predict on a grid that contains it, e.g. np.union1d(grid, horizons)")
        out.append(hit[0])
    return np.asarray(out, dtype=int)


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class PredictionScores:
    """The scores of one model's predictions on one test cohort (times in the data's unit).

    ``horizons``, ``auc`` and ``brier`` are aligned tuples; ``calibration`` has one row per
    (horizon, risk group): ``group`` (1 = lowest predicted risk), ``n``, ``events`` (by ``h``),
    ``predicted`` (mean ``S_i(h)``), ``observed`` (Kaplan–Meier ``S(h)`` of the group; NaN when
    the group's follow-up ends before ``h``), ``observed_lower``/``observed_upper`` (its
    ``1 - alpha`` interval), ``observed_se`` (Greenwood) and ``abs_error``.
    """

    model: str
    n: int
    events: int
    risk_horizon: float
    harrell_c: float
    uno_c: float
    horizons: tuple[float, ...]
    auc: tuple[float, ...]
    brier: tuple[float, ...]
    ibs: float
    ibs_interval: tuple[float, float]
    calibration: pd.DataFrame = field(repr=False)
    alpha: float = 0.05

    @property
    def calibration_max_error(self) -> tuple[float, ...]:
        """Largest |predicted - observed| over the risk groups, per horizon (NaN groups skipped)."""
        return tuple(float(self.calibration.loc[self.calibration["horizon"] == h, "abs_error"].max())
                     for h in self.horizons)

    def calibration_test(self) -> pd.DataFrame:
        """The Greenwood–Nam–D'Agostino calibration test (Demler, Paynter & Cook 2015, Stat Med
        34:1659, doi:10.1002/sim.6428), one row per horizon: ``chi2`` = sum over the risk groups
        of ((observed - predicted) / Greenwood SE)², ``df`` = groups - 1 (groups whose
        Kaplan–Meier is undefined at the horizon or has no variance are left out), ``p_value``
        (chi-square upper tail) and ``min_events`` (the fewest events in a group by the
        horizon; the authors advise at least 5 for the chi-square approximation)."""
        from scipy import stats

        rows = []
        for h in self.horizons:
            c = self.calibration[self.calibration["horizon"] == h]
            c = c[np.isfinite(c["observed"]) & (c["observed_se"] > 0)]
            chi2 = float((((c["observed"] - c["predicted"]) / c["observed_se"]) ** 2).sum())
            df = len(c) - 1
            p = float(stats.chi2.sf(chi2, df)) if df > 0 else math.nan
            rows.append({"model": self.model, "horizon": float(h), "chi2": chi2, "df": df, "p_value": p,
                         "min_events": int(c["events"].min()) if len(c) else 0})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        hz = ", ".join(f"{h:g}: AUC {a:.3f} Brier {b:.3f}" for h, a, b in zip(self.horizons, self.auc, self.brier))
        return (f"PredictionScores({self.model!r}, n={self.n}, events={self.events}, Harrell C {self.harrell_c:.3f}, "
                f"Uno C {self.uno_c:.3f} (risk at {self.risk_horizon:g}), {hz}, IBS {self.ibs:.3f} "
                f"[{self.ibs_interval[0]:g}, {self.ibs_interval[1]:g}])")

    def to_frame(self) -> pd.DataFrame:
        """One row per number: ``model``, ``metric``, ``horizon``, ``value``.

        ``metric`` is ``harrell_c`` and ``uno_c`` (horizon = the risk horizon ``t*``),
        ``auc``, ``brier`` and ``calibration_max_error`` (one row per horizon), ``ibs``
        (horizon = the end of ``ibs_interval``)."""
        rows = [("harrell_c", self.risk_horizon, self.harrell_c), ("uno_c", self.risk_horizon, self.uno_c)]
        rows += [("auc", h, a) for h, a in zip(self.horizons, self.auc)]
        rows += [("brier", h, b) for h, b in zip(self.horizons, self.brier)]
        rows += [("ibs", self.ibs_interval[1], self.ibs)]
        rows += [("calibration_max_error", h, m) for h, m in zip(self.horizons, self.calibration_max_error)]
        return pd.DataFrame([{"model": self.model, "metric": m, "horizon": float(h), "value": float(v)}
                             for m, h, v in rows])

    def plot(self, ax: "Axes | None" = None) -> "Axes":
        """Calibration plot: observed (Kaplan–Meier, with its interval) against mean predicted
        event-free probability, one marker per risk group and one colour per horizon, with the
        diagonal. Returns the axes."""
        from .. import plotting

        ax = plotting.new_axes(ax, (5.4, 5.4))
        ax.plot([0, 1], [0, 1], color=plotting.GREY, lw=1, ls="--", label="perfect calibration")
        for k, h in enumerate(self.horizons):
            rows = self.calibration[self.calibration["horizon"] == h]
            obs = rows["observed"].to_numpy(dtype=float)
            err = np.vstack([obs - rows["observed_lower"].to_numpy(dtype=float),
                             rows["observed_upper"].to_numpy(dtype=float) - obs])
            ax.errorbar(rows["predicted"], obs, yerr=err, fmt="o", color=plotting.colour(k), capsize=3,
                        label=f"t = {h:g} (max |error| {self.calibration_max_error[k]:.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("predicted event-free probability (group mean)")
        ax.set_ylabel("observed event-free probability (Kaplan–Meier)")
        ax.set_title(f"{self.model}: calibration by risk group")
        plotting.grid(ax)
        plotting.legend_below(ax, ncol=1)
        return ax


# --------------------------------------------------------------------------- scoring
def _risk_groups(pred: np.ndarray, groups: int) -> np.ndarray:
    """Risk group (1 = lowest risk) of each patient: quantile groups of the risk ``1 - pred``
    (pandas.qcut), ties broken by patient order."""
    rank = pd.Series(1.0 - np.asarray(pred, dtype=float)).rank(method="first").to_numpy()
    return pd.qcut(rank, groups, labels=False) + 1


def _greenwood_se(kmf: Any, h: float) -> float:
    """Greenwood's standard error of a fitted lifelines Kaplan–Meier estimate at ``h``:
    S(h) sqrt(sum over event times t_i <= h of d_i / (n_i (n_i - d_i))) (from its event table)."""
    tab = kmf.event_table
    tab = tab[tab.index.to_numpy(dtype=float) <= h]
    d = tab["observed"].to_numpy(dtype=float)
    n = tab["at_risk"].to_numpy(dtype=float)
    s = float(kmf.survival_function_at_times(h).iloc[0])
    if s <= 0.0:
        return 0.0
    keep = d > 0
    return s * math.sqrt(float(np.sum(d[keep] / (n[keep] * (n[keep] - d[keep])))))


def score_predictions(survival: Any, times: Any, test_time: Any, test_event: Any, train_time: Any,
                      train_event: Any, *, horizons: Sequence[float] = DEFAULT_HORIZONS_DAYS,
                      risk_horizon: float | None = None, ibs_interval: tuple[float, float] | None = None,
                      groups: int = 4, alpha: float = 0.05, censor_test_at: float | None = None,
                      model: str = "model") -> PredictionScores:
    """Score predicted event-free probabilities against observed outcomes.

    ``survival``: array (test patients × grid points) of ``S_i(t)``, each row
    non-increasing, in [0, 1]; ``times``: the grid, strictly increasing, containing every
    horizon. ``test_time``/``test_event``: the test patients' follow-up and event flags
    (bool or 0/1). ``train_time``/``train_event``: the training cohort, for the censoring
    distribution of the IPCW metrics (Uno's C, AUC, Brier).

    ``horizons``: where AUC, Brier and calibration are evaluated (default 3 and 5 years in
    days). ``risk_horizon`` ``t*``: the risk score of both C indices is ``1 - S_i(t*)``, and
    Uno's C is truncated at ``tau = t*`` (default: the last horizon). ``ibs_interval``: the
    integrated Brier score covers the grid points in it (default: from the first grid point
    at or after the earliest test time to the last horizon). ``groups``: risk groups of the
    calibration table (4 = quartiles of ``1 - S_i(h)``, cut by ``pandas.qcut``; tied risks
    are ordered by patient).
    ``censor_test_at``: administratively censor the test cohort there first (needed when its
    follow-up outlasts the training cohort's, where the censoring distribution is unknown).
    Raises :class:`ScoringInputError` (a ValueError) naming the problem.
    """
    from lifelines import KaplanMeierFitter
    from sksurv.nonparametric import CensoringDistributionEstimator
    from sksurv.metrics import (brier_score, concordance_index_censored, concordance_index_ipcw,
                                cumulative_dynamic_auc, integrated_brier_score)

    grid = np.asarray(times, dtype=float)
    if grid.ndim != 1 or len(grid) < 2:
        raise ScoringInputError(f"times must be a 1-D grid of at least 2 points, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ScoringInputError("times must be finite and >= 0")
    if np.any(np.diff(grid) <= 0):
        i = int(np.flatnonzero(np.diff(grid) <= 0)[0])
        raise ScoringInputError(f"times must be sorted strictly increasing; times[{i}] = {grid[i]:g} is followed by "
                                f"{grid[i + 1]:g}")
    S = np.asarray(survival, dtype=float)
    if S.ndim != 2:
        raise ScoringInputError(f"survival must be a 2-D array (patients × times), got {S.ndim}-D shape {S.shape}")
    if S.shape[1] != len(grid):
        raise ScoringInputError(f"survival has {S.shape[1]} columns but times has {len(grid)} points; "
                                "one column per grid point")
    if not np.all(np.isfinite(S)):
        raise ScoringInputError("survival holds NaN or infinite values; predictions must be probabilities")
    if S.min() < 0 or S.max() > 1:
        raise ScoringInputError(f"survival probabilities must lie in [0, 1]; they range over "
                                f"[{S.min():g}, {S.max():g}]")
    if np.any(np.diff(S, axis=1) > 1e-12):
        i = int(np.flatnonzero((np.diff(S, axis=1) > 1e-12).any(1))[0])
        raise ScoringInputError(f"survival of patient {i} increases with time; a survival curve is non-increasing")
    t_test, e_test = _outcomes("test", test_time, test_event)
    t_train, e_train = _outcomes("training", train_time, train_event)
    if len(t_test) != S.shape[0]:
        raise ScoringInputError(f"survival has {S.shape[0]} rows but the test set has {len(t_test)} patients; "
                                "one row per test patient, in the same order")
    if censor_test_at is not None:
        c = float(censor_test_at)
        e_test = e_test & (t_test <= c)
        t_test = np.minimum(t_test, c)
        if not e_test.any():
            raise ScoringInputError(f"no test event at or before censor_test_at = {c:g}")
    if t_test.max() > t_train.max():
        raise ScoringInputError(
            f"test follow-up ({t_test.max():g}) outlasts the training cohort's ({t_train.max():g}), where the "
            "censoring distribution of the IPCW metrics is unknown; pass censor_test_at <= "
            f"{t_train.max():g}")
    hz = np.asarray([float(h) for h in horizons])
    if hz.ndim != 1 or len(hz) == 0 or np.any(np.diff(hz) <= 0):
        raise ScoringInputError(f"horizons must be a non-empty increasing sequence, got {list(horizons)}")
    if hz[0] < t_test.min() or hz[-1] >= t_test.max():
        raise ScoringInputError(f"horizons must lie within the test follow-up [{t_test.min():g}, {t_test.max():g}); "
                                f"got {hz.tolist()}")
    t_star = float(hz[-1] if risk_horizon is None else risk_horizon)
    if not (t_test.min() <= t_star < t_test.max()):
        raise ScoringInputError(f"risk_horizon {t_star:g} must lie within the test follow-up "
                                f"[{t_test.min():g}, {t_test.max():g})")
    if not (isinstance(groups, int) and 1 < groups <= len(t_test)):
        raise ScoringInputError(f"groups must be an integer in [2, {len(t_test)}], got {groups!r}")
    if not (0 < alpha < 1):
        raise ScoringInputError(f"alpha must lie in (0, 1) (0.05 gives 95 % intervals), got {alpha!r}")
    h_idx = _grid_index(grid, hz, "horizon")
    star_idx = int(_grid_index(grid, [t_star], "risk_horizon")[0])
    if ibs_interval is None:
        start_at = int(np.searchsorted(grid, t_test.min()))
        if start_at >= len(grid):
            raise ScoringInputError("no grid point lies at or after the earliest test time")
        ibs_interval = (float(grid[start_at]), float(hz[-1]))
    lo, hi = float(ibs_interval[0]), float(ibs_interval[1])
    in_ibs = (grid >= lo) & (grid <= hi)
    if in_ibs.sum() < 2 or lo < t_test.min() or hi >= t_test.max():
        raise ScoringInputError(f"ibs_interval [{lo:g}, {hi:g}] must hold at least 2 grid points and lie within "
                                f"the test follow-up [{t_test.min():g}, {t_test.max():g})")

    y_train, y_test = _structured(t_train, e_train), _structured(t_test, e_test)
    g_at_events = CensoringDistributionEstimator().fit(y_train).predict_proba(t_test[e_test])
    if (g_at_events == 0).any():
        t0 = float(t_test[e_test][g_at_events == 0].min())
        raise ScoringInputError(
            f"the training cohort's censoring distribution is 0 at test event time {t0:g} (everyone still at risk "
            f"there is censored, e.g. at the end of a fixed follow-up), so its IPCW weight is infinite; pass "
            f"censor_test_at < {t0:g}")
    risk_star = 1.0 - S[:, star_idx]
    harrell = float(concordance_index_censored(e_test, t_test, risk_star)[0])
    uno = float(concordance_index_ipcw(y_train, y_test, risk_star, tau=t_star)[0])
    auc, _ = cumulative_dynamic_auc(y_train, y_test, 1.0 - S[:, h_idx], hz)
    _, brier = brier_score(y_train, y_test, S[:, h_idx], hz)
    ibs = float(integrated_brier_score(y_train, y_test, S[:, in_ibs], grid[in_ibs]))

    rows = []
    for h, j in zip(hz, h_idx):
        pred = S[:, j]
        # quantile groups of the risk 1 - S_i(h) (pandas.qcut), ties broken by patient order
        group = _risk_groups(pred, groups)
        for g in range(1, groups + 1):
            members = group == g
            kmf = KaplanMeierFitter(alpha=alpha).fit(t_test[members], e_test[members])
            observed = lower = upper = se = math.nan
            if t_test[members].max() >= h:
                observed = float(kmf.survival_function_at_times(h).iloc[0])
                ci = kmf.confidence_interval_
                k = int(np.searchsorted(ci.index.to_numpy(dtype=float), h, side="right") - 1)
                lower, upper = float(ci.iloc[k, 0]), float(ci.iloc[k, 1])
                se = _greenwood_se(kmf, h)
            predicted = float(pred[members].mean())
            rows.append({"model": model, "horizon": float(h), "group": g, "n": int(members.sum()),
                         "events": int(e_test[members & (t_test <= h)].sum()),
                         "predicted": predicted, "observed": observed, "observed_lower": lower,
                         "observed_upper": upper, "observed_se": se, "abs_error": abs(predicted - observed)})
    return PredictionScores(model=model, n=len(t_test), events=int(e_test.sum()), risk_horizon=t_star,
                            harrell_c=harrell, uno_c=uno, horizons=tuple(float(h) for h in hz),
                            auc=tuple(float(a) for a in auc), brier=tuple(float(b) for b in brier), ibs=ibs,
                            ibs_interval=(lo, hi), calibration=pd.DataFrame(rows), alpha=float(alpha))


# --------------------------------------------------------------------------- Cox baseline
def censoring_sampler(time: Any, event: Any):
    """Draws from the censoring distribution of right-censored data (the reverse Kaplan–Meier,
    lifelines): ``draw(rng, n)`` → ``n`` censoring times; mass left after the last censoring time
    censors at the last follow-up time."""
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(time, ~np.asarray(event, dtype=bool))
    t = km.survival_function_.index.to_numpy(float)
    s = km.survival_function_.iloc[:, 0].to_numpy(float)

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.uniform(size=n)
        i = np.searchsorted(-s, -u, side="left")  # first time the survival drops to or below u
        return np.where(i < len(t), t[np.minimum(i, len(t) - 1)], t[-1])
    return draw


def perfect_calibration_errors(survival: Any, times: Any, test_time: Any, test_event: Any, *, horizon: float,
                               groups: int = 4, simulations: int = 1000, seed: int = 0) -> np.ndarray:
    """The largest calibration error (as in :func:`score_predictions`' table) that a *perfectly
    calibrated* model would show on this test cohort: one value per simulated cohort.

    Each simulation keeps the patients and their predicted curves ``survival`` (patients × the
    grid ``times``) and draws each patient's event time from her own curve (inverse transform on
    the grid; beyond its end, no event) and a censoring time from the test cohort's censoring
    distribution (the reverse Kaplan–Meier of ``test_time``/``test_event``, lifelines; mass left
    after the last censoring time censors at the last follow-up time). Patients are grouped by
    predicted risk at ``horizon`` as in the scoring, and the value is the largest
    |group Kaplan–Meier at ``horizon`` - group mean prediction| (groups whose follow-up ends
    before ``horizon`` skipped). Since the outcomes come from the predictions themselves, the
    spread is the test cohort's sampling resolution: a threshold that a perfectly calibrated
    model would often exceed cannot tell a good model from a bad one. Reproducible for a given
    ``seed``. Kaplan–Meier here is scikit-survival's ``kaplan_meier_estimator`` (the same
    estimate as lifelines', much cheaper per call)."""
    from sksurv.nonparametric import kaplan_meier_estimator

    grid = np.asarray(times, dtype=float)
    S = np.asarray(survival, dtype=float)
    t_test, e_test = _outcomes("test", test_time, test_event)
    if S.ndim != 2 or S.shape != (len(t_test), len(grid)):
        raise ScoringInputError(f"survival must be patients × times ({len(t_test)} × {len(grid)}), got {S.shape}")
    if not (isinstance(simulations, int) and simulations >= 1):
        raise ScoringInputError(f"simulations must be a positive integer, got {simulations!r}")
    h_idx = int(_grid_index(grid, [float(horizon)], "horizon")[0])
    pred = S[:, h_idx]
    group = _risk_groups(pred, groups)
    means = np.array([pred[group == g].mean() for g in range(1, groups + 1)])
    censor = censoring_sampler(t_test, e_test)
    rng = np.random.default_rng(seed)
    n = len(t_test)
    out = np.empty(simulations)
    for k in range(simulations):
        u = rng.random(n)
        # event: the first grid time where S_i(t) <= u_i (S non-increasing)
        below = S <= u[:, None]
        t_ev = np.where(below.any(axis=1), grid[np.argmax(below, axis=1)], np.inf)
        t_c = censor(rng, n)
        t_obs = np.minimum(t_ev, t_c)
        ev = t_ev <= t_c
        worst = 0.0
        for g in range(1, groups + 1):
            m = group == g
            if t_obs[m].max() < horizon:
                continue
            km_t, km_s = kaplan_meier_estimator(ev[m], t_obs[m])
            i = int(np.searchsorted(km_t, horizon, side="right")) - 1
            km = 1.0 if i < 0 else float(km_s[i])
            worst = max(worst, abs(km - means[g - 1]))
        out[k] = worst
    return out


def _is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype))


def _refuse_missing(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    for col in columns:
        if col not in frame.columns:
            raise ScoringInputError(f"{what} has no column {col!r}; it has {list(frame.columns)}")
        missing = frame[col].isna()
        if missing.any():
            raise ScoringInputError(
                f"{what}: column {col!r} has {int(missing.sum())} missing value(s) (rows "
                f"{list(frame.index[missing][:5])}...); the Cox baseline does not impute: drop or impute them first")


@dataclass(frozen=True, eq=False)
class CoxBaseline:
    """A lifelines ``CoxPHFitter`` on one-hot encoded covariates, predicting ``S_i(t)`` on a grid.

    ``levels`` maps each categorical covariate to its levels; the first is the reference
    (no column), every other level a 0/1 column named ``"covariate[level]"``. ``columns``
    is the design matrix's column order.
    """

    fitter: Any
    covariates: tuple[str, ...]
    levels: dict[str, tuple[Any, ...]]
    columns: tuple[str, ...]

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The design matrix of ``frame``'s covariates (float columns ``columns``)."""
        if not isinstance(frame, pd.DataFrame):
            raise ScoringInputError(f"expected a pandas DataFrame of covariates, got {type(frame).__name__}")
        _refuse_missing(frame, self.covariates, "covariate table")
        out = {}
        for cov in self.covariates:
            if cov in self.levels:
                levels = self.levels[cov]
                unseen = sorted(set(frame[cov].unique()) - set(levels), key=str)
                if unseen:
                    raise ScoringInputError(f"covariate {cov!r} has level(s) {unseen} that the training set did not "
                                            f"have (levels {list(levels)})")
                for level in levels[1:]:
                    out[f"{cov}[{level}]"] = (frame[cov] == level).to_numpy(dtype=float)
            else:
                out[cov] = pd.to_numeric(frame[cov]).to_numpy(dtype=float)
        return pd.DataFrame(out, index=frame.index, columns=list(self.columns))

    def predict_survival(self, frame: pd.DataFrame, times: Any) -> np.ndarray:
        """``S_i(t)``: array (rows of ``frame`` × ``times``), the input of :func:`score_predictions`."""
        grid = np.asarray(times, dtype=float)
        if grid.ndim != 1 or np.any(np.diff(grid) <= 0):
            raise ScoringInputError("times must be a 1-D grid sorted strictly increasing")
        sf = self.fitter.predict_survival_function(self.design(frame), times=grid)
        return sf.to_numpy(dtype=float).T

    def predict_risk(self, frame: pd.DataFrame) -> np.ndarray:
        """The linear predictor's partial hazard ``exp(x'beta)`` (higher = earlier event)."""
        return self.fitter.predict_partial_hazard(self.design(frame)).to_numpy(dtype=float)


def fit_cox_baseline(train_df: pd.DataFrame, covariates: Sequence[str], duration_col: str, event_col: str, *,
                     penalizer: float = 0.0, l1_ratio: float = 0.0) -> CoxBaseline:
    """Fit lifelines' ``CoxPHFitter`` (Efron ties, Breslow baseline) on ``covariates``.

    Numeric and bool covariates enter as they are (bool as 0/1). Any other column
    (strings, pandas categoricals) is one-hot encoded: its levels are the categorical's
    categories in order, else the sorted distinct training values; the first level is the
    reference and each other level gets a 0/1 column ``"name[level]"`` (an ordered grade
    therefore gets one column per grade above the lowest; pass integer codes to fit it as
    one trend instead). Missing values in the covariates, durations or events are refused
    (:class:`ScoringInputError`), as is a covariate with a single level. ``penalizer`` and
    ``l1_ratio`` are lifelines' (ridge by default when ``penalizer > 0``).
    """
    from lifelines import CoxPHFitter

    if not isinstance(train_df, pd.DataFrame):
        raise ScoringInputError(f"train_df must be a pandas DataFrame, got {type(train_df).__name__}")
    covariates = tuple(covariates)
    if not covariates:
        raise ScoringInputError("covariates is empty; name at least one column")
    if duration_col in covariates or event_col in covariates:
        raise ScoringInputError("the duration and event columns cannot also be covariates")
    _refuse_missing(train_df, [*covariates, duration_col, event_col], "training table")
    _outcomes("training", train_df[duration_col].to_numpy(), train_df[event_col].to_numpy())
    levels: dict[str, tuple[Any, ...]] = {}
    columns: list[str] = []
    for cov in covariates:
        series = train_df[cov]
        if _is_categorical(series):
            if isinstance(series.dtype, pd.CategoricalDtype):
                present = set(series.unique())
                lv = tuple(c for c in series.cat.categories if c in present)
            else:
                lv = tuple(sorted(series.unique(), key=str))
            if len(lv) < 2:
                raise ScoringInputError(f"covariate {cov!r} has a single level {list(lv)} in the training set")
            levels[cov] = lv
            columns += [f"{cov}[{level}]" for level in lv[1:]]
        else:
            if series.nunique() < 2:
                raise ScoringInputError(f"covariate {cov!r} is constant in the training set")
            columns.append(cov)
    baseline = CoxBaseline(fitter=None, covariates=covariates, levels=levels, columns=tuple(columns))
    X = baseline.design(train_df)
    X["_duration"] = train_df[duration_col].to_numpy(dtype=float)
    X["_event"] = train_df[event_col].to_numpy().astype(bool)
    fitter = CoxPHFitter(penalizer=penalizer, l1_ratio=l1_ratio).fit(X, duration_col="_duration",
                                                                     event_col="_event")
    return CoxBaseline(fitter=fitter, covariates=covariates, levels=levels, columns=tuple(columns))
