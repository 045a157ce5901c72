"""The HTML report: self-contained (nothing fetched from the network), one figure per
plot, the summary of every variant, and it really renders in a headless browser.

All runs are real (the breast example with a shorter follow-up, both engines).
"""
from __future__ import annotations

import base64
import json
import math
import re
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pytest

import seedsoil
from seedsoil.report import render_report, write_report
from seedsoil.report.figures import (COLOURS, FIGURES, figures_for, plot_burden, plot_colony_sizes, plot_inflammation_immune,
                                     plot_state_composition, plot_timeline, time_reference)
from seedsoil.params import load_library
from seedsoil.report.html import MAX_DETECTION_ROWS
from seedsoil.units import sphere_cells

ENGINES = ("stochastic", "meanfield", "analytic")
FOLLOW_UP_DAYS = 1500.0
CHROMIUM_TIMEOUT_S = 120


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def scenario(breast_example):
    sc = seedsoil.load_scenario(breast_example)
    return sc.with_settings(simulation={"follow_up": FOLLOW_UP_DAYS})


@pytest.fixture(scope="module", params=ENGINES)
def results(request, scenario):
    """{label: PatientResult}: the base patient first, then its variants, as `seedsoil run` builds it."""
    engine = request.param
    out = {"base": seedsoil.simulate(scenario, engine=engine)}
    for name in scenario.variant_names():
        out[name] = seedsoil.simulate(scenario.variant(name), engine=engine)
    return out


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    engine = next(iter(results.values())).engine
    path = write_report(results, tmp_path_factory.mktemp(f"report-{engine}") / "report.html")
    return path, path.read_text(encoding="utf-8")


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <pre>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.pre: list[str] = []
        self._in_pre = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "pre":
            self._in_pre = True
            self.pre.append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        if self._in_pre:
            self.pre[-1] += data


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    return p


# --------------------------------------------------------------------------- self-contained
def test_report_fetches_nothing(report):
    path, html = report
    assert path.is_file() and path.name == "report.html"
    tags = parse(html).tags
    for tag, attrs in tags:
        for name in ("src", "href", "srcset", "action", "poster", "data", "xlink:href"):
            value = (attrs.get(name) or "").strip().lower()
            if not value:
                continue
            assert not value.startswith(("http:", "https:", "//", "file:", "ftp:")), (tag, name, value[:80])
            assert value.startswith(("data:", "#")), (tag, name, value[:80])
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed")]
    lowered = html.lower()
    assert "<script" not in lowered
    assert "@import" not in lowered and "url(" not in lowered  # the inlined CSS loads nothing either
    assert "<style>" in lowered


def test_one_svg_image_per_figure(report, results):
    _, html = report
    images = [attrs for tag, attrs in parse(html).tags if tag == "img"]
    # the relapse-free curve is drawn for the relapse-time engine only
    analytic = next(iter(results.values())).engine == "analytic"
    assert len(images) == len(figures_for(results)) == len(FIGURES) - (not analytic)
    for attrs in images:
        src = attrs["src"]
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        assert "<svg" in svg and svg.rstrip().endswith("</svg>")
        # namespaces are identifiers, not fetches; nothing else may point outside the file
        assert not re.search(r'(?:href|src)\s*=\s*["\']https?:', svg)
        assert attrs.get("alt")
    assert "figure could not be drawn" not in html


def test_title_names_scenario_engine_seed_and_version(report, results):
    _, html = report
    first = next(iter(results.values()))
    assert f"<title>{first.scenario.name}" in html
    header = html.split("</header>")[0]
    assert first.engine in header
    assert seedsoil.__version__ in header
    if first.seed is not None:
        assert str(first.seed) in header
    else:
        assert "deterministic" in header


def test_summary_table_side_by_side(report, results):
    _, html = report
    summary = html.split('<section id="summary">')[1].split("</section>")[0]
    header = summary.split("</thead>")[0]
    for label in results:
        assert f"<th class=\"num\">{label}</th>" in header
    for label, r in results.items():
        for key, value in r.summary_rows():
            assert f"<td>{key}</td>" in summary, key
            assert str(value) in unescape(summary), (label, key, value)
    # one row per summary label, one value column per variant
    body = summary.split("<tbody>")[1].split("</tbody>")[0]
    rows = body.split("</tr>")[:-1]
    assert len(rows) == len(next(iter(results.values())).summary_rows())
    assert all(row.count("<td") == 1 + len(results) for row in rows)


