"""Posterior predictive checks of a fitted relapse model and their HTML report (issue 13).

Observed against predicted, overall and by subgroup (nodes 0 / 1–3 / ≥ 4, T category, grade,
menopausal status, ER status): the Kaplan–Meier curve and the kernel-smoothed hazard, each
with bands. Three layers, kept apart:

* numbers (pure functions): :func:`subgroups`, :func:`predictive_check`, :func:`predictive_summary`;
* figures (matplotlib, Agg, nothing registered with pyplot): :func:`draw_survival`,
  :func:`draw_hazard`, :func:`plot_predictive_check`;
* the page: :func:`render_fit_report`, :func:`write_fit_report` (the markup and look of the
  patient and trial reports, :mod:`seedsoil.report.page`, which this layer may not import;
  figures inline SVG, no scripts, nothing fetched, written atomically).

The predictions are supplied by the caller as ``curves`` (draws × patients × times): each
patient's predicted event-free probability on the grid for each parameter draw, e.g.
:func:`seedsoil.fit.mechanistic.predict_survival` for draws of θ from the Wald normal of an
:class:`~seedsoil.fit.estimate.MLEstimate` or from a posterior chain. For a
recurrence-free endpoint (death counts as an event) multiply each patient's curve by the
other-cause survival :meth:`seedsoil.fit.mortality.GompertzMortality.survival` first.

>>> curves = np.stack([predict_survival(model, th, data, grid) for th in draws])  # doctest: +SKIP
>>> check = predictive_check(curves, "recurrence_days", "recurrence_event", data, grid)  # doctest: +SKIP
>>> summary = predictive_summary(check)  # doctest: +SKIP
>>> write_fit_report("out", title="Rotterdam", estimates=table, check=check, summary=summary)  # doctest: +SKIP
"""
from __future__ import annotations

import os
from html import escape
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


