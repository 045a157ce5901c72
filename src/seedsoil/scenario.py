"""Scenario files (TOML) -> one validated, immutable :class:`Scenario`.

A scenario names the patient (parameter overrides grouped as in ``params/``),
the simulation settings, surgery, therapies, an optional injection of cells and
the outputs, and optionally the patient's clinical record (``[patient]``: tumour size,
positive nodes, grade, ER / PR, menopause, age), which changes her parameters through
declared links (:mod:`seedsoil.body.covariates`). Values may carry units ("3 h", "0.5 / day", "2 cm"); they are
converted here, once, to internal units. Everything invalid raises
:class:`~seedsoil.errors.ScenarioError` naming the field, the value, the unit and
the allowed range; unknown keys get a "did you mean" hint.

This module is the composition root (docs/architecture.md): the only place that
joins the scales' pieces into one patient. A scenario carries the
:class:`~seedsoil.coupling.DrugLibrary` it was validated with (``drugs=``) and the
content of a linked invasion map (its SHA-256 is part of the normalized form, so
of :meth:`Scenario.content_hash`); the body engine asks it for drug factors
(:meth:`Scenario.drug_factors`), which it answers through the coupling layer.
"""
from __future__ import annotations

import json

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from .body.covariates import (COVARIATES, RECORD_FIELDS, CovariateLinks, apply_links, default_links,
                              parse_links, read_links)
from .coupling.drugs import DrugLibrary, default_drugs
from .errors import ScenarioError, UnitError, did_you_mean
from .hashing import content_hash, file_hash
from .params import Interval, ParameterLibrary, load_library
from .tomlfile import read_scenario_file
from .tree import set_dotted
from .units import parse_quantity

STRUCTURAL = ("scenario", "simulation", "surgery", "therapy", "injection", "output", "tissue", "variant", "patient")


# --------------------------------------------------------------------------- quantities
def _quantity(unit: str, interval: str, label: str | None = None):
    rng = Interval.parse(interval)

    def check(v: object) -> float:
        try:
            x = parse_quantity(v, unit, field="value")
        except UnitError as exc:
            raise ValueError(exc.reason) from None  # type: ignore[attr-defined]
        if x not in rng:
            u = f" {label or unit}" if (label or unit) else ""
            raise ValueError(f"out of range; allowed {rng}{u}")
        return x

    return Annotated[float, BeforeValidator(check)]


Days = _quantity("day", "[0, 1e6]", "day")
PositiveDays = _quantity("day", "(0, 1e6]", "day")
Fraction = _quantity("", "[0, 1]")
Millimetres = _quantity("mm", "(0, 1e4]", "mm")
Cells = _quantity("", "[0, 1e15]", "cells")
Nanomolar = _quantity("nM", "[0, 1e6]", "nM")
Milligrams = _quantity("mg", "(0, 1e6]", "mg")
Gray = _quantity("Gy", "(0, 100]", "Gy")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(_Section):
    name: str = "unnamed"
    description: str = ""


class Simulation(_Section):
    """Engine and numerical controls."""

    engine: Literal["stochastic", "meanfield", "analytic"] = "stochastic"
    dt: _quantity("day", "(0, 30]", "day") = 1.0  # type: ignore[valid-type]
    follow_up: PositiveDays = 3652.5  # after surgery (or after t = 0 without surgery)
    max_time: PositiveDays = 36525.0  # hard stop since t = 0 (100 years)
    stop_at: Literal["relapse", "death"] = "death"  # death: run to death or end of follow-up
    seed: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None
    #: colonies below this size are simulated event by event (exact SSA)
    exact_threshold: _quantity("", "[1, 1e6]", "cells") = 64.0  # type: ignore[valid-type]
    #: colonies above this size grow deterministically
    stochastic_threshold: _quantity("", "[1, 1e12]", "cells") = 1e4  # type: ignore[valid-type]
    #: mean-field: cells of the log-size grid
    grid_cells: Annotated[StrictInt, Field(ge=10, le=100_000)] = 800
    #: relapse-time (analytic) engine: macro step of its colony solver (a multiple of dt)
    analytic_step: _quantity("day", "(0, 365]", "day") = 16.0  # type: ignore[valid-type]
    #: analytic engine: colony sizes 1 ... n on its size lattice are exact (then a geometric ladder)
    analytic_integer_sizes: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 32
    #: analytic engine: ratio of the geometric ladder of colony sizes above the integers
    analytic_size_ratio: _quantity("", "(1, 4]", "") = 1.05  # type: ignore[valid-type]
    #: analytic engine: colonies up to this size are on its birth–death lattice (extinction resolved);
    #: above, they move on nodes aligned with their trajectory, with the birth–death variance
    analytic_lattice_top: _quantity("", "[2, 1e12]", "cells") = 1e4  # type: ignore[valid-type]


