"""Tests for the Kuznetsov (1994) tumour-immune module and its validation case."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from seedsoil.body.immune import (
    Equilibrium,
    KuznetsovParams,
    effector_rate,
    effector_steady_state,
    jacobian,
    kuznetsov_equilibria,
    kuznetsov_rhs,
)
from seedsoil.errors import ScenarioError

P = KuznetsovParams.published()
EQS = kuznetsov_equilibria(P)


def _settle(y0, days, params=P):
    sol = solve_ivp(kuznetsov_rhs, (0.0, days), y0, args=(params,), method="LSODA", rtol=1e-10, atol=1e-6)
    assert sol.success, sol.message
    return sol.y[:, -1]


def test_published_values():
    assert dataclasses.astuple(P) == (1.3e4, 0.1245, 2.019e7, 3.422e-10, 0.0412, 0.18, 2.0e-9, 1.101e-7)


def test_published_equilibria_structure():
    # tumour-free saddle, dormant stable focus, threshold saddle, escape stable node
    assert [e.stability for e in EQS] == ["saddle", "stable focus", "saddle", "stable node"]
    Ts = [e.tumour_cells for e in EQS]
    assert Ts == sorted(Ts) and Ts[0] == 0.0
    assert 1e6 < EQS[1].tumour_cells < 1e7
    assert all(isinstance(e, Equilibrium) and e.effectors > 0 for e in EQS)
    assert all(len(e.eigenvalues) == 2 for e in EQS)


@pytest.mark.parametrize("k", range(4))
def test_equilibria_zero_both_rates(k):
    e = EQS[k]
    E, T = e.effectors, e.tumour_cells
    e_terms = np.array([P.s, P.p * E * T / (P.g + T), P.m * E * T, P.d * E])
    dE, dT = kuznetsov_rhs(0.0, [E, T], P)
    assert abs(dE) <= 1e-10 * np.max(np.abs(e_terms))
    t_terms = np.array([P.a * T, P.a * P.b * T * T, P.n * E * T])
    if T == 0:
        assert dT == 0.0
    else:
        assert abs(dT) <= 1e-10 * np.max(np.abs(t_terms))


POINTS = [(e.effectors, e.tumour_cells) for e in EQS] + [(1e5, 1e3), (3e6, 5e7), (2e4, 9e8)]


@pytest.mark.parametrize("E,T", POINTS)
def test_jacobian_matches_central_difference(E, T):
    J = jacobian(E, T, P)
    y = np.array([E, T])
    fd = np.empty((2, 2))
    for j in range(2):
        h = 1e-6 * max(abs(y[j]), 1e6)  # cells; a floor keeps round-off small at T = 0
        up, dn = y.copy(), y.copy()
        up[j] += h
        dn[j] -= h
        fd[:, j] = (kuznetsov_rhs(0.0, up, P) - kuznetsov_rhs(0.0, dn, P)) / (2 * h)
    scale = np.max(np.abs(J))
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-8 * scale)


def test_eigenvalues_are_those_of_jacobian():
    for e in EQS:
        ref = np.sort_complex(np.linalg.eigvals(jacobian(e.effectors, e.tumour_cells, P)))
        np.testing.assert_allclose(np.sort_complex(np.array(e.eigenvalues)), ref, rtol=1e-12)
        re = [z.real for z in e.eigenvalues]
        if e.stability.startswith("stable"):
            assert max(re) < 0
        elif e.stability == "saddle":
            assert min(re) < 0 < max(re)


@pytest.mark.parametrize("k", [i for i, e in enumerate(EQS) if e.stability.startswith("stable")])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_stable_equilibria_attract(k, sign):
    e = EQS[k]
    y0 = [e.effectors * (1 + 0.02 * sign), e.tumour_cells * (1 - 0.02 * sign)]
    end = _settle(y0, 5000.0)
    np.testing.assert_allclose(end, [e.effectors, e.tumour_cells], rtol=1e-6)


def _unstable_direction(e):
    J = jacobian(e.effectors, e.tumour_cells, P)
    w, v = np.linalg.eig(J)
    vec = np.real(v[:, int(np.argmax(np.real(w)))])
    return vec / np.linalg.norm(vec)


def test_interior_saddle_repels_along_unstable_eigenvector():
    saddle, dormant, escape = EQS[2], EQS[1], EQS[3]
    assert saddle.stability == "saddle"
    vec = _unstable_direction(saddle)
    y_s = np.array([saddle.effectors, saddle.tumour_cells])
    eps = 1e-4 * np.linalg.norm(y_s)
    ends = []
    for sign in (1.0, -1.0):
        y0 = y_s + sign * eps * vec
        # moves away from the saddle within a few e-folding times
        mid = _settle(y0, 200.0)
        assert np.linalg.norm(mid - y_s) > 100 * eps
        ends.append(_settle(y0, 5000.0))
    # the two branches of the unstable manifold end in the two stable states
    targets = sorted(ends, key=lambda y: y[1])
    np.testing.assert_allclose(targets[0], [dormant.effectors, dormant.tumour_cells], rtol=1e-6)
    np.testing.assert_allclose(targets[1], [escape.effectors, escape.tumour_cells], rtol=1e-6)


def test_tumour_free_saddle_repels_into_tumour():
    free = EQS[0]
    assert free.stability == "saddle" and free.tumour_cells == 0.0
    vec = _unstable_direction(free)
    vec = vec if vec[1] > 0 else -vec  # physical side: T > 0
    y0 = np.array([free.effectors, 0.0]) + 10.0 * vec / vec[1]  # ten tumour cells
    end = _settle(y0, 5000.0)
    # a small seed is not eliminated: it grows to the dormant state
    np.testing.assert_allclose(end, [EQS[1].effectors, EQS[1].tumour_cells], rtol=1e-6)


@pytest.mark.parametrize("T", [0.0, 1e3, 1e6, 8e6, 2e9, 1e10])
def test_effector_steady_state_zeroes_rate(T):
    E = effector_steady_state(T, P)
    assert np.isfinite(E) and E > 0
    rate = effector_rate(E, T, P.s, P.p, P.g, P.m, P.d)
    assert abs(rate) <= 1e-12 * P.s


def test_effector_steady_state_array_and_no_steady_state():
    Ts = np.array([1e6, 1e8, 2e9])
    Es = effector_steady_state(Ts, P)
    assert Es.shape == (3,)
    # at T = 1e8 recruitment (p T/(g+T) ~ 0.104/day) beats loss (d + m T ~ 0.075/day)
    assert np.isinf(Es[1])
    np.testing.assert_allclose(effector_rate(Es[[0, 2]], Ts[[0, 2]], P.s, P.p, P.g, P.m, P.d), 0.0, atol=1e-12 * P.s)
    assert effector_steady_state(0.0, P) == pytest.approx(P.s / P.d, rel=1e-15)


def test_effector_rate_on_arrays():
    E = np.array([1e5, 2e6])
    T = np.array([1e7, 3e8])
    got = effector_rate(E, T, P.s, P.p, P.g, P.m, P.d)
    want = [effector_rate(float(e), float(t), P.s, P.p, P.g, P.m, P.d) for e, t in zip(E, T)]
    np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize(
    "s_factor,count,free_label",
    [(0.2, 3, "saddle"), (1.0, 3, "saddle"), (2.0, 1, "saddle"), (5.0, 1, "saddle"), (10.0, 0, "stable node")],
)
def test_polynomial_roots_agree_with_scan_for_other_sources(s_factor, count, free_label):
    from seedsoil.validate.cases_immune import scan_interior_equilibria

    q = dataclasses.replace(P, s=P.s * s_factor)
    eqs = kuznetsov_equilibria(q)
    interior = eqs[1:]
    ref = scan_interior_equilibria(q)
    assert len(interior) == len(ref) == count
    # tumour-free state: unstable to a tumour seed iff a > n s/d
    assert eqs[0].stability == free_label
    for e, (T, E) in zip(interior, ref):
        assert e.tumour_cells == pytest.approx(T, rel=1e-8)
        assert e.effectors == pytest.approx(E, rel=1e-8)


def test_bad_parameters_rejected():
    with pytest.raises(ScenarioError):
        dataclasses.replace(P, a=-0.1)
    with pytest.raises(ScenarioError):
        dataclasses.replace(P, n=0.0)
    with pytest.raises(ScenarioError):
        dataclasses.replace(P, g=float("nan"))


def test_validation_case_passes():
    from seedsoil.validate import run_cases

    (res,) = run_cases(["kuznetsov_1994_equilibria"])
    assert res.error is None, res.error
    failed = [(c.name, c.expected, c.got) for c in res.checks if not c.passed]
    assert not failed, failed
    names = [c.name for c in res.checks]
    assert "number of interior equilibria (T>0, E>0)" in names
    assert sum("stability" in n for n in names) == 4
    assert sum("after" in n for n in names) == 4  # E and T for the two stable states
