"""Invariants of simulated patients: non-negative counts, exact cell accounting, a sane
colony table, monotone cumulative counters, reproducibility, prefix property, and
``simulate_summary`` == ``simulate(...).summary``."""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seedsoil import simulate
from seedsoil.body.simulate import simulate_summary
from seedsoil.scenario import Scenario, load_scenario

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "breast_surgery.toml"

SHORT = "400 day"
CUMULATIVE = ["cells_shed", "cells_arrived", "cells_died", "ctc_died", "cells_injected", "colonies_started"]
COUNTS = ["primary_cells", "ctc_cells", "dormant_cells", "colonies_proliferating", "colonies_dormant",
          "metastatic_cells", "effector_cells", "inflammation_nM", *CUMULATIVE, "detectable_metastases",
          "largest_colony_cells"]
SEED = 20240601


@lru_cache(maxsize=None)
def base() -> Scenario:
    """The example patient (inflammatory breast primary, surgery at 2 cm), short follow-up."""
    return load_scenario(EXAMPLE).with_settings(simulation={"follow_up": SHORT})


@lru_cache(maxsize=None)
def scenario(name: str) -> Scenario:
    b = base()
    if name == "default":
        return b
    if name == "non_inflammatory":
        return b.with_parameters(inflammation__strength=0.0)
    if name == "il1r_blockade":
        return b.with_settings(therapy=[{"kind": "il1r_blockade", "relative_to": "start", "start": "100 day",
                                         "duration": "2 year", "blocked_fraction": 0.9}])
    if name == "injection":
        # no primary; 1000 cells injected on day 3; survival in blood raised so many cells arrive
        return Scenario.from_dict({
            "scenario": {"name": "injection"},
            "primary": {"initial_cells": 0},
            "injection": {"cells": 1000, "day": "3 day"},
            "circulation": {"arrest_probability": 0.5},
            "fate": {"proliferative_probability": 0.2, "dormant_probability": 0.5},
            "dormancy": {"activation_rate": "0.01 / day"},
            "simulation": {"follow_up": SHORT, "seed": 7},
            "output": {"record_every": "3 day"},
        })
    if name == "from_metastases":
        return b.with_parameters(shedding__from_metastases=True, circulation__arrest_probability=1e-3)
    raise KeyError(name)


SCENARIOS = ["default", "non_inflammatory", "il1r_blockade", "injection", "from_metastases"]


@lru_cache(maxsize=None)
def run(name: str, engine: str = "stochastic", seed: int = SEED):
    return simulate(scenario(name), seed=seed, engine=engine)


def _ts(name, engine):
    res = run(name, engine)
    assert len(res.timeseries) > 10
    return res.timeseries


# ----------------------------------------------------------------------------- scenarios are what they claim
def test_scenarios_differ_as_intended():
    assert run("default").summary["surgery_day"] > 0
    infl = run("default").timeseries["inflammation_nM"].max()
    assert infl > 0 and run("non_inflammatory").timeseries["inflammation_nM"].max() == 0.0
    inj = run("injection").timeseries
    assert inj["primary_cells"].max() == 0 and inj["cells_injected"].iloc[-1] == 1000
    assert inj["cells_shed"].iloc[-1] == 0 and inj["cells_arrived"].iloc[-1] > 100
    assert run("injection").colonies.shape[0] > 10
    assert run("il1r_blockade").scenario.therapies[0].kind == "il1r_blockade"


# ----------------------------------------------------------------------------- non-negative, no NaN
@pytest.mark.parametrize("name", SCENARIOS)
def test_stochastic_counts_are_finite_and_non_negative(name):
    ts = _ts(name, "stochastic")
    assert set(["day", *COUNTS]) <= set(ts.columns)
    values = ts.to_numpy(dtype=float)
    assert np.isfinite(values).all(), ts.columns[~np.isfinite(values).all(axis=0)].tolist()
    assert (values >= 0).all(), ts.columns[(values < 0).any(axis=0)].tolist()


@pytest.mark.parametrize("name", SCENARIOS)
def test_meanfield_counts_are_non_negative(name):
    ts = _ts(name, "meanfield")
    values = ts[["day", *COUNTS]].to_numpy(dtype=float)
    assert not (values < -1e-9 * np.nanmax(np.abs(values), axis=0)).any()


@pytest.mark.parametrize("name", SCENARIOS)
def test_meanfield_counts_have_no_nan(name):
    ts = _ts(name, "meanfield")
    assert not ts[["day", *COUNTS]].isna().any().any(), ts.columns[ts.isna().any()].tolist()


