"""SBML both ways: write a :class:`~seedsoil.cell.network.Network` as SBML Level 3
and read an SBML model into a ``Network``.

``to_sbml`` writes one compartment ``cell`` of unit volume, the network's species
(concentrations), its inputs as constant boundary species (at the values given, so
any SBML simulator reproduces :func:`~seedsoil.cell.solver.simulate_cells` with
constant inputs), its parameters as global constants (internal values: per day,
nM) and one reaction per network reaction whose kinetic law is the rate
expression expanded into elementary MathML (``hill``, ``mm``... written out). The
model's time unit is the day. Units, sources and notes of every element travel in
a ``seedsoil`` annotation, so ``from_sbml(to_sbml(net))`` gives ``net`` back. The
network's assignments are parameters set by assignment rules (the kinetic laws read
them by name), and every function of the rate grammar (piecewise, relations, logic,
min/max, trigonometry...) is written as MathML, so every network ``from_sbml``
builds can be written back and simulated by another SBML tool.

``from_sbml`` (and ``import_sbml``, which also says which network name holds each SBML
quantity) reads SBML Level 2 and 3 core models: compartments, species, parameters,
function definitions (expanded), kinetic laws, initial assignments (evaluated here, in
dependency order), assignment rules (network assignments, substituted into the rates),
rate rules (state variables), explicit time (a state variable), piecewise functions,
relations and logic, the csymbols time / avogadro / rateOf, compartments whose size changes
(species held as amounts), conversion factors, stoichiometryMath, variable
stoichiometry and events (triggers, delays, priorities, persistence, initial values, values
from trigger time; a parameter or compartment an event changes becomes a state variable).
For a species of concentration in a compartment of constant volume V,
``d[S]/dt = sum(stoichiometry x kinetic law) / V`` (the kinetic law is an amount per
time); the imported rate is written that way. Boundary species and constant species
that no rule changes become inputs. It refuses, with a
:class:`~seedsoil.errors.ScenarioError` naming the element, what the cell solver cannot
represent: algebraic rules, delays, fast reactions, required SBML packages (a
model using hierarchical composition, ``comp``, is first flattened by libsbml's converter),
non-finite initial values, and invalid documents. Unit inconsistencies are not refused.

python-libsbml is imported only when these functions are called
(``pip install 'seedsoil[sbml]'``).
"""
from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping
from xml.sax.saxutils import escape, quoteattr

import sympy as sp

from ..errors import ScenarioError
from .expressions import RESERVED, parse_rate
from .network import AMOUNT, Assignment, Event, Input, Network, Parameter, Reaction, Species, _unknown

#: Namespace of the annotation that carries what SBML has no field for (units, sources, notes).
ANNOTATION_NS = "https://github.com/seedsoil/seedsoil/sbml-annotation/v1"
SBML_LEVEL, SBML_VERSION = 3, 2
SECONDS_PER_DAY = 86400.0
COMPARTMENT = "cell"

#: Reaction.law → SBO term of its kinetic law (Systems Biology Ontology).
SBO_BY_LAW = {"mass_action": 12, "michaelis_menten": 28, "hill": 192}
_LAW_BY_SBO = {12: "mass_action", 41: "mass_action", 28: "michaelis_menten", 29: "michaelis_menten",
               192: "hill"}

_XHTML = "http://www.w3.org/1999/xhtml"
_MATHML = "http://www.w3.org/1998/Math/MathML"
_ATTR_ENTITIES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def _libsbml():
    try:
        import libsbml
    except ImportError:
        raise ImportError("SBML support needs python-libsbml: pip install 'seedsoil[sbml]' "
                          "(or pip install python-libsbml)") from None
    return libsbml


# =========================================================================== export
def to_sbml(network: Network, *, inputs: Mapping[str, float] | None = None, path: str | Path | None = None) -> str:
    """The network as an SBML Level 3 Version 2 document (text); also written to ``path`` if given.

    ``inputs``: input name → constant concentration (nM) written as the boundary
    species' value; inputs not named keep the network default. Time unit: day.
    """
    lib = _libsbml()
    values = _export_inputs(network, inputs)
    doc = lib.SBMLDocument(SBML_LEVEL, SBML_VERSION)
    model = doc.createModel()
    names = {*network.species_names, *network.input_names, *network.parameter_names, *network.assignment_names}
    taken = set(names)
    _ok(model.setId(_unique(_sid(network.name), taken)), "model id")
    _ok(model.setName(network.name), "model name")
    _set_notes(model, network.description, f"source: {network.source}" if network.source else "")
    _annotate(model, "network", name=network.name, description=network.description, source=network.source)

    day = model.createUnitDefinition()
    _ok(day.setId("day"), "unit day")
    unit = day.createUnit()
    for ok in (unit.setKind(lib.UNIT_KIND_SECOND), unit.setExponent(1), unit.setScale(0),
               unit.setMultiplier(SECONDS_PER_DAY)):
        _ok(ok, "unit day")
    _ok(model.setTimeUnits("day"), "time units")

    comp = model.createCompartment()
    cid = _unique(COMPARTMENT, taken)
    for ok in (comp.setId(cid), comp.setSize(1.0), comp.setConstant(True), comp.setSpatialDimensions(3)):
        _ok(ok, f"compartment {cid}")

    for s in network.species:
        _add_species(model, s.name, cid, s.initial, boundary=False)
        _set_notes(model.getSpecies(s.name), s.note, f"unit: {s.unit}" if s.unit else "")
        _annotate(model.getSpecies(s.name), "species", unit=s.unit, note=s.note, value=repr(float(s.initial)))
    for u in network.inputs:
        _add_species(model, u.name, cid, values[u.name], boundary=True)
        _set_notes(model.getSpecies(u.name), f"input held by the experimenter: {u.note}".rstrip(": "),
                   f"unit: {u.unit}" if u.unit else "")
        _annotate(model.getSpecies(u.name), "input", unit=u.unit, note=u.note, value=repr(values[u.name]))
    for p in network.parameters:
        par = model.createParameter()
        for ok in (par.setId(p.name), par.setValue(float(p.value)), par.setConstant(True)):
            _ok(ok, f"parameter {p.name}")
        _set_notes(par, p.note, f"unit: {p.unit}" if p.unit else "", f"source: {p.source}" if p.source else "")
        _annotate(par, "parameter", unit=p.unit, source=p.source, note=p.note, range=p.range,
                  written_unit=p.written_unit, value=repr(float(p.value)))

    # assignments: parameters set by assignment rules (the rates below read them by name)
    for a in network.assignments:
        par = model.createParameter()
        for ok in (par.setId(a.name), par.setConstant(False)):
            _ok(ok, f"assignment {a.name}")
        rule = model.createAssignmentRule()
        _ok(rule.setVariable(a.name), f"assignment {a.name}")
        _set_math(lib, rule, parse_rate(a.expression, network.symbols, where=f"assignment[{a.name!r}]"),
                  f"assignment {a.name!r}")
        _set_notes(par, a.note, f"unit: {a.unit}" if a.unit else "")
        _annotate(par, "assignment", unit=a.unit, note=a.note)

    on_state = {*network.species_names, *network.input_names}
    for r, expr, raw in zip(network.reactions, network.rate_exprs, _raw_rates(network)):
        rx = model.createReaction()
        rid = _unique(_sid(r.name), taken)
        for ok in (rx.setId(rid), rx.setName(r.name), rx.setReversible(False)):
            _ok(ok, f"reaction {r.name!r}")
        for terms, create in ((r.reactants, rx.createReactant), (r.products, rx.createProduct)):
            for name, coef in terms:
                ref = create()
                for ok in (ref.setSpecies(name), ref.setStoichiometry(float(coef)), ref.setConstant(True)):
                    _ok(ok, f"reaction {r.name!r}")
        involved = {n for n, _ in (*r.reactants, *r.products)}
        read = {x.name for x in (*expr.free_symbols, *raw.free_symbols)}  # directly or through assignments
        for name in sorted(n for n in read if n in on_state and n not in involved):
            _ok(rx.createModifier().setSpecies(name), f"reaction {r.name!r} modifier")
        law = rx.createKineticLaw()
        _set_math(lib, law, raw, f"reaction {r.name!r} kinetic law")
        if r.law in SBO_BY_LAW:
            _ok(law.setSBOTerm(SBO_BY_LAW[r.law]), f"reaction {r.name!r} SBO term")
        _set_notes(rx, r.note, f"rate: {r.rate}", f"equation: {r.equation}")
        _annotate(rx, "reaction", name=r.name, law=r.law, note=r.note, rate=r.rate)

    for e in getattr(network, "events", ()):
        _add_event(lib, model, network, e, taken)

    text = lib.writeSBMLToString(doc)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _add_event(lib, model, network: Network, e, taken: set[str]) -> None:
    """One network event as an SBML event: trigger (persistent, initial value), delay and
    priority when set (in the network's time, days), its assignments to species, and whether
    they use the values at trigger time."""
    where = f"event {e.name!r}"
    ev = model.createEvent()
    for ok in (ev.setId(_unique(_sid(e.name), taken)), ev.setName(e.name),
               ev.setUseValuesFromTriggerTime(bool(e.use_trigger_values))):
        _ok(ok, where)
    trig = ev.createTrigger()
    for ok in (trig.setPersistent(bool(e.persistent)), trig.setInitialValue(bool(e.initial_value))):
        _ok(ok, f"{where} trigger")
    _set_math(lib, trig, parse_rate(e.trigger, network.symbols, where=f"{where} trigger"), f"{where} trigger")
    if e.delay:
        _set_math(lib, ev.createDelay(), parse_rate(e.delay, network.symbols, where=f"{where} delay"),
                  f"{where} delay")
    if e.priority:
        _set_math(lib, ev.createPriority(), parse_rate(e.priority, network.symbols, where=f"{where} priority"),
                  f"{where} priority")
    for target, expr in e.assignments:
        ea = ev.createEventAssignment()
        _ok(ea.setVariable(target), f"{where} assignment to {target!r}")
        _set_math(lib, ea, parse_rate(expr, network.symbols, where=f"{where} assignment to {target!r}"),
                  f"{where} assignment to {target!r}")
    if e.note:
        _set_notes(ev, e.note)


