"""One result contract for every scale (docs/architecture.md, "One contract per scale"):
``PatientResult``, ``TissueResult`` and ``TrialResult`` each have a one-line ``repr``, a
notebook table (``_repr_html_``), ``to_store`` / ``from_store`` (a run directory, read
back equal) and ``plot(ax=None, ...)`` returning the axes; the cell scale's Dataset carries
units.

All runs are real and small: the breast example shortened to 1500 days, the tissue edge
of tests/test_tissue_output.py with fixed cell-scale inputs, the example trial with 20
patients.
"""
from __future__ import annotations

import dataclasses
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import seedsoil
from seedsoil._html import fmt_value, result_html
from seedsoil.body.result import PatientResult
from seedsoil.errors import RunExistsError

matplotlib.use("Agg")  # the plot methods draw on Figures of their own; no window either way

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NASTY = "a <b>name</b> & <script>x</script>"
MAX_REPR = 240


# --------------------------------------------------------------------------- helpers
class _Html(HTMLParser):
    """Checks that start and end tags nest, and collects the text."""

    VOID = {"br", "hr", "img", "meta", "link", "input", "col"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(html: str) -> str:
    """Parse ``html``; assert it is one well-nested table; return its text."""
    p = _Html()
    p.feed(html)
    p.close()
    assert not p.errors and not p.stack, (p.errors, p.stack)
    assert p.tags[:2] == ["div", "table"] and "tr" in p.tags and "td" in p.tags
    return " ".join(p.text)


def check_repr(text: str, cls: str, name: str) -> None:
    assert text.startswith(f"{cls}({name!r}, seed=")
    assert "\n" not in text and len(text) <= MAX_REPR, text
    assert "parameters" not in text and "DataFrame" not in text


def assert_summary_equal(got: dict, want: dict) -> None:
    assert set(got) == set(want)  # run.json sorts its keys
    for k, v in want.items():
        g = got[k]
        if isinstance(v, float) and math.isnan(v):
            assert isinstance(g, float) and math.isnan(g), (k, g, v)
        else:
            assert g == v and isinstance(g, bool) == isinstance(v, bool), (k, g, v)


def check_axes(ax, *, xlabel: str, ylabel: str, min_lines: int) -> None:
    """An Axes with lines, a legend and both axes labelled with their units (``xlabel``,
    ``ylabel``: parts of the labels, units included)."""
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    assert len(ax.get_lines()) >= min_lines
    assert xlabel in ax.get_xlabel(), ax.get_xlabel()
    assert ylabel in ax.get_ylabel(), ax.get_ylabel()
    assert [label for label in ax.get_legend_handles_labels()[1] if label]


# --------------------------------------------------------------------------- shared HTML helper
def test_html_helper_escapes_and_formats():
    html = result_html("PatientResult", NASTY, [("a < b", 1.5), ("flag", True), ("missing", math.nan),
                                                ("never", math.inf), ("count", 12345)],
                       tables={"t<1>": (3, 4), "snapshots": "7 saved times"}, seed=2018, version="1.<2>")
    text = check_html(html)
    assert "<script>" not in html and "<b>name" not in html and "&lt;script&gt;" in html
    assert "a &lt; b" in html and "t&lt;1&gt;" in html and "1.&lt;2&gt;" in html
    assert NASTY in text and "3 rows × 4 columns" in text and "7 saved times" in text
    assert "2018" in text and "2,018" not in text  # a seed is not a quantity
    assert [fmt_value(x) for x in (True, math.nan, math.inf, -math.inf, None, 12345, 0.25, 1234.5, 3e9)] == \
        ["yes", "—", "∞", "-∞", "—", "12,345", "0.25", "1,234", "3e+09"]


# --------------------------------------------------------------------------- patient (body)
@pytest.fixture(scope="module")
def patient() -> PatientResult:
    sc = seedsoil.load_scenario(EXAMPLES / "breast_surgery.toml").with_settings(simulation={"follow_up": 1500.0})
    return seedsoil.simulate(sc, seed=1, engine="stochastic")


@pytest.fixture(scope="module")
def patient_dir(patient, tmp_path_factory) -> Path:
    return patient.to_store(tmp_path_factory.mktemp("patient") / "run")


def test_patient_repr_is_one_short_line(patient):
    text = repr(patient)
    check_repr(text, "PatientResult", patient.scenario.name)
    assert "seed=1" in text and "stochastic" in text
    s = patient.summary
    assert s["relapse"], "the fixture should relapse (else pick another seed)"
    assert f"relapse at {s['time_to_relapse_days']:,.0f} d after surgery" in text
    assert f"{s['colonies_started_total']:,.0f} colonies" in text


def test_patient_html_table(patient):
    text = check_html(patient._repr_html_())
    assert "PatientResult" in text and patient.scenario.name in text and seedsoil.__version__ in text
    assert f"{patient.summary['time_to_relapse_days']:,.0f} d" in text
    for name in ("timeseries", "colonies", "events"):
        rows, cols = getattr(patient, name).shape
        assert name in text and f"{rows:,} rows × {cols:,} columns" in text
    nasty = dataclasses.replace(patient, scenario={"scenario": {"name": NASTY}})
    html = nasty._repr_html_()
    check_html(html)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert repr(nasty).startswith(f"PatientResult({NASTY!r}, ")


def test_patient_round_trip(patient, patient_dir):
    back = PatientResult.from_store(patient_dir)
    for name in ("timeseries", "colonies", "events"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(patient, name), check_exact=True)
    assert not all(math.isfinite(v) for v in patient.summary.values() if isinstance(v, float)), \
        "the summary should hold a non-finite value (no death: death_day = inf)"
    assert_summary_equal(back.summary, patient.summary)
    assert (back.seed, back.engine, back.keys, back.timings) == \
        (patient.seed, patient.engine, patient.keys, patient.timings)
    # the body does not know the scenario layer: without a loader the scenario is the dict of run.json
    assert back.scenario == json.loads((patient_dir / "run.json").read_text())["scenario"]
    assert repr(back) == repr(patient)
    with pytest.raises(TypeError, match="scenario_from_dict"):
        back.to_store(patient_dir.parent / "again")
    full = PatientResult.from_store(patient_dir, scenario_from_dict=seedsoil.Scenario.from_dict)
    assert full.scenario == patient.scenario
    with pytest.raises(RunExistsError):
        patient.to_store(patient_dir)


def test_load_result_rebuilds_through_from_store(patient, patient_dir):
    results = seedsoil.load_result(patient_dir)
    assert list(results) == ["base"]
    back = results["base"]
    assert back.scenario == patient.scenario
    assert_summary_equal(back.summary, patient.summary)
    pd.testing.assert_frame_equal(back.colonies, patient.colonies, check_exact=True)


def test_patient_plot(patient):
    ax = patient.plot()
    check_axes(ax, xlabel="(years)", ylabel="(cells)", min_lines=4)  # primary, metastases, surgery, relapse
    assert ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert {"primary tumour", "all metastases", "surgery", "relapse"} <= set(labels)
    relapse = ax.get_lines()[labels.index("relapse")].get_xdata()[0]
    assert relapse == pytest.approx(patient.summary["time_to_relapse_days"] / 365.25)
    from matplotlib.figure import Figure

    given = Figure().add_subplot()
    assert patient.plot(ax=given) is given
    with pytest.raises(ValueError, match="burden"):
        patient.plot(what="nothing")


# --------------------------------------------------------------------------- tissue
from test_tissue_output import SMALL as TISSUE  # noqa: E402  (the same small edge as the output tests)


@pytest.fixture(scope="module")
def tissue():
    """numba's parallel kernels on a few dozen agents crawl on a busy machine: one thread
    (results do not depend on it), restored afterwards."""
    import numba

    from seedsoil.tissue import TissueScenario, simulate_tissue
    from seedsoil.tissue.model import CellInputs

    cells = CellInputs({"amoeboid": 0.6, "mesenchymal": 0.2, "hybrid": 0.1, "both_low": 0.1}, 0.5, 1.0)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return simulate_tissue(TissueScenario.from_dict(TISSUE), cells=cells)
    finally:
        numba.set_num_threads(before)


def test_tissue_repr_and_html(tissue):
    text = repr(tissue)
    check_repr(text, "TissueResult", "small edge")
    n = tissue.summary["escape_events"]
    assert n >= 2 and f"{n} escapes" in text and "seed=3" in text and "90 min" in text
    html = tissue._repr_html_()
    body = check_html(html)
    assert "TissueResult" in body and str(n) in body and seedsoil.__version__ in body
    assert f"{len(tissue.timeseries):,} rows × {tissue.timeseries.shape[1]:,} columns" in body
    assert f"{len(tissue.snapshots)} saved times" in body
    nasty = dataclasses.replace(tissue, scenario={"scenario": {"name": NASTY}})
    assert "<script>" not in nasty._repr_html_() and "&lt;script&gt;" in nasty._repr_html_()


@pytest.mark.parametrize("agents", [True, False])
def test_tissue_round_trip(tissue, tmp_path, agents):
    from seedsoil.tissue.simulate import TissueResult

    folder = tissue.to_store(tmp_path / "run", png=False)
    back = TissueResult.from_store(folder, agents=agents)
    pd.testing.assert_frame_equal(back.timeseries, tissue.timeseries, check_exact=True)
    pd.testing.assert_frame_equal(back.escapes, tissue.escapes, check_exact=True)
    assert_summary_equal(back.summary, tissue.summary)
    assert back.scenario == tissue.scenario and back.seed == tissue.seed and back.cells == tissue.cells
    assert back.escape_rate == tissue.escape_rate
    if agents:
        assert len(back.snapshots) == len(tissue.snapshots) and len(back.matrix_frames) == len(tissue.matrix_frames)
        for got, want in zip(back.snapshots, tissue.snapshots):
            for c in want:
                np.testing.assert_array_equal(got[c], want[c])
        np.testing.assert_array_equal(back.matrix["rho"], tissue.matrix["rho"])
    else:  # the agents stay on disk
        assert back.snapshots == [] and back.matrix == {} and back.matrix_frames == []
    assert repr(back) == repr(tissue)


def test_tissue_plot(tissue):
    ax = tissue.plot()
    check_axes(ax, xlabel="time (min)", ylabel="(µm)", min_lines=2)  # 90 min: in minutes
    twin = [a for a in ax.figure.axes if a is not ax]
    assert twin and twin[0].get_ylabel() == "cells" and len(twin[0].get_lines()) == 2


# --------------------------------------------------------------------------- trial (cohort)
@pytest.fixture(scope="module")
def trial_file(tmp_path_factory) -> Path:
    text = (EXAMPLES / "trial_il1b.toml").read_text()
    text = text.replace('scenario = "breast_surgery.toml"',
                        f'scenario = "{(EXAMPLES / "breast_surgery.toml").as_posix()}"')
    path = tmp_path_factory.mktemp("trial_file") / "trial.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trial_result(trial_file, tmp_path_factory):
    from seedsoil.cohort.trial import run_trial

    out = tmp_path_factory.mktemp("trial") / "run"
    return run_trial(trial_file, patients=20, seed=5, chunk_size=8, workers=1, out=out, report=None)


def test_trial_repr_and_html(trial_result):
    tr = trial_result.trial
    text = repr(trial_result)
    check_repr(text, "TrialResult", tr.name)
    assert "seed=5" in text and "paired" in text and "20 patients × 3 arms" in text
    ep = trial_result.tables["endpoints"]
    for arm, p in zip(ep["arm"], ep["dmfs_at_horizon"]):
        assert f"{arm} {p:.2f}" in text
    body = check_html(trial_result._repr_html_())
    assert "TrialResult" in body and tr.control in body and seedsoil.__version__ in body
    assert f"{len(trial_result.patients):,} rows × {trial_result.patients.shape[1]:,} columns" in body
    for name in trial_result.tables:
        assert name in body
    nasty = dataclasses.replace(trial_result, trial=dataclasses.replace(tr, name=NASTY))
    assert "<script>" not in nasty._repr_html_() and "&lt;script&gt;" in nasty._repr_html_()


def test_trial_round_trip_and_cache(trial_result, tmp_path):
    from seedsoil.cohort.trial import TrialResult, run_trial

    folder = trial_result.to_store(tmp_path / "copy")
    back = TrialResult.from_store(folder)
    pd.testing.assert_frame_equal(back.patients, trial_result.patients, check_exact=True)
    assert list(back.tables) == list(trial_result.tables)
    for name, table in trial_result.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], table, check_exact=True)
    assert back.trial.content_hash() == trial_result.trial.content_hash() and back.cache_hit
    # the stored folder is a finished run of this trial: run_trial finds it, simulates nothing
    again = run_trial(back.trial, out=folder, workers=1, report=None)
    assert again.cache_hit
    pd.testing.assert_frame_equal(again.patients, trial_result.patients, check_exact=True)
    # and the folder run_trial wrote reads back the same way
    direct = TrialResult.from_store(trial_result.out_dir)
    pd.testing.assert_frame_equal(direct.tables["endpoints"], trial_result.tables["endpoints"], check_exact=True)


