"""The cell scale: declarative networks, the batched Rosenbrock solver and the phenotype read-out.

The solver is checked against closed forms, a conservation law, an independent
engine (sympy → numpy right-hand side integrated by scipy's Radau), its order of
convergence with a fixed step, and for bitwise reproducibility across threads
and batches.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from seedsoil.cell import Input, Network, Parameter, Reaction, Species, builtin_network, load_network
from seedsoil.cell import solver as cs
from seedsoil.cell.phenotype import MODES, classify, phenotype_response, summarize
from seedsoil.cell.solver import TimeCourse, simulate_cells
from seedsoil.errors import ScenarioError


def toy() -> Network:
    """Receptor binding (closed form) and a conserved A <-> B pair driven by it."""
    return Network(
        name="toy",
        species=(Species("R", 0.0), Species("A", 1.0), Species("B", 0.0)),
        inputs=(Input("L", 1.0),),
        parameters=(Parameter("kon", 2.0, "1/nM/day", "test"), Parameter("koff", 3.0, "1/day", "test"),
                    Parameter("kab", 5.0, "1/day", "test"), Parameter("kba", 1.0, "1/day", "test"),
                    Parameter("K", 0.4, "", "test"), Parameter("n", 2.0, "", "test")),
        reactions=(
            Reaction.parse("bind", "-> R", "kon * L * (1 - R)", law="mass_action"),
            Reaction.parse("unbind", "R ->", "koff * R", law="mass_action"),
            Reaction.parse("a_to_b", "A -> B", "kab * hill(R, K, n) * A", law="hill"),
            Reaction.parse("b_to_a", "B -> A", "kba * B", law="mass_action"),
        ),
    )


@pytest.fixture(scope="module")
def net() -> Network:
    return builtin_network()


# ---------------------------------------------------------------- network as data
def test_network_toml_round_trip(net, tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(net.to_toml())
    again = load_network(path)
    assert again.content_hash == net.content_hash
    assert again.species_names == net.species_names
    np.testing.assert_allclose(again.parameter_values, net.parameter_values, rtol=1e-15)


def test_units_are_converted_on_load(net):
    # 1/min written in the file is 1440/day inside
    p = net.parameter("k_jak1_act")
    assert p.written_unit == "1/min" and p.unit == "day**-1"
    assert p.value == pytest.approx(1.0 * 1440)


def test_every_parameter_has_a_source(net):
    assert all(p.source for p in net.parameters)


def test_bad_rate_expression_names_the_reaction():
    with pytest.raises(ScenarioError, match=r"reaction\['x'\].rate.*unknown name.*'Q'"):
        Network("n", (Species("A"),), (), (), (Reaction.parse("x", "A ->", "Q * A"),))
    with pytest.raises(ScenarioError, match="not allowed"):
        Network("n", (Species("A"),), (), (), (Reaction.parse("x", "A ->", "A.__class__"),))
    with pytest.raises(ScenarioError, match="takes 3"):
        Network("n", (Species("A"),), (), (), (Reaction.parse("x", "A ->", "hill(A, 1)"),))


def test_structural_errors():
    with pytest.raises(ScenarioError, match="declared twice"):
        Network("n", (Species("A"), Species("A")), (), (), ())
    with pytest.raises(ScenarioError, match="not a species"):
        Network("n", (Species("A"),), (), (), (Reaction.parse("x", "B ->", "B"),))
    with pytest.raises(ScenarioError, match="out of range"):
        Network("n", (Species("A"),), (), (Parameter("k", -1.0, "1/day", "test"),), ())


def test_unknown_names_get_a_hint(net):
    with pytest.raises(ScenarioError, match="did you mean 'k_jak1_act'"):
        cs.cell_parameters(net, 2, variability={"k_jak1_ac": 0.2})
    with pytest.raises(ScenarioError, match="unknown input 'IL7'"):
        simulate_cells(net, 1, inputs={"IL7": 1.0})


def test_lognormal_variability_has_mean_one_and_the_cv():
    f = cs.lognormal_factors(200_000, 0.3, seed=5, key=1)
    se = 0.3 / math.sqrt(len(f))
    assert abs(f.mean() - 1.0) < 5 * se
    assert f.std() / f.mean() == pytest.approx(0.3, rel=0.02)


# ---------------------------------------------------------------- solver: closed forms, conservation
def test_binding_closed_form_and_conservation():
    n = toy()
    t = np.linspace(0, 2, 41)
    ds = simulate_cells(n, 3, inputs={"L": [0.5, 1.0, 4.0]}, t_span=(0, 2), t_eval=t, rtol=1e-10, atol=1e-12)
    L = np.array([0.5, 1.0, 4.0])[:, None]
    k = 2.0 * L + 3.0
    exact = 2.0 * L / k * (1.0 - np.exp(-k * t[None, :]))
    np.testing.assert_allclose(ds.state.sel(species="R").values, exact, rtol=1e-7, atol=1e-10)
    total = ds.state.sel(species="A").values + ds.state.sel(species="B").values
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def _reference(n: Network, y0, p, u, t):
    sol = solve_ivp(lambda _t, y: n.rhs(y, p, u), (t[0], t[-1]), y0, method="Radau", t_eval=t, rtol=1e-11,
                    atol=1e-13)
    assert sol.success
    return sol.y.T


def test_agrees_with_scipy_radau_on_heterogeneous_cells(net):
    t = np.linspace(0, 2, 25)
    inputs = {"IL6": 0.5, "IL1B": 0.05, "JAKi": 10.0, "ROCKi": 30.0}
    ds = simulate_cells(net, 4, inputs=inputs, t_span=(0, 2), t_eval=t, variability={"k_rho_act": 0.3,
                        "k_rac_act": 0.3, "k_jak1_act": 0.3}, seed=3, rtol=1e-9, atol=1e-12)
    u = np.array([inputs.get(k, 0.0) for k in net.input_names])
    for c in range(4):
        ref = _reference(net, net.initial_state, ds.parameter_values.values[c], u, t)
        np.testing.assert_allclose(ds.state.values[c], ref, rtol=1e-6, atol=1e-8)


def test_time_varying_input_matches_piecewise_reference():
    n = toy()
    t = np.linspace(0, 3, 31)
    course = TimeCourse([0.0, 1.0, 2.0], [0.0, 3.0, 0.5])  # ramps, then held
    ds = simulate_cells(n, 1, inputs={"L": course}, t_span=(0, 3), t_eval=t, rtol=1e-10, atol=1e-12)
    p = n.parameter_values

    def f(tt, y):
        return n.rhs(y, p, np.array([np.interp(tt, [0, 1, 2], [0, 3, 0.5])]))
    ref = solve_ivp(f, (0, 3), n.initial_state, method="Radau", t_eval=t, rtol=1e-12, atol=1e-14,
                    max_step=0.01).y.T
    np.testing.assert_allclose(ds.state.values[0], ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("method,order,tol", [("rodas4", 4, 0.75), ("rodas3", 3, 0.15), ("ros3", 3, 0.15)])
def test_fixed_step_order_of_convergence(method, order, tol):
    """Global error at t = 1 with a fixed step h: slope log2(e(h)/e(h/2)) → the method's order.
    (RODAS4 approaches 4 from above: 4.7, 4.5 at these h, its fifth-order term is large.)"""
    n = toy()
    y0 = np.tile(n.initial_state, (1, 1))
    P = n.parameter_values[None, :]
    ut, U = np.zeros(1), np.array([[[1.0]]])
    t_end = 1.0
    ref = _reference(n, n.initial_state, n.parameter_values, np.array([1.0]), np.array([0.0, t_end]))[-1]
    errs = []
    hs = [t_end / 40, t_end / 80, t_end / 160]
    for h in hs:
        # rtol huge: every step is accepted, so the step is exactly h
        out, stats = cs.integrate(n, y0, P, ut, U, np.array([0.0, t_end]), method=method, rtol=0.5, atol=1e30,
                                  h0=h, hmax=h, parallel=False)
        assert stats[0, 0] == round(t_end / h) and stats[0, 1] == 0
        errs.append(np.max(np.abs(out[0, -1] - ref)))
    observed = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(observed - order) < tol), observed
    assert observed[-1] <= observed[0] + 0.02  # not moving away from the order


def test_tolerance_controls_the_error(net):
    t = np.linspace(0, 2, 9)
    ref = _reference(net, net.initial_state, net.parameter_values, net.input_defaults, t)
    errs = []
    for rtol in (1e-4, 1e-6, 1e-8):
        ds = simulate_cells(net, 1, t_span=(0, 2), t_eval=t, rtol=rtol, atol=rtol * 1e-3)
        errs.append(np.max(np.abs(ds.state.values[0] - ref)))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-6


# ---------------------------------------------------------------- reproducibility
def test_identical_whatever_threads_and_batches(net):
    kw = dict(inputs={"JAKi": 5.0}, t_span=(0, 1), t_eval=5, variability={"k_rho_act": 0.3}, seed=11)
    a = simulate_cells(net, 64, threads=1, **kw).state.values
    b = simulate_cells(net, 64, threads=2, **kw).state.values
    assert np.array_equal(a, b)
    # a cell's trajectory does not depend on which other cells are in the batch
    P = cs.cell_parameters(net, 64, variability={"k_rho_act": 0.3}, seed=11)
    ut, U = cs.input_table(net, 64, {"JAKi": 5.0})
    y0 = cs.initial_states(net, 64, None)
    t = np.linspace(0, 1, 5)
    part, _ = cs.integrate(net, y0[10:20], P[10:20], ut, U, t)
    assert np.array_equal(part, a[10:20])


def test_failure_is_reported_not_hidden(net):
    with pytest.raises(cs.CellSolverError, match="max_steps"):
        simulate_cells(net, 2, t_span=(0, 2), max_steps=3)
    ds = simulate_cells(net, 2, t_span=(0, 2), max_steps=3, on_failure="nan")
    assert np.isnan(ds.state.values[:, -1]).all() and (ds.status.values == 1).all()


def test_dataset_records_what_made_it(net):
    ds = simulate_cells(net, 2, seed=4, t_span=(0, 0.5), t_eval=3)
    assert ds.state.dims == ("cell", "time", "species")
    assert ds.attrs["network_hash"] == net.content_hash and ds.attrs["seed"] == 4
    assert list(ds.species.values) == list(net.species_names)


# ---------------------------------------------------------------- phenotype
def test_classify_modes(net):
    idx = net.species_index
    states = np.zeros((4, len(net.species)))
    for row, (rho, rac) in enumerate([(0.9, 0.1), (0.1, 0.9), (0.9, 0.9), (0.1, 0.1)]):
        states[row, idx["RhoA"]], states[row, idx["Rac1"]] = rho, rac
    states[:, idx["ZEB1"]] = [0.1, 0.9, 0.1, 0.9]
    cells = classify(states, net)
    assert [MODES[m] for m in cells["mode"]] == ["amoeboid", "mesenchymal", "hybrid", "both_low"]
    assert list(cells["dividing"]) == [True, False, True, False]
    ph = summarize(cells)
    assert sum(ph.mode_fractions.values()) == pytest.approx(1.0)
    # Fürth: D = S^2 P / 3 per cell, averaged
    assert ph.diffusion == pytest.approx(np.mean(cells["speed"] ** 2 * cells["persistence"]) / 3)


def test_phenotype_response_is_cached_and_paired():
    a = phenotype_response({"JAKi": 30.0}, n_cells=200, cache=False)
    b = phenotype_response({"JAKi": 30.0}, n_cells=200, cache=False)
    assert a == b
    ctrl = phenotype_response({}, n_cells=200, cache=False)
    assert ctrl.motility == pytest.approx(1.0)
    assert a.contractility < ctrl.contractility


def test_phenotype_response_rejects_unknown_drug_input():
    with pytest.raises(ScenarioError, match="not an input"):
        phenotype_response({"MEKi": 1.0})


def test_names_cannot_shadow_the_generated_code():
    """Species / parameters / inputs named like the kernel's own variables still work."""
    n = Network(
        name="shadow",
        species=(Species("y", 0.0), Species("_x0", 0.0)),
        inputs=(Input("u", 2.0),),
        parameters=(Parameter("p", 3.0, "1/day", "test"), Parameter("J", 1.0, "1/day", "test")),
        reactions=(Reaction.parse("make", "-> y", "p * u * (1 - y)"), Reaction.parse("lose", "y ->", "J * y"),
                   Reaction.parse("copy", "-> _x0", "y")),
    )
    t = np.linspace(0, 1, 11)
    ds = simulate_cells(n, 1, t_span=(0, 1), t_eval=t, rtol=1e-10, atol=1e-12)
    k = 3.0 * 2.0 + 1.0
    np.testing.assert_allclose(ds.state.sel(species="y").values[0], 6.0 / k * (1 - np.exp(-k * t)), rtol=1e-7,
                               atol=1e-12)
    with pytest.raises(ScenarioError, match="not a valid identifier"):
        Network("n", (Species("lambda"),), (), (), ())