def _raw_rates(network: Network) -> tuple[sp.Expr, ...]:
    """The rates as written (assignments by name, not substituted: SBML assignment rules hold them)."""
    if not network.assignments:
        return network.rate_exprs
    return tuple(parse_rate(r.rate, network.symbols, where=f"reaction[{r.name!r}].rate") for r in network.reactions)


def _set_math(lib, sbase, expr: sp.Basic, what: str) -> None:
    math_ast = lib.readMathMLFromString(f'<math xmlns="{_MATHML}">{_mathml(expr)}</math>')
    if math_ast is None:
        raise RuntimeError(f"{what}: could not build MathML for {expr}")  # a bug, not user error
    _ok(sbase.setMath(math_ast), what)


def _export_inputs(network: Network, inputs: Mapping[str, float] | None) -> dict[str, float]:
    values = {u.name: float(u.default) for u in network.inputs}
    for name, v in (inputs or {}).items():
        if name not in values:
            raise ScenarioError(_unknown("input", name, network.input_names), field=f"inputs.{name}", value=name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ScenarioError(f"inputs.{name} = {v!r}: SBML export takes one constant concentration >= 0 (nM) "
                                f"per input (time courses and per-cell values cannot be written)",
                                field=f"inputs.{name}", value=v)
        values[name] = float(v)
    return values


def _add_species(model, name: str, compartment: str, value: float, *, boundary: bool) -> None:
    sp_ = model.createSpecies()
    for ok in (sp_.setId(name), sp_.setCompartment(compartment), sp_.setInitialConcentration(float(value)),
               sp_.setHasOnlySubstanceUnits(False), sp_.setBoundaryCondition(boundary), sp_.setConstant(boundary)):
        _ok(ok, f"species {name}")


def _ok(code: int, what: str) -> None:
    if code != 0:  # LIBSBML_OPERATION_SUCCESS
        lib = _libsbml()
        raise RuntimeError(f"libsbml refused {what}: {lib.OperationReturnValue_toString(code)}")


def _sid(text: str) -> str:
    """An SBML identifier made from free text ("GP130 engagement" → "GP130_engagement")."""
    s = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "x"
    return s if re.match(r"[A-Za-z_]", s) else f"_{s}"


def _unique(name: str, taken: set[str], suffix: str = "_") -> str:
    out = name
    while out in taken:
        out += suffix
    taken.add(out)
    return out


def _set_notes(sbase, *paragraphs: str) -> None:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs if p)
    if body:
        _ok(sbase.setNotes(f'<body xmlns="{_XHTML}">{body}</body>'), "notes")


def _annotate(sbase, kind: str, **attrs: str) -> None:
    text = "".join(f" {k}={quoteattr(str(v), _ATTR_ENTITIES)}" for k, v in attrs.items() if v)
    _ok(sbase.appendAnnotation(f'<seedsoil:{kind} xmlns:seedsoil="{ANNOTATION_NS}"{text}/>'), "annotation")


def _exact(ann: Mapping[str, str], value: float) -> float:
    """``value``, or the full-precision copy our annotation keeps of it (libsbml writes 15 digits)
    unless the SBML number was edited since."""
    try:
        kept = float(ann["value"])
    except (KeyError, ValueError):
        return value
    return kept if math.isclose(kept, value, rel_tol=1e-13, abs_tol=0.0) else value


def _annotation(sbase, kind: str) -> dict[str, str]:
    """The attributes of our annotation element ``kind`` on ``sbase`` ({} if there is none)."""
    ann = sbase.getAnnotation() if sbase.isSetAnnotation() else None
    if ann is None:
        return {}
    for i in range(ann.getNumChildren()):
        node = ann.getChild(i)
        if node.getURI() == ANNOTATION_NS and node.getName() == kind:
            at = node.getAttributes()
            return {at.getName(j): at.getValue(j) for j in range(at.getLength())}
    return {}


# ---------------------------------------------------------------- sympy → MathML
def _apply(op: str, *args: str) -> str:
    return f"<apply><{op}/>{''.join(args)}</apply>"


def _mathml(expr: sp.Expr) -> str:
    """Content MathML of a rate expression of the rate grammar (arithmetic, exp / ln, piecewise,
    relations, logic, min / max, abs / floor / ceiling, factorial, trigonometric functions)."""
    if expr.is_Symbol:
        return f"<ci> {expr.name} </ci>"
    if expr is sp.E:
        return "<exponentiale/>"
    if expr is sp.pi:
        return "<pi/>"
    if expr.is_Integer:
        return f'<cn type="integer"> {int(expr)} </cn>'
    if expr.is_Rational:
        p, q = int(expr.p), int(expr.q)
        body = _apply("divide", _mathml(sp.Integer(abs(p))), _mathml(sp.Integer(q)))
        return _apply("minus", body) if p < 0 else body
    if expr.is_Float:
        return f"<cn> {float(expr)!r} </cn>"
    if expr.is_Add:
        # a - b - c as nested binary minus (reads back as written), not a + (-b) + (-c)
        pos = [a for a in expr.args if not a.could_extract_minus_sign()]
        neg = [-a for a in expr.args if a.could_extract_minus_sign()]
        out = (_apply("plus", *(_mathml(a) for a in pos)) if len(pos) > 1 else _mathml(pos[0]) if pos
               else _apply("minus", _mathml(neg.pop(0))))
        for a in neg:
            out = _apply("minus", out, _mathml(a))
        return out
    if expr.is_Mul:
        coeff, factors = expr.as_coeff_mul()
        if coeff.is_negative:
            return _apply("minus", _mathml(-expr))
        num, den = [], []
        if coeff.is_Rational:
            if coeff.p != 1:
                num.append(sp.Integer(coeff.p))
            if coeff.q != 1:
                den.append(sp.Integer(coeff.q))
        elif coeff != 1:
            num.append(coeff)
        for f in factors:
            if f.is_Pow and f.exp.is_number and f.exp.is_negative:
                den.append(sp.Pow(f.base, -f.exp, evaluate=False) if f.exp != -1 else f.base)
            else:
                num.append(f)
        top = _product(num)
        return _apply("divide", top, _product(den)) if den else top
    if expr.is_Pow:
        base, ex = expr.args
        if ex.is_number and ex.is_negative:
            inv = base if ex == -1 else sp.Pow(base, -ex, evaluate=False)
            return _apply("divide", _mathml(sp.Integer(1)), _mathml(inv))
        return _apply("power", _mathml(base), _mathml(ex))
    if isinstance(expr, sp.exp):
        return _apply("exp", _mathml(expr.args[0]))
    if isinstance(expr, sp.log) and len(expr.args) == 1:
        return _apply("ln", _mathml(expr.args[0]))
    if expr is sp.true or expr is sp.false:
        return f"<{str(bool(expr)).lower()}/>"
    if expr is sp.nan:
        return "<notanumber/>"
    if expr is sp.oo or expr is sp.zoo:
        return "<infinity/>"
    if expr is sp.S.NegativeInfinity:
        return _apply("minus", "<infinity/>")
    if isinstance(expr, sp.Piecewise):
        pieces, otherwise = [], None
        for value, cond in expr.args:
            if cond is sp.true:
                otherwise = value
                break
            pieces.append(f"<piece>{_mathml(value)}{_mathml(cond)}</piece>")
        tail = f"<otherwise>{_mathml(otherwise)}</otherwise>" if otherwise is not None else ""
        return f"<piecewise>{''.join(pieces)}{tail}</piecewise>"
    if isinstance(expr, sp.core.relational.Relational) and type(expr) in _RELATIONS:
        return _apply(_RELATIONS[type(expr)], _mathml(expr.lhs), _mathml(expr.rhs))
    if isinstance(expr, (sp.And, sp.Or, sp.Xor)):
        return _apply(type(expr).__name__.lower(), *(_mathml(a) for a in expr.args))
    if isinstance(expr, sp.Not):
        return _apply("not", _mathml(expr.args[0]))
    if isinstance(expr, (sp.Min, sp.Max)):  # SBML Level 3 Version 2 min / max
        return _apply(type(expr).__name__.lower(), *(_mathml(a) for a in expr.args))
    if isinstance(expr, sp.gamma):  # factorial(x) was read as gamma(x + 1)
        return _apply("factorial", _mathml(expr.args[0] - 1))
    fn = _FUNCTIONS.get(type(expr).__name__)
    if fn is not None and len(expr.args) == 1:
        return _apply(fn, _mathml(expr.args[0]))
    raise ValueError(f"cannot write {expr!r} ({type(expr).__name__}) as SBML math")


