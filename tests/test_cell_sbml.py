"""SBML both ways, checked against an independent simulator.

The exported built-in network and a hand-written SBML file (``data/mm_hill_toy.xml``)
are simulated by libroadrunner (LLVM-compiled CVODE) and by seedsoil's own cell
solver; the trajectories must agree. Round trips keep every value and the rate
laws' mathematics. Unsupported SBML is refused with errors that name the element.
Only three networks are compiled (built-in, its round trip, the toy), each once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from seedsoil.cell import builtin_network, from_sbml, to_sbml
from seedsoil.cell.solver import TimeCourse, simulate_cells
from seedsoil.errors import ScenarioError

libsbml = pytest.importorskip("libsbml", reason="needs python-libsbml (pip install 'seedsoil[sbml]')")
roadrunner = pytest.importorskip("roadrunner", reason="needs libroadrunner (pip install 'seedsoil[sbml]')")

TOY = Path(__file__).parent / "data" / "mm_hill_toy.xml"
#: constant inputs (nM) away from the defaults, with both drugs in their working range
INPUTS = {"IL6": 0.5, "IL1B": 0.1, "JAKi": 5.0, "ROCKi": 300.0}
T_END, N_OUT = 2.0, 49  # days; hourly output
RTOL_CROSS, ATOL_CROSS = 1e-4, 1e-8  # seedsoil (rtol 1e-8) vs roadrunner (rtol 1e-10)


def seedsoil_run(net, inputs=None) -> np.ndarray:
    ds = simulate_cells(net, 1, inputs=inputs, t_span=(0.0, T_END), t_eval=N_OUT, rtol=1e-8, atol=1e-10)
    return ds["state"].values[0]  # (time, species)


def roadrunner_run(sbml: str, species) -> np.ndarray:
    r = roadrunner.RoadRunner(sbml)
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = 1e-12
    r.timeCourseSelections = ["time"] + [f"[{s}]" for s in species]
    out = np.asarray(r.simulate(0.0, T_END, N_OUT))
    np.testing.assert_allclose(out[:, 0], np.linspace(0.0, T_END, N_OUT), rtol=0, atol=1e-12)
    return out[:, 1:]


def sbml_errors(text: str) -> list[str]:
    doc = libsbml.readSBMLFromString(text)
    doc.checkConsistency()
    return [doc.getError(i).getMessage() for i in range(doc.getNumErrors())
            if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]


def assert_same_rates(a, b, n_points: int = 5) -> None:
    """Rate expressions of two networks are the same functions (at random positive points)."""
    rng = np.random.default_rng(7)
    for ea, eb, ra in zip(a.rate_exprs, b.rate_exprs, a.reactions):
        syms = sorted(ea.free_symbols | eb.free_symbols, key=lambda s: s.name)
        fa, fb = sp.lambdify(syms, ea), sp.lambdify(syms, eb)
        for _ in range(n_points):
            x = rng.uniform(0.1, 3.0, len(syms))
            va, vb = float(fa(*x)), float(fb(*x))
            assert vb == pytest.approx(va, rel=1e-12, abs=1e-300), ra.name


@pytest.fixture(scope="module")
def net():
    return builtin_network()


@pytest.fixture(scope="module")
def exported(net) -> str:
    return to_sbml(net, inputs=INPUTS)


@pytest.fixture(scope="module")
def reference(net) -> np.ndarray:
    return seedsoil_run(net, INPUTS)


# --------------------------------------------------------------------------- export
def test_export_is_consistent_sbml_in_days(net, exported, tmp_path):
    assert sbml_errors(exported) == []
    model = libsbml.readSBMLFromString(exported).getModel()
    assert (model.getLevel(), model.getVersion()) == (3, 2)
    day = model.getUnitDefinition(model.getTimeUnits()).getUnit(0)
    assert (day.getKind(), day.getExponent(), day.getMultiplier() * 10 ** day.getScale()) == \
        (libsbml.UNIT_KIND_SECOND, 1, 86400.0)
    assert model.getNumCompartments() == 1 and model.getCompartment(0).getSize() == 1.0
    for name, value in INPUTS.items():
        s = model.getSpecies(name)
        assert s.getBoundaryCondition() and s.getConstant() and s.getInitialConcentration() == value
    assert model.getSpecies("IL1Ra").getInitialConcentration() == 0.0  # not given: the network default
    assert model.getNumReactions() == len(net.reactions)
    stat3 = next(r for r in model.getListOfReactions() if r.getName() == "STAT3 phosphorylation")
    assert {m.getSpecies() for m in stat3.getListOfModifiers()} == {"JAK1", "JAKi", "MLC2"}
    assert stat3.getKineticLaw().getSBOTermID() == "SBO:0000192"
    assert "hill" not in libsbml.formulaToL3String(stat3.getKineticLaw().getMath())  # expanded
    path = tmp_path / "net.xml"
    assert to_sbml(net, inputs=INPUTS, path=path) == path.read_text()


def test_export_matches_roadrunner(net, exported, reference):
    rr = roadrunner_run(exported, net.species_names)
    np.testing.assert_allclose(reference, rr, rtol=RTOL_CROSS, atol=ATOL_CROSS)
    assert reference[-1, net.species_index["MLC2"]] > 0.05  # the comparison is not between zeros


def test_export_refuses_what_sbml_cannot_hold(net):
    with pytest.raises(ScenarioError, match="one constant concentration"):
        to_sbml(net, inputs={"IL6": TimeCourse([0.0, 1.0], [0.0, 1.0])})
    with pytest.raises(ScenarioError, match="unknown input 'IL7'"):
        to_sbml(net, inputs={"IL7": 1.0})


# --------------------------------------------------------------------------- round trip
@pytest.fixture(scope="module")
def round_trip(net):
    return from_sbml(to_sbml(net))


def test_round_trip_keeps_the_network(net, round_trip):
    assert round_trip.species == net.species
    assert round_trip.inputs == net.inputs
    assert round_trip.parameters == net.parameters  # values, units, sources, ranges, notes
    assert (round_trip.name, round_trip.source) == (net.name, net.source)
    for a, b in zip(net.reactions, round_trip.reactions, strict=True):
        assert (b.name, b.reactants, b.products, b.law, b.note) == (a.name, a.reactants, a.products, a.law, a.note)
    assert_same_rates(net, round_trip)
    assert np.array_equal(round_trip.stoichiometry, net.stoichiometry)


def test_round_trip_inputs_become_defaults(net):
    back = from_sbml(to_sbml(net, inputs=INPUTS))
    assert {u.name: u.default for u in back.inputs} == {u.name: INPUTS.get(u.name, u.default) for u in net.inputs}


def test_round_trip_trajectories(round_trip, reference):
    np.testing.assert_allclose(seedsoil_run(round_trip, INPUTS), reference, rtol=1e-8, atol=1e-12)


# --------------------------------------------------------------------------- hand-written SBML
@pytest.fixture(scope="module")
def toy():
    return from_sbml(TOY)


def test_hand_written_model_is_read(toy):
    assert toy.species_names == ("S", "P", "E", "X")
    assert [(u.name, u.default) for u in toy.inputs] == [("L", 0.8)]
    assert toy.species[toy.species_index["X"]].initial == pytest.approx(0.2)  # initialAmount 0.4 / volume 2
    values = {p.name: p.value for p in toy.parameters}
    # local parameters renamed <reaction>_<id>; the local kdeg shadows the global one
    assert values["R_syn_n"] == 2.0 and values["R_pdeg_kdeg"] == 0.3 and values["kdeg"] == 0.7
    assert values["cyto"] == 2.0
    assert all(p.source == "SBML import: mm_hill_toy.xml" for p in toy.parameters if p.name != "cyto")
    assert [r.law for r in toy.reactions] == ["michaelis_menten", "hill", "mass_action", "mass_action"]
    sym = toy.symbols
    S, X, P, L = (sym[n] for n in ("S", "X", "P", "L"))
    rhs = dict(zip(toy.species_names, toy.rhs_exprs))
    # concentration rates: the kinetic law (amount / time) over the volume
    num = {sym[k]: v for k, v in values.items()}
    point = {S: 3.0, X: 0.4, P: 1.1, L: 0.8, sym["E"]: 0.5}
    assert float(rhs["X"].subs(num).subs(point)) == pytest.approx(2 * 1.5 * 0.64 / 0.89 - 0.7 * 0.4 / 2, rel=1e-13)
    assert float(rhs["S"].subs(num).subs(point)) == pytest.approx(-3.0 * 0.5 * 3.0 / 5.0, rel=1e-13)
    assert float(rhs["P"].subs(num).subs(point)) == pytest.approx(0.9 - 0.3 * 1.1, rel=1e-13)
    assert rhs["E"] == 0


def test_hand_written_model_matches_roadrunner(toy):
    ours = seedsoil_run(toy)
    rr = roadrunner_run(TOY.read_text(), toy.species_names)
    np.testing.assert_allclose(ours, rr, rtol=RTOL_CROSS, atol=ATOL_CROSS)
    assert ours[-1, toy.species_index["P"]] > 0.5


def test_a_boundary_species_nothing_changes_is_an_input_whatever_its_constant_flag(toy):
    """libRoadRunner's own test models and 69 core cases of the SBML Test Suite declare boundary
    species constant="false" that no rule or event touches: they import as inputs, the same
    network as with constant="true", and simulate as libRoadRunner simulates the file."""
    text = TOY.read_text().replace('boundaryCondition="true" constant="true"',
                                   'boundaryCondition="true" constant="false"')
    assert text != TOY.read_text()
    net = from_sbml(text)
    assert [(u.name, u.default) for u in net.inputs] == [(u.name, u.default) for u in toy.inputs]
    assert net.species_names == toy.species_names
    assert_same_rates(toy, net)
    rr = roadrunner_run(text, net.species_names)
    np.testing.assert_allclose(seedsoil_run(net), rr, rtol=RTOL_CROSS, atol=ATOL_CROSS)


def test_time_unit_must_be_confirmed():
    in_minutes = TOY.read_text().replace(
        '<model id="mm_hill_toy"', '<model timeUnits="minute_unit" id="mm_hill_toy"').replace(
        "<listOfCompartments>", '<listOfUnitDefinitions><unitDefinition id="minute_unit"><listOfUnits>'
        '<unit kind="second" exponent="1" scale="0" multiplier="60"/></listOfUnits></unitDefinition>'
        "</listOfUnitDefinitions><listOfCompartments>")
    with pytest.raises(ScenarioError, match=r"time_unit='minute'"):
        from_sbml(in_minutes)
    with pytest.raises(ScenarioError, match="disagrees"):
        from_sbml(in_minutes, time_unit="hour")
    per_day = from_sbml(in_minutes, time_unit="minute")
    day = from_sbml(TOY)
    for a, b in zip(day.rate_exprs, per_day.rate_exprs):
        assert sp.simplify(b - 1440 * a) == 0
    # a model without declared units may be declared to be in hours by the caller
    assert sp.simplify(from_sbml(TOY, time_unit="h").rate_exprs[2] - 24 * day.rate_exprs[2]) == 0


def test_names_the_rate_grammar_reserves_are_renamed():
    text = TOY.read_text().replace("Vsyn", "lambda").replace("Km", "mm")
    net = from_sbml(text)
    names = {p.name for p in net.parameters}
    assert {"lambda_", "mm_"} <= names and not {"lambda", "mm"} & names
    plain = from_sbml(TOY)
    back = {net.symbols["lambda_"]: plain.symbols["Vsyn"], net.symbols["mm_"]: plain.symbols["Km"]}
    for a, b in zip(net.rate_exprs, plain.rate_exprs, strict=True):
        assert sp.simplify(a.xreplace(back) - b) == 0
    assert net.source == "SBML import: model 'mm_hill_toy'"


# --------------------------------------------------------------------------- refusals
_EVENT = """<listOfEvents><event id="pulse" useValuesFromTriggerTime="true">
  <trigger initialValue="false" persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML">
    <apply><gt/><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time"> t </csymbol>
    <cn> 1 </cn></apply></math></trigger>
  <listOfEventAssignments><eventAssignment variable="S"><math xmlns="http://www.w3.org/1998/Math/MathML">
    <cn> 5 </cn></math></eventAssignment></listOfEventAssignments></event></listOfEvents></model>"""
_ALGEBRAIC = """<listOfRules><algebraicRule><math xmlns="http://www.w3.org/1998/Math/MathML">
  <apply><minus/><ci> kdeg </ci><cn> 1 </cn></apply></math></algebraicRule></listOfRules><listOfReactions>"""
_INFINITE = """<listOfInitialAssignments><initialAssignment symbol="kdeg">
  <math xmlns="http://www.w3.org/1998/Math/MathML"><apply><divide/><cn> 1 </cn><cn> 0 </cn></apply></math>
  </initialAssignment></listOfInitialAssignments><listOfReactions>"""
_DELAY = """<apply><times/><ci> kdeg </ci><apply><csymbol encoding="text"
  definitionURL="http://www.sbml.org/sbml/symbols/delay"> delay </csymbol><ci> X </ci><cn> 1 </cn></apply></apply>"""


@pytest.mark.parametrize("edit, message", [
    # events are imported (tests/test_cell_events.py); one whose trigger reads delay() is not
    (lambda t: t.replace("</model>", _EVENT.replace('<cn> 1 </cn></apply></math></trigger>',
                                                    '<apply><csymbol encoding="text" definitionURL="http://www.sbml.org'
                                                    '/sbml/symbols/delay"> delay </csymbol><ci> X </ci><cn> 1 </cn>'
                                                    '</apply></apply></math></trigger>')),
     "event pulse trigger.*delay"),
    (lambda t: t.replace('id="kdeg" value="0.7" constant="true"', 'id="kdeg" value="0.7" constant="false"')
     .replace("<listOfReactions>", _ALGEBRAIC), "algebraic rule '0': algebraic rules are not supported"),
    (lambda t: t.replace("<listOfReactions>", _INFINITE),
     "initial value of 'kdeg' = .*not a valid expression .ZeroDivisionError"),
    (lambda t: t.replace("<apply><times/><ci> kdeg </ci><ci> X </ci></apply>", _DELAY),
     "reaction 'R_deg': kinetic law: delay"),
    (lambda t: t.replace('id="R_deg" name="X degradation" reversible="false" fast="false"',
                         'id="R_deg" name="X degradation" reversible="false" fast="true"'),
     "reaction 'R_deg': fast reactions"),
    (lambda t: t.replace("</listOfReactions>", "</listOfReactions"), "not a valid SBML model"),
    (lambda t: t.replace("<ci> Km </ci>", "<ci> Kmm </ci>"), "not a valid SBML model"),
])
def test_unsupported_sbml_is_refused_by_name(edit, message):
    text = edit(TOY.read_text())
    assert text != TOY.read_text()
    with pytest.raises(ScenarioError, match=message) as err:
        from_sbml(text)
    assert "SBML model 'mm_hill_toy'" in str(err.value) or "SBML text" in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ScenarioError, match="not found"):
        from_sbml(tmp_path / "nope.xml")


# --------------------------------------------------------------------------- rules, time, variable sizes
RULES = Path(__file__).parent / "data" / "rules_toy.xml"
STOICH = Path(__file__).parent / "data" / "stoich_toy.xml"


def roadrunner_original(path: Path, imp, ids: list, t_end: float, n: int) -> np.ndarray:
    """libroadrunner on the original file at tight tolerances: the SBML quantities ``ids``
    (species as concentrations unless the import holds them as amounts) at n times to t_end."""
    r = roadrunner.RoadRunner(str(path))
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = 1e-14
    floating = set(r.model.getFloatingSpeciesIds()) | set(r.model.getBoundarySpeciesIds())
    sel = ["time"] + [f"[{i}]" if i in floating and not imp.species[i][1] else i for i in ids]
    return np.asarray(r.simulate(0.0, t_end, n, sel))[:, 1:]


def cross_check(path: Path, t_end: float = 5.0, n: int = 51):
    """Every SBML quantity of ``path`` (species as SBML's math reads them, compartments,
    parameters, species references, reactions) along seedsoil's trajectory and libroadrunner's."""
    from seedsoil.cell.sbml import import_sbml
    from seedsoil.cell.solver import cell_parameters, initial_states, input_table, integrate

    imp = import_sbml(path)
    net = imp.network
    t = np.linspace(0.0, t_end, n)
    P = cell_parameters(net, 1)
    ut, U = input_table(net, 1, None)
    out, stats = integrate(net, initial_states(net, 1, None), P, ut, U, t, rtol=1e-10, atol=1e-14, parallel=False)
    assert stats[0, 2] == 0
    ids = list(imp.values)
    theirs = roadrunner_original(path, imp, ids, t_end, n)
    ours = np.column_stack([np.broadcast_to(imp.series(i, out[0].T, P[0], U[0, 0]), t.shape) for i in ids])
    return imp, ids, ours, theirs


@pytest.fixture(scope="module")
def rules_run():
    return cross_check(RULES)


def test_rules_model_is_read_as_states_and_assignments(rules_run):
    imp, *_ = rules_run
    net = imp.network
    kinds = {s.name: s.signed for s in net.species}
    # rate rules make state variables that may go negative; species in the growing compartment
    # are held as amounts; time is a state. What a condition reads (P < 1, so P's amount; time)
    # is declared real, not positive: sympy would decide P <= 0 false for a positive P
    assert kinds == {"V": True, "q": True, "S_amount": False, "P_amount": True, "A": False, "time_": True}
    assert net.assignment_names == ("k", "B", "S", "P")
    values = {p.name: p.value for p in net.parameters}
    # piecewise(0.5, 5, 1.5): a numeric condition is true when not zero (libsbml's expansion gets 1.5)
    assert values["th"] == 0.5
    assert net.species[net.species_index["V"]].initial == 2.0  # initial assignment 4 th
    assert net.species[net.species_index["S_amount"]].initial == 8.0  # 4 per volume in a size of 2
    assert "V" not in values and "k" not in values


def test_rules_model_matches_roadrunner(rules_run):
    imp, ids, ours, theirs = rules_run
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-10)
    col = dict(zip(ids, ours.T))
    assert col["q"][-1] < -1.0  # the rate-ruled parameter went negative and was not clipped
    assert col["V"][-1] > 5.0 and col["S"][-1] < 0.2 * col["S"][0]  # growth and dilution happened
    assert len(set(np.round(col["A"][1:] - col["A"][:-1], 8))) > 1  # the piecewise rate switched


def test_imported_amounts_survive_the_toml_round_trip(rules_run):
    """Species held as amounts in the model's own substance unit (unit label "amount") are written
    by to_toml and read back unchanged, not refused as a unit pint does not know."""
    import tomllib

    from seedsoil.cell.network import AMOUNT, Network

    net = rules_run[0].network
    assert {s.unit for s in net.species if s.name.endswith("_amount")} == {AMOUNT}
    back = Network.from_dict(tomllib.loads(net.to_toml()))
    assert back.to_dict() == net.to_dict() and back.content_hash == net.content_hash
    with pytest.raises(ScenarioError, match="S_amount.initial.*must be a number"):
        Network.from_dict({"species": {"S_amount": {"initial": "3 nM", "unit": AMOUNT}}})


def test_stoichiometry_conversion_factors_rate_of_and_time_match_roadrunner():
    imp, ids, ours, theirs = cross_check(STOICH)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-10)
    col = dict(zip(ids, ours.T))
    assert col["ny"][-1] == pytest.approx(2.0)  # stoichiometry 1 + t / 5
    assert abs(col["dX"]).min() > 0.01 and col["N"][-1] > 2.0
    assert imp.values["Z"] == 1.0  # a 0-D compartment: its species are amounts


def test_assignments_resolve_in_dependency_order_and_cycles_are_refused():
    from seedsoil.cell.network import Assignment, Network, Parameter, Reaction, Species

    base = dict(name="n", species=(Species("X", 1.0),), inputs=(),
                parameters=(Parameter("k", 2.0, source="assumption: test"),),
                reactions=(Reaction.parse("d", "X ->", "b * X"),))
    net = Network(**base, assignments=(Assignment("b", "a + 1"), Assignment("a", "k * X")))
    X, k = net.symbols["X"], net.symbols["k"]
    assert sp.simplify(net.rate_exprs[0] - (k * X + 1) * X) == 0
    np.testing.assert_allclose(net.assigned(np.array([[3.0]])), [[7.0], [6.0]])
    assert Network.from_dict(net.to_dict()).assignment_exprs == net.assignment_exprs
    with pytest.raises(ScenarioError, match="cycle: a -> b -> a|cycle: b -> a -> b"):
        Network(**base, assignments=(Assignment("b", "a + 1"), Assignment("a", "b * X")))
    with pytest.raises(ScenarioError, match=">= 0"):
        Network(**{**base, "species": (Species("X", -1.0),)})
    signed = Network(**{**base, "species": (Species("X", -1.0, signed=True),)}, assignments=(Assignment("b", "k"),))
    assert signed.initial_state[0] == -1.0 and signed.signed_mask == (True,)
    assert "assignments" not in builtin_network().to_dict()  # other networks keep their layout and hash


@pytest.mark.parametrize("text, value", [
    ("piecewise(1, 5, 2)", 1), ("piecewise(1, 0, 2)", 2), ("piecewise(1, 0.0, 2)", 2), ("True and (0 or 0.0)", 0),
    ("piecewise(1, False)", float("nan")), ("2 * (3 > 1) + (1 > 3)", 2), ("True", 1), ("1 > 2", 0),
    ("quotient(-7, 2)", -3), ("rem(-7, 2)", -1), ("xor(1 < 2, 2 < 3)", 0),
    ("piecewise(4, implies(1 > 2, 0 > 1), 5)", 4), ("max(1, 3, 2) + min(4, 5)", 7), ("abs(-2) + floor(1.5)", 3),
])
def test_sbml_grammar_numbers_and_conditions(text, value):
    from seedsoil.cell.expressions import parse_rate

    e = parse_rate(text, {})
    got = float(sp.Integer(1) * e) if not isinstance(e, sp.logic.boolalg.BooleanAtom) else float(bool(e))
    assert got == pytest.approx(value, nan_ok=True)


def test_a_condition_on_a_quantity_at_zero_is_not_decided_by_assumptions():
    """SBML Test Suite case 00959: piecewise(0, time <= 0 or time >= 1, arcsech(time)) is 0 at time 0;
    with time a positive symbol sympy drops 'time <= 0' and the value is infinite."""
    from seedsoil.cell.sbml import import_sbml

    text = STOICH.read_text().replace(
        '<math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci> nx </ci><ci> R1 </ci></apply></math>',
        '<math xmlns="http://www.w3.org/1998/Math/MathML"><piecewise><piece><cn> 0 </cn><apply><or/>'
        '<apply><leq/><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time"> t </csymbol>'
        '<cn> 0 </cn></apply><apply><eq/><ci> k </ci><cn> 0 </cn></apply></apply></piece>'
        '<otherwise><apply><divide/><cn> 1 </cn><csymbol encoding="text" '
        'definitionURL="http://www.sbml.org/sbml/symbols/time"> t </csymbol></apply></otherwise></piecewise></math>')
    imp = import_sbml(text.replace('id="k" value="0.3"', 'id="k" value="0"'))
    net = imp.network
    flux = net.assignment_exprs[net.assignment_names.index("flux")]
    at = {net.symbols["time_"]: 0.0, net.symbols["k"]: 0.0}
    assert float(flux.subs(at)) == 0.0
    assert float(flux.subs({**at, net.symbols["k"]: 1.0})) == 0.0  # time <= 0 alone
    assert float(flux.subs({net.symbols["time_"]: 2.0, net.symbols["k"]: 1.0})) == 0.5


def test_a_parameter_of_infinite_or_nan_value_is_a_constant_assignment():
    """SBML Test Suite cases 00950, 00951, 01811, 01813: parameters of value INF, -INF, NaN."""
    from seedsoil.cell.sbml import import_sbml

    text = TOY.read_text().replace('<parameter id="K" value="0.5" constant="true"/>',
                                   '<parameter id="K" value="0.5" constant="true"/><parameter id="big" value="INF" '
                                   'constant="true"/><parameter id="undefined" value="NaN" constant="true"/>')
    imp = import_sbml(text)
    net = imp.network
    assert "big" not in net.parameter_index and {"big", "undefined"} <= set(net.assignment_names)
    states = np.zeros((len(net.species), 3))
    assert np.all(imp.series("big", states) == np.inf) and np.all(np.isnan(imp.series("undefined", states)))
    with pytest.raises(ScenarioError, match="initial value of 'X' is .*not a finite number"):
        import_sbml(text.replace('initialAmount="0.4"', 'initialAmount="INF"'))


# --------------------------------------------------------------------------- export of imported constructs
def roadrunner_export(imp, ids, t_end: float = 5.0, n: int = 51) -> np.ndarray:
    """``ids`` (SBML ids of the imported model) along libroadrunner's simulation of ``to_sbml`` of the
    import: each read where the import put it (a species, input, parameter or assignment rule of the
    network by name, or a constant); species as SBML's math reads them."""
    r = roadrunner.RoadRunner(to_sbml(imp.network))
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = 1e-14
    names = sorted({v for i in ids if isinstance(v := imp.values[i], str)})
    res = np.asarray(r.simulate(0.0, t_end, n, ["time", *names]))
    got = dict(zip(names, res[:, 1:].T))
    return np.column_stack([got[v] if isinstance(v := imp.values[i], str) else np.full(n, float(v)) for i in ids])


