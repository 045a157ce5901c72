"""The relapse-time engine (engine="analytic", seedsoil.body.relapse): closed forms, convergence in
its grid, conservation, agreement with the stochastic and mean-field engines, gradients, the
cohort path on every executor, and the result contract."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seedsoil.body import relapse
from seedsoil.body import _kernels_relapse as RK
from seedsoil.body.model import build_inputs
from seedsoil.body.result import RelapseResult
from seedsoil.body.simulate import simulate, simulate_summary
from seedsoil.scenario import Scenario
from seedsoil.validate.cases_relapse import (CLOSED, closed_form_scenario, first_passage, kendall_extinction,
                                             scenario as named_scenario)

YEAR = 365.25


def _small(**extra) -> Scenario:
    """A quick breast patient: surgery at 1.5 cm, 3 years of follow-up, more shedding."""
    data = {"surgery": {"primary_diameter": "1.5 cm"}, "simulation": {"follow_up": "3 year"},
            "shedding": {"rate": 0.1}, "inflammation": {"strength": 1.0}}
    for k, v in extra.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    return Scenario.from_dict(data)


# ----------------------------------------------------------------------------- closed forms
def test_closed_form_survival_to_1e6():
    """Linear birth–death colonies, constant Poisson seeding: the relapse-free curve is exact."""
    res = simulate(closed_form_scenario(), engine="analytic")
    t = np.array([5.0, 20.0, 45.0, 80.0, 120.0])
    integ, _ = first_passage(CLOSED["b"], CLOSED["d"], CLOSED["N"], t)
    np.testing.assert_allclose(res.survival(t), np.exp(-CLOSED["seeding"] * integ), rtol=0, atol=1e-6)


def test_first_passage_reference_is_right():
    """The spectral reference itself: its long-time limit is the gambler's-ruin probability, and its
    time derivative (the first-passage density) integrates to it."""
    b, d, n = CLOSED["b"], CLOSED["d"], CLOSED["N"]
    _, p = first_passage(b, d, n, np.array([1e5]))
    rho = d / b
    assert p[0] == pytest.approx((1 - rho) / (1 - rho ** n), rel=1e-10)


def test_kendall_extinction():
    """Expected extinct colonies by t = seeding × ∫ Kendall's extinction probability (no detection)."""
    from scipy.integrate import quad

    res = simulate(closed_form_scenario(detect_cells=10**6, horizon=30.0, integers=300), engine="analytic")
    ts = res.timeseries
    b, d, a0 = CLOSED["b"], CLOSED["d"], CLOSED["seeding"]
    for t in (5.0, 15.0, 30.0):
        want = a0 * quad(lambda u: float(kendall_extinction(b, d, u)), 0.0, t, epsabs=1e-13)[0]
        assert float(np.interp(t, ts["day"], ts["colonies_extinct"])) == pytest.approx(want, abs=1e-6)