# --------------------------------------------------------------------------- page
# The page copies the markup and the look of the patient and trial reports
# (seedsoil.report.page and its style.css) but cannot import them: fit is layer 4 and report
# layer 5 (docs/architecture.md, tests/test_architecture.py). Only layer-0 helpers are used
# (seedsoil.plotting, seedsoil._html, seedsoil.store); the stylesheet below is the subset of
# style.css this page needs.
_CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --rule: #d9dde5; --band: #f4f6f9; --accent: #b8323b; --changed: #fff3cd; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #ffffff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 8px; }
h1 { font-size: 1.9rem; margin: 0 0 4px; letter-spacing: -0.01em; }
h1 .kind { color: var(--muted); font-weight: 400; }
h2 { font-size: 1.35rem; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
p { margin: 6px 0; }
.meta { color: var(--muted); font-size: 0.92rem; }
.meta b { color: var(--ink); font-weight: 600; }
.description { font-size: 1.02rem; }
.note { color: var(--muted); font-size: 0.88rem; }
nav { font-size: 0.92rem; margin: 10px 0 0; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; }
nav a:hover { text-decoration: underline; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 0.84rem; }
th, td { text-align: left; vertical-align: top; padding: 4px 7px; border-bottom: 1px solid var(--rule); }
thead th { background: var(--band); border-bottom: 2px solid var(--rule); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { white-space: normal; vertical-align: bottom; }
td:first-child { color: var(--muted); min-width: 11em; }
td.changed { background: var(--changed); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.85rem; }
figure { margin: 18px 0 26px; page-break-inside: avoid; }
figure img { display: block; width: 100%; max-width: 960px; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 0.9rem; max-width: 960px; margin: 6px auto 0; }
figcaption b { color: var(--ink); }
.figure-error { border: 1px solid var(--accent); color: var(--accent); padding: 10px; }
.wide { overflow-x: auto; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.82rem; border-top: 1px solid var(--rule); padding-top: 8px; }
@media print { main { max-width: none; padding: 0; } nav { display: none; } }
"""


def _cell(value: Any) -> str:
    """A cell's text as the reports write it: 4 significant digits, "—" for None/NaN, true/false."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table_html(df: pd.DataFrame, *, flags: Sequence[str] = ()) -> str:
    """A data frame as the reports' table markup; numbers right-aligned, a false ``flags`` cell highlighted."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    out = ['<div class="wide"><table><thead><tr>']
    out += [f'<th class="num">{escape(str(c))}</th>' if num else f"<th>{escape(str(c))}</th>"
            for c, num in zip(df.columns, numeric)]
    out.append("</tr></thead><tbody>")
    for rec in df.itertuples(index=False):
        out.append("<tr>")
        for c, num, v in zip(df.columns, numeric, rec):
            classes = " ".join(k for k in ("num" if num else "", "changed" if c in flags and not bool(v) else "") if k)
            out.append(f'<td class="{classes}">{escape(_cell(v))}</td>' if classes else f"<td>{escape(_cell(v))}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _figure_html(key: str, title: str, caption: str, draw: Any, figsize: tuple[float, float], salt: str) -> str:
    """One ``<figure>``: inline SVG in a data URI (text as paths); a drawing error takes its place."""
    import warnings

    from ..plotting import svg_data_uri

    text = f"<figcaption><b>{escape(title)}.</b> {escape(caption)}</figcaption>"
    try:
        uri = svg_data_uri(draw, figsize, salt)
    except Exception as exc:  # noqa: BLE001 - a figure that cannot be drawn must not lose the page
        warnings.warn(f"fit report figure {key!r} could not be drawn: {exc!r}", RuntimeWarning, stacklevel=2)
        return (f'<figure id="fig-{key}"><div class="figure-error">figure could not be drawn: '
                f"{escape(repr(exc))}</div>{text}</figure>")
    return f'<figure id="fig-{key}"><img src="{uri}" alt="{escape(title)}">{text}</figure>'


def _page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]],
          facts: Sequence[tuple[str, str]] = ()) -> str:
    from .. import __version__

    version = escape(__version__)
    line = [f"<b>{escape(label)}</b> {escape(value)}" for label, value in facts] + [f"<b>seedsoil</b> {version}"]
    nav = "".join(f'<a href="#{key}">{escape(heading)}</a>' for key, heading, _ in sections)
    body = "\n".join(f'<section id="{key}"><h2>{escape(heading)}</h2>\n{content}</section>'
                     for key, heading, content in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="seedsoil {version}">
<title>{escape(title)} — seedsoil fit report</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header>
<h1>{escape(title)} <span class="kind">· fit report</span></h1>
<p class="description">{escape(subtitle)}</p>
<p class="meta">{" · ".join(line)}</p>
<nav>{nav}</nav>
</header>
{body}
<footer>Written by seedsoil {version}. This file is self-contained: it loads nothing from the network.</footer>
</main>
</body>
</html>
"""


def _interval(low: Any, high: Any) -> str:
    return f"{low:.3f}\u2060–\u2060{high:.3f}"  # word joiners: the interval never wraps


def _summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as shown on the page: one interval column per band (narrow enough for the page)."""
    if summary.empty:
        return summary
    return pd.DataFrame({
        "subgroup": summary["subgroup"], "years": summary["years"], "patients": summary["patients"],
        "events": summary["events"], "at risk": summary["at_risk"], "observed KM": summary["km"].round(3),
        "KM band": [_interval(a, b) for a, b in zip(summary["km_low"], summary["km_high"])],
        "predicted": summary["predicted"].round(3),
        "parameter band": [_interval(a, b) for a, b in zip(summary["predicted_low"], summary["predicted_high"])],
        "predictive band": [_interval(a, b) for a, b in zip(summary["predictive_low"], summary["predictive_high"])],
        "in_band": summary["in_band"].astype(bool), "covered": summary["covered"].astype(bool)})


def render_fit_report(*, title: str, estimates: pd.DataFrame, check: pd.DataFrame, summary: pd.DataFrame,
                      extra_html: str = "", level: float | None = None) -> str:
    """The report page: parameter table, the two figure grids (inline), the summary at the
    horizons and ``extra_html`` (trusted HTML, appended as a last section when not empty)."""
    size = figure_size(check)
    band = "" if level is None else f" {level:.0%}"
    misses = int((~summary["covered"].astype(bool)).sum()) if len(summary) else 0
    sections = [
        ("parameters", "Parameter estimates", _table_html(estimates.reset_index()
                                                          if estimates.index.name else estimates)),
        ("survival", "Observed and predicted survival", _figure_html(
            "ppc-survival", "Kaplan–Meier against prediction",
            f"Steps: observed Kaplan–Meier with its{band} pointwise band; dashed: predicted population-averaged "
            "survival (median over parameter draws) with its band over draws; one colour per subgroup level.",
            lambda fig: draw_survival(check, fig), size, f"{title}-ppc-survival")),
        ("hazard", "Observed and predicted hazard", _figure_html(
            "ppc-hazard", "Smoothed hazard against prediction",
            f"Solid: Epanechnikov-smoothed Nelson–Aalen hazard (bandwidth {HAZARD_BANDWIDTH_DAYS / DAYS_PER_YEAR:.3g}"
            " years); dashed: the predicted −d log S̄/dt smoothed by the same kernel sum on the same grid, with its "
            "band over parameter draws. Both are biased low within one bandwidth of the ends.",
            lambda fig: draw_hazard(check, fig), size, f"{title}-ppc-hazard")),
        ("summary", "Summary at horizons",
         f'<p class="note">{misses} of {len(summary)} observed values fall outside the posterior predictive band '
         "(parameter uncertainty and the Kaplan–Meier sampling error); "
         "<code>in_band</code>: within the band of parameter uncertainty alone.</p>"
         + _table_html(_summary_display(summary), flags=("covered", "in_band"))),
    ]
    if extra_html:
        sections.append(("more", "More", extra_html))
    patients = int(check.loc[check["variable"] == "all", "patients"].iloc[0]) if (check["variable"] == "all").any() else None
    facts = [("patients", f"{patients:,}")] if patients is not None else []
    return _page(title, "Posterior predictive checks of the fitted relapse model.", sections, facts)


def write_fit_report(out_dir: str | os.PathLike[str], *, title: str, estimates: pd.DataFrame, check: pd.DataFrame,
                     summary: pd.DataFrame, extra_html: str = "") -> Path:
    """Write ``out_dir/report.html`` (:func:`render_fit_report`) atomically; returns its path."""
    from ..store import write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = render_fit_report(title=title, estimates=estimates, check=check, summary=summary, extra_html=extra_html)
    return write_text_atomic(out / "report.html", html)


__all__ = ["subgroups", "predictive_check", "predictive_summary", "smooth_increments", "plot_predictive_check",
           "draw_survival", "draw_hazard", "render_fit_report", "write_fit_report", "HAZARD_BANDWIDTH_DAYS",
           "MIN_PATIENTS", "HORIZONS_YEARS", "COLUMNS"]
