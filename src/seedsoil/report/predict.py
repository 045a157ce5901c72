"""The HTML report of one patient's prediction (:mod:`seedsoil.fit.predict`): one self-contained page.

Sections: the patient's record; the fitted population (its label and provenance); the
curves of each therapy option for both endpoints (distant-metastasis-free and
recurrence-free: the line at the estimate, the band over the parameter draws); the benefit
of each option over surgery only at 5 and 10 years with its paired band; the summary table.
Built from :mod:`seedsoil.report.page` like the patient and trial reports.
"""
from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from .page import figure_html, fmt, page, table

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..fit.predict import PatientPrediction

#: endpoint → what the report calls it
ENDPOINTS = {"distant": "Distant-metastasis-free", "rfs": "Recurrence-free (other-cause death included)"}
_UNITS = {"tumour_size": "mm", "age": "year"}
_LINESTYLES = ("-", "--", ":", "-.")


def _style(i: int) -> tuple[str, str]:
    """Option ``i``'s colour and line style: the reference (i = 0, surgery only) dark grey and
    solid, the others the palette, changing line style every 6 options."""
    from ..plotting import DARK_GREY, colour

    if i == 0:
        return DARK_GREY, "-"
    return colour(i - 1), _LINESTYLES[((i - 1) // 6) % len(_LINESTYLES)]


def draw_curves(prediction: "PatientPrediction", fig: "Figure") -> None:
    """Two panels (distant-metastasis-free, recurrence-free): per option the event-free
    probability at the estimate (line) and its band over the draws (shaded)."""
    from ..plotting import DAYS_PER_YEAR, grid, legend_below

    c = prediction.curves
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (endpoint, title) in zip(axes, ENDPOINTS.items()):
        for i, name in enumerate(prediction.options):
            g = c[(c["therapy"] == name) & (c["endpoint"] == endpoint)]
            col, ls = _style(i)
            years = g["day"].to_numpy() / DAYS_PER_YEAR
            if prediction.draws > 0:
                ax.fill_between(years, g["low"], g["high"], color=col, alpha=0.12, linewidth=0)
            ax.plot(years, g["estimate"], color=col, linestyle=ls, linewidth=2.2 if i == 0 else 1.5, label=name,
                    zorder=3 if i == 0 else 2)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("years after surgery")
        ax.set_ylim(0.0, 1.02)
        ax.set_xlim(0.0, prediction.horizon_years)
        grid(ax)
    axes[0].set_ylabel("event-free probability")
    handles, labels = axes[0].get_legend_handles_labels()
    legend_below(axes[0], handles, labels, ncol=3, drop=0.55)


def draw_benefit(prediction: "PatientPrediction", fig: "Figure") -> None:
    """Per option (not surgery only), the absolute benefit over surgery only (percentage
    points of distant-metastasis-free probability) at each summary year, with its paired band."""
    import numpy as np

    from ..plotting import GREY, colour, grid

    s = prediction.summary
    s = s[(s["endpoint"] == "distant") & (s["therapy"] != prediction.options[0])]
    names = [n for n in prediction.options[1:]]
    years = sorted(s["years"].unique())
    ax = fig.add_subplot()
    h = 0.8 / max(len(years), 1)
    for k, y in enumerate(years):
        g = s[s["years"] == y].set_index("therapy").loc[names]
        pos = np.arange(len(names)) + k * h
        est = 100 * g["benefit"].to_numpy()
        err = None
        if prediction.draws > 0:
            lo, hi = 100 * g["benefit_low"].to_numpy(), 100 * g["benefit_high"].to_numpy()
            err = np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])
        ax.barh(pos, est, height=h, color=colour(k), alpha=0.8, xerr=err, ecolor="#3a3a3a", capsize=2,
                label=f"{y:g} years")
    ax.axvline(0.0, color=GREY, linewidth=1)
    ax.set_yticks(np.arange(len(names)) + 0.4 - h / 2, names)
    ax.invert_yaxis()
    ax.set_xlabel("benefit over surgery only (percentage points of distant-metastasis-free probability)")
    grid(ax, axis="x")
    ax.legend(fontsize="small", frameon=False, loc="best")