def test_variants_therapies_parameters_and_scenario(report, results, scenario):
    _, html = report
    therapies = html.split('<section id="therapies">')[1].split("</section>")[0]
    assert "IL-1β mimetic holding 0.0057 nM" in therapies and "added by this variant" in therapies
    params = html.split('<section id="parameters">')[1].split("</section>")[0]
    lib = load_library()
    for name, value in scenario.overrides.items():
        if value == lib[name].value:  # the example restates a default (inflammation.strength = 1): no change
            assert name not in params
        else:
            assert name in params
            assert unescape(params).count(lib[name].source) >= 1
    pre = parse(html).pre
    assert json.loads(pre[0]) == json.loads(json.dumps(scenario.to_dict(), default=str))
    assert len(pre) == len(results)  # the base scenario, then each variant as run


def test_events_table_lists_every_run(report, results):
    _, html = report
    events = html.split('<section id="events">')[1].split("</section>")[0]
    for label, r in results.items():
        assert f"<h3>{label}</h3>" in events
        for event in set(r.events["event"].astype(str)):
            assert f"<td>{event}</td>" in events


# --------------------------------------------------------------------------- other inputs
def test_many_detections_are_collapsed(scenario):
    # waking dormant cells 10x faster gives dozens of detectable metastases
    sc = scenario.with_parameters(dormancy__activation_rate=0.01)
    result = seedsoil.simulate(sc, engine="stochastic")
    n = int((result.events["event"] == "metastasis_detected").sum())
    assert n > MAX_DETECTION_ROWS + 5, "the scenario no longer produces many detections; pick another"
    html = render_report(result)  # a single result is accepted too
    assert html.count("<td>metastasis_detected</td>") == MAX_DETECTION_ROWS + 1  # + the summary row
    more = re.findall(r'<tr class="more">(.*?)</tr>', html)
    assert len(more) == 1
    assert f"{n - MAX_DETECTION_ROWS:,} more" in more[0] and f"{n:,} in all" in more[0]


def test_report_from_a_run_directory(scenario, tmp_path):
    """`seedsoil report RUN_DIR` rebuilds results from Parquet (plain dtypes) and JSON."""
    from seedsoil.patient import load_result
    from seedsoil.store import write_run

    for engine in ENGINES:
        write_run(seedsoil.simulate(scenario, engine=engine), tmp_path / engine)
        back = load_result(tmp_path / engine)
        html = write_report(back, tmp_path / engine / "report.html").read_text(encoding="utf-8")
        assert html.count("<img ") == len(figures_for(back)) == len(FIGURES) - (engine != "analytic")
        assert "figure could not be drawn" not in html


def test_without_surgery_time_is_since_t0():
    sc = seedsoil.default_scenario().with_settings(simulation={"follow_up": 800.0})
    result = seedsoil.simulate(sc, seed=3, engine="stochastic")
    offsets, label = time_reference({"base": result})
    assert offsets == {"base": 0.0} and "t = 0" in label
    html = render_report(result)
    assert html.count("<img ") == len(FIGURES) - 1 and "figure could not be drawn" not in html


# --------------------------------------------------------------------------- figures
@pytest.mark.parametrize("plot", [plot_burden, plot_state_composition, plot_colony_sizes, plot_timeline,
                                  plot_inflammation_immune])
def test_plot_functions_draw_on_the_given_axes(plot, results):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot(results, ax=ax) is ax
    assert ax.get_xlabel() and (ax.get_ylabel() or plot is plot_timeline)
    assert ax.lines or ax.patches or ax.collections
    own = plot(next(iter(results.values())))  # ax=None: a new figure, not registered with pyplot
    assert own.figure is not fig


def test_burden_axes_units_and_reference_lines(results):
    ax = plot_burden(results)
    assert ax.get_yscale() == "log"
    assert "(cells)" in ax.get_ylabel() and "years" in ax.get_xlabel() and "surgery" in ax.get_xlabel()
    p = next(iter(results.values())).scenario.parameters
    detection = sphere_cells(p["detection.metastasis_diameter"], p["cells.density"])
    horizontal = {round(float(line.get_ydata()[0]), 6) for line in ax.lines
                  if len(set(np.asarray(line.get_ydata(), float))) == 1 and line.get_xdata()[0] == 0}
    assert round(detection, 6) in horizontal and round(float(p["cells.lethal_burden"]), 6) in horizontal
    assert len({str(line.get_linestyle()) for line in ax.lines if line.get_color() == COLOURS["metastatic"]}) \
        == len(results)


def test_importing_seedsoil_does_not_import_matplotlib():
    from seedsoil.testing import modules_loaded_by

    assert modules_loaded_by("import seedsoil, seedsoil.report", "matplotlib") == []