_RELATIONS = {sp.Eq: "eq", sp.Ne: "neq", sp.Lt: "lt", sp.Le: "leq", sp.Gt: "gt", sp.Ge: "geq"}
#: sympy function → MathML element, for the one-argument functions the rate grammar reads
_FUNCTIONS = {"Abs": "abs", "floor": "floor", "ceiling": "ceiling",
              **{f: f for f in ("sin", "cos", "tan", "sec", "csc", "cot", "sinh", "cosh", "tanh", "sech", "csch",
                                "coth")},
              **{f: f"arc{f[1:]}" for f in ("asin", "acos", "atan", "acot", "asinh", "acosh", "atanh", "acoth",
                                            "asec", "acsc", "asech", "acsch")}}


def _product(factors: list[sp.Expr]) -> str:
    if not factors:
        return _mathml(sp.Integer(1))
    if len(factors) == 1:
        return _mathml(factors[0])
    return _apply("times", *(_mathml(f) for f in factors))


# =========================================================================== import
@dataclass(frozen=True)
class SbmlImport:
    """What :func:`import_sbml` read: the network, and where each SBML quantity lives in it.

    ``values``: SBML id (species, compartment, parameter, species reference, reaction) → the
    network name holding its value (a species, input, parameter or assignment of ``network``)
    or a number (a constant nothing in the network uses). A species' value is its
    concentration, or its amount when it has only substance units (as SBML's own math reads
    it). ``species``: species id → (compartment id, hasOnlySubstanceUnits). ``time_scale``:
    model time units per day (the factor every rate was multiplied by). ``time``: the species
    that holds model time (d time / dt = 1 in model time), if the model reads time; along a
    trajectory its exact value is the output time itself."""

    network: Network
    values: Mapping[str, str | float]
    species: Mapping[str, tuple[str, bool]]
    time_scale: float = 1.0
    time: str | None = None  # the species holding model time, if the model reads time

    def series(self, sid: str, states, parameters=None, inputs=None):
        """The value of SBML ``sid`` along states (n_species, ...) of ``network``."""
        import numpy as np

        net = self.network
        v = self.values[sid]
        shape = np.shape(states)[1:]
        if not isinstance(v, str):
            return np.full(shape, float(v))
        if v in net.species_index:
            return np.asarray(states[net.species_index[v]], float)
        if v in net.input_index:
            u = net.input_defaults if inputs is None else inputs
            return np.full(shape, float(u[net.input_index[v]]))
        if v in net.parameter_index:
            p = net.parameter_values if parameters is None else parameters
            return np.full(shape, float(p[net.parameter_index[v]]))
        return net.assigned(states, parameters, inputs)[net.assignment_names.index(v)]


def from_sbml(source: str | Path, *, time_unit: str | None = None) -> Network:
    """Read an SBML model (a file path or the XML text) into a :class:`Network`.

    ``time_unit``: the model's time unit, when it is not the day (e.g. ``"minute"``):
    every kinetic law is then multiplied by the number of those units in a day.
    Needed (and checked against the model) when the model declares a time unit
    other than the day; a model that declares none is taken to be in days.
    Raises :class:`~seedsoil.errors.ScenarioError` naming the element it cannot import.
    """
    return import_sbml(source, time_unit=time_unit).network


def import_sbml(source: str | Path, *, time_unit: str | None = None) -> SbmlImport:
    """:func:`from_sbml`, also saying which network name holds each SBML quantity
    (:class:`SbmlImport`). Unit inconsistencies the model has are warnings
    (:class:`SbmlUnitWarning`), never refusals."""
    lib = _libsbml()
    doc, label = _read(lib, source)
    where = f"SBML {label}"
    doc = _flatten_comp(lib, doc, source, where)
    model = doc.getModel()
    _refuse_unsupported(lib, doc, model, where)
    if model.getNumFunctionDefinitions():
        _convert(lib, doc, "expandFunctionDefinitions", where)
    scale = _time_scale(lib, model, time_unit, where)
    return _Importer(lib, model, where, label, scale).result()


class SbmlUnitWarning(UserWarning):
    """An SBML model's units are inconsistent or not understood (imported anyway)."""


def _read(lib, source: str | Path):
    if isinstance(source, Path) or not str(source).lstrip("\ufeff \t\r\n").startswith("<"):
        p = Path(source)
        if not p.is_file():
            raise ScenarioError(f"SBML file {str(p)!r} not found", field="sbml", value=str(p))
        doc = lib.readSBMLFromFile(str(p))
        label = p.name
    else:
        doc = lib.readSBMLFromString(str(source))
        label = None
    errors = _errors(lib, doc)
    if not errors and doc.getModel() is not None:
        doc.checkConsistency()
        errors = _errors(lib, doc)
    model = doc.getModel()
    if label is None:
        label = f"model {model.getId()!r}" if model is not None and model.getId() else "text"
    if errors or model is None:
        shown = "; ".join(errors[:3]) or "no model in the document"
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ScenarioError(f"SBML {label}: not a valid SBML model: {shown}{more}", field="sbml", value=label)
    units = [doc.getError(i) for i in range(doc.getNumErrors())
             if doc.getError(i).getSeverity() >= lib.LIBSBML_SEV_ERROR
             and doc.getError(i).getCategory() == lib.LIBSBML_CAT_UNITS_CONSISTENCY]
    if units:
        import warnings

        first = " ".join(units[0].getMessage().split())
        warnings.warn(f"SBML {label}: {len(units)} unit inconsistenc{'y' if len(units) == 1 else 'ies'} (imported "
                      f"as written), e.g. line {units[0].getLine()}: {first}", SbmlUnitWarning, stacklevel=3)
    return doc, label


def _errors(lib, doc) -> list[str]:
    out = []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        # unit inconsistencies are not refused (the model is simulated as written)
        if e.getSeverity() >= lib.LIBSBML_SEV_ERROR and e.getCategory() not in (lib.LIBSBML_CAT_UNITS_CONSISTENCY,):
            out.append(f"line {e.getLine()}: {' '.join(e.getMessage().split())}")
    return out


def _convert(lib, doc, option: str, where: str) -> None:
    props = lib.ConversionProperties()
    props.addOption(option, True)
    if doc.convert(props) != lib.LIBSBML_OPERATION_SUCCESS:
        raise ScenarioError(f"{where}: libsbml could not apply {option}", field="sbml", value=option)


def _flatten_comp(lib, doc, source, where: str):
    """A model using hierarchical composition (the ``comp`` package) flattened by libsbml's own
    CompFlatteningConverter into one core model; external model definitions are looked up
    beside the file (or in the working folder for text). A document without comp is returned as is."""
    if doc.getLevel() < 3 or not doc.isPackageEnabled("comp"):
        return doc
    props = lib.ConversionProperties()
    props.addOption("flatten comp", True)
    is_file = isinstance(source, Path) or not str(source).lstrip("\ufeff \t\r\n").startswith("<")
    base = Path(source).resolve().parent if is_file else Path.cwd()
    props.addOption("basePath", str(base))
    props.addOption("performValidation", False)  # the document was validated when read
    code = doc.convert(props)
    if code != lib.LIBSBML_OPERATION_SUCCESS:
        errs = [" ".join(doc.getError(i).getMessage().split()) for i in range(doc.getNumErrors())
                if doc.getError(i).getSeverity() >= lib.LIBSBML_SEV_ERROR]
        detail = f": {errs[-1]}" if errs else f" ({lib.OperationReturnValue_toString(code)})"
        raise _refuse(where, "package", "comp", f"libsbml could not flatten the hierarchical model{detail}")
    # the flattened core model is checked again (what flattening makes must be a valid model)
    text = lib.writeSBMLToString(doc)
    flat = lib.readSBMLFromString(text)
    errors = _errors(lib, flat)
    if not errors and flat.getModel() is not None:
        flat.checkConsistency()
        errors = _errors(lib, flat)
    if errors or flat.getModel() is None:
        shown = "; ".join(errors[:3]) or "no model after flattening"
        raise _refuse(where, "package", "comp", f"the flattened model is not valid SBML: {shown}")
    return flat


def _refuse(where: str, element: str, ident: str, why: str) -> ScenarioError:
    """``element`` as SBML names it ("assignment rule"); the field is its last word ("rule.<id>")."""
    return ScenarioError(f"{where}: {element} {ident!r}: {why}", field=f"{element.split()[-1]}.{ident}", value=ident)


def _refuse_unsupported(lib, doc, model, where: str) -> None:
    for i in range(doc.getNumPlugins()):
        plugin = doc.getPlugin(i)
        pkg = plugin.getPackageName()
        # a package the document declares has its own prefix (libsbml's internal ones have none)
        if doc.getLevel() >= 3 and plugin.getPrefix() and doc.getPackageRequired(pkg):
            raise _refuse(where, "package", pkg, "required SBML packages are not supported; flatten the model "
                                                 "(e.g. comp) first")
    refs = {ref.getId() for rx in model.getListOfReactions()
            for ref in (*rx.getListOfReactants(), *rx.getListOfProducts()) if ref.isSetId()}
    for i, ev in enumerate(model.getListOfEvents()):
        eid = ev.getId() or ev.getName() or str(i)
        if not ev.isSetTrigger() or not ev.getTrigger().isSetMath():
            continue  # SBML Level 3 Version 2: an event without a trigger never triggers (it is left out)
        for ea in ev.getListOfEventAssignments():
            var = ea.getVariable()
            if model.getSpecies(var) is None and model.getParameter(var) is None \
                    and model.getCompartment(var) is None and var not in refs:
                raise _refuse(where, "event", eid, f"assignment to {var!r}: only event assignments to species, "
                                                   f"parameters, compartments and species references are supported")
    for rule in model.getListOfRules():
        # SBML Level 3 Version 2: a rule without math constrains nothing (it is left out, as below)
        if rule.isAlgebraic() and rule.isSetMath():
            raise _refuse(where, "algebraic rule", "0", "algebraic rules are not supported (the cell solver "
                                                         "integrates ODEs, not DAEs)")


