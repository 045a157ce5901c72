"""Growth laws (body/growth.py): closed forms against the ODE, inverses, the numba
kernels of body/_kernels.py, and Iwata's Gompertz curve."""
from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from seedsoil.body import _kernels as K
from seedsoil.body.growth import (
    EXPONENTIAL, GOMPERTZ, LAWS, LOGISTIC, POWER_LAW, Exponential, Gompertz, Logistic, PowerLaw, make_law,
)

#: (id, law, initial size, horizon in days): growth, saturation, decline, von Bertalanffy
CASES = [
    ("exponential", Exponential(0.0134), 1.0, 1500.0),
    ("exponential_fast", Exponential(0.7), 5.0, 30.0),
    ("logistic", Logistic(0.0134, 1e12), 1.0, 4000.0),
    ("logistic_saturating", Logistic(0.3, 1e6), 10.0, 100.0),
    ("logistic_above_capacity", Logistic(0.05, 1e6), 5e6, 200.0),
    ("gompertz", Gompertz(0.00172, 1e12), 1.0, 5000.0),
    ("gompertz_iwata", Gompertz(0.00286, 7.3e10), 1.0, 3000.0),
    ("gompertz_above_capacity", Gompertz(0.01, 1e6), 1e7, 500.0),
    ("power_law", PowerLaw(274.6, 0.5, 0.0), 1.0, 3000.0),
    ("power_law_two_thirds", PowerLaw(2.0, 2 / 3, 0.0), 100.0, 1000.0),
    ("von_bertalanffy", PowerLaw(50.0, 0.75, 0.05), 10.0, 1000.0),
    ("von_bertalanffy_shrinking", PowerLaw(1.0, 0.5, 0.2), 1e4, 60.0),
]
IDS = [c[0] for c in CASES]


def _ode(law, x0: float, t: np.ndarray) -> np.ndarray:
    """Numerical solution of dx/dt = g(x), integrated in log-size for uniform relative accuracy."""
    def rhs(_t, y):
        return [float(law.per_capita(math.exp(y[0])))]

    sol = solve_ivp(rhs, (0.0, float(t[-1])), [math.log(x0)], t_eval=t, method="DOP853", rtol=1e-13, atol=1e-13)
    assert sol.success, sol.message
    return np.exp(sol.y[0])


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_closed_form_solves_the_ode(name, law, x0, horizon):
    t = np.linspace(0.0, horizon, 41)
    exact = law.solution(x0, t)
    assert exact[0] == pytest.approx(x0, rel=1e-12)
    np.testing.assert_allclose(_ode(law, x0, t), exact, rtol=1e-9)


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_closed_form_satisfies_the_ode_pointwise(name, law, x0, horizon):
    # d/dt x(t) by a central difference equals g(x(t))
    t = np.linspace(0.1 * horizon, 0.9 * horizon, 9)
    h = 1e-6 * horizon
    x = law.solution(x0, t)
    deriv = (law.solution(x0, t + h) - law.solution(x0, t - h)) / (2 * h)
    roundoff = 100 * np.finfo(float).eps * x / h  # cancellation where the curve is flat
    assert np.all(np.abs(deriv - law.rate(x)) <= 1e-7 * np.abs(law.rate(x)) + roundoff)


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_time_to_inverts_solution(name, law, x0, horizon):
    for t in np.linspace(0.05 * horizon, horizon, 8):
        x1 = float(law.solution(x0, t))
        if x1 <= x0:  # a shrinking tumour never "reaches" a smaller size: time_to is 0
            assert law.time_to(x0, x1) == 0.0
            continue
        back = law.time_to(x0, x1)
        assert float(law.solution(x0, back)) == pytest.approx(x1, rel=1e-9)
        # the inverse is ill-conditioned near a plateau: allow the error a size error of 1e-12 makes
        slack = 1e-12 * x1 / abs(float(law.rate(x1)))
        assert abs(back - t) <= 1e-9 * t + slack, (t, x1, back)


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_time_to_edge_cases(name, law, x0, horizon):
    assert law.time_to(x0, x0) == 0.0
    assert law.time_to(x0, 0.5 * x0) == 0.0
    plateau = {"logistic": "carrying_capacity", "gompertz": "carrying_capacity"}.get(law.name)
    if plateau is not None:
        cap = getattr(law, plateau)
        if x0 < cap:
            assert law.time_to(x0, cap) == math.inf
            assert law.time_to(x0, 2 * cap) == math.inf
    if isinstance(law, PowerLaw) and law.loss_rate > 0:
        top = (law.coefficient / law.loss_rate) ** (1 / (1 - law.exponent))
        if x0 < top:
            assert law.time_to(x0, 1.01 * top) == math.inf