class Surgery(_Section):
    """Resection of the primary: at a day, or when it reaches a diameter or a cell count."""

    day: Days | None = None
    primary_diameter: Millimetres | None = None
    primary_cells: _quantity("", "(0, 1e15]", "cells") | None = None  # type: ignore[valid-type]
    delay: Days = 0.0  # from reaching primary_diameter / primary_cells (diagnosis) to surgery

SURGERY_TRIGGERS = ("day", "primary_diameter", "primary_cells")


def _update_surgery(section: dict[str, Any], values: Mapping[str, Any]) -> None:
    """Set surgery fields in a normalized ``[surgery]`` table; a new trigger (day,
    primary_diameter or primary_cells) replaces the one the table had."""
    if any(k in values for k in SURGERY_TRIGGERS):
        for k in SURGERY_TRIGGERS:
            if k not in values:
                section.pop(k, None)
    section.update(values)


class Therapy(_Section):
    kind: Literal["il1r_blockade", "il1b_mimetic", "drug", "chemotherapy", "endocrine", "nsaid", "radiotherapy"]
    start: Days = 0.0
    duration: PositiveDays = 365.25  # chemotherapy: cycles x interval; endocrine: 5 years; nsaid: 7 days
    relative_to: Literal["surgery", "start"] = "surgery"
    blocked_fraction: Fraction = 1.0  # il1r_blockade
    level: Nanomolar = 5.7e-3  # il1b_mimetic: IL-1beta level added to I(t), nM
    drug: str | None = None  # drug: name of a registered drug model
    dose: Milligrams | None = None
    interval: PositiveDays | None = None  # drug: between doses; chemotherapy: cycle length
    regimen: str | None = None  # chemotherapy: a preset of seedsoil.body.adjuvant.REGIMENS
    cycles: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None  # chemotherapy
    exposure: PositiveDays = 1.0  # chemotherapy: days of drug exposure at the start of each cycle
    potency: _quantity("", "[0, 1e3]", "") | None = None  # type: ignore[valid-type]  # chemotherapy, x CMF
    agent: str | None = None  # endocrine: tamoxifen | aromatase_inhibitor; nsaid: meloxicam | ketorolac
    dose_per_fraction: Gray | None = None  # radiotherapy: Gy per fraction
    fractions: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None  # radiotherapy
    fractions_per_week: Annotated[StrictInt, Field(ge=1, le=7)] = 5  # radiotherapy: consecutive days a week


THERAPY_FIELDS = {
    "common": {"kind", "start", "duration", "relative_to"},
    "il1r_blockade": {"blocked_fraction"},
    "il1b_mimetic": {"level"},
    "drug": {"drug", "dose", "interval"},
    "chemotherapy": {"regimen", "cycles", "interval", "exposure", "potency"},
    "endocrine": {"agent"},
    "nsaid": {"agent"},
    "radiotherapy": {"dose_per_fraction", "fractions", "fractions_per_week"},
}
#: default course length (days) of the kinds whose course is not a year
DEFAULT_DURATION = {"endocrine": 5 * 365.25, "nsaid": 7.0}


def _complete_therapy(t: Therapy, raw: Mapping[str, Any], i: int) -> Therapy:
    """Fill a chemotherapy course from its regimen (cycles, interval, potency; its duration is
    cycles x interval) and check the agents of endocrine and NSAID therapies."""
    from .body.adjuvant import ENDOCRINE_AGENTS, NSAID_AGENTS, REGIMENS
    where = f"therapy[{i}]"
    if t.kind == "chemotherapy":
        if "duration" in raw:
            raise ScenarioError(f"{where}.duration: a chemotherapy course lasts cycles x interval; give those "
                                "instead", field=f"{where}.duration", value=raw["duration"])
        fill: dict[str, Any] = {}
        if t.regimen is not None:
            if t.regimen not in REGIMENS:
                raise ScenarioError(f"{where}.regimen = {t.regimen!r}: unknown regimen"
                                    f"{did_you_mean(t.regimen, list(REGIMENS))} (known: {', '.join(REGIMENS)})",
                                    field=f"{where}.regimen", value=t.regimen)
            preset = REGIMENS[t.regimen]
            fill = {k: v for k, v in preset.items() if getattr(t, k) is None}
            fill = {k: int(v) if k == "cycles" else float(v) for k, v in fill.items()}
        for key in ("cycles", "interval"):
            if getattr(t, key) is None and key not in fill:
                raise ScenarioError(f"{where}.{key}: a chemotherapy needs {key} (or a regimen: "
                                    f"{', '.join(REGIMENS)})", field=f"{where}.{key}", value=None)
        t = t.model_copy(update=fill)
        if t.potency is None:
            t = t.model_copy(update={"potency": 1.0})
        if t.exposure > t.interval:  # type: ignore[operator]
            raise ScenarioError(f"{where}.exposure = {t.exposure:g} day: longer than the cycle "
                                f"(interval = {t.interval:g} day); allowed (0, interval] day",
                                field=f"{where}.exposure", value=t.exposure)
        return t.model_copy(update={"duration": t.cycles * t.interval})  # type: ignore[operator]
    if t.kind == "radiotherapy":
        from .body.local import course_days
        if "duration" in raw:
            raise ScenarioError(f"{where}.duration: a radiotherapy course lasts as its fractions (fractions, "
                                "fractions_per_week); give those instead", field=f"{where}.duration",
                                value=raw["duration"])
        for key, unit in (("dose_per_fraction", "Gy, allowed (0, 100] Gy"), ("fractions", "allowed [1, 1000]")):
            if getattr(t, key) is None:
                raise ScenarioError(f"{where}.{key}: a radiotherapy course needs {key} ({unit}; e.g. 2 Gy x 25 "
                                    "or 2.67 Gy x 15)", field=f"{where}.{key}", value=None)
        return t.model_copy(update={"duration": course_days(t.fractions, t.fractions_per_week)})  # type: ignore[arg-type]
    if t.kind in ("endocrine", "nsaid"):
        agents = ENDOCRINE_AGENTS if t.kind == "endocrine" else NSAID_AGENTS
        if t.agent not in agents:
            raise ScenarioError(f"{where}.agent = {t.agent!r}: {t.kind} therapy takes agent = "
                                f"{' or '.join(repr(a) for a in agents)}"
                                + (did_you_mean(t.agent, list(agents)) if t.agent else ""),
                                field=f"{where}.agent", value=t.agent)
        if "duration" not in raw:
            t = t.model_copy(update={"duration": DEFAULT_DURATION[t.kind]})
    return t


