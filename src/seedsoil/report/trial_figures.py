"""Figures of a virtual trial: survival, hazard over time, competing risks, hazard ratios, population.

Every plot function takes a trial result and ``ax=None``; it draws on ``ax`` or, when
``ax`` is None, on a new :class:`matplotlib.figure.Figure` that is not registered with
pyplot, and returns the axes. The statistics come from :mod:`seedsoil.cohort.stats`
(nothing is re-estimated here) on the eligible patients. Each arm keeps one colour
(Okabe–Ito, colour-blind safe) and line style in every figure; the control is dark grey.

The result is read duck-typed, so this module imports nothing from
:mod:`seedsoil.cohort.trial` (which imports the report): ``result.trial`` (``name``,
``arm_names``, ``control``, ``design``, ``horizon_days``, ``population.variables``),
``result.patients`` (one row per patient and arm: ``patient``, ``arm``, ``eligible``,
the endpoint columns, ``cov_*`` and ``param_*``) and ``result.tables`` (the trial's
summary tables, used when present). :mod:`seedsoil.cohort.stats` is imported when a
statistic is needed, not with this module.

Time axes are years since surgery (the trial's endpoints are days from surgery).
matplotlib is imported inside the functions, so importing this module is cheap.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import pandas as pd

from ..plotting import DARK_GREY, DAYS_PER_YEAR, OKABE_ITO, PALETTE, grid, legend_below, new_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..cohort.trial import TrialResult

#: kernel bandwidth of the smoothed relapse hazard (days): one year averages over
#: enough events in a few hundred patients and still shows the early peak
HAZARD_BANDWIDTH_DAYS = 365.25
#: a covariate or parameter with more distinct values than this is split into thirds
MAX_SUBGROUP_LEVELS = 8
#: a step curve (Kaplan–Meier, cumulative incidence) with more points than this is drawn at
#: the resolution of the figure: one point per 1/MAX_CURVE_POINTS of the time axis (see
#: :func:`thin_steps`), so a figure's size does not grow with the cohort
MAX_CURVE_POINTS = 2000
#: at most this many censoring ticks per curve: one per 1/MAX_CENSOR_TICKS of the time axis
#: (a tick is 1.1 points wide, about 1/400 of the axis, so closer ticks merge anyway)
MAX_CENSOR_TICKS = 500

CONTROL_COLOUR = DARK_GREY
#: treatment arms in trial order (the control is solid dark grey)
ARM_COLOURS = PALETTE
ARM_LINESTYLES = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (3, 1)))
ENDPOINT_STYLE = {"dmfs": (OKABE_ITO["blue"], "s", "DMFS"), "os": (OKABE_ITO["vermillion"], "D", "OS")}
ENDPOINT_LABEL = {"dmfs": "distant-metastasis-free survival", "os": "overall survival"}


# --------------------------------------------------------------------------- helpers
def _stats():
    """:mod:`seedsoil.cohort.stats`, imported when first needed (not with this module)."""
    from ..cohort import stats

    return stats


def arm_styles(result: "TrialResult") -> dict[str, tuple[str, Any]]:
    """``{arm: (colour, linestyle)}``: the control solid dark grey, the others in trial order."""
    out: dict[str, tuple[str, Any]] = {}
    k = 0
    for arm in result.trial.arm_names:
        if arm == result.trial.control:
            out[arm] = (CONTROL_COLOUR, "-")
        else:
            out[arm] = (ARM_COLOURS[k % len(ARM_COLOURS)], ARM_LINESTYLES[k % len(ARM_LINESTYLES)])
            k += 1
    return out


#: eligible tables of the results whose report is being drawn (see :func:`shared_eligible`)
_SHARED: dict[int, pd.DataFrame | None] = {}


@contextlib.contextmanager
def shared_eligible(result: "TrialResult") -> Iterator[None]:
    """Within the block every figure and table of ``result`` reads one eligible table
    (:func:`_eligible`, computed on first use) instead of each making its own copy.
    The table must not be modified in place; ``result.patients`` must not change meanwhile."""
    key = id(result)
    if key in _SHARED:  # nested: the outer block owns it
        yield
        return
    _SHARED[key] = None
    try:
        yield
    finally:
        _SHARED.pop(key, None)


def _report_columns(patients: pd.DataFrame) -> list[str]:
    """The columns of the patients table the statistics and figures read: ``patient``, ``arm``,
    the endpoints' time and event columns (:data:`seedsoil.cohort.stats.ENDPOINTS`),
    ``n_mets_at_relapse``, ``cov_*`` and ``param_*``."""
    wanted = {"patient", "arm", "n_mets_at_relapse"}
    wanted.update(c for time_col, event_col, _ in _stats().ENDPOINTS.values() for c in (time_col, event_col))
    return [c for c in patients.columns if c in wanted or c.startswith(("cov_", "param_"))]


def _eligible(result: "TrialResult") -> pd.DataFrame:
    """Eligible rows with a plain-string arm column in trial order (stats takes arms by first appearance).

    Only the columns the statistics and figures read (:func:`_report_columns`): a working
    copy a fraction of the size of the whole table.
    """
    key = id(result)
    shared = _SHARED.get(key)
    if shared is not None:
        return shared
    patients = result.patients
    df = patients.loc[patients["eligible"].astype(bool).to_numpy(), _report_columns(patients)]
    arm = df["arm"]
    # the arm names themselves (object dtype), not one new string per row
    df = df.assign(arm=arm.astype(object) if isinstance(arm.dtype, pd.CategoricalDtype) else arm.astype(str))
    order = {arm: i for i, arm in enumerate(result.trial.arm_names)}
    df = df.sort_values(["arm", "patient"], key=lambda s: s.map(order) if s.name == "arm" else s,
                        kind="stable").reset_index(drop=True)
    if key in _SHARED:
        _SHARED[key] = df
    return df


def _arms_present(result: "TrialResult", df: pd.DataFrame) -> list[str]:
    present = set(df["arm"])
    return [a for a in result.trial.arm_names if a in present]


def _paired(result: "TrialResult") -> bool:
    return result.trial.design == "paired"


def _years(days: Any) -> np.ndarray:
    return np.asarray(days, dtype=float) / DAYS_PER_YEAR


def fmt_years(days: float) -> str:
    """Days as years with 2 decimals; "not reached" for inf, "—" for NaN."""
    if days is None or (isinstance(days, float) and math.isnan(days)):
        return "—"
    if math.isinf(days):
        return "not reached"
    return f"{days / DAYS_PER_YEAR:.2f}"


def fmt_hr(hr: float, lo: float, hi: float) -> str:
    if not all(map(math.isfinite, (hr, lo, hi))):
        return "not estimable"
    return f"{hr:.2f} ({lo:.2f}–{hi:.2f})"


def _table_or(result: "TrialResult", name: str, compute) -> pd.DataFrame:
    """A summary table of the run (``result.tables``) or, when it is absent, the same statistic computed now."""
    table = result.tables.get(name) if result.tables else None
    return table if table is not None else compute()


def follow_up_years(result: "TrialResult") -> float:
    """Longest follow-up of an eligible patient (years since surgery): the time axis of every figure."""
    df = _eligible(result)
    maxima = [float(pd.to_numeric(df[c], errors="coerce").max()) for c in ("dmfs_days", "os_days", "relapse_days")
              if c in df]
    maxima = [m for m in maxima if not math.isnan(m)]
    x = max(maxima) / DAYS_PER_YEAR if maxima else math.nan
    return x if math.isfinite(x) and x > 0 else 1.0


def _year_ticks(ax: "Axes", x_max_years: float) -> np.ndarray:
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 50, 100) if x_max_years / s <= 11)
    ticks = np.arange(0.0, x_max_years + 1e-9, step)
    ax.set_xticks(ticks)
    ax.set_xlim(0.0, x_max_years)
    return ticks


def _hr_axis(ax: "Axes", lows: Sequence[float], highs: Sequence[float], control: str) -> None:
    """Log x axis around 1 with readable tick labels, a line at 1 and which side favours which arm."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    from matplotlib.transforms import blended_transform_factory

    finite = [v for v in [*lows, *highs] if math.isfinite(v) and v > 0]
    # symmetric about 1 on the log scale: benefit and harm of the same size look the same,
    # and both "favours" labels have room
    half_range = max(1.5, max([1.0, *finite]) * 1.35, 1.35 / min([1.0, *finite]))
    lo, hi = 1.0 / half_range, half_range
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    if math.log10(hi / lo) > 1.6:  # a wide range: fewer ticks, so their labels do not collide
        candidates = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    else:
        candidates = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20, 50, 100]
    ticks = [t for t in candidates if lo <= t <= hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="#000000", linewidth=1.0, linestyle=(0, (4, 2)), zorder=1)
    below = blended_transform_factory(ax.transData, ax.transAxes)
    # in the empty strip the callers leave under the last row (FOOTER rows high)
    ax.text(1 / 1.04, 0.012, "← favours the arm", transform=below, ha="right", va="bottom", fontsize="small",
            color="#555555")
    ax.text(1.04, 0.012, "favours control →", transform=below, ha="left", va="bottom", fontsize="small",
            color="#555555")
    ax.set_xlabel(f"hazard ratio vs {control} (log scale)")
    grid(ax, axis="x")