def _record_html(prediction: "PatientPrediction") -> str:
    rows = [[escape(k), escape(fmt(v) + (f" {_UNITS[k]}" if k in _UNITS else ""))]
            for k, v in prediction.record.items()]
    return table(["field", "value"], rows)


def _population_html(prediction: "PatientPrediction") -> str:
    p = prediction.provenance
    rows = [[escape(str(k)), escape(fmt(v) if not isinstance(v, (dict, list)) else str(v))] for k, v in p.items()]
    mort = ("other-cause death from the population's Gompertz mortality law at her age" if prediction.mortality
            else "no mortality law: recurrence-free equals distant-metastasis-free")
    return (f"<p>{escape(prediction.population_label)}</p><p>Recurrence-free: {escape(mort)}. Bands: "
            f"{100 * prediction.level:g} % of {prediction.draws} parameter draws (seed {prediction.seed}), the same "
            "draws for every option, so benefits are paired.</p>" + table(["provenance", "value"], rows))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _summary_html(prediction: "PatientPrediction") -> str:
    rows = []
    for _, r in prediction.summary.iterrows():
        band = prediction.draws > 0
        rows.append([escape(r["therapy"]), escape(ENDPOINTS[r["endpoint"]].split(" (")[0]), f"{r['years']:g}",
                     _pct(r["probability"]), f"{_pct(r['low'])} – {_pct(r['high'])}" if band else "—",
                     f"{100 * r['benefit']:+.1f}",
                     f"{100 * r['benefit_low']:+.1f} – {100 * r['benefit_high']:+.1f}" if band else "—"])
    return table(["therapy", "endpoint", "years", "event-free %", "band %", "benefit (points)", "benefit band"],
                 rows, numeric={2, 3, 4, 5, 6})


def _therapies_html(prediction: "PatientPrediction") -> str:
    rows = []
    for name, tables in prediction.therapies.items():
        text = "; ".join(", ".join(f"{k} = {v}" for k, v in t.items()) for t in tables) or "none"
        rows.append([escape(name), escape(text)])
    notes = "".join(f"<p>{escape(n)}</p>" for n in prediction.notes)
    return table(["option", "therapy tables"], rows) + notes


def render_prediction_report(prediction: "PatientPrediction") -> str:
    """The page (HTML text)."""
    n = len(prediction.options)
    curves = figure_html("curves", "Predicted event-free curves by therapy option",
                         f"Lines: at the parameter estimate; bands: {100 * prediction.level:g} % of "
                         f"{prediction.draws} parameter draws. Left: distant-metastasis-free; right: recurrence-free "
                         "(first of relapse or death from other causes).",
                         lambda fig: draw_curves(prediction, fig), (11.0, 5.6 + 0.22 * ((n + 2) // 3)),
                         salt="seedsoil-predict-curves")
    benefit = figure_html("benefit", "Benefit over surgery only",
                          "Distant-metastasis-free probability with the option minus without, at the estimate "
                          "(bars) with the band of the paired differences over the draws (whiskers).",
                          lambda fig: draw_benefit(prediction, fig), (9.0, 1.2 + 0.45 * max(n - 1, 1)),
                          salt="seedsoil-predict-benefit")
    sections = [
        ("patient", "The patient", _record_html(prediction)),
        ("population", "Fitted population", _population_html(prediction)),
        ("curves", "Curves", curves),
        ("benefit", "Benefit", benefit if n > 1 else "<p>No option besides surgery only.</p>"),
        ("summary", "Summary", _summary_html(prediction)),
        ("therapies", "Therapy options", _therapies_html(prediction)),
    ]
    facts = [("population", prediction.population_name), ("horizon", f"{prediction.horizon_years:g} years"),
             ("draws", str(prediction.draws))]
    return page("Patient prediction", "Predicted recurrence-free and distant-metastasis-free curves of one patient "
                "under each therapy option, from a fitted population.", sections, kind="prediction report",
                facts=facts)


def write_prediction_report(prediction: "PatientPrediction", out_dir: str | os.PathLike[str]) -> Path:
    """Write ``report.html`` into ``out_dir`` (atomically) and return its path."""
    from ..store import write_text_atomic

    return write_text_atomic(Path(out_dir) / "report.html", render_prediction_report(prediction))


__all__ = ["write_prediction_report", "render_prediction_report", "draw_curves", "draw_benefit"]