@pytest.mark.parametrize("law", [
    pytest.param(Exponential(0.0134)),
    Logistic(0.0134, 1e12),
    Gompertz(0.00172, 1e12),
    pytest.param(PowerLaw(274.6, 0.5, 0.0)),
], ids=["exponential", "logistic", "gompertz", "power_law"])
def test_time_to_from_zero_cells_is_never(law):
    # solution(0, t) == 0 for every law, so a size above 0 is never reached
    assert np.all(law.solution(0.0, np.array([0.0, 10.0, 1e4])) == 0.0)
    assert law.time_to(0.0, 1e8) == math.inf


# ----------------------------------------------------------------------------- numba kernels
SIZES = [1.0, 2.0, 63.0, 1e3, 1e4, 3.3e6, 4.2e8, 1e11]
STEPS = [1e-3, 0.25, 1.0, 7.0, 30.0]


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_kernel_codes_and_parameter_vectors(name, law, x0, horizon):
    assert law.code in (EXPONENTIAL, LOGISTIC, GOMPERTZ, POWER_LAW)
    lp = law.as_array()
    assert lp.dtype == np.float64 and lp.shape == (4,)
    assert list(lp[: len(fields(law))]) == [float(getattr(law, f.name)) for f in fields(law)]
    assert LAWS[law.name] is type(law)
    assert make_law(law.name, law.parameters()) == law


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_kernel_per_capita_agrees_with_python(name, law, x0, horizon):
    lp = law.as_array()
    for x in SIZES + [x0]:
        want = float(law.per_capita(x))
        got = K.law_per_capita(law.code, lp, x)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-300), x


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_kernel_advance_agrees_with_solution(name, law, x0, horizon):
    lp = law.as_array()
    for x in SIZES + [x0]:
        for dt in STEPS:
            want = float(law.solution(x, dt))
            got = K.law_advance(law.code, lp, x, dt)
            assert got == pytest.approx(want, rel=1e-12), (x, dt)
    assert K.law_advance(law.code, lp, 0.0, 1.0) == 0.0


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_kernel_advance_in_steps_equals_one_long_advance(name, law, x0, horizon):
    lp = law.as_array()
    n = 200
    x = x0
    for _ in range(n):
        x = K.law_advance(law.code, lp, x, horizon / n)
    assert x == pytest.approx(float(law.solution(x0, horizon)), rel=1e-9)


@settings(deadline=None, max_examples=50)
@given(case=st.sampled_from(CASES), x=st.floats(1.0, 1e11), dt=st.floats(1e-3, 60.0))
def test_kernels_agree_with_python_for_random_sizes_and_steps(case, x, dt):
    _, law, _, _ = case
    lp = law.as_array()
    assert K.law_per_capita(law.code, lp, x) == pytest.approx(float(law.per_capita(x)), rel=1e-12, abs=1e-300)
    assert K.law_advance(law.code, lp, x, dt) == pytest.approx(float(law.solution(x, dt)), rel=1e-12)


# ----------------------------------------------------------------------------- Iwata 2000
IWATA_A, IWATA_B = 0.00286, 7.3e10


@pytest.mark.parametrize("t", [0.0, 1.0, 30.0, 100.0, 365.0, 1000.0, 2000.0, 5000.0])
def test_gompertz_reproduces_iwata_primary(t):
    """Iwata, Kawasaki, Shigesada 2000 (J Theor Biol 203:177): x_p(t) = b^(1 - exp(-a t))."""
    law = Gompertz(IWATA_A, IWATA_B)
    want = IWATA_B ** (1.0 - math.exp(-IWATA_A * t))
    assert float(law.solution(1.0, t)) == pytest.approx(want, rel=1e-12)
    assert K.law_advance(GOMPERTZ, law.as_array(), 1.0, t) == pytest.approx(want, rel=1e-12)
    if t > 0:
        assert law.time_to(1.0, want) == pytest.approx(t, rel=1e-9)


def test_iwata_growth_rate():
    law = Gompertz(IWATA_A, IWATA_B)
    x = np.array([1.0, 1e5, 1e9, 7e10])
    np.testing.assert_allclose(law.rate(x), IWATA_A * x * np.log(IWATA_B / x), rtol=1e-14)
    assert float(law.rate(IWATA_B)) == pytest.approx(0.0, abs=1e-6)