def _therapy_dict(t: Therapy) -> dict[str, Any]:
    keep = THERAPY_FIELDS["common"] | THERAPY_FIELDS[t.kind]
    if t.kind in ("chemotherapy", "radiotherapy"):
        keep = keep - {"duration"}  # cycles x interval; the fractions
    return {k: v for k, v in t.model_dump().items() if k in keep and v is not None}


class Injection(_Section):
    """Cells put straight into the circulation (an experimental injection)."""

    cells: Cells
    day: Days = 0.0


class TissueLink(_Section):
    """Coupling to the tissue scale: a saved :class:`~seedsoil.tissue.invasion.InvasionMap`
    (JSON, from ``seedsoil tissue-map``) from which drugs' JAK1 / ROCK inhibition scales
    shedding. A relative path is read from the scenario file's folder.
    ``invasion_map_sha256`` is the file's content hash, filled in when the scenario is
    validated (so results and the scenario's content hash follow the file's content,
    not its path); given, it must match the file."""

    invasion_map: str | None = None
    invasion_map_sha256: str | None = None


@dataclass(frozen=True)
class Patient:
    """``[patient]``: what the clinic records about her, in internal units (size in mm, age in
    years, ER / PR as ``"positive"`` / ``"negative"``; a receptor level such as ``"35 fmol/mg"``
    is read as its status at 10 fmol/mg), and the links file that maps the record onto her
    parameters (``links``: a path, or the links table itself in the links file's form, which is
    how a scenario whose links come from no file, e.g. a fitted population's, is written;
    ``None`` = the package's ``params/covariate_links.toml``).
    ``links_sha256`` is the links' definition hash, filled in when the scenario is validated
    (so it is part of the content hash); given, it must match. A field left out is not
    recorded: its links are left out."""

    tumour_size: float | None = None
    positive_nodes: int | None = None
    grade: int | None = None
    er: str | None = None
    pr: str | None = None
    menopause: str | None = None
    age: float | None = None
    links: str | Mapping[str, Any] | None = None
    links_sha256: str | None = None

    @classmethod
    def parse(cls, data: object, where: str = "patient") -> "Patient":
        if not isinstance(data, Mapping):
            raise ScenarioError(f"{where}: must be a table [patient]", field=where, value=data)
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = f"{where}.{_printable(str(key))}"
            if key in RECORD_FIELDS:
                out[key] = None if value is None else COVARIATES[key].coerce(value, where=f"{where}.")
            elif key == "links" and isinstance(value, Mapping):
                out[key] = json.loads(json.dumps(value))  # an inline links table (checked by _link_patient)
            elif key in ("links", "links_sha256"):
                if value is not None and not (isinstance(value, str) and value):
                    what = "a path to a links file (TOML), or a links table" if key == "links" else "a SHA-256"
                    raise ScenarioError(f"{name} = {value!r}: {what}", field=name, value=value)
                out[key] = value
            else:
                extra = " (t_stage follows from tumour_size)" if key == "t_stage" else ""
                raise ScenarioError(f"{name}: unknown key{_hint(str(key), list(PATIENT_KEYS))}{extra}", field=name,
                                    value=value)
        return cls(**out)

    def values(self) -> dict[str, Any]:
        """The recorded covariates (internal units; fields not recorded left out)."""
        return {k: getattr(self, k) for k in RECORD_FIELDS if getattr(self, k) is not None}

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in PATIENT_KEYS if getattr(self, k) is not None}


PATIENT_KEYS = RECORD_FIELDS + ("links", "links_sha256")


