"""One self-contained HTML report of a patient run and its variants.

The page opens offline: figures are inline SVG (text drawn as paths, so no
fonts are needed) in ``data:`` URIs, the stylesheet is inlined, and there are
no scripts and no external URLs. matplotlib is imported only when figures are
drawn.
"""
from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..units import DAYS_PER_YEAR
from ..plotting import finite
from .page import figure_html, fmt, page, table

if TYPE_CHECKING:  # pragma: no cover
    from ..body.result import PatientResult
    from ..scenario import Scenario, Therapy

#: metastasis_detected rows shown in the events table before the rest are counted
MAX_DETECTION_ROWS = 20

CAPTIONS = {
    "relapse": "Probability of being relapse-free after surgery, computed by the relapse-time engine (no "
               "sampling), and the relapse hazard per year (right axis). Line style tells the variants apart.",
    "burden": "Cells in the primary tumour and in all metastases (log scale). The pale band is the largest "
              "single colony: relapse is when it crosses the detection size (dashed). Vertical lines: surgery "
              "(black) and relapse (pink). Line style and marker tell the variants apart.",
    "states": "Circulating tumour cells, dormant ZEB1-high single disseminated cells, and colonies that "
              "proliferate or are held dormant (log scale; the mean-field engine shows expected "
              "numbers).",
    "colonies": "Histogram of the largest size each colony reached, for colonies alive at the end of the run "
                "and colonies that went extinct (log scales).",
    "colonies/meanfield": "Expected number of colonies per decade of size, proliferating and dormant, at surgery "
                          "and at the end of each run (log scales).",
    "timeline": "Clinical timeline of each variant: diagnosis, surgery, therapies (shaded spans), detected "
                "metastases (ticks), relapse, death and the end of the run.",
    "inflammation": "Systemic IL-1β (left axis) and immune effector cells (right axis). The dotted line is the "
                    "IL-1β level that half-suppresses the awakening of dormant disseminated cells.",
}


def _as_results(results: Any) -> dict[str, "PatientResult"]:
    from .figures import as_results

    return as_results(results)


# --------------------------------------------------------------------------- figures
def _figsize(key: str, n_runs: int) -> tuple[float, float]:
    """Inches of the report's figure ``key``: the timeline grows with the number of runs."""
    return (8.5, 5.6) if key != "timeline" else (8.5, 2.0 + 0.6 * n_runs)


def _figures_html(results: Mapping[str, "PatientResult"]) -> str:
    from .figures import figures_for, time_reference

    _, xlabel = time_reference(results)
    parts = [f'<p class="note">Time axes: {escape(xlabel)}.</p>']
    meanfield = all(r.engine == "meanfield" for r in results.values())
    for key, title, draw in figures_for(results):
        text = CAPTIONS.get(f"{key}/meanfield", CAPTIONS.get(key, "")) if meanfield else CAPTIONS.get(key, "")
        parts.append(figure_html(key, title, text, lambda fig, draw=draw: draw(results, ax=fig.add_subplot()),
                                 _figsize(key, len(results)), salt=f"seedsoil-{key}"))
    return "\n".join(parts)


# --------------------------------------------------------------------------- sections
def _summary_html(results: Mapping[str, "PatientResult"]) -> str:
    labels = list(results)
    rows_by = {label: dict(r.summary_rows()) for label, r in results.items()}
    keys: list[str] = []
    for label in labels:
        for key, _ in results[label].summary_rows():
            if key not in keys:
                keys.append(key)
    base = labels[0]
    rows, classes = [], []
    for key in keys:
        values = [rows_by[label].get(key, "") for label in labels]
        rows.append([escape(key)] + [escape(str(v)) for v in values])
        classes.append([""] + ["changed" if i and v != values[0] else "" for i, v in enumerate(values)])
    header = [""] + [escape(label) for label in labels]
    note = (f'<p class="note">Days since the first cancer cell (t = 0). Shaded cells differ from '
            f"“{escape(base)}”.</p>" if len(labels) > 1 else
            '<p class="note">Days since the first cancer cell (t = 0).</p>')
    return table(header, rows, cls="summary", numeric=set(range(1, len(labels) + 1)), cell_classes=classes) + note