# --------------------------------------------------------------------------- browser
def test_report_renders_in_headless_chromium(report, tmp_path):
    from seedsoil.testing import chromium, render_in_chromium

    if chromium() is None:
        pytest.skip("chromium is not installed (CI installs it in .ci/run; locally: apt-get install chromium)")
    path, _ = report
    page = render_in_chromium(path, tmp_path, timeout_s=CHROMIUM_TIMEOUT_S)
    assert not page.console_errors, "\n".join(page.console_errors)
    pixels = page.pixels
    assert pixels.shape[:2] == (3000, 1200)
    assert pixels.std() > 0.05, "the screenshot is blank"
    assert page.non_white_fraction > 0.03, f"only {page.non_white_fraction:.1%} of the page is not white"
    # the figures are drawn: the first one (under the summary) fills the middle of the page
    middle = pixels[1000:2000]
    assert float((middle.min(axis=-1) < 0.95).mean()) > 0.02 and not math.isclose(middle.std(), 0.0)


# --------------------------------------------------------------------------- parameters changed
def test_parameters_section_lists_only_real_changes_from_the_library():
    """An override that restates the library default is no change; a variant lists what it
    changes beyond the base run (the base's own changes are listed once, for the base)."""
    from types import SimpleNamespace

    from seedsoil.report.html import _parameters_html

    lib = load_library()
    default_rate = lib["shedding.rate"].value
    base = seedsoil.default_scenario().with_parameters(inflammation__strength=lib["inflammation.strength"].value,
                                                       shedding__rate=default_rate * 2)
    assert "inflammation.strength" in base.overrides  # restated, so it is an override that changes nothing
    more = base.with_parameters(dormancy__activation_rate=lib["dormancy.activation_rate"].value * 3)
    back = base.with_parameters(shedding__rate=default_rate)  # back to the library value
    runs = {"base": SimpleNamespace(scenario=base), "more": SimpleNamespace(scenario=more),
            "back": SimpleNamespace(scenario=back)}
    html = _parameters_html(runs)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in html.split("<tbody>")[1].split("</tr>")[:-1]]
    listed = [(cells[0], unescape(re.sub(r"</?code>", "", cells[1]))) for cells in rows]
    assert listed == [("base", "shedding.rate"), ("more", "dormancy.activation_rate")]
    only_defaults = {"base": SimpleNamespace(scenario=seedsoil.default_scenario().with_parameters(
        inflammation__strength=lib["inflammation.strength"].value))}
    assert "None: every parameter is the library default" in _parameters_html(only_defaults)


# --------------------------------------------------------------------------- four variants
@pytest.fixture(scope="module")
def four_runs(examples_dir):
    """The drugs example: the base patient and three drug variants, as `seedsoil run` makes them."""
    sc = seedsoil.load_scenario(examples_dir / "drugs_after_surgery.toml").with_settings(
        simulation={"follow_up": FOLLOW_UP_DAYS})
    out = {"base": seedsoil.simulate(sc, engine="stochastic")}
    for name in sc.variant_names():
        out[name] = seedsoil.simulate(sc.variant(name), engine="stochastic")
    assert len(out) == 4
    return out


def _run_lines(ax, colour: str) -> list:
    """The time-series lines of one quantity, one per run in draw order (not the reference lines)."""
    return [line for line in ax.lines if line.get_color() == colour and len(line.get_xdata()) > 2]


@pytest.mark.parametrize("plot, quantities", [
    (plot_burden, ("primary", "metastatic")),
    (plot_state_composition, ("ctc_cells", "dormant_cells", "colonies_proliferating", "colonies_dormant")),
    (plot_inflammation_immune, ("inflammation", "effector_cells")),
], ids=["burden", "states", "inflammation"])
def test_four_variants_are_each_visible(plot, quantities, four_runs):
    from seedsoil.plotting import OKABE_ITO

    ax = plot(four_runs)
    axes = ax.figure.axes  # the inflammation figure has a twin axis for the effectors
    n = len(four_runs)
    for key in quantities:
        lines = [line for a in axes for line in _run_lines(a, COLOURS[key])]
        assert len(lines) == n, key
        # each run's line: its own (colour, line style) pair and its own marker
        assert len({(line.get_color(), str(line.get_linestyle())) for line in lines}) == n, key
        assert len({line.get_marker() for line in lines}) == n and "None" not in {line.get_marker() for line in lines}
        # later runs on top and thinner, so the ones underneath show around them; slightly transparent
        assert [line.get_zorder() for line in lines] == sorted({line.get_zorder() for line in lines})
        widths = [line.get_linewidth() for line in lines]
        assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
        assert all(line.get_alpha() is not None and 0.5 < line.get_alpha() < 1.0 for line in lines)
        # where runs coincide, their markers stand at different points: every run shows
        marks = [{(float(x), float(y)) for x, y in zip(np.asarray(line.get_xdata(), float)[line.get_markevery()],
                                                       np.asarray(line.get_ydata(), float)[line.get_markevery()])}
                 for line in lines]
        assert all(len(m) >= 5 for m in marks), key
        assert all(not (marks[i] & marks[j]) for i in range(n) for j in range(i + 1, n)), key
        # quantities in the colour-blind-safe palette
        assert COLOURS[key] in OKABE_ITO.values()
    # the legend says which style and marker is which run
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [t for t in names if t.startswith("variant: ")] == [f"variant: {label}" for label in four_runs]