def _time_scale(lib, model, time_unit: str | None, where: str) -> float:
    """Model time units per day (the factor every kinetic law is multiplied by)."""
    declared = _declared_seconds(lib, model, where)
    if time_unit is None:
        if declared is None or math.isclose(declared, SECONDS_PER_DAY, rel_tol=1e-12):
            return 1.0
        named = {1.0: "second", 60.0: "minute", 3600.0: "hour"}
        hint = named.get(declared, f"{declared:g} s")
        raise ScenarioError(f"{where}: the model's time unit is {hint} ({declared:g} s) but seedsoil works in days; "
                            f"pass time_unit={hint!r} to from_sbml to multiply every kinetic law by "
                            f"{SECONDS_PER_DAY / declared:g} (rate constants then read per {hint})",
                            field="time_unit", value=declared)
    from ..units import parse_quantity

    seconds = parse_quantity(f"1 {time_unit}" if isinstance(time_unit, str) else time_unit, "second",
                             field="time_unit")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ScenarioError(f"time_unit = {time_unit!r}: must be a positive time unit", field="time_unit",
                            value=time_unit)
    if declared is not None and not math.isclose(seconds, declared, rel_tol=1e-9):
        raise ScenarioError(f"{where}: time_unit={time_unit!r} ({seconds:g} s) disagrees with the model's declared "
                            f"time unit ({declared:g} s)", field="time_unit", value=time_unit)
    return SECONDS_PER_DAY / seconds


def _declared_seconds(lib, model, where: str) -> float | None:
    """Seconds per model time unit, if the model declares its time unit."""
    if model.getLevel() >= 3:
        if not model.isSetTimeUnits():
            return None
        uid = model.getTimeUnits()
    else:
        uid = "time" if model.getUnitDefinition("time") is not None else None
        if uid is None:
            return None
    if uid == "second":
        return 1.0
    ud = model.getUnitDefinition(uid)
    if ud is not None and ud.getNumUnits() == 1:
        u = ud.getUnit(0)
        if u.getKind() == lib.UNIT_KIND_SECOND and u.getExponent() == 1:
            return u.getMultiplier() * 10.0 ** u.getScale()
    import warnings

    warnings.warn(f"{where}: time units {uid!r} are not a time (seconds times a factor); the model is read as "
                  f"if in days", SbmlUnitWarning, stacklevel=3)
    return None


def _reserved(name: str) -> bool:
    return name in RESERVED or keyword.iskeyword(name) or keyword.issoftkeyword(name)