#: height (in rows) of the strip under a forest plot's last row that holds the "favours" labels
FOOTER = 0.55


def _legend_below(ax: "Axes", ncol: int) -> None:
    """The legend a fixed distance (0.55 inch) under the axes, clear of the x label."""
    legend_below(ax, ncol=ncol, drop=0.55)


def _right_text(ax: "Axes", y: float, text: str, colour: str) -> None:
    from matplotlib.transforms import blended_transform_factory

    ax.text(1.02, y, text, transform=blended_transform_factory(ax.transAxes, ax.transData), ha="left",
            va="center", fontsize="small", color=colour, clip_on=False)


def _bins(x: np.ndarray, x_max: float, bins: int) -> np.ndarray:
    """Index of the 1/bins slice of [0, x_max] each x falls in."""
    return np.clip(np.floor(np.asarray(x, dtype=float) / x_max * bins), 0, bins - 1).astype(np.int64)


def thin_steps(x: Any, *values: Any, x_max: float,
               bins: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, ...]:
    """A right-continuous step function reduced to the resolution of its axis.

    ``x`` ascending; each of ``values`` holds from its ``x`` to the next. With at most
    ``bins`` points the arrays come back unchanged. Otherwise the axis [0, ``x_max``] is
    cut into ``bins`` equal slices and each slice with points keeps one: the ``x`` of
    its first point with the values of its last. The drawn curve (``where="post"``)
    is then the exact curve everywhere except inside a slice with several steps, where
    those steps are drawn as one (at 2,000 slices, a fraction of a printed point).
    """
    x = np.asarray(x, dtype=float)
    values = tuple(np.asarray(v) for v in values)
    if len(x) <= bins or not (math.isfinite(x_max) and x_max > 0):
        return (x, *values)
    which = _bins(x, x_max, bins)
    first = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    last = np.r_[first[1:] - 1, len(x) - 1]
    return (x[first], *(v[last] for v in values))


