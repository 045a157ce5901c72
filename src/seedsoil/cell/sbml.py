"""SBML both ways: write a :class:`~seedsoil.cell.network.Network` as SBML Level 3
and read an SBML model into a ``Network``.

``to_sbml`` writes one compartment ``cell`` of unit volume, the network's species
(concentrations), its inputs as constant boundary species (at the values given, so
any SBML simulator reproduces :func:`~seedsoil.cell.solver.simulate_cells` with
constant inputs), its parameters as global constants (internal values: per day,
nM) and one reaction per network reaction whose kinetic law is the rate
expression expanded into elementary MathML (``hill``, ``mm``... written out). The
model's time unit is the day. Units, sources and notes of every element travel in
a ``seedsoil`` annotation, so ``from_sbml(to_sbml(net))`` gives ``net`` back.

``from_sbml`` reads models made of constant compartments, species (boundary species,
whatever their ``constant`` flag, become inputs: without rules or events nothing changes
them), constant parameters (global, and reaction-local ones renamed ``<reaction id>_<name>``),
function definitions (expanded) and kinetic laws over ``+ - * / ^``, ``exp``,
``ln``, ``log``, ``root``, ``power``. For a species of concentration in a
compartment of volume V, ``d[S]/dt = sum(stoichiometry x kinetic law) / V`` (the
kinetic law is an amount per time); the imported rate is written that way. It
refuses, with a :class:`~seedsoil.errors.ScenarioError` naming the element,
anything the cell solver cannot represent: events, rules, delays, piecewise or
logical functions, explicit time, non-constant compartments or parameters, fast
reactions, conversion factors, required SBML packages, and invalid documents.

python-libsbml is imported only when these functions are called
(``pip install 'seedsoil[sbml]'``).
"""
from __future__ import annotations

import keyword
import math
import re
from pathlib import Path
from typing import Mapping
from xml.sax.saxutils import escape, quoteattr

import sympy as sp

from ..errors import ScenarioError
from .expressions import RESERVED
from .network import Input, Network, Parameter, Reaction, Species, _unknown

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
    names = {*network.species_names, *network.input_names, *network.parameter_names}
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

    on_state = {*network.species_names, *network.input_names}
    for r, expr in zip(network.reactions, network.rate_exprs):
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
        for name in sorted(s.name for s in expr.free_symbols if s.name in on_state and s.name not in involved):
            _ok(rx.createModifier().setSpecies(name), f"reaction {r.name!r} modifier")
        law = rx.createKineticLaw()
        math_ast = lib.readMathMLFromString(f'<math xmlns="{_MATHML}">{_mathml(expr)}</math>')
        if math_ast is None:
            raise RuntimeError(f"reaction {r.name!r}: could not build MathML for {expr}")  # a bug, not user error
        _ok(law.setMath(math_ast), f"reaction {r.name!r} kinetic law")
        if r.law in SBO_BY_LAW:
            _ok(law.setSBOTerm(SBO_BY_LAW[r.law]), f"reaction {r.name!r} SBO term")
        _set_notes(rx, r.note, f"rate: {r.rate}", f"equation: {r.equation}")
        _annotate(rx, "reaction", name=r.name, law=r.law, note=r.note, rate=r.rate)

    text = lib.writeSBMLToString(doc)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


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
    """Content MathML of a rate expression made of + * ^, numbers, names, exp and log."""
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
    raise ValueError(f"cannot write {expr!r} ({type(expr).__name__}) as SBML math")


def _product(factors: list[sp.Expr]) -> str:
    if not factors:
        return _mathml(sp.Integer(1))
    if len(factors) == 1:
        return _mathml(factors[0])
    return _apply("times", *(_mathml(f) for f in factors))


