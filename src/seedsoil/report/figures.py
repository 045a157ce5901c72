"""Figures of one patient (and its variants): burden, cell states, colony sizes, events, inflammation.

Every plot function takes a :class:`~seedsoil.body.result.PatientResult` or a
mapping ``{label: PatientResult}`` (the base run first, then variants of the
same patient) and ``ax=None``; it draws on ``ax`` or, when ``ax`` is None, on a
new :class:`matplotlib.figure.Figure` that is not registered with pyplot (no
global state, nothing shown), and returns the axes. Variants are told apart by
line style and marker (later runs drawn on top, thinner), quantities by colour
(Okabe–Ito, colour-blind safe).

Time axis: years since surgery when every result has a surgery, else years
since t = 0 (the first cancer cell); ``since="start"`` forces the latter. The
axis label says which.

matplotlib is imported inside the functions, so importing this module is cheap.
In a notebook, pass axes from ``plt.subplots()`` to see the figure inline
(a figure made here is not known to pyplot, so it is not shown by itself).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Union

import numpy as np

from ..plotting import DAYS_PER_YEAR, GREY, OKABE_ITO, finite, grid, legend_below, new_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..body.result import PatientResult

    Results = Union["PatientResult", Mapping[str, "PatientResult"]]

#: quantity -> colour, from Okabe & Ito's colour-blind-safe palette (fixed, so figures match
#: across the report); black and greys for references
COLOURS = {
    "primary": OKABE_ITO["blue"],
    "metastatic": OKABE_ITO["vermillion"],
    "largest": OKABE_ITO["orange"],
    "ctc_cells": OKABE_ITO["reddish purple"],
    "dormant_cells": OKABE_ITO["sky blue"],
    "colonies_proliferating": OKABE_ITO["vermillion"],
    "colonies_dormant": OKABE_ITO["bluish green"],
    "inflammation": OKABE_ITO["vermillion"],
    "effector_cells": OKABE_ITO["blue"],
    "alive": OKABE_ITO["vermillion"],
    "extinct": GREY,
    "surgery": OKABE_ITO["black"],
    "relapse": OKABE_ITO["reddish purple"],
    "detection": "#555555",
    "lethal": OKABE_ITO["black"],
    "diagnosis": OKABE_ITO["blue"],
    "detected": OKABE_ITO["vermillion"],
    "death": OKABE_ITO["black"],
}
THERAPY_COLOURS = tuple(OKABE_ITO[k] for k in ("bluish green", "reddish purple", "sky blue", "orange", "blue",
                                               "vermillion"))

#: how the runs of one figure are told apart (the colour says the quantity): line style, a
#: marker, and a draw order in which each later run lies on top, thinner and slightly
#: transparent, so where runs coincide (before a therapy starts) every one still shows
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
MARKERS = ("o", "s", "^", "D", "v", "P")
#: markers per line along the time axis; each run's markers are shifted by a fraction of the spacing
MARKS_PER_LINE = 10
VARIANT_ALPHA = 0.85


# --------------------------------------------------------------------------- helpers
def as_results(results: "Results") -> dict[str, "PatientResult"]:
    """``{label: result}`` from a single result (labelled "base") or a mapping."""
    if isinstance(results, Mapping):
        out = dict(results)
        if not out:
            raise ValueError("no results to plot: the mapping is empty")
        return out
    if hasattr(results, "timeseries") and hasattr(results, "summary"):
        return {"base": results}
    raise TypeError(f"expected a PatientResult or a mapping {{label: PatientResult}}, got {type(results).__name__}")


def time_reference(results: Mapping[str, "PatientResult"], since: str = "auto") -> tuple[dict[str, float], str]:
    """Day subtracted from each result's times, and the x-axis label.

    ``since``: "auto" (surgery if every result has one, else t = 0), "surgery" or "start".
    """
    if since not in ("auto", "surgery", "start"):
        raise ValueError(f"since = {since!r}: must be 'auto', 'surgery' or 'start'")
    surgery = {label: r.summary.get("surgery_day") for label, r in results.items()}
    all_have = all(finite(d) for d in surgery.values())
    if since == "surgery" and not all_have:
        missing = [label for label, d in surgery.items() if not finite(d)]
        raise ValueError(f"since = 'surgery': no surgery in {', '.join(missing)}; use since='start'")
    if since != "start" and all_have:
        return {label: float(d) for label, d in surgery.items()}, "time since surgery (years)"
    return {label: 0.0 for label in results}, "time since the first cancer cell, t = 0 (years)"


def _years(days: Any, offset: float) -> np.ndarray:
    return (np.asarray(days, dtype=float) - offset) / DAYS_PER_YEAR


def _positive(values: Any) -> np.ndarray:
    """Values for a log axis: non-positive (and non-finite) become NaN so the line breaks."""
    v = np.asarray(values, dtype=float).copy()
    v[~(v > 0)] = np.nan
    return v


def _linestyle(i: int) -> Any:
    return LINESTYLES[i % len(LINESTYLES)]


def variant_style(i: int, n: int, linewidth: float) -> dict[str, Any]:
    """Keyword arguments of ``Axes.plot`` (and ``stairs``, ``hist``) for run ``i`` of ``n``:
    its line style; with several runs also a draw order (later runs on top), a line
    width that shrinks with it (the runs underneath show around the ones on top) and
    transparency. The colour is the caller's: it says the quantity."""
    style: dict[str, Any] = {"linestyle": _linestyle(i), "linewidth": linewidth}
    if n > 1:
        style.update(linewidth=linewidth * max(0.5, 1.0 - 0.15 * i), alpha=VARIANT_ALPHA, zorder=2.0 + 0.01 * i)
    return style


