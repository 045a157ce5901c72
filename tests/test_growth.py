"""Growth laws (body/growth.py): closed forms against the ODE, inverses, the compiled
(kernel) side against the NumPy side, the conformance check ``check_growth_law`` on every
law (and that it fails for broken ones), and Iwata's Gompertz curve."""
from __future__ import annotations

import math
import pickle
import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from seedsoil.body import growth
from seedsoil.body.growth import (
    LAWS, Exponential, Gompertz, GrowthLaw, Logistic, PowerLaw, kernel_rate, kernel_solution, kernel_time_to,
    make_law,
)
from seedsoil.errors import ScenarioError
from seedsoil.testing import check_growth_law, modules_loaded_by

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
        return [float(law.rate(math.exp(y[0])))]

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
    assert np.all(np.abs(deriv - law.growth(x)) <= 1e-7 * np.abs(law.growth(x)) + roundoff)


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
        slack = 1e-12 * x1 / abs(float(law.growth(x1)))
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


# ----------------------------------------------------------------------------- compiled (kernel) side
SIZES = [1.0, 2.0, 63.0, 1e3, 1e4, 3.3e6, 4.2e8, 1e11]
STEPS = [1e-3, 0.25, 1.0, 7.0, 30.0]


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_kernel_params_and_parameters_round_trip(name, law, x0, horizon):
    lp = law.kernel_params()
    assert lp._fields == tuple(f.name for f in fields(law)) == type(law).param_names
    assert tuple(lp) == tuple(float(getattr(law, f.name)) for f in fields(law))
    assert all(type(v) is float for v in lp)
    assert LAWS[law.name] is type(law)
    assert make_law(law.name, law.parameters()) == law
    # one tuple class per law: what selects the law's compiled functions in a kernel
    assert len({type(law2.kernel_params()) for law2 in (law, Exponential(1.0), Logistic(1.0, 2.0), Gompertz(1.0, 2.0),
                                                        PowerLaw(1.0, 0.5))}) == 4


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_kernel_rate_agrees_with_numpy(name, law, x0, horizon):
    lp = law.kernel_params()
    for x in SIZES + [x0]:
        want = float(law.rate(x))
        got = kernel_rate(lp, x)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-300), x


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_kernel_solution_agrees_with_numpy(name, law, x0, horizon):
    lp = law.kernel_params()
    for x in SIZES + [x0]:
        for dt in STEPS:
            want = float(law.solution(x, dt))
            got = kernel_solution(lp, x, dt)
            assert got == pytest.approx(want, rel=1e-12), (x, dt)
        for x1 in (0.5 * x, 2.0 * x, 1e3 * x):
            assert kernel_time_to(lp, x, x1) == law.time_to(x, x1)  # both libm: bit for bit
    assert kernel_solution(lp, 0.0, 1.0) == 0.0


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_kernel_solution_in_steps_equals_one_long_step(name, law, x0, horizon):
    lp = law.kernel_params()
    n = 200
    x = x0
    for _ in range(n):
        x = kernel_solution(lp, x, horizon / n)
    assert x == pytest.approx(float(law.solution(x0, horizon)), rel=1e-9)


@settings(deadline=None, max_examples=50)
@given(case=st.sampled_from(CASES), x=st.floats(1.0, 1e11), dt=st.floats(1e-3, 60.0))
def test_kernels_agree_with_numpy_for_random_sizes_and_steps(case, x, dt):
    _, law, _, _ = case
    lp = law.kernel_params()
    assert kernel_rate(lp, x) == pytest.approx(float(law.rate(x)), rel=1e-12, abs=1e-300)
    assert kernel_solution(lp, x, dt) == pytest.approx(float(law.solution(x, dt)), rel=1e-12)