def describe_therapy(t: "Therapy") -> str:
    """One line, in words, of a scenario therapy (internal units: days, nM, mg)."""
    if t.kind == "il1r_blockade":
        what = f"IL-1 receptor blockade ({t.blocked_fraction:.0%} of receptors blocked)"
    elif t.kind == "il1b_mimetic":
        what = f"IL-1β mimetic holding {t.level:.3g} nM IL-1β"
    else:
        dose = f", {t.dose:g} mg" if t.dose is not None else ""
        every = f" every {t.interval:g} days" if t.interval is not None else ""
        what = f"drug {t.drug or '?'}{dose}{every}"
    anchor = "after surgery" if t.relative_to == "surgery" else "after t = 0"
    months = t.duration / 30.4375
    return f"{what}, from day {t.start:g} {anchor} for {t.duration:g} days ({months:.3g} months)"


def _same(a: Any, b: Any) -> bool:
    """Exact equality of two parameter values (no tolerance; arrays element by element)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays: an ambiguous truth value
        import numpy as np

        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _parameter_changes(base: "Scenario", other: "Scenario") -> dict[str, tuple[Any, Any]]:
    """``{name: (base value, other value)}`` of the parameters that differ between two scenarios."""
    names = set(base.parameters) | set(other.parameters)
    return {n: (base.parameters.get(n), other.parameters.get(n)) for n in sorted(names)
            if not _same(base.parameters.get(n), other.parameters.get(n))}


def _library_changes(sc: "Scenario", defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: value}`` of the parameters of ``sc`` that are not the library default: an
    override that restates the default is no change."""
    values = {**sc.overrides, **sc.parameters}
    return {n: v for n, v in sorted(values.items()) if n not in defaults or not _same(v, defaults[n])}


def _variants_html(results: Mapping[str, "PatientResult"]) -> str:
    labels = list(results)
    base = results[labels[0]].scenario
    parts = []
    for i, label in enumerate(labels):
        sc = results[label].scenario
        base_therapies = list(base.therapies)
        items = []
        for t in sc.therapies:
            added = i > 0 and t not in base_therapies
            items.append(f"<li>{escape(describe_therapy(t))}{' <b>(added by this variant)</b>' if added else ''}</li>")
        therapies = f'<ul class="therapies">{"".join(items)}</ul>' if items else "<p>No therapy.</p>"
        changes = ""
        if i > 0:
            diff = _parameter_changes(base, sc)
            if diff:
                changes = "<p>Parameters changed from “{}”: {}.</p>".format(
                    escape(labels[0]), "; ".join(f"<code>{escape(n)}</code> {escape(fmt(a))} → {escape(fmt(b))}"
                                                for n, (a, b) in diff.items()))
        res = results[label]
        seed = "no seed (deterministic)" if res.seed is None else f"seed {res.seed}"
        if i == 0:
            head = "the patient as given"
        else:
            head = "the same patient" + (" (same seed)" if res.engine == "stochastic" else "")
        parts.append(f'<div class="variant"><h3>{escape(label)}</h3>'
                     f'<p class="note">{escape(head)}; {escape(res.engine)} engine, {escape(seed)}</p>'
                     f"{therapies}{changes}</div>")
    return "\n".join(parts)


def _events_html(results: Mapping[str, "PatientResult"]) -> str:
    parts = []
    for label, r in results.items():
        ev = r.events
        surgery = r.summary.get("surgery_day")
        rows, row_classes = [], []
        if ev is not None and len(ev):
            ev = ev.sort_values("day", kind="stable")
            events = ev["event"].astype(str).tolist()
            n_detect = events.count("metastasis_detected")
            shown = 0
            skipped_last = None
            for day, event, colony, detail in zip(ev["day"], events, ev["colony_id"], ev["detail"].astype(str)):
                if event == "metastasis_detected":
                    shown += 1
                    if shown > MAX_DETECTION_ROWS:
                        skipped_last = day
                        continue
                since = f"{(float(day) - float(surgery)) / DAYS_PER_YEAR:+.2f}" if finite(surgery) else "—"
                col = "" if colony is None or int(colony) < 0 else str(int(colony))
                rows.append([f"{float(day):,.1f}", since, escape(event), col, escape(detail)])
                row_classes.append("")
            if n_detect > MAX_DETECTION_ROWS:
                more = n_detect - MAX_DETECTION_ROWS
                rows.append(["", "", "metastasis_detected", "",
                             f"… and {more:,} more metastases detected (the last on day {float(skipped_last):,.1f}); "
                             f"{n_detect:,} in all"])
                row_classes.append("more")
        rows_html = (table(["day", "years since surgery", "event", "colony", "detail"], rows, numeric={0, 1, 3},
                        row_classes=row_classes) if rows else "<p>No events.</p>")
        parts.append(f"<h3>{escape(label)}</h3>{rows_html}")
    return "\n".join(parts)