def test_trial_from_store_refuses_unfinished(trial_result, tmp_path):
    from seedsoil.cohort.trial import TRIAL_FILE, TrialResult, TrialStateError

    folder = trial_result.to_store(tmp_path / "copy")
    meta = json.loads((folder / TRIAL_FILE).read_text())
    (folder / TRIAL_FILE).write_text(json.dumps({**meta, "complete": False}))
    with pytest.raises(TrialStateError, match="resume"):
        TrialResult.from_store(folder)
    with pytest.raises(FileNotFoundError):
        TrialResult.from_store(tmp_path / "nothing")


@pytest.mark.parametrize("endpoint", ["dmfs", "os"])
def test_trial_plot(trial_result, endpoint):
    ax = trial_result.plot(endpoint=endpoint)
    check_axes(ax, xlabel="(years)", ylabel="probability", min_lines=2 * len(trial_result.trial.arms))
    labels = [label for label in ax.get_legend_handles_labels()[1] if label]
    assert [label.split(" (n = ")[0] for label in labels] == trial_result.trial.arm_names
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        assert np.all((y >= 0) & (y <= 1))
    with pytest.raises(ValueError, match="dmfs"):
        trial_result.plot(endpoint="pfs")


# --------------------------------------------------------------------------- cell
def test_cell_dataset_has_units():
    from seedsoil.cell import builtin_network, simulate_cells

    net = builtin_network()
    ds = simulate_cells(net, 2, t_span=(0.0, 0.5), t_eval=3)
    for name in [*ds.data_vars, "time"]:
        assert ds[name].attrs.get("units"), name
        assert ds[name].attrs.get("long_name"), name
    assert ds["time"].attrs["units"] == "day"
    assert ds["inputs"].attrs["units"] == "nM"
    units = dict(zip(ds["species"].values, ds["species_units"].values))
    assert units == {s.name: (s.unit or "1") for s in net.species}
    assert units["IL6_auto"] == "nM" and units["MLC2"] == "1"
    assert ds["state"].dims == ("cell", "time", "species")
