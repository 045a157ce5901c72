"""Global sensitivity (seedsoil.cohort.sensitivity, `seedsoil sensitivity`).

(a) The estimators through the module's own sampling, chunked evaluation and analysis path, with a
plain function standing in for the model: the Ishigami function's first-, total- and second-order
Sobol' indices against their closed forms, and Morris' mu* of an inert input.
(b) A small real run on the relapse-time engine: the same indices on 2 workers, 1 worker and
another chunk size; the run folder reads back; a resume after deleting one chunk recomputes only it.
(c) Bounds outside a parameter's allowed range, and the CLI's exit code on a bad spec.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seedsoil.cohort.sensitivity import SensitivityResult, SensitivitySpec, load_sensitivity, run_sensitivity
from seedsoil.errors import ScenarioError

A, B = 7.0, 0.1


def ishigami(x: np.ndarray) -> np.ndarray:
    """Ishigami & Homma (1990): sin x1 + a sin^2 x2 + b x3^4 sin x1 on [-pi, pi]^3."""
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_indices() -> tuple[np.ndarray, np.ndarray, float]:
    """Closed forms (Saltelli et al. 2008, Global Sensitivity Analysis, §4.x): S1, ST, S13."""
    pi = math.pi
    v1 = 0.5 * (1 + B * pi ** 4 / 5) ** 2
    v2 = A ** 2 / 8
    v13 = B ** 2 * pi ** 8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v, v13 / v


def stand_in(method: dict, bounds, outputs=("y",), seed: int = 1, **log) -> SensitivitySpec:
    params = [{"name": f"x{i + 1}", "bounds": list(b), **({"log": True} if f"x{i + 1}" in log else {})}
              for i, b in enumerate(bounds)]
    return SensitivitySpec.from_dict({
        "sensitivity": {"seed": seed, "chunk_size": 4096}, "method": method, "executor": {"workers": 1},
        "parameter": params, "output": [{"kind": "model", "name": o} for o in outputs]})


def test_closed_form_is_the_textbook_ishigami():
    s1, st, s13 = ishigami_indices()
    np.testing.assert_allclose(s1, [0.3139, 0.4424, 0.0], atol=1e-4)
    np.testing.assert_allclose(st, [0.5576, 0.4424, 0.2437], atol=1e-4)


def test_sobol_recovers_the_ishigami_indices():
    """N = 4096 scrambled Sobol' base samples, 40,960 runs: the estimators' error is of the order of
    their bootstrap interval (0.01-0.04 here); the tolerance 0.03 is about twice the typical error."""
    pi = math.pi
    spec = stand_in({"name": "sobol", "samples": 4096, "second_order": True}, [(-pi, pi)] * 3)
    res = run_sensitivity(spec, model=ishigami)
    df = res.to_frame().set_index("parameter")
    s1, st, s13 = ishigami_indices()
    print(df[["S1", "S1_conf", "ST", "ST_conf"]])  # the numbers, for the record (pytest -s)
    np.testing.assert_allclose(df["S1"].to_numpy(), s1, atol=0.03)
    np.testing.assert_allclose(df["ST"].to_numpy(), st, atol=0.03)
    # the closed form lies inside (twice) the bootstrap interval: the CIs are not degenerate
    assert np.all(np.abs(df["ST"].to_numpy() - st) < 2 * df["ST_conf"].to_numpy() + 0.01)
    s2 = res.second_order.set_index(["parameter_1", "parameter_2"])["S2"]
    assert s2[("x1", "x3")] == pytest.approx(s13, abs=0.04)
    assert abs(s2[("x1", "x2")]) < 0.04 and abs(s2[("x2", "x3")]) < 0.04
    assert len(res.samples) == 4096 * (2 * 3 + 2)
    assert "sobol N=4096" in repr(res) and "3 parameters x 1 outputs" in repr(res)


def test_morris_gives_an_inert_input_zero_effect():
    """f = x1 + 2 x2^2 (x3 inert), g = x1: mu* of x3 is exactly 0 for both, and mu* of x1 is its range
    (elementary effects are per fraction of the range: a unit slope over [0, 2] gives 2)."""
    def f(x):
        return np.column_stack([x[:, 0] + 2 * x[:, 1] ** 2, x[:, 0]])

    spec = stand_in({"name": "morris", "trajectories": 30, "levels": 4}, [(0, 2), (-1, 1), (0.1, 10)],
                    outputs=("f", "g"), x3=True)
    df = run_sensitivity(spec, model=f).to_frame().set_index(["output", "parameter"])
    assert df.loc[("f", "x3"), "mu_star"] == 0.0 and df.loc[("g", "x3"), "mu_star"] == 0.0
    assert df.loc[("f", "x3"), "sigma"] == 0.0
    assert df.loc[("g", "x2"), "mu_star"] == 0.0
    assert df.loc[("f", "x1"), "mu_star"] == pytest.approx(2.0)
    assert df.loc[("f", "x1"), "sigma"] == pytest.approx(0.0, abs=1e-12)  # linear: no spread
    assert df.loc[("f", "x2"), "sigma"] > 0  # quadratic: the effect depends on where it is taken
    assert set(df.columns) == {"mu", "mu_star", "mu_star_conf", "sigma"}


def test_same_seed_same_design_other_seed_another():
    spec = stand_in({"name": "sobol", "samples": 64}, [(0, 1)] * 2)
    assert np.array_equal(spec.sample()[1], spec.sample()[1])
    other = stand_in({"name": "sobol", "samples": 64}, [(0, 1)] * 2, seed=2)
    assert not np.array_equal(spec.sample()[1], other.sample()[1])


# ----------------------------------------------------------------------------- a real run
def relapse_spec(examples_dir, chunk_size: int = 16) -> SensitivitySpec:
    return SensitivitySpec.from_dict({
        "sensitivity": {"name": "small", "scenario": "breast_surgery.toml", "seed": 7, "chunk_size": chunk_size},
        "method": {"name": "sobol", "samples": 16, "resamples": 200},
        "parameter": [{"name": "shedding.rate", "bounds": [0.01, 0.1], "log": True},
                      {"name": "immune.ratio_dependent.max_kill_rate", "bounds": [0.015, 0.045]}],
        "output": [{"kind": "relapse_by", "years": 5}, {"kind": "hazard_peak"}]}, base_dir=examples_dir)


@pytest.fixture(scope="module")
def real_runs(examples_dir, tmp_path_factory):
    """The same spec on 2 workers (written to a folder), on 1 worker, and with another chunk size."""
    base = tmp_path_factory.mktemp("sens")
    two = run_sensitivity(relapse_spec(examples_dir), out=base / "two", workers=2)
    one = run_sensitivity(relapse_spec(examples_dir), workers=1)
    other = run_sensitivity(relapse_spec(examples_dir, chunk_size=5), workers=1)
    return base, two, one, other


def test_real_run_is_reproducible_across_workers_and_chunks(real_runs):
    _, two, one, other = real_runs
    assert len(two.samples) == 16 * 4
    pd.testing.assert_frame_equal(two.indices, one.indices)
    pd.testing.assert_frame_equal(two.indices, other.indices)
    pd.testing.assert_frame_equal(two.samples, other.samples)
    p5 = two.samples["P(distant relapse by 5 y)"]
    assert p5.between(0, 1).all() and p5.std() > 0
    assert np.isfinite(two.indices[["S1", "ST"]].to_numpy()).all()
    # the immune kill rate drives relapse more than shedding over these ranges
    st = two.indices[two.indices["output"] == "P(distant relapse by 5 y)"].set_index("parameter")["ST"]
    assert st["immune.ratio_dependent.max_kill_rate"] > st["shedding.rate"]


def test_run_folder_reads_back(real_runs):
    base, two, _, _ = real_runs
    folder = base / "two"
    assert {"run.json", "indices.csv", "samples.parquet", "parts"} <= {p.name for p in folder.iterdir()}
    back = SensitivityResult.from_store(folder)
    pd.testing.assert_frame_equal(back.indices, two.indices, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(back.samples, two.samples)
    assert back.spec.names == two.spec.names and back.spec.seed == 7
    import json

    meta = json.loads((folder / "run.json").read_text())
    assert meta["complete"] and meta["seed"] == 7 and meta["seedsoil_version"]
    assert meta["spec"]["method"]["samples"] == 16
    copy = SensitivityResult.from_store(two.to_store(base / "copy"))
    pd.testing.assert_frame_equal(copy.indices, two.indices, check_exact=False, rtol=1e-12)
    html = two._repr_html_()
    assert "SensitivityResult" in html and "immune.ratio_dependent.max_kill_rate" in html


def test_resume_recomputes_only_the_missing_chunk(real_runs, tmp_path, examples_dir):
    base, two, _, _ = real_runs
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(base / "two", folder)
    parts = sorted((folder / "parts").iterdir())
    assert len(parts) == 4
    kept = {p.name: p.stat().st_mtime_ns for p in parts}
    parts[2].unlink()
    res = run_sensitivity(relapse_spec(examples_dir), out=folder, resume=True, workers=1)
    assert res.timings["rows_computed"] == 16
    for p in sorted((folder / "parts").iterdir()):
        if p.name != parts[2].name:
            assert p.stat().st_mtime_ns == kept[p.name]
    pd.testing.assert_frame_equal(res.indices, two.indices)


def test_plot_returns_axes_with_error_bars(real_runs):
    import matplotlib

    matplotlib.use("Agg")
    _, two, _, _ = real_runs
    ax = two.plot()
    assert len(ax.patches) == 2 * 2  # S1 and ST for two parameters
    assert ax.get_title().endswith("P(distant relapse by 5 y)")


# ----------------------------------------------------------------------------- bad input
def test_bounds_outside_the_allowed_range(examples_dir):
    data = {"sensitivity": {"scenario": "breast_surgery.toml", "seed": 1}, "method": {"samples": 8},
            "parameter": [{"name": "shedding.rate", "bounds": [0.01, 2e9]}], "output": [{"kind": "relapse_by",
                                                                                         "years": 5}]}
    with pytest.raises(ScenarioError, match=r"shedding\.rate high bound 2000000000\.0 is outside the allowed range "
                                            r"\[0, 1e\+09\] 1/day") as exc:
        SensitivitySpec.from_dict(data, base_dir=examples_dir)
    assert exc.value.field == "parameter[0].bounds"


def test_parameter_of_an_unused_law_is_refused(examples_dir):
    data = {"sensitivity": {"scenario": "breast_surgery.toml", "seed": 1}, "method": {"samples": 8},
            "parameter": [{"name": "primary.logistic.rate_constant", "bounds": [0.001, 0.01]}],
            "output": [{"kind": "relapse_by", "years": 5}]}
    with pytest.raises(ScenarioError, match="has no effect"):
        SensitivitySpec.from_dict(data, base_dir=examples_dir)


def test_examples_validate(examples_dir):
    sobol = load_sensitivity(examples_dir / "sensitivity_breast.toml")
    morris = load_sensitivity(examples_dir / "sensitivity_breast_morris.toml")
    assert sobol.method == "sobol" and morris.method == "morris"
    assert sobol.names == morris.names and len(sobol.names) == 5
    assert sobol.n_rows() == 1024 * 7 and morris.n_rows() == 40 * 6


def test_cli_bad_spec_exits_2_without_traceback(cli, tmp_path, examples_dir):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'[sensitivity]\nscenario = "{(examples_dir / "breast_surgery.toml").as_posix()}"\nseed = 1\n'
                    '[method]\nsamples = 12\n[[parameter]]\nname = "shedding.rate"\nbounds = [0.01, 0.1]\n'
                    '[[output]]\nkind = "relapse_by"\nyears = 5\n')
    res = cli("sensitivity", str(spec), "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "method.samples = 12: must be a power of 2" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
