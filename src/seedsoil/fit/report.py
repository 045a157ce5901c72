"""Posterior predictive checks of a fitted relapse model: numbers and figures (issue 13).

Observed against predicted, overall and by subgroup (nodes 0 / 1–3 / ≥ 4, T category, grade,
menopausal status, ER status): the Kaplan–Meier curve and the kernel-smoothed hazard, each
with bands. Two parts, kept apart (the page is :mod:`seedsoil.report.fit`):

* numbers (pure functions): :func:`subgroups`, :func:`predictive_check`, :func:`predictive_summary`;
* figures (matplotlib, Agg, nothing registered with pyplot): :func:`draw_survival`,
  :func:`draw_hazard`, :func:`plot_predictive_check`.

The predictions are supplied by the caller as ``curves`` (draws × patients × times): each
patient's predicted event-free probability on the grid for each parameter draw, e.g.
:func:`seedsoil.fit.mechanistic.predict_survival` for draws of θ from the Wald normal of an
:class:`~seedsoil.fit.estimate.MLEstimate` or from a posterior chain. For a
recurrence-free endpoint (death counts as an event) multiply each patient's curve by the
other-cause survival :meth:`seedsoil.fit.mortality.GompertzMortality.survival` first.

>>> curves = np.stack([predict_survival(model, th, data, grid) for th in draws])  # doctest: +SKIP
>>> check = predictive_check(curves, "recurrence_days", "recurrence_event", data, grid)  # doctest: +SKIP
>>> summary = predictive_summary(check)  # doctest: +SKIP
>>> seedsoil.report.fit.write_fit_report("out", title="Rotterdam", estimates=table, check=check,
...                                       summary=summary)  # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: days per year (Julian), for horizons and the per-year hazard of the figures
DAYS_PER_YEAR = 365.25
#: subgroups with fewer patients are not checked
MIN_PATIENTS = 20
#: Epanechnikov half-width (days) of the smoothed hazards: one year, as the trial report's
#: hazard figure (:data:`seedsoil.report.trial_figures.HAZARD_BANDWIDTH_DAYS`). Relapse
#: hazards of breast cancer change over years (a peak at 1–3 years after surgery), so one
#: year keeps that shape while a subgroup of a few hundred patients still has tens of events
#: within each window.
HAZARD_BANDWIDTH_DAYS = 365.25
#: horizons (years) of :func:`predictive_summary`
HORIZONS_YEARS = (2.0, 5.0, 10.0)
#: a horizon is summarised only where at least this many patients of the subgroup are still at risk
MIN_AT_RISK = 10

#: the subgroup variables in page order: (key, column, title)
VARIABLES = (("all", None, "all patients"), ("nodes", "positive_nodes", "positive nodes"),
             ("size_category", "size_category", "T category"), ("grade", "grade", "grade"),
             ("menopause", "menopause", "menopausal status"), ("er", "er", "ER status"))

COLUMNS = ["subgroup", "variable", "level", "day", "km", "km_low", "km_high", "predicted", "predicted_low",
           "predicted_high", "predictive_low", "predictive_high", "hazard_observed", "hazard_predicted",
           "hazard_predicted_low", "hazard_predicted_high", "at_risk", "patients", "events"]


# --------------------------------------------------------------------------- numbers
def _levels(values: pd.Series, order: Sequence[Any] | None) -> list[Any]:
    present = [v for v in pd.unique(values.dropna())]
    if order is not None:
        return [v for v in order if v in set(present)]
    return sorted(present)


def subgroups(data: pd.DataFrame, *, min_patients: int = MIN_PATIENTS) -> dict[str, dict[str, np.ndarray]]:
    """The subgroup masks of a tidy cohort table: ``{variable: {level: bool mask over rows}}``.

    ``all`` (every row); ``nodes`` from ``positive_nodes``: "0", "1-3", ">=4"; ``size_category``
    T1 / T2 / T3; ``grade`` (each value present, as text); ``menopause`` pre / post; ``er``
    negative / positive. Within a variable the levels are disjoint and cover every row whose
    value is known (a missing value is in no level); a variable whose column is absent is left
    out, and so is any level with fewer than ``min_patients`` rows.
    """
    n = len(data)
    out: dict[str, dict[str, np.ndarray]] = {"all": {"all": np.ones(n, dtype=bool)}} if n >= min_patients else {}
    if "positive_nodes" in data:
        nodes = pd.to_numeric(data["positive_nodes"], errors="coerce").to_numpy(dtype=float)
        out["nodes"] = {"0": nodes == 0, "1-3": (nodes >= 1) & (nodes <= 3), ">=4": nodes >= 4}
    orders = {"size_category": ["T1", "T2", "T3", "T4"], "menopause": ["pre", "post"],
              "er": ["negative", "positive"], "grade": None}
    for column, order in orders.items():
        if column not in data:
            continue
        values = data[column]
        out[column] = {str(level): (values == level).to_numpy(dtype=bool) for level in _levels(values, order)}
    for variable in list(out):
        out[variable] = {k: m for k, m in out[variable].items() if int(m.sum()) >= min_patients}
        if not out[variable]:
            del out[variable]
    return out


def _column(values: Any, data: pd.DataFrame) -> np.ndarray:
    return (data[values] if isinstance(values, str) else pd.Series(np.asarray(values))).to_numpy(dtype=float)


def smooth_increments(cumulative: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Kernel-smoothed hazard from a cumulative hazard on ``grid`` (last axis):
    h(t_j) = (1/b) Σ_k K((t_j − t_k)/b) ΔH_k with ΔH_k = H(t_k) − H(t_{k−1}) (ΔH_0 = H(t_0)) and
    the Epanechnikov kernel K(u) = ¾(1 − u²) on |u| < 1 — exactly what lifelines'
    ``NelsonAalenFitter(timeline=grid).smoothed_hazard_(b)`` does with the Nelson–Aalen H."""
    from lifelines.utils import epanechnikov_kernel

    cumulative = np.asarray(cumulative, dtype=float)
    increments = np.diff(cumulative, axis=-1, prepend=0.0)
    kernel = epanechnikov_kernel(grid[:, None], grid[None, :], bandwidth)  # (t_j, t_k)
    return increments @ kernel.T / bandwidth


