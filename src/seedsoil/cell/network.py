"""Signalling networks as data: species, inputs, parameters and reactions.

A :class:`Network` is declarative (docs/cell.md): a user edits or extends it
(``network.with_reaction(...)``, ``network.with_parameters(...)``, or a TOML
file) without touching the solver. The solver, the SBML writer and the
reference right-hand side all read the same sympy rate expressions.

Conventions
-----------
* Values are stored in internal units (time: day; concentration: nM); each
  parameter remembers the unit it was written in for display.
* A *species* is a state variable (an activity fraction 0-1, a relative level,
  or a concentration in nM). An *input* is held by the experimenter: a cytokine
  or a drug concentration, constant or a function of time. A *parameter* is a
  constant, which may differ from cell to cell.
* ``d species / dt = sum over reactions of (products - reactants) x rate``.
  Active fractions of a conserved protein are written with the inactive pool
  as ``(1 - X)`` inside the rate, so the network needs one state per protein.
* A *signed* species may be negative (a quantity that is not an amount, e.g. an
  SBML parameter driven by a rate rule): its initial value may be < 0 and the
  solver does not clip it at 0.
* An *assignment* names an expression of species, inputs, parameters and earlier
  assignments (an SBML assignment rule). It is substituted into every rate that
  uses it, so the kernels see plain rates; :meth:`Network.assigned` evaluates it
  along a trajectory. Networks without assignments are unchanged by this.
* An *event* (an SBML event) changes species at the moments its trigger, a condition,
  turns from false to true: after an optional delay, each of its assignments sets a
  species to the value of an expression (computed when the trigger fired or when the
  event executes). Each cell finds its own event times. Networks without events are
  unchanged by this (same generated kernel, same content hash).
"""
from __future__ import annotations

import hashlib
import json
import keyword
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import sympy as sp

from ..errors import ScenarioError, did_you_mean
from ..params import Interval
from ..units import internal_unit, parse_quantity
from .expressions import RESERVED, parse_rate

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Species:
    """A state variable. ``initial`` in internal units (dimensionless or nM)."""

    name: str
    initial: float = 0.0
    unit: str = ""
    note: str = ""
    signed: bool = False


@dataclass(frozen=True)
class Assignment:
    """``name = expression`` at every time (rate-grammar text over the network's names)."""

    name: str
    expression: str
    unit: str = ""
    note: str = ""


@dataclass(frozen=True)
class Event:
    """A discrete change (SBML event semantics), in the rate grammar over the network's names.

    ``trigger``: a condition; the event triggers when it turns from false to true (at the
    start, when it holds and ``initial_value`` is false). ``delay`` (days, "" for none) and
    ``priority`` ("" for none: 0) are expressions evaluated when the event triggers and when
    it is chosen among simultaneous ones. ``assignments``: (species, expression) pairs, all
    computed before any is applied. ``persistent``: a delayed event still executes if its
    trigger turned false meanwhile (else it is cancelled). ``use_trigger_values``: the
    assignments' values are those at trigger time (else at execution time).
    """

    name: str
    trigger: str
    assignments: tuple[tuple[str, str], ...] = ()
    delay: str = ""
    priority: str = ""
    persistent: bool = True
    initial_value: bool = True
    use_trigger_values: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "assignments", tuple((str(a), str(b)) for a, b in self.assignments))

    def to_dict(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "assignments": {k: v for k, v in self.assignments}, "delay": self.delay,
                "priority": self.priority, "persistent": self.persistent, "initial_value": self.initial_value,
                "use_trigger_values": self.use_trigger_values, "note": self.note}


@dataclass(frozen=True)
class Input:
    """An external signal (cytokine, drug), in nM unless ``unit`` says otherwise."""

    name: str
    default: float = 0.0
    unit: str = "nM"
    note: str = ""


@dataclass(frozen=True)
class Parameter:
    """A rate constant or threshold. ``value`` is in ``unit`` (the internal unit);
    ``written_unit`` is how the source gives it (for display and SBML)."""

    name: str
    value: float
    unit: str = ""
    source: str = ""
    note: str = ""
    range: str = "[0, inf)"
    written_unit: str = ""

    @cached_property
    def interval(self) -> Interval:
        return Interval.parse(self.range)


