"""Survival statistics for virtual clinical trials: one tidy table in, one tidy table out.

The input is a per-patient table with one row per (patient, arm)::

    patient  arm  dmfs_days  dmfs_event  os_days  os_event  relapse_days  relapse_status  cov_<name> ...

Times are days from surgery. ``relapse_status`` is 0 censored, 1 relapse, 2 death
before relapse (a competing risk). Arms are taken in order of first appearance; the
first is the control unless ``control=`` names another.

Every function validates its input, fits lifelines estimators arm by arm and returns a
long ("tidy") DataFrame whose columns carry their units in their names (``*_days``,
``hazard_per_year``). Where lifelines loops over patients or times in Python (the Cox
model and its cluster-robust errors, the log-rank test, the Aalen–Johansen band), the
same algorithm runs here on running sums over the sorted times, so a trial of 10^5
patients per arm takes seconds and memory proportional to its table; the tests check
these against lifelines. Endpoints are named, not given as column pairs:

``"dmfs"``
    distant-metastasis-free survival, event = relapse or death.
``"os"``
    overall survival, event = death.
``"relapse"``
    cause-specific relapse: event = relapse (status 1); death before relapse censors.
``"rfs"``
    recurrence-free survival: event = any recurrence (local at the surgical site, or distant) or death.
``"local"``
    cause-specific local recurrence: event = local recurrence; death before it censors.
    For the probability of relapse in the presence of death use
    :func:`cumulative_incidence`, not ``1 - km(..., "relapse")``.

lifelines is imported inside the functions so ``import seedsoil`` stays light.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from ..errors import SeedsoilError

__all__ = [
    "ENDPOINTS",
    "TrialDataError",
    "TrialStatsWarning",
    "km",
    "censor_marks",
    "medians",
    "logrank",
    "hazard_ratios",
    "rmst",
    "cumulative_incidence",
    "smoothed_hazard",
    "subgroup_hazard_ratios",
    "endpoint_summary",
    "csv_frame",
]

Endpoint = Literal["dmfs", "os", "relapse", "rfs", "local"]

#: endpoint name -> (time column, event column, description)
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "dmfs": ("dmfs_days", "dmfs_event", "distant-metastasis-free survival (event = relapse or death)"),
    "os": ("os_days", "os_event", "overall survival (event = death)"),
    "relapse": ("relapse_days", "relapse_status",
                "cause-specific relapse (event = relapse_status 1; death before relapse censors)"),
    "rfs": ("rfs_days", "rfs_event", "recurrence-free survival (event = any recurrence, local or distant, or death)"),
    "local": ("local_days", "local_event",
              "cause-specific local recurrence at the surgical site (event = local recurrence; death censors)"),
}

from ..units import DAYS_PER_YEAR  # noqa: E402  (one constant for every table and figure)
_COVARIATE_PREFIX = "cov_"


class TrialDataError(SeedsoilError, ValueError):
    """The per-patient trial table (or an argument describing it) cannot be analysed.

    The message names the column, arm or argument and says how to fix it.
    """


class TrialStatsWarning(UserWarning):
    """A statistic could not be estimated (e.g. an arm without events) and is reported as NaN."""


# --------------------------------------------------------------------------- validation
def _require_columns(patients: Any, columns: Sequence[str]) -> pd.DataFrame:
    """Check the table once, at the boundary: type, required columns, value ranges."""
    if not isinstance(patients, pd.DataFrame):
        raise TrialDataError(
            f"patients must be a pandas DataFrame with one row per (patient, arm), got {type(patients).__name__}; "
            "build it with pandas.DataFrame(records)")
    required = ["patient", "arm", *columns]
    missing = [c for c in dict.fromkeys(required) if c not in patients.columns]
    if missing:
        raise TrialDataError(
            f"patients table is missing column(s) {missing}; it has {list(patients.columns)}. "
            f"Add them (times in days from surgery, events as bool) or pick an endpoint whose columns exist "
            f"(endpoints: {', '.join(f'{k}={v[0]}/{v[1]}' for k, v in ENDPOINTS.items())})")
    if len(patients) == 0:
        raise TrialDataError("patients table has no rows; simulate at least one patient per arm first")
    for col in ("patient", "arm"):
        if patients[col].isna().any():
            rows = list(patients.index[patients[col].isna()][:5])
            raise TrialDataError(f"column {col!r} has missing values (rows {rows}...); "
                                 "every row needs a patient and an arm")
    dup = patients.duplicated(["patient", "arm"])
    if dup.any():
        first = patients.loc[dup, ["patient", "arm"]].iloc[0]
        raise TrialDataError(f"{int(dup.sum())} duplicate (patient, arm) row(s), e.g. patient {first['patient']!r} in "
                             f"arm {first['arm']!r}; keep one row per patient per arm")
    for col in columns:
        values = patients[col]
        if col.endswith("_days"):
            numeric = pd.to_numeric(values, errors="coerce").astype(float)
            bad = ~np.isfinite(numeric.to_numpy()) | (numeric.to_numpy() < 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise TrialDataError(f"column {col!r} must hold finite times >= 0 in days; row {patients.index[i]!r} "
                                     f"has {values.iloc[i]!r}. Censor unfinished follow-up at its last day instead")
        elif col == "relapse_status":
            ok = values.isin([0, 1, 2])
            if not ok.all():
                i = int(np.flatnonzero(~ok.to_numpy())[0])
                raise TrialDataError(f"column 'relapse_status' must be 0 (censored), 1 (relapse) or 2 (death before "
                                     f"relapse); row {patients.index[i]!r} has {values.iloc[i]!r}")
        elif col.endswith("_event"):
            ok = values.isin([True, False])  # also accepts 0/1
            if not ok.all():
                i = int(np.flatnonzero(~ok.to_numpy())[0])
                raise TrialDataError(f"column {col!r} must be bool (True = event observed, False = censored) or 0/1; "
                                     f"row {patients.index[i]!r} has {values.iloc[i]!r}")
    return patients


def _endpoint_columns(endpoint: str) -> tuple[str, str]:
    if endpoint not in ENDPOINTS:
        raise TrialDataError(f"unknown endpoint {endpoint!r}; use one of {sorted(ENDPOINTS)} "
                             f"({'; '.join(f'{k}: {v[2]}' for k, v in ENDPOINTS.items())})")
    return ENDPOINTS[endpoint][:2]


def _arms(patients: pd.DataFrame) -> list[str]:
    """Arms in order of first appearance."""
    return list(pd.unique(patients["arm"]))


def _resolve_control(arms: list[str], control: str | None) -> str:
    if control is None:
        return arms[0]
    if control not in arms:
        raise TrialDataError(f"control arm {control!r} is not an arm of this trial; arms are {arms}. "
                             "Pass one of them as control=, or None for the first arm")
    return control


def _check_positive(name: str, value: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TrialDataError(f"{name} must be a number of days > 0, got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise TrialDataError(f"{name} must be a finite number of days > 0, got {value!r}")
    return x


def _check_alpha(alpha: float) -> float:
    if not (0 < float(alpha) < 1):
        raise TrialDataError(f"alpha must lie in (0, 1) (0.05 gives 95 % intervals), got {alpha!r}")
    return float(alpha)


def _durations_events(rows: pd.DataFrame, endpoint: str) -> tuple[np.ndarray, np.ndarray]:
    """(durations in days, bool events) of ``rows`` for a validated endpoint."""
    time_col, event_col = _endpoint_columns(endpoint)
    durations = rows[time_col].to_numpy(dtype=float)
    if endpoint == "relapse":
        events = rows[event_col].to_numpy() == 1
    else:
        events = rows[event_col].to_numpy().astype(bool)
    return durations, events


def _arm_rows(data: pd.DataFrame, arm: Any, endpoint: str | None = None,
              columns: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of ``arm``, with only the columns of ``endpoint`` and ``columns`` (a small copy)."""
    wanted = [*(_endpoint_columns(endpoint) if endpoint else ()), *columns]
    return data.loc[(data["arm"] == arm).to_numpy(), list(dict.fromkeys(wanted))]