# =========================================================================== import
def from_sbml(source: str | Path, *, time_unit: str | None = None) -> Network:
    """Read an SBML model (a file path or the XML text) into a :class:`Network`.

    ``time_unit``: the model's time unit, when it is not the day (e.g. ``"minute"``):
    every kinetic law is then multiplied by the number of those units in a day.
    Needed (and checked against the model) when the model declares a time unit
    other than the day; a model that declares none is taken to be in days.
    Raises :class:`~seedsoil.errors.ScenarioError` naming the element it cannot import.
    """
    lib = _libsbml()
    doc, label = _read(lib, source)
    model = doc.getModel()
    where = f"SBML {label}"
    _refuse_unsupported(lib, doc, model, where)
    if model.getNumFunctionDefinitions():
        _convert(lib, doc, "expandFunctionDefinitions", where)
    if model.getNumInitialAssignments():
        _convert(lib, doc, "expandInitialAssignments", where)
        if model.getNumInitialAssignments():
            ia = model.getInitialAssignment(0)
            raise ScenarioError(f"{where}: initial assignment to {ia.getSymbol()!r} could not be turned into a "
                                f"value; give it a number", field=f"initialAssignment.{ia.getSymbol()}",
                                value=ia.getSymbol())
    scale = _time_scale(lib, model, time_unit, where)
    return _Importer(lib, model, where, label, scale).network()


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
    return doc, label


def _errors(lib, doc) -> list[str]:
    out = []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        if e.getSeverity() >= lib.LIBSBML_SEV_ERROR:
            out.append(f"line {e.getLine()}: {' '.join(e.getMessage().split())}")
    return out


def _convert(lib, doc, option: str, where: str) -> None:
    props = lib.ConversionProperties()
    props.addOption(option, True)
    if doc.convert(props) != lib.LIBSBML_OPERATION_SUCCESS:
        raise ScenarioError(f"{where}: libsbml could not apply {option}", field="sbml", value=option)


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
    if model.getNumEvents():
        ev = model.getEvent(0)
        raise _refuse(where, "event", ev.getId() or ev.getName() or "0",
                      "events are not supported (the cell solver integrates smooth ODEs); model the change as a "
                      "seedsoil input TimeCourse instead")
    if model.getNumRules():
        rule = model.getRule(0)
        kind = ("assignment rule" if rule.isAssignment() else "rate rule" if rule.isRate() else "algebraic rule")
        target = rule.getVariable() if not rule.isAlgebraic() else "0"
        raise _refuse(where, kind, target, "rules are not supported; write the dynamics as reactions "
                                           "(or substitute the assignment into the kinetic laws)")
    if model.getLevel() >= 3 and model.isSetConversionFactor():
        raise _refuse(where, "model conversionFactor", model.getConversionFactor(), "conversion factors are not "
                                                                                    "supported")


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
    raise _refuse(where, "time units", uid, "must be a time (seconds times a factor)")


def _reserved(name: str) -> bool:
    return name in RESERVED or keyword.iskeyword(name) or keyword.issoftkeyword(name)


