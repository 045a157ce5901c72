"""The pharmacology package: closed forms against an independent ODE integration,
superposition, steady-state identities, the ka → k limit, presets against their
labels, PD identities and the errors a user sees."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from seedsoil.body import hooks
from seedsoil.errors import ScenarioError
from seedsoil.pharm import (
    CompetitiveAntagonist,
    FirstOrderAbsorption,
    HillInhibition,
    OneCompartment,
    Schedule,
    TwoCompartment,
    mg_per_L_to_nM,
    preset,
    presets,
    steady_state_extremes,
    steady_state_profile,
    superpose,
    unit_response,
)
from seedsoil.pharm.presets import pharm_library

REPO_ROOT = Path(__file__).resolve().parents[1]

ONE = OneCompartment.from_half_life(72.0, 0.125)  # ruxolitinib-like: 72 L, 3 h
TWO = TwoCompartment(20.0, 50.0, 300.0, 150.0)  # distinct alpha and beta phases
ORAL = FirstOrderAbsorption(64.0, 0.95)
ORAL_LAG = FirstOrderAbsorption(30.0, 0.8, lag_days=0.02)


# ----------------------------------------------------------------------------- reference ODE
def _ode_rates(model):
    """(k10, k12, k21, V1) of a model, written out independently of the closed forms."""
    if isinstance(model, OneCompartment):
        return model.clearance_L_per_day / model.volume_L, 0.0, 0.0, model.volume_L
    v1, v2 = model.central_volume_L, model.peripheral_volume_L
    q = model.intercompartmental_clearance_L_per_day
    return model.clearance_L_per_day / v1, q / v1, q / v2, v1


def ode_concentration(model, times, dose_times, dose_mg, *, absorption=None, infusion_days=0.0):
    """Plasma concentration (mg/L) by integrating depot/central/peripheral amounts (mg)
    with LSODA between dosing events (bolus doses as jumps, infusions as constant inputs)."""
    k10, k12, k21, v1 = _ode_rates(model)
    ka = absorption.rate_per_day if absorption else 0.0
    f = absorption.bioavailability if absorption else 1.0
    lag = absorption.lag_days if absorption else 0.0
    starts = np.asarray(dose_times, float) + lag
    doses = np.broadcast_to(np.asarray(dose_mg, float), starts.shape)
    events = sorted(set(starts) | set(starts + infusion_days) | {0.0, float(np.max(times))})
    into_depot = absorption is not None

    def rate_in(t):
        if infusion_days <= 0:
            return 0.0
        on = (starts <= t) & (t < starts + infusion_days)
        return float(np.sum(doses[on])) / infusion_days

    def rhs(t, y):
        depot, a1, a2 = y
        r = rate_in(t)
        d_depot = (f * r if into_depot else 0.0) - ka * depot
        d_a1 = (0.0 if into_depot else r) + ka * depot - (k10 + k12) * a1 + k21 * a2
        return [d_depot, d_a1, k12 * a1 - k21 * a2]

    y = np.zeros(3)
    out = np.zeros(len(times))
    times = np.asarray(times, float)
    t_prev = min(events[0], float(np.min(times)))
    for t_next in [e for e in events if e > t_prev] + [np.inf]:
        if infusion_days <= 0:  # bolus doses at t_prev
            hit = np.isclose(starts, t_prev, rtol=0, atol=1e-14)
            y[0 if into_depot else 1] += float(np.sum(doses[hit])) * (f if into_depot else 1.0)
        upper = float(np.max(times)) if np.isinf(t_next) else t_next
        mask = (times >= t_prev) & (times < t_next) if not np.isinf(t_next) else times >= t_prev
        if upper > t_prev:
            sol = solve_ivp(rhs, (t_prev, upper), y, method="LSODA", rtol=1e-11, atol=1e-15, dense_output=True,
                            first_step=1e-8)
            assert sol.success
            if mask.any():
                out[mask] = sol.sol(times[mask])[1] / v1
            y = sol.y[:, -1]
        elif mask.any():
            out[mask] = y[1] / v1
        if np.isinf(t_next):
            break
        t_prev = t_next
    return out


CASES = [
    ("one, bolus", ONE, None, 0.0),
    ("one, oral", ONE, ORAL, 0.0),
    ("one, oral with lag", ONE, ORAL_LAG, 0.0),
    ("one, infusion", ONE, None, 0.05),
    ("one, infusion into depot", ONE, FirstOrderAbsorption(20.0), 0.03),
    ("two, bolus", TWO, None, 0.0),
    ("two, oral", TWO, ORAL, 0.0),
    ("two, infusion", TWO, None, 0.1),
    ("two, infusion into depot", TWO, ORAL_LAG, 0.1),
]


@pytest.mark.parametrize("label, model, absorption, infusion", CASES, ids=[c[0] for c in CASES])
def test_closed_forms_match_an_ode_integration(label, model, absorption, infusion):
    dose_times = np.array([0.0, 0.5, 1.0, 1.5])
    times = np.concatenate([np.linspace(0.0, 3.0, 241)[1:], [0.013, 0.49, 0.51, 1.02]])
    got = superpose(model, times, dose_times, 20.0, absorption=absorption, infusion_days=infusion)
    ref = ode_concentration(model, times, dose_times, 20.0, absorption=absorption, infusion_days=infusion)
    scale = float(np.max(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("label, model, absorption, infusion", CASES, ids=[c[0] for c in CASES])
def test_a_schedule_is_the_sum_of_its_single_doses(label, model, absorption, infusion):
    dose_times = np.array([0.0, 0.3, 0.7, 2.0, 2.05])
    doses = np.array([10.0, 5.0, 20.0, 1.0, 3.0])
    times = np.linspace(-0.5, 6.0, 500)
    together = superpose(model, times, dose_times, doses, absorption=absorption, infusion_days=infusion)
    apart = sum(d * unit_response(model, times - t0, absorption=absorption, infusion_days=infusion)
                for t0, d in zip(dose_times, doses))
    np.testing.assert_allclose(together, apart, rtol=1e-12, atol=1e-15)
    assert np.all(together[times < dose_times[0] + (absorption.lag_days if absorption else 0.0)] == 0.0)


def test_many_doses_use_only_a_window_but_lose_nothing():
    """With 2000 doses the windowed sum equals the full sum over all doses."""
    dose_times = np.arange(2000) * 0.5
    times = np.array([0.1, 500.25, 999.9, 1003.0])
    got = superpose(ONE, times, dose_times, 20.0, absorption=ORAL)
    full = np.array([20.0 * unit_response(ONE, t - dose_times, absorption=ORAL).sum() for t in times])
    np.testing.assert_allclose(got, full, rtol=1e-13)


# ----------------------------------------------------------------------------- identities
def test_two_compartment_constants():
    k10, k12, k21 = TWO.micro_constants()
    alpha, beta = TWO.hybrid_rates()
    assert alpha > beta > 0
    assert alpha + beta == pytest.approx(k10 + k12 + k21, rel=1e-14)
    assert alpha * beta == pytest.approx(k10 * k21, rel=1e-14)
    coef, _ = TWO.disposition()
    assert coef.sum() == pytest.approx(1.0 / TWO.central_volume_L, rel=1e-14)  # C(0) = D/V1
    # AUC of a bolus = D / CL
    auc = sum(c / r for c, r in zip(*TWO.disposition()))
    assert auc == pytest.approx(1.0 / TWO.clearance_L_per_day, rel=1e-13)


@pytest.mark.parametrize("model, absorption, infusion", [
    (ONE, ORAL, 0.0), (ONE, None, 0.0), (TWO, ORAL_LAG, 0.0), (TWO, None, 0.1), (ONE, ORAL, 0.2)])
def test_steady_state_auc_over_one_interval_is_F_dose_over_CL(model, absorption, infusion):
    tau, dose = 0.5, 20.0
    f = absorption.bioavailability if absorption else 1.0
    auc, _ = quad(lambda s: float(steady_state_profile(model, np.array([s]), dose, tau, absorption=absorption,
                                                        infusion_days=infusion)[0]),
                  0.0, tau, limit=400, epsabs=0, epsrel=1e-11, points=[infusion, 0.02] if infusion else [0.02])
    assert auc == pytest.approx(f * dose / model.clearance_L_per_day, rel=1e-8)
    assert model.steady_state_cavg(dose, tau, f) == pytest.approx(auc / tau, rel=1e-8)


def test_accumulation_ratio_one_compartment_bolus():
    """For an IV bolus every concentration at steady state is 1/(1 − e^{-kτ}) times the
    concentration at the same time after the first dose."""
    tau = 0.5
    k = ONE.elimination_rate_per_day
    r = ONE.accumulation_ratio(tau)
    assert r == pytest.approx(1.0 / (1.0 - math.exp(-k * tau)), rel=1e-15)
    assert r == pytest.approx(1.0 / (1.0 - 2.0 ** -4), rel=1e-12)  # τ = 4 half-lives
    s = np.array([0.0, 0.1, 0.3, 0.49])
    ss = steady_state_profile(ONE, s, 20.0, tau)
    first = 20.0 * unit_response(ONE, s)
    np.testing.assert_allclose(ss / first, r, rtol=1e-12)
    # and superposing 60 doses reaches it
    many = superpose(ONE, 59 * tau + s, np.arange(60) * tau, 20.0)
    np.testing.assert_allclose(many, ss, rtol=1e-12)


def test_steady_state_extremes_one_compartment_closed_forms():
    tau, dose = 0.5, 20.0
    k, v = ONE.elimination_rate_per_day, ONE.volume_L
    cmin, cmax = steady_state_extremes(ONE, dose, tau)
    assert cmax == pytest.approx(dose / v / (1 - math.exp(-k * tau)), rel=1e-12)
    assert cmin == pytest.approx(cmax * math.exp(-k * tau), rel=1e-12)
    # oral: the steady-state peak time ln[ka (1 − e^{-kτ}) / (k (1 − e^{-ka τ}))] / (ka − k)
    ka, f = ORAL.rate_per_day, ORAL.bioavailability
    t_ss = math.log(ka * (1 - math.exp(-k * tau)) / (k * (1 - math.exp(-ka * tau)))) / (ka - k)

    def c_ss(t):
        return f * dose * ka / (v * (ka - k)) * (math.exp(-k * t) / (1 - math.exp(-k * tau))
                                                 - math.exp(-ka * t) / (1 - math.exp(-ka * tau)))

    assert ONE.steady_state_cmax(dose, tau, absorption=ORAL) == pytest.approx(c_ss(t_ss), rel=1e-10)
    assert ONE.steady_state_cmin(dose, tau, absorption=ORAL) == pytest.approx(
        min(c_ss(0.0), c_ss(tau)), rel=1e-10)


def test_half_life_measured_from_the_curve():
    """Terminal log-linear slope of a single oral dose of the ruxolitinib-like model."""
    t = np.array([0.5, 0.75, 1.0])  # 12-24 h, absorption long over (ka/k ≈ 11.5)
    c = superpose(ONE, t, [0.0], 20.0, absorption=ORAL)
    slope = np.polyfit(t, np.log(c), 1)[0]
    assert math.log(2) / -slope == pytest.approx(ONE.half_life(), rel=1e-9)
    assert ONE.half_life() == pytest.approx(0.125, rel=1e-14)
    # two compartments: the terminal phase is beta
    t2 = np.array([2.0, 2.5, 3.0])
    c2 = superpose(TWO, t2, [0.0], 20.0)
    slope2 = np.polyfit(t2, np.log(c2), 1)[0]
    assert -slope2 == pytest.approx(TWO.hybrid_rates()[1], rel=1e-9)


def test_tmax_analytic_matches_the_curve():
    from seedsoil.pharm import single_dose_peak

    for absorption in (ORAL, ORAL_LAG, FirstOrderAbsorption(ONE.elimination_rate_per_day)):
        t_num, _ = single_dose_peak(ONE, absorption)
        assert ONE.tmax(absorption) == pytest.approx(t_num, rel=1e-6)


def _phi(a: float, b: float, s: np.ndarray) -> np.ndarray:
    """(e^{-bs} − e^{-as})/(a − b), evaluated without cancellation for any a, b:
    e^{-min(a,b) s} · s · (1 − e^{-|a−b| s}) / (|a−b| s)."""
    d = abs(a - b) * s
    g = np.where(d > 0, -np.expm1(-d) / np.where(d > 0, d, 1.0), 1.0)
    return np.exp(-min(a, b) * s) * s * g


@pytest.mark.parametrize("rel", [0.0, 1e-12, 1e-8, 9e-6, 1.1e-5, 1e-4, 1e-2, -1e-9, -2e-5, -0.3])
def test_ka_to_k_limit_is_continuous(rel):
    """Near and at ka = k the closed form agrees with the cancellation-free form of the
    same function (the degenerate switch costs < 1e-9 relative)."""
    k = ONE.elimination_rate_per_day
    ka = k * (1.0 + rel)
    ab = FirstOrderAbsorption(ka, 0.9)
    s = np.linspace(0.0, 3.0, 301)
    got = unit_response(ONE, s, absorption=ab)
    ref = 0.9 * ka / ONE.volume_L * _phi(ka, k, s)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * ref.max())


# ----------------------------------------------------------------------------- presets
def test_every_preset_builds_and_every_number_has_a_source():
    lib = pharm_library()
    assert set(presets()) == {"ruxolitinib", "y27632", "fasudil", "anakinra"}
    for name in lib:
        assert lib[name].source.strip(), name
    for name in presets():
        d = preset(name)
        assert d.sources and d.targets
        t = np.linspace(0.0, 3.0, 50)
        if d.usual_dose_mg is not None:
            c = d.concentration(t, d.usual_schedule(n_doses=4))
            assert np.all(np.isfinite(c)) and c.max() > 0


def test_ruxolitinib_matches_its_label():
    """Jakafi label: Cmax 205-7100 nM over 5-200 mg, Tmax 1-2 h, t½ ~3 h, F ≥ 95 %, 97 % bound."""
    rux = preset("ruxolitinib")
    t = np.linspace(0.0, 0.5, 5001)
    cmax = {d: rux.concentration(t, Schedule(d, 1.0, n_doses=1)).max() for d in (5.0, 25.0, 100.0, 200.0)}
    assert cmax[5.0] == pytest.approx(205.0, rel=0.3)
    assert cmax[200.0] == pytest.approx(7100.0, rel=0.3)
    assert cmax[200.0] / cmax[5.0] == pytest.approx(40.0, rel=1e-3)  # linear
    assert 1.0 / 24 <= rux.pk.tmax(rux.routes["oral"]) <= 2.0 / 24
    assert rux.pk.half_life() * 24 == pytest.approx(3.0)
    free = rux.concentration(t, Schedule(20.0, 1.0, n_doses=1), unbound=True)
    total = rux.concentration(t, Schedule(20.0, 1.0, n_doses=1))
    np.testing.assert_allclose(free, 0.03 * total)
    # the whole-blood pSTAT3 IC50 refers to total drug: the same inhibition either way
    c = 500.0
    assert rux.activity("pSTAT3_whole_blood", c * 0.03) == pytest.approx(
        rux.activity("pSTAT3_whole_blood", c, unbound=False))
    assert rux.activity("pSTAT3_whole_blood", 282.0, unbound=False) == pytest.approx(0.5)


def test_fasudil_reproduces_its_calibration_point():
    """The apparent volume was set so that 60 mg over 60 min leaves 0.077 µM hydroxyfasudil at 12 h."""
    fas = preset("fasudil")
    assert fas.analyte == "hydroxyfasudil"
    c = fas.concentration(np.array([0.5]), Schedule(60.0, 1.0, n_doses=1, route="iv_infusion", infusion_days=1 / 24))
    assert c[0] == pytest.approx(77.0, rel=0.01)


def test_anakinra_blocks_il1_competitively():
    ana = preset("anakinra")
    law = ana.targets["IL1R1"]
    assert isinstance(law, CompetitiveAntagonist) and law.agonist == "IL-1beta"
    c_ss = ana.concentration(np.linspace(30.0, 31.0, 200), ana.usual_schedule(n_doses=40), unbound=True)
    assert c_ss.min() > 10 * law.ki_nM  # 100 mg daily keeps the receptor blocked
    assert np.all(law.activity(c_ss) < 0.1)


def test_preset_overrides_and_unknown_presets():
    slow = preset("ruxolitinib", {"drug.ruxolitinib.half_life": "6 h"})
    assert slow.pk.half_life() == pytest.approx(0.25)
    with pytest.raises(ScenarioError, match="did you mean 'ruxolitinib'"):
        preset("ruxolitnib")
    with pytest.raises(ScenarioError, match="unknown parameter"):
        preset("ruxolitinib", {"drug.ruxolitinib.halflife": 1.0})


def test_exposure_is_the_body_engine_hook():
    rux = preset("ruxolitinib")
    dosing = hooks.Dosing("ruxolitinib", 20.0, 0.5, 10.0, 40.0)
    sched = Schedule.from_dosing(dosing)
    np.testing.assert_array_equal(sched.dose_times(), dosing.dose_times())
    t = np.linspace(0.0, 50.0, 1001)
    np.testing.assert_allclose(rux.exposure(t, dosing), rux.concentration(t, sched, unbound=True))
    from seedsoil.coupling import default_drugs
    from seedsoil.coupling.effects import exposures

    got = exposures(t, [dosing], default_drugs())["ruxolitinib"]
    np.testing.assert_allclose(got, rux.exposure(t, dosing))


def test_unit_conversion():
    assert float(mg_per_L_to_nM(1.0, 306.37)) == pytest.approx(1e6 / 306.37)  # 1 mg/L = 3264 nM


# ----------------------------------------------------------------------------- PD
def test_hill_identities():
    law = HillInhibition("JAK1", 3.3, hill=1.7)
    c = np.array([0.0, 0.1, 3.3, 10.0, 1e6, 1e300])
    np.testing.assert_allclose(law.activity(c) + law.fraction_inhibited(c), 1.0, rtol=1e-15)
    assert float(law.fraction_inhibited(3.3)) == pytest.approx(0.5)
    assert float(law.activity(0.0)) == 1.0 and float(law.fraction_inhibited(0.0)) == 0.0
    assert np.all(np.diff(law.fraction_inhibited(c)) >= 0)
    np.testing.assert_allclose(law.fraction_inhibited(law.concentration_for([0.1, 0.5, 0.9])), [0.1, 0.5, 0.9])
    x = 5.0
    assert float(law.fraction_inhibited(x)) == pytest.approx(x ** 1.7 / (x ** 1.7 + 3.3 ** 1.7), rel=1e-14)
    # IC90/IC10 = 81^(1/h): steeper curves for larger h
    ic10, ic90 = law.concentration_for([0.1, 0.9])
    assert ic90 / ic10 == pytest.approx(81 ** (1 / 1.7))


def test_competitive_antagonist_shifts_the_agonist_curve():
    law = CompetitiveAntagonist("IL1R1", "IL-1beta", agonist_kd_nM=0.1, ki_nM=0.15, agonist_nM=0.01)
    b = np.array([0.0, 0.15, 1.5, 150.0])
    assert float(law.activity(0.0)) == 1.0
    shift = law.ec50_shift(b)
    np.testing.assert_allclose(shift, 1 + b / 0.15)
    a = np.array([0.001, 0.1, 10.0])
    for bi, si in zip(b, shift):  # raising the agonist by the shift factor restores occupancy
        np.testing.assert_allclose(law.occupancy(a * si, bi), law.occupancy(a, 0.0), rtol=1e-14)
    # surmountable: enough agonist overcomes any antagonist
    assert float(law.occupancy(1e9, 150.0)) == pytest.approx(1.0, abs=1e-6)
    # at low agonist, antagonist at Ki halves the signal
    assert float(law.activity(0.15, agonist_nM=1e-9)) == pytest.approx(0.5, rel=1e-6)
    np.testing.assert_allclose(law.fraction_inhibited(b) + law.activity(b), 1.0)


# ----------------------------------------------------------------------------- schedules and errors
def test_schedule_parse_and_dose_times():
    s = Schedule.parse(dose="20 mg", every="12 h", duration="2 day", start="1 day")
    assert (s.dose_mg, s.interval_days, s.start_day, s.stop_day) == (20.0, 0.5, 1.0, 3.0)
    np.testing.assert_allclose(s.dose_times(), [1.0, 1.5, 2.0, 2.5])  # stop is exclusive
    assert Schedule.parse(dose="0.03 g", every=1, n_doses=3).count == 3
    inf = Schedule.parse(dose="30 mg", every="8 h", n_doses=2, route="iv_infusion", infusion="30 min")
    assert inf.infusion_days == pytest.approx(1 / 48)


@pytest.mark.parametrize("kwargs, field, words", [
    (dict(dose_mg=-5.0, interval_days=1.0, n_doses=2), "schedule.dose_mg", "allowed (0, inf) mg"),
    (dict(dose_mg=5.0, interval_days=0.0, n_doses=2), "schedule.interval_days", "allowed (0, inf) day"),
    (dict(dose_mg=5.0, interval_days=1.0, n_doses=2, route="oarl"), "schedule.route", "did you mean 'oral'"),
    (dict(dose_mg=5.0, interval_days=1.0, n_doses=2, route="iv_infusion"), "schedule.infusion_days", "duration"),
    (dict(dose_mg=5.0, interval_days=1.0, n_doses=2, route="iv_infusion", infusion_days=2.0),
     "schedule.infusion_days", "at most the interval"),
    (dict(dose_mg=5.0, interval_days=1.0, n_doses=2, infusion_days=0.1), "schedule.infusion_days", "only an"),
    (dict(dose_mg=5.0, interval_days=1.0), "schedule.stop_day", "exactly one"),
    (dict(dose_mg=5.0, interval_days=1.0, start_day=3.0, stop_day=2.0), "schedule.stop_day", "after start_day"),
    (dict(dose_mg=5.0, interval_days=1.0, n_doses=0), "schedule.n_doses", ">= 1"),
    (dict(dose_mg=float("nan"), interval_days=1.0, n_doses=1), "schedule.dose_mg", "finite"),
    (dict(dose_mg="20 mg", interval_days=1.0, n_doses=1), "schedule.dose_mg", "Schedule.parse"),
])
def test_bad_schedules_name_field_value_and_range(kwargs, field, words):
    with pytest.raises(ScenarioError) as info:
        Schedule(**kwargs)
    assert info.value.field == field
    assert words in str(info.value)
    assert str(info.value).startswith("schedule")


def test_bad_units_in_parse_name_the_field():
    with pytest.raises(ScenarioError) as info:
        Schedule.parse(dose="20 h", every="12 h", n_doses=1)
    assert info.value.field == "schedule.dose" and "mg" in str(info.value)


def test_a_drug_without_the_route_says_which_it_has():
    y = preset("y27632")
    with pytest.raises(ScenarioError, match="no oral form"):
        y.concentration([1.0], Schedule(1.0, 1.0, n_doses=1))
    with pytest.raises(KeyError, match="did you mean 'ROCK"):
        y.activity("ROCK3", 1.0)


# ----------------------------------------------------------------------------- docs
def test_pharmacology_doc_examples_run(tmp_path, monkeypatch):
    text = (REPO_ROOT / "docs" / "pharmacology.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert blocks
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for i, body in enumerate(blocks):
        exec(compile(body, f"docs/pharmacology.md[python block {i}]", "exec"), ns)
    # every preset is in the default drug library scenarios are validated with
    from seedsoil.coupling import default_drugs

    assert all(d in default_drugs() for d in presets())


def test_pharmacology_doc_table_shows_the_library_values():
    text = (REPO_ROOT / "docs" / "pharmacology.md").read_text(encoding="utf-8")
    lib = pharm_library()
    for key in ("drug.ruxolitinib.volume", "drug.anakinra.clearance", "drug.fasudil.volume",
                "drug.y27632.target.ROCK1.ic50", "drug.ruxolitinib.target.JAK1.ic50"):
        assert f"{lib[key].value:g}" in text, key