def test_numpy_methods_are_vectorised_over_the_state_and_time():
    law = Gompertz(0.00172, 1e12)
    n = np.array([1.0, 1e3, 1e9])
    assert law.rate(n).shape == (3,) and law.growth(n).shape == (3,)
    assert Exponential(0.1).rate(n).tolist() == [0.1, 0.1, 0.1]  # a constant rate is broadcast
    t = np.linspace(0.0, 100.0, 5)
    assert law.solution(1.0, t).shape == (5,)
    assert np.all(Logistic(0.1, 1e6).solution(0.0, t) == 0.0)


def test_kernels_reject_a_tuple_that_is_not_a_law():
    from numba.core.errors import TypingError

    with pytest.raises(TypingError, match="not the parameter tuple of a growth law"):
        kernel_rate((0.1, 1e6), 1.0)


# ----------------------------------------------------------------------------- registry
def test_unknown_law_is_an_error_naming_the_known_laws():
    with pytest.raises(ScenarioError, match=r"unknown growth law 'gompetz'.*exponential, gompertz, logistic, "
                                            r"power_law.*did you mean 'gompertz'"):
        make_law("gompetz", {"rate_constant": 0.1})


def test_scenario_parameter_library_lists_every_law():
    """A registered law is selectable in scenarios only with its parameters in params/body.toml."""
    from seedsoil.body.vascular import PRIMARY_LAWS

    lib = tomllib.loads((Path(growth.__file__).parents[1] / "params" / "body.toml").read_text(encoding="utf-8"))
    # the primary may also follow a tumour-vasculature system (body/vascular.py), colonies not yet
    assert sorted(lib["primary"]["law"]["choices"]) == sorted([*LAWS, *PRIMARY_LAWS])
    assert sorted(lib["colony"]["law"]["choices"]) == sorted([*LAWS, "same_as_primary"])
    for name, cls in LAWS.items():
        for where in ("primary", "colony"):
            assert set(lib[where][name]) <= set(cls.param_names), (where, name)
            required = {f.name for f in fields(cls) if f.default is MISSING}
            assert required <= set(lib[where][name]), (where, name)


def test_a_law_is_declared_completely_or_not_at_all():
    with pytest.raises(TypeError, match="solution_fn must be a @staticmethod"):
        class NoSolution(GrowthLaw, register=False):
            name: ClassVar[str] = "no_solution"

            @staticmethod
            def rate_fn(n, r):
                return r

    with pytest.raises(TypeError, match="same names in the same order"):
        class Mismatch(GrowthLaw, register=False):
            name: ClassVar[str] = "mismatch"

            @staticmethod
            def rate_fn(n, r):
                return r

            @staticmethod
            def solution_fn(n0, t, rate):
                return n0

            @staticmethod
            def time_to_fn(n0, n1, r):
                return 0.0

    with pytest.raises(TypeError, match="defined twice"):
        @dataclass(frozen=True)
        class Again(Logistic):
            name: ClassVar[str] = "logistic"


def test_kernel_parameter_tuples_survive_the_disk_cache():
    """numba's cache index pickles the tuple class by reference into this module: a law's
    class comes back as itself, and one this process does not define as an unused placeholder."""
    cls = Gompertz(0.00172, 1e12).kernel_params().__class__
    assert cls.__module__ == "seedsoil.body.growth"
    assert pickle.loads(pickle.dumps(cls)) is cls
    orphan = getattr(growth, "_params_some_other_process_law_0123456789abcdef")
    assert orphan not in growth._LAW_OF_PARAMS
    assert pickle.loads(pickle.dumps(orphan)) is orphan


def test_testing_module_does_not_import_the_body():
    assert [m for m in modules_loaded_by("import seedsoil.testing", "seedsoil") if m.startswith("seedsoil.body")] == []


# ----------------------------------------------------------------------------- conformance check
@pytest.mark.parametrize("law", sorted(LAWS.values(), key=lambda c: c.name), ids=sorted(LAWS))
def test_check_growth_law_passes_every_builtin_law(law):
    check_growth_law(law)  # on each of the class's examples


@pytest.mark.parametrize("name, law, x0, horizon", CASES, ids=IDS)
def test_check_growth_law_passes_every_case(name, law, x0, horizon):
    check_growth_law(law)