def test_convergence_order_in_the_time_step():
    """TR-BDF2: the error of the relapse-free curve falls as step², halving the step four times."""
    t = np.array([30.0, 60.0])
    integ, _ = first_passage(CLOSED["b"], CLOSED["d"], CLOSED["N"], t)
    exact = np.exp(-CLOSED["seeding"] * integ)
    errors = []
    steps = (1.0, 0.5, 0.25)
    for step in steps:
        res = simulate(closed_form_scenario(step=step, horizon=60.0), engine="analytic")
        errors.append(np.max(np.abs(res.survival(t) - exact)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.8) and np.all(orders < 2.3), (errors, orders)


def test_convergence_in_the_size_lattice():
    """Refining the ladder above the exact integers converges: against a ladder of ratio 1.01, the
    error falls from the coarse ratios to the fine ones (the variance cap makes it not exactly
    monotone at fine ratios), and is below 3e-4 at the default 1.05."""
    sc = _small()
    t = np.array([1.0, 2.0, 3.0]) * YEAR
    s = {}
    for ratio in (1.4, 1.2, 1.05, 1.025, 1.01):
        s[ratio] = simulate(sc.with_overrides({"simulation.analytic_size_ratio": ratio,
                                               "simulation.analytic_integer_sizes": 8}),
                            engine="analytic").survival(t)
    err = {r: np.max(np.abs(v - s[1.01])) for r, v in s.items() if r != 1.01}
    assert err[1.4] > 3 * err[1.2] > 3 * err[1.05], err
    assert err[1.05] < 3e-4 and err[1.025] < 3e-4, err


# ----------------------------------------------------------------------------- conservation
@pytest.mark.parametrize("top", [1e4, 300.0])
def test_colonies_are_conserved(top):
    """Every expected colony started is alive, extinct or detected, to round-off, at every step
    (also with the lattice ending below the stochastic threshold: the aligned nodes above it then
    spread colonies with the birth–death variance)."""
    inputs = build_inputs(_small().with_overrides({"simulation.analytic_lattice_top": top}))
    sol = relapse.solve(inputs)
    assert (sol.lattice.n_noisy > 1) == (top < 1e4)  # the first aligned node may sit just below the top
    r = sol.rec
    total = r[:, RK.A_COL_PROLIF] + r[:, RK.A_COL_DORMANT] + r[:, RK.A_EXTINCT] + r[:, RK.A_DETECTED]
    np.testing.assert_allclose(total, r[:, RK.A_STARTED], rtol=1e-10, atol=1e-12)
    # and cells: shed = still circulating + died in blood + arrived
    f = sol.fine
    np.testing.assert_allclose(f[:, RK.F_SHED], f[:, RK.F_CTC] + f[:, RK.F_CTC_DIED] + f[:, RK.F_ARRIVED],
                               rtol=1e-10)


def test_lattice_top_below_the_threshold_agrees():
    """Ending the lattice at 2,000 cells (the birth–death noise above it carried by the aligned nodes'
    spread, extinction above it neglected) changes the relapse-free curve by less than 3e-3, and
    dropping that spread (deterministic above 2,000 cells) changes it more: the noise matters and
    the spread carries it."""
    from dataclasses import replace

    sc = named_scenario("default_breast")
    t = np.arange(1, 11) * YEAR
    full = relapse.relapse_free(sc, t)[0]
    low = sc.with_overrides({"simulation.analytic_lattice_top": 2000.0})
    inputs = build_inputs(low)
    grid = relapse.lattice(inputs, float(low.simulation.analytic_step))
    noisy = relapse.relapse_free(inputs, t, grid=grid)[0]
    quiet = relapse.relapse_free(inputs, t, grid=replace(grid, n_noisy=0))[0]
    assert np.max(np.abs(noisy - full)) < 3e-3
    assert np.max(np.abs(quiet - full)) > 2 * np.max(np.abs(noisy - full))


def test_linear_compartments_match_the_meanfield_engine():
    """Shedding, circulation and the dormant pool are the same linear equations in both engines."""
    sc = _small()
    a = simulate(sc, engine="analytic").timeseries
    m = simulate(sc, engine="meanfield").timeseries
    for col in ("cells_shed", "cells_arrived", "dormant_cells"):
        got = np.interp(m["day"], a["day"], a[col])
        np.testing.assert_allclose(got, m[col], rtol=2e-3, atol=1e-6, err_msg=col)


def test_deterministic_and_no_seed():
    sc = _small()
    a = simulate(sc, engine="analytic", seed=1)
    b = simulate(sc, engine="analytic", seed=2)
    assert a.seed is None and a.engine == "analytic"
    pd.testing.assert_frame_equal(a.curve, b.curve, check_exact=True)


# ----------------------------------------------------------------------------- against the stochastic engine
def test_agrees_with_the_stochastic_engine():
    """2,000 stochastic patients (fixed seed): relapse-free probability at each half year within 3.5 SE."""
    sc = _small()
    res = simulate(sc, engine="analytic")
    n = 2000
    times = np.full(n, np.inf)
    for i in range(n):
        s = simulate_summary(sc, seed=5, keys=(i,))
        if s["relapse"]:
            times[i] = s["relapse_day"] - s["surgery_day"]
    t = np.arange(1, 7) * YEAR / 2
    p = res.survival(t)
    mc = np.array([(times > x).mean() for x in t])
    se = np.sqrt(np.maximum(p * (1 - p), 1.0 / n) / n)
    assert np.all(np.abs(p - mc) <= 3.5 * se), (p, mc, se)
    assert 0.2 < 1 - p[-1] < 0.95  # the comparison means something: relapse neither rare nor certain


def test_injected_bolus_is_a_product_not_a_poisson():
    """n injected cells relapse-free iff each is: S_2n = S_n², and the per-cell probability does not
    depend on n (no immune kill, so nothing couples the cells)."""
    def sc(cells):
        return Scenario.from_dict({"primary": {"initial_cells": 0.0}, "injection": {"cells": cells, "day": 0},
                                   "immune": {"kill_law": "none"}, "simulation": {"follow_up": "500 day"},
                                   "circulation": {"arrest_probability": 0.01}, "detection": {"metastasis_diameter": 1.0},
                                   "fate": {"proliferative_probability": 0.01}})
    t = np.array([300.0, 400.0, 500.0])
    s1 = simulate(sc(2000), engine="analytic").survival(t)
    s2 = simulate(sc(4000), engine="analytic").survival(t)
    assert np.all((s1 > 0.01) & (s1 < 0.99))
    np.testing.assert_allclose(s2, s1 ** 2, rtol=1e-9)


# ----------------------------------------------------------------------------- likelihood and gradients
def test_loglik_gradient_matches_the_closed_derivative():
    """With nothing coupling colonies (no immune kill), Λ is proportional to the shedding rate μ, so
    d loglik/dμ = (#events − Σ Λ(t_i))/μ exactly."""
    sc = _small(immune={"kill_law": "none"})
    t = np.array([200.0, 500.0, 900.0, 1000.0])
    ev = np.array([True, False, True, False])
    g = relapse.loglik_gradient(sc, t, ev, ["shedding.rate"])["shedding.rate"]
    s, _ = relapse.relapse_free(sc, t)
    mu = sc.parameters["shedding.rate"]
    want = (ev.sum() + np.sum(np.log(s))) / mu
    assert g == pytest.approx(want, rel=1e-6)


def test_gradient_converges_at_second_order():
    sc = _small()
    t, ev = np.array([400.0, 1000.0]), np.array([True, False])
    names = ["dormancy.activation_rate", "colony.division_rate"]
    g = [relapse.loglik_gradient(sc, t, ev, names, rel_step=h) for h in (1e-2, 1e-3, 1e-4)]
    for name in names:
        d1 = abs(g[0][name] - g[2][name])
        d2 = abs(g[1][name] - g[2][name])
        assert d2 < 0.05 * d1 + 1e-9 * abs(g[2][name]), (name, g)


def test_loglik_agrees_with_the_result_methods():
    sc = _small()
    res = simulate(sc, engine="analytic")
    t, ev = np.array([300.0, 800.0]), np.array([True, False])
    assert relapse.loglik(sc, t, ev) == pytest.approx(res.loglik(t, ev), rel=1e-12)
    assert res.loglik(t, ev) == pytest.approx(np.log(res.density(300.0)) + np.log(res.survival(800.0)), rel=1e-12)


# ----------------------------------------------------------------------------- the result
def test_result_contract_and_round_trip(tmp_path):
    from seedsoil.patient import load_result
    from seedsoil.testing import check_engine

    check_engine(lambda inputs, seed, *keys: relapse.simulate_analytic(inputs))
    res = simulate(_small(), engine="analytic")
    assert isinstance(res, RelapseResult)
    assert repr(res).startswith("PatientResult(") and "analytic" in repr(res)
    assert "relapse" in res._repr_html_()
    d = res.to_store(tmp_path / "run")
    back = load_result(d)["base"]
    assert isinstance(back, RelapseResult)
    t = np.array([100.0, 500.0, 1000.0])
    np.testing.assert_array_equal(back.survival(t), res.survival(t))
    # occult lesions at surgery: Poisson with the expected number of colonies alive
    dist = res.occult_lesions_at_surgery()
    assert dist.mean() == pytest.approx(res.summary["colonies_alive_at_surgery"])
    # before surgery nothing counts; past the end nothing is known
    assert res.survival(-5.0) == 1.0 and np.isnan(res.survival(1e5))
    # the hazard is the derivative of -log S
    d = res.curve["days_after_surgery"].to_numpy()
    i = int(np.searchsorted(d, 700.0))
    x, w = 0.5 * (d[i] + d[i + 1]), 0.25 * (d[i + 1] - d[i])
    assert res.hazard(x) == pytest.approx((np.log(res.survival(x - w)) - np.log(res.survival(x + w))) / (2 * w),
                                          rel=1e-9)


def test_median_and_probability_in_summary():
    res = simulate(named_scenario("default_breast").with_overrides({"simulation.follow_up": 2500.0}),
                   engine="analytic")
    s = res.summary
    assert s["relapse_probability"] == pytest.approx(1 - float(res.survival(res.curve["days_after_surgery"].iloc[-1])))
    if math.isfinite(s["median_time_to_relapse_days"]):
        assert float(res.survival(s["median_time_to_relapse_days"])) == pytest.approx(0.5, abs=1e-9)


# ----------------------------------------------------------------------------- the cohort path
TRIAL = {
    "trial": {"name": "relapse_small", "patients": 12, "seed": 3, "chunk_size": 5, "design": "paired"},
    "surgery": {"primary_diameter": "1.5 cm"}, "simulation": {"follow_up": "3 year"},
    "population": {"parameters": {"shedding.rate": {"distribution": "lognormal", "median": "0.05 / day",
                                                    "sigma": 0.5, "truncate": ["0 / day", "1 / day"]}}},
    "arm": [{"name": "surgery only"}, {"name": "mimetic", "therapy": [{"kind": "il1b_mimetic", "start": "0 day",
                                                                        "duration": "6 month",
                                                                        "level": "5.7e-3 nM"}]}],
}


def test_cohort_curves_equal_single_patients_and_any_chunking(tmp_path):
    from seedsoil.cohort.relapse import relapse_distributions
    from seedsoil.cohort.trial import trial_from_dict

    trial = trial_from_dict(TRIAL)
    days = np.array([180.0, 365.25, 730.5, 1000.0])
    a = relapse_distributions(trial, days, workers=1)
    b = relapse_distributions(trial.with_options(chunk_size=3), days, workers=2, out=tmp_path / "rel")
    np.testing.assert_array_equal(a.survival, b.survival)
    np.testing.assert_array_equal(a.hazard, b.hazard)
    assert len(a.rows) == 24 and list(a.rows["arm"].cat.categories) == ["surgery only", "mimetic"]
    # row i is patient i of its arm, simulated alone
    row = a.rows.iloc[7]
    single = trial.simulate_patient(int(row["patient"]), str(row["arm"]), engine="analytic")
    np.testing.assert_allclose(a.survival[7], single.survival(days), rtol=1e-12)
    assert a.mean_survival("mimetic").shape == (4,)
    ll = a.loglik(365.25, True)
    assert ll.shape == (24,) and np.all(np.isfinite(ll))
    # resume: a finished run in the same folder is read back, not recomputed
    c = relapse_distributions(trial.with_options(chunk_size=3), days, workers=1, out=tmp_path / "rel", resume=True)
    np.testing.assert_array_equal(c.survival, b.survival)


def test_trial_command_with_the_analytic_engine(cli, write_toml, tmp_path):
    """`seedsoil trial --engine analytic` writes every patient's curve (resumable parts) and the
    population's curve per arm, equal to relapse_distributions on the same trial."""
    from seedsoil.cohort.relapse import relapse_distributions
    from seedsoil.cohort.trial import trial_from_dict

    path = tmp_path / "t.toml"
    path.write_text(write_toml(TRIAL))
    out = tmp_path / "out"
    res = cli("trial", str(path), "--engine", "analytic", "--workers", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "relapse-free probability (analytic engine, 12 patients)" in " ".join(res.stdout.split())
    table = pd.read_csv(out / "relapse_by_arm.csv")
    assert set(table["arm"]) == {"surgery only", "mimetic"} and (table["patients"] == 12).all()
    days = np.arange(1, 4) * YEAR  # the horizon: 3 years of follow-up
    curves = relapse_distributions(trial_from_dict(TRIAL), days, workers=1)
    want = curves.by_arm()
    np.testing.assert_allclose(table["relapse_free_probability"], want["relapse_free_probability"], rtol=1e-12)
    bad = cli("trial", str(path), "--engine", "meanfield")
    assert bad.returncode == 2 and "--engine = 'meanfield'" in bad.stderr


# ----------------------------------------------------------------------------- death (body/death.py)
def test_panjer_is_the_compound_poisson_law():
    from scipy import stats

    from seedsoil.body.death import panjer_cdf

    # unit severities: S is Poisson
    sev = np.zeros(40)
    sev[1] = 1.0
    np.testing.assert_allclose(panjer_cdf(3.7, sev, 30), stats.poisson.cdf(np.arange(31), 3.7), rtol=1e-12)
    # severities 2 and 5: against the sum over the number of terms of the n-fold convolutions
    sev = np.zeros(40)
    sev[2], sev[5] = 0.3, 0.7
    lam, top = 1.9, 30
    pmf = np.zeros(top + 1)
    conv = np.zeros(top + 1)
    conv[0] = 1.0
    for n in range(0, 40):
        pmf += stats.poisson.pmf(n, lam) * conv
        conv = np.convolve(conv, sev[: top + 1])[: top + 1]
    np.testing.assert_allclose(panjer_cdf(lam, sev, top), np.cumsum(pmf), rtol=1e-10, atol=1e-15)


def test_death_agrees_with_stochastic_patients_without_immune_coupling():
    """Without immune killing the lesions do not interact and the engine's death curve (a compound
    Poisson burden) is exact up to its grid: 1,000 stochastic patients within 3.5 SE."""
    from seedsoil.body.stochastic import summarize_stochastic
    from seedsoil.validate.cases_relapse import death_scenario

    sc = death_scenario()
    t = np.arange(1, 11) * YEAR
    s_eng = simulate(sc, engine="analytic").survival(t, endpoint="death")
    inp = build_inputs(sc)
    n = 1000
    dd = np.array([summarize_stochastic(inp, 7, i)["death_day"] for i in range(n)]) - inp.schedule.surgery_day
    s_mc = np.array([np.mean(~(dd <= x)) for x in t])
    se = np.sqrt(np.maximum(s_eng * (1 - s_eng), 1 / n) / n)
    assert s_mc[-1] < 0.9  # deaths happen
    assert np.max(np.abs(s_eng - s_mc) / se) < 3.5