def _mark_every(x: np.ndarray, y: np.ndarray, i: int, n: int) -> list[int]:
    """Indices of the points of run ``i`` of ``n`` that carry its marker: about
    :data:`MARKS_PER_LINE`, evenly spaced over the drawn (finite) points, each run shifted
    by ``1/n`` of the spacing. Runs share the time grid, so where their lines coincide
    their markers stand at different points and every run shows."""
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if ok.size == 0:
        return []
    spacing = ok.size / MARKS_PER_LINE
    at = np.floor(spacing * ((i + 0.5) / n + np.arange(MARKS_PER_LINE))).astype(np.int64)
    return sorted({int(ok[j]) for j in at if j < ok.size})


def _plot_run(ax: "Axes", x: Any, y: Any, i: int, n: int, *, colour: str, linewidth: float,
              label: str | None = None, markers: bool = True) -> Any:
    """One run's line of one quantity: :func:`variant_style`, and with several runs the
    run's marker (:data:`MARKERS`) at :func:`_mark_every`."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    style = variant_style(i, n, linewidth)
    if n > 1 and markers:
        style.update(marker=MARKERS[i % len(MARKERS)], markevery=_mark_every(x, y, i, n), markersize=5.0,
                     markeredgecolor="white", markeredgewidth=0.6)
    return ax.plot(x, y, color=colour, label=label, **style)[0]


def _legend_below(ax: "Axes", variant_labels: list[str], *, also: "Axes | None" = None, ncol: int = 3,
                  markers: bool = True) -> None:
    """One legend under the axes: the quantities drawn, then (for several variants) which
    line style and marker is which variant. Kept outside the plot so it never hides data;
    ``also`` adds the entries of a twin axes."""
    from matplotlib.lines import Line2D

    handles, names = ax.get_legend_handles_labels()
    if also is not None:
        h2, n2 = also.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    if len(variant_labels) > 1:
        # a quantity's entry is its colour alone: the first run's marker and line style would
        # read as "this quantity, base run only"
        handles = [Line2D([], [], color=h.get_color(), linewidth=h.get_linewidth(), alpha=h.get_alpha())
                   if isinstance(h, Line2D) and h.get_marker() in MARKERS else h for h in handles]
        for i, label in enumerate(variant_labels):
            handles.append(Line2D([], [], color="#333333", linestyle=_linestyle(i),
                                  marker=MARKERS[i % len(MARKERS)] if markers else None, markersize=5.0))
            names.append(f"variant: {label}")
    legend_below(ax, handles, names, ncol=ncol, drop=0.5)


def _event_days(result: "PatientResult", event: str) -> np.ndarray:
    ev = result.events
    if ev is None or len(ev) == 0:
        return np.empty(0)
    return np.asarray(ev.loc[ev["event"].astype(str) == event, "day"], dtype=float)


def _surgery_lines(ax: "Axes", results: Mapping[str, "PatientResult"], offsets: Mapping[str, float]) -> None:
    """One vertical line per distinct surgery time (variants of one patient share it)."""
    xs = sorted({round((float(r.summary["surgery_day"]) - offsets[label]) / DAYS_PER_YEAR, 9)
                 for label, r in results.items() if finite(r.summary.get("surgery_day"))})
    for j, x in enumerate(xs):
        ax.axvline(x, color=COLOURS["surgery"], linewidth=1.0, label="surgery" if j == 0 else None)


def _is_meanfield_colonies(colonies: Any) -> bool:
    return colonies is not None and "when" in getattr(colonies, "columns", ())


def _peak(values: Any) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else 0.0


def _log_limits(ax: "Axes", peak: float, floor: float, *, which: str = "y") -> None:
    """Log-axis limits from ``floor`` to a little above ``peak``: autoscaling
    would reach down to tiny mean-field values (1e-300) and lose the data."""
    top = max(peak, floor * 10.0) * 3.0
    (ax.set_ylim if which == "y" else ax.set_xlim)(floor, top)


# --------------------------------------------------------------------------- (a) burden
def plot_burden(results: "Results", ax: "Axes | None" = None, *, since: str = "auto") -> "Axes":
    """Primary and metastatic cells over time: y in cells (log scale), x in years since
    surgery (or since t = 0, see :func:`time_reference`). Draws on ``ax`` (a new figure,
    not registered with pyplot, when None) and returns it.

    Vertical lines mark surgery and relapse; horizontal lines the size of one
    detectable metastasis (a sphere of ``detection.metastasis_diameter`` mm at
    ``cells.density``) and the lethal burden. The largest colony is drawn thin:
    relapse is when it crosses the detection size.
    """
    from ..units import sphere_cells

    res = as_results(results)
    ax = new_axes(ax)
    offsets, xlabel = time_reference(res, since)
    labels = list(res)
    first = res[labels[0]]
    p = first.scenario.parameters
    detection_cells = sphere_cells(p["detection.metastasis_diameter"], p["cells.density"])
    lethal = float(p["cells.lethal_burden"])
    ymin = math.inf
    n = len(res)
    for i, (label, r) in enumerate(res.items()):
        ts = r.timeseries
        x = _years(ts["day"], offsets[label])
        ls = _linestyle(i)
        suffix = f" ({label})" if n > 1 else ""
        # The largest colony is a wide pale band under the total: where one
        # colony dominates the two coincide, elsewhere the band shows through.
        for column, key, name, lw, band in (("largest_colony_cells", "largest", "largest colony", 4.0, True),
                                            ("primary_cells", "primary", "primary tumour", 1.8, False),
                                            ("metastatic_cells", "metastatic", "all metastases", 1.6, False)):
            if column not in ts:
                continue
            y = _positive(ts[column])
            if np.isfinite(y).any():
                ymin = min(ymin, np.nanmin(y))
            if band:  # under every line, pale
                ax.plot(x, y, color=COLOURS[key], label=name if i == 0 else None,
                        **{**variant_style(i, n, lw), "alpha": 0.35, "zorder": 1.8})
            else:
                _plot_run(ax, x, y, i, n, colour=COLOURS[key], linewidth=lw, label=name if i == 0 else None)
        for day in _event_days(r, "relapse")[:1]:
            ax.axvline((day - offsets[label]) / DAYS_PER_YEAR, color=COLOURS["relapse"], linestyle=ls,
                       linewidth=1.0, label=f"relapse{suffix}")
    _surgery_lines(ax, res, offsets)
    ax.axhline(detection_cells, color=COLOURS["detection"], linestyle=(0, (4, 2)), linewidth=0.9,
               label=f"one detectable metastasis ({p['detection.metastasis_diameter']:g} mm, {detection_cells:.2g} cells)")
    ax.axhline(lethal, color=COLOURS["lethal"], linestyle=(0, (1, 1)), linewidth=0.9,
               label=f"lethal burden ({lethal:.2g} cells)")
    ax.set_yscale("log")
    floor = 0.5 if all(r.engine == "stochastic" for r in res.values()) else 1e-3
    top = lethal * 10.0
    bottom = max(floor, ymin / 2.0) if math.isfinite(ymin) else floor
    ax.set_ylim(bottom, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tumour cells (cells)")
    ax.set_title("Tumour burden")
    _legend_below(ax, labels, ncol=2)
    grid(ax)
    return ax


# --------------------------------------------------------------------------- (b) states
STATE_SERIES = (
    ("ctc_cells", "ctc_cells", "circulating tumour cells (cells)"),
    ("dormant_cells", "dormant_cells", "dormant single cells (cells)"),
    ("colonies_proliferating", "colonies_proliferating", "proliferating colonies (colonies)"),
    ("colonies_dormant", "colonies_dormant", "dormant colonies (colonies)"),
)


def plot_state_composition(results: "Results", ax: "Axes | None" = None, *, since: str = "auto") -> "Axes":
    """Disseminated disease by state over time (log y): circulating cells,
    dormant single cells, proliferating and dormant colonies (counts; the
    mean-field engine gives expected counts)."""
    res = as_results(results)
    ax = new_axes(ax)
    offsets, xlabel = time_reference(res, since)
    labels = list(res)
    peak = 0.0
    for i, (label, r) in enumerate(res.items()):
        ts = r.timeseries
        x = _years(ts["day"], offsets[label])
        for column, key, name in STATE_SERIES:
            if column in ts:
                peak = max(peak, _peak(ts[column]))
                _plot_run(ax, x, _positive(ts[column]), i, len(res), colour=COLOURS[key], linewidth=1.5,
                          label=name if i == 0 else None)
    _surgery_lines(ax, res, offsets)
    ax.set_yscale("log")
    stochastic = all(r.engine == "stochastic" for r in res.values())
    _log_limits(ax, peak, 0.5 if stochastic else 1e-3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count (cells or colonies)" if stochastic else "expected count (cells or colonies)")
    ax.set_title("Disseminated disease by state")
    _legend_below(ax, labels, ncol=2)
    grid(ax)
    return ax


# --------------------------------------------------------------------------- (c) colony sizes
def plot_colony_sizes(results: "Results", ax: "Axes | None" = None) -> "Axes":
    """Colony size distribution (log x, cells).

    Stochastic engine: histogram (log bins) of each colony's largest size,
    split into colonies extinct and alive at the end of the run. Mean-field
    engine: the expected number of colonies per decade of size at surgery and
    at the end, proliferating and dormant.
    """
    res = as_results(results)
    ax = new_axes(ax)
    labels = list(res)
    drew_any = False
    peak = 0.0
    stochastic_sizes = [np.asarray(r.colonies["max_size"], dtype=float) for r in res.values()
                        if r.colonies is not None and not _is_meanfield_colonies(r.colonies) and "max_size" in r.colonies]
    top = max((s.max() for s in stochastic_sizes if s.size), default=1.0)
    bins = np.logspace(0, max(1.0, math.ceil(math.log10(max(top, 1.0)) + 0.01)), 41) if stochastic_sizes else None
    meanfield_whens = ("surgery", "end")
    mf_colours = {("surgery", "proliferating"): OKABE_ITO["orange"], ("surgery", "dormant"): OKABE_ITO["sky blue"],
                  ("end", "proliferating"): OKABE_ITO["vermillion"], ("end", "dormant"): OKABE_ITO["bluish green"]}
    for i, (label, r) in enumerate(res.items()):
        col = r.colonies
        if col is None or len(col) == 0:
            continue
        if _is_meanfield_colonies(col):
            when = col["when"].astype(str)
            for w in meanfield_whens:
                part = col[when == w]
                if len(part) == 0:
                    continue
                lo = np.asarray(part["size_low"], dtype=float)
                hi = np.asarray(part["size_high"], dtype=float)
                decades = np.log10(hi / lo)
                for state in ("proliferating", "dormant"):
                    per_decade = np.asarray(part[state], dtype=float) / decades
                    edges = np.append(lo, hi[-1])
                    name = f"{state}, at {'surgery' if w == 'surgery' else 'end of run'}" if i == 0 else None
                    shown = per_decade[np.isfinite(per_decade)]
                    if shown.size:
                        peak = max(peak, float(shown.max()))
                    ax.stairs(_positive(per_decade), edges, baseline=None, color=mf_colours[(w, state)],
                              label=name, **variant_style(i, len(res), 1.4))
                    drew_any = True
            ax.set_ylabel("expected colonies per decade of size (colonies)")
        elif "max_size" in col:
            state = col["state"].astype(str) if "state" in col else None
            sizes = np.asarray(col["max_size"], dtype=float)
            groups = (("alive", state != "extinct"), ("extinct", state == "extinct")) if state is not None \
                else (("all", np.ones(len(sizes), bool)),)
            for key, mask in groups:
                mask = np.asarray(mask, bool)
                values = np.clip(sizes[mask], 1.0, None)
                n = int(mask.sum())
                text = {"alive": "alive at end", "extinct": "extinct by end", "all": "all colonies"}[key]
                name = f"{text}" if i == 0 else None
                counts, _, _ = ax.hist(values, bins=bins, histtype="step", color=COLOURS.get(key, "#333333"),
                                       label=name, **variant_style(i, len(res), 1.5))
                if n:
                    drew_any = True
                    peak = max(peak, float(np.max(counts)))
            ax.set_ylabel("colonies (count)")
    if not drew_any:
        ax.text(0.5, 0.5, "no colonies in these runs", transform=ax.transAxes, ha="center", va="center")
    else:
        ax.set_yscale("log")
        if any(_is_meanfield_colonies(r.colonies) for r in res.values()):
            # expected numbers far below one colony per decade are not worth the axis range
            ax.set_ylim(max(peak * 1e-7, 1e-5), peak * 3.0)
        else:
            ax.set_ylim(0.7, max(peak, 1.0) * 2.0)
        _legend_below(ax, labels, ncol=2, markers=False)  # steps carry no markers
    ax.set_xscale("log")
    ax.set_xlabel("largest size a colony reached (cells)" if stochastic_sizes else "colony size (cells)")
    ax.set_title("Colony sizes")
    grid(ax)
    return ax


# --------------------------------------------------------------------------- (d) events
def therapy_spans(result: "PatientResult") -> list[tuple[str, float, float]]:
    """(kind, start_day, end_day) of each therapy, from the events (end of run if it had not ended)."""
    ev = result.events
    if ev is None or len(ev) == 0:
        return []
    ev = ev.sort_values("day", kind="stable")
    end_of_run = float(result.summary.get("end_day", ev["day"].max()))
    open_: dict[str, list[float]] = {}
    spans = []
    for day, event, detail in zip(ev["day"], ev["event"].astype(str), ev["detail"].astype(str)):
        if event == "therapy_start":
            open_.setdefault(detail, []).append(float(day))
        elif event == "therapy_end" and open_.get(detail):
            spans.append((detail, open_[detail].pop(0), float(day)))
    for kind, starts in open_.items():
        spans.extend((kind, s, end_of_run) for s in starts)
    return sorted(spans, key=lambda s: s[1])


def plot_timeline(results: "Results", ax: "Axes | None" = None, *, since: str = "auto") -> "Axes":
    """Clinical timeline, one row per variant: diagnosis, surgery, therapies
    (spans), detected metastases (ticks), relapse, death and end of the run."""
    res = as_results(results)
    ax = new_axes(ax, figsize=(8.0, 1.6 + 0.55 * len(res)))
    offsets, xlabel = time_reference(res, since)
    labels = list(res)
    seen: set[str] = set()
    kinds: dict[str, str] = {}

    def once(name: str) -> str | None:
        if name in seen:
            return None
        seen.add(name)
        return name

    for row, (label, r) in enumerate(res.items()):
        y = len(res) - 1 - row
        off = offsets[label]
        end_day = r.summary.get("end_day")
        start = min(0.0, -off) / DAYS_PER_YEAR if off else 0.0
        end = (float(end_day) - off) / DAYS_PER_YEAR if finite(end_day) else None
        if end is not None:
            ax.plot([start, end], [y, y], color="#bbbbbb", linewidth=1.0, zorder=1)
            ax.plot([end], [y], marker="|", markersize=12, color="#888888", linestyle="none", zorder=2,
                    label=once("end of run"))
        for kind, s, e in therapy_spans(r):
            colour = kinds.setdefault(kind, THERAPY_COLOURS[len(kinds) % len(THERAPY_COLOURS)])
            ax.broken_barh([((s - off) / DAYS_PER_YEAR, (e - s) / DAYS_PER_YEAR)], (y - 0.3, 0.6),
                           facecolors=colour, alpha=0.45, edgecolor=colour, zorder=2,
                           label=once(f"therapy: {kind.replace('_', ' ')}"))
        marks = (("diagnosis", "D", COLOURS["diagnosis"], 6, "diagnosis"),
                 ("surgery", "v", COLOURS["surgery"], 9, "surgery"),
                 ("metastasis_detected", "|", COLOURS["detected"], 14, "metastasis detected"),
                 ("relapse", "*", COLOURS["relapse"], 14, "relapse"),
                 ("death", "X", COLOURS["death"], 10, "death"))
        for event, marker, colour, size, name in marks:
            days = _event_days(r, event)
            if days.size:
                ax.plot(_years(days, off), np.full(days.size, y), marker=marker, markersize=size, color=colour,
                        linestyle="none", zorder=3, label=once(name), markeredgewidth=1.5 if marker == "|" else 1.0)
    ax.set_yticks(range(len(res)), labels=list(reversed(labels)))
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.7, len(res) - 0.3)
    ax.set_xlabel(xlabel)
    ax.set_title("Clinical timeline")
    grid(ax, axis="x")
    _legend_below(ax, [], ncol=4)
    return ax


# --------------------------------------------------------------------------- (e) immune
def plot_inflammation_immune(results: "Results", ax: "Axes | None" = None, *, since: str = "auto") -> "Axes":
    """Systemic IL-1β (nM, left axis, log) and immune effector cells (cells,
    right axis, log) over time. The dotted line is the IL-1β level that
    half-suppresses the awakening of dormant cells
    (``dormancy.suppression_half_concentration``). Returns the left (IL-1β)
    axes; the effector axis is its twin (``ax.twinx()``), the next axes of
    ``ax.figure``."""
    res = as_results(results)
    ax = new_axes(ax)
    right = ax.twinx()
    offsets, xlabel = time_reference(res, since)
    labels = list(res)
    peak = 0.0
    effector_peak = 0.0
    n = len(res)
    for i, (label, r) in enumerate(res.items()):
        ts = r.timeseries
        x = _years(ts["day"], offsets[label])
        effector_peak = max(effector_peak, _peak(ts["effector_cells"]))
        il1 = _positive(ts["inflammation_nM"])
        if np.isfinite(il1).any():
            peak = max(peak, float(np.nanmax(il1)))
        _plot_run(ax, x, il1, i, n, colour=COLOURS["inflammation"], linewidth=1.6,
                  label="IL-1β (left)" if i == 0 else None)
        _plot_run(right, x, _positive(ts["effector_cells"]), i, n, colour=COLOURS["effector_cells"], linewidth=1.3,
                  label="effector cells (right)" if i == 0 else None)
    p = res[labels[0]].scenario.parameters
    half = float(p["dormancy.suppression_half_concentration"])
    ax.axhline(half, color=COLOURS["inflammation"], linestyle=(0, (1, 1.5)), linewidth=1.0,
               label=f"half-suppression of awakening ({half:.2g} nM)")
    _surgery_lines(ax, res, offsets)
    ax.set_yscale("log")
    right.set_yscale("log")
    # IL-1β decays exponentially after surgery; show four decades below the peak
    # (or below the half-suppression level), not the numerical tail.
    top = max(peak, half) * 3.0
    ax.set_ylim(min(peak, half) * 1e-4 if peak > 0 else half * 1e-3, top)
    _log_limits(right, effector_peak, 1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("systemic IL-1β (nM)", color=COLOURS["inflammation"])
    right.set_ylabel("immune effector cells (cells)", color=COLOURS["effector_cells"])
    ax.set_title("Inflammation and immunity")
    _legend_below(ax, labels, also=right, ncol=2)
    grid(ax)
    return ax


def plot_relapse_free(results: "Results", ax: "Axes | None" = None) -> "Axes":
    """The relapse-free probability of each relapse-time (``engine="analytic"``) result against years
    since surgery, with its hazard (per year) on a right axis. Results of other engines are skipped."""
    res = {k: r for k, r in as_results(results).items() if getattr(r, "curve", None) is not None}
    ax = new_axes(ax)
    right = ax.twinx()
    n = len(res)
    for i, (label, r) in enumerate(res.items()):
        c = r.curve
        x = c["days_after_surgery"].to_numpy(dtype=float) / DAYS_PER_YEAR
        _plot_run(ax, x, c["relapse_free_probability"].to_numpy(dtype=float), i, n, colour=COLOURS["relapse"],
                  linewidth=1.8, label="relapse-free probability" if i == 0 else None)
        right.plot(x, 365.25 * c["hazard_per_day"].to_numpy(dtype=float), color="#555555",
                   **{**variant_style(i, n, 1.0), "alpha": 0.7}, label="hazard (per year)" if i == 0 else None)
    ax.set_ylim(0.0, 1.02)
    right.set_ylim(bottom=0.0)
    ax.set_xlabel("years since surgery")
    ax.set_ylabel("P(relapse-free)")
    right.set_ylabel("relapse hazard (per year)")
    ax.set_title("Relapse-free probability (relapse-time engine)")
    _legend_below(ax, list(res), also=right, ncol=2)
    grid(ax)
    return ax


#: The report's figures, in order: (key, title, function).
FIGURES = (
    ("relapse", "Relapse-free probability", plot_relapse_free),
    ("burden", "Tumour burden", plot_burden),
    ("states", "Disseminated disease by state", plot_state_composition),
    ("colonies", "Colony sizes", plot_colony_sizes),
    ("timeline", "Clinical timeline", plot_timeline),
    ("inflammation", "Inflammation and immunity", plot_inflammation_immune),
)

def figures_for(results: "Results") -> tuple:
    """The report's figures that apply to ``results``: the relapse-free curve only when a result has
    one (the relapse-time engine)."""
    res = as_results(results)
    has_curve = any(getattr(r, "curve", None) is not None for r in res.values())
    return tuple(f for f in FIGURES if f[0] != "relapse" or has_curve)


__all__ = ["figures_for", "plot_relapse_free", "plot_burden", "plot_state_composition", "plot_colony_sizes", "plot_timeline",
           "plot_inflammation_immune", "therapy_spans", "time_reference", "as_results", "FIGURES"]
