"""The fit report (``report.html`` of a ``seedsoil fit`` run folder): parameter estimates, the
posterior predictive checks by subgroup (figures from :mod:`seedsoil.fit.report`), their
summary at the horizons, and whatever the run adds (calibration to randomised evidence, the
external validation). The page shell, figures and tables are the patient and trial reports'
(:mod:`seedsoil.report.page`): one self-contained file, figures inline SVG, no scripts."""
from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..fit.report import DAYS_PER_YEAR, HAZARD_BANDWIDTH_DAYS, draw_hazard, draw_survival, figure_size
from .page import figure_html, fmt, page, table


def _table_html(df: pd.DataFrame, *, flags: Sequence[str] = ()) -> str:
    """A data frame as a report table: numbers right-aligned, a false ``flags`` cell highlighted."""
    numeric = {i for i, c in enumerate(df.columns)
               if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}
    rows, marks = [], []
    for rec in df.itertuples(index=False):
        values = [v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v for v in rec]
        rows.append([escape(fmt(v)) for v in values])
        marks.append(["changed" if c in flags and not bool(v) else "" for c, v in zip(df.columns, values)])
    return '<div class="wide">' + table([escape(str(c)) for c in df.columns], rows, numeric=numeric,
                                        cell_classes=marks) + "</div>"


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
        ("survival", "Observed and predicted survival", figure_html(
            "ppc-survival", "Kaplan–Meier against prediction",
            f"Steps: observed Kaplan–Meier with its{band} pointwise band; dashed: predicted population-averaged "
            "survival (median over parameter draws) with its band over draws; one colour per subgroup level.",
            lambda fig: draw_survival(check, fig), size, salt=f"{title}-ppc-survival")),
        ("hazard", "Observed and predicted hazard", figure_html(
            "ppc-hazard", "Smoothed hazard against prediction",
            f"Solid: Epanechnikov-smoothed Nelson–Aalen hazard (bandwidth {HAZARD_BANDWIDTH_DAYS / DAYS_PER_YEAR:.3g}"
            " years); dashed: the predicted −d log S̄/dt smoothed by the same kernel sum on the same grid, with its "
            "band over parameter draws. Both are biased low within one bandwidth of the ends.",
            lambda fig: draw_hazard(check, fig), size, salt=f"{title}-ppc-hazard")),
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
    return page(title, "Posterior predictive checks of the fitted relapse model.", sections, kind="fit report",
                facts=facts)


def write_fit_report(out_dir: str | os.PathLike[str], *, title: str, estimates: pd.DataFrame, check: pd.DataFrame,
                     summary: pd.DataFrame, extra_html: str = "", level: float | None = None) -> Path:
    """Write ``out_dir/report.html`` (:func:`render_fit_report`) atomically; returns its path."""
    from ..store import write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = render_fit_report(title=title, estimates=estimates, check=check, summary=summary, extra_html=extra_html,
                             level=level)
    return write_text_atomic(out / "report.html", html)


__all__ = ["render_fit_report", "write_fit_report"]