@pytest.mark.parametrize("path", [RULES, STOICH], ids=["rules", "stoichiometry"])
def test_export_of_imported_rules_time_and_conversion_factors_matches_roadrunner(path):
    """Assignment rules (exported as assignment rules), rate rules (source reactions), signed
    species, the time species, species held as amounts, conversion factors, stoichiometry that
    changes in time and piecewise rates: libroadrunner on seedsoil's export of the import gives
    what libroadrunner gives on the original model."""
    from seedsoil.cell.sbml import import_sbml

    imp = import_sbml(path)
    net = imp.network
    text = to_sbml(net)
    assert sbml_errors(text) == []
    model = libsbml.readSBMLFromString(text).getModel()
    rules = {r.getVariable() for r in model.getListOfRules() if r.isAssignment()}
    assert rules == set(net.assignment_names) and net.assignment_names  # not only substituted
    ids = list(imp.values)
    original = roadrunner_original(path, imp, ids, 5.0, 51)
    np.testing.assert_allclose(roadrunner_export(imp, ids), original, rtol=1e-6, atol=1e-10)


def test_export_writes_conditions_logic_and_functions_as_mathml():
    """Piecewise, comparisons, logic, min / max, abs, floor, factorial, trigonometric and hyperbolic
    functions and their inverses, NaN: written as MathML (they raised ValueError), read back by
    libsbml and by seedsoil as the same functions, and simulated by libroadrunner as seedsoil does."""
    from seedsoil.cell.network import Assignment, Network, Parameter, Reaction, Species

    net = Network(
        name="conditions", inputs=(),
        species=(Species("X", 1.0), Species("Y", -0.5, signed=True), Species("clock", 0.0, signed=True)),
        parameters=(Parameter("k", 0.7, source="assumption: test"), Parameter("th", 0.4, source="assumption: test")),
        assignments=(Assignment("gate", "piecewise(1, clock > th and not (Y >= 1), 0.5, xor(X < 0.3, clock < 1), 0)"),
                     Assignment("wave", "sin(3 * clock) + cosh(Y) / 4 + atan(X) - acosh(1 + X) / 5"),
                     Assignment("odd", "piecewise(nan, Y < -5, 0)")),
        reactions=(Reaction.parse("decay", "X ->", "k * gate * X + odd"),
                   Reaction.parse("swing", "-> Y", "wave - abs(Y) + max(0, min(X, 0.8)) - floor(clock) / 10 "
                                                   "+ factorial(2) / 8 + tanh(Y) * asinh(X)"),
                   Reaction.parse("tick", "-> clock", "1")))
    text = to_sbml(net)
    assert sbml_errors(text) == []
    model = libsbml.readSBMLFromString(text).getModel()
    gate = libsbml.formulaToL3String(model.getAssignmentRule("gate").getMath())
    assert "piecewise" in gate and "&&" in gate and "xor" in gate
    back = from_sbml(text)
    assert back.assignment_names == net.assignment_names
    assert all(b.signed for a, b in zip(net.species, back.species, strict=True) if a.signed)  # may go negative
    rng = np.random.default_rng(3)
    y = np.vstack([rng.uniform(0.05, 2.0, 20), rng.uniform(-1.0, 1.5, 20), rng.uniform(0.0, 3.0, 20)])
    np.testing.assert_allclose(back.rhs(y), net.rhs(y), rtol=1e-12, atol=1e-14)
    ds = simulate_cells(net, 1, t_span=(0.0, 2.0), t_eval=21, rtol=1e-10, atol=1e-12)
    ours = ds["state"].values[0]
    r = roadrunner.RoadRunner(text)
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = 1e-14
    theirs = np.asarray(r.simulate(0.0, 2.0, 21, ["time", *net.species_names]))[:, 1:]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)
    assert ours[-1, 0] < 0.9 * ours[0, 0] and abs(ours[-1, 1] - ours[0, 1]) > 0.1  # the comparison is not of constants