@dataclass(frozen=True)
class Reaction:
    """``reactants -> products`` at ``rate`` (text, see :mod:`seedsoil.cell.expressions`).

    ``law`` labels the kinetics ("mass_action", "michaelis_menten", "hill",
    "custom"); it is documentation and SBML annotation, the rate text is the truth.
    """

    name: str
    rate: str
    reactants: tuple[tuple[str, float], ...] = ()
    products: tuple[tuple[str, float], ...] = ()
    law: str = "custom"
    note: str = ""

    @classmethod
    def parse(cls, name: str, equation: str, rate: str, *, law: str = "custom", note: str = "") -> "Reaction":
        """Build from an equation such as ``"A + 2 B -> C"``, ``"-> X"`` or ``"X ->"``."""
        if "->" not in equation:
            raise ScenarioError(f"reaction {name!r}: equation {equation!r} needs '->'", field=f"reaction.{name}",
                                value=equation)
        left, right = equation.split("->", 1)
        return cls(name=name, rate=rate, reactants=_side(left, name), products=_side(right, name), law=law, note=note)

    @property
    def equation(self) -> str:
        def side(terms):
            return " + ".join((f"{c:g} {s}" if c != 1 else s) for s, c in terms)
        return f"{side(self.reactants)} -> {side(self.products)}".strip()


def _side(text: str, rname: str) -> tuple[tuple[str, float], ...]:
    out: dict[str, float] = {}
    for term in filter(None, (t.strip() for t in text.split("+"))):
        parts = term.split()
        if len(parts) == 1:
            coef, sp_name = 1.0, parts[0]
        elif len(parts) == 2:
            try:
                coef = float(parts[0])
            except ValueError:
                raise ScenarioError(f"reaction {rname!r}: bad term {term!r} (write '2 A')",
                                    field=f"reaction.{rname}", value=text) from None
            sp_name = parts[1]
        else:
            raise ScenarioError(f"reaction {rname!r}: bad term {term!r}", field=f"reaction.{rname}", value=text)
        out[sp_name] = out.get(sp_name, 0.0) + coef
    return tuple(out.items())