class _Importer:
    """Turns a checked libsbml model into seedsoil species, inputs, parameters, reactions and
    assignments.

    Where each SBML quantity goes:

    * compartment: a parameter (its size, when a rate uses it), an assignment (assignment
      rule) or a signed species (rate rule);
    * parameter: a parameter, an assignment or a signed species, likewise;
    * species: a species (changed by reactions: its concentration, or its amount with only
      substance units), an input (boundary or constant), an assignment, or a signed species
      (rate rule, in the species' own units). A species changed by reactions in a compartment
      whose size changes is held as its amount (``<id>_amount``), and ``<id>`` is the
      assignment amount / size, so that d amount / dt is the reactions' sum;
    * species reference with an id: a parameter (its stoichiometry);
    * reaction id used in math: an assignment (its kinetic law);
    * time: a species ``time_`` (d time / d day = model time units per day).

    Initial values (initial assignments, rules at t = 0, sizes, amounts and concentrations)
    are evaluated here with sympy, in dependency order.
    """

    def __init__(self, lib, model, where: str, label: str, scale: float):
        self.lib, self.model, self.where, self.scale = lib, model, where, scale
        self.source = f"SBML import: {label}"
        self.taken: set[str] = set()  # every SBML id and every seedsoil name given out
        for lst in (model.getListOfSpecies(), model.getListOfParameters(), model.getListOfCompartments(),
                    model.getListOfReactions()):
            self.taken.update(x.getId() for x in lst)
        for rx in model.getListOfReactions():
            for ref in (*rx.getListOfReactants(), *rx.getListOfProducts()):
                if ref.isSetId():
                    self.taken.add(ref.getId())
        self.names: dict[str, str] = {}  # SBML id → seedsoil name
        self.compartment_params: set[str] = set()  # constant compartments that become parameters
        self.rules = {r.getVariable(): r for r in model.getListOfRules()}  # assignment and rate rules
        self.ias = {ia.getSymbol(): ia for ia in model.getListOfInitialAssignments()}
        self.time_name: str | None = None
        self.used_reactions: set[str] = set()
        self.formula = _Formula(self)
        self.init: dict[str, object] = {}  # network name → initial value (a number or a sympy expression)
        self.symtab: dict[str, sp.Symbol] = {}
        self.const_size: dict[str, float] = {}  # constant compartment → size
        self.variable_comp: set[str] = set()  # compartments whose size changes
        self.refs: dict[str, object] = {}  # species reference id → its libsbml object
        self.rate_names: dict[str, str] = {}  # SBML id → name of the assignment holding rateOf(id)
        self.cond_names: set[str] = set()  # names a condition reads (directly)
        # quantities events change: state variables (constant between events)
        self.event_targets = {ea.getVariable() for ev in model.getListOfEvents()
                              for ea in ev.getListOfEventAssignments() if ea.isSetMath()}
        self.event_state: dict[str, tuple[str, str | None]] = {}  # target id → (state, factor of the value)

    def varies(self, sid: str) -> bool:
        """Does a rule or an event change ``sid``?"""
        return self.rule_kind(sid) is not None or sid in self.event_targets

    def name_for(self, sid: str) -> str:
        """The seedsoil name of an SBML id (renamed if the rate grammar reserves it)."""
        if sid not in self.names:
            self.names[sid] = self.fresh(f"{sid}_") if _reserved(sid) else sid
        return self.names[sid]

    def fresh(self, name: str) -> str:
        """A new name, neither reserved nor used."""
        while _reserved(name) or name in self.taken:
            name += "_"
        self.taken.add(name)
        return name

    def time(self) -> str:
        if self.time_name is None:
            self.time_name = self.fresh("time_")
            self.init[self.time_name] = 0.0
        return self.time_name

    def rate_of(self, sid: str, refuse) -> str:
        """The name standing for rateOf(sid): 0 for a constant, else an assignment made once the
        rates are known (:meth:`_rates_of`)."""
        m = self.model
        kind = self.rule_kind(sid)
        if kind == "assignment":
            raise refuse(f"rateOf({sid}) of a quantity set by an assignment rule is not supported")
        s = m.getSpecies(sid)
        changes = kind == "rate" or (s is not None and not s.getConstant() and not s.getBoundaryCondition()
                                     and any(ref.getSpecies() == sid for rx in m.getListOfReactions()
                                             for ref in (*rx.getListOfReactants(), *rx.getListOfProducts())))
        if s is not None and kind is None and s.getCompartment() in self.rules and not s.getHasOnlySubstanceUnits():
            raise refuse(f"rateOf({sid}) of a species in a compartment whose size changes is not supported")
        if not changes:
            return "0"
        if sid not in self.rate_names:
            self.rate_names[sid] = self.fresh(f"rateOf_{sid}")
        return self.rate_names[sid]

    def _rate_text(self, sid: str) -> str:
        """d sid / d(model time) from the SBML (for initial values, before the reactions are built)."""
        if sid in self.rate_rule_text:
            return self.rate_rule_text[sid]
        m = self.model
        s = m.getSpecies(sid)
        terms = []
        for rx in m.getListOfReactions():
            for sign, lst in ((-1, rx.getListOfReactants()), (1, rx.getListOfProducts())):
                for ref in lst:
                    if ref.getSpecies() != sid:
                        continue
                    if m.getLevel() == 2 and ref.isSetStoichiometryMath():
                        coef = self.math(ref.getStoichiometryMath().getMath(), f"{rx.getId()} stoichiometryMath")
                    elif ref.isSetId():
                        coef = self.name_for(ref.getId())
                    else:
                        coef = repr(float(ref.getStoichiometry()) if ref.isSetStoichiometry() else 1.0)
                    terms.append(f"{sign} * ({coef}) * ({self.laws[rx.getId()]})")
        text = " + ".join(terms) or "0"
        if m.getLevel() >= 3 and s.isSetConversionFactor():
            text = f"({text}) * {self.name_for(s.getConversionFactor())}"
        elif m.getLevel() >= 3 and m.isSetConversionFactor():
            text = f"({text}) * {self.name_for(m.getConversionFactor())}"
        if not s.getHasOnlySubstanceUnits():
            text = f"({text}) / {self.name_for(s.getCompartment())}"
        return text

    def _rates_of(self, reactions: list[Reaction]) -> list[Assignment]:
        """rateOf(x) = d x / d(model time): the sum of x's reaction terms (or its rate rule), over the
        time scale the rates were multiplied by."""
        out = []
        for sid, name in self.rate_names.items():
            state = self.name_for(sid)
            terms = []
            for r in reactions:
                coef = dict(r.products).get(state, 0.0) - dict(r.reactants).get(state, 0.0)
                if coef:
                    terms.append(f"{coef!r} * ({r.rate})")
            text = " + ".join(terms) or "0"
            if self.scale != 1.0:
                text = f"({text}) / {self.scale!r}"
            out.append(Assignment(name, text, note=f"rateOf({sid})"))
        return out

    def rule_kind(self, sid: str) -> str | None:
        r = self.rules.get(sid)
        return None if r is None else ("assignment" if r.isAssignment() else "rate")

    def math(self, node, what: str, local: Mapping[str, str] | None = None) -> str:
        return self.formula.text(node, local or {}, what)

    # ------------------------------------------------------------------ initial values
    def parse(self, text: str, what: str) -> sp.Expr:
        from .expressions import parse_rate

        return parse_rate(text, _NameSet(self.symtab), where=f"{self.where}: {what}")

    def value(self, name: str, _stack: tuple[str, ...] = (), *, finite: bool = True) -> float:
        """The initial value of network name ``name`` (evaluated once, in dependency order); one
        that is not a finite number is refused unless ``finite`` is false."""
        v = self.init.get(name)
        if v is None and name in self.rate_names.values():
            sid = next(k for k, n in self.rate_names.items() if n == name)
            v = self.init[name] = self.parse(self._rate_text(sid), f"rateOf({sid}) at time 0")
        if v is None:
            raise ScenarioError(f"{self.where}: no initial value for {name!r}", field="sbml", value=name)
        if isinstance(v, float):
            if finite and not math.isfinite(v):
                raise ScenarioError(f"{self.where}: the initial value of {name!r} is {v} (not a finite number)",
                                    field="sbml", value=name)
            return v
        if name in _stack:
            raise ScenarioError(f"{self.where}: initial values depend on each other in a cycle: "
                                f"{' -> '.join((*_stack, name))}", field="sbml", value=name)
        expr = v
        subs = {s: sp.Float(self.value(s.name, (*_stack, name)), 17) for s in expr.free_symbols}
        out = expr.subs(subs) if subs else expr
        if out is sp.true or out is sp.false:
            out = sp.Integer(1 if out is sp.true else 0)
        try:
            num = float(sp.N(out, 17))
        except (TypeError, AttributeError):
            num = math.nan
        self.init[name] = num
        if finite and not math.isfinite(num):
            raise ScenarioError(f"{self.where}: the initial value of {name!r} is {out} (not a finite number)",
                                field="sbml", value=name)
        return num

    def set_init(self, name: str, text_or_value) -> None:
        if isinstance(text_or_value, str):
            self.init[name] = self.parse(text_or_value, f"initial value of {name!r}")
        else:
            self.init[name] = float(text_or_value)

    # ------------------------------------------------------------------ the network
    def result(self) -> SbmlImport:
        m = self.model
        for rx in m.getListOfReactions():
            for ref in (*rx.getListOfReactants(), *rx.getListOfProducts()):
                if ref.isSetId():
                    self.refs[ref.getId()] = ref
        for r in m.getListOfRules():
            var = r.getVariable()
            if not r.isSetMath():  # SBML Level 3 Version 2 allows a rule without math: it does nothing
                self.rules.pop(var, None)
                continue
            if m.getSpecies(var) is None and m.getParameter(var) is None and m.getCompartment(var) is None \
                    and var not in self.refs:
                raise _refuse(self.where, "assignment rule" if r.isAssignment() else "rate rule", var,
                              "only rules on species, parameters, compartments and species references are "
                              "supported")
        self.ias = {k: v for k, v in self.ias.items() if v.isSetMath()}
        self._laws()
        self.rate_rule_text = {var: self.math(r.getMath(), f"rate rule {var}") for var, r in self.rules.items()
                               if r.isRate()}
        self._event_math()
        species, inputs, params, assignments = [], [], [], []
        values: dict[str, str | float] = {}
        # compartments
        for c in m.getListOfCompartments():
            cid, kind = c.getId(), self.rule_kind(c.getId())
            if kind is not None or cid in self.event_targets:
                self.variable_comp.add(cid)
            if kind == "assignment":
                continue
            if cid in self.ias:
                continue
            if c.isSetSize() and math.isfinite(c.getSize()):
                size = float(c.getSize())
            elif c.getSpatialDimensions() == 0 or (m.getLevel() < 3 and c.getSpatialDimensions() == 0):
                size = 1.0  # a 0-D compartment has no size: its species are amounts
            else:
                raise _refuse(self.where, "compartment", cid, "needs a size (a number, an initial assignment or "
                                                             "a rule)")
            self.init[self.name_for(cid)] = size
        # species: where each one lives
        self.state_of: dict[str, tuple[str, str | None]] = {}  # species changed by reactions → (state, divisor)
        species_info = {}
        for s in m.getListOfSpecies():
            sid, comp = s.getId(), s.getCompartment()
            only_amount = s.getHasOnlySubstanceUnits()
            species_info[sid] = (comp, only_amount)
            if m.getLevel() >= 3 and s.isSetConversionFactor():
                cf = s.getConversionFactor()
                if self.rule_kind(cf) is not None:
                    raise _refuse(self.where, "species", sid, f"conversion factor {cf!r} changes in time; "
                                                             f"not supported")
        # initial values of everything that has one (as expressions where they depend on others)
        for p in m.getListOfParameters():
            pid = p.getId()
            if self.rule_kind(pid) == "assignment" or pid in self.ias:
                continue
            if not p.isSetValue():
                raise _refuse(self.where, "parameter", pid, "needs a value (or an initial assignment or a rule)")
            self.init[self.name_for(pid)] = _exact(_annotation(p, "parameter"), float(p.getValue()))
        for ref_id, ref in self.refs.items():
            if ref_id in self.ias or self.rule_kind(ref_id) == "assignment":
                continue
            self.init[self.name_for(ref_id)] = float(ref.getStoichiometry()) if ref.isSetStoichiometry() else 1.0
        for sid, ia in self.ias.items():
            if ia.isSetMath():
                self.set_init(self.name_for(sid), self.math(ia.getMath(), f"initial assignment {sid}"))
        for var, r in self.rules.items():
            if r.isAssignment():
                self.set_init(self.name_for(var), self.math(r.getMath(), f"assignment rule {var}"))
        for s in m.getListOfSpecies():
            sid, comp = s.getId(), s.getCompartment()
            only_amount = s.getHasOnlySubstanceUnits()
            if sid in self.ias or self.rule_kind(sid) == "assignment":
                continue
            V = self.name_for(comp)
            if s.isSetInitialConcentration():
                c0 = s.getInitialConcentration()
                self.set_init(self.name_for(sid), f"{c0!r} * {V}" if only_amount else c0)
            elif s.isSetInitialAmount():
                a0 = s.getInitialAmount()
                self.set_init(self.name_for(sid), a0 if only_amount else f"{a0!r} / {V}")
            else:
                raise _refuse(self.where, "species", sid, "needs an initial amount or concentration (or an initial "
                                                         "assignment or a rule)")
        # names a condition depends on, through assignments: declared real, not positive (below)
        deps = {n: {x.name for x in e.free_symbols} for n, e in self.init.items() if isinstance(e, sp.Basic)
                and (n in {self.name_for(v) for v, r in self.rules.items() if r.isAssignment()}
                     or n in {self.name_for(rid) for rid in self.laws})}
        closure, pending = set(), list(self.cond_names)
        while pending:
            n = pending.pop()
            if n not in closure:
                closure.add(n)
                pending.extend(deps.get(n, ()))
        self.conditional = closure
        self.local_params = [replace(p, range="(-inf, inf)") if p.name in closure else p for p in self.local_params]
        # the network's elements
        for c in m.getListOfCompartments():
            cid, kind = c.getId(), self.rule_kind(c.getId())
            name = self.name_for(cid)
            values[cid] = name
            if kind == "rate":
                species.append(Species(name, self.value(name), "", f"size of compartment {cid} (rate rule)",
                                       signed=True))
                self.event_state[cid] = (name, None)
            elif kind is None and cid in self.event_targets:
                species.append(Species(name, self.value(name), "", f"size of compartment {cid} (changed by "
                                                                   f"events)", signed=True))
                self.event_state[cid] = (name, None)
            elif kind is None:
                self.const_size[cid] = self.value(name)
                values[cid] = self.const_size[cid]
        for p in m.getListOfParameters():
            pid, kind = p.getId(), self.rule_kind(p.getId())
            name = self.name_for(pid)
            values[pid] = name
            if kind == "rate":
                species.append(Species(name, self.value(name), "", f"parameter {pid} (rate rule)", signed=True))
                self.event_state[pid] = (name, None)
            elif kind is None and pid in self.event_targets:
                species.append(Species(name, self.value(name), "", f"parameter {pid} (changed by events)",
                                       signed=True))
                self.event_state[pid] = (name, None)
            elif kind is None and not math.isfinite(self.value(name, finite=False)):
                # inf or NaN (a seedsoil parameter is a finite number): a constant assignment
                v = self.value(name, finite=False)
                text = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
                assignments.append(Assignment(name, text, note=f"parameter {pid} (constant {text})"))
            elif kind is None:
                params.append(self._parameter(p, name, "parameter", self.value(name)))
        for ref_id, ref in self.refs.items():
            name, kind = self.name_for(ref_id), self.rule_kind(ref_id)
            values[ref_id] = name
            if kind == "rate" or (kind is None and ref_id in self.event_targets):
                species.append(Species(name, self.value(name), "", f"stoichiometry of species reference {ref_id} "
                                       f"({'rate rule' if kind else 'changed by events'})", signed=True))
                self.event_state[ref_id] = (name, None)
            elif kind is None:
                params.append(Parameter(name, self.value(name), "", self.source, f"stoichiometry of species "
                                        f"reference {ref_id!r}", "(-inf, inf)"))
        amount_assignments = []
        for s in m.getListOfSpecies():
            sid, comp = s.getId(), s.getCompartment()
            only_amount = s.getHasOnlySubstanceUnits()
            name, kind = self.name_for(sid), self.rule_kind(sid)
            values[sid] = name
            ann = _annotation(s, "input") or _annotation(s, "species")
            unit = ann.get("unit", AMOUNT if only_amount else "")
            note = ann.get("note", s.getName() if s.getName() != sid else "")
            if kind == "assignment":
                continue
            value = _exact(ann, self.value(name))
            event = sid in self.event_targets
            if kind == "rate":
                species.append(Species(name, value, unit, note, signed=True))
                self.event_state[sid] = (name, None)
            elif (s.getConstant() or s.getBoundaryCondition()) and comp in self.variable_comp and not only_amount \
                    and event:
                # only events change its amount (held as a state); its concentration follows its compartment
                amount = self.fresh(f"{sid}_amount")
                a0 = value * self.value(self.name_for(comp))
                species.append(Species(amount, a0, AMOUNT, f"amount of species {sid} (changed by events)",
                                       signed=True))
                amount_assignments.append(Assignment(name, f"{amount} / {self.name_for(comp)}", unit, note))
                self.event_state[sid] = (amount, self.name_for(comp))
            elif (s.getConstant() or s.getBoundaryCondition()) and event:
                species.append(Species(name, float(value), unit, note, signed=True))
                self.event_state[sid] = (name, None)
            elif (s.getConstant() or s.getBoundaryCondition()) and comp in self.variable_comp and not only_amount:
                # nothing changes its amount; its concentration follows its compartment's size
                amount = self.fresh(f"{sid}_amount")
                a0 = value * self.value(self.name_for(comp))
                params.append(Parameter(amount, a0, AMOUNT, self.source, f"amount of species {sid} (constant; "
                                        f"its compartment's size changes)", "(-inf, inf)"))
                amount_assignments.append(Assignment(name, f"{amount} / {self.name_for(comp)}", unit, note))
            elif s.getConstant() or s.getBoundaryCondition():
                # no reaction changes a boundary species and no rule changes this one: an input at its value
                if value >= 0 and name not in self.conditional:
                    inputs.append(Input(name, float(value), unit, note))
                else:
                    params.append(Parameter(name, float(value), unit, self.source, note or f"species {sid}",
                                            "(-inf, inf)"))
            elif comp in self.variable_comp and not only_amount:
                amount = self.fresh(f"{sid}_amount")
                a0 = value * self.value(self.name_for(comp))
                species.append(Species(amount, a0, AMOUNT, f"amount of species {sid} (its compartment's size "
                                                             f"changes)", signed=a0 < 0 or name in self.conditional
                                       or event))
                amount_assignments.append(Assignment(name, f"{amount} / {self.name_for(comp)}", unit, note))
                self.state_of[sid] = (amount, None)
                self.event_state[sid] = (amount, self.name_for(comp))
            else:
                species.append(Species(name, float(value), unit, note, signed=value < 0 or name in self.conditional
                                       or event))
                self.state_of[sid] = (name, None if only_amount else comp)
                self.event_state[sid] = (name, None)
        self.constant_names = {p.name for p in params} | {u.name for u in inputs} | {
            self.name_for(c) for c in self.const_size}
        reactions = self._reactions(params)
        # rate rules: d target / d(model time) = math; one source "reaction" each
        for var, r in self.rules.items():
            if r.isRate():
                rate = self.rate_rule_text[var]
                if self.scale != 1.0:
                    rate = f"{self.scale!r} * ({rate})"
                reactions.append(Reaction(name=f"rate rule {var}", rate=rate, products=((self.name_for(var), 1.0),),
                                          note=f"SBML rate rule d {var} / dt"))
        for var, r in self.rules.items():
            if r.isAssignment():
                assignments.append(Assignment(self.name_for(var), self.math(r.getMath(), f"assignment rule {var}"),
                                              note=f"SBML assignment rule {var}"))
        assignments += amount_assignments
        assignments += self._rates_of(reactions)
        for rid in sorted(self.used_reactions):  # a reaction id in math is its kinetic law's value
            rx = m.getReaction(rid)
            assignments.append(Assignment(self.name_for(rid), self.laws[rid], note=f"rate of reaction {rid}"))
            values[rid] = self.name_for(rid)
        if self.time_name is not None:
            # signed: declared real, so that time <= 0 is not decided false (a positive symbol) at time 0
            species.append(Species(self.time_name, 0.0, "", "model time (SBML csymbol time)", signed=True))
            reactions.append(Reaction(name="model time", rate=repr(float(self.scale)), products=((self.time_name,
                                                                                                   1.0),),
                                      note="d time / d day: model time units per day"))
        comp_params = [Parameter(self.name_for(c), self.const_size[c], "", f"{self.source} (size of compartment {c})",
                                 "compartment volume", "(0, inf)" if self.const_size[c] > 0 else "(-inf, inf)")
                       for c in sorted(self.compartment_params)]
        for c in self.compartment_params:
            values[c] = self.name_for(c)
        head = _annotation(m, "network")
        events = self._events()
        try:
            net = Network(name=head.get("name") or m.getName() or m.getId() or "sbml",
                          species=tuple(species), inputs=tuple(inputs),
                          parameters=(*params, *self.local_params, *comp_params), reactions=tuple(reactions),
                          description=head.get("description", ""), source=head.get("source") or self.source,
                          assignments=tuple(assignments), events=events)
        except ScenarioError as exc:
            raise ScenarioError(f"{self.where}: {exc}", field=exc.field, value=exc.value) from exc
        return SbmlImport(net, values, species_info, self.scale, self.time_name)

    # ------------------------------------------------------------------ events
    def _event_math(self) -> None:
        """Each event's trigger, delay, priority and assignments as rate-grammar text (model time)."""
        self.event_math = []
        for i, ev in enumerate(self.model.getListOfEvents()):
            eid = ev.getId() or f"event_{i}"
            if not ev.isSetTrigger() or not ev.getTrigger().isSetMath():
                continue  # never triggers
            trig = ev.getTrigger()
            trigger = self.formula.cond_text(trig.getMath(), f"event {eid} trigger")
            delay = (self.math(ev.getDelay().getMath(), f"event {eid} delay")
                     if ev.isSetDelay() and ev.getDelay().isSetMath() else "")
            priority = (self.math(ev.getPriority().getMath(), f"event {eid} priority")
                        if ev.isSetPriority() and ev.getPriority().isSetMath() else "")
            assigned = [(ea.getVariable(), self.math(ea.getMath(), f"event {eid} assignment to {ea.getVariable()}"))
                        for ea in ev.getListOfEventAssignments() if ea.isSetMath()]
            level3 = self.model.getLevel() >= 3
            self.event_math.append((
                eid, trigger, delay, priority, assigned,
                trig.getPersistent() if level3 and trig.isSetPersistent() else True,
                trig.getInitialValue() if trig.isSetInitialValue() else True,
                ev.getUseValuesFromTriggerTime() if ev.isSetUseValuesFromTriggerTime() else True))

    def _events(self) -> tuple[Event, ...]:
        out = []
        taken: set[str] = set()
        for eid, trigger, delay, priority, assigned, persistent, initial, uvftt in self.event_math:
            pairs = []
            for var, text in assigned:
                if var not in self.event_state:
                    raise _refuse(self.where, "event", eid, f"assignment to {var!r}, which is not a state variable "
                                                            f"of the imported network")
                state, factor = self.event_state[var]
                pairs.append((state, f"({text}) * {factor}" if factor else text))
            # a compartment's new size keeps the amounts of the species held as concentrations in it
            explicit = {var for var, _ in assigned}
            for var, text in assigned:
                if self.model.getCompartment(var) is None:
                    continue
                for s in self.model.getListOfSpecies():
                    sid = s.getId()
                    # a rate-ruled concentration the event also assigns: the assignment sets the amount
                    # in the old size (SBML Test Suite 01506), which the new size then dilutes
                    if s.getCompartment() == var and sid in explicit and self.rule_kind(sid) == "rate" \
                            and not s.getHasOnlySubstanceUnits():
                        name = self.name_for(sid)
                        pairs = [(st, f"({ex}) * {self.name_for(var)} / ({text})" if st == name else ex)
                                 for st, ex in pairs]
                    if s.getCompartment() == var and sid not in explicit and self.rule_kind(sid) == "rate" \
                            and not s.getHasOnlySubstanceUnits():
                        name = self.name_for(sid)
                        pairs.append((name, f"{name} * {self.name_for(var)} / ({text})"))
            if delay and self.scale != 1.0:  # model time units → days
                delay = f"({delay}) / {self.scale!r}"
            out.append(Event(_unique(eid, taken), trigger, tuple(pairs), delay, priority, bool(persistent),
                             bool(initial), bool(uvftt), note=f"SBML event {eid}"))
        return tuple(out)

    # ------------------------------------------------------------------ parameters
    def _parameter(self, p, name: str, where: str, value: float | None = None, note: str = "") -> Parameter:
        pid = p.getId()
        if value is None:
            if not p.isSetValue() or not math.isfinite(p.getValue()):
                raise _refuse(self.where, where, pid, "needs a finite value")
            value = float(p.getValue())
        ann = _annotation(p, "parameter")
        value = _exact(ann, float(value))
        # a parameter a condition reads is declared real (x > 0 is not decided true at x = 0)
        default_range = "[0, inf)" if value >= 0 and name not in getattr(self, "conditional", ()) else "(-inf, inf)"
        if not note:
            note = "; ".join(x for x in (p.getName() if p.getName() != pid else "",
                                         "" if name == pid else f"SBML id {pid!r}") if x)
        return Parameter(name, value, ann.get("unit", ""), ann.get("source") or self.source, ann.get("note", note),
                         ann.get("range", default_range), written_unit=ann.get("written_unit", ""))

    # ------------------------------------------------------------------ reactions
    def _laws(self) -> None:
        """Each kinetic law as text (model time), its local parameters, and the reaction id's initial value."""
        self.local_params: list[Parameter] = []
        self.laws: dict[str, str] = {}
        for rx in self.model.getListOfReactions():
            rid = rx.getId()
            if rx.isSetFast() and rx.getFast():
                raise _refuse(self.where, "reaction", rid, "fast reactions are not supported")
            if not rx.isSetKineticLaw() or not rx.getKineticLaw().isSetMath():
                raise _refuse(self.where, "reaction", rid, "needs a kinetic law")
            kl = rx.getKineticLaw()
            local = {}
            for lp in (kl.getListOfLocalParameters() if self.model.getLevel() >= 3 else kl.getListOfParameters()):
                name = self.fresh(_sid(f"{rid}_{lp.getId()}"))
                local[lp.getId()] = name
                self.local_params.append(self._parameter(lp, name, f"reaction {rid} local parameter",
                                                         note=f"local parameter {lp.getId()!r} of reaction {rid!r}"))
            law_text = self.math(kl.getMath(), rid, local)
            self.laws[rid] = law_text
            self.init[self.name_for(rid)] = self.parse(law_text, f"kinetic law of {rid}")
        for p in self.local_params:
            self.init[p.name] = p.value

    def _reactions(self, params: list[Parameter]) -> list[Reaction]:
        reactions, laws = [], []
        used_names: set[str] = set()
        for rx in self.model.getListOfReactions():
            law_text = self.laws[rx.getId()]
            rate = f"{self.scale!r} * ({law_text})" if self.scale != 1.0 else law_text
            laws.append((rx, rate))
        # second pass: every compartment a law mentions is known, so volumes are used consistently
        for rx, rate in laws:
            rid = rx.getId()
            ann = _annotation(rx, "reaction")
            base = ann.get("name") or rx.getName() or rid
            if base in used_names:
                base = f"{base} ({rid})"
            used_names.add(base)
            law = ann.get("law") or _LAW_BY_SBO.get(rx.getKineticLaw().getSBOTerm(), "custom")
            groups = self._stoichiometry(rx)
            for key, (reactants, products) in groups.items():
                name = base if len(groups) == 1 else f"{base} [{' '.join(k for k in key if k) or 'amount'}]"
                reactions.append(Reaction(name=name, rate=self._scaled(rate, key), reactants=reactants,
                                          products=products, law=law, note=ann.get("note", "")))
        return reactions

    def _stoichiometry(self, rx) -> dict[tuple, tuple[tuple, tuple]]:
        """Reactants and products that are state variables, grouped by what multiplies the rate for
        them: (compartment whose size divides it or None, conversion factor or None, variable
        stoichiometry math or None)."""
        groups: dict[tuple, tuple[dict, dict]] = {}
        model = self.model
        for side, lst in ((0, rx.getListOfReactants()), (1, rx.getListOfProducts())):
            for ref in lst:
                sid = ref.getSpecies()
                smath = None
                if model.getLevel() == 2 and ref.isSetStoichiometryMath():
                    sm = ref.getStoichiometryMath()
                    text = self.math(sm.getMath(), f"{rx.getId()} stoichiometryMath")
                    expr = self.parse(text, "stoichiometryMath")
                    if all(x.name in self.constant_names for x in expr.free_symbols):
                        coef = float(sp.N(expr.subs({x: self.value(x.name) for x in expr.free_symbols})))
                    else:  # changes in time: it multiplies the rate for this species
                        coef, smath = 1.0, text
                elif ref.isSetId() and self.varies(ref.getId()):
                    coef, smath = 1.0, self.name_for(ref.getId())  # stoichiometry changing in time
                elif ref.isSetId():
                    coef = self.value(self.name_for(ref.getId()))
                else:
                    coef = ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0
                if not math.isfinite(coef):
                    raise _refuse(self.where, "reaction", rx.getId(), f"stoichiometry {coef!r} of {sid!r} is not "
                                                                      f"finite")
                # boundary / constant / ruled species are not changed by reactions (a reaction that
                # changes no state variable at all is dropped)
                if sid not in self.state_of or coef == 0:
                    continue
                state, divisor = self.state_of[sid]
                cf = None
                s = model.getSpecies(sid)
                if model.getLevel() >= 3 and s.isSetConversionFactor():
                    cf = self.name_for(s.getConversionFactor())
                elif model.getLevel() >= 3 and model.isSetConversionFactor():
                    cf = self.name_for(model.getConversionFactor())
                if coef < 0:  # a negative stoichiometry moves the species to the other side
                    this_side, coef = 1 - side, -coef
                else:
                    this_side = side
                terms = groups.setdefault((divisor, cf, smath), ({}, {}))[this_side]
                terms[state] = terms.get(state, 0.0) + float(coef)
        out = {}
        for k, (r, p) in groups.items():
            # a species on both sides keeps its net change
            for n in set(r) & set(p):
                net = p[n] - r[n]
                del r[n], p[n]
                if net > 0:
                    p[n] = net
                elif net < 0:
                    r[n] = -net
            if r or p:
                out[k] = (tuple(r.items()), tuple(p.items()))
        return out

    def _scaled(self, rate: str, key: tuple) -> str:
        """The kinetic law (amount per time) as the rate of change of the group's states."""
        compartment, cf, smath = key
        out = rate
        if smath is not None:
            out = f"({out}) * ({smath})"
        if cf is not None:
            out = f"({out}) * {cf}"
        if compartment is None:
            return out
        if self.const_size.get(compartment) == 1.0 and compartment not in self.compartment_params:
            return out
        if compartment in self.const_size:
            self.compartment_params.add(compartment)
        return f"({out}) / {self.name_for(compartment)}"