class _Importer:
    """Turns a checked libsbml model into seedsoil species, inputs, parameters and reactions."""

    def __init__(self, lib, model, where: str, label: str, scale: float):
        self.lib, self.model, self.where, self.scale = lib, model, where, scale
        self.source = f"SBML import: {label}"
        self.taken: set[str] = set()  # every SBML id and every seedsoil name given out
        for lst in (model.getListOfSpecies(), model.getListOfParameters(), model.getListOfCompartments(),
                    model.getListOfReactions()):
            self.taken.update(x.getId() for x in lst)
        self.names: dict[str, str] = {}  # SBML id → seedsoil name (species, inputs, parameters, compartments)
        self.volume: dict[str, float] = {}
        self.compartment_params: set[str] = set()  # compartments that become parameters

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

    def network(self) -> Network:
        m = self.model
        for c in m.getListOfCompartments():
            cid = c.getId()
            if not c.getConstant():
                raise _refuse(self.where, "compartment", cid, "non-constant compartments are not supported")
            if not c.isSetSize() or not (c.getSize() > 0 and math.isfinite(c.getSize())):
                raise _refuse(self.where, "compartment", cid, "needs a constant size > 0")
            self.volume[cid] = float(c.getSize())
        species, inputs, self.amount = self._species()
        params = self._parameters()
        reactions, local_params = self._reactions()
        comp_params = [Parameter(self.name_for(c), self.volume[c], "", f"{self.source} (size of compartment {c})",
                                 "compartment volume", "(0, inf)") for c in sorted(self.compartment_params)]
        head = _annotation(m, "network")
        try:
            return Network(name=head.get("name") or m.getName() or m.getId() or "sbml",
                           species=tuple(species), inputs=tuple(inputs),
                           parameters=(*params, *local_params, *comp_params), reactions=tuple(reactions),
                           description=head.get("description", ""), source=head.get("source") or self.source)
        except ScenarioError as exc:
            raise ScenarioError(f"{self.where}: {exc}", field=exc.field, value=exc.value) from exc

    # ------------------------------------------------------------------ species
    def _species(self):
        species, inputs, amount = [], [], {}
        for s in self.model.getListOfSpecies():
            sid = s.getId()
            if self.model.getLevel() >= 3 and s.isSetConversionFactor():
                raise _refuse(self.where, "species", sid, "conversion factors are not supported")
            vol = self.volume[s.getCompartment()]
            if s.isSetInitialConcentration():
                conc = s.getInitialConcentration()
                amt = conc * vol
            elif s.isSetInitialAmount():
                amt = s.getInitialAmount()
                conc = amt / vol
            else:
                raise _refuse(self.where, "species", sid, "needs an initial amount or concentration")
            only_amount = s.getHasOnlySubstanceUnits()
            value = amt if only_amount else conc
            if not math.isfinite(value):
                raise _refuse(self.where, "species", sid, f"initial value {value!r} is not finite")
            ann = _annotation(s, "input") or _annotation(s, "species")
            value = _exact(ann, value)
            unit = ann.get("unit", "amount" if only_amount else "")
            note = ann.get("note", s.getName() if s.getName() != sid else "")
            # no reaction changes a boundary species, and rules and events were refused above, so
            # nothing can change it whatever its constant flag: it is an input at its initial value
            if s.getConstant() or s.getBoundaryCondition():
                inputs.append(Input(self.name_for(sid), float(value), unit, note))
            else:
                species.append(Species(self.name_for(sid), float(value), unit, note))
                amount[sid] = only_amount
        return species, inputs, amount

    # ------------------------------------------------------------------ parameters
    def _parameter(self, p, name: str, where: str, note: str = "") -> Parameter:
        pid = p.getId()
        if not p.isSetValue() or not math.isfinite(p.getValue()):
            raise _refuse(self.where, where, pid, "needs a finite value")
        if not p.getConstant():
            raise _refuse(self.where, where, pid, "non-constant parameters are not supported")
        ann = _annotation(p, "parameter")
        value = _exact(ann, float(p.getValue()))
        default_range = "[0, inf)" if value >= 0 else "(-inf, inf)"
        if not note:
            note = "; ".join(x for x in (p.getName() if p.getName() != pid else "",
                                         "" if name == pid else f"SBML id {pid!r}") if x)
        return Parameter(name, value, ann.get("unit", ""), ann.get("source") or self.source, ann.get("note", note),
                         ann.get("range", default_range), written_unit=ann.get("written_unit", ""))

    def _parameters(self) -> list[Parameter]:
        return [self._parameter(p, self.name_for(p.getId()), "parameter") for p in self.model.getListOfParameters()]

    # ------------------------------------------------------------------ reactions
    def _reactions(self):
        reactions, local_params, laws = [], [], []
        used_names: set[str] = set()
        formula = _Formula(self)
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
                local_params.append(self._parameter(lp, name, f"reaction {rid} local parameter",
                                                    f"local parameter {lp.getId()!r} of reaction {rid!r}"))
            rate = formula.text(kl.getMath(), local, rid)
            if self.scale != 1.0:
                rate = f"{self.scale!r} * ({rate})"
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
                name = base if len(groups) == 1 else f"{base} [{key or 'amount'}]"
                reactions.append(Reaction(name=name, rate=self._per_volume(rate, key), reactants=reactants,
                                          products=products, law=law, note=ann.get("note", "")))
        return reactions, local_params

    def _stoichiometry(self, rx) -> dict[str | None, tuple[tuple, tuple]]:
        """Reactants and products that are state variables, grouped by the compartment whose volume
        divides the rate (``None`` for species in amount, hasOnlySubstanceUnits)."""
        groups: dict[str | None, tuple[dict, dict]] = {}
        for side, lst in ((0, rx.getListOfReactants()), (1, rx.getListOfProducts())):
            for ref in lst:
                sid = ref.getSpecies()
                if self.model.getLevel() == 2 and ref.isSetStoichiometryMath():
                    raise _refuse(self.where, "reaction", rx.getId(), "stoichiometryMath is not supported")
                coef = ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0
                if not math.isfinite(coef) or coef < 0:
                    raise _refuse(self.where, "reaction", rx.getId(), f"stoichiometry {coef!r} of {sid!r} must be "
                                                                      f">= 0")
                # boundary / constant species are inputs: reactions do not change them (a reaction that
                # changes no state variable at all is dropped)
                if sid not in self.amount or coef == 0:
                    continue
                key = None if self.amount[sid] else self.model.getSpecies(sid).getCompartment()
                terms = groups.setdefault(key, ({}, {}))[side]
                terms[self.name_for(sid)] = terms.get(self.name_for(sid), 0.0) + float(coef)
        return {k: (tuple(r.items()), tuple(p.items())) for k, (r, p) in groups.items()}

    def _per_volume(self, rate: str, compartment: str | None) -> str:
        """The kinetic law (amount per time) as a rate of concentration change in ``compartment``."""
        if compartment is None:
            return rate
        if self.volume[compartment] == 1.0 and compartment not in self.compartment_params:
            return rate
        self.compartment_params.add(compartment)
        return f"({rate}) / {self.name_for(compartment)}"