@dataclass(frozen=True)
class Network:
    """A signalling network. Immutable; ``with_*`` methods return edited copies."""

    name: str
    species: tuple[Species, ...]
    inputs: tuple[Input, ...]
    parameters: tuple[Parameter, ...]
    reactions: tuple[Reaction, ...]
    description: str = ""
    source: str = ""
    assignments: tuple[Assignment, ...] = ()
    events: tuple[Event, ...] = ()
    _checked: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(self.species))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "parameters", tuple(self.parameters))
        object.__setattr__(self, "reactions", tuple(self.reactions))
        object.__setattr__(self, "assignments", tuple(self.assignments))
        object.__setattr__(self, "events", tuple(self.events))
        self._check()

    # ------------------------------------------------------------------ checks
    def _check(self) -> None:
        seen: dict[str, str] = {}
        for kind, items in (("species", self.species), ("input", self.inputs), ("parameter", self.parameters),
                            ("assignment", self.assignments)):
            for it in items:
                if not _IDENT.match(it.name) or it.name in RESERVED or keyword.iskeyword(it.name):
                    raise ScenarioError(f"{kind} name {it.name!r} is not a valid identifier (or is reserved)",
                                        field=f"{kind}.{it.name}", value=it.name)
                if it.name in seen:
                    raise ScenarioError(f"{it.name!r} is declared twice (as {seen[it.name]} and {kind})",
                                        field=f"{kind}.{it.name}", value=it.name)
                seen[it.name] = kind
        for p in self.parameters:
            if not (isinstance(p.value, (int, float)) and math.isfinite(p.value)) or p.value not in p.interval:
                raise ScenarioError(f"parameter.{p.name} = {p.value!r}: out of range; allowed {p.range} "
                                    f"{p.unit}".rstrip(), field=f"parameter.{p.name}", value=p.value)
        for s in self.species:
            if not math.isfinite(s.initial) or (s.initial < 0 and not s.signed):
                raise ScenarioError(f"species.{s.name}.initial = {s.initial!r}: must be >= 0",
                                    field=f"species.{s.name}.initial", value=s.initial)
        _ = self.assignment_exprs  # parses every assignment, refusing cycles
        names = set()
        for r in self.reactions:
            if r.name in names:
                raise ScenarioError(f"reaction {r.name!r} is declared twice", field=f"reaction.{r.name}", value=r.name)
            names.add(r.name)
            for s, c in (*r.reactants, *r.products):
                if s not in self.species_index:
                    raise ScenarioError(f"reaction {r.name!r}: {s!r} is not a species of this network "
                                        f"(species: {', '.join(self.species_names)})",
                                        field=f"reaction.{r.name}", value=s)
                if not (c > 0 and math.isfinite(c)):
                    raise ScenarioError(f"reaction {r.name!r}: stoichiometry of {s} must be > 0",
                                        field=f"reaction.{r.name}", value=c)
            _ = self.rate_exprs  # parses every rate, with errors naming the reaction
        enames = set()
        for e in self.events:
            if e.name in enames:
                raise ScenarioError(f"event {e.name!r} is declared twice", field=f"event.{e.name}", value=e.name)
            enames.add(e.name)
            targets = [t for t, _ in e.assignments]
            for t in targets:
                if t not in self.species_index:
                    raise ScenarioError(f"event {e.name!r}: assignment target {t!r} is not a species of this network",
                                        field=f"event.{e.name}", value=t)
            if len(set(targets)) != len(targets):
                raise ScenarioError(f"event {e.name!r}: a species is assigned twice", field=f"event.{e.name}",
                                    value=targets)
        _ = self.event_exprs  # parses every trigger, delay, priority and assignment

    # ------------------------------------------------------------------ views
    @property
    def species_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.species)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.inputs)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @cached_property
    def species_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.species_names)}

    @cached_property
    def input_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.input_names)}

    @cached_property
    def parameter_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.parameter_names)}

    def parameter(self, name: str) -> Parameter:
        try:
            return self.parameters[self.parameter_index[name]]
        except KeyError:
            raise KeyError(_unknown("parameter", name, self.parameter_names)) from None

    @property
    def assignment_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.assignments)

    @property
    def signed_mask(self) -> tuple[bool, ...]:
        """Per species: may it be negative (not clipped at 0)?"""
        return tuple(s.signed for s in self.species)

    @property
    def initial_state(self) -> np.ndarray:
        return np.array([s.initial for s in self.species], dtype=float)

    @property
    def parameter_values(self) -> np.ndarray:
        return np.array([p.value for p in self.parameters], dtype=float)

    @property
    def input_defaults(self) -> np.ndarray:
        return np.array([u.default for u in self.inputs], dtype=float)

    @cached_property
    def symbols(self) -> dict[str, sp.Symbol]:
        # Species and inputs are amounts (>= 0) and most parameters are rates or thresholds:
        # declaring them positive lets sympy fold n x^n / x into n x^(n-1), finite at x = 0.
        # A parameter whose allowed range reaches below 0 is only declared real.
        # Signed species and assignments are only declared real.
        out = {s.name: sp.Symbol(s.name, real=True) if s.signed else sp.Symbol(s.name, positive=True)
               for s in self.species}
        out.update({n: sp.Symbol(n, positive=True) for n in self.input_names})
        for p in self.parameters:
            out[p.name] = sp.Symbol(p.name, positive=True) if p.interval.low >= 0 else sp.Symbol(p.name, real=True)
        out.update({n: sp.Symbol(n, real=True) for n in self.assignment_names})
        return out

    @cached_property
    def assignment_exprs(self) -> tuple[sp.Expr, ...]:
        """Each assignment as an expression of species, inputs and parameters only (earlier and
        later assignments it uses substituted, in dependency order; a cycle is refused)."""
        raw = {a.name: parse_rate(a.expression, self.symbols, where=f"assignment[{a.name!r}]")
               for a in self.assignments}
        done: dict[sp.Symbol, sp.Expr] = {}
        visiting: list[str] = []

        def resolve(name: str) -> sp.Expr:
            sym = self.symbols[name]
            if sym in done:
                return done[sym]
            if name in visiting:
                cycle = " -> ".join((*visiting[visiting.index(name):], name))
                raise ScenarioError(f"assignments form a cycle: {cycle}", field=f"assignment.{name}", value=name)
            visiting.append(name)
            e = raw[name]
            deps = {s: resolve(s.name) for s in e.free_symbols if s.name in raw}
            visiting.pop()
            done[sym] = e.xreplace(deps) if deps else e
            return done[sym]

        return tuple(resolve(a.name) for a in self.assignments)

    def _substitute(self, e: sp.Expr) -> sp.Expr:
        if not self.assignments:
            return e
        subs = {self.symbols[a.name]: v for a, v in zip(self.assignments, self.assignment_exprs)}
        return e.xreplace(subs)

    @cached_property
    def rate_exprs(self) -> tuple[sp.Expr, ...]:
        """Rates as expressions of species, inputs and parameters (assignments substituted)."""
        return tuple(self._substitute(parse_rate(r.rate, self.symbols, where=f"reaction[{r.name!r}].rate"))
                     for r in self.reactions)

    @cached_property
    def event_exprs(self) -> tuple[tuple[sp.Expr, sp.Expr | None, sp.Expr | None, tuple[sp.Expr, ...]], ...]:
        """Per event: (trigger, delay or None, priority or None, assignment values), as expressions
        of species, inputs and parameters (assignments substituted)."""
        out = []
        for e in self.events:
            def parse(text: str, what: str) -> sp.Expr:
                return self._substitute(parse_rate(text, self.symbols, where=f"event[{e.name!r}].{what}"))
            out.append((parse(e.trigger, "trigger"), parse(e.delay, "delay") if e.delay.strip() else None,
                        parse(e.priority, "priority") if e.priority.strip() else None,
                        tuple(parse(v, f"assignment[{t!r}]") for t, v in e.assignments)))
        return tuple(out)

    @cached_property
    def stoichiometry(self) -> np.ndarray:
        """Net stoichiometry, species x reactions."""
        n = np.zeros((len(self.species), len(self.reactions)))
        for j, r in enumerate(self.reactions):
            for s, c in r.reactants:
                n[self.species_index[s], j] -= c
            for s, c in r.products:
                n[self.species_index[s], j] += c
        return n

    @cached_property
    def rhs_exprs(self) -> tuple[sp.Expr, ...]:
        """d species / dt as sympy expressions."""
        N = self.stoichiometry
        out = []
        for i in range(len(self.species)):
            terms = [sp.nsimplify(N[i, j]) * self.rate_exprs[j] for j in range(len(self.reactions)) if N[i, j] != 0]
            out.append(sp.Add(*terms) if terms else sp.Integer(0))
        return tuple(out)

    @cached_property
    def content_hash(self) -> str:
        """Hash of everything that changes the dynamics (names, values, rates, stoichiometry)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=float).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # ------------------------------------------------------------------ editing
    def with_parameters(self, **values: float) -> "Network":
        """A copy with parameter values replaced (internal units)."""
        for k in values:
            if k not in self.parameter_index:
                raise ScenarioError(_unknown("parameter", k, self.parameter_names), field=f"parameter.{k}", value=k)
        params = tuple(replace(p, value=float(values[p.name])) if p.name in values else p for p in self.parameters)
        return replace(self, parameters=params)

    def with_initial(self, **values: float) -> "Network":
        for k in values:
            if k not in self.species_index:
                raise ScenarioError(_unknown("species", k, self.species_names), field=f"species.{k}", value=k)
        return replace(self, species=tuple(replace(s, initial=float(values[s.name])) if s.name in values else s
                                           for s in self.species))

    def with_reaction(self, reaction: Reaction, *, replace_existing: bool = False) -> "Network":
        rs = [r for r in self.reactions if not (replace_existing and r.name == reaction.name)]
        return replace(self, reactions=(*rs, reaction))

    def without_reaction(self, name: str) -> "Network":
        if name not in {r.name for r in self.reactions}:
            raise KeyError(_unknown("reaction", name, [r.name for r in self.reactions]))
        return replace(self, reactions=tuple(r for r in self.reactions if r.name != name))

    def with_species(self, *species: Species) -> "Network":
        return replace(self, species=(*self.species, *species))

    def with_inputs(self, *inputs: Input) -> "Network":
        return replace(self, inputs=(*self.inputs, *inputs))

    def with_new_parameters(self, *parameters: Parameter) -> "Network":
        return replace(self, parameters=(*self.parameters, *parameters))

    # ------------------------------------------------------------------ reference maths
    @cached_property
    def _lambdified(self):
        args = [sp.Matrix([self.symbols[n] for n in names]) for names in
                (self.species_names, self.parameter_names, self.input_names)]
        syms = [list(a) for a in args]
        f = sp.lambdify(syms, list(self.rhs_exprs), modules="numpy")
        return f

    @cached_property
    def _lambdified_assigned(self):
        syms = [[self.symbols[n] for n in names] for names in
                (self.species_names, self.parameter_names, self.input_names)]
        return sp.lambdify(syms, list(self.assignment_exprs), modules="numpy")

    def assigned(self, y: np.ndarray, p: np.ndarray | None = None, u: np.ndarray | None = None) -> np.ndarray:
        """Values of the assignments (n_assignments, ...) at states ``y`` (n_species, ...)."""
        p = self.parameter_values if p is None else np.asarray(p, float)
        u = self.input_defaults if u is None else np.asarray(u, float)
        out = self._lambdified_assigned(list(np.asarray(y, float)), list(p), list(u))
        with np.errstate(all="ignore"):
            return np.array([np.broadcast_to(np.asarray(v, float), np.shape(y)[1:]) for v in out])

    def rhs(self, y: np.ndarray, p: np.ndarray | None = None, u: np.ndarray | None = None) -> np.ndarray:
        """Reference right-hand side (sympy → numpy), for checks; the solver uses generated kernels."""
        p = self.parameter_values if p is None else np.asarray(p, float)
        u = self.input_defaults if u is None else np.asarray(u, float)
        out = self._lambdified(list(np.asarray(y, float)), list(p), list(u))
        return np.array([np.broadcast_to(np.asarray(v, float), np.shape(y)[1:]) for v in out])

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        out = {
            "network": {"name": self.name, "description": self.description, "source": self.source},
            "species": {s.name: {"initial": s.initial, "unit": s.unit, "note": s.note, **({"signed": True}
                                                                                          if s.signed else {})}
                        for s in self.species},
            "inputs": {u.name: {"default": u.default, "unit": u.unit, "note": u.note} for u in self.inputs},
            "parameters": {p.name: {"value": p.value, "unit": p.unit, "range": p.range, "source": p.source,
                                    "note": p.note} for p in self.parameters},
            "reactions": [{"name": r.name, "equation": r.equation, "rate": r.rate, "law": r.law, "note": r.note}
                          for r in self.reactions],
        }
        if self.assignments:  # only when there are some: other networks keep their layout and hash
            out["assignments"] = {a.name: {"expression": a.expression, "unit": a.unit, "note": a.note}
                                  for a in self.assignments}
        if self.events:  # likewise: networks without events keep their layout and hash
            out["events"] = {e.name: e.to_dict() for e in self.events}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "network") -> "Network":
        """Build from the TOML layout (values may be written in any unit: ``unit`` says which)."""
        unknown = set(data) - {"network", "species", "inputs", "parameters", "reactions", "assignments", "events"}
        if unknown:
            raise ScenarioError(f"{where}: unknown section(s) {sorted(unknown)}; allowed: network, species, inputs, "
                                f"parameters, reactions, assignments, events", field=where, value=sorted(unknown))
        head = data.get("network", {})
        species = []
        for name, e in data.get("species", {}).items():
            unit = e.get("unit", "")
            init = _to_internal(e.get("initial", 0.0), unit, f"species.{name}.initial")
            species.append(Species(name, init, _internal_unit(unit), e.get("note", ""), bool(e.get("signed", False))))
        inputs = []
        for name, e in data.get("inputs", {}).items():
            unit = e.get("unit", "nM")
            inputs.append(Input(name, _to_internal(e.get("default", 0.0), unit, f"inputs.{name}.default"),
                                _internal_unit(unit), e.get("note", "")))
        params = []
        for name, e in data.get("parameters", {}).items():
            if "value" not in e:
                raise ScenarioError(f"parameters.{name}: needs a value", field=f"parameters.{name}", value=None)
            if not e.get("source"):
                raise ScenarioError(f"parameters.{name}: needs a source (DOI, or 'assumption: why')",
                                    field=f"parameters.{name}.source", value=None)
            unit = e.get("unit", "")
            rng = e.get("range", "[0, inf)")
            value = _to_internal(e["value"], unit, f"parameters.{name}")
            params.append(Parameter(name, value, _internal_unit(unit), e["source"], e.get("note", ""),
                                    _convert_range(rng, unit), written_unit=unit))
        reactions = []
        for i, e in enumerate(data.get("reactions", [])):
            for key in ("name", "equation", "rate"):
                if key not in e:
                    raise ScenarioError(f"reactions[{i}]: needs '{key}'", field=f"reactions[{i}].{key}", value=None)
            reactions.append(Reaction.parse(e["name"], e["equation"], e["rate"], law=e.get("law", "custom"),
                                            note=e.get("note", "")))
        assignments = []
        for name, e in data.get("assignments", {}).items():
            if "expression" not in e:
                raise ScenarioError(f"assignments.{name}: needs an expression", field=f"assignments.{name}",
                                    value=None)
            assignments.append(Assignment(name, e["expression"], e.get("unit", ""), e.get("note", "")))
        events = []
        for name, e in data.get("events", {}).items():
            if "trigger" not in e:
                raise ScenarioError(f"events.{name}: needs a trigger", field=f"events.{name}", value=None)
            events.append(Event(name, e["trigger"], tuple(dict(e.get("assignments", {})).items()),
                                e.get("delay", ""), e.get("priority", ""), bool(e.get("persistent", True)),
                                bool(e.get("initial_value", True)), bool(e.get("use_trigger_values", True)),
                                e.get("note", "")))
        return cls(name=head.get("name", "network"), species=tuple(species), inputs=tuple(inputs),
                   parameters=tuple(params), reactions=tuple(reactions), description=head.get("description", ""),
                   source=head.get("source", ""), assignments=tuple(assignments), events=tuple(events))

    def to_toml(self) -> str:
        """TOML text that :func:`load_network` reads back to an equal network (internal units)."""
        d = self.to_dict()
        lines = ["[network]"] + [f"{k} = {json.dumps(v)}" for k, v in d["network"].items()]
        for sec in ("species", "inputs", "parameters", "assignments"):
            for name, e in d.get(sec, {}).items():
                lines += ["", f"[{sec}.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in e.items()]
        for r in d["reactions"]:
            lines += ["", "[[reactions]]"] + [f"{k} = {json.dumps(v)}" for k, v in r.items()]
        for name, e in d.get("events", {}).items():
            lines += ["", f"[events.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in e.items() if k != "assignments"]
            lines += ["", f"[events.{name}.assignments]"] + [f"{k} = {json.dumps(v)}"
                                                             for k, v in e["assignments"].items()]
        return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    return json.dumps(v)


#: The unit label of a quantity kept as an amount in its model's own substance unit (what
#: ``from_sbml`` gives a species with ``hasOnlySubstanceUnits``, or one whose compartment's
#: size changes): numbers in it are taken as they are, never converted.
AMOUNT = "amount"


def _internal_unit(unit: str) -> str:
    return AMOUNT if unit == AMOUNT else internal_unit(unit)


def _to_internal(value: Any, unit: str, fieldname: str) -> float:
    """A number written in ``unit`` (or a string with its own unit) → internal units."""
    if unit == AMOUNT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"{fieldname} = {value!r}: must be a number (unit {AMOUNT!r}: an amount in the "
                                f"model's own substance unit)", field=fieldname, value=value)
        return float(value)
    target = internal_unit(unit)
    if isinstance(value, str):
        return parse_quantity(value, target, field=fieldname)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{fieldname} = {value!r}: must be a number", field=fieldname, value=value)
    written = f"{value!r} {unit}" if unit else repr(float(value))
    return parse_quantity(written, target, field=fieldname)


def _convert_range(text: str, unit: str) -> str:
    iv = Interval.parse(text)
    if not unit:
        return text

    def conv(x: float) -> float:
        return x if math.isinf(x) or x == 0 else _to_internal(x, unit, "range")

    def show(x: float) -> str:  # full precision: a value on a converted bound must stay inside
        return "inf" if x == math.inf else ("-inf" if x == -math.inf else repr(float(x)))
    lo, hi = conv(iv.low), conv(iv.high)
    return f"{'[' if iv.low_closed else '('}{show(lo)}, {show(hi)}{']' if iv.high_closed else ')'}"


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    known = list(known)
    return f"unknown {kind} {name!r}{did_you_mean(name, known) or '; known: ' + ', '.join(known)}"


def load_network(path: str | Path) -> Network:
    """Read a network TOML file (see ``cell/networks/contractility.toml`` for the layout)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"network file {str(p)!r} not found", field="network", value=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML ({exc})", field="network", value=str(p)) from None
    return Network.from_dict(data, where=str(p))


def builtin_network(name: str = "contractility") -> Network:
    """A network shipped with seedsoil (``contractility``: GP130/JAK1/STAT3, Rho/ROCK/MLC2,
    Rac1-RhoA switch, IL-1β/ZEB1)."""
    from importlib import resources

    files = {f.name.removesuffix(".toml"): f for f in resources.files("seedsoil.cell.networks").iterdir()
             if f.name.endswith(".toml")}
    if name not in files:
        raise KeyError(_unknown("network", name, sorted(files)))
    return Network.from_dict(tomllib.loads(files[name].read_text()), where=f"networks/{name}.toml")
