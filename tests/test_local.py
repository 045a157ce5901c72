"""Residual disease at the surgical site and radiotherapy (seedsoil.body.local): the linear-quadratic
kill in closed form in both engines, m = 0 leaves results bit-identical, the relapse-time engine's
local and any-recurrence survival against stochastic patients, trial endpoints, scenario errors."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from seedsoil.body import _kernels as K
from seedsoil.body import _kernels_relapse as RK
from seedsoil.body import local
from seedsoil.body.model import build_inputs
from seedsoil.body.simulate import simulate
from seedsoil.body.stochastic import summarize_stochastic
from seedsoil.cohort.trial import endpoints
from seedsoil.errors import ScenarioError
from seedsoil.scenario import Scenario
from seedsoil.validate.cases_relapse import compare, stochastic_relapse_times

YEAR = 365.25
HOLLAND_FRACTION = 1.342e-9  # the breast-conserving value in params/body.toml


def _breast(**extra) -> Scenario:
    data = {"surgery": {"primary_diameter": "2 cm"}, "simulation": {"follow_up": "4 year"},
            "inflammation": {"strength": 1.0}}
    data.update(extra)
    return Scenario.from_dict(data)


# ----------------------------------------------------------------------------- closed forms
def test_holland_value_gives_43_percent_residual_disease_at_2_cm():
    inp = build_inputs(_breast(local={"residual_fraction": HOLLAND_FRACTION}))
    primary_at_surgery = math.pi / 6 * 20.0 ** 3 * 1e5  # a 2-cm sphere at 1e5 cells/mm^3
    assert inp.residual_cells == pytest.approx(HOLLAND_FRACTION * primary_at_surgery, rel=1e-6)
    assert 1.0 - math.exp(-inp.residual_cells) == pytest.approx(0.43, abs=5e-4)


def test_lq_survival_and_fraction_schedule():
    # START-B: 15 x 2.67 Gy, alpha = 0.08 /Gy, alpha/beta = 3.5 Gy
    assert local.lq_log_survival(0.08, 3.5, 2.67) == pytest.approx(-(0.08 * 2.67 + 0.08 / 3.5 * 2.67 ** 2), rel=1e-15)
    f = local.fraction_times(10.0, 15, 5)
    assert list(f[:7]) == [10.0, 11.0, 12.0, 13.0, 14.0, 17.0, 18.0] and f[-1] == 10.0 + 18.0
    sc = _breast(local={"residual_fraction": 1e-8},
                 therapy=[{"kind": "radiotherapy", "dose_per_fraction": "2.67 Gy", "fractions": 15, "start": "4 week"}])
    assert sc.therapies[0].duration == 19.0
    inp = build_inputs(sc)
    per = local.lq_log_survival(0.08, 3.5, 2.67)
    assert np.count_nonzero(inp.radiotherapy) == 15
    assert inp.radiotherapy.sum() == pytest.approx(15 * per, rel=1e-12)


@pytest.mark.parametrize("surv", [0.9, 0.5, 0.3, 0.01])
def test_thinning_multiplies_the_expected_size_by_the_lq_survival(surv):
    """The relapse-time engine's radiotherapy: a colony's expected size right after a fraction is
    its size before × S, exactly, from every node of the lattice and of the aligned nodes above it;
    on the integers the law is the binomial one."""
    xs = np.concatenate([np.arange(1.0, 33.0), 32.0 * 1.05 ** np.arange(1, 60)])
    xd = np.exp(np.linspace(math.log(xs[-1] * 1.3), math.log(1e7), 30))
    nd = len(xd)
    sizes = np.concatenate([xs, xd])
    rng = np.random.default_rng(3)
    u = rng.random(len(sizes))
    before = float(u @ sizes)
    colonies = float(u.sum())
    v = u.copy()
    gone = RK.thin(v, xs, xd, nd, surv)
    assert float(v @ sizes) == pytest.approx(surv * before, rel=1e-10)
    assert float(v.sum()) + gone == pytest.approx(colonies, rel=1e-12)
    # one colony of 20 cells: the binomial law on the integer nodes
    w = np.zeros(len(sizes))
    w[19] = 1.0
    gone = RK.thin(w, xs, xd, nd, surv)
    from scipy.stats import binom

    np.testing.assert_allclose(w[:20], binom.pmf(np.arange(1, 21), 20, surv), atol=1e-13)
    assert gone == pytest.approx(binom.pmf(0, 20, surv), abs=1e-13)


def test_stochastic_fraction_kills_each_cell_with_the_lq_probability():
    """A local colony right after a fraction is Binomial(x, S): over many patients with one residual
    colony held at a fixed size (no growth: division = death, no immune kill, no dormancy) the mean
    size after the fraction is x·S within its sampling error."""
    sc = Scenario.from_dict({
        "surgery": {"day": 10.0}, "simulation": {"follow_up": "3 day", "dt": 1.0},
        "primary": {"initial_cells": 1e9, "law": "exponential", "exponential": {"rate_constant": 1e-6}},
        "shedding": {"rate": 0.0}, "inflammation": {"strength": 0.0}, "immune": {"kill_law": "none"},
        "colony": {"law": "exponential", "division_rate": 1e-9, "exponential": {"rate_constant": 1e-9}},
        "local": {"residual_fraction": 5e-7},  # ~500 residual cells: one colony each, frozen at 1 cell
        "therapy": [{"kind": "radiotherapy", "dose_per_fraction": "4 Gy", "fractions": 1, "start": "1 day"}]})
    inp = build_inputs(sc)
    surv = math.exp(local.lq_log_survival(0.08, 3.5, 4.0))
    n = []
    alive = []
    for i in range(40):
        res = simulate(sc, seed=7, keys=(i,))
        col = res.colonies[(res.colonies["origin"] == "local").to_numpy()]
        n.append(len(col))
        alive.append(int((col["state"] != "extinct").sum()))
    n, alive = np.array(n), np.array(alive)
    assert n.mean() == pytest.approx(inp.residual_cells, rel=0.02)
    p_hat = alive.sum() / n.sum()
    se = math.sqrt(surv * (1 - surv) / n.sum())
    assert abs(p_hat - surv) < 4 * se, (p_hat, surv, se)


# ----------------------------------------------------------------------------- off by default
def test_no_residual_disease_leaves_results_bit_identical():
    """m = 0 (the default) draws nothing: stochastic and relapse-time results are those without the
    mechanism, also with a radiotherapy course (it acts on local colonies only)."""
    base = _breast()
    rt = _breast(therapy=[{"kind": "radiotherapy", "dose_per_fraction": "2 Gy", "fractions": 25, "start": "4 week"}])
    zero = _breast(local={"residual_fraction": 0.0})
    for seed in (1, 2):
        a = simulate(base, seed=seed)
        for other in (rt, zero):
            b = simulate(other, seed=seed)
            assert a.timeseries.equals(b.timeseries)
            assert a.colonies.drop(columns="origin").equals(b.colonies.drop(columns="origin"))
            assert a.summary["relapse_day"] == b.summary["relapse_day"] or (
                math.isnan(a.summary["relapse_day"]) and math.isnan(b.summary["relapse_day"]))
    ca = simulate(base, engine="analytic").curve
    for other in (rt, zero):
        cb = simulate(other, engine="analytic").curve
        assert np.array_equal(ca.to_numpy(), cb.to_numpy())
    assert np.all(ca["local_recurrence_free_probability"] == 1.0)
    # with residual disease the distant process is unchanged in the relapse-time engine
    cl = simulate(_breast(local={"residual_fraction": HOLLAND_FRACTION}), engine="analytic")
    t = np.arange(1, 5) * YEAR
    np.testing.assert_array_equal(cl.survival(t), simulate(base, engine="analytic").survival(t))
    assert np.all(cl.survival(t, "any") <= cl.survival(t))
    np.testing.assert_allclose(cl.survival(t, "any"), cl.survival(t) * cl.survival(t, "local"), rtol=1e-12)


# ----------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("name", ["residual_disease", "residual_radiotherapy"])
def test_relapse_engine_local_and_any_recurrence_agree_with_stochastic_patients(name):
    """600 stochastic patients per scenario: P(no local recurrence) and P(no recurrence) by year within
    3.5 SE of the relapse-time engine (the validate case runs 4,000)."""
    for endpoint in ("local", "any"):
        times = stochastic_relapse_times(name, 600, seed=5, workers=2, endpoint=endpoint)
        c = compare(name, times, years=np.arange(1, 11), endpoint=endpoint)
        assert np.nanmax(np.abs(c["s_dev"])) < 3.5, (endpoint, c["s_dev"])


def test_radiotherapy_lowers_local_recurrence_only():
    t = np.array([2.0, 4.0]) * YEAR
    res = _breast(local={"residual_fraction": 7e-7})
    rt = _breast(local={"residual_fraction": 7e-7},
                 therapy=[{"kind": "radiotherapy", "dose_per_fraction": "2 Gy", "fractions": 25, "start": "4 week"}])
    a, b = simulate(res, engine="analytic"), simulate(rt, engine="analytic")
    assert np.all(b.survival(t, "local") > a.survival(t, "local"))
    np.testing.assert_array_equal(a.survival(t), b.survival(t))


# ----------------------------------------------------------------------------- endpoints
def test_trial_endpoints_of_local_and_any_recurrence():
    s = {"surgery_day": 100.0, "end_day": 2000.0, "relapse": True, "relapse_day": 900.0, "death_day": math.nan,
         "local_recurrence": True, "local_recurrence_day": 600.0}
    e = endpoints(s)
    assert (e["rfs_days"], e["rfs_event"], e["local_days"], e["local_event"]) == (500.0, True, 500.0, True)
    assert (e["dmfs_days"], e["relapse_status"]) == (800.0, 1)
    s.update(local_recurrence=False, local_recurrence_day=math.nan, relapse=False, relapse_day=math.nan,
             death_day=1500.0)
    e = endpoints(s)
    assert (e["rfs_days"], e["rfs_event"], e["local_days"], e["local_event"]) == (1400.0, True, 1400.0, False)


def test_stochastic_summary_and_events_name_the_local_recurrence():
    sc = _breast(local={"residual_fraction": 7e-7})
    inp = build_inputs(sc)
    for i in range(30):
        s = summarize_stochastic(inp, 3, i)
        if s["local_recurrence"]:
            break
    else:
        pytest.fail("no local recurrence in 30 patients with ~290 residual cells")
    assert s["any_recurrence_day"] == min(s["local_recurrence_day"],
                                         s["relapse_day"] if s["relapse"] else math.inf)
    res = simulate(sc, seed=3, keys=(i,))
    assert res.summary["local_recurrence_day"] == s["local_recurrence_day"]
    ev = res.events
    assert (ev["event"] == "local_recurrence").sum() == 1
    cid = int(ev.loc[ev["event"] == "local_recurrence", "colony_id"].iloc[0])
    assert res.colonies.loc[cid, "origin"] == "local"
    assert res.colonies.loc[cid, "seeded_day"] == pytest.approx(res.summary["surgery_day"])
    # a local recurrence is not a metastasis
    assert cid not in set(ev.loc[ev["event"] == "metastasis_detected", "colony_id"])


# ----------------------------------------------------------------------------- scenario errors
@pytest.mark.parametrize("therapy, field, words", [
    ({"kind": "radiotherapy", "fractions": 25}, "therapy[0].dose_per_fraction", "Gy"),
    ({"kind": "radiotherapy", "dose_per_fraction": "2 Gy"}, "therapy[0].fractions", "needs fractions"),
    ({"kind": "radiotherapy", "dose_per_fraction": "200 Gy", "fractions": 1}, "therapy[0].dose_per_fraction",
     "(0, 100] Gy"),
    ({"kind": "radiotherapy", "dose_per_fraction": "2 Gy", "fractions": 25, "fractions_per_week": 8},
     "therapy[0].fractions_per_week", "7"),
    ({"kind": "radiotherapy", "dose_per_fraction": "2 Gy", "fractions": 25, "duration": "5 week"},
     "therapy[0].duration", "fractions"),
    ({"kind": "radiotherapy", "dose_per_fraction": "2 Gy", "fractions": 25, "agent": "x"}, "therapy[0].agent",
     "not a setting"),
])
def test_bad_radiotherapy_names_the_field(therapy, field, words):
    with pytest.raises(ScenarioError) as err:
        _breast(therapy=[therapy])
    assert err.value.field == field and words in str(err.value), str(err.value)


def test_cli_bad_radiotherapy_exits_2_without_traceback(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[surgery]\nprimary_diameter = "2 cm"\n[[therapy]]\nkind = "radiotherapy"\nfractions = 25\n'
                 'dose_per_fraction = "-2 Gy"\n')
    res = subprocess.run([sys.executable, "-m", "seedsoil.cli", "run", str(f), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "therapy[0].dose_per_fraction" in res.stderr and "Gy" in res.stderr and "Traceback" not in res.stderr