def test_clip_holds_species_at_zero_and_clip_false_follows_the_closed_form():
    """A zero-order drain (rate k, whatever A is) takes A below 0 at t = A0/k: clipped (the
    default), A stays at 0 after it; unclipped (SBML's semantics), A = A0 - k t exactly."""
    drain = Network(name="drain", species=(Species("A", 1.0),), inputs=(),
                    parameters=(Parameter("k", 2.0, "nM/day", "test"),),
                    reactions=(Reaction.parse("out", "A ->", "k", law="custom"),))
    t = np.linspace(0.0, 1.0, 11)
    kw = dict(t_span=(0.0, 1.0), t_eval=t, rtol=1e-10, atol=1e-12)
    clipped = simulate_cells(drain, **kw)
    free = simulate_cells(drain, clip=False, **kw)
    a_free = free["state"].sel(species="A").values[0]
    np.testing.assert_allclose(a_free, 1.0 - 2.0 * t, atol=1e-9)
    a_clip = clipped["state"].sel(species="A").values[0]
    assert a_clip.min() >= 0.0 and np.all(a_clip[t > 0.5] == 0.0)
    np.testing.assert_allclose(a_clip[t <= 0.5], 1.0 - 2.0 * t[t <= 0.5], atol=1e-9)
    assert (clipped.attrs["clip"], free.attrs["clip"]) == (1, 0)