class _NameSet(dict):
    """Symbols by name, made (real) on first use: for evaluating initial values."""

    def __init__(self, table: dict):
        super().__init__()
        self.table = table

    def __contains__(self, key) -> bool:
        return isinstance(key, str)

    def __getitem__(self, key):
        if key not in self.table:
            self.table[key] = sp.Symbol(key, real=True)
        return self.table[key]


class _Formula:
    """libsbml math → text of the seedsoil rate grammar (precedence-aware, minimal parentheses)."""

    ADD, MUL, NEG, POW, ATOM = range(1, 6)
    CMP, AND = -2, -1  # below ADD: comparisons and logic are always parenthesised inside arithmetic

    _RELATIONS = {"AST_RELATIONAL_EQ": "==", "AST_RELATIONAL_NEQ": "!=", "AST_RELATIONAL_LT": "<",
                  "AST_RELATIONAL_LEQ": "<=", "AST_RELATIONAL_GT": ">", "AST_RELATIONAL_GEQ": ">="}
    _FUNCTIONS = {"AST_FUNCTION_ABS": "abs", "AST_FUNCTION_FLOOR": "floor", "AST_FUNCTION_CEILING": "ceil",
                  "AST_FUNCTION_FACTORIAL": "factorial", "AST_FUNCTION_SIN": "sin", "AST_FUNCTION_COS": "cos",
                  "AST_FUNCTION_TAN": "tan", "AST_FUNCTION_SEC": "sec", "AST_FUNCTION_CSC": "csc",
                  "AST_FUNCTION_COT": "cot", "AST_FUNCTION_SINH": "sinh", "AST_FUNCTION_COSH": "cosh",
                  "AST_FUNCTION_TANH": "tanh", "AST_FUNCTION_SECH": "sech", "AST_FUNCTION_CSCH": "csch",
                  "AST_FUNCTION_COTH": "coth", "AST_FUNCTION_ARCSIN": "asin", "AST_FUNCTION_ARCCOS": "acos",
                  "AST_FUNCTION_ARCTAN": "atan", "AST_FUNCTION_ARCCOT": "acot", "AST_FUNCTION_ARCSINH": "asinh",
                  "AST_FUNCTION_ARCCOSH": "acosh", "AST_FUNCTION_ARCTANH": "atanh", "AST_FUNCTION_ARCCOTH": "acoth",
                  "AST_FUNCTION_ARCSEC": "asec", "AST_FUNCTION_ARCCSC": "acsc", "AST_FUNCTION_ARCSECH": "asech",
                  "AST_FUNCTION_ARCCSCH": "acsch", "AST_FUNCTION_MIN": "min", "AST_FUNCTION_MAX": "max",
                  "AST_FUNCTION_QUOTIENT": "quotient", "AST_FUNCTION_REM": "rem", "AST_LOGICAL_IMPLIES": "implies"}

    def __init__(self, importer: _Importer):
        self.imp, self.lib = importer, importer.lib
        self.local: Mapping[str, str] = {}
        self.reaction = ""
        self.in_condition = 0
        self.type_names: dict[int, str] = {}
        for k in dir(self.lib):
            if k.startswith("AST_") and isinstance(getattr(self.lib, k), int):
                self.type_names.setdefault(getattr(self.lib, k), k[4:].lower())
        self.relations = {getattr(self.lib, k): v for k, v in self._RELATIONS.items()}
        self.functions = {getattr(self.lib, k): v for k, v in self._FUNCTIONS.items() if hasattr(self.lib, k)}

    def cond(self, node) -> tuple[str, int]:
        """Walk a condition (or an operand of a relation): the names in it are noted, since sympy
        decides a relation from its symbols' assumptions (x > 0 is true for a positive x, which
        a species at 0 is not)."""
        self.in_condition += 1
        try:
            return self.walk(node)
        finally:
            self.in_condition -= 1

    def cond_text(self, node, what: str) -> str:
        """Rate text of a condition (an event trigger): the names it reads are noted as by :meth:`cond`."""
        self.local, self.reaction = {}, what
        return self.cond(node)[0]

    def text(self, node, local: Mapping[str, str], reaction: str) -> str:
        """Rate text of the math ``node`` of ``reaction`` (``local``: its local parameter id → name)."""
        self.local, self.reaction = local, reaction
        return self.walk(node)[0]

    def refuse(self, why: str) -> ScenarioError:
        what = self.reaction
        if self.imp.model.getReaction(what) is not None:
            return _refuse(self.imp.where, "reaction", what, f"kinetic law: {why}")
        return _refuse(self.imp.where, "math of", what, why)

    def wrap(self, part: tuple[str, int], *needs: int) -> str:
        """The text of ``part``, in parentheses if its precedence is one of ``needs`` (or a condition)."""
        return f"({part[0]})" if part[1] in needs or part[1] < 0 else part[0]

    def number(self, value: float) -> tuple[str, int]:
        if math.isnan(value):
            return "nan", self.ATOM
        if math.isinf(value):
            return ("inf", self.ATOM) if value > 0 else ("-inf", self.NEG)
        text = str(value) if isinstance(value, int) else repr(float(value))
        return (text, self.NEG) if value < 0 else (text, self.ATOM)

    def walk(self, node) -> tuple[str, int]:
        lib, t = self.lib, node.getType()
        kids = [node.getChild(i) for i in range(node.getNumChildren())]
        imp = self.imp
        if t == lib.AST_NAME:
            sid = node.getName()
            if sid in self.local:
                if self.in_condition:
                    imp.cond_names.add(self.local[sid])
                return self.local[sid], self.ATOM
            if self.in_condition:
                imp.cond_names.add(imp.name_for(sid))
            m = imp.model
            if m.getCompartment(sid) is not None:
                if not imp.varies(sid):
                    imp.compartment_params.add(sid)
                return imp.name_for(sid), self.ATOM
            if m.getSpecies(sid) is not None or m.getParameter(sid) is not None or sid in imp.refs:
                return imp.name_for(sid), self.ATOM
            if m.getReaction(sid) is not None:
                imp.used_reactions.add(sid)
                return imp.name_for(sid), self.ATOM
            raise self.refuse(f"{sid!r} is not a species, parameter, compartment or reaction")
        if t == lib.AST_INTEGER:
            return self.number(int(node.getInteger()))
        if t in (lib.AST_REAL, lib.AST_REAL_E):
            return self.number(float(node.getReal()))
        if t == lib.AST_RATIONAL:
            num, den = int(node.getNumerator()), int(node.getDenominator())
            return f"({num} / {den})", self.ATOM
        if t == lib.AST_CONSTANT_E:
            return "exp(1)", self.ATOM
        if t == lib.AST_CONSTANT_PI:
            return self.number(math.pi)
        if t == lib.AST_CONSTANT_TRUE:
            return "True", self.ATOM
        if t == lib.AST_CONSTANT_FALSE:
            return "False", self.ATOM
        if t == lib.AST_NAME_AVOGADRO:
            return self.number(float(node.getReal()))
        if t == lib.AST_NAME_TIME:
            return imp.time(), self.ATOM
        if t == lib.AST_PLUS:
            if not kids:
                return "0", self.ATOM
            parts = [self.walk(k) for k in kids]
            return (" + ".join(self.wrap(p) for p in parts), self.ADD) if len(parts) > 1 else parts[0]
        if t == lib.AST_MINUS:
            if len(kids) == 1:
                return "-" + self.wrap(self.walk(kids[0]), self.ADD, self.MUL, self.NEG), self.NEG
            return f"{self.wrap(self.walk(kids[0]))} - {self.wrap(self.walk(kids[1]), self.ADD, self.NEG)}", self.ADD
        if t == lib.AST_TIMES:
            if not kids:
                return "1", self.ATOM
            parts = [self.walk(k) for k in kids]
            return (" * ".join(self.wrap(p, self.ADD, self.NEG) for p in parts), self.MUL) if len(parts) > 1 \
                else parts[0]
        if t == lib.AST_DIVIDE:
            a, b = (self.walk(k) for k in kids)
            return f"{self.wrap(a, self.ADD, self.NEG)} / {self.wrap(b, self.ADD, self.MUL, self.NEG)}", self.MUL
        if t in (lib.AST_POWER, lib.AST_FUNCTION_POWER):
            a, b = (self.walk(k) for k in kids)
            low = (self.ADD, self.MUL, self.NEG, self.POW)
            return f"{self.wrap(a, *low)}^{self.wrap(b, *low)}", self.POW
        if t == lib.AST_FUNCTION_EXP:
            return f"exp({self.walk(kids[0])[0]})", self.ATOM
        if t == lib.AST_FUNCTION_LN:
            return f"ln({self.walk(kids[0])[0]})", self.ATOM
        if t == lib.AST_FUNCTION_LOG:  # MathML <log/>: base 10 unless a <logbase> is given
            base, arg = (self.walk(kids[0])[0], kids[1]) if len(kids) == 2 else ("10", kids[0])
            return f"ln({self.walk(arg)[0]}) / ln({base})", self.MUL
        if t == lib.AST_FUNCTION_ROOT:
            degree, arg = (kids[0], kids[1]) if len(kids) == 2 else (None, kids[0])
            inner = self.walk(arg)[0]
            if degree is None or (degree.isInteger() and degree.getInteger() == 2):
                return f"sqrt({inner})", self.ATOM
            return f"({inner})^(1 / {self.wrap(self.walk(degree), self.ADD, self.MUL, self.NEG)})", self.POW
        if t in self.relations:
            op = self.relations[t]
            parts = [self.wrap(self.cond(k)) for k in kids]
            if len(parts) < 2:
                return "True", self.ATOM
            if op == "!=" and len(parts) > 2:
                raise self.refuse("neq with more than two arguments")
            pairs = [f"{a} {op} {b}" for a, b in zip(parts, parts[1:])]
            return " and ".join(pairs), (self.CMP if len(pairs) == 1 else self.AND)
        if t in (lib.AST_LOGICAL_AND, lib.AST_LOGICAL_OR):
            if not kids:
                return ("True" if t == lib.AST_LOGICAL_AND else "False"), self.ATOM
            word = " and " if t == lib.AST_LOGICAL_AND else " or "
            return word.join(self.wrap(self.cond(k)) for k in kids), self.AND
        if t == lib.AST_LOGICAL_NOT:
            return f"not {self.wrap(self.cond(kids[0]))}", self.AND
        if t == lib.AST_LOGICAL_XOR:
            if not kids:
                return "False", self.ATOM
            out = self.cond(kids[0])[0]
            for k in kids[1:]:
                out = f"xor({out}, {self.cond(k)[0]})"
            return out, self.ATOM
        if t == lib.AST_FUNCTION_PIECEWISE:
            parts = [(self.cond(k) if i % 2 else self.walk(k))[0] if i < len(kids) - 1 or len(kids) % 2 == 0
                     else self.walk(k)[0] for i, k in enumerate(kids)]
            return f"piecewise({', '.join(parts)})", self.ATOM
        if t in self.functions:
            return f"{self.functions[t]}({', '.join(self.walk(k)[0] for k in kids)})", self.ATOM
        if t == lib.AST_FUNCTION_DELAY:
            raise self.refuse("delay() is not supported")
        if t == getattr(lib, "AST_FUNCTION_RATE_OF", -1):
            if len(kids) != 1 or kids[0].getType() != lib.AST_NAME:
                raise self.refuse("rateOf() of something other than a name is not supported")
            if kids[0].getName() in self.local:  # a reaction's local parameter is constant
                return "0", self.ATOM
            return imp.rate_of(kids[0].getName(), self.refuse), self.ATOM
        if t == lib.AST_FUNCTION:
            raise self.refuse(f"call of {node.getName()!r}, which is not a function definition of the model")
        what = node.getName() or self.type_names.get(t, str(t))
        raise self.refuse(f"{what!r} is not supported")