def _prepare(patients: Any, endpoint: str) -> pd.DataFrame:
    time_col, event_col = _endpoint_columns(endpoint)
    return _require_columns(patients, [time_col, event_col])


def _fit_km(durations: np.ndarray, events: np.ndarray, alpha: float, label: str = "KM_estimate"):
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=alpha).fit(durations, events, label=label, ci_labels=["lower", "upper"])


# --------------------------------------------------------------------------- Kaplan-Meier
def km(patients: pd.DataFrame, endpoint: Endpoint = "dmfs", *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan–Meier survival curve of ``endpoint`` per arm.

    Returns columns ``arm``, ``days`` (days from surgery; every distinct observed time
    plus 0), ``survival`` (probability, right-continuous step function: the value holds
    from ``days`` until the next row), ``ci_lower``/``ci_upper`` (pointwise
    ``1 - alpha`` interval, lifelines' log(-log) Greenwood bounds) and ``at_risk``
    (patients at risk just before ``days``).
    """
    data = _prepare(patients, endpoint)
    alpha = _check_alpha(alpha)
    frames = []
    for arm in _arms(data):
        durations, events = _durations_events(_arm_rows(data, arm, endpoint), endpoint)
        kmf = _fit_km(durations, events, alpha)
        sf = kmf.survival_function_.iloc[:, 0]
        frames.append(pd.DataFrame({
            "arm": arm,
            "days": sf.index.to_numpy(dtype=float),
            "survival": sf.to_numpy(),
            "ci_lower": kmf.confidence_interval_["lower"].to_numpy(),
            "ci_upper": kmf.confidence_interval_["upper"].to_numpy(),
            "at_risk": kmf.event_table["at_risk"].reindex(sf.index).to_numpy(dtype=int),
        }))
    return pd.concat(frames, ignore_index=True)


def censor_marks(patients: pd.DataFrame, endpoint: Endpoint = "dmfs") -> pd.DataFrame:
    """Where to draw censoring ticks on a Kaplan–Meier plot.

    One row per arm and distinct censoring time: ``arm``, ``days`` (days from surgery),
    ``survival`` (KM survival at that time, i.e. the height of the curve there) and
    ``n_censored`` (patients censored at that time).
    """
    data = _prepare(patients, endpoint)
    frames = []
    for arm in _arms(data):
        durations, events = _durations_events(_arm_rows(data, arm, endpoint), endpoint)
        censored_days, counts = np.unique(durations[~events], return_counts=True)
        kmf = _fit_km(durations, events, 0.05)
        survival = kmf.survival_function_at_times(censored_days).to_numpy(dtype=float) if len(censored_days) else []
        frames.append(pd.DataFrame({"arm": arm, "days": censored_days, "survival": survival, "n_censored": counts}))
    return pd.concat(frames, ignore_index=True)


def medians(patients: pd.DataFrame, endpoint: Endpoint = "dmfs", *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan–Meier median time to ``endpoint`` per arm, with its confidence interval.

    Columns ``arm``, ``n`` (patients), ``events``, ``median_days`` (first time the KM
    curve is <= 0.5), ``median_reached`` (bool: the curve fell to 0.5 within
    follow-up), ``ci_lower``/``ci_upper`` (days; where the pointwise KM bounds cross
    0.5). Each time is ``inf`` when not reached within follow-up; :func:`csv_frame`
    writes those as empty cells.
    """
    from lifelines.utils import median_survival_times

    data = _prepare(patients, endpoint)
    alpha = _check_alpha(alpha)
    rows = []
    for arm in _arms(data):
        durations, events = _durations_events(_arm_rows(data, arm, endpoint), endpoint)
        kmf = _fit_km(durations, events, alpha)
        ci = median_survival_times(kmf.confidence_interval_)
        median = float(kmf.median_survival_time_)
        rows.append({"arm": arm, "n": len(durations), "events": int(events.sum()),
                     "median_days": median, "median_reached": math.isfinite(median),
                     "ci_lower": float(ci["lower"].iloc[0]), "ci_upper": float(ci["upper"].iloc[0])})
    return pd.DataFrame(rows)


def _rmst_se(kmf, horizon_days: float) -> float:
    """Greenwood (delta-method) standard error of the KM restricted mean, in days.

    Var = sum over event times t_j <= tau of A_j^2 d_j / (n_j (n_j - d_j)), with
    A_j = integral of S from t_j to tau (Klein & Moeschberger, sec. 4.5).
    """
    table = kmf.event_table
    times = table.index.to_numpy(dtype=float)
    sf = kmf.survival_function_.iloc[:, 0].reindex(table.index).to_numpy()
    keep = times <= horizon_days
    times, sf = times[keep], sf[keep]
    deaths = table["observed"].to_numpy(dtype=float)[keep]
    at_risk = table["at_risk"].to_numpy(dtype=float)[keep]
    # area of each KM step up to the horizon, then tail sums: A_j = area after t_j
    widths = np.diff(np.append(times, horizon_days))
    tail_area = np.cumsum((sf * widths)[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = tail_area**2 * deaths / (at_risk * (at_risk - deaths))
    # n_j == d_j only at a final step to S = 0, where A_j = 0: the term vanishes
    terms = np.where((deaths > 0) & (at_risk > deaths), terms, 0.0)
    return float(np.sqrt(terms.sum()))


def _warn_beyond_follow_up(arm: str, kmf, horizon_days: float, what: str) -> None:
    """Warn when the horizon lies past the last follow-up of a curve that has not reached 0."""
    last_day = float(kmf.timeline.max())
    if horizon_days > last_day and float(kmf.survival_function_.iloc[-1, 0]) > 0:
        warnings.warn(f"arm {arm!r}: horizon {horizon_days:g} days is beyond the last follow-up "
                      f"({last_day:g} days, last patient censored); {what} holds the last KM value flat. "
                      "Use a shorter horizon or simulate longer follow-up", TrialStatsWarning, stacklevel=3)


def rmst(patients: pd.DataFrame, endpoint: Endpoint, horizon_days: float, *,
         control: str | None = None) -> pd.DataFrame:
    """Restricted mean survival time (area under the KM curve from 0 to ``horizon_days``).

    Columns ``arm``, ``rmst_days`` (mean event-free days out of the first
    ``horizon_days``), ``rmst_se_days`` (Greenwood standard error, treats arms as
    independent samples) and ``difference_days`` (arm minus control; 0 for the control).
    """
    from lifelines.utils import restricted_mean_survival_time

    data = _prepare(patients, endpoint)
    horizon_days = _check_positive("horizon_days", horizon_days)
    arms = _arms(data)
    control = _resolve_control(arms, control)
    rows = []
    for arm in arms:
        durations, events = _durations_events(_arm_rows(data, arm, endpoint), endpoint)
        kmf = _fit_km(durations, events, 0.05)
        _warn_beyond_follow_up(arm, kmf, horizon_days, "RMST")
        rows.append({"arm": arm, "rmst_days": float(restricted_mean_survival_time(kmf, t=horizon_days)),
                     "rmst_se_days": _rmst_se(kmf, horizon_days)})
    out = pd.DataFrame(rows)
    out["difference_days"] = out["rmst_days"] - out.loc[out["arm"] == control, "rmst_days"].iloc[0]
    return out


# --------------------------------------------------------------------------- comparisons
def logrank(patients: pd.DataFrame, endpoint: Endpoint = "dmfs", control: str | None = None) -> pd.DataFrame:
    """Two-sample log-rank test of each arm against the control.

    Columns ``arm``, ``control``, ``test_statistic`` (chi-squared, 1 df), ``p_value``.
    The test treats the arms as independent samples; with paired virtual patients
    (the same patients in every arm) it is conservative. Use :func:`hazard_ratios`
    with ``paired=True`` for a test that uses the pairing.
    """
    data = _prepare(patients, endpoint)
    arms = _arms(data)
    control = _resolve_control(arms, control)
    _require_two_arms(arms)
    durations, events = _durations_events(data, endpoint)
    arm_of_row = data["arm"].to_numpy()
    is_control = arm_of_row == control
    rows = []
    for arm in arms:
        if arm == control:
            continue
        is_arm = arm_of_row == arm
        statistic, p_value = _logrank_test(durations[is_arm], durations[is_control], events[is_arm],
                                           events[is_control])
        rows.append({"arm": arm, "control": control, "test_statistic": statistic, "p_value": p_value})
    return pd.DataFrame(rows)


def _logrank_test(durations_a: np.ndarray, durations_b: np.ndarray, events_a: np.ndarray,
                  events_b: np.ndarray) -> tuple[float, float]:
    """Two-sample log-rank test (chi-squared statistic, p-value), as lifelines' ``logrank_test``.

    The same sums as ``lifelines.statistics.multivariate_logrank_test`` with two groups
    (observed minus expected deaths of group A over the distinct times, hypergeometric
    variance), on arrays over the distinct times instead of lifelines' per-group survival
    tables joined in pandas.
    """
    from scipy import stats as sps

    t = np.r_[durations_a, durations_b].astype(float)
    e = np.r_[events_a, events_b].astype(bool)
    group = np.r_[np.zeros(len(durations_a), dtype=np.int64), np.ones(len(durations_b), dtype=np.int64)]
    times, at = np.unique(t, return_inverse=True)
    k = len(times)
    removed = np.column_stack([np.bincount(at[group == j], minlength=k) for j in (0, 1)]).astype(float)
    observed = np.column_stack([np.bincount(at[(group == j) & e], minlength=k) for j in (0, 1)]).astype(float)
    before = np.vstack([np.zeros((1, 2)), np.cumsum(removed, axis=0)[:-1]])
    n_ij = removed.sum(0) - before  # at risk in each group just before each time
    d_i = observed.sum(1)
    n_i = removed.sum() - np.r_[0.0, np.cumsum(removed.sum(1))[:-1]]
    expected = n_ij * (d_i / n_i)[:, None]
    z = observed.sum(0) - expected.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (n_i - d_i) / (n_i - 1)
    ratio[~np.isfinite(ratio)] = 1.0
    factor = ratio * d_i / n_i**2
    v_ = np.nan_to_num(np.column_stack([n_ij, n_i]) * np.sqrt(factor)[:, None], nan=0.0)
    v = -np.dot(v_.T, v_)
    ix = np.arange(2)
    v[ix, ix] = v[ix, ix] - v[-1, ix]
    v = v[:-1, :-1]
    statistic = float(z[:-1] @ np.linalg.pinv(v[:-1, :-1]) @ z[:-1])
    return statistic, float(sps.chi2.sf(statistic, 1))


def _require_two_arms(arms: list[str]) -> None:
    if len(arms) < 2:
        raise TrialDataError(f"a comparison needs at least two arms; the table has only {arms}. "
                             "Simulate a control and a treatment arm")


_HR_COLUMNS = ["arm", "control", "hr", "ci_lower", "ci_upper", "p_value"]


def _nan_hr(arm: str, control: str) -> dict[str, Any]:
    return {"arm": arm, "control": control, "hr": np.nan, "ci_lower": np.nan, "ci_upper": np.nan, "p_value": np.nan}


def _hazard_ratios(data: pd.DataFrame, endpoint: str, arms: list[str], control: str, paired: bool,
                   alpha: float, context: str = "") -> pd.DataFrame:
    """Cox fit on validated data; ``arms`` may include arms absent from ``data`` (NaN rows).

    The fit is lifelines' ``CoxPHFitter`` algorithm (Efron ties, same Newton–Raphson
    iterates, same cluster-robust sandwich) in O(n log n): see :mod:`._cox`.
    """
    from ._cox import fit_cox

    durations, events = _durations_events(data, endpoint)
    arm_of_row = data["arm"].to_numpy()
    events_per_arm = {arm: int(events[arm_of_row == arm].sum()) for arm in arms}
    others = [a for a in arms if a != control]
    where = f" {context}" if context else ""
    if events_per_arm[control] == 0:
        warnings.warn(f"control arm {control!r} has no {endpoint} events{where}: hazard ratios against it are "
                      "undefined and reported as NaN. Follow patients longer or pick another control",
                      TrialStatsWarning, stacklevel=3)
        return pd.DataFrame([_nan_hr(a, control) for a in others], columns=_HR_COLUMNS)
    empty = [a for a in others if events_per_arm[a] == 0]
    if empty:
        warnings.warn(f"arm(s) {empty} have no {endpoint} events{where}: their hazard ratio is 0 with an "
                      "unbounded interval and is reported as NaN. Follow patients longer or enlarge the arm",
                      TrialStatsWarning, stacklevel=3)
    fitted = [a for a in others if a not in empty]
    results = {}
    if fitted:
        keep = np.isin(arm_of_row, [control, *fitted])
        kept_arms = arm_of_row[keep]
        covariates = np.column_stack([(kept_arms == arm).astype(float) for arm in fitted])
        clusters = data["patient"].to_numpy()[keep] if paired else None
        fit = fit_cox(durations[keep], events[keep], covariates, clusters).summary(alpha)
        for i, arm in enumerate(fitted):
            results[arm] = {"arm": arm, "control": control, "hr": float(fit["hr"][i]),
                            "ci_lower": float(fit["ci_lower"][i]), "ci_upper": float(fit["ci_upper"][i]),
                            "p_value": float(fit["p_value"][i])}
    return pd.DataFrame([results.get(a, _nan_hr(a, control)) for a in others], columns=_HR_COLUMNS)


def hazard_ratios(patients: pd.DataFrame, endpoint: Endpoint = "dmfs", control: str | None = None,
                  paired: bool = True, *, alpha: float = 0.05) -> pd.DataFrame:
    """Hazard ratio of each arm against the control from one Cox model with arm indicators.

    Columns ``arm``, ``control``, ``hr`` (hazard of the arm / hazard of the control;
    < 1 means the arm delays the event), ``ci_lower``/``ci_upper`` (``1 - alpha``
    Wald interval) and ``p_value`` (Wald test of HR = 1). Ties: Efron.

    ``paired=True`` (the same virtual patients in every arm) uses cluster-robust
    (sandwich) standard errors clustered on ``patient``, which accounts for the
    correlation between a patient's copies. Use ``paired=False`` for independent
    patients per arm.

    An arm without events (or a control without events) gets a NaN row and a
    :class:`TrialStatsWarning`; its patients are left out of the model.
    """
    data = _prepare(patients, endpoint)
    alpha = _check_alpha(alpha)
    arms = _arms(data)
    control = _resolve_control(arms, control)
    _require_two_arms(arms)
    return _hazard_ratios(data, endpoint, arms, control, paired, alpha)


def _covariate_column(patients: pd.DataFrame, by: str) -> str:
    column = by if by.startswith(_COVARIATE_PREFIX) else _COVARIATE_PREFIX + by
    if column not in patients.columns:
        available = [c[len(_COVARIATE_PREFIX):] for c in patients.columns if c.startswith(_COVARIATE_PREFIX)]
        raise TrialDataError(f"no covariate column {column!r}; available covariates: {available or 'none'}. "
                             f"Pass by='<name>' for a column 'cov_<name>'")
    return column


def subgroup_hazard_ratios(patients: pd.DataFrame, endpoint: Endpoint, by: str,
                           control: str | None = None, *, paired: bool = True, alpha: float = 0.05,
                           max_levels: int = 20) -> pd.DataFrame:
    """Hazard ratios vs control within each level of covariate ``by`` (which patients benefit).

    ``by`` names a covariate, with or without its ``cov_`` prefix. Returns columns
    ``subgroup`` (covariate name), ``level`` (its value), ``arm``, ``hr``,
    ``ci_lower``, ``ci_upper``, ``p_value`` (as :func:`hazard_ratios`, fitted within
    the level), ``n`` (patients of this arm in the level), ``control`` and ``events``
    (events in this arm in the level). Rows with a missing covariate are left out.
    Subgroup p-values are not adjusted for multiplicity, and a difference between
    subgroups needs an interaction test, not two subgroup p-values.
    """
    data = _prepare(patients, endpoint)
    alpha = _check_alpha(alpha)
    column = _covariate_column(data, by)
    arms = _arms(data)
    control = _resolve_control(arms, control)
    _require_two_arms(arms)
    levels = list(pd.unique(data[column].dropna()))
    if len(levels) > max_levels:
        raise TrialDataError(f"covariate {column!r} has {len(levels)} distinct values (more than max_levels="
                             f"{max_levels}); bin it into categories first, e.g. with pandas.cut")
    try:
        levels = sorted(levels)
    except TypeError:  # mixed types: keep order of appearance
        pass
    name = column[len(_COVARIATE_PREFIX):]
    frames = []
    for level in levels:
        subset = data[data[column] == level]
        hr = _hazard_ratios(subset, endpoint, arms, control, paired, alpha, context=f"in subgroup {name}={level!r}")
        _, events = _durations_events(subset, endpoint)
        arm_of_row = subset["arm"].to_numpy()
        hr["n"] = [int((arm_of_row == a).sum()) for a in hr["arm"]]
        hr["events"] = [int(events[arm_of_row == a].sum()) for a in hr["arm"]]
        hr.insert(0, "level", level)
        hr.insert(0, "subgroup", name)
        frames.append(hr)
    columns = ["subgroup", "level", "arm", "hr", "ci_lower", "ci_upper", "p_value", "n", "control", "events"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


# --------------------------------------------------------------------------- competing risks
def _break_mixed_ties(durations: np.ndarray, status: np.ndarray, step_days: float = 1e-6) -> np.ndarray:
    """Spread events of different types that share a time over a tiny interval ending there.

    lifelines' AalenJohansenFitter refuses ties between event types and jitters them
    with ``np.random.seed`` (which resets NumPy's global random state) and random
    shifts that make the result depend on the run. Instead the tied events are moved
    to distinct times just *before* the tied time (censorings at that time stay at
    risk). Any order of tied events gives the same Aalen–Johansen value once the
    group has passed (each event of interest adds S(t-)/n), so the estimate at the
    original time equals the tie-aware estimator. The spread is below half the gap to
    the neighbouring distinct time, so no other time is crossed.
    """
    events = status != 0
    if not events.any():
        return durations
    frame = pd.DataFrame({"t": durations[events], "s": status[events]})
    n_types = frame.groupby("t")["s"].nunique()
    mixed_times = n_types.index[n_types > 1].to_numpy()
    if len(mixed_times) == 0:
        return durations
    distinct = np.unique(durations)
    adjusted = durations.copy()
    for t in mixed_times:
        idx = np.flatnonzero(events & (durations == t))
        k = int(np.searchsorted(distinct, t))
        if t == 0:  # times cannot go below 0: spread forwards, short of the next time
            sign, room = 1.0, (distinct[1] - t) if len(distinct) > 1 else 1.0
        else:
            sign, room = -1.0, (t - distinct[k - 1]) if k > 0 else t
        delta = min(step_days, 0.5 * room) / len(idx)
        adjusted[idx] = t + sign * delta * np.arange(len(idx))[::-1]
    return adjusted


def _aalen_johansen_bounds(ajf, overall_km, alpha: float) -> np.ndarray:
    """lifelines' Aalen–Johansen confidence bounds (``AalenJohansenFitter._bounds``), vectorized.

    Greenwood-type variance (Collett, Modelling Survival Data in Medical Research, 3rd ed.,
    p. 411), for F_j the incidence at the j-th time, S the all-cause KM survival just before,
    d all events, d1 events of interest and n at risk::

        Var F_j = Σ_{i≤j} (F_j − F_i)² d_i / (n_i (n_i − d_i)) + Σ_{i≤j} S_i² d1_i (n_i − d1_i) / n_i³
                  − 2 Σ_{i≤j} (F_j − F_i) S_i d1_i / n_i²

    expanded in powers of F_j as lifelines does (running sums, in the same order of
    operations), then a log(−log) band. Returns the two bounds as lifelines orders them
    (n × 2).
    """
    from scipy.stats import norm

    table = ajf.event_table
    F = ajf.cumulative_density_.iloc[:, 0].reindex(table.index).to_numpy(dtype=float)
    lag_s = overall_km.survival_function_.iloc[:, 0].reindex(table.index).shift().fillna(1).to_numpy(dtype=float)
    observed = table["observed"].to_numpy(dtype=float)
    at_risk = table["at_risk"].to_numpy(dtype=float)
    d1 = table[ajf.label_cmprisk].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = observed / at_risk / (at_risk - observed)
        first = np.cumsum(a * F**2) + np.cumsum(-(2 * a * F)) * F + np.cumsum(a) * F**2
        second = np.cumsum(lag_s**2 * d1 * (at_risk - d1) / at_risk**3)
        c = lag_s * d1 / at_risk**2
        third = np.cumsum(-(c * F)) + np.cumsum(c) * F
        variance = first + second - 2 * third
        transformed = np.log(-np.log(F))
        se = np.sqrt(variance) / (F * np.absolute(np.log(F)))
        z = norm.ppf(1 - alpha / 2)
        return np.column_stack([np.exp(-np.exp(transformed + z * se)), np.exp(-np.exp(transformed - z * se))])


def cumulative_incidence(patients: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of relapse, with death before relapse as a competing risk.

    Uses ``relapse_days`` and ``relapse_status`` (0 censored, 1 relapse, 2 death).
    Columns ``arm``, ``days`` (days from surgery; 0 and each distinct observed time),
    ``incidence`` (probability of having relapsed by ``days``), ``ci_lower``/``ci_upper``
    (pointwise ``1 - alpha`` interval, log(-log) transform; NaN while the incidence is 0).

    Events of different types at the same time are handled exactly (see
    :func:`_break_mixed_ties`); no random jitter is used.
    """
    from lifelines import AalenJohansenFitter

    data = _require_columns(patients, ["relapse_days", "relapse_status"])
    alpha = _check_alpha(alpha)
    frames = []
    for arm in _arms(data):
        rows = _arm_rows(data, arm, columns=["relapse_days", "relapse_status"])
        durations = rows["relapse_days"].to_numpy(dtype=float)
        status = rows["relapse_status"].to_numpy(dtype=int)
        fit_durations = _break_mixed_ties(durations, status)
        # the estimate from lifelines, its variance from _aalen_johansen_bounds (lifelines' own
        # variance is a Python loop over the distinct times)
        ajf = AalenJohansenFitter(alpha=alpha, calculate_variance=False).fit(fit_durations, status,
                                                                            event_of_interest=1)
        incidence = ajf.cumulative_density_.iloc[:, 0]
        # lifelines labels the bounds the wrong way round; order them by value
        bounds = _aalen_johansen_bounds(ajf, _fit_km(fit_durations, status, alpha), alpha)
        frame = pd.DataFrame({"arm": arm, "days": incidence.index.to_numpy(dtype=float),
                              "incidence": incidence.to_numpy(),
                              "ci_lower": np.fmin(bounds[:, 0], bounds[:, 1]),
                              "ci_upper": np.fmax(bounds[:, 0], bounds[:, 1])})
        if fit_durations is not durations:  # drop the helper times made by tie-breaking
            frame = frame[np.isin(frame["days"].to_numpy(), np.append(durations, 0.0))]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- hazard over time
#: elements of the largest (grid points x event times) kernel block :func:`ramlau_hansen` holds at once
KERNEL_BLOCK = 1 << 20


def ramlau_hansen(durations: np.ndarray, events: np.ndarray, grid: np.ndarray, bandwidth: float,
                  z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epanechnikov-smoothed Nelson–Aalen hazard (per day) at ``grid`` and its log-scale band.

    The kernel vanishes beyond one bandwidth, so each block of grid points sums only the
    event times within reach; memory is bounded by :data:`KERNEL_BLOCK` whatever the
    cohort size.
    """
    times, counts = np.unique(durations[events], return_counts=True)
    order = np.sort(durations)
    at_risk = len(order) - np.searchsorted(order, times, side="left")
    increments, increments2 = counts / at_risk, counts / at_risk**2
    grid = np.asarray(grid, dtype=float)
    hazard, var = np.zeros(len(grid)), np.zeros(len(grid))
    reach = bandwidth * (1.0 + 1e-9)  # a little wider than the support: the kernel itself cuts at |u| < 1
    first = np.searchsorted(times, grid - reach, side="left")
    last = np.searchsorted(times, grid + reach, side="right")
    rows = max(1, KERNEL_BLOCK // max(1, len(times)))
    for start in range(0, len(grid), rows):
        block = slice(start, start + rows)
        a, b = int(first[block].min()), int(last[block].max())
        if b <= a:
            continue
        u = (grid[block, None] - times[None, a:b]) / bandwidth
        k = np.where(np.abs(u) < 1.0, 0.75 * (1.0 - u * u), 0.0)
        hazard[block] = k @ increments[a:b] / bandwidth
        var[block] = (k * k) @ increments2[a:b] / bandwidth**2
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.exp(z * np.sqrt(var) / hazard)
    lower, upper = hazard / spread, hazard * spread
    zero = hazard <= 0
    lower[zero] = upper[zero] = np.nan
    return hazard, lower, upper


def smoothed_hazard(patients: pd.DataFrame, endpoint: Endpoint, bandwidth_days: float, *,
                    alpha: float = 0.05, points: int = 201) -> pd.DataFrame:
    """Kernel-smoothed hazard of ``endpoint`` over time per arm, with a confidence band.

    Ramlau-Hansen estimator, the same as lifelines ``NelsonAalenFitter.smoothed_hazard_``:
    h(t) = (1/b) Σ K((t − t_i)/b) d_i/n_i with the Epanechnikov kernel K, variance
    (1/b²) Σ K² d_i/n_i², and a log-transformed pointwise band. Evaluated on ``points``
    equally spaced days from 0 to the last event (lifelines evaluates at every
    observed time, which needs memory quadratic in the cohort size; this needs at most
    ``points`` × distinct event times of work and bounded memory). Columns ``arm``,
    ``days``, ``hazard_per_year`` (events per patient-year at risk), ``lower``/``upper``
    (per year; NaN where no event falls within one bandwidth). No boundary correction: within one bandwidth of
    day 0 and of the last event the estimate is biased low (about half at day 0).
    """
    from scipy.stats import norm

    data = _prepare(patients, endpoint)
    bandwidth_days = _check_positive("bandwidth_days", bandwidth_days)
    alpha = _check_alpha(alpha)
    z = norm.ppf(1 - alpha / 2)
    frames = []
    for arm in _arms(data):
        durations, events = _durations_events(_arm_rows(data, arm, endpoint), endpoint)
        durations = np.asarray(durations, dtype=float)
        events = np.asarray(events, dtype=bool)
        grid = np.linspace(0.0, durations[events].max() if events.any() else 0.0, points)
        hazard, lower, upper = ramlau_hansen(durations, events, grid, bandwidth_days, z)
        frames.append(pd.DataFrame({"arm": arm, "days": grid, "hazard_per_year": hazard * DAYS_PER_YEAR,
                                    "lower": lower * DAYS_PER_YEAR, "upper": upper * DAYS_PER_YEAR}))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- summary
def endpoint_summary(patients: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
    """One row per arm with the headline numbers of a trial.

    Columns ``arm``, ``n`` (patients), ``relapses`` (relapse_status 1), ``deaths``
    (os_event), ``median_dmfs_days``, ``median_os_days`` (KM medians, ``inf`` if not
    reached), ``median_dmfs_reached``, ``median_os_reached`` (bool), ``dmfs_at_horizon`` (KM DMFS probability at ``horizon_days``),
    ``rmst_dmfs_days`` (restricted mean DMFS to ``horizon_days``) and, if the table
    has a column ``n_mets_at_relapse``, ``mean_mets_at_relapse`` (mean over patients
    who relapsed).
    """
    from lifelines.utils import restricted_mean_survival_time

    columns = ["dmfs_days", "dmfs_event", "os_days", "os_event", "relapse_days", "relapse_status"]
    data = _require_columns(patients, columns)
    horizon_days = _check_positive("horizon_days", horizon_days)
    mets_column = ["n_mets_at_relapse"] if "n_mets_at_relapse" in data.columns else []
    rows = []
    for arm in _arms(data):
        arm_rows = _arm_rows(data, arm, columns=[*columns, *mets_column])
        dmfs_t, dmfs_e = _durations_events(arm_rows, "dmfs")
        os_t, os_e = _durations_events(arm_rows, "os")
        dmfs_km = _fit_km(dmfs_t, dmfs_e, 0.05)
        _warn_beyond_follow_up(arm, dmfs_km, horizon_days, "the DMFS rate and RMST at the horizon")
        os_km = _fit_km(os_t, os_e, 0.05)
        relapsed = arm_rows["relapse_status"].to_numpy() == 1
        median_dmfs, median_os = float(dmfs_km.median_survival_time_), float(os_km.median_survival_time_)
        row = {"arm": arm, "n": len(arm_rows), "relapses": int(relapsed.sum()), "deaths": int(os_e.sum()),
               "median_dmfs_days": median_dmfs, "median_dmfs_reached": math.isfinite(median_dmfs),
               "median_os_days": median_os, "median_os_reached": math.isfinite(median_os),
               "dmfs_at_horizon": float(dmfs_km.predict(horizon_days)),
               "rmst_dmfs_days": float(restricted_mean_survival_time(dmfs_km, t=horizon_days))}
        if "n_mets_at_relapse" in data.columns:
            mets = pd.to_numeric(arm_rows["n_mets_at_relapse"], errors="coerce").to_numpy(dtype=float)[relapsed]
            row["mean_mets_at_relapse"] = float(np.nanmean(mets)) if np.isfinite(mets).any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)



def csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` ready for ``to_csv``: infinite times (a median or a confidence bound not
    reached within follow-up; the ``*_reached`` columns say which) become NaN, which a
    CSV writes as an empty cell, so that every reader gets a numeric column instead of
    the string ``inf``. Other values and the column types are kept."""
    out = table.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col].dtype):
            values = out[col].to_numpy(dtype=float, copy=True)
            values[np.isinf(values)] = np.nan
            out[col] = values
    return out
