"""The virtual-trial report: written by run_trial, self-contained, one figure per plot, the
numbers of the trial's tables, and it really renders in a headless browser.

One real trial (the IL-1β example, 120 paired patients, 3 arms, covariate
``inflammatory``) is run once for the module.
"""
from __future__ import annotations

import base64
import dataclasses
import math
import re
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import seedsoil
from seedsoil.cohort import stats
from seedsoil import run_trial
from seedsoil.cohort.trial import TrialResult
from seedsoil.report import trial_figures as tf
from seedsoil.report.trial import render_trial_report, trial_figures, write_trial_report

PATIENTS = 120
CHROMIUM_TIMEOUT_S = 120
EXPECTED_FIGURES = {"km_dmfs", "km_os", "hazard", "incidence", "forest", "subgroups", "subgroups_parameters",
                    "population"}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def trial_run(examples_dir, tmp_path_factory):
    """(result, report path): run_trial writes report.html itself."""
    out = tmp_path_factory.mktemp("trial") / "t"
    result = run_trial(examples_dir / "trial_il1b.toml", patients=PATIENTS, workers=1, out=out, report=True)
    return result, out / "report.html"


@pytest.fixture(scope="module")
def result(trial_run) -> TrialResult:
    return trial_run[0]


@pytest.fixture(scope="module")
def html(trial_run) -> str:
    return trial_run[1].read_text(encoding="utf-8")


class _Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(html)
    p.close()
    return p.tags


def section(html: str, key: str) -> str:
    return html.split(f'<section id="{key}">')[1].split("</section>")[0]


# --------------------------------------------------------------------------- the file
def test_run_trial_writes_the_report(trial_run):
    result, path = trial_run
    assert path.is_file() and path.stat().st_size > 10_000
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".report.html")]  # no temp file left
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_report_fetches_nothing(html):
    all_tags = tags(html)
    for tag, attrs in all_tags:
        for name in ("src", "href", "srcset", "action", "poster", "data", "xlink:href"):
            value = (attrs.get(name) or "").strip().lower()
            if not value:
                continue
            assert not value.startswith(("http:", "https:", "//", "file:", "ftp:")), (tag, name, value[:80])
            assert value.startswith(("data:", "#")), (tag, name, value[:80])
    assert not [t for t, _ in all_tags if t in ("script", "link", "iframe", "object", "embed")]
    lowered = html.lower()
    assert "<script" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*https?:', lowered)


def test_one_svg_image_per_figure(html, result):
    figures = trial_figures(result)
    assert {f.key for f in figures} == EXPECTED_FIGURES
    images = [attrs for tag, attrs in tags(html) if tag == "img"]
    assert len(images) == len(figures)
    for figure in figures:
        block = html.split(f'<figure id="fig-{figure.key}">')[1].split("</figure>")[0]
        assert block.count("<img ") == 1, figure.key
    for attrs in images:
        src = attrs["src"]
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        assert "<svg" in svg and svg.rstrip().endswith("</svg>")
        assert not re.search(r'(?:href|src)\s*=\s*["\']https?:', svg)
        assert attrs.get("alt")
    assert "figure could not be drawn" not in html


def test_title_names_trial_design_patients_seed_and_version(html, result):
    trial = result.trial
    assert f"<title>{trial.name}" in html
    header = unescape(html.split("</header>")[0])
    for text in (trial.name, trial.design, f"{PATIENTS}", str(trial.seed), seedsoil.__version__):
        assert text in header, text


def _subtitle(html: str) -> str:
    return unescape(re.search(r'<p class="description">(.*?)</p>', html.split("</header>")[0]).group(1))


def test_subtitle_describes_the_trial_not_the_base_scenario(html, result):
    """The base scenario's description speaks of that scenario and its variants (here "IL-1beta
    mimetic variant"): the trial's page says what the trial is."""
    trial = result.trial
    subtitle = _subtitle(html)
    assert trial.base.meta.description and trial.base.meta.description not in html.split("</header>")[0]
    assert subtitle.startswith(f"A paired virtual trial: {PATIENTS} virtual patients, each in all 3 arms: ")
    assert f"“{trial.control}” (control)" in subtitle
    for arm in trial.arm_names:
        assert f"“{arm}”" in subtitle
    assert f"variant of the scenario “{trial.base.name}”" in subtitle