def test_figures_use_the_colour_blind_safe_palette(four_runs):
    """Every coloured line of the patient figures is an Okabe–Ito colour (greys and black aside):
    no red/green pair (tab10) that deuteranopes cannot tell apart."""
    from matplotlib.colors import to_hex, to_rgb

    from seedsoil.plotting import OKABE_ITO

    allowed = {c.lower() for c in OKABE_ITO.values()}
    for _, _, plot in FIGURES:
        ax = plot(four_runs)
        for a in ax.figure.axes:
            for line in a.lines:
                r, g, b = to_rgb(line.get_color())
                if max(r, g, b) - min(r, g, b) < 0.05:  # a grey: references, not quantities
                    continue
                assert to_hex(line.get_color()) in allowed, (plot.__name__, line.get_color(), line.get_label())


def test_report_with_four_variants(four_runs, tmp_path):
    html = write_report(four_runs, tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("<img ") == len(FIGURES) - 1 and "figure could not be drawn" not in html
    assert "4 runs: base, ruxolitinib 12 months, anakinra 12 months, fasudil 12 months" in unescape(html)


# --------------------------------------------------------------------------- shared page and figure helpers
def test_page_shell():
    from seedsoil.report.page import css, page

    html = page("a <b> name", "what it is & why", [("one", "First", "<p>x</p>"), ("two", "Second <i>", "")],
                kind="patient report", facts=[("engine", "stochastic"), ("seed", "1 & 2")], notes=["simulated in 2 s"])
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<title>a &lt;b&gt; name — seedsoil patient report</title>" in html
    assert f"<style>\n{css()}\n</style>" in html
    header = html.split("<header>")[1].split("</header>")[0]
    assert '<h1>a &lt;b&gt; name <span class="kind">· patient report</span></h1>' in header
    assert '<p class="description">what it is &amp; why</p>' in header
    assert (f'<b>engine</b> stochastic · <b>seed</b> 1 &amp; 2 · <b>seedsoil</b> {seedsoil.__version__} · '
            "simulated in 2 s</p>") in header
    assert '<nav><a href="#one">First</a><a href="#two">Second &lt;i&gt;</a></nav>' in header
    assert '<section id="one"><h2>First</h2>\n<p>x</p></section>' in html
    assert f"<footer>Written by seedsoil {seedsoil.__version__}." in html
    assert 'class="description"' not in page("n", "", [], kind="k")  # no subtitle, no empty paragraph


def test_figure_html_is_reproducible_and_survives_a_failing_figure():
    from seedsoil.report.page import figure_html

    def draw(fig):
        fig.add_subplot().plot([0, 1], [1, 2])

    one = figure_html("k", "A title", "A caption.", draw, (3.0, 2.0), salt="seedsoil-test")
    assert one == figure_html("k", "A title", "A caption.", draw, (3.0, 2.0), salt="seedsoil-test")
    assert one.startswith('<figure id="fig-k"><img src="data:image/svg+xml;base64,') and 'alt="A title"' in one

    def broken(fig):
        raise ValueError("no data")

    with pytest.warns(RuntimeWarning, match="could not be drawn"):
        failed = figure_html("k", "A title", "A caption.", broken, (3.0, 2.0), salt="s")
    assert "figure could not be drawn" in failed and "no data" in failed and "<figcaption>" in failed


def test_one_line_figures_have_public_homes(results):
    """plot_burden and plot_km are importable from seedsoil.report (the figure modules load on
    first use), take ax=None and return the axes, and say their units."""
    from matplotlib.figure import Figure

    import seedsoil.report as report
    from seedsoil.report import figures, trial_figures

    assert report.plot_burden is figures.plot_burden and report.plot_km is trial_figures.plot_km
    for plot in (report.plot_burden, report.plot_km):
        assert "ax" in plot.__code__.co_varnames and "years" in plot.__doc__
    assert "cells" in report.plot_burden.__doc__ and "probability" in report.plot_km.__doc__
    ax = Figure().add_subplot()
    assert report.plot_burden(results, ax) is ax
