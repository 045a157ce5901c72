"""Tests for the Luzzi (1998) funnel case (``seedsoil.validate.cases_luzzi``) and the
cell bookkeeping of the body kernel on an injection experiment.

What the death counters hold (``body/_kernels.py`` ``run_patient``):
``ctc_died`` counts circulating cells that leave the blood without arresting and
extravasating; ``cells_died`` counts those plus extravasated cells whose fate is
death and dormant single cells that die. Deaths inside colonies are in neither.
Hence, at every record (exactly, integer counts):

    cells_injected + cells_shed = ctc + ctc_died + cells_arrived
    cells_arrived = dormant_cells + colonies_started + (cells_died - ctc_died)
"""
from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from seedsoil import simulate
from seedsoil.validate import Check, _REGISTRY
from seedsoil.validate import cases_luzzi as L


@pytest.fixture(scope="module")
def scenario():
    return L.load()


@pytest.fixture(scope="module")
def funnel(scenario):
    return L.run_funnel(scenario, seed=L.SEED)


def _table(checks: list[Check]) -> str:
    return "\n".join(f"{'ok  ' if c.passed else 'FAIL'} {c.name}: expected {c.expected}, got {c.got:.6g} "
                     f"({c.tolerance_text()})" for c in checks)


def _injected_by(ts: pd.DataFrame, sc) -> np.ndarray:
    """Cells injected by each record time. Records are taken at the end of a step and
    the injection happens in the step that contains its day, so a record at day t
    includes it iff t > injection day (the record at the injection day itself is the
    state before that step)."""
    n = float(round(sc.injection.cells))
    return np.where(ts["day"].to_numpy() > sc.injection.day, n, 0.0)


# ----------------------------------------------------------------------------- the case
def test_case_is_registered():
    assert "luzzi_1998_funnel" in _REGISTRY
    c = _REGISTRY["luzzi_1998_funnel"]
    assert c.source == "doi:10.1016/S0002-9440(10)65628-3"
    assert c.run is L.luzzi_1998_funnel


def test_case_passes():
    checks = L.luzzi_1998_funnel()
    assert len(checks) == 6
    assert all(c.passed for c in checks), _table(checks)


def test_case_is_deterministic(funnel, scenario):
    again = L.run_funnel(scenario, seed=L.SEED)
    for name in ("arrested_90min", "extravasated_day3", "micrometastases_day3", "macroscopic_day13",
                 "dormant_solitary_day13"):
        assert getattr(again, name) == getattr(funnel, name)


def test_scenario_is_an_injection_without_primary(scenario):
    p = scenario.parameters
    assert scenario.injection is not None and scenario.injection.cells == 1e5
    assert p["primary.initial_cells"] == 0 and p["inflammation.strength"] == 0
    assert scenario.output.record_every == 1.0
    assert p["circulation.arrest_probability"] == 0.87
    assert p["circulation.extravasation_probability"] == pytest.approx(0.83 / 0.87, abs=5e-4)


# ----------------------------------------------------------------------------- funnel
def test_funnel_is_monotone(funnel):
    f = funnel
    assert 0 < f.extravasated_day3 <= f.injected
    # arrested comes from a separate 90-min run (another mouse): allow 5 binomial SDs of noise
    assert f.extravasated_day3 <= f.arrested_90min + 5.0 * math.sqrt(f.injected * 0.87 * 0.13)
    assert 0 < f.macroscopic_day13 <= f.micrometastases_day3 <= f.extravasated_day3
    assert f.dormant_solitary_day13 <= f.extravasated_day3
    r90, r3, r13 = f.results
    for r in (r90, r3, r13):
        ts = r.timeseries
        inj = _injected_by(ts, r.scenario)
        assert (ts["cells_arrived"].to_numpy() <= inj).all()
        assert (ts["colonies_started"].to_numpy() <= ts["cells_arrived"].to_numpy()).all()
        assert (ts["dormant_cells"].to_numpy() <= ts["cells_arrived"].to_numpy()).all()
        # cumulative counters never decrease
        for col in ("cells_injected", "cells_arrived", "cells_died", "ctc_died", "colonies_started", "cells_shed"):
            assert (np.diff(ts[col].to_numpy()) >= 0).all(), col


def test_three_day_run_is_a_prefix_of_the_thirteen_day_run(funnel):
    _, r3, r13 = funnel.results
    n = len(r3.timeseries)
    assert r3.timeseries["day"].iloc[-1] == L.EARLY_DAY
    pd.testing.assert_frame_equal(r3.timeseries, r13.timeseries.iloc[:n])
    # the same colonies were started by day 3, in the same order
    c3, c13 = r3.colonies, r13.colonies
    assert (c13["seeded_day"].iloc[:len(c3)].fillna(-1).to_numpy() == c3["seeded_day"].fillna(-1).to_numpy()).all()