def thin_marks(x: Any, y: Any, *, x_max: float, bins: int = MAX_CENSOR_TICKS) -> tuple[np.ndarray, np.ndarray]:
    """Censoring ticks (``x`` ascending, ``y`` the curve there) reduced to one per 1/bins of the axis
    (the first in each slice) when there are more than ``bins``; ticks closer than that overlap anyway."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) <= bins or not (math.isfinite(x_max) and x_max > 0):
        return x, y
    which = _bins(x, x_max, bins)
    first = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    return x[first], y[first]


def largest_arm(result: "TrialResult") -> int:
    """Eligible patients in the largest arm: a curve has at most this many steps and ticks, so
    beyond :data:`MAX_CENSOR_TICKS` (ticks) or :data:`MAX_CURVE_POINTS` (steps) it may be thinned."""
    counts = _eligible(result)["arm"].value_counts()
    return int(counts.max()) if len(counts) else 0


# --------------------------------------------------------------------------- survival
def plot_km(result: "TrialResult", endpoint: str = "dmfs", ax: "Axes | None" = None, *, ci: bool = True,
            at_risk: bool = True) -> "Axes":
    """Kaplan–Meier curve of ``endpoint`` ("dmfs" or "os") per arm: x in years since surgery,
    y the probability (0 to 1) of being still free of the event. Draws on ``ax`` (a new
    figure, not registered with pyplot, when None) and returns it.

    Ticks mark censored patients (:func:`seedsoil.cohort.stats.censor_marks`); the pale
    band is the pointwise 95 % interval; the legend gives each arm's median (years).
    ``at_risk`` writes the number of patients still at risk under the x axis. A curve
    with more than :data:`MAX_CURVE_POINTS` points, or more than :data:`MAX_CENSOR_TICKS`
    censoring ticks, is drawn at the figure's resolution (:func:`thin_steps`,
    :func:`thin_marks`).
    """
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    ax = new_axes(ax, (8.0, 6.0))
    stats = _stats()
    df = _eligible(result)
    curves = stats.km(df, endpoint)
    marks = stats.censor_marks(df, endpoint)
    med = _table_or(result, f"medians_{endpoint}", lambda: stats.medians(df, endpoint)).set_index("arm")
    styles = arm_styles(result)
    arms = _arms_present(result, df)
    x_max = follow_up_years(result)
    for arm in arms:
        colour, ls = styles[arm]
        c = curves[curves["arm"] == arm]
        x, survival, lower, upper = thin_steps(_years(c["days"]), c["survival"], c["ci_lower"], c["ci_upper"],
                                               x_max=x_max)
        median = fmt_years(float(med.loc[arm, "median_days"])) if arm in med.index else "—"
        median = f"median {median} y" if median[0].isdigit() else f"median {median}"
        ax.step(x, survival, where="post", color=colour, linestyle=ls, linewidth=1.8, label=f"{arm} ({median})")
        if ci:
            ax.fill_between(x, lower, upper, step="post", color=colour, alpha=0.10, linewidth=0)
        m = marks[marks["arm"] == arm]
        mx, my = thin_marks(_years(m["days"]), m["survival"], x_max=x_max)
        ax.plot(mx, my, linestyle="none", marker="|", markersize=7, markeredgewidth=1.1, color=colour)
    ticks = _year_ticks(ax, x_max)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("time since surgery (years)")
    ax.set_ylabel(f"{endpoint.upper()} probability")
    ax.set_title(f"Kaplan–Meier: {ENDPOINT_LABEL.get(endpoint, endpoint)}")
    grid(ax)
    ax.plot([], [], linestyle="none", marker="|", markersize=7, color="#555555", label="censored")
    ax.legend(loc="lower left", fontsize="small", framealpha=0.9)
    if at_risk:
        # numbers at risk under the axis, a fixed distance (inches) below it, one row per arm
        dpi = ax.figure.dpi_scale_trans
        base = blended_transform_factory(ax.transData, ax.transAxes)
        ax.text(0.0, 0.0, "number at risk", transform=blended_transform_factory(ax.transAxes, ax.transAxes)
                + ScaledTranslation(-0.25, -0.62, dpi), ha="right", va="top", fontsize="small", fontweight="bold")
        for i, arm in enumerate(arms):
            c = curves[curves["arm"] == arm]
            days, risk = c["days"].to_numpy(float), c["at_risk"].to_numpy(int)
            offset = ScaledTranslation(0, -0.62 - 0.17 * (i + 1), dpi)
            for t in ticks:
                j = int(np.searchsorted(days, t * DAYS_PER_YEAR, side="left"))
                n = int(risk[j]) if j < len(risk) else 0
                ax.text(t, 0.0, f"{n}", transform=base + offset, ha="center", va="top", fontsize="small",
                        color=styles[arm][0])
            ax.text(0.0, 0.0, arm, transform=blended_transform_factory(ax.transAxes, ax.transAxes) + offset
                    + ScaledTranslation(-0.25, 0, dpi), ha="right", va="top", fontsize="small",
                    color=styles[arm][0])
    return ax


def plot_relapse_hazard(result: "TrialResult", ax: "Axes | None" = None, *,
                        bandwidth_days: float = HAZARD_BANDWIDTH_DAYS) -> "Axes":
    """Hazard of relapse over time per arm (relapses per patient-year at risk), with its 95 % band.

    Cause-specific hazard (death before relapse censors), Epanechnikov-smoothed
    Nelson–Aalen (:func:`seedsoil.cohort.stats.smoothed_hazard`) with
    ``bandwidth_days``. Within one bandwidth of surgery the estimate is biased low
    (no boundary correction); that span is shaded.
    """
    ax = new_axes(ax)
    stats = _stats()
    df = _eligible(result)
    hazard = stats.smoothed_hazard(df, "relapse", bandwidth_days)
    styles = arm_styles(result)
    peak = 0.0
    for arm in _arms_present(result, df):
        colour, ls = styles[arm]
        h = hazard[hazard["arm"] == arm].sort_values("days")
        x = _years(h["days"])
        ax.plot(x, h["hazard_per_year"], color=colour, linestyle=ls, linewidth=1.8, label=arm)
        ax.fill_between(x, h["lower"], h["upper"], color=colour, alpha=0.12, linewidth=0)
        peak = max(peak, float(np.nanmax(h["hazard_per_year"])) if len(h) else 0.0)
    _year_ticks(ax, follow_up_years(result))
    ax.axvspan(0.0, bandwidth_days / DAYS_PER_YEAR, color="#000000", alpha=0.05, linewidth=0,
               label="within one bandwidth of surgery (biased low)")
    ax.set_ylim(0.0, max(peak, 1e-3) * 1.6)
    ax.set_xlabel("time since surgery (years)")
    ax.set_ylabel("relapse hazard (relapses per patient-year)")
    ax.set_title(f"Hazard of relapse (smoothed, bandwidth {bandwidth_days / DAYS_PER_YEAR:.3g} year)")
    grid(ax)
    ax.legend(loc="upper right", fontsize="small", framealpha=0.9)
    return ax


def plot_cumulative_incidence(result: "TrialResult", ax: "Axes | None" = None) -> "Axes":
    """Cumulative incidence of relapse per arm (probability), death before relapse a competing risk.

    Aalen–Johansen estimate (:func:`seedsoil.cohort.stats.cumulative_incidence`) with
    its pointwise 95 % band; the legend counts the competing deaths per arm. A curve
    with more than :data:`MAX_CURVE_POINTS` points is drawn at the figure's resolution
    (:func:`thin_steps`).
    """
    ax = new_axes(ax)
    stats = _stats()
    df = _eligible(result)
    cif = stats.cumulative_incidence(df)
    styles = arm_styles(result)
    top = 0.0
    x_max = follow_up_years(result)
    for arm in _arms_present(result, df):
        colour, ls = styles[arm]
        c = cif[cif["arm"] == arm].sort_values("days")
        rows = df[df["arm"] == arm]
        relapses = int((rows["relapse_status"] == 1).sum())
        deaths = int((rows["relapse_status"] == 2).sum())
        top = max(top, float(np.nanmax(c[["incidence", "ci_upper"]].to_numpy(float))) if len(c) else 0.0)
        x, incidence, lower, upper = thin_steps(_years(c["days"]), c["incidence"], c["ci_lower"], c["ci_upper"],
                                                x_max=x_max)
        ax.step(x, incidence, where="post", color=colour, linestyle=ls, linewidth=1.8,
                label=f"{arm} ({relapses} relapses, {deaths} deaths first)")
        ax.fill_between(x, lower, upper, step="post", color=colour, alpha=0.10, linewidth=0)
    _year_ticks(ax, x_max)
    ax.set_ylim(0.0, min(1.0, max(top, 0.05) * 1.12))
    ax.set_xlabel("time since surgery (years)")
    ax.set_ylabel("probability of relapse")
    ax.set_title("Cumulative incidence of relapse (death a competing risk)")
    grid(ax)
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    return ax


# --------------------------------------------------------------------------- comparisons
def hazard_ratio_table(result: "TrialResult") -> pd.DataFrame:
    """Hazard ratios of each arm vs the control for DMFS and OS, with an ``endpoint`` column."""
    stats = _stats()
    df = _eligible(result)
    frames = []
    for ep in ("dmfs", "os"):
        table = _table_or(result, f"hazard_ratios_{ep}", lambda ep=ep: stats.hazard_ratios(
            df, ep, control=result.trial.control, paired=_paired(result)))
        frames.append(table.assign(endpoint=ep))
    return pd.concat(frames, ignore_index=True)


def plot_hazard_ratios(result: "TrialResult", ax: "Axes | None" = None) -> "Axes":
    """Forest plot: hazard ratio (95 % CI) of each arm vs the control, DMFS and OS, log x axis.

    Cox model with arm indicators (:func:`seedsoil.cohort.stats.hazard_ratios`;
    cluster-robust errors for the paired design). HR < 1: the arm delays the event.
    """
    table = hazard_ratio_table(result)
    arms = [a for a in result.trial.arm_names if a != result.trial.control]
    ax = new_axes(ax, (8.0, 1.6 + 0.75 * len(arms)))
    offsets = {"dmfs": -0.16, "os": 0.16}
    lows, highs = [], []
    for g, arm in enumerate(arms):
        for ep, dy in offsets.items():
            row = table[(table["arm"] == arm) & (table["endpoint"] == ep)]
            colour, marker, name = ENDPOINT_STYLE[ep]
            y = g + dy
            if row.empty or not math.isfinite(float(row["hr"].iloc[0])):
                _right_text(ax, y, f"{name}: not estimable", colour)
                continue
            hr, lo, hi = (float(row[c].iloc[0]) for c in ("hr", "ci_lower", "ci_upper"))
            lows.append(lo)
            highs.append(hi)
            ax.errorbar([hr], [y], xerr=[[hr - lo], [hi - hr]], fmt=marker, color=colour, markersize=7,
                        capsize=3, linewidth=1.6, label=f"{name} ({ENDPOINT_LABEL[ep]})" if g == 0 else None)
            _right_text(ax, y, f"{name} {fmt_hr(hr, lo, hi)}", colour)
    ax.set_yticks(range(len(arms)), labels=arms)
    ax.set_ylim(len(arms) - 0.5 + FOOTER, -0.5)  # first arm on top
    ax.tick_params(axis="y", length=0)
    _hr_axis(ax, lows, highs, result.trial.control)
    ax.set_title("Hazard ratios vs control (95 % CI)")
    _legend_below(ax, ncol=2)
    return ax


def _subgroup_column(values: pd.Series, name: str, patients: pd.Series) -> tuple[pd.Series, list[Any]]:
    """The subgroup of each row and the levels in display order.

    Few distinct values: the values themselves (declared order when sortable).
    Many (a sampled parameter): thirds of the population, cut at the tertiles of the
    patients' values (each patient counted once, whatever the number of arms).
    """
    distinct = pd.unique(values.dropna())
    if len(distinct) <= MAX_SUBGROUP_LEVELS:
        try:
            levels = sorted(distinct)
        except TypeError:
            levels = list(distinct)
        return values, levels
    per_patient = pd.to_numeric(values, errors="coerce").groupby(patients.to_numpy()).first()
    q1, q2 = np.nanquantile(per_patient.to_numpy(float), [1 / 3, 2 / 3])
    labels = [f"lowest third (< {q1:.3g})", f"middle third ({q1:.3g}–{q2:.3g})", f"highest third (> {q2:.3g})"]
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(float)
    which = np.where(numeric < q1, 0, np.where(numeric < q2, 1, 2))
    out = pd.Series([labels[k] if math.isfinite(v) else None for k, v in zip(which, numeric)], index=values.index,
                    dtype=object)
    return out, labels


def subgroup_table(result: "TrialResult", kind: str = "covariates", endpoint: str = "dmfs") -> pd.DataFrame:
    """Hazard ratios vs control within subgroups (which patients benefit).

    ``kind="covariates"``: each ``cov_*`` column by level; ``kind="parameters"``: each
    sampled ``param_*`` by thirds of the population. Statistics from
    :func:`seedsoil.cohort.stats.subgroup_hazard_ratios`; rows come in display order
    (``subgroup``, ``level``, ``arm``, ``hr``, ``ci_lower``, ``ci_upper``, ``p_value``,
    ``n``, ``events``). Empty when there is nothing to split by or only one arm.
    """
    stats = _stats()
    prefix = {"covariates": "cov_", "parameters": "param_"}[kind]
    df = _eligible(result)
    columns = [c for c in df.columns if c.startswith(prefix)]
    frames = []
    if len(_arms_present(result, df)) < 2:
        columns = []
    for column in columns:
        var = _variable_of_column(result, column)
        name = var.name if var is not None else column[len(prefix):]
        groups, levels = _subgroup_column(df[column], name, df["patient"])
        work = df.drop(columns=[c for c in df.columns if c.startswith("cov_")]).assign(**{f"cov_{name}": groups})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.TrialStatsWarning)  # an empty subgroup is reported as NaN
            table = stats.subgroup_hazard_ratios(work, endpoint, by=name, control=result.trial.control,
                                                 paired=_paired(result), max_levels=max(len(levels), 1))
        order = {lvl: i for i, lvl in enumerate(levels)}
        arm_order = {a: i for i, a in enumerate(result.trial.arm_names)}
        table = table.assign(_l=table["level"].map(order), _a=table["arm"].map(arm_order))
        frames.append(table.sort_values(["_l", "_a"], kind="stable").drop(columns=["_l", "_a"]))
    if not frames:
        return pd.DataFrame(columns=["subgroup", "level", "arm", "hr", "ci_lower", "ci_upper", "p_value", "n",
                                     "control", "events"])
    return pd.concat(frames, ignore_index=True)


def subgroup_rows(table: pd.DataFrame, kind: str = "covariates") -> list[tuple[str, bool, Any, Any]]:
    """The rows of a subgroup forest plot, top to bottom: ``(label, is_header, subgroup, level)``;
    the whole trial first (subgroup and level None), then per subgroup a header and one row per level."""
    out: list[tuple[str, bool, Any, Any]] = [("all patients", False, None, None)]
    for subgroup in pd.unique(table["subgroup"]):
        unit = _unit(str(subgroup)) if kind == "parameters" else ""
        out.append((f"{subgroup} ({unit})" if unit else str(subgroup), True, subgroup, None))
        out.extend((str(level), False, subgroup, level)
                   for level in pd.unique(table.loc[table["subgroup"] == subgroup, "level"]))
    return out


def subgroup_figsize(table: pd.DataFrame, n_arms: int, kind: str = "covariates") -> tuple[float, float]:
    """Inches for :func:`plot_subgroups`: a fixed width, a height that grows with rows and arms."""
    rows = subgroup_rows(table, kind)
    n_levels = sum(1 for row in rows if not row[1])
    n_headers = len(rows) - n_levels
    return (8.5, 1.9 + 0.3 * n_levels * max(n_arms - 1, 1) + 0.3 * n_headers)


def plot_subgroups(result: "TrialResult", ax: "Axes | None" = None, *, kind: str = "covariates",
                   endpoint: str = "dmfs", table: pd.DataFrame | None = None) -> "Axes":
    """Forest plot of subgroup hazard ratios vs the control (log x): which patients benefit.

    The whole trial on top for reference, then per subgroup (a covariate, or a sampled
    parameter cut in thirds; see :func:`subgroup_table`, ``table`` reuses one already
    computed) a bold header and one row per level, one coloured bar per treatment
    arm. The text on the right gives HR (95 % CI), events / patients of the arm in
    the level. Subgroup intervals are not adjusted for multiplicity.
    """
    sub = subgroup_table(result, kind, endpoint) if table is None else table
    overall = hazard_ratio_table(result)
    overall = overall[overall["endpoint"] == endpoint]
    arms = [a for a in result.trial.arm_names if a != result.trial.control]
    ax = new_axes(ax, subgroup_figsize(sub, len(arms) + 1, kind))
    rows = subgroup_rows(sub, kind)
    # a height unit per row; a level row is as tall as its arms need, a header row is one slot
    heights = [0.55 if header else max(1.0, 0.42 * len(arms)) for _, header, _, _ in rows]
    centres = np.cumsum(heights) - np.asarray(heights) / 2
    styles = arm_styles(result)
    lows, highs = [], []
    for (label, header, subgroup, level), y0, h in zip(rows, centres, heights):
        if header:
            ax.axhline(y0 - h / 2, color="#999999", linewidth=0.8)
            continue
        data = overall if subgroup is None else sub[(sub["subgroup"] == subgroup) & (sub["level"] == level)]
        step = 0.36 if len(arms) > 1 else 0.0
        for i, arm in enumerate(arms):
            y = y0 + (i - (len(arms) - 1) / 2) * step
            colour = styles[arm][0]
            row = data[data["arm"] == arm]
            if row.empty or not math.isfinite(float(row["hr"].iloc[0])):
                _right_text(ax, y, "not estimable", colour)
                continue
            hr, lo, hi = (float(row[c].iloc[0]) for c in ("hr", "ci_lower", "ci_upper"))
            lows.append(lo)
            highs.append(hi)
            ax.errorbar([hr], [y], xerr=[[hr - lo], [hi - hr]], fmt="s", color=colour, markersize=5.5, capsize=2.5,
                        linewidth=1.4, label=arm if subgroup is None else None)
            counts = f", {int(row['events'].iloc[0])} events / {int(row['n'].iloc[0])}" \
                if {"events", "n"} <= set(row.columns) else ""
            _right_text(ax, y, f"{fmt_hr(hr, lo, hi)}{counts}", colour)
    ax.set_yticks(centres, labels=[row[0] for row in rows])
    for tick, (_, header, _, _) in zip(ax.get_yticklabels(), rows):
        if header:
            tick.set_fontweight("bold")
    ax.set_ylim(float(np.sum(heights)) + FOOTER, 0.0)  # first row on top
    ax.tick_params(axis="y", length=0)
    _hr_axis(ax, lows, highs, result.trial.control)
    what = "covariate" if kind == "covariates" else "thirds of each sampled parameter"
    ax.set_title(f"{endpoint.upper()} hazard ratio vs control by {what}")
    _legend_below(ax, ncol=min(len(arms), 3))
    return ax


# --------------------------------------------------------------------------- population
def population_rows(result: "TrialResult") -> pd.DataFrame:
    """One row per sampled patient (all patients, eligible or not): arms of a paired trial share them."""
    return result.patients.drop_duplicates("patient").reset_index(drop=True)


def population_columns(result: "TrialResult") -> list[str]:
    """The ``param_*`` and ``cov_*`` columns, in the order the population declares them."""
    cols = [c for c in result.patients.columns if c.startswith(("param_", "cov_"))]
    order = {v.column: i for i, v in enumerate(result.trial.population.variables)}
    return sorted(cols, key=lambda c: order.get(c, len(order)))


def _variable(result: "TrialResult", name: str):
    return next((v for v in result.trial.population.variables if v.name == name), None)


def _variable_of_column(result: "TrialResult", column: str):
    """The population variable whose patients-table column is ``column`` (see ``Variable.column``)."""
    return next((v for v in result.trial.population.variables if v.column == column), None)


def _unit(name: str) -> str:
    from ..params import load_library

    lib = load_library()
    return lib[name].unit if name in lib else ""


def plot_population_variable(result: "TrialResult", column: str, ax: "Axes | None" = None) -> "Axes":
    """Distribution of one sampled variable over the patients: a histogram of a
    ``param_*`` column (internal units; log bins for a lognormal) or bars of the
    levels of a ``cov_*`` column (patients and percentage)."""
    ax = new_axes(ax, (4.0, 3.0))
    rows = population_rows(result)
    prefix = column.split("_", 1)[0]
    var = _variable_of_column(result, column)
    name = var.name if var is not None else column.split("_", 1)[1]
    values = rows[column]
    numeric = pd.to_numeric(values, errors="coerce")
    discrete = values.nunique(dropna=True) <= MAX_SUBGROUP_LEVELS or numeric.isna().any()
    if discrete:
        declared = var.distribution.values() if var is not None else None
        levels = list(declared) if declared else sorted(pd.unique(values.dropna()), key=str)
        counts = [int((values == lvl).sum()) for lvl in levels]
        total = max(sum(counts), 1)
        x = np.arange(len(levels))
        bars = ax.bar(x, counts, color="#8c9bb5", edgecolor="#3a4660", width=0.6)
        for bar, n in zip(bars, counts):
            ax.text(bar.get_x() + bar.get_width() / 2, n, f"{n} ({n / total:.0%})", ha="center", va="bottom",
                    fontsize="small")
        ax.set_xticks(x, labels=[str(v) for v in levels])
        ax.set_ylim(0, max(counts + [1]) * 1.2)
        ax.set_xlabel(name + (" (covariate)" if prefix == "cov" else ""))
    else:
        v = numeric.to_numpy(float)
        v = v[np.isfinite(v)]
        log_bins = var is not None and var.distribution.kind == "lognormal" and v.size and v.min() > 0
        if log_bins:
            bins = np.logspace(np.log10(v.min()), np.log10(v.max()) + 1e-12, 21)
            ax.set_xscale("log")
        else:
            bins = 20
        ax.hist(v, bins=bins, color="#8c9bb5", edgecolor="#3a4660", linewidth=0.6)
        if v.size:
            ax.axvline(float(np.median(v)), color="#b8323b", linewidth=1.2, linestyle=(0, (4, 2)),
                       label=f"median {np.median(v):.3g}")
            ax.legend(loc="upper right", fontsize="x-small", frameon=False)
        unit = _unit(name) if prefix == "param" else ""
        ax.set_xlabel(f"{name} ({unit or 'dimensionless'})" if prefix == "param" else name)
    ax.set_ylabel("patients")
    grid(ax, axis="y")
    return ax


def plot_population(result: "TrialResult", fig: "Figure | None" = None) -> list["Axes"]:
    """One panel per sampled variable (:func:`plot_population_variable`) on ``fig``
    (a new figure when None); returns the axes."""
    columns = population_columns(result)
    ncols = max(1, min(3, len(columns)))
    nrows = max(1, math.ceil(len(columns) / ncols))
    if fig is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8.5, 0.4 + 2.9 * nrows), layout="constrained")
    axes = []
    for i, column in enumerate(columns):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        axes.append(plot_population_variable(result, column, ax=ax))
    if columns:
        fig.suptitle(f"Virtual population ({len(population_rows(result))} patients)", fontsize=12)
    return axes


def describe_distribution(result: "TrialResult", name: str) -> str:
    """The declared distribution of population variable ``name`` in words (internal units)."""
    from ..cohort.population import KINDS

    var = _variable(result, name)
    if var is None:
        return "—"
    d = var.distribution
    unit = _unit(var.parameter) if var.parameter is not None else ""
    with_unit = KINDS.get(d.kind, (None, {}))[1]

    def q(x: Any, key: str) -> str:
        return f"{x:.4g}{' ' + unit if unit and with_unit.get(key) else ''}" if isinstance(x, float) else str(x)

    if d.kind == "categorical":
        total = sum(d.probabilities) or 1.0
        text = "categorical: " + ", ".join(f"{c} {p / total:.0%}" for c, p in zip(d.choices, d.probabilities))
    elif d.kind == "empirical":
        text = f"empirical: {len(d.observed)} observed values, equally likely"
    elif d.kind == "fixed":
        text = f"fixed at {q(d.value, 'value')}"
    else:
        fields = [f for f in dataclasses.fields(d) if f.name not in ("kind", "truncate")]
        text = f"{d.kind}, " + ", ".join(f"{f.name} {q(getattr(d, f.name), f.name)}" for f in fields)
    if d.truncate is not None:
        text += f", truncated to [{d.truncate[0]:.4g}, {d.truncate[1]:.4g}]{' ' + unit if unit else ''}"
    if var.overrides:
        text += "; sets " + "; ".join(f"{lvl}: " + ", ".join(f"{p} = {v:g}" if isinstance(v, float) else f"{p} = {v}"
                                                              for p, v in ov.items())
                                      for lvl, ov in var.overrides.items())
    return text


__all__ = ["plot_km", "plot_relapse_hazard", "plot_cumulative_incidence", "plot_hazard_ratios", "plot_subgroups",
           "plot_population_variable", "plot_population", "hazard_ratio_table", "subgroup_table",
           "subgroup_rows", "subgroup_figsize", "population_rows", "thin_steps", "thin_marks", "MAX_CURVE_POINTS",
           "MAX_CENSOR_TICKS",
           "population_columns", "describe_distribution", "arm_styles", "HAZARD_BANDWIDTH_DAYS"]
