"""The Hahnfeldt 1999 tumour–vasculature law (body/vascular.py): the steady state in closed
form, the scipy trajectory against an independent solve, the kernels' step (its observed
order and its agreement with the trajectory), the law as the primary tumour (engines,
surgery timing) and the refusals where it is not available."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from seedsoil.body.model import build_inputs, colony_law, primary_law
from seedsoil.body.simulate import simulate
from seedsoil.body.vascular import (
    Hahnfeldt, VascularPrimary, inhibition_in_cells, substeps_for, vascular_step, vascular_substeps,
)
from seedsoil.errors import ScenarioError
from seedsoil.params import load_library
from seedsoil.scenario import Scenario
from seedsoil.units import sphere_cells

#: the published Lewis lung carcinoma fit, in mm³ (density 1: one "cell" per mm³)
LLC = Hahnfeldt(0.192, 5.85, 0.00873, 0.0)
#: (law, V0, K0, days): the published start; a starved and an over-vascularised start; vessel loss
CASES = [
    ("published", LLC, 180.0, 625.0, 80.0),
    ("starved", LLC, 180.0, 1.8, 80.0),
    ("over_vascularised", LLC, 180.0, 18000.0, 80.0),
    ("vessel_loss", Hahnfeldt(0.192, 5.85, 0.00873, 0.1), 180.0, 625.0, 120.0),
    ("from_one_cell", Hahnfeldt.from_volume_units(0.192, 5.85, 0.00873, 0.0, 1e5), 1.0, 3.472, 120.0),
]
IDS = [c[0] for c in CASES]


def dop853(law: Hahnfeldt, v0: float, k0: float, t: np.ndarray):
    """(V, K) by DOP853 on the original (not log) equations, rtol 1e-12: independent of the module."""
    def rhs(_t, y):
        v, k = y
        return [-law.rate_constant * v * math.log(v / k),
                -law.vascular_loss * k + law.stimulation * v - law.inhibition * k * v ** (2.0 / 3.0)]

    sol = solve_ivp(rhs, (0.0, float(t[-1])), [v0, k0], t_eval=t, method="DOP853", rtol=1e-12, atol=1e-12 * v0)
    assert sol.success, sol.message
    return sol.y[0], sol.y[1]


# ----------------------------------------------------------------------------- closed forms
def test_steady_state_is_b_over_d_to_the_three_halves():
    assert LLC.steady_state() == pytest.approx((5.85 / 0.00873) ** 1.5, rel=1e-15)
    assert LLC.steady_state() == pytest.approx(17346.52, rel=1e-6)
    law = Hahnfeldt(0.192, 5.85, 0.00873, 0.85)
    star = law.steady_state()
    assert star == pytest.approx((5.0 / 0.00873) ** 1.5, rel=1e-15)
    dv, dk = law.rhs(star, star)  # an equilibrium of the right-hand side
    assert abs(dv) < 1e-12 * star and abs(dk) < 1e-9 * star
    assert Hahnfeldt(0.192, 1.0, 0.00873, 1.0).steady_state() == 0.0
    assert Hahnfeldt(0.192, 1.0, 0.0, 0.0).steady_state() == math.inf


def test_steady_state_is_a_stable_node_and_the_trajectory_settles_there():
    slow, fast = LLC.eigenvalues()
    assert fast < slow < 0  # real and negative
    # trace and determinant of the Jacobian in (ln V, ln K): [[-λ1, λ1], [b/3, -b]] at λ2 = 0
    assert slow + fast == pytest.approx(-(0.192 + 5.85), rel=1e-14)
    assert slow * fast == pytest.approx(2 / 3 * 0.192 * 5.85, rel=1e-12)
    v, k = LLC.trajectory(180.0, 625.0, np.array([0.0, 40.0, 100.0, 300.0]))
    star = LLC.steady_state()
    assert v[-1] == pytest.approx(star, rel=1e-9) and k[-1] == pytest.approx(star, rel=1e-9)
    # the approach is at the slow rate: the distance shrinks by ~e^(slow·60) between days 40 and 100
    ratio = abs(math.log(v[2] / star)) / abs(math.log(v[1] / star))
    assert math.log(ratio) / 60.0 == pytest.approx(slow, rel=0.02)


def test_inhibition_converts_with_density_and_the_plateau_in_cells_is_rho_times_mm3():
    rho = 1e5
    law = Hahnfeldt.from_volume_units(0.192, 5.85, 0.00873, 0.0, rho)
    assert law.inhibition == pytest.approx(0.00873 * rho ** (-2 / 3), rel=1e-15)
    assert inhibition_in_cells(0.00873, 1.0) == 0.00873
    assert law.steady_state() == pytest.approx(rho * LLC.steady_state(), rel=1e-12)
    t = np.linspace(0.0, 30.0, 7)
    v_mm, k_mm = LLC.trajectory(180.0, 625.0, t)
    v_c, k_c = law.trajectory(180.0 * rho, 625.0 * rho, t)
    np.testing.assert_allclose(v_c / rho, v_mm, rtol=1e-8)
    np.testing.assert_allclose(k_c / rho, k_mm, rtol=1e-8)


def test_rhs_is_vectorised_and_matches_the_equations():
    v = np.array([1.0, 180.0, 2e4])
    k = np.array([3.0, 625.0, 1e4])
    dv, dk = LLC.rhs(v, k)
    np.testing.assert_allclose(dv, -0.192 * v * np.log(v / k), rtol=1e-15)
    np.testing.assert_allclose(dk, 5.85 * v - 0.00873 * k * v ** (2 / 3), rtol=1e-13)
    assert LLC.rhs(0.0, 5.0)[0] == 0.0


# ----------------------------------------------------------------------------- the scipy trajectory
@pytest.mark.parametrize("name, law, v0, k0, horizon", CASES, ids=IDS)
def test_trajectory_agrees_with_an_independent_solve(name, law, v0, k0, horizon):
    t = np.arange(0.0, horizon + 1.0, 1.0)
    v, k = law.trajectory(v0, k0, t)
    rv, rk = dop853(law, v0, k0, t)
    assert v[0] == v0 and k[0] == k0
    np.testing.assert_allclose(v, rv, rtol=1e-8)
    np.testing.assert_allclose(k, rk, rtol=1e-8)


def test_time_to_inverts_the_trajectory():
    for v1 in (200.0, 1e3, 1e4, 17000.0):
        day = LLC.time_to(180.0, 625.0, v1)
        assert float(LLC.trajectory(180.0, 625.0, [day])[0][0]) == pytest.approx(v1, rel=1e-8)
    assert LLC.time_to(180.0, 625.0, 180.0) == 0.0
    assert LLC.time_to(180.0, 625.0, 100.0) == 0.0
    assert LLC.time_to(0.0, 625.0, 10.0) == math.inf
    assert LLC.time_to(180.0, 625.0, 1.001 * LLC.steady_state()) == math.inf  # above the plateau
    assert Hahnfeldt(0.192, 1.0, 0.00873, 2.0).time_to(180.0, 625.0, 1e4) == math.inf  # vessels die out


# ----------------------------------------------------------------------------- the kernels' step
@pytest.mark.parametrize("dt", [1.0, 16.0])
@pytest.mark.parametrize("name, law, v0, k0, horizon", CASES, ids=IDS)
def test_vascular_step_follows_the_trajectory(name, law, v0, k0, horizon, dt):
    t = np.arange(0.0, horizon + 1e-9, dt)
    v_ref, k_ref = law.trajectory(v0, k0, t)
    v, k = v0, k0
    worst = 0.0
    for i in range(1, len(t)):
        v, k = vascular_step(v, k, dt, *law.kernel_params())
        worst = max(worst, abs(v / v_ref[i] - 1.0), abs(k / k_ref[i] - 1.0))
    assert worst < 1e-6  # measured <= 2e-7 (module docstring)


def test_vascular_substeps_is_fourth_order():
    """Richardson-extrapolated Strang splitting: the error over a fixed 4-day step falls as n^-4."""
    t = np.array([0.0, 4.0])
    for law, v0, k0 in ((LLC, 180.0, 625.0), (LLC, 180.0, 18000.0), (CASES[3][1], 180.0, 625.0)):
        rv, rk = law.trajectory(v0, k0, t)
        errs = []
        for n in (8, 16, 32, 64):
            v, k = vascular_substeps(v0, k0, 4.0, n, *law.kernel_params())
            errs.append(max(abs(math.log(v / rv[1])), abs(math.log(k / rk[1]))))
        orders = [math.log2(a / b) for a, b in zip(errs, errs[1:])]
        assert 3.5 < orders[-1] < 4.6, (errs, orders)
        assert errs[-1] < 1e-8


def test_vascular_step_keeps_the_steady_state_and_handles_the_edges():
    star = LLC.steady_state()
    v, k = vascular_step(star, star, 16.0, *LLC.kernel_params())
    assert v == pytest.approx(star, rel=1e-13) and k == pytest.approx(star, rel=1e-13)
    assert vascular_step(0.0, 50.0, 2.0, 0.192, 5.85, 0.00873, 0.1) == (0.0, pytest.approx(50.0 * math.exp(-0.2)))
    assert vascular_step(180.0, 625.0, 0.0, *LLC.kernel_params()) == (180.0, 625.0)
    v, k = vascular_step(180.0, 0.0, 1.0, *LLC.kernel_params())  # no support yet: built from b V
    rv, rk = dop853(LLC, 180.0, 1e-3, np.array([0.0, 1.0]))
    assert v == pytest.approx(rv[1], rel=1e-3) and k == pytest.approx(rk[1], rel=1e-3)
    # stable and positive at any dt, even far from equilibrium
    v, k = vascular_step(180.0, 1e-3, 100.0, *LLC.kernel_params())
    rv, rk = LLC.trajectory(180.0, 1e-3, [0.0, 100.0])
    assert v == pytest.approx(rv[1], rel=1e-6) and k == pytest.approx(rk[1], rel=1e-6)
    assert substeps_for(star, star, 1.0, *LLC.kernel_params()) == math.ceil(0.192 + 2 * 5.85)
    assert LLC.step(180.0, 625.0, 1.0) == vascular_step(180.0, 625.0, 1.0, *LLC.kernel_params())


# ----------------------------------------------------------------------------- the primary tumour
def hahnfeldt_scenario(**extra) -> Scenario:
    data = {"primary": {"law": "hahnfeldt"}, "colony": {"law": "gompertz"},
            "simulation": {"follow_up": 200.0, "dt": 1.0}}
    data.update(extra)
    return Scenario.from_dict(data)


def test_library_defaults_are_the_published_fit():
    p = load_library().defaults()
    assert (p["primary.hahnfeldt.rate_constant"], p["primary.hahnfeldt.stimulation"], p["primary.hahnfeldt.inhibition"],
            p["primary.hahnfeldt.vascular_loss"]) == (0.192, 5.85, 0.00873, 0.0)
    assert p["primary.hahnfeldt.support_ratio"] == pytest.approx(625.0 / 180.0, rel=1e-4)
    # d given in other units is converted to the library's 1/(day·mm²)
    sc = hahnfeldt_scenario(primary={"law": "hahnfeldt", "hahnfeldt": {"inhibition": "0.873 1/(day*cm^2)"}})
    assert sc.parameters["primary.hahnfeldt.inhibition"] == pytest.approx(0.00873, rel=1e-12)


def test_primary_on_the_grid_is_the_trajectory():
    sc = hahnfeldt_scenario()
    inputs = build_inputs(sc)
    law = primary_law(sc.parameters)
    assert isinstance(law, VascularPrimary) and law.name == "hahnfeldt"
    p = sc.parameters
    cells = Hahnfeldt.from_volume_units(0.192, 5.85, 0.00873, 0.0, p["cells.density"])
    v, _ = cells.trajectory(1.0, 3.472, inputs.t)
    np.testing.assert_array_equal(inputs.primary, v)
    # and agrees with the independent solve
    np.testing.assert_allclose(inputs.primary[::10], dop853(cells, 1.0, 3.472, inputs.t[::10])[0], rtol=1e-8)
    assert inputs.primary[-1] == pytest.approx(law.plateau(), rel=1e-6)


@pytest.mark.parametrize("diameter", [5.0, 20.0])
def test_surgery_at_a_diameter_happens_when_the_trajectory_reaches_it(diameter):
    sc = hahnfeldt_scenario(surgery={"primary_diameter": diameter})
    inputs = build_inputs(sc)
    target = sphere_cells(diameter, sc.parameters["cells.density"])
    day = inputs.schedule.surgery_day
    law = inputs.primary_law
    assert float(law.solution(1.0, [day])[0]) == pytest.approx(target, rel=1e-8)
    assert float(law.solution(1.0, [day - 0.01])[0]) < target  # the first time it gets there
    before = inputs.t < day
    assert np.all(inputs.primary[before] < target) and np.all(inputs.primary[~before] == 0.0)


def test_surgery_above_the_plateau_is_refused():
    sc = hahnfeldt_scenario(surgery={"primary_diameter": 40.0})  # 3.4e9 cells > the 1.7e9 plateau
    with pytest.raises(ScenarioError, match=r"primary_diameter = 40 mm: the primary \(hahnfeldt") as exc:
        build_inputs(sc)
    assert exc.value.field == "surgery.primary_diameter"


def test_the_engines_run_with_a_hahnfeldt_primary():
    sc = hahnfeldt_scenario(surgery={"primary_diameter": 15.0}, simulation={"follow_up": 200.0, "dt": 1.0})
    res = simulate(sc, seed=12345, engine="stochastic")
    ts = res.timeseries
    inputs = build_inputs(sc)
    np.testing.assert_allclose(ts["primary_cells"].to_numpy(), np.interp(ts["day"], inputs.t, inputs.primary))
    assert res.summary["surgery_day"] == pytest.approx(inputs.schedule.surgery_day)
    assert ts["primary_cells"].max() > 0
    again = simulate(sc, seed=12345, engine="stochastic")
    np.testing.assert_equal(again.summary, res.summary)  # seeded (NaN == NaN here)
    for engine in ("meanfield", "analytic"):
        assert simulate(sc, engine=engine).summary["surgery_day"] == pytest.approx(inputs.schedule.surgery_day)


# ----------------------------------------------------------------------------- refusals
def test_colonies_refuse_the_vascular_law():
    sc = Scenario.from_dict({"primary": {"law": "hahnfeldt"}})  # colony.law defaults to same_as_primary
    with pytest.raises(ScenarioError, match=r"colony.law = 'same_as_primary' with primary.law = 'hahnfeldt'") as exc:
        build_inputs(sc)
    assert exc.value.field == "colony.law"
    with pytest.raises(ScenarioError, match=r"colony.law = 'hahnfeldt': must be one of") as exc:
        Scenario.from_dict({"colony": {"law": "hahnfeldt"}})
    assert exc.value.field == "colony.law"
    # a parameter mapping that bypassed the library is refused when the colony law is built
    p = dict(sc.parameters)
    p["colony.law"] = "hahnfeldt"
    with pytest.raises(ScenarioError, match=r"colonies cannot follow the hahnfeldt") as exc:
        colony_law(p)
    assert exc.value.field == "colony.law"


def test_parameters_are_checked():
    with pytest.raises(ScenarioError, match=r"primary.hahnfeldt.support_ratio = 0.0: out of range"):
        hahnfeldt_scenario(primary={"law": "hahnfeldt", "hahnfeldt": {"support_ratio": 0.0}})
    with pytest.raises(ValueError, match="rate_constant"):
        Hahnfeldt(0.0, 5.85, 0.00873)
    with pytest.raises(ValueError, match="support_ratio"):
        VascularPrimary(LLC, -1.0)