def _link_patient(patient: Patient, lib: ParameterLibrary) -> tuple[Patient, CovariateLinks]:
    """Read the patient's links (her file, or the package's) and record their definition hash."""
    if patient.links is None:
        links = default_links(lib)
    elif isinstance(patient.links, Mapping):
        links = parse_links(patient.links, lib, where="patient.links")
    else:
        links = read_links(patient.links, lib)
    if patient.links_sha256 is not None and patient.links_sha256 != links.sha256:
        what = ("the links table patient.links" if isinstance(patient.links, Mapping) else
                f"the links file {patient.links!r}" if patient.links else "the package's covariate links")
        raise ScenarioError(f"patient.links_sha256 = {patient.links_sha256[:12]}…: {what} changed since this "
                            f"scenario was made (their SHA-256 is now {links.sha256[:12]}…); load the scenario file "
                            "again", field="patient.links_sha256", value=patient.links_sha256)
    return replace(patient, links_sha256=links.sha256), links


class Output(_Section):
    record_every: PositiveDays = 7.0
    colonies: StrictBool = True
    report: StrictBool = True


# --------------------------------------------------------------------------- errors
def _printable(name: str) -> str:
    """A key as it can stand in a one-line message."""
    return name if name.isprintable() else repr(name)[1:-1]


def _hint(key: str, options: list[str]) -> str:
    return did_you_mean(key, options)


def _format_pydantic(section: str, exc: ValidationError, data: Mapping[str, Any], model: type[BaseModel]) -> ScenarioError:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    fieldname = f"{section}.{loc}" if loc else section
    value = err.get("input")
    etype = err["type"]
    if etype == "extra_forbidden":
        key = str(err["loc"][-1])
        msg = f"{_printable(fieldname)}: unknown key{_hint(key, list(model.model_fields))}"
    elif etype == "missing":
        msg = f"{fieldname}: required value is missing"
    elif etype == "value_error":
        cause = err.get("ctx", {}).get("error")
        text = str(cause) if cause is not None else err["msg"]
        msg = f"{fieldname} = {value!r}: {text}"
    else:
        msg = f"{fieldname} = {value!r}: {err['msg']}"
    return ScenarioError(msg, field=fieldname, value=value)


def _section(model: type[BaseModel], name: str, data: object) -> BaseModel:
    if not isinstance(data, dict):
        raise ScenarioError(f"{name}: must be a table, got {data!r}", field=name, value=data)
    try:
        return model(**data)
    except ValidationError as exc:
        raise _format_pydantic(name, exc, data, model) from None
    except TypeError as exc:  # non-string keys etc.
        raise ScenarioError(f"{name}: {exc}", field=name, value=data) from None