class _Formula:
    """libsbml math → text of the seedsoil rate grammar (precedence-aware, minimal parentheses)."""

    ADD, MUL, NEG, POW, ATOM = range(1, 6)

    def __init__(self, importer: _Importer):
        self.imp, self.lib = importer, importer.lib
        self.local: Mapping[str, str] = {}
        self.reaction = ""
        self.type_names: dict[int, str] = {}
        for k in dir(self.lib):
            if k.startswith("AST_") and isinstance(getattr(self.lib, k), int):
                self.type_names.setdefault(getattr(self.lib, k), k[4:].lower())

    def text(self, node, local: Mapping[str, str], reaction: str) -> str:
        """Rate text of the math ``node`` of ``reaction`` (``local``: its local parameter id → name)."""
        self.local, self.reaction = local, reaction
        return self.walk(node)[0]

    def refuse(self, why: str) -> ScenarioError:
        return _refuse(self.imp.where, "reaction", self.reaction, f"kinetic law: {why}")

    def wrap(self, part: tuple[str, int], *needs: int) -> str:
        """The text of ``part``, in parentheses if its precedence is one of ``needs``."""
        return f"({part[0]})" if part[1] in needs else part[0]

    def number(self, value: float) -> tuple[str, int]:
        if not math.isfinite(value):
            raise self.refuse(f"the number {value!r} is not finite")
        text = str(value) if isinstance(value, int) else repr(float(value))
        return (text, self.NEG) if value < 0 else (text, self.ATOM)

    def walk(self, node) -> tuple[str, int]:
        lib, t = self.lib, node.getType()
        kids = [node.getChild(i) for i in range(node.getNumChildren())]
        if t == lib.AST_NAME:
            sid = node.getName()
            if sid in self.local:
                return self.local[sid], self.ATOM
            if sid in self.imp.volume:
                self.imp.compartment_params.add(sid)
                return self.imp.name_for(sid), self.ATOM
            if self.imp.model.getSpecies(sid) is not None or self.imp.model.getParameter(sid) is not None:
                return self.imp.name_for(sid), self.ATOM
            raise self.refuse(f"{sid!r} is not a species, parameter or compartment")
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
        if t == lib.AST_NAME_AVOGADRO:
            return self.number(float(node.getReal()))
        if t == lib.AST_PLUS:
            if not kids:
                return "0", self.ATOM
            parts = [self.walk(k) for k in kids]
            return (" + ".join(p[0] for p in parts), self.ADD) if len(parts) > 1 else parts[0]
        if t == lib.AST_MINUS:
            if len(kids) == 1:
                return "-" + self.wrap(self.walk(kids[0]), self.ADD, self.MUL, self.NEG), self.NEG
            return f"{self.walk(kids[0])[0]} - {self.wrap(self.walk(kids[1]), self.ADD, self.NEG)}", self.ADD
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
        if t == lib.AST_NAME_TIME:
            raise self.refuse("explicit time dependence is not supported; use a seedsoil input TimeCourse")
        if t == lib.AST_FUNCTION_DELAY:
            raise self.refuse("delay() is not supported")
        if t == lib.AST_FUNCTION_PIECEWISE:
            raise self.refuse("piecewise() is not supported (the solver needs smooth rates)")
        if t == lib.AST_FUNCTION:
            raise self.refuse(f"call of {node.getName()!r}, which is not a function definition of the model")
        what = node.getName() or self.type_names.get(t, str(t))
        raise self.refuse(f"{what!r} is not supported (allowed: + - * / ^, exp, ln, log, root, power, numbers, "
                          f"names)")

