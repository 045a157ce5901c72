"""The tissue's diffusing fields (``seedsoil.tissue.fields``): closed forms of diffusion with decay
(Gaussian pulse, steady point source), exact discrete mass balance, observed convergence orders,
Dirichlet faces and vessels, gradients and sampling, thread-count independence, bad inputs.

Units: µm and minutes. Tests run on one numba thread (the automatic choice is then the serial
kernel) except those that compare the kernels on 1 and 2 threads; the prefactored solve is also
compared with the reference solve that recomputes every line's coefficients. Tolerances are a margin above the measured
errors quoted next to them.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from seedsoil.tissue.fields import (
    PARALLEL_MIN_VOXELS,
    AgentExchange,
    DiffusionFields,
    Substrate,
    gradient,
    point_source_steady,
)
from seedsoil.validate.cases_fields import observed_orders, pulse_error  # the validation case's own computations


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def centred(shape, dx, centre=None):
    """Voxel-centre coordinates relative to ``centre`` (default: the domain's middle), one array per axis."""
    if centre is None:
        centre = [n * dx / 2 for n in shape]
    axes = [(np.arange(n) + 0.5) * dx - c for n, c in zip(shape, centre)]
    return np.meshgrid(*axes, indexing="ij")


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("shape, sigma0, duration, tol_l2", [
    ((64, 1), 40.0, 5.0, 5e-3),      # measured 1.8e-3 (max 2.1e-3)
    ((64, 64), 40.0, 5.0, 7e-3),     # measured 2.6e-3 (max 4.2e-3)
    ((32, 32, 32), 30.0, 2.0, 1.2e-2),  # measured 5.1e-3 (max 9.3e-3)
])
def test_gaussian_pulse_matches_free_space_diffusion_with_decay(shape, sigma0, duration, tol_l2):
    # D = 100 µm²/min, λ = 0.1 /min, dx = 10 µm, dt = 0.01 min; the pulse stays > 4σ from the faces
    l2, mx = pulse_error(shape, 10.0, 100.0, 0.1, sigma0, duration, 0.01)
    assert l2 < tol_l2
    assert mx < 2 * tol_l2


@pytest.mark.parametrize("shape, diffusion, dt, duration, rmax, tol", [
    ((64, 64), 1600.0, 0.01, 10.0, 10, 0.03),      # L = 40 µm; measured rel L2 0.018 (max 0.032)
    ((32, 32, 32), 900.0, 0.005, 8.0, 8, 0.06),    # L = 30 µm; measured rel L2 0.036 (max 0.11)
])
def test_point_source_reaches_the_steady_state_with_decay(shape, diffusion, dt, duration, rmax, tol):
    """Steady state of a source of q = 1 amount/min in one voxel with λ = 1 /min: 3-D
    q e^(−r/L)/(4πDr), 2-D (q/dx)/(2πD) K0(r/L) (a 2-D voxel is dx thick), compared for
    2.5 dx < r ≤ rmax·dx (away from the source voxel and > 3 L from the faces). After 8-10 / λ
    the transient is below e^-8; what remains is the lattice's and the splitting's error (the
    3-D error falls from 0.042 to 0.036 as dt halves from 0.01)."""
    dx, decay, q = 10.0, 1.0, 1.0
    d = len(shape)
    f = DiffusionFields(shape, dx, [Substrate("s", diffusion, decay)], dt_diffusion=dt)
    centre = np.array([n // 2 for n in shape])
    agent = AgentExchange(((centre + 0.5) * dx)[None, :], np.zeros(1), export=np.array([[q]]))
    exchanged = f.advance(duration, agent)
    xs = centred(shape, dx, (centre + 0.5) * dx)
    r = np.sqrt(sum(x ** 2 for x in xs))
    sel = (r > 2.5 * dx) & (r <= rmax * dx)
    exact = point_source_steady(r[sel], q if d == 3 else q / dx, diffusion, decay, d)
    u = f.fields[0][sel]
    assert np.sqrt(((u - exact) ** 2).sum() / (exact ** 2).sum()) < tol
    assert exchanged[0, 0] == pytest.approx(q * duration, rel=1e-12)  # a pure export puts in q dt per step


# --------------------------------------------------------------------------- mass balance
def source_step(rho, vox, volume, sec, sat, upt, exp, dt, v_voxel):
    """Reference sources and sinks, agent by agent (BioFVM): ρ ← (ρ + dt c S ρ* + dt E/V) / (1 + dt c (S + U))."""
    rho = rho.copy()
    put = np.zeros(sec.shape)
    for i, p in enumerate(vox):
        c = volume[i] / v_voxel
        for s in range(rho.shape[0]):
            old = rho[s, p]
            rho[s, p] = (old + dt * c * sec[i, s] * sat[i, s] + dt * exp[i, s] / v_voxel) / (
                1.0 + dt * c * (sec[i, s] + upt[i, s]))
            put[i, s] = v_voxel * (rho[s, p] - old)
    return rho, put


@pytest.mark.parametrize("shape", [(16, 12), (8, 6, 5)])
def test_mass_balance_is_exact_with_secretion_uptake_and_decay(shape):
    """With no-flux faces each sweep's rows sum to Σ(1 + λdt/d) ρ' = Σ ρ, so one sub-step gives
    M' = (M + Σ_agents put) / (1 + λ dt / d)^d, where ``put`` is the implicit source step's
    amount (the reference above, computed independently of the kernel)."""
    rng = np.random.default_rng(20261207)
    dx, dt = 10.0, 0.05
    subs = [Substrate("oxygen", 2000.0, 0.1), Substrate("drug", 300.0, 0.02), Substrate("cytokine", 50.0, 0.0)]
    f = DiffusionFields(shape, dx, subs, dt_diffusion=dt)
    f.fields[...] = rng.random(f.fields.shape)
    n = 9
    hi = np.array(shape) * dx
    pos = rng.random((n, len(shape))) * hi
    pos[1] = pos[0] + 0.1  # two agents in one voxel
    vol = rng.uniform(1000.0, 3000.0, n)
    sec, sat, upt = rng.random((n, 3)), 2 * rng.random((n, 3)), rng.random((n, 3))
    exp = rng.normal(0.0, 5.0, (n, 3))
    before = f._rho.copy()
    m0 = before.sum(axis=1) * f.v_voxel
    put = f.advance(dt, AgentExchange(pos, vol, sec, sat, upt, exp))
    ref_rho, ref_put = source_step(before, f.voxel_of(pos), vol, sec, sat, upt, exp, dt, f.v_voxel)
    np.testing.assert_allclose(put, ref_put, rtol=1e-12, atol=1e-12 * np.abs(ref_put).max())
    decay = np.array([s.decay for s in subs])
    d = len(shape)
    m1 = np.array([f.total(s.name) for s in subs])
    expected = (m0 + ref_put.sum(axis=0)) / (1.0 + decay * dt / d) ** d
    np.testing.assert_allclose(m1, expected, rtol=1e-12)
    assert not np.allclose(m1, m0)  # the terms do change the mass (the test can fail)


# --------------------------------------------------------------------------- convergence
def test_observed_orders_are_one_in_time_and_two_in_space():
    """In time: self-convergence in 2-D (the LOD splitting included), p = log2(|u_dt − u_dt/2| /
    |u_dt/2 − u_dt/4|) for dt = 0.2, 0.1, 0.05, 0.025 min; measured 0.97, 0.99. In space: a 1-D
    pulse on dx = 10, 5, 2.5 µm at dt = 1e-4 min (time error ~1e-5, below the spatial ~1e-3)
    against its closed form; measured 2.0, 2.0 (seedsoil.validate.cases_fields.observed_orders)."""
    in_time, in_space = observed_orders()
    assert all(abs(p - 1.0) < 0.3 for p in in_time), in_time
    assert all(abs(p - 2.0) < 0.3 for p in in_space), in_space


# --------------------------------------------------------------------------- fixed values
def test_dirichlet_faces_hold_and_give_the_linear_steady_profile():
    """x- held at 1, x+ at 0, no decay: the steady profile is linear between the centres of the two
    outer voxels (the discrete solution too, so to round-off); the faces hold exactly throughout."""
    f = DiffusionFields((32, 1), 10.0, [Substrate("s", 1000.0, 0.0, boundary={"x-": 1.0, "x+": 0.0})],
                       dt_diffusion=1.0)
    u = f.fields[0][:, 0]
    assert u[0] == 1.0 and u[-1] == 0.0
    f.advance(20.0)
    assert u[0] == 1.0 and u[-1] == 0.0
    assert not np.allclose(u, 1.0 - np.arange(32) / 31)  # not there yet
    f.advance(380.0)  # slowest mode decays as e^(-π² D t / (310 µm)²): e^-39
    np.testing.assert_allclose(u, 1.0 - np.arange(32) / 31, atol=1e-12)


def test_vessel_follows_a_time_varying_value_and_feeds_the_tissue():
    pk = lambda t: 2.0 * math.exp(-0.5 * t) + 0.1 * t  # noqa: E731 an arbitrary PK-like curve
    shape = (24, 20)
    f = DiffusionFields(shape, 10.0, [Substrate("drug", 500.0, 0.05, boundary={"y-": 0.3}),
                                      Substrate("oxygen", 2000.0, 0.1)], dt_diffusion=0.01)
    vessel = np.zeros(shape, dtype=bool)
    vessel[10:12, :] = True  # a vessel along y
    f.add_vessels(vessel, {"drug": pk, "oxygen": 1.0})
    drug, oxygen = f.field("drug"), f.field("oxygen")
    assert np.all(drug[vessel] == pk(0.0))
    for _ in range(5):
        f.advance(0.5)
        assert np.all(drug[vessel] == pk(f.time))
        assert np.all(oxygen[vessel] == 1.0)
        assert np.all(drug[:, 0][~vessel[:, 0]] == 0.3)  # the y- face, outside the vessel (which wins)
    assert f.time == pytest.approx(2.5)
    assert 0.0 < drug[3, 10] < pk(f.time) and 0.0 < oxygen[3, 10] < 1.0


# --------------------------------------------------------------------------- gradients and sampling
def test_gradient_and_sampling_are_exact_for_linear_fields_and_central_for_quadratics():
    shape, dx = (10, 8, 6), 5.0
    f = DiffusionFields(shape, dx, [Substrate("s", 1.0)], origin=(-20.0, 0.0, 100.0))
    x, y, z = (f.origin[k] + (np.arange(shape[k]) + 0.5) * dx for k in range(3))
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    f.fields[0][...] = 1.0 + 0.3 * X - 0.2 * Y + 0.05 * Z
    rng = np.random.default_rng(7)
    lo = f.origin + dx / 2
    pts = lo + rng.random((50, 3)) * (np.array(shape) - 1) * dx  # between the outer centres
    np.testing.assert_allclose(f.sample("s", pts), 1.0 + pts @ np.array([0.3, -0.2, 0.05]), rtol=1e-12)
    np.testing.assert_allclose(f.sample_gradient("s", pts), np.tile([0.3, -0.2, 0.05], (50, 1)), rtol=1e-12)
    g = gradient(X ** 2, dx)
    np.testing.assert_allclose(g[0][1:-1], 2 * X[1:-1], rtol=1e-12)  # central differences: exact on x²
    np.testing.assert_allclose(g[0][0], (X[1] ** 2 - X[0] ** 2) / dx)  # one-sided at the face
    assert np.all(g[1] == 0.0) and np.all(g[2] == 0.0)


def test_chemotactic_gradient_points_up_a_secreted_field():
    f = DiffusionFields((32, 32), 10.0, [Substrate("cxcl12", 1000.0, 0.5)], dt_diffusion=0.01)
    src = np.array([[165.0, 165.0]])
    f.advance(2.0, AgentExchange(src, np.array([2500.0]), secretion=[[1.0]], saturation=[[1.0]]))
    pts = np.array([[100.0, 165.0], [165.0, 240.0], [220.0, 110.0]])
    g = f.sample_gradient("cxcl12", pts)
    towards = src - pts
    assert np.all(np.sum(g * towards, axis=1) > 0)


# --------------------------------------------------------------------------- the prefactored solve
def busy_fields(shape, parallel=False, vessel_after=False, seed=11):
    """Two substrates (one with a Dirichlet face, one with a time-varying vessel), random
    fields and agents (several sharing voxels, some in fixed voxels): every path of the kernels."""
    rng = np.random.default_rng(seed)
    f = DiffusionFields(shape, 10.0, [Substrate("a", 800.0, 0.1, boundary={"y+": 1.0}),
                                      Substrate("b", 100.0, 0.0)], dt_diffusion=0.05, parallel=parallel)
    f.fields[...] = rng.random(f.fields.shape)
    vessel = np.zeros(shape, dtype=bool)
    vessel[min(5, shape[0] - 1), min(3, shape[1] - 1):9] = True
    n = 300
    pos = rng.random((n, len(shape))) * (np.array(shape) * 10.0 - 0.5)
    pos[n // 2:] = pos[:n // 2] + 0.5  # pairs of agents in one voxel (almost always)
    ag = AgentExchange(pos, rng.uniform(500.0, 3000.0, n), rng.random((n, 2)), rng.random((n, 2)),
                       rng.random((n, 2)), rng.normal(0.0, 1.0, (n, 2)))

    def add():
        f.add_vessels(vessel, {"b": lambda t: 1.0 + t})
    if not vessel_after:
        add()
    return f, ag, add


@pytest.mark.parametrize("shape", [(20, 18), (20, 18, 16), (1, 7), (9, 1, 5)])
def test_prefactored_solve_equals_the_reference_solve(shape):
    """advance (coefficients factored once, in place, row views) against _advance_reference
    (every line's Thomas coefficients recomputed in every sweep, numpy agent terms): the
    same equations, so equal up to round-off; measured max difference 1e-15 of the largest value."""
    f, ag, _ = busy_fields(shape)
    g, _, _ = busy_fields(shape)
    for _ in range(3):
        pf = f.advance(0.5, ag)
        pg = g._advance_reference(0.5, ag)
        np.testing.assert_allclose(f.fields, g.fields, rtol=1e-13, atol=1e-13 * np.abs(g.fields).max())
        np.testing.assert_allclose(pf, pg, rtol=1e-13, atol=1e-13 * np.abs(pg).max())
    assert f.time == g.time


def test_uniform_coefficients_equal_the_reference_without_fixed_voxels():
    """A substrate with no fixed voxel shares one coefficient set per axis across its lines."""
    rng = np.random.default_rng(3)
    fs = [DiffusionFields((30, 20, 10), 10.0, [Substrate("s", 500.0, 0.2)], dt_diffusion=0.02) for _ in range(2)]
    start = rng.random(fs[0].fields.shape)
    for f in fs:
        f.fields[...] = start
    assert fs[0]._solver()[-1][0] == -1  # the uniform path
    fs[0].advance(1.0)
    fs[1]._advance_reference(1.0)
    np.testing.assert_allclose(fs[0].fields, fs[1].fields, rtol=1e-13)


def test_cached_factorisation_is_refreshed_when_vessels_are_added_after_an_advance():
    shape = (20, 18)
    f, ag, add = busy_fields(shape, vessel_after=True)
    g, _, add_g = busy_fields(shape, vessel_after=True)
    f.advance(0.5, ag)
    g._advance_reference(0.5, ag)
    add()
    add_g()
    vessel = np.zeros(shape, dtype=bool)
    vessel[5, 3:9] = True
    for _ in range(2):
        f.advance(0.5, ag)
        g._advance_reference(0.5, ag)
        assert np.all(f.field("b")[vessel] == 1.0 + f.time)
        np.testing.assert_allclose(f.fields, g.fields, rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------------------- threads
@pytest.mark.parametrize("shape", [(20, 18, 16), (150, 140)])
def test_bitwise_identical_on_one_and_two_threads_and_serial(shape):
    def run(parallel=True):
        f, ag, _ = busy_fields(shape, parallel=parallel)
        put = f.advance(1.0, ag)
        return f.fields.copy(), put

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a, pa = run()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b, pb = run()
    finally:
        numba.set_num_threads(before)
    c, pc = run(parallel=False)
    assert np.array_equal(a, b) and np.array_equal(pa, pb)
    assert np.array_equal(a, c) and np.array_equal(pa, pc)


@pytest.mark.parametrize("shape", [(20, 18), (320, 320)])  # below and above PARALLEL_MIN_VOXELS
def test_automatic_choice_gives_the_result_of_both_explicit_choices(shape):
    """parallel=None picks the kernel by grid size, thread count and load; all three agree bitwise."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        out = {}
        for parallel in (None, True, False):
            f, ag, _ = busy_fields(shape, parallel=parallel)
            out[parallel] = (f.advance(1.0, ag), f.fields.copy(), f.uses_parallel())
    finally:
        numba.set_num_threads(before)
    big = shape[0] * shape[1] >= PARALLEL_MIN_VOXELS and numba.config.NUMBA_NUM_THREADS > 1
    assert out[True][2] and not out[False][2]
    assert big or not out[None][2]  # above the threshold the choice also depends on the machine's load
    for parallel in (True, False):
        assert np.array_equal(out[None][0], out[parallel][0]) and np.array_equal(out[None][1], out[parallel][1])


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("make, word", [
    (lambda: Substrate("o2", -1.0), "diffusion"),
    (lambda: Substrate("o2", 1.0, decay=-0.1), "decay"),
    (lambda: Substrate("o2", 1.0, boundary="periodic"), "boundary"),
    (lambda: Substrate("o2", 1.0, boundary={"w-": 0.0}), "boundary face"),
    (lambda: DiffusionFields((8, 8), 0.0, [Substrate("o2", 1.0)]), "dx"),
    (lambda: DiffusionFields((8, 8), 10.0, [Substrate("o2", 1.0)], dt_diffusion=-0.01), "dt_diffusion"),
    (lambda: DiffusionFields((8,), 10.0, [Substrate("o2", 1.0)]), "shape"),
    (lambda: DiffusionFields((8, 8), 10.0, [Substrate("o2", 1.0)]).add_vessels(np.ones((8, 7), bool), {"o2": 1}),
     "mask"),
    (lambda: DiffusionFields((8, 8), 10.0, [Substrate("o2", 1.0)]).add_vessels(np.ones((8, 8), bool), {"x": 1}),
     "substrate"),
    (lambda: DiffusionFields((8, 8), 10.0, [Substrate("o2", 1.0)]).advance(0.015), "duration"),
    (lambda: DiffusionFields((8, 8), 10.0, [Substrate("o2", 1.0)]).sample("o2", np.array([[81.0, 5.0]])),
     "positions"),
    (lambda: DiffusionFields((8, 8), 10.0, [Substrate("o2", 1.0)]).advance(
        0.01, AgentExchange(np.array([[5.0, -1.0]]), np.ones(1))), "positions"),
    (lambda: DiffusionFields((8, 8), 10.0, [Substrate("o2", 1.0)]).advance(
        0.01, AgentExchange(np.array([[5.0, 1.0]]), np.ones(1), uptake=np.ones((1, 2)))), "uptake"),
])
def test_bad_inputs_raise_value_errors_naming_the_argument(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_agent_arrays_are_read_as_before_no_agents_and_column_volumes():
    f = DiffusionFields((8, 8), 10.0, [Substrate("o2", 100.0, initial=1.0)])
    assert f.advance(0.01, AgentExchange(np.zeros((0, 2)), np.zeros(0))).shape == (0, 1)
    f = DiffusionFields((8, 8), 10.0, [Substrate("o2", 100.0, initial=1.0)])
    g = DiffusionFields((8, 8), 10.0, [Substrate("o2", 100.0, initial=1.0)])
    pos = np.array([[5.0, 5.0], [5.5, 5.5], [75.0, 12.0]])
    a = f.advance(0.05, AgentExchange(pos, np.full(3, 900.0), uptake=np.ones((3, 1))))
    b = g.advance(0.05, AgentExchange(pos, np.full((3, 1), 900.0), uptake=np.ones((3, 1))))
    assert np.array_equal(a, b) and np.array_equal(f.fields, g.fields) and np.all(a < 0)