# --------------------------------------------------------------------------- hierarchical composition
COMP_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1"
      xmlns:comp="http://www.sbml.org/sbml/level3/version1/comp/version1" comp:required="true">
  <model id="outer">
    <listOfCompartments><compartment id="C" size="2" spatialDimensions="3" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="S" compartment="C" initialConcentration="3" hasOnlySubstanceUnits="false"
               boundaryCondition="false" constant="false"/>
    </listOfSpecies>
    <listOfParameters><parameter id="k" value="0.4" constant="true"/></listOfParameters>
    <listOfReactions>
      <reaction id="J" reversible="false" fast="false">
        <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci>k</ci><ci>S</ci><ci>C</ci></apply></math></kineticLaw>
      </reaction>
    </listOfReactions>
    <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="inner"/></comp:listOfSubmodels>
  </model>
  <comp:listOfModelDefinitions>
    <comp:modelDefinition id="inner">
      <listOfParameters>
        <parameter id="x" value="1" constant="false"/><parameter id="r" value="0.5" constant="true"/>
      </listOfParameters>
      <listOfRules><rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><ci>r</ci><ci>x</ci></apply></math></rateRule></listOfRules>
    </comp:modelDefinition>
  </comp:listOfModelDefinitions>
</sbml>
"""


def test_a_hierarchical_model_is_flattened_and_matches_roadrunner(tmp_path):
    """comp: libsbml's flattening makes one core model (the submodel's x becomes A__x), imported as
    usual; its export simulates as the original does in libroadrunner."""
    from seedsoil.cell.sbml import import_sbml

    path = tmp_path / "comp.xml"
    path.write_text(COMP_MODEL)
    imp = import_sbml(path)
    assert {"S", "A__x", "A__r", "C"} <= set(imp.values)
    r = roadrunner.RoadRunner(str(path))
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = 1e-14
    ids = ["S", "A__x"]
    original = np.asarray(r.simulate(0.0, 5.0, 51, ["time", "[S]", "A__x"]))[:, 1:]
    np.testing.assert_allclose(original[-1], [3 * np.exp(-0.4 * 2 * 5 / 2), np.exp(2.5)], rtol=1e-6)
    np.testing.assert_allclose(roadrunner_export(imp, ids), original, rtol=1e-6, atol=1e-10)
    assert import_sbml(COMP_MODEL).values.keys() == imp.values.keys()  # from text too


def test_a_hierarchical_model_whose_external_definition_is_missing_is_refused(tmp_path):
    text = COMP_MODEL.replace('<comp:listOfModelDefinitions>', '<comp:listOfExternalModelDefinitions>'
                              '<comp:externalModelDefinition comp:id="far" comp:source="absent.xml"/>'
                              '</comp:listOfExternalModelDefinitions><comp:listOfModelDefinitions>').replace(
        'comp:modelRef="inner"', 'comp:modelRef="far"')
    path = tmp_path / "comp.xml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="external model|comp"):
        from_sbml(path)