def test_meanfield_summary_counts_detected_metastases():
    assert math.isfinite(run("default", "meanfield").summary["metastases_detected"])


# ----------------------------------------------------------------------------- accounting
@pytest.mark.parametrize("name", SCENARIOS)
def test_accounting_is_exact_for_the_stochastic_engine(name):
    ts = _ts(name, "stochastic")
    # every cell that entered the blood is still there, died there, or arrived
    assert (ts.cells_shed + ts.cells_injected == ts.ctc_cells + ts.ctc_died + ts.cells_arrived).all()
    # every arrived cell died, sleeps as a single cell, or started a colony
    assert (ts.cells_arrived == (ts.cells_died - ts.ctc_died) + ts.dormant_cells + ts.colonies_started).all()
    # counts are whole numbers
    for col in ["ctc_cells", "dormant_cells", *CUMULATIVE, "colonies_proliferating", "colonies_dormant"]:
        assert (ts[col] == np.round(ts[col])).all(), col


@pytest.mark.parametrize("name", SCENARIOS)
def test_accounting_holds_for_the_meanfield_engine(name):
    ts = _ts(name, "meanfield")
    scale = max(1.0, float(ts[["cells_shed", "cells_injected", "cells_died"]].to_numpy().max()))
    blood = ts.cells_shed + ts.cells_injected - (ts.ctc_cells + ts.ctc_died + ts.cells_arrived)
    tissue = ts.cells_arrived - ((ts.cells_died - ts.ctc_died) + ts.dormant_cells + ts.colonies_started)
    assert np.abs(blood).max() <= 1e-9 * scale
    assert np.abs(tissue).max() <= 1e-9 * scale
    assert ts.cells_arrived.iloc[-1] > 0


@pytest.mark.parametrize("engine", ["stochastic", "meanfield"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_cumulative_counters_never_decrease(name, engine):
    ts = _ts(name, engine)
    assert (np.diff(ts["day"]) > 0).all() and ts["day"].iloc[0] == 0.0
    for col in CUMULATIVE:
        assert (np.diff(ts[col].to_numpy()) >= 0).all(), col
        assert ts[col].iloc[0] == 0.0, col


def test_primary_is_removed_at_surgery():
    res = run("default")
    ts, surgery = res.timeseries, res.summary["surgery_day"]
    assert (ts.loc[ts.day >= surgery, "primary_cells"] == 0).all()
    assert (ts.loc[ts.day < surgery, "primary_cells"] > 0).all()
    shed_after = ts.loc[ts.day >= surgery + 1, "cells_shed"]
    assert (shed_after == shed_after.iloc[0]).all()  # no shedding after surgery


# ----------------------------------------------------------------------------- colonies table
@pytest.mark.parametrize("name", SCENARIOS)
def test_colony_table_is_consistent(name):
    res = run(name)
    col, ts = res.colonies, res.timeseries
    assert len(col) == ts["colonies_started"].iloc[-1]
    assert (col["colony_id"].to_numpy() == np.arange(len(col))).all()
    assert (col["size"] >= 0).all() and (col["max_size"] >= col["size"]).all() and (col["max_size"] >= 1).all()
    extinct = col["state"] == "extinct"
    assert (col.loc[extinct, "size"] == 0).all()
    assert np.isfinite(col.loc[extinct, "end_day"]).all()
    assert (col.loc[extinct, "end_day"] >= col.loc[extinct, "activated_day"]).all()
    assert (col.loc[~extinct, "size"] > 0).all() and col.loc[~extinct, "end_day"].isna().all()
    detected = np.isfinite(col["detected_day"])
    assert (col.loc[detected, "detected_day"] >= col.loc[detected, "activated_day"]).all()
    # seeded (arrival) before or at activation; cells woken from the pool have no arrival time
    seeded = np.isfinite(col["seeded_day"])
    assert (col.loc[seeded, "seeded_day"] <= col.loc[seeded, "activated_day"]).all()
    assert (col.loc[~seeded, "from_dormant_pool"]).all()
    assert (col["activated_day"] <= res.summary["end_day"]).all() and (col["activated_day"] >= 0).all()
    # live colonies at the end = last record
    alive = col.loc[~extinct]
    last = ts.iloc[-1]
    assert len(alive) == last["colonies_proliferating"] + last["colonies_dormant"]
    assert alive["size"].sum() == pytest.approx(last["metastatic_cells"], rel=1e-9)
    parents = col.loc[col["parent_id"] >= 0, "parent_id"]
    assert (parents < col.loc[col["parent_id"] >= 0, "colony_id"]).all()


# ----------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("name", SCENARIOS)
def test_same_seed_same_result(name):
    a = run(name)
    b = simulate(scenario(name), seed=SEED)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    pd.testing.assert_frame_equal(a.colonies, b.colonies)
    pd.testing.assert_frame_equal(a.events, b.events)


@pytest.mark.parametrize("name", SCENARIOS)
def test_different_seeds_differ(name):
    a = run(name)
    b = run(name, seed=SEED + 1)
    assert not a.timeseries.equals(b.timeseries)


def test_scenario_seed_is_the_default_seed():
    sc = scenario("injection")
    a = simulate(sc)
    assert a.seed == sc.simulation.seed == 7
    pd.testing.assert_frame_equal(a.timeseries, simulate(sc, seed=7).timeseries)


def _prefix_pair(name: str, engine: str):
    sc = scenario(name).with_settings(output={"record_every": scenario(name).simulation.dt})
    short = simulate(sc.with_settings(simulation={"follow_up": "150 day"}), seed=SEED, engine=engine)
    long = simulate(sc, seed=SEED, engine=engine)
    return short, long


@pytest.mark.parametrize("name", ["default", "injection", "from_metastases"])
def test_shorter_follow_up_is_an_exact_prefix(name):
    short, long = _prefix_pair(name, "stochastic")
    n = len(short.timeseries)
    assert 10 < n < len(long.timeseries)
    pd.testing.assert_frame_equal(short.timeseries, long.timeseries.iloc[:n].reset_index(drop=True),
                                  check_exact=True)
    end = short.summary["end_day"]
    cs, cl = short.colonies, long.colonies.iloc[: len(short.colonies)].reset_index(drop=True)
    assert (long.colonies.iloc[len(cs):]["activated_day"] >= end).all()
    for column in ["colony_id", "origin", "parent_id", "from_dormant_pool", "seeded_day", "activated_day"]:
        pd.testing.assert_series_equal(cs[column], cl[column], check_exact=True)
    finished = cs["end_day"].notna()
    assert (cs.loc[finished, "end_day"] == cl.loc[finished, "end_day"]).all()
    found = cs["detected_day"].notna()
    assert (cs.loc[found, "detected_day"] == cl.loc[found, "detected_day"]).all()


def test_shorter_follow_up_is_an_exact_prefix_meanfield():
    short, long = _prefix_pair("default", "meanfield")
    n = len(short.timeseries)
    pd.testing.assert_frame_equal(short.timeseries, long.timeseries.iloc[:n].reset_index(drop=True),
                                  check_exact=True)


# ----------------------------------------------------------------------------- summary fast path
def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b) or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                              and not isinstance(a, bool) and a == b)