def _parameters_html(results: Mapping[str, "PatientResult"]) -> str:
    from ..params import load_library

    lib = load_library()
    labels = list(results)
    base = results[labels[0]].scenario
    rows: list[list[str]] = []

    def add(where: str, name: str, value: Any) -> None:
        entry = lib.entries.get(name)
        unit = entry.unit if entry is not None else ""
        default = fmt(entry.value) if entry is not None else "—"
        source = entry.source if entry is not None else "not in the parameter library"
        rows.append([escape(where), f"<code>{escape(name)}</code>", escape(fmt(value)), escape(default),
                     escape(unit or "dimensionless"), escape(source)])

    defaults = lib.defaults()
    base_changes = _library_changes(base, defaults)
    for name, value in base_changes.items():
        add(labels[0], name, value)
    for label in labels[1:]:
        for name, value in _library_changes(results[label].scenario, defaults).items():
            if not (name in base_changes and _same(value, base_changes[name])):  # else listed for the base run
                add(label, name, value)
    if not rows:
        return "<p>None: every parameter is the library default (<code>seedsoil params</code> lists them).</p>"
    source_column = [["", "", "", "", "", "source"] for _ in rows]  # long text, set smaller by the stylesheet
    listed = table(["run", "parameter", "value", "library default", "unit", "source"], rows, numeric={2, 3},
                   cell_classes=source_column)
    return (listed + '<p class="note">Values in internal units (days, cells, mm, nM). Every other parameter is the '
            "library default (<code>seedsoil params</code>).</p>")


def _scenario_html(results: Mapping[str, "PatientResult"]) -> str:
    labels = list(results)
    first = results[labels[0]].scenario

    def dump(sc: "Scenario") -> str:
        return escape(json.dumps(sc.to_dict(), indent=2, sort_keys=False, default=str, ensure_ascii=False))

    parts = [f"<details><summary>Scenario “{escape(first.name)}”, normalized (internal units), as JSON</summary>"
             f"<pre>{dump(first)}</pre>"]
    for label in labels[1:]:
        sc = results[label].scenario
        parts.append(f"<details><summary>Variant “{escape(label)}” as run</summary><pre>{dump(sc)}</pre></details>")
    parts.append("</details>")
    return "".join(parts)


# --------------------------------------------------------------------------- page
def render_report(results: "PatientResult | Mapping[str, PatientResult]") -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    res = _as_results(results)
    labels = list(res)
    sc = res[labels[0]].scenario
    engines = sorted({r.engine for r in res.values()})
    seeds = sorted({str(r.seed) for r in res.values()})
    seed_text = "none (deterministic)" if seeds == ["None"] else ", ".join(seeds)
    total_s = sum(float(r.timings.get("total_s", 0.0)) for r in res.values() if r.timings)
    notes = [f"simulated in {total_s:.2g} s"] if total_s > 0 else []
    if len(labels) > 1:
        notes.append(f"{len(labels)} runs: {', '.join(labels)}")
    sections = [
        ("summary", "Summary", _summary_html(res)),
        ("figures", "Figures", _figures_html(res)),
        ("therapies", "Therapies and variants", _variants_html(res)),
        ("events", "Events", '<p class="note">Days since the first cancer cell (t = 0).</p>' + _events_html(res)),
        ("parameters", "Parameters changed from the library", _parameters_html(res)),
        ("scenario", "Scenario", _scenario_html(res)),
    ]
    return page(sc.name, sc.meta.description or "", sections, kind="patient report",
                facts=[("engine", ", ".join(engines)), ("seed", seed_text)], notes=notes)


def write_report(results: "PatientResult | Mapping[str, PatientResult]", path: str | os.PathLike[str]) -> Path:
    """Write one self-contained HTML report and return its path.

    ``results``: a :class:`~seedsoil.body.result.PatientResult` or a mapping
    ``{label: PatientResult}`` with the base run first, then its variants (as
    ``seedsoil run`` produces). The file is written atomically.
    """
    from ..store import write_text_atomic

    return write_text_atomic(path, render_report(results))


__all__ = ["write_report", "render_report", "describe_therapy", "MAX_DETECTION_ROWS"]
