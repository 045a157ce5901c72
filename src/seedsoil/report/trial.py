"""One self-contained HTML report of a virtual trial (``seedsoil trial`` writes it as report.html).

Same page conventions as the patient report (:mod:`seedsoil.report.html`): figures
are inline SVG (text drawn as paths) in ``data:`` URIs, the stylesheet is inlined,
no scripts, no external URLs, written atomically. The figures are drawn by
:mod:`seedsoil.report.trial_figures` from the statistics of
:mod:`seedsoil.cohort.stats`; matplotlib is imported only when figures are drawn.

>>> from seedsoil import run_trial
>>> result = run_trial("examples/trial_il1b.toml", patients=200, report=False)  # doctest: +SKIP
>>> write_trial_report(result, "report.html")  # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from .html import describe_therapy
from .page import figure_html, fmt, page, table as html_table

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..cohort.trial import TrialResult

@dataclass(frozen=True)
class TrialFigure:
    """One figure of the page: ``draw(result, fig)`` fills a matplotlib figure of ``figsize`` inches."""

    key: str
    title: str
    caption: str
    draw: Callable[["TrialResult", "Figure"], Any]
    figsize: tuple[float, float]
    #: the numbers drawn, when the page also shows them as a table (subgroup hazard ratios)
    table: pd.DataFrame | None = None


# --------------------------------------------------------------------------- figures
def trial_figures(result: "TrialResult") -> list[TrialFigure]:
    """The figures of the report for this trial, in page order (comparisons need two arms,
    subgroups a covariate or a sampled parameter, the population a sampled variable)."""
    from . import trial_figures as tf

    trial = result.trial
    n_arms = len(trial.arm_names)
    n_compared = max(n_arms - 1, 1)
    horizon = f"{trial.horizon_days / tf.DAYS_PER_YEAR:.3g}"
    bandwidth = f"{tf.HAZARD_BANDWIDTH_DAYS / tf.DAYS_PER_YEAR:.3g}"
    # a large cohort's step curves are drawn at the figure's resolution: say so where it may apply
    largest = tf.largest_arm(result)
    steps = (f" An arm with more than {tf.MAX_CURVE_POINTS:,} distinct times is drawn at the figure's resolution "
             f"(steps within 1/{tf.MAX_CURVE_POINTS:,} of the time axis as one step).")
    ticks = (f" With more than {tf.MAX_CENSOR_TICKS:,} censoring times, ticks within 1/{tf.MAX_CENSOR_TICKS:,} of "
             "the axis are drawn as one.")
    km_note = (steps if largest > tf.MAX_CURVE_POINTS else "") + (ticks if largest > tf.MAX_CENSOR_TICKS else "")
    cif_note = steps if largest > tf.MAX_CURVE_POINTS else ""
    figures = [
        TrialFigure("km_dmfs", "Kaplan–Meier: distant-metastasis-free survival",
                    "Probability of being alive without a detected distant metastasis, by arm, with the pointwise "
                    "95 % interval (pale band). Ticks: censored patients. Under the axis: patients still at risk."
                    + km_note,
                    lambda r, fig: tf.plot_km(r, "dmfs", ax=fig.add_subplot()), (8.5, 5.6 + 0.17 * n_arms)),
        TrialFigure("km_os", "Kaplan–Meier: overall survival",
                    "Probability of being alive, by arm, with the pointwise 95 % interval. Ticks: censored patients."
                    + km_note,
                    lambda r, fig: tf.plot_km(r, "os", ax=fig.add_subplot()), (8.5, 5.6 + 0.17 * n_arms)),
        TrialFigure("hazard", "Hazard of relapse over time",
                    f"Relapses per patient-year among patients still at risk (cause-specific: death first censors), "
                    f"kernel-smoothed over {bandwidth} year, with its 95 % band. The shaded first year is within one "
                    "bandwidth of surgery, where the estimate is biased low.",
                    lambda r, fig: tf.plot_relapse_hazard(r, ax=fig.add_subplot()), (8.5, 4.8)),
        TrialFigure("incidence", "Cumulative incidence of relapse",
                    "Aalen–Johansen probability of having relapsed by each time, counting death before relapse as a "
                    "competing risk (not 1 − Kaplan–Meier), with its pointwise 95 % band." + cif_note,
                    lambda r, fig: tf.plot_cumulative_incidence(r, ax=fig.add_subplot()), (8.5, 4.8)),
    ]
    if n_arms > 1:
        figures.append(TrialFigure(
            "forest", "Hazard ratios vs control",
            f"Cox hazard ratio of each arm against “{trial.control}” with its 95 % interval, for DMFS and OS "
            f"(log scale; left of the dashed line the arm delays the event)."
            + (" The same patients are in every arm, so intervals use cluster-robust errors." if
               trial.design == "paired" else ""),
            lambda r, fig: tf.plot_hazard_ratios(r, ax=fig.add_subplot()), (8.5, 1.9 + 0.8 * n_compared)))
        # which patients benefit: by covariate level, and by thirds of each sampled parameter
        for kind, prefix, key, title in (("covariates", "cov_", "subgroups", "by covariate"),
                                         ("parameters", "param_", "subgroups_parameters", "by sampled parameter")):
            names = [c[len(prefix):] for c in result.patients.columns if c.startswith(prefix)]
            if not names:
                continue
            table = tf.subgroup_table(result, kind)
            figures.append(TrialFigure(
                key, f"Which patients benefit: {title}", _subgroup_caption(kind, names),
                lambda r, fig, table=table, kind=kind: tf.plot_subgroups(r, ax=fig.add_subplot(), kind=kind,
                                                                         table=table),
                tf.subgroup_figsize(table, n_arms, kind), table))
    columns = tf.population_columns(result)
    if columns:
        rows = math.ceil(len(columns) / min(3, len(columns)))
        figures.append(TrialFigure(
            "population", "Virtual population",
            "The sampled patients (each once; the arms of a paired trial share them): a histogram of each sampled "
            "parameter (internal units, dashed: median) and the share of each covariate level. "
            f"Statistics above use the eligible patients; the horizon is {horizon} years.",
            lambda r, fig: tf.plot_population(r, fig=fig), (8.5, 0.5 + 2.9 * rows)))
    return figures


def _subgroup_caption(kind: str, names: list[str]) -> str:
    if kind == "covariates":
        return ("DMFS hazard ratio against the control within each level of " + ", ".join(f"“{n}”" for n in names)
                + ", and in all patients for reference; the text gives the HR (95 % CI), events and patients of "
                "the arm in the subgroup. Not adjusted for multiplicity; a difference between subgroups needs an "
                "interaction test.")
    return ("DMFS hazard ratio against the control in the lowest, middle and highest third of the population "
            "for each sampled parameter (cut points in internal units). Not adjusted for multiplicity.")


def _figure_html(figure: TrialFigure, result: "TrialResult") -> str:
    return figure_html(figure.key, figure.title, figure.caption, lambda fig: figure.draw(result, fig),
                       figure.figsize, salt=f"seedsoil-trial-{figure.key}")


# --------------------------------------------------------------------------- tables
def _p(p: Any) -> str:
    try:
        p = float(p)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _years_ci(median: float, lo: float, hi: float) -> str:
    from .trial_figures import fmt_years

    text = fmt_years(median)
    if text in ("not reached", "—"):
        return text
    return f"{text} ({fmt_years(lo)}–{fmt_years(hi)})"


def _arm_cell(result: "TrialResult", arm: str) -> str:
    from .trial_figures import arm_styles

    colour, linestyle = arm_styles(result).get(arm, ("#000000", "-"))
    # the swatch repeats the arm's line in the figures: solid, or broken for a dashed or dotted line
    border = {"-": "solid", ":": "dotted"}.get(linestyle, "dashed") if isinstance(linestyle, str) else "dashed"
    return (f'<span class="swatch" style="border-top-color: {colour}; border-top-style: {border}"></span>'
            f"{escape(str(arm))}")


def _arms_html(result: "TrialResult") -> str:
    trial = result.trial
    base = list(trial.base.therapies)
    rows = []
    for arm, sc in trial.arms:
        items = [escape(describe_therapy(t)) + ("" if t in base else " <b>(this arm)</b>") for t in sc.therapies]
        what = "<br>".join(items) if items else "no therapy"
        role = "control" if arm == trial.control else "treatment"
        rows.append([_arm_cell(result, arm), role, what])
    return html_table(["arm", "role", "therapies (in words; days from surgery)"], rows, cls="compact")


def _endpoints_html(result: "TrialResult") -> str:
    from . import trial_figures as tf
    from ..cohort import stats

    df = tf._eligible(result)
    trial = result.trial
    h = trial.horizon_days
    ends = tf._table_or(result, "endpoints", lambda: stats.endpoint_summary(df, h)).set_index("arm")
    md = tf._table_or(result, "medians_dmfs", lambda: stats.medians(df, "dmfs")).set_index("arm")
    mo = tf._table_or(result, "medians_os", lambda: stats.medians(df, "os")).set_index("arm")
    rm = tf._table_or(result, "rmst_dmfs", lambda: stats.rmst(df, "dmfs", h, control=trial.control)).set_index("arm")
    hy = f"{h / tf.DAYS_PER_YEAR:.3g}"
    header = ["arm", "patients", "relapses", "deaths", "median DMFS, years (95 % CI)", "median OS, years (95 % CI)",
              f"DMFS at {hy} years", f"RMST DMFS to {hy} years, years", "RMST difference vs control, months",
              "mean metastases at relapse"]
    rows = []
    for arm in trial.arm_names:
        if arm not in ends.index:
            rows.append([_arm_cell(result, arm)] + ["—"] * (len(header) - 1))
            continue
        e = ends.loc[arm]
        mets = e.get("mean_mets_at_relapse", float("nan"))
        diff = float(rm.loc[arm, "difference_days"]) if arm in rm.index else float("nan")
        rows.append([
            _arm_cell(result, arm), f"{int(e['n'])}", f"{int(e['relapses'])}", f"{int(e['deaths'])}",
            _years_ci(*(float(md.loc[arm, c]) for c in ("median_days", "ci_lower", "ci_upper"))),
            _years_ci(*(float(mo.loc[arm, c]) for c in ("median_days", "ci_lower", "ci_upper"))),
            f"{float(e['dmfs_at_horizon']):.1%}", tf.fmt_years(float(e["rmst_dmfs_days"])),
            "control" if arm == trial.control else (f"{diff / 30.4375:+.1f}" if math.isfinite(diff) else "—"),
            escape(fmt(float(mets))) if mets is not None else "—",
        ])
    n_all = result.patients.drop_duplicates(["patient"]).shape[0]
    n_inelig = int((~result.patients["eligible"].astype(bool)).sum())
    note = (f'<p class="note">Eligible patients only: {n_inelig} patient-arm row(s) of {len(result.patients)} '
            f"({n_all} patients) had a detectable metastasis at surgery (or could not be simulated) and are left out "
            "of every statistic. Times from surgery. DMFS: alive without detected distant metastasis. RMST: "
            "restricted mean DMFS time (area under the Kaplan–Meier curve up to the horizon).</p>")
    table = html_table(header, rows, cls="compact", numeric=set(range(1, len(header))))
    return f'<div class="wide">{table}</div>' + note


def _comparisons_html(result: "TrialResult") -> str:
    from . import trial_figures as tf
    from ..cohort import stats

    trial = result.trial
    if len(trial.arm_names) < 2:
        return "<p>One arm only: nothing to compare.</p>"
    df = tf._eligible(result)
    hrs = tf.hazard_ratio_table(result)
    rows = []
    for ep in ("dmfs", "os"):
        lr = tf._table_or(result, f"logrank_{ep}", lambda ep=ep: stats.logrank(df, ep, control=trial.control))
        lr = lr.set_index("arm")
        for arm in trial.arm_names:
            if arm == trial.control:
                continue
            hr = hrs[(hrs["endpoint"] == ep) & (hrs["arm"] == arm)]
            hr_text, hr_p = "—", "—"
            if not hr.empty:
                hr_text = tf.fmt_hr(*(float(hr[c].iloc[0]) for c in ("hr", "ci_lower", "ci_upper")))
                hr_p = _p(hr["p_value"].iloc[0])
            chi2 = f"{float(lr.loc[arm, 'test_statistic']):.2f}" if arm in lr.index else "—"
            lp = _p(lr.loc[arm, "p_value"]) if arm in lr.index else "—"
            rows.append([ep.upper(), _arm_cell(result, arm), escape(trial.control), chi2, lp, hr_text, hr_p])
    table = html_table(["endpoint", "arm", "control", "log-rank χ² (1 df)", "log-rank p", "hazard ratio (95 % CI)",
                    "Cox p"], rows, cls="compact", numeric={3, 4, 5, 6})
    paired = (" The same virtual patients are in every arm: the log-rank test treats the arms as independent and "
              "is conservative; the hazard ratios use errors clustered on the patient." if trial.design == "paired"
              else "")
    return table + f'<p class="note">Each arm against “{escape(trial.control)}”.{paired}</p>'


def _subgroups_table_html(table: pd.DataFrame, result: "TrialResult") -> str:
    from .trial_figures import fmt_hr

    rows = []
    for _, r in table.iterrows():
        rows.append([escape(str(r["subgroup"])), escape(str(r["level"])), _arm_cell(result, r["arm"]),
                     f"{int(r['n'])}", f"{int(r['events'])}",
                     fmt_hr(float(r["hr"]), float(r["ci_lower"]), float(r["ci_upper"])), _p(r["p_value"])])
    return html_table(["subgroup", "level", "arm", "patients", "DMFS events", "hazard ratio (95 % CI)", "p"], rows,
                  cls="compact", numeric={3, 4, 5, 6})


def _population_html(result: "TrialResult") -> str:
    from . import trial_figures as tf

    variables = result.trial.population.variables
    if not variables:
        return "<p>No population variables: every patient is the base scenario (they differ only by chance).</p>"
    rows = []
    pop = tf.population_rows(result)
    for v in variables:
        column = v.column
        kind = "parameter" if v.parameter is not None else "covariate"
        sample = "—"
        if column in pop:
            numeric = pd.to_numeric(pop[column], errors="coerce")
            if numeric.notna().all() and pop[column].nunique() > tf.MAX_SUBGROUP_LEVELS:
                q = numeric.quantile([0.05, 0.5, 0.95]).to_numpy(float)
                sample = f"median {q[1]:.3g} (5–95 %: {q[0]:.3g}–{q[2]:.3g})"
            else:
                counts = pop[column].value_counts()
                sample = ", ".join(f"{k}: {int(n)}" for k, n in counts.items())
        rows.append([f"<code>{escape(v.name)}</code>", kind, escape(tf.describe_distribution(result, v.name)),
                     escape(sample)])
    corr = ""
    spec_corr = (result.trial.spec.get("population") or {}).get("correlation") if result.trial.spec else None
    if spec_corr:
        corr = ('<p class="note">Rank correlations (Gaussian copula): '
                + "; ".join(f"<code>{escape(str(a))}</code> ~ <code>{escape(str(b))}</code> ρ = {escape(str(rho))}"
                            for a, b, rho in spec_corr) + ".</p>")
    return (html_table(["variable", "kind", "declared distribution (internal units)", "sampled"], rows, cls="compact")
            + corr)


# --------------------------------------------------------------------------- page
def render_trial_report(result: "TrialResult") -> str:
    """The trial report as one HTML string (see :func:`write_trial_report`)."""
    from . import trial_figures as tf

    # every figure and table reads one eligible table, made once: the page costs a small
    # multiple of that table's memory, and the figures are bounded whatever the cohort size
    with tf.shared_eligible(result):
        return _render(result)


def _render(result: "TrialResult") -> str:
    from . import trial_figures as tf

    from ..cohort.stats import TrialStatsWarning

    trial = result.trial
    caught: list[str] = []
    # the statistics' own warnings (an arm without events, a horizon past follow-up) become notes on the page
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", TrialStatsWarning)
        figures = {f.key: f for f in trial_figures(result)}
        drawn = {key: _figure_html(f, result) for key, f in figures.items()}
        endpoints = _endpoints_html(result)
        comparisons = _comparisons_html(result)
    for w in record:
        if not issubclass(w.category, TrialStatsWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        elif str(w.message) not in caught:
            caught.append(str(w.message))
    notes = ('<div class="warnings"><p><b>Notes from the statistics:</b></p><ul>'
             + "".join(f"<li>{escape(t)}</li>" for t in caught) + "</ul></div>") if caught else ""

    def figs(*keys: str) -> str:
        return "\n".join(drawn[k] for k in keys if k in drawn)

    subgroup_parts = []
    tables = [figures[k].table for k in ("subgroups", "subgroups_parameters") if k in figures]
    if tables:
        subgroup_parts.append(figs("subgroups", "subgroups_parameters"))
        table = pd.concat([t for t in tables if t is not None and len(t)] or [pd.DataFrame()], ignore_index=True)
        if len(table):
            subgroup_parts.append("<details><summary>Subgroup hazard ratios as a table</summary>"
                                  + _subgroups_table_html(table, result) + "</details>")
    elif len(trial.arm_names) < 2:
        subgroup_parts.append("<p>One arm only: no comparison within subgroups.</p>")
    else:
        subgroup_parts.append("<p>The population has no covariates or sampled parameters to split by.</p>")

    sections = [
        ("arms", "Arms", _arms_html(result)),
        ("endpoints", "Endpoints", endpoints),
        ("survival", "Survival", figs("km_dmfs", "km_os")),
        ("relapse", "Relapse over time", figs("hazard", "incidence")),
        ("comparisons", "Hazard ratios and log-rank tests", figs("forest") + comparisons + notes),
        ("subgroups", "Which patients benefit", "\n".join(subgroup_parts)),
        ("population", "Population", figs("population") + _population_html(result)),
        ("spec", "Trial specification", "<details><summary>Trial as run (internal units), as JSON</summary><pre>"
         + escape(json.dumps(trial.spec, indent=2, default=str, ensure_ascii=False)) + "</pre></details>"),
    ]
    n_patients = result.patients["patient"].nunique()
    n_eligible = tf._eligible(result)["patient"].nunique()
    total_s = float(result.timings.get("total_s", 0.0)) if result.timings else 0.0
    facts = [("design", trial.design), ("patients", f"{n_patients:,} ({n_eligible:,} eligible)"),
             ("arms", f"{len(trial.arm_names)}: {', '.join(trial.arm_names)}"), ("control", trial.control),
             ("seed", str(trial.seed)), ("horizon", f"{trial.horizon_days / tf.DAYS_PER_YEAR:.3g} years")]
    fitted = getattr(trial, "fitted_population", None)
    if fitted:
        facts.append(("patients from the fitted population", fitted))
    return page(trial.name, trial_subtitle(result), sections, kind="virtual trial report", facts=facts,
                notes=[f"simulated in {total_s:.3g} s"] if total_s > 0 else [])


def trial_subtitle(result: "TrialResult") -> str:
    """The sentence under the page title: the trial's own description (when the trial has
    one), then its design in words: patients, arms, the control and the base patient. Not
    the base scenario's description, which describes that scenario and its own variants."""
    trial = result.trial
    own = getattr(trial, "description", None) or ((trial.spec or {}).get("trial") or {}).get("description")
    n = result.patients["patient"].nunique()
    arms = trial.arm_names
    patients = f"{n:,} virtual patient{'s' if n != 1 else ''}"
    others = [a for a in arms if a != trial.control]
    listing = f"“{trial.control}” (control)" + "".join(f", “{a}”" for a in others)
    if len(arms) == 1:
        design = f"A single-arm virtual trial of {patients}, arm {listing}"
    elif trial.design == "paired":
        design = f"A paired virtual trial: {patients}, each in all {len(arms)} arms: {listing}"
    else:
        design = f"A {trial.design} virtual trial: {patients}, each in one of {len(arms)} arms: {listing}"
    design += f". Every patient is a variant of the scenario “{trial.base.name}”."
    return f"{str(own).strip().rstrip('.')}. {design}" if own else design


def write_trial_report(result: "TrialResult", path: str | os.PathLike[str]) -> Path:
    """Write the trial's self-contained HTML report to ``path`` (atomically) and return the path.

    ``result``: the :class:`~seedsoil.cohort.trial.TrialResult` of
    :func:`~seedsoil.cohort.run_trial` (which calls this for ``report.html``).
    """
    from ..store import write_text_atomic

    return write_text_atomic(path, render_trial_report(result))


__all__ = ["write_trial_report", "render_trial_report", "trial_figures", "trial_subtitle", "TrialFigure"]