def test_subtitle_starts_with_the_trials_own_description(result):
    from seedsoil.report.trial import trial_subtitle

    spec = {**result.trial.spec, "trial": {**result.trial.spec["trial"], "description": "Adjuvant IL-1β."}}
    own = dataclasses.replace(result, trial=dataclasses.replace(result.trial, spec=spec))
    assert trial_subtitle(own).startswith("Adjuvant IL-1β. A paired virtual trial:")


def test_the_page_shell_is_the_shared_one(html):
    from seedsoil.report.page import css

    assert f"<style>\n{css()}\n</style>" in html  # one stylesheet for both reports, the trial rules included
    assert ".swatch" in css()
    assert '<h1>il1b_adjuvant <span class="kind">· virtual trial report</span></h1>' in html
    assert f"<footer>Written by seedsoil {seedsoil.__version__}." in html


def test_write_trial_report_keeps_its_signature():
    import inspect

    assert list(inspect.signature(write_trial_report).parameters) == ["result", "path"]


def _runtime_imports(path) -> list[tuple[str, list[str]]]:
    """(absolute module, names) of each import of a module file, outside ``if TYPE_CHECKING:``."""
    import ast

    package = "seedsoil." + ".".join(path.relative_to(path.parents[2]).with_suffix("").parts[1:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.append((module, [alias.name for alias in node.names]))
    return out


def test_the_report_imports_nothing_from_cohort_trial():
    """cohort.trial imports the report to write it: the report reads the result duck-typed and
    takes only the statistics from cohort.stats, which imports no report (no import cycle)."""
    from pathlib import Path

    from seedsoil.testing import modules_loaded_by

    src = Path(seedsoil.__file__).parent
    for path in sorted((src / "report").glob("*.py")):
        for module, names in _runtime_imports(path):
            assert module != "seedsoil.cohort.trial", (path.name, module)
            if module == "seedsoil.cohort":
                assert set(names) <= {"stats"}, (path.name, names)
    assert not [m for m, _ in _runtime_imports(src / "cohort" / "stats.py") if m.startswith("seedsoil.report")]
    loaded = modules_loaded_by("import seedsoil.report, seedsoil.report.trial, seedsoil.report.trial_figures",
                               "seedsoil")
    assert "seedsoil.report.trial_figures" in loaded and "seedsoil.cohort.trial" not in loaded


def test_every_arm_is_named(html, result):
    text = unescape(html)
    for arm in result.trial.arm_names:
        for key in ("arms", "endpoints"):
            assert arm in unescape(section(html, key)), (key, arm)
        if arm != result.trial.control:
            assert arm in unescape(section(html, "comparisons"))
            assert arm in unescape(section(html, "subgroups"))
    assert text.count(result.trial.control) >= 3


def test_endpoints_table_has_the_trial_numbers(html, result):
    endpoints = unescape(section(html, "endpoints"))
    body = endpoints.split("<tbody>")[1].split("</tbody>")[0]
    rows = body.split("</tr>")[:-1]
    assert len(rows) == len(result.trial.arm_names)
    table = result.tables["endpoints"].set_index("arm")
    medians = result.tables["medians_dmfs"].set_index("arm")
    for arm, row in zip(result.trial.arm_names, rows):
        assert arm in row
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[1:4] == [str(int(table.loc[arm, c])) for c in ("n", "relapses", "deaths")]
        assert tf.fmt_years(float(medians.loc[arm, "median_days"])) in cells[4]
        assert f"{float(table.loc[arm, 'dmfs_at_horizon']):.1%}" == cells[6]


def test_comparisons_table_has_hazard_ratios_and_logrank(html, result):
    comparisons = unescape(section(html, "comparisons"))
    for ep in ("dmfs", "os"):
        hr = result.tables[f"hazard_ratios_{ep}"]
        lr = result.tables[f"logrank_{ep}"]
        for _, row in hr.iterrows():
            assert tf.fmt_hr(row["hr"], row["ci_lower"], row["ci_upper"]) in comparisons
        for _, row in lr.iterrows():
            assert f"{row['test_statistic']:.2f}" in comparisons
    assert "log-rank" in comparisons


def test_subgroup_section_names_the_covariate_and_its_levels(html, result):
    subgroups = unescape(section(html, "subgroups"))
    assert "inflammatory" in subgroups
    table = tf.subgroup_table(result, "covariates")
    assert set(table["level"]) == {"no", "yes"}
    # the subgroup hazard ratios are those of the trial's own subgroup table
    own = result.tables["subgroups_dmfs"].set_index(["level", "arm"])
    for _, row in table.iterrows():
        ref = own.loc[(row["level"], row["arm"])]
        assert math.isclose(row["hr"], ref["hr"], rel_tol=1e-9)
        assert tf.fmt_hr(row["hr"], row["ci_lower"], row["ci_upper"]) in subgroups
    # sampled parameters are split in thirds of the patients, each patient counted once
    thirds = tf.subgroup_table(result, "parameters")
    n_arms_compared = len(result.trial.arm_names) - 1
    for name in ("shedding.rate", "primary.gompertz.rate_constant"):
        rows = thirds[thirds["subgroup"] == name]
        assert len(rows) == 3 * n_arms_compared
        assert rows["n"].sum() == n_arms_compared * len(result.eligible["patient"].unique())
        assert name in subgroups


def test_population_section(html, result):
    population = unescape(section(html, "population"))
    for var in result.trial.population.variables:
        assert var.name in population
    assert "lognormal, median 0.032 1/day, sigma 1" in population
    assert "categorical: no 50%, yes 50%" in population


# --------------------------------------------------------------------------- figures
@pytest.mark.parametrize("plot", [lambda r, ax: tf.plot_km(r, "dmfs", ax=ax), lambda r, ax: tf.plot_km(r, "os", ax=ax),
                                  lambda r, ax: tf.plot_relapse_hazard(r, ax=ax),
                                  lambda r, ax: tf.plot_cumulative_incidence(r, ax=ax),
                                  lambda r, ax: tf.plot_hazard_ratios(r, ax=ax),
                                  lambda r, ax: tf.plot_subgroups(r, ax=ax),
                                  lambda r, ax: tf.plot_population_variable(r, "cov_inflammatory", ax=ax),
                                  lambda r, ax: tf.plot_population_variable(r, "param_shedding_rate_per_day", ax=ax)],
                         ids=["km_dmfs", "km_os", "hazard", "incidence", "forest", "subgroups", "covariate",
                              "parameter"])
def test_plot_functions_draw_on_the_given_axes(plot, result):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot(result, ax) is ax
    assert ax.get_xlabel() and (ax.lines or ax.patches or ax.collections)
    own = plot(result, None)  # ax=None: a new figure, not registered with pyplot
    assert own.figure is not fig


def test_km_curves_are_the_stats_estimates(result):
    df = result.eligible
    ax = tf.plot_km(result, "dmfs")
    curves = stats.km(df, "dmfs")
    marks = stats.censor_marks(df, "dmfs")
    styles = tf.arm_styles(result)
    for arm in result.trial.arm_names:
        colour = styles[arm][0]
        lines = [line for line in ax.lines if line.get_color() == colour]
        step = next(line for line in lines if line.get_linestyle() != "None")
        tick = next(line for line in lines if line.get_marker() == "|")
        expected = curves[curves["arm"] == arm]
        assert np.allclose(step.get_xdata(), expected["days"] / 365.25)
        assert np.allclose(step.get_ydata(), expected["survival"])
        assert len(tick.get_xdata()) == int((marks["arm"] == arm).sum())
    assert ax.get_ylim()[0] == 0.0 and "years" in ax.get_xlabel()


def test_forest_plot_is_log_scaled_with_a_line_at_one(result):
    ax = tf.plot_hazard_ratios(result)
    assert ax.get_xscale() == "log"
    verticals = [line for line in ax.lines if np.allclose(line.get_xdata(), 1.0) and len(set(line.get_ydata())) == 2]
    assert verticals
    lo, hi = ax.get_xlim()
    hr = result.tables["hazard_ratios_dmfs"]
    assert lo < hr["ci_lower"].min() and hi > hr["ci_upper"].max() and lo < 1 < hi


def test_a_single_arm_trial_without_tables_still_reports(result, tmp_path):
    """Comparisons and subgroups need two arms; the tables are computed when absent."""
    trial = dataclasses.replace(result.trial, arms=result.trial.arms[:1])
    control = trial.arms[0][0]
    single = TrialResult(trial=trial, patients=result.patients[result.patients["arm"] == control].copy(),
                         out_dir=None, tables={})
    path = write_trial_report(single, tmp_path / "single" / "report.html")
    html = path.read_text(encoding="utf-8")
    keys = {f.key for f in trial_figures(single)}
    assert keys == {"km_dmfs", "km_os", "hazard", "incidence", "population"}
    assert html.count("<img ") == len(keys) and "figure could not be drawn" not in html
    assert "One arm only" in html
    assert render_trial_report(single).count("<img ") == len(keys)


def test_randomized_design(examples_dir, tmp_path):
    """Each patient in one arm: the population counts each patient once, no pairing is claimed."""
    from seedsoil.cohort.trial import load_trial

    trial = load_trial(examples_dir / "trial_il1b.toml").with_options(design="randomized")
    res = run_trial(trial, patients=60, workers=1, out=tmp_path / "r", report=True)
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert html.count("<img ") == len(trial_figures(res)) and "figure could not be drawn" not in html
    assert "randomized" in html.split("</header>")[0] and "cluster-robust" not in html
    assert _subtitle(html).startswith("A randomized virtual trial: 60 virtual patients, each in one of 3 arms: ")
    assert len(tf.population_rows(res)) == 60 == res.patients["patient"].nunique()


def test_importing_the_trial_report_does_not_import_matplotlib():
    from seedsoil.testing import modules_loaded_by

    imports = "import seedsoil, seedsoil.report.trial, seedsoil.report.trial_figures"
    assert modules_loaded_by(imports, "matplotlib") == []


# --------------------------------------------------------------------------- browser
def test_report_renders_in_headless_chromium(trial_run, tmp_path):
    from seedsoil.testing import chromium, render_in_chromium

    if chromium() is None:
        pytest.skip("chromium is not installed (CI installs it in .ci/run; locally: apt-get install chromium)")
    _, path = trial_run
    page = render_in_chromium(path, tmp_path, timeout_s=CHROMIUM_TIMEOUT_S)
    assert not page.console_errors, "\n".join(page.console_errors)
    pixels = page.pixels
    assert pixels.shape[:2] == (3000, 1200)
    assert pixels.std() > 0.05, "the screenshot is blank"
    assert page.non_white_fraction > 0.03, f"only {page.non_white_fraction:.1%} of the page is not white"
    # the Kaplan–Meier figure (under the arms and endpoints tables) fills the middle of the page
    middle = pixels[1000:2000]
    assert float((middle.min(axis=-1) < 0.95).mean()) > 0.02 and not math.isclose(middle.std(), 0.0)


# --------------------------------------------------------------------------- large cohorts
def synthetic_result(examples_dir, n: int, seed: int = 5) -> TrialResult:
    """A paired two-arm TrialResult of ``n`` patients with the example's population columns,
    its survival times drawn from exponentials (continuous: almost every time distinct)."""
    from seedsoil.cohort.trial import analyse, load_trial

    trial = load_trial(examples_dir / "trial_il1b.toml").with_options(patients=n)
    trial = dataclasses.replace(trial, arms=trial.arms[:2])
    rng = np.random.default_rng(seed)
    u_relapse, u_death, u_censor = rng.random(n), rng.random(n), rng.random(n)
    inflammatory = np.where(rng.random(n) < 0.5, "yes", "no")
    shedding = rng.lognormal(np.log(0.032), 1.0, n)
    growth = rng.normal(0.00172, 0.0004, n)
    frames = []
    for (arm, _), hr in zip(trial.arms, (1.0, 0.6)):
        relapse = -np.log(u_relapse) * 1500.0 / hr
        death = -np.log(u_death) * 6000.0
        censor = 1000.0 + u_censor * 2700.0
        dmfs = np.minimum.reduce([relapse, death, censor])
        status = np.select([dmfs == relapse, dmfs == death], [1, 2], 0)
        os_days = np.where(status == 1, np.minimum(relapse + 400.0, censor), dmfs)
        frames.append(pd.DataFrame({
            "patient": np.arange(n), "arm": arm, "status": "end_of_follow_up", "eligible": True,
            "dmfs_days": dmfs, "dmfs_event": status > 0, "os_days": os_days,
            "os_event": (status == 2) | ((status == 1) & (relapse + 400.0 <= censor)),
            "relapse_days": dmfs, "relapse_status": status, "n_mets_at_relapse": np.where(status == 1, 1.0, np.nan),
            "note": "", "param_primary_gompertz_rate_constant_per_day": growth, "param_shedding_rate_per_day": shedding,
            "cov_inflammatory": inflammatory}))
    patients = pd.concat(frames, ignore_index=True).sort_values(["patient"], kind="stable").reset_index(drop=True)
    patients["arm"] = pd.Categorical(patients["arm"], categories=trial.arm_names)
    return TrialResult(trial=trial, patients=patients, out_dir=None, tables=analyse(trial, patients))


def _svg_sizes(html: str) -> dict[str, int]:
    sizes = {}
    for key in EXPECTED_FIGURES:
        block = html.split(f'<figure id="fig-{key}">')[1].split("</figure>")[0]
        sizes[key] = len(base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', block).group(1)))
    return sizes


def test_report_size_does_not_grow_with_the_number_of_patients(examples_dir):
    """Figures are drawn at their own resolution and no table lists patients: five times the
    patients gives (almost) the same page. (Both sizes fill every slice of the time axis the
    curves are drawn at; below that a page is smaller still.)"""
    pages = {n: render_trial_report(synthetic_result(examples_dir, n)) for n in (10_000, 50_000)}
    small, large = pages[10_000], pages[50_000]
    for html in pages.values():
        assert "figure could not be drawn" not in html and html.count("<img ") == len(EXPECTED_FIGURES)
        assert "drawn at the figure's resolution" in unescape(section(html, "survival"))
    assert len(large) < 1.15 * len(small), (len(small), len(large))
    assert len(large) < 4 * 2**20
    sizes_small, sizes_large = _svg_sizes(small), _svg_sizes(large)
    for key in EXPECTED_FIGURES:
        assert sizes_large[key] < 1.15 * sizes_small[key] + 20_000, (key, sizes_small[key], sizes_large[key])
    # no per-patient listing: the page holds far fewer numbers than the cohort has patients
    assert unescape(large).count("<tr") < 100


def test_large_cohort_curves_are_the_estimates_at_the_figure_resolution(examples_dir):
    result = synthetic_result(examples_dir, 12_000, seed=6)
    df = tf._eligible(result)
    ax = tf.plot_km(result, "dmfs")
    curves = stats.km(df, "dmfs")
    marks = stats.censor_marks(df, "dmfs")
    x_max = tf.follow_up_years(result)
    width = x_max / tf.MAX_CURVE_POINTS
    styles = tf.arm_styles(result)
    for arm in result.trial.arm_names:
        lines = [line for line in ax.lines if line.get_color() == styles[arm][0]]
        step = next(line for line in lines if line.get_linestyle() != "None")
        tick = next(line for line in lines if line.get_marker() == "|")
        x, y = np.asarray(step.get_xdata(), float), np.asarray(step.get_ydata(), float)
        expected = curves[curves["arm"] == arm]
        ex, ey = expected["days"].to_numpy() / 365.25, expected["survival"].to_numpy()
        assert len(ex) > tf.MAX_CURVE_POINTS >= len(x)
        assert 0 < len(tick.get_xdata()) <= tf.MAX_CURVE_POINTS < int((marks["arm"] == arm).sum())
        # the drawn step function equals the Kaplan-Meier curve one slice of the axis later
        probe = np.linspace(0.0, x_max - 1e-9, 5_001)
        drawn = y[np.searchsorted(x, probe, side="right") - 1]
        true_late = ey[np.searchsorted(ex, np.minimum(probe + width, ex[-1]), side="right") - 1]
        true_now = ey[np.searchsorted(ex, probe, side="right") - 1]
        assert np.all(drawn <= true_now + 1e-12) and np.all(drawn >= true_late - 1e-12)


def test_thin_steps_keeps_small_curves_and_bounds_large_ones():
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(0.0, 10.0, 50))
    y = np.cumprod(rng.uniform(0.9, 1.0, 50))
    same = tf.thin_steps(x, y, x_max=10.0)
    assert np.array_equal(same[0], x) and np.array_equal(same[1], y)
    x = np.r_[0.0, np.sort(rng.uniform(0.0, 10.0, 100_000))]
    y = np.cumprod(np.r_[1.0, rng.uniform(0.99999, 1.0, 100_000)])
    tx, ty = tf.thin_steps(x, y, x_max=10.0, bins=1000)
    assert len(tx) <= 1000 and tx[0] == 0.0 and ty[-1] == y[-1]
    # each kept point: the first time of its slice and the value after the slice's last step
    probe = np.linspace(0.0, 10.0, 20_001)[:-1]
    slice_start = np.floor(probe / 0.01) * 0.01
    drawn = ty[np.searchsorted(tx, probe, side="right") - 1]
    exact = y[np.searchsorted(x, probe, side="right") - 1]
    exact_slice_end = y[np.searchsorted(x, np.minimum(slice_start + 0.01, 10.0), side="left") - 1]
    assert np.all((drawn == exact) | (drawn == exact_slice_end))
    mx, my = tf.thin_marks(x, y, x_max=10.0, bins=1000)
    assert len(mx) <= 1000 and np.all(np.diff(np.floor(mx / 0.01)) > 0)