@dataclass(frozen=True)
class WrongRate(Logistic, register=False):
    """The logistic law with a per-capita rate 10 % too high: inconsistent with its solution."""

    name: ClassVar[str] = "logistic_wrong_rate"

    @staticmethod
    def rate_fn(n, rate_constant, carrying_capacity):
        return 1.1 * rate_constant * (1.0 - n / carrying_capacity)


@dataclass(frozen=True)
class WrongInverse(Logistic, register=False):
    """The logistic law whose time_to forgot the carrying capacity (the exponential's)."""

    name: ClassVar[str] = "logistic_wrong_inverse"

    @staticmethod
    def time_to_fn(n0, n1, rate_constant, carrying_capacity):
        if n1 <= n0:
            return 0.0
        return math.log(n1 / n0) / rate_constant


@dataclass(frozen=True)
class BranchOnTime(Exponential, register=False):
    """An exponential law whose solution branches on t: NumPy cannot evaluate it on a grid."""

    name: ClassVar[str] = "exponential_branch_on_t"

    @staticmethod
    def solution_fn(n0, t, rate_constant):
        if t <= 0.0:
            return n0
        return n0 * np.exp(rate_constant * t)


@pytest.mark.parametrize("law, check", [
    (WrongRate(0.3, 1e6), r"d/dt solution == rate\(n\)·n"),
    (WrongInverse(0.3, 1e6), r"time_to\(n0, solution\(n0, t\)\) == t"),
    (BranchOnTime(0.1), r"solution on an array"),
], ids=["wrong_rate", "wrong_inverse", "branch_on_t"])
def test_check_growth_law_fails_a_broken_law(law, check):
    with pytest.raises(AssertionError, match=f"growth law {type(law).__name__}.*: {check}"):
        check_growth_law(law)


def test_check_growth_law_wants_a_growth_law():
    with pytest.raises(AssertionError, match="not a growth law"):
        check_growth_law(object())
    with pytest.raises(AssertionError, match=r"d/dt solution"):
        check_growth_law(WrongRate)  # a class: checked on its examples (here the logistic law's)

    @dataclass(frozen=True)
    class Unchecked(Exponential, register=False):
        name: ClassVar[str] = "exponential_without_examples"
        examples: ClassVar[tuple] = ()

    with pytest.raises(AssertionError, match="no examples"):
        check_growth_law(Unchecked)
    check_growth_law(Unchecked(0.1))


# ----------------------------------------------------------------------------- Iwata 2000
IWATA_A, IWATA_B = 0.00286, 7.3e10


@pytest.mark.parametrize("t", [0.0, 1.0, 30.0, 100.0, 365.0, 1000.0, 2000.0, 5000.0])
def test_gompertz_reproduces_iwata_primary(t):
    """Iwata, Kawasaki, Shigesada 2000 (J Theor Biol 203:177): x_p(t) = b^(1 - exp(-a t))."""
    law = Gompertz(IWATA_A, IWATA_B)
    want = IWATA_B ** (1.0 - math.exp(-IWATA_A * t))
    assert float(law.solution(1.0, t)) == pytest.approx(want, rel=1e-12)
    assert kernel_solution(law.kernel_params(), 1.0, t) == pytest.approx(want, rel=1e-12)
    if t > 0:
        assert law.time_to(1.0, want) == pytest.approx(t, rel=1e-9)


def test_iwata_growth_rate():
    law = Gompertz(IWATA_A, IWATA_B)
    x = np.array([1.0, 1e5, 1e9, 7e10])
    np.testing.assert_allclose(law.growth(x), IWATA_A * x * np.log(IWATA_B / x), rtol=1e-14)
    np.testing.assert_allclose(law.rate(x), IWATA_A * np.log(IWATA_B / x), rtol=1e-14)
    assert float(law.growth(IWATA_B)) == pytest.approx(0.0, abs=1e-6)