# --------------------------------------------------------------------------- scenario
@dataclass(frozen=True)
class Scenario:
    """A validated, immutable scenario; numbers are in internal units."""

    meta: Meta
    parameters: Mapping[str, Any]
    simulation: Simulation
    surgery: Surgery | None
    therapies: tuple[Therapy, ...]
    injection: Injection | None
    output: Output
    overrides: Mapping[str, Any] = field(default_factory=dict)
    tissue: TissueLink | None = None
    #: named overlays of this scenario ("the same patient, plus ..."); see :meth:`variant`
    variants: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    #: the drugs its therapies may name (a value; default: the presets)
    drugs: DrugLibrary = field(default_factory=default_drugs, repr=False, compare=False)
    #: the linked invasion map, read and checked at validation (None without one)
    invasion_map: Any = field(default=None, repr=False, compare=False)
    #: the clinical record ([patient]); None without one
    patient: Patient | None = None
    #: the covariate links the record went through (None without [patient])
    links: CovariateLinks | None = field(default=None, repr=False, compare=False)
    #: the parameters before the links (defaults + overrides; None: the same as ``parameters``)
    base_parameters: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def __reduce__(self):
        # mappingproxy fields do not pickle: ship the normalized form and the drug library,
        # rebuild (and re-validate) in the worker
        return (_rebuild, (type(self), self.to_dict(), self.drugs))

    def drug_factors(self, times: Any, dosings: Any, *, step: float | None = None) -> dict[str, Any]:
        """The drugs' invasion / immune-kill / dormancy-signal factors on ``times`` (what the body
        engine asks; :func:`seedsoil.coupling.effects.factors` with this scenario's drugs and map)."""
        from .coupling.effects import factors

        return factors(times, dosings, library=self.drugs, invasion_map=self.invasion_map, step=step)

    @property
    def name(self) -> str:
        return self.meta.name

    def __getitem__(self, name: str) -> Any:
        return self.parameters[name]

    def to_dict(self) -> dict[str, Any]:
        """Normalized form (internal units, no unit strings). ``from_dict`` of it round-trips."""
        out: dict[str, Any] = {"scenario": self.meta.model_dump()}
        out["simulation"] = self.simulation.model_dump()
        if self.surgery is not None:
            out["surgery"] = {k: v for k, v in self.surgery.model_dump().items() if v is not None}
        if self.therapies:
            out["therapy"] = [_therapy_dict(t) for t in self.therapies]
        if self.injection is not None:
            out["injection"] = self.injection.model_dump()
        out["output"] = self.output.model_dump()
        if self.tissue is not None:
            out["tissue"] = self.tissue.model_dump()
        if self.patient is not None:
            out["patient"] = self.patient.to_dict()
            if self.patient.links is None and self.links is not None and self.links.sha256 != default_links().sha256:
                # links from no file (e.g. a fitted population's): written out, so the scenario rebuilds
                out["patient"]["links"] = json.loads(json.dumps(self.links.definition))
        for name, value in sorted(self.overrides.items()):
            set_dotted(out, name, value)
        if out["simulation"].get("seed") is None:
            out["simulation"].pop("seed")
        if self.variants:
            out["variant"] = [{"name": name, **json.loads(json.dumps(dict(overlay)))} for name, overlay in self.variants]
        return out

    def variant_names(self) -> list[str]:
        return [name for name, _ in self.variants]

    def variant(self, name: str) -> "Scenario":
        """The scenario with the overlay ``name`` applied: parameter groups are merged,
        its ``therapy`` entries are added to the base therapies."""
        for vname, overlay in self.variants:
            if vname == name:
                return _apply_overlay(self, overlay, vname, vname)
        raise KeyError(f"no variant {name!r}; this scenario has: {', '.join(self.variant_names()) or 'none'}")

    def content_hash(self) -> str:
        """SHA-256 of everything that determines results: the normalized scenario (stable across
        key order and unit spelling; a linked map by its content's SHA-256) and, for drugs that
        are not unchanged presets, their definitions (:meth:`DrugLibrary.fingerprint`)."""
        data = self.to_dict()
        used = {t.drug for t in self.therapies if t.kind == "drug"}
        for _, overlay in self.variants:
            used |= {t.get("drug") for t in overlay.get("therapy", []) if isinstance(t, Mapping)}
        extra = self.drugs.fingerprint(used - {None})
        if extra:
            data = {"scenario": data, "drug_library": extra}
        return content_hash(data)

    def with_parameters(self, **overrides: Any) -> "Scenario":
        """A copy with parameters changed; keys use ``__`` for dots (``shedding__rate=0.01``)."""
        data = self.to_dict()
        for key, value in overrides.items():
            set_dotted(data, key.replace("__", "."), value)
        return type(self).from_dict(data, drugs=self.drugs)

    def with_overrides(self, overrides: Mapping[str, Any], *, where: str = "", strict: bool = True) -> "Scenario":
        """A copy with any fields changed by dotted name: library parameters
        (``"shedding.rate"``), ``surgery.<field>`` (``"surgery.primary_diameter"``,
        ``"surgery.primary_cells"``, ...), ``simulation.<field>``, ``output.<field>``,
        ``therapy.<field>`` (every therapy that has the field) or
        ``therapy.<kind>.<field>`` (every therapy of that kind) or ``patient.<field>`` (her
        clinical record, applied through the links). How a population's
        covariates and sampled parameters reach a patient. Errors name ``where`` + key. A
        ``therapy.*`` key that no therapy has is an error, unless ``strict=False`` (a trial arm
        without that therapy)."""
        data = self.to_dict()
        data.pop("variant", None)
        for key, value in overrides.items():
            head, _, rest = key.partition(".")
            if head in ("surgery", "simulation", "output", "patient") and rest:
                section = data.setdefault(head, {})
                if head == "surgery":
                    _update_surgery(section, {rest: value})
                else:
                    section[rest] = value
                    if head == "patient" and rest == "links":
                        section.pop("links_sha256", None)
            elif head == "therapy" and rest:
                kind, _, fld = rest.partition(".")
                targets = [t for t in data.get("therapy", []) if fld and t["kind"] == kind] if fld else \
                    [t for t in data.get("therapy", []) if rest in THERAPY_FIELDS["common"] | THERAPY_FIELDS[t["kind"]]]
                name = fld or rest
                if not targets and strict:
                    raise ScenarioError(f"{where}{key}: the scenario has no therapy with this setting",
                                        field=f"{where}{key}", value=value)
                for t in targets:
                    t[name] = value
            elif head in STRUCTURAL:
                raise ScenarioError(f"{where}{key}: cannot be set per patient (settable: parameters, surgery.*, "
                                    "simulation.*, output.*, therapy.*, patient.*)", field=f"{where}{key}", value=value)
            else:
                set_dotted(data, key, value)
        try:
            return type(self).from_dict(data, drugs=self.drugs)
        except ScenarioError as exc:
            if not where:
                raise
            raise ScenarioError(f"{where}{exc}", field=f"{where}{exc.field}", value=exc.value) from None

    def with_settings(self, **sections: Any) -> "Scenario":
        """A copy with structural fields changed, e.g. ``with_settings(simulation={"dt": 0.25})``."""
        data = self.to_dict()
        for section, values in sections.items():
            if section == "therapy":
                data["therapy"] = list(values)
            elif values is None:
                data.pop(section, None)
            else:
                if section == "surgery":
                    _update_surgery(data.setdefault(section, {}), values)
                else:
                    data.setdefault(section, {}).update(values)
        return type(self).from_dict(data, drugs=self.drugs)

    def with_patient(self, values: Mapping[str, Any] = {}, parameters: Mapping[str, Any] = {}, *,
                     where: str = "") -> "Scenario":
        """A copy for one virtual patient, without validating the whole scenario again: her
        ``[patient]`` fields ``values`` (raw or internal units; merged into this scenario's record)
        and library ``parameters`` (already valid, internal units, e.g. sampled by a population)
        replace this scenario's, and the links are applied to the parameters before the links
        (so a sampled growth rate is still scaled by her grade). Errors name ``where`` + field."""
        lib_params = dict(self.base_parameters if self.base_parameters is not None else self.parameters)
        lib_params.update(parameters)
        record = self.patient.to_dict() if self.patient is not None else {}
        record.update(values)
        record.pop("links_sha256", None)
        try:
            patient = Patient.parse(record)
            links = self.links if self.links is not None else default_links()
            patient = replace(patient, links_sha256=links.sha256, links=self.patient.links if self.patient else None)
            params, fields = apply_links(links, patient.values(), lib_params, load_library())
            _check_cross_field(params)
            surgery = self.surgery
            if fields:
                section = surgery.model_dump(exclude_none=True) if surgery is not None else {}
                _update_surgery(section, {k.split(".", 1)[1]: v for k, v in fields.items()})
                surgery = _section(Surgery, "surgery", section)  # type: ignore[assignment]
        except ScenarioError as exc:
            if not where:
                raise
            raise ScenarioError(f"{where}{exc}", field=f"{where}{exc.field}", value=exc.value) from None
        overrides = {**self.overrides, **parameters}
        return replace(self, parameters=MappingProxyType(params), patient=patient, links=links, surgery=surgery,
                       base_parameters=MappingProxyType(lib_params),
                       overrides=MappingProxyType(dict(sorted(overrides.items()))))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, library: ParameterLibrary | None = None,
                  drugs: DrugLibrary | None = None) -> "Scenario":
        """Validate a scenario (the parsed TOML of a scenario file, or :meth:`to_dict`).

        ``drugs``: the drugs therapies may name (default: the presets,
        :func:`seedsoil.coupling.default_drugs`); a library of your own travels with the
        scenario to worker processes.
        """
        lib = library or load_library()
        drugs = default_drugs() if drugs is None else drugs
        if not isinstance(drugs, DrugLibrary):
            raise TypeError(f"drugs = {drugs!r}: a seedsoil.coupling.DrugLibrary")
        if not isinstance(data, Mapping):
            raise ScenarioError("scenario: must be a table of sections", field="scenario", value=data)
        groups = lib.groups()
        top_level = sorted(set(STRUCTURAL) | {g for g in groups if "." not in g})
        overrides: dict[str, Any] = {}

        def walk(node: Mapping[str, Any], prefix: str) -> None:
            for key, value in node.items():
                name = f"{prefix}{key}"
                if name in lib:
                    overrides[name] = lib[name].coerce(value)
                elif name in groups:
                    if not isinstance(value, Mapping):
                        raise ScenarioError(f"{name} = {value!r}: is a group of parameters, write [{name}]",
                                            field=name, value=value)
                    walk(value, f"{name}.")
                else:
                    options = [n for n in list(lib) + sorted(groups) if n.startswith(prefix)]
                    short = [n[len(prefix):] for n in options]
                    hint = _hint(str(key), short)
                    raise ScenarioError(f"{_printable(name)}: unknown parameter{hint}", field=name, value=value)

        for key, value in data.items():
            if key in STRUCTURAL:
                continue
            if key not in groups:
                raise ScenarioError(f"{_printable(str(key))}: unknown section{_hint(str(key), top_level)}",
                                    field=str(key), value=value)
            if not isinstance(value, Mapping):
                raise ScenarioError(f"{key} = {value!r}: must be a table [{key}]", field=str(key), value=value)
            walk(value, f"{key}.")

        params = lib.defaults()
        params.update(overrides)
        base_params = None
        raw_surgery = data.get("surgery")
        patient = links = None
        if "patient" in data:  # her record, through the links: parameters and surgery fields
            patient, links = _link_patient(Patient.parse(data["patient"]), lib)
            base_params = MappingProxyType(dict(params))
            params, fields = apply_links(links, patient.values(), params, lib)
            if fields and (raw_surgery is None or isinstance(raw_surgery, Mapping)):
                raw_surgery = dict(raw_surgery or {})
                _update_surgery(raw_surgery, {k.split(".", 1)[1]: v for k, v in fields.items()})
        _check_cross_field(params)

        meta = _section(Meta, "scenario", data.get("scenario", {}))
        sim = _section(Simulation, "simulation", data.get("simulation", {}))
        surgery = _section(Surgery, "surgery", raw_surgery) if raw_surgery is not None else None
        if surgery is not None:
            given = [k for k in SURGERY_TRIGGERS if getattr(surgery, k) is not None]
            if len(given) != 1:
                raise ScenarioError("surgery: give exactly one of 'day', 'primary_diameter' or 'primary_cells'"
                                    + (f" (got {', '.join(given)})" if given else ""), field="surgery",
                                    value=raw_surgery)
        raw_t = data.get("therapy", [])
        if isinstance(raw_t, Mapping):
            raw_t = [raw_t]
        if not isinstance(raw_t, list):
            raise ScenarioError("therapy: write one [[therapy]] table per therapy", field="therapy", value=raw_t)
        therapies = tuple(_complete_therapy(_section(Therapy, f"therapy[{i}]", t), t, i)  # type: ignore[arg-type]
                          for i, t in enumerate(raw_t))
        for i, (raw, t) in enumerate(zip(raw_t, therapies)):
            extra = sorted(set(raw) - THERAPY_FIELDS["common"] - THERAPY_FIELDS[t.kind])  # type: ignore[union-attr]
            if extra:
                raise ScenarioError(f"therapy[{i}].{extra[0]}: not a setting of kind = {t.kind!r} "  # type: ignore[union-attr]
                                    f"(it takes {', '.join(sorted(THERAPY_FIELDS[t.kind]))})",  # type: ignore[union-attr]
                                    field=f"therapy[{i}].{extra[0]}", value=raw[extra[0]])
        for i, t in enumerate(therapies):
            if t.relative_to == "surgery" and surgery is None:  # type: ignore[union-attr]
                raise ScenarioError(f"therapy[{i}].relative_to = 'surgery': the scenario has no [surgery]; "
                                    "use relative_to = \"start\"", field=f"therapy[{i}].relative_to", value="surgery")
            if t.kind == "drug":  # type: ignore[union-attr]
                drugs.check(t.drug, f"therapy[{i}]")  # type: ignore[union-attr]
                for key in ("dose", "interval"):
                    if getattr(t, key) is None:
                        raise ScenarioError(f"therapy[{i}].{key}: a drug therapy needs a {key}",
                                            field=f"therapy[{i}].{key}", value=None)
        injection = _section(Injection, "injection", data["injection"]) if "injection" in data else None
        output = _section(Output, "output", data.get("output", {}))
        tissue = _section(TissueLink, "tissue", data["tissue"]) if "tissue" in data else None
        imap = None
        if tissue is not None:
            tissue, imap = _link_map(tissue)  # type: ignore[arg-type]  # fails here, at the boundary
        if sim.stochastic_threshold < sim.exact_threshold:  # type: ignore[union-attr]
            raise ScenarioError(
                f"simulation.stochastic_threshold = {sim.stochastic_threshold:g}: must be >= "  # type: ignore[union-attr]
                f"simulation.exact_threshold ({sim.exact_threshold:g} cells)",  # type: ignore[union-attr]
                field="simulation.stochastic_threshold", value=sim.stochastic_threshold)  # type: ignore[union-attr]
        if params["primary.initial_cells"] == 0 and injection is None and surgery is not None:
            raise ScenarioError("surgery: the scenario has no primary (primary.initial_cells = 0)",
                                field="surgery", value=raw_surgery)
        base = cls(meta=meta, parameters=MappingProxyType(params), simulation=sim, surgery=surgery,  # type: ignore[arg-type]
                   therapies=therapies, injection=injection, output=output,  # type: ignore[arg-type]
                   overrides=MappingProxyType(dict(sorted(overrides.items()))), tissue=tissue,  # type: ignore[arg-type]
                   drugs=drugs, invasion_map=imap, patient=patient, links=links, base_parameters=base_params)
        raw_v = data.get("variant", [])
        if isinstance(raw_v, Mapping):
            raw_v = [raw_v]
        if not isinstance(raw_v, list):
            raise ScenarioError("variant: write one [[variant]] table per variant", field="variant", value=raw_v)
        variants = []
        for i, v in enumerate(raw_v):
            if not isinstance(v, Mapping) or not isinstance(v.get("name"), str) or not v.get("name"):
                raise ScenarioError(f"variant[{i}]: needs a name = \"...\"", field=f"variant[{i}].name", value=v)
            overlay = {k: val for k, val in v.items() if k != "name"}
            bad = [k for k in overlay if k in ("scenario", "variant", "injection")]
            if bad:
                raise ScenarioError(f"variant[{i}].{bad[0]}: a variant cannot change this section",
                                    field=f"variant[{i}].{bad[0]}", value=overlay[bad[0]])
            if v["name"] in [n for n, _ in variants]:
                raise ScenarioError(f"variant[{i}].name = {v['name']!r}: duplicate name", field=f"variant[{i}].name",
                                    value=v["name"])
            merged = _apply_overlay(base, overlay, f"variant[{i}]")  # validate now
            variants.append((v["name"], MappingProxyType(_normalise_overlay(overlay, merged))))
        if variants:
            base = cls(meta=meta, parameters=base.parameters, simulation=sim, surgery=surgery,  # type: ignore[arg-type]
                       therapies=therapies, injection=injection, output=output,  # type: ignore[arg-type]
                       overrides=base.overrides, tissue=tissue, variants=tuple(variants),  # type: ignore[arg-type]
                       drugs=drugs, invasion_map=imap, patient=patient, links=links, base_parameters=base_params)
        return base