# ----------------------------------------------------------------------------- conservation
def _identities(r) -> dict[str, np.ndarray]:
    """Residuals of the bookkeeping identities at every record (all must be exactly 0)."""
    ts = r.timeseries
    inj = ts["cells_injected"].to_numpy()
    shed = ts["cells_shed"].to_numpy()
    ctc = ts["ctc_cells"].to_numpy()
    died = ts["cells_died"].to_numpy()
    ctc_died = ts["ctc_died"].to_numpy()
    arrived = ts["cells_arrived"].to_numpy()
    dormant = ts["dormant_cells"].to_numpy()
    started = ts["colonies_started"].to_numpy()
    return {
        # every cell put into the blood is still there, died there, or arrived
        "blood": inj + shed - (ctc + ctc_died + arrived),
        # every arrived cell is a dormant single, started a colony, or died after arrival
        "tissue": arrived - (dormant + started + (died - ctc_died)),
        # the sum of the two, with the lumped death count
        "combined": inj + shed - (ctc + died + started + dormant),
        # the injected count is the scenario's injection, from the step that holds its day
        "injected": inj - _injected_by(ts, r.scenario),
    }


def _assert_conserved(r):
    assert len(r.timeseries) > 1
    for name, res in _identities(r).items():
        assert np.array_equal(res, np.zeros_like(res)), (name, res)


def test_cells_are_conserved_exactly(funnel):
    """At every recorded day: injected = still circulating + died in the blood + arrived, and
    arrived = dormant singles + colonies started + died after arrival."""
    for r in funnel.results:  # 90 min on a 15-min grid (cells still circulating), 3 days, 13 days
        _assert_conserved(r)
    r90, _, r13 = funnel.results
    # no secondary seeding in this scenario: every cell counted comes from the injection
    assert (r13.timeseries["cells_shed"] == 0).all()
    # the 90-min run sees cells in the blood, and both kinds of death happen
    assert r90.timeseries["ctc_cells"].max() > 0
    last = r13.timeseries.iloc[-1]
    assert last["ctc_died"] > 0 and last["cells_died"] > last["ctc_died"]


def _short(sc, **params):
    """The scenario over 1 day on a 15-min grid (cells in the blood at the first records)."""
    s = sc.with_parameters(**params) if params else sc
    return s.with_settings(simulation={"follow_up": 1.0, "dt": 1.0 / 96.0}, output={"record_every": 1.0 / 96.0})


@pytest.mark.parametrize("params", [
    {},  # the Luzzi fates: no death at the fate choice
    {"fate__dormant_probability": 0.3, "dormancy__death_rate": 0.5},  # death at the fate choice too
    {"circulation__arrest_probability": 1.0, "circulation__extravasation_probability": 1.0},  # none in blood
], ids=["luzzi", "fate_death", "no_blood_death"])
def test_cells_are_conserved_with_every_kind_of_death(scenario, params):
    r = simulate(_short(scenario, **params), seed=13)
    _assert_conserved(r)


# ----------------------------------------------------------------------------- mechanism
def test_small_colonies_shrink_and_large_ones_grow(scenario):
    """The 1-in-100 filter is the immune kill: net growth per cell r - kill(x) is
    negative for a colony of a few cells and positive above a few tens of cells."""
    p = scenario.parameters
    assert p["immune.kill_law"] == "ratio_dependent" and p["colony.law"] == "exponential"
    r = p["colony.exponential.rate_constant"]
    k, x50, l = (p[f"immune.ratio_dependent.{n}"] for n in ("max_kill_rate", "half_size", "exponent"))
    # effectors stay at their reference level in this small-burden experiment
    e = L.run_funnel(scenario).results[2].timeseries["effector_cells"]
    assert (e / p["immune.ratio_dependent.reference_effectors"]).between(0.99, 1.02).all()

    def net(x):
        return r - k / (1.0 + (x / x50) ** l)

    assert net(1.0) < 0 and net(10.0) < 0
    assert net(40.0) > 0
    x_star = x50 * (k / r - 1.0) ** (1.0 / l)
    assert 5.0 < x_star < 50.0


def test_without_immune_kill_the_funnel_opens(scenario, funnel):
    """Switching the immune kill off must break the macroscopic row by far."""
    f = L.run_funnel(scenario.with_parameters(immune__kill_law="none"), seed=L.SEED)
    assert f.macroscopic_day13 > 20 * max(funnel.macroscopic_day13, 1)
    checks = {c.name.split(" (")[0]: c for c in L.funnel_checks(f)}
    assert not checks["macroscopic metastases"].passed


# ----------------------------------------------------------------------------- file lookup
def test_examples_folder_env_override(tmp_path, monkeypatch):
    shutil.copy(L.scenario_path(), tmp_path / L.SCENARIO_FILE)
    monkeypatch.setenv(L.EXAMPLES_ENV, str(tmp_path))
    assert L.scenario_path() == tmp_path / L.SCENARIO_FILE
    assert L.load().name == "luzzi_1998"
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(L.EXAMPLES_ENV, str(empty))
    with pytest.raises(FileNotFoundError, match=L.EXAMPLES_ENV):
        L.scenario_path()
