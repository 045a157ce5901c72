"""SBML events in the cell solver, checked against libroadrunner and against exact values.

Two small hand-written SBML models hold the cases side by side (each on its own
variables, so they do not interact; two networks to compile keeps the test short):

* model A: a threshold trigger that fires again and again (S refilled when it falls below
  2), a delayed event (D bumped 0.5 after time 1), an event at t0 (initialValue false and a
  trigger already true at the start);
* model B: two simultaneous events with priorities (the order changes the result), a
  non-persistent delayed event cancelled because its trigger turned false before it was
  due (and its persistent twin, which executes), assignment values taken at trigger time
  and at execution time.

Each cell finds its own event times, so results are bitwise the same for any batch
(cells alone or together) and any thread count.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from seedsoil.cell import Event, Network, Parameter, Reaction, Species
from seedsoil.cell.sbml import from_sbml, import_sbml
from seedsoil.cell.solver import cell_parameters, initial_states, input_table, integrate, simulate_cells

libsbml = pytest.importorskip("libsbml", reason="needs python-libsbml (pip install 'seedsoil[sbml]')")
roadrunner = pytest.importorskip("roadrunner", reason="needs libroadrunner (pip install 'seedsoil[sbml]')")

T_END, N_OUT = 4.0, 41
TIMES = np.linspace(0.0, T_END, N_OUT)


def _model(build) -> str:
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId("events_test")
    c = m.createCompartment()
    c.setId("C"), c.setSize(1.0), c.setConstant(True), c.setSpatialDimensions(3)
    build(m)
    return libsbml.writeSBMLToString(doc)


def _species(m, sid, value, decay=None):
    s = m.createSpecies()
    s.setId(sid), s.setCompartment("C"), s.setInitialConcentration(value), s.setHasOnlySubstanceUnits(False)
    s.setBoundaryCondition(False), s.setConstant(False)
    if decay is not None:
        rx = m.createReaction()
        rx.setId(f"decay_{sid}"), rx.setReversible(False)
        ref = rx.createReactant()
        ref.setSpecies(sid), ref.setStoichiometry(1.0), ref.setConstant(True)
        rx.createKineticLaw().setMath(libsbml.parseL3Formula(f"{decay} * {sid} * C"))


def _parameter(m, pid, value):
    p = m.createParameter()
    p.setId(pid), p.setValue(value), p.setConstant(False)


def _event(m, eid, trigger, assignments, *, delay=None, priority=None, persistent=True, initial=True,
           trigger_values=True):
    ev = m.createEvent()
    ev.setId(eid), ev.setUseValuesFromTriggerTime(trigger_values)
    tr = ev.createTrigger()
    tr.setMath(libsbml.parseL3Formula(trigger)), tr.setPersistent(persistent), tr.setInitialValue(initial)
    if delay is not None:
        ev.createDelay().setMath(libsbml.parseL3Formula(delay))
    if priority is not None:
        ev.createPriority().setMath(libsbml.parseL3Formula(priority))
    for var, value in assignments:
        ea = ev.createEventAssignment()
        ea.setVariable(var), ea.setMath(libsbml.parseL3Formula(value))


def _build_a(m):
    _species(m, "S", 10.0, decay=1.0)
    _event(m, "refill", "S < 2", [("S", "10")])
    _species(m, "D", 1.0, decay=0.5)
    _event(m, "bump", "time >= 1", [("D", "D + 5")], delay="0.5", trigger_values=False)
    _species(m, "Z", 3.0, decay=0.2)
    _event(m, "start", "Z > 1", [("Z", "20")], initial=False)


def _build_b(m):
    _parameter(m, "p", 1.0)
    _event(m, "hi", "time >= 1", [("p", "2 * p")], priority="10", trigger_values=False)
    _event(m, "lo", "time >= 1", [("p", "p + 1")], priority="1", trigger_values=False)
    _parameter(m, "q", 0.0)
    _parameter(m, "r", 0.0)
    _event(m, "cancelled", "(time >= 1) && (time < 1.5)", [("q", "1")], delay="1", persistent=False)
    _event(m, "kept", "(time >= 1) && (time < 1.5)", [("r", "1")], delay="1", persistent=True)
    _species(m, "X", 10.0, decay=1.0)
    _parameter(m, "u_trigger", 0.0)
    _parameter(m, "u_exec", 0.0)
    _event(m, "at_trigger", "time >= 1", [("u_trigger", "X")], delay="1", trigger_values=True)
    _event(m, "at_exec", "time >= 1", [("u_exec", "X")], delay="1", trigger_values=False)


VARS_A = ("S", "D", "Z")
VARS_B = ("p", "q", "r", "X", "u_trigger", "u_exec")


def _seedsoil(text, variables):
    imp = import_sbml(text)
    net = imp.network
    P = cell_parameters(net, 1)
    ut, U = input_table(net, 1, None)
    out, stats = integrate(net, initial_states(net, 1, None), P, ut, U, TIMES, rtol=1e-10, atol=1e-14, parallel=False,
                           clip=False)
    assert stats[0, 2] == 0
    states = out[0].T
    return np.column_stack([imp.series(v, states, P[0], U[0, 0]) for v in variables])


def _roadrunner(text, variables):
    r = roadrunner.RoadRunner(text)
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = 1e-14
    sel = ["time"] + [f"[{v}]" if v in r.model.getFloatingSpeciesIds() else v for v in variables]
    res = np.asarray(r.simulate(0.0, T_END, N_OUT, sel))
    return res[:, 1:]


@pytest.fixture(scope="module")
def model_a():
    text = _model(_build_a)
    return text, _seedsoil(text, VARS_A), _roadrunner(text, VARS_A)


@pytest.fixture(scope="module")
def model_b():
    text = _model(_build_b)
    return text, _seedsoil(text, VARS_B), _roadrunner(text, VARS_B)


def _col(res, variables, name):
    return res[:, variables.index(name)]


def test_threshold_trigger_fires_repeatedly(model_a):
    _, ss, rr = model_a
    s = _col(ss, VARS_A, "S")
    exact = 10.0 * np.exp(-(TIMES % math.log(5.0)))  # refilled to 10 each time it reaches 2
    np.testing.assert_allclose(s, exact, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s, _col(rr, VARS_A, "S"), rtol=1e-6, atol=1e-9)


def test_delayed_event(model_a):
    _, ss, rr = model_a
    d = _col(ss, VARS_A, "D")
    exact = np.where(TIMES < 1.5, np.exp(-0.5 * TIMES), (math.exp(-0.75) + 5.0) * np.exp(-0.5 * (TIMES - 1.5)))
    np.testing.assert_allclose(d, exact, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(d, _col(rr, VARS_A, "D"), rtol=1e-6, atol=1e-9)


def test_event_at_t0(model_a):
    _, ss, rr = model_a
    z = _col(ss, VARS_A, "Z")
    np.testing.assert_allclose(z, 20.0 * np.exp(-0.2 * TIMES), rtol=1e-6, atol=1e-9)  # fired at t0
    np.testing.assert_allclose(z, _col(rr, VARS_A, "Z"), rtol=1e-6, atol=1e-9)


def test_priorities_order_simultaneous_events(model_b):
    _, ss, rr = model_b
    p = _col(ss, VARS_B, "p")
    np.testing.assert_allclose(p, np.where(TIMES < 1.0, 1.0, 3.0), rtol=1e-14)  # 2 * 1, then + 1, not (1 + 1) * 2
    np.testing.assert_allclose(p, _col(rr, VARS_B, "p"), rtol=1e-12)


def test_non_persistent_delayed_event_is_cancelled(model_b):
    _, ss, rr = model_b
    np.testing.assert_allclose(_col(ss, VARS_B, "q"), 0.0, atol=1e-14)
    np.testing.assert_allclose(_col(ss, VARS_B, "r"), np.where(TIMES < 2.0, 0.0, 1.0), rtol=1e-14, atol=1e-14)
    for v in ("q", "r"):
        np.testing.assert_allclose(_col(ss, VARS_B, v), _col(rr, VARS_B, v), rtol=1e-12)


def test_values_from_trigger_time_or_execution_time(model_b):
    _, ss, rr = model_b
    at_trigger, at_exec = _col(ss, VARS_B, "u_trigger"), _col(ss, VARS_B, "u_exec")
    np.testing.assert_allclose(at_trigger, np.where(TIMES < 2.0, 0.0, 10.0 * math.exp(-1.0)), rtol=1e-7)
    np.testing.assert_allclose(at_exec, np.where(TIMES < 2.0, 0.0, 10.0 * math.exp(-2.0)), rtol=1e-7)
    for v in ("u_trigger", "u_exec", "X"):
        np.testing.assert_allclose(_col(ss, VARS_B, v), _col(rr, VARS_B, v), rtol=1e-6, atol=1e-9)


def test_imported_events(model_a, model_b):
    net = from_sbml(model_b[0])
    ev = {e.name: e for e in net.events}
    assert set(ev) == {"hi", "lo", "cancelled", "kept", "at_trigger", "at_exec"}
    assert not ev["cancelled"].persistent and ev["kept"].persistent
    assert ev["at_trigger"].use_trigger_values and not ev["at_exec"].use_trigger_values
    assert ev["hi"].priority == "10" and ev["cancelled"].delay == "1"
    assert "p" in net.species_names  # a parameter an event changes is a state variable
    a = from_sbml(model_a[0])
    assert not {e.name: e for e in a.events}["start"].initial_value


def _threshold_network() -> Network:
    """S decays at a per-cell rate and is refilled when it falls below its threshold."""
    return Network("refill", species=(Species("S", 10.0), Species("W", 0.0)), inputs=(),
                   parameters=(Parameter("k", 1.0, source="test"), Parameter("thr", 2.0, source="test")),
                   reactions=(Reaction.parse("decay", "S ->", "k * S"), Reaction.parse("waste", "-> W", "k * S")),
                   events=(Event("refill", "S < thr", (("S", "10"), ("W", "W / 2"))),))


def test_events_in_a_network_round_trip_toml_and_hash():
    net = _threshold_network()
    from seedsoil.cell.network import Network as N
    import tomllib

    back = N.from_dict(tomllib.loads(net.to_toml()))
    assert back.events == net.events and back.content_hash == net.content_hash
    plain = Network("refill", species=net.species, inputs=(), parameters=net.parameters, reactions=net.reactions)
    assert "events" not in plain.to_dict() and plain.content_hash != net.content_hash


def test_results_do_not_depend_on_batch_or_threads():
    net = _threshold_network()
    n = 9
    params = {"k": np.linspace(0.5, 2.0, n), "thr": np.linspace(1.0, 4.0, n)}
    kw = dict(t_span=(0.0, 5.0), t_eval=51, parameters=params, rtol=1e-8, atol=1e-10)
    one = simulate_cells(net, n, threads=1, **kw)["state"].values
    two = simulate_cells(net, n, threads=2, **kw)["state"].values
    np.testing.assert_array_equal(one, two)
    for c in (0, 4, 8):  # each cell alone
        alone = simulate_cells(net, 1, parameters={k: v[c] for k, v in params.items()}, threads=1,
                               **{k: v for k, v in kw.items() if k != "parameters"})["state"].values[0]
        np.testing.assert_array_equal(alone, one[c])
    # cells have their own event times: the refill period is log(10 / thr) / k
    s = one[:, :, 0]
    t = np.linspace(0.0, 5.0, 51)
    for c in range(n):
        period = math.log(10.0 / params["thr"][c]) / params["k"][c]
        np.testing.assert_allclose(s[c], 10.0 * np.exp(-params["k"][c] * (t % period)), rtol=1e-5, atol=1e-7)


def test_networks_without_events_keep_their_kernel_and_hash():
    """The built-in network's generated kernel text carries no event code and its content hash is
    the one from before events existed (pinned: they change only with an intended change of the
    kernels; the text last changed when a clipped step's dense output was fixed, 2026-12-07)."""
    import hashlib

    from seedsoil.cell import _codegen, builtin_network

    net = builtin_network()
    assert net.content_hash == "df26f6bd43a71631" and "events" not in net.to_dict()
    src = _codegen.generate_source(net, _codegen.exponent_parameters(net))
    assert "ev_" not in src and "NE =" not in src
    assert hashlib.sha256(src.encode()).hexdigest() == \
        "9faa01e2c338324e4d51cf57db54576e733354344b79893f2fce36852db353b9"
    assert hashlib.sha256(_codegen.generate_source(net).encode()).hexdigest() == \
        "558c788a7cfa28a3b0cb2dbd5b295800847464f39ddd575c841b6590f26bf2e6"