def _rebuild(cls: type, data: Mapping[str, Any], drugs: DrugLibrary) -> "Scenario":
    return cls.from_dict(data, drugs=drugs)


def _link_map(link: TissueLink) -> tuple[TissueLink, Any]:
    """Read the linked invasion map, check it, and record its content hash."""
    if link.invasion_map is None:
        return link, None
    from .tissue.invasion import InvasionMap

    path = link.invasion_map
    imap = InvasionMap.load(path)  # a ScenarioError naming tissue.invasion_map if unreadable
    digest = file_hash(path)
    if link.invasion_map_sha256 is not None and link.invasion_map_sha256 != digest:
        raise ScenarioError(f"tissue.invasion_map = {path!r}: the file changed since this scenario was made "
                            f"(its SHA-256 is {digest[:12]}…, the scenario says {link.invasion_map_sha256[:12]}…); "
                            "load the scenario file again", field="tissue.invasion_map", value=path)
    return TissueLink(invasion_map=path, invasion_map_sha256=digest), imap


def _normalise_overlay(overlay: Mapping[str, Any], merged: "Scenario") -> dict[str, Any]:
    """The overlay in internal units (so equal variants hash equally whatever their spelling)."""
    out: dict[str, Any] = {}
    for key, val in overlay.items():
        if key == "therapy":
            added = merged.therapies[len(merged.therapies) - len(val if isinstance(val, list) else [val]):]
            out["therapy"] = [_therapy_dict(t) for t in added]
        elif key in ("simulation", "surgery", "output"):
            section = getattr(merged, key).model_dump()
            out[key] = {k: section[k] for k in val}
        elif key == "patient":
            out[key] = {k: getattr(merged.patient, k) for k in val}
        else:
            def walk(node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
                res: dict[str, Any] = {}
                for k, x in node.items():
                    name = f"{prefix}{k}"
                    res[k] = walk(x, f"{name}.") if isinstance(x, Mapping) else merged.parameters[name]
                return res

            out[key] = walk(val, f"{key}.") if isinstance(val, Mapping) else val
    return out


def _merge(into: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    for k, v in overlay.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def _apply_overlay(base: Scenario, overlay: Mapping[str, Any], where: str,
                   variant_name: str | None = None) -> Scenario:
    data = base.to_dict()
    data.pop("variant", None)
    overlay = dict(overlay)
    extra_therapy = overlay.pop("therapy", [])
    if isinstance(extra_therapy, Mapping):
        extra_therapy = [extra_therapy]
    _merge(data, overlay)
    if variant_name is not None:
        data.setdefault("scenario", {})["name"] = f"{base.name} / {variant_name}"
    if extra_therapy:
        data["therapy"] = list(data.get("therapy", [])) + list(extra_therapy)
    try:
        return type(base).from_dict(data, drugs=base.drugs)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}", field=f"{where}.{exc.field}", value=exc.value) from None


def _check_cross_field(p: Mapping[str, Any]) -> None:
    total = p["fate.proliferative_probability"] + p["fate.dormant_probability"]
    if total > 1.0 + 1e-12:
        raise ScenarioError(
            f"fate.dormant_probability = {p['fate.dormant_probability']!r}: fate.proliferative_probability + "
            f"fate.dormant_probability = {total:g} must be <= 1 (the rest die)",
            field="fate.dormant_probability", value=p["fate.dormant_probability"])


def load_scenario(path: str | Path, *, drugs: DrugLibrary | None = None) -> Scenario:
    """Read and validate a scenario TOML file (``drugs``: see :meth:`Scenario.from_dict`)."""
    path = Path(path)
    data = read_scenario_file(path, "patient")
    resolve_links(data, path.parent)
    return Scenario.from_dict(data, drugs=drugs)


def resolve_links(data: Mapping[str, Any], folder: Path) -> None:
    """Make a scenario file's linked files (``tissue.invasion_map``, ``patient.links``) absolute,
    relative to ``folder`` (the file's own folder), in place."""
    for section, key in (("tissue", "invasion_map"), ("patient", "links")):
        link = data.get(section)
        if isinstance(link, dict) and isinstance(link.get(key), str):
            link[key] = str((folder / link[key]).resolve())


def default_scenario() -> Scenario:
    """All library defaults, no surgery, no therapy."""
    return Scenario.from_dict({})


__all__ = ["Scenario", "load_scenario", "default_scenario", "Simulation", "Surgery", "Therapy", "Injection",
           "Output", "Meta", "TissueLink", "Patient", "set_dotted", "resolve_links"]
