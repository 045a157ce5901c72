"""Adjuvant therapy and the response to the surgical wound (seedsoil.body.adjuvant): the per-step
factors' closed forms, scenario errors, existing results unchanged when the mechanisms are off,
and the three engines on the same therapies."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from seedsoil.body import adjuvant
from seedsoil.body.model import build_inputs
from seedsoil.body.simulate import simulate
from seedsoil.errors import ScenarioError
from seedsoil.scenario import Scenario, default_scenario
from seedsoil.validate.cases_relapse import compare, stochastic_relapse_times

YEAR = 365.25


def _breast(**extra) -> Scenario:
    data = {"surgery": {"primary_diameter": "2 cm"}, "simulation": {"follow_up": "6 year"},
            "inflammation": {"strength": 1.0}}
    data.update(extra)
    return Scenario.from_dict(data)


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("dt", [0.1, 0.25, 1.0, 3.0])
def test_each_cycle_delivers_kappa_whatever_the_step(dt):
    t = np.arange(0.0, 200.0 + dt / 2, dt)
    c = adjuvant.chemotherapy_inhibition(t, 10.3, 6, 28.0, 1.0, 50.0)
    assert np.sum(c * np.diff(t)) == pytest.approx(6 * 50.0, rel=1e-12)
    # and all of it within the cycles' exposure windows
    for s in adjuvant.cycle_starts(10.3, 6, 28.0):
        inside = (t[1:] > s) & (t[:-1] < s + 1.0)
        assert np.sum((c * np.diff(t))[inside]) == pytest.approx(50.0, rel=1e-12)


def test_wound_peaks_at_its_strength_and_decays_with_its_half_life():
    p = dict(default_scenario().parameters)
    p.update({"wound.strength": 0.8, "wound.production_days": 3.0, "wound.half_life": 7.0})
    dt = 0.25
    t = np.arange(0.0, 60.0 + dt / 2, dt)
    W = adjuvant.wound_series(t, 10.0, p, np.zeros(len(t) - 1))
    i = int(round(13.0 / dt))
    assert W[i] == pytest.approx(0.8, rel=1e-12)
    assert W.max() == pytest.approx(0.8, rel=1e-12)
    assert W[i + int(round(7.0 / dt))] == pytest.approx(0.4, rel=1e-12)
    assert np.all(W[: int(round(10.0 / dt)) + 1] == 0.0)
    # a full block during production: no response at all; half a block: half the response
    assert not adjuvant.wound_series(t, 10.0, p, np.ones(len(t) - 1)).any()
    np.testing.assert_allclose(adjuvant.wound_series(t, 10.0, p, np.full(len(t) - 1, 0.5)), 0.5 * W, rtol=1e-12)


def test_modulation_factors():
    sc = _breast(wound={"strength": 1.0}, surgery={"day": 2000.0},  # on the grid
                 therapy=[{"kind": "endocrine", "agent": "tamoxifen", "start": "30 day"},
                          {"kind": "nsaid", "agent": "meloxicam", "start": "0 day", "duration": "1 day"}])
    inp = build_inputs(sc)
    s = inp.schedule.surgery_day
    mid = 0.5 * (inp.t[:-1] + inp.t[1:])
    on = (inp.t[:-1] >= s + 30) & (inp.t[1:] <= s + 30 + 5 * YEAR)  # steps wholly within the course
    p = sc.parameters
    assert np.allclose(inp.growth_inhibition[on], p["endocrine.tamoxifen.growth_inhibition"])
    assert np.all(inp.growth_inhibition[mid < s + 29] == 0.0)
    assert np.allclose(inp.activation_factor[on], 1.0 - p["endocrine.tamoxifen.activation_inhibition"])
    # meloxicam blocked the first of the three days of production: W peaks at 2/3 of (1 - e^-2k)/(1 - e^-3k)
    k = math.log(2) / p["wound.half_life"]
    peak = (math.exp(-k * 0) - math.exp(-k * 2)) / (1 - math.exp(-3 * k))
    assert inp.wound.max() == pytest.approx(peak, rel=1e-12)
    kill = 1.0 - p["wound.kill_suppression"] * np.minimum(0.5 * (inp.wound[:-1] + inp.wound[1:]), 1.0)
    np.testing.assert_allclose(inp.immune_kill_factor, kill, rtol=1e-12)


# ----------------------------------------------------------------------------- off by default
def test_mechanisms_off_leave_results_bit_identical():
    base = _breast()
    off = _breast(wound={"strength": 0.0}, therapy=[{"kind": "nsaid", "agent": "ketorolac"}])
    a, b = build_inputs(base), build_inputs(off)
    assert not b.growth_inhibition.any() and np.all(b.activation_factor == 1.0)
    for seed in (1, 2):
        pd_a = simulate(base, seed=seed).timeseries
        pd_b = simulate(off, seed=seed).timeseries
        assert pd_a.equals(pd_b)
    # (a therapy's start and stop are macro-step boundaries of the relapse-time engine: without one)
    assert np.array_equal(simulate(base, engine="analytic").curve.to_numpy(),
                          simulate(_breast(wound={"strength": 0.0}), engine="analytic").curve.to_numpy())
    assert np.array_equal(a.immune_kill_factor, b.immune_kill_factor)


# ----------------------------------------------------------------------------- scenario errors
@pytest.mark.parametrize("therapy, field, words", [
    ({"kind": "chemotherapy", "regimen": "CMF", "duration": "6 month"}, "therapy[0].duration", "cycles x interval"),
    ({"kind": "chemotherapy", "regimen": "CMX"}, "therapy[0].regimen", "CMF"),
    ({"kind": "chemotherapy", "interval": "21 day"}, "therapy[0].cycles", "needs cycles"),
    ({"kind": "chemotherapy", "regimen": "AC", "exposure": "30 day"}, "therapy[0].exposure", "allowed (0, interval]"),
    ({"kind": "endocrine", "agent": "tamoxifem"}, "therapy[0].agent", "tamoxifen"),
    ({"kind": "nsaid"}, "therapy[0].agent", "meloxicam"),
    ({"kind": "nsaid", "agent": "meloxicam", "cycles": 3}, "therapy[0].cycles", "not a setting"),
])
def test_bad_therapies_name_the_field(therapy, field, words):
    with pytest.raises(ScenarioError) as err:
        _breast(therapy=[therapy])
    assert err.value.field == field and words in str(err.value)


def test_regimen_fills_the_course_and_round_trips():
    sc = _breast(therapy=[{"kind": "chemotherapy", "regimen": "AC", "start": "3 week"}])
    th = sc.therapies[0]
    assert (th.cycles, th.interval, th.potency, th.duration) == (4, 21.0, 1.5, 84.0)
    again = Scenario.from_dict(sc.to_dict())
    assert again.content_hash() == sc.content_hash()
    assert "duration" not in sc.to_dict()["therapy"][0]


def test_cli_bad_therapy_exits_2_without_traceback(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[surgery]\nprimary_diameter = "2 cm"\n[[therapy]]\nkind = "endocrine"\nagent = "raloxifene"\n')
    res = subprocess.run([sys.executable, "-m", "seedsoil.cli", "run", str(f), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "therapy[0].agent" in res.stderr and "Traceback" not in res.stderr


# ----------------------------------------------------------------------------- the engines
def test_chemotherapy_spares_dormant_cells_in_every_engine():
    """Doxorubicin-like cycles: the dormant single cells are those of the untreated run, the
    growing colonies shrink (mean-field and relapse-time: expectations, exactly equal)."""
    from seedsoil.validate.cases_adjuvant import naumov_scenario

    day = 21.0
    for engine, seed in (("stochastic", 4), ("meanfield", None), ("analytic", None)):
        got = {}
        for treated in (False, True):
            ts = simulate(naumov_scenario(treated), engine=engine, seed=seed).timeseries
            got[treated] = ts.iloc[int(np.searchsorted(ts["day"].to_numpy(), day))]
        # stochastic: the streams part once colonies die, so the pools differ by sampling noise
        # (~8,400 cells: 3 SD is 3.3 %); the expectations are equal
        rel = 0.035 if engine == "stochastic" else 1e-12
        assert got[True]["dormant_cells"] == pytest.approx(got[False]["dormant_cells"], rel=rel), engine
        assert got[True]["metastatic_cells"] < 0.01 * got[False]["metastatic_cells"], engine


def test_endocrine_therapy_delays_relapse_while_taken():
    on = _breast(therapy=[{"kind": "endocrine", "agent": "tamoxifen", "start": "6 week"}])
    ai = _breast(therapy=[{"kind": "endocrine", "agent": "aromatase_inhibitor", "start": "6 week"}])
    t = np.array([2.0, 4.0]) * YEAR
    s0 = simulate(_breast(), engine="analytic").survival(t)
    s1 = simulate(on, engine="analytic").survival(t)
    s2 = simulate(ai, engine="analytic").survival(t)
    assert np.all(s1 > s0) and np.all(s2 >= s1)


@pytest.mark.parametrize("name", ["cmf", "wound_response"])
def test_relapse_engine_agrees_with_stochastic_patients(name):
    """600 stochastic patients per scenario: relapse-free probability by year within 3.5 SE of the
    relapse-time engine (the validate case runs 4,000)."""
    times = stochastic_relapse_times(name, 600, seed=5, workers=2)
    c = compare(name, times, years=np.arange(1, 11))
    assert np.nanmax(np.abs(c["s_dev"])) < 3.5, c["s_dev"]


def test_endocrine_therapy_does_nothing_for_er_negative_disease():
    th = [{"kind": "endocrine", "agent": "tamoxifen", "start": "6 week"}]
    neg = build_inputs(_breast(patient={"er": "negative"}, therapy=th))
    pos = build_inputs(_breast(patient={"er": "positive"}, therapy=th))
    assert not neg.growth_inhibition.any() and np.all(neg.activation_factor == 1.0)
    # and the relapse-time engine gives exactly the untreated curve (the course's edges do not
    # move its time grid: they did, by up to 3e-3 relative in the cumulative hazard)
    t = np.array([1.0, 3.0, 5.5, 6.0]) * YEAR
    untreated = simulate(_breast(patient={"er": "negative"}), engine="analytic")
    treated = simulate(_breast(patient={"er": "negative"}, therapy=th), engine="analytic")
    np.testing.assert_array_equal(treated.survival(t), untreated.survival(t))
    assert pos.growth_inhibition.max() == pytest.approx(0.5)


def test_chemotherapy_at_the_top_of_its_range_kills_rather_than_crashes():
    """kill_per_growth at its range's top (1e5 days) drives a colony's size below the smallest
    double in one step; the relapse-time engine must take that as extinction (it divided by the
    size in the Gompertz rate at 0 before), and strong chemotherapy never makes relapse likelier."""
    from seedsoil.body._kernels_relapse import deterministic_move
    from seedsoil.body.growth import Gompertz

    law = Gompertz(rate_constant=0.01, carrying_capacity=1e9).kernel_params()
    par = build_inputs(_breast()).par
    assert deterministic_move(par, law, 1e4, 1.0, 1.0, 1e5, 1.0) == 0.0
    t = np.array([1.0, 3.0, 6.0]) * YEAR
    cmf = [{"kind": "chemotherapy", "regimen": "CMF", "start": "4 week"}]
    s0 = simulate(_breast(), engine="analytic").survival(t)
    for kappa in (50.0, 1e5):
        sc = _breast(therapy=cmf).with_parameters(**{"chemotherapy.kill_per_growth": kappa})
        s = simulate(sc, engine="analytic").survival(t)
        assert np.all(np.isfinite(s)) and np.all(s >= s0 - 1e-9), (kappa, s, s0)