def _mixture_quantiles(centres: np.ndarray, scales: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Quantiles of the equal-weight normal mixture (1/D) Σ_d N(centres_d, scales_d²), per column
    (axis 0 = draws), by bisection on its CDF; a zero scale is a point mass."""
    from scipy.special import ndtr

    scales = np.maximum(scales, 1e-12)
    lo = (centres - 8 * scales).min(axis=0)
    hi = (centres + 8 * scales).max(axis=0)
    out = []
    for p in probs:
        a, b = lo.copy(), hi.copy()
        for _ in range(60):
            mid = 0.5 * (a + b)
            below = ndtr((mid - centres) / scales).mean(axis=0) < p
            a, b = np.where(below, mid, a), np.where(below, b, mid)
        out.append(0.5 * (a + b))
    return np.array(out)


def _km_grid(time: np.ndarray, event: np.ndarray, grid: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Kaplan–Meier (lifelines) on ``grid`` with its band, the Greenwood sum, at-risk counts
    and the Nelson–Aalen cumulative hazard on the grid."""
    from lifelines import KaplanMeierFitter, NelsonAalenFitter

    kmf = KaplanMeierFitter(alpha=alpha).fit(time, event, timeline=grid)
    ci = kmf.confidence_interval_.to_numpy()
    naf = NelsonAalenFitter(alpha=alpha).fit(time, event, timeline=grid)
    # Greenwood: Var Ŝ(t) = Ŝ(t)² Σ_{t_i ≤ t} d_i / (n_i (n_i − d_i))
    times, counts = np.unique(time[event], return_counts=True)
    order = np.sort(time)
    at_risk_i = len(order) - np.searchsorted(order, times, side="left")
    with np.errstate(divide="ignore"):
        terms = np.where(at_risk_i > counts, counts / (at_risk_i * np.maximum(at_risk_i - counts, 1)), np.inf)
    greenwood = np.concatenate([[0.0], np.cumsum(terms)])[np.searchsorted(times, grid, side="right")]
    at_risk = len(order) - np.searchsorted(order, grid, side="left")
    return {"km": kmf.survival_function_.to_numpy()[:, 0], "km_low": np.fmin(ci[:, 0], ci[:, 1]),
            "km_high": np.fmax(ci[:, 0], ci[:, 1]), "greenwood": greenwood, "at_risk": at_risk,
            "nelson_aalen": naf.cumulative_hazard_.to_numpy()[:, 0]}


def predictive_check(curves: np.ndarray, time: Any, event: Any, data: pd.DataFrame, grid: Any, *,
                     level: float = 0.95, bandwidth: float = HAZARD_BANDWIDTH_DAYS,
                     min_patients: int = MIN_PATIENTS) -> pd.DataFrame:
    """Observed against predicted survival and hazard for every subgroup (:func:`subgroups`) at ``grid``.

    ``curves``: (draws × patients × times) predicted event-free probabilities S_{d,i}(t) of the
    rows of ``data`` (in order) at ``grid`` (days, increasing; a (patients × times) array is one
    draw); ``time`` / ``event``: column names of ``data`` or arrays (days; 1 = event).

    For a subgroup G of n_G patients and each grid day t:

    * observed: the Kaplan–Meier estimate Ŝ(t) (lifelines ``KaplanMeierFitter``) and its
      pointwise ``level`` band (``km``, ``km_low``, ``km_high``); NaN where nobody is at risk;
    * predicted: the population-averaged survival S̄_d(t) = (1/n_G) Σ_{i∈G} S_{d,i}(t) of each
      draw (what the Kaplan–Meier curve of the subgroup estimates under independent censoring);
      ``predicted`` its median over draws, ``predicted_low`` / ``predicted_high`` its
      (1 − level)/2 and (1 + level)/2 quantiles over draws — parameter uncertainty only;
    * ``predictive_low`` / ``predictive_high``: the posterior predictive band of the observed
      Kaplan–Meier estimate, which adds its sampling error: the same quantiles of the mixture
      (1/D) Σ_d N(S̄_d(t), S̄_d(t)² G(t)), with G(t) = Σ_{t_i ≤ t} d_i / (n_i (n_i − d_i)) the
      Greenwood sum of the subgroup's risk sets (the normal approximation of a replicated
      Kaplan–Meier estimate with the same censoring). This, not the parameter band, is the test
      of fit: even the true model's curve misses the observed one by the sampling error;
    * hazards (per day): ``hazard_observed`` is lifelines ``NelsonAalenFitter(timeline=grid)
      .smoothed_hazard_(bandwidth)``, i.e. h(t_j) = (1/b) Σ_k K((t_j − t_k)/b) ΔĤ_k with the
      Nelson–Aalen increments summed over each grid interval and the Epanechnikov kernel K;
      ``hazard_predicted`` applies the very same kernel sum to the predicted cumulative hazard
      H_d(t) = −log S̄_d(t) on the same grid (finite differences, then smoothing; median and
      band over draws). Smoothing both alike, rather than differentiating the prediction
      exactly, gives them the same kernel bias — the dip within one bandwidth of day 0 and of
      the end of the grid, the flattening of peaks — so a difference between the two curves is
      a misfit, not an artefact of the estimator. Use a grid step well under the bandwidth
      (the sum approximates ∫K = 1 to O((step/b)²)).

    Returns a long table: one row per (variable, level, day), columns :data:`COLUMNS`
    (``subgroup`` is "variable: level", ``patients`` and ``events`` count the subgroup,
    ``at_risk`` the patients still followed at the day).
    """
    curves = np.asarray(curves, dtype=float)
    if curves.ndim == 2:
        curves = curves[None]
    grid = np.asarray(grid, dtype=float)
    time = _column(time, data)
    event = _column(event, data).astype(bool)
    if curves.shape[1:] != (len(data), len(grid)):
        raise ValueError(f"curves has shape {curves.shape}; expected (draws, {len(data)}, {len(grid)})")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    if np.any(np.diff(grid) <= 0):
        raise ValueError("grid must be strictly increasing")
    probs = ((1 - level) / 2, 0.5, (1 + level) / 2)
    groups = subgroups(data, min_patients=min_patients)
    masks = [(variable, lvl, m) for variable, levels in groups.items() for lvl, m in levels.items()]
    weights = np.stack([m / m.sum() for _, _, m in masks], axis=1)  # (patients, subgroups)
    means = np.einsum("dpt,ps->dst", curves, weights)  # S̄_d(t) per subgroup
    frames = []
    for s, (variable, lvl, mask) in enumerate(masks):
        obs = _km_grid(time[mask], event[mask], grid, 1 - level)
        followed = obs["at_risk"] > 0
        mean = np.clip(means[:, s], 0.0, 1.0)
        low, mid, high = np.quantile(mean, probs, axis=0)
        # an infinite Greenwood sum (the last patient at risk had the event) is no information: a band of [0, 1]
        scale = mean * np.sqrt(np.where(np.isfinite(obs["greenwood"]), obs["greenwood"], 1e6))
        plow, phigh = _mixture_quantiles(mean, scale, (probs[0], probs[2]))
        with np.errstate(divide="ignore"):
            cumulative = -np.log(np.maximum(mean, 1e-300))
        hazards = smooth_increments(cumulative, grid, bandwidth)
        hlow, hmid, hhigh = np.quantile(hazards, probs, axis=0)
        observed_hazard = smooth_increments(obs["nelson_aalen"], grid, bandwidth)
        frames.append(pd.DataFrame({
            "subgroup": "all" if variable == "all" else f"{variable}: {lvl}", "variable": variable, "level": lvl,
            "day": grid, "km": np.where(followed, obs["km"], np.nan),
            "km_low": np.where(followed, obs["km_low"], np.nan), "km_high": np.where(followed, obs["km_high"], np.nan),
            "predicted": mid, "predicted_low": low, "predicted_high": high,
            "predictive_low": np.clip(plow, 0.0, 1.0), "predictive_high": np.clip(phigh, 0.0, 1.0),
            "hazard_observed": np.where(followed, observed_hazard, np.nan), "hazard_predicted": hmid,
            "hazard_predicted_low": hlow, "hazard_predicted_high": hhigh, "at_risk": obs["at_risk"],
            "patients": int(mask.sum()), "events": int(event[mask].sum())}))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def predictive_summary(check: pd.DataFrame, horizons_years: Sequence[float] = HORIZONS_YEARS, *,
                       min_at_risk: int = MIN_AT_RISK) -> pd.DataFrame:
    """Observed against predicted at a few horizons, one row per (subgroup, horizon).

    For each horizon (years) the grid day of ``check`` nearest to it is used (its ``day`` is
    reported; put the horizons on the grid to have them exactly), and only where the follow-up
    reaches: the horizon within the grid and at least ``min_at_risk`` patients of the subgroup
    still at risk. Columns: subgroup, variable, level, years, day, patients, events, at_risk,
    km, km_low, km_high, predicted, predicted_low, predicted_high, predictive_low,
    predictive_high, ``in_band`` (Ŝ within the parameter band [predicted_low,
    predicted_high]) and ``covered`` (Ŝ within the posterior predictive band — the flag of fit;
    a miss is a misfit at that horizon at level 1 − level of the check).
    """
    rows = []
    for (variable, lvl), g in check.groupby(["variable", "level"], sort=False):
        days = g["day"].to_numpy()
        for years in horizons_years:
            target = years * DAYS_PER_YEAR
            if target > days[-1] + 0.5 * (days[-1] - days[-2] if len(days) > 1 else 0.0):
                continue
            r = g.iloc[int(np.argmin(np.abs(days - target)))]
            if r["at_risk"] < min_at_risk or not np.isfinite(r["km"]):
                continue
            rows.append({"subgroup": r["subgroup"], "variable": variable, "level": lvl, "years": float(years),
                         "day": float(r["day"]), "patients": int(r["patients"]), "events": int(r["events"]),
                         "at_risk": int(r["at_risk"]),
                         **{c: float(r[c]) for c in ("km", "km_low", "km_high", "predicted", "predicted_low",
                                                     "predicted_high", "predictive_low", "predictive_high")},
                         "in_band": bool(r["predicted_low"] <= r["km"] <= r["predicted_high"]),
                         "covered": bool(r["predictive_low"] <= r["km"] <= r["predictive_high"])})
    columns = ["subgroup", "variable", "level", "years", "day", "patients", "events", "at_risk", "km", "km_low",
               "km_high", "predicted", "predicted_low", "predicted_high", "predictive_low", "predictive_high",
               "in_band", "covered"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- figures
def _variables(table: pd.DataFrame) -> list[tuple[str, str]]:
    present = list(pd.unique(table["variable"]))
    titles = {key: title for key, _, title in VARIABLES}
    return [(v, titles.get(v, str(v))) for v in present]


def _panels(fig: "Figure", n: int, ncols: int = 3) -> list:
    nrows = max(1, -(-n // ncols))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


def _draw(table: pd.DataFrame, axes: Sequence[Any], kind: str) -> None:
    from ..plotting import colour, grid

    for ax, (variable, title) in zip(axes, _variables(table)):
        sub = table[table["variable"] == variable]
        for i, (lvl, g) in enumerate(sub.groupby("level", sort=False)):
            c = colour(i)
            years = g["day"].to_numpy() / DAYS_PER_YEAR
            label = "all" if variable == "all" else f"{lvl} (n={int(g['patients'].iloc[0])})"
            if kind == "survival":
                ax.fill_between(years, g["km_low"], g["km_high"], step="post", color=c, alpha=0.12, linewidth=0)
                ax.step(years, g["km"], where="post", color=c, linewidth=1.2, label=label)
                ax.fill_between(years, g["predicted_low"], g["predicted_high"], color=c, alpha=0.3, linewidth=0)
                ax.plot(years, g["predicted"], color=c, linewidth=1.4, linestyle="--")
            else:
                per_year = DAYS_PER_YEAR
                ax.plot(years, g["hazard_observed"] * per_year, color=c, linewidth=1.2, label=label)
                ax.fill_between(years, g["hazard_predicted_low"] * per_year, g["hazard_predicted_high"] * per_year,
                                color=c, alpha=0.3, linewidth=0)
                ax.plot(years, g["hazard_predicted"] * per_year, color=c, linewidth=1.4, linestyle="--")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("years after surgery")
        ax.set_ylabel("event-free probability" if kind == "survival" else "hazard per year")
        if kind == "survival":
            ax.set_ylim(0.0, 1.02)
        else:
            ax.set_ylim(bottom=0.0)
        grid(ax)
        ax.legend(fontsize="x-small", loc="lower left" if kind == "survival" else "best", frameon=False)


def draw_survival(table: pd.DataFrame, fig: "Figure", ncols: int = 3) -> None:
    """One panel per subgroup variable: Kaplan–Meier steps with their band (light), predicted
    median (dashed) with its parameter band (darker), one colour per level."""
    _draw(table, _panels(fig, len(_variables(table)), ncols), "survival")


def draw_hazard(table: pd.DataFrame, fig: "Figure", ncols: int = 3) -> None:
    """One panel per subgroup variable: smoothed observed hazard, predicted median (dashed) and band, per year."""
    _draw(table, _panels(fig, len(_variables(table)), ncols), "hazard")


def figure_size(table: pd.DataFrame, ncols: int = 3) -> tuple[float, float]:
    """Inches of one of the two figure grids (3.6 × 3.0 per panel)."""
    nrows = max(1, -(-len(_variables(table)) // ncols))
    return (3.6 * ncols, 3.0 * nrows)


def plot_predictive_check(table: pd.DataFrame, path: str | os.PathLike[str], *, ncols: int = 3,
                          dpi: float = 120) -> Path:
    """Both grids in one image file (format from the suffix, e.g. .png): the survival panels
    (:func:`draw_survival`) above the hazard panels (:func:`draw_hazard`). Agg backend: the
    figure is a bare :class:`matplotlib.figure.Figure`, never registered with pyplot."""
    from ..plotting import new_figure

    w, h = figure_size(table, ncols)
    fig = new_figure((w, 2 * h + 0.4), dpi=dpi)
    top, bottom = fig.subfigures(2, 1)
    top.suptitle("Event-free probability: observed Kaplan–Meier (steps, light band) and predicted (dashed, "
                 "band over draws)")
    bottom.suptitle("Smoothed hazard: observed Nelson–Aalen (solid) and predicted (dashed, band over draws)")
    draw_survival(table, top, ncols)
    draw_hazard(table, bottom, ncols)
    path = Path(path)
    fig.savefig(path, format=path.suffix.lstrip(".") or "png")
    return path



__all__ = ["subgroups", "predictive_check", "predictive_summary", "smooth_increments", "plot_predictive_check",
           "draw_survival", "draw_hazard", "figure_size", "HAZARD_BANDWIDTH_DAYS", "MIN_PATIENTS",
           "HORIZONS_YEARS", "COLUMNS"]