@pytest.mark.parametrize("name", SCENARIOS)
def test_simulate_summary_equals_simulate_summary(name):
    full = run(name).summary
    fast = simulate_summary(scenario(name), seed=SEED)
    assert set(fast) == set(full)
    diff = {k: (full[k], fast[k]) for k in full if not _same(full[k], fast[k])}
    assert not diff


def test_simulate_summary_with_keys_is_another_stream():
    sc = scenario("injection")
    a = simulate_summary(sc, seed=SEED, keys=(1,))
    b = simulate_summary(sc, seed=SEED, keys=(1,))
    c = simulate_summary(sc, seed=SEED, keys=(2,))
    assert a == b or all(_same(a[k], b[k]) for k in a)
    assert any(not _same(a[k], c[k]) for k in a)


@pytest.mark.parametrize("engine", ["stochastic", "meanfield"])
@pytest.mark.parametrize("stop_at", ["relapse", "death"])
def test_runs_stopped_early_end_with_a_complete_record(engine, stop_at):
    sc = load_scenario(EXAMPLE).with_settings(simulation={"stop_at": stop_at, "follow_up": "30 year"})
    res = simulate(sc, seed=SEED, engine=engine)
    assert res.summary["status"] == stop_at
    ts = res.timeseries
    assert not ts[["day", *COUNTS]].isna().any().any(), ts.columns[ts.isna().any()].tolist()
    assert ts["day"].iloc[-1] == res.summary["end_day"]
    if stop_at == "death":
        assert res.summary["death_day"] == res.summary["end_day"]
        assert ts["primary_cells"].iloc[-1] + ts["metastatic_cells"].iloc[-1] >= sc["cells.lethal_burden"]
    else:
        assert res.summary["relapse"] and res.summary["relapse_day"] <= res.summary["end_day"]
