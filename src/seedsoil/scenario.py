"""Scenario files (TOML) -> one validated, immutable :class:`Scenario`.

A scenario names the patient (parameter overrides grouped as in ``params/``),
the simulation settings, surgery, therapies, an optional injection of cells and
the outputs. Values may carry units ("3 h", "0.5 / day", "2 cm"); they are
converted here, once, to internal units. Everything invalid raises
:class:`~seedsoil.errors.ScenarioError` naming the field, the value, the unit and
the allowed range; unknown keys get a "did you mean" hint.
"""
from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from .errors import ScenarioError, UnitError, did_you_mean
from .params import Interval, ParameterLibrary, load_library
from .units import parse_quantity

STRUCTURAL = ("scenario", "simulation", "surgery", "therapy", "injection", "output", "tissue", "variant")


def set_dotted(tree: dict[str, Any], name: str, value: Any) -> None:
    """``tree[a][b][c] = value`` for ``name = "a.b.c"`` (creating the groups): how dotted
    parameter names become the nested tables of a scenario file."""
    *groups, leaf = name.split(".")
    for g in groups:
        tree = tree.setdefault(g, {})
    tree[leaf] = value


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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(_Section):
    name: str = "unnamed"
    description: str = ""


class Simulation(_Section):
    """Engine and numerical controls."""

    engine: Literal["stochastic", "meanfield"] = "stochastic"
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


class Surgery(_Section):
    """Resection of the primary, at a day or when it reaches a diameter."""

    day: Days | None = None
    primary_diameter: Millimetres | None = None
    delay: Days = 0.0  # from reaching primary_diameter (diagnosis) to surgery


class Therapy(_Section):
    kind: Literal["il1r_blockade", "il1b_mimetic", "drug"]
    start: Days = 0.0
    duration: PositiveDays = 365.25
    relative_to: Literal["surgery", "start"] = "surgery"
    blocked_fraction: Fraction = 1.0  # il1r_blockade
    level: Nanomolar = 5.7e-3  # il1b_mimetic: IL-1beta level added to I(t), nM
    drug: str | None = None  # drug: name of a registered drug model
    dose: Milligrams | None = None
    interval: PositiveDays | None = None


THERAPY_FIELDS = {
    "common": {"kind", "start", "duration", "relative_to"},
    "il1r_blockade": {"blocked_fraction"},
    "il1b_mimetic": {"level"},
    "drug": {"drug", "dose", "interval"},
}


def _therapy_dict(t: Therapy) -> dict[str, Any]:
    keep = THERAPY_FIELDS["common"] | THERAPY_FIELDS[t.kind]
    return {k: v for k, v in t.model_dump().items() if k in keep and v is not None}


class Injection(_Section):
    """Cells put straight into the circulation (an experimental injection)."""

    cells: Cells
    day: Days = 0.0


class TissueLink(_Section):
    """Coupling to the tissue scale: a saved :class:`~seedsoil.tissue.invasion.InvasionMap`
    (JSON, from ``seedsoil tissue-map``) from which drugs' JAK1 / ROCK inhibition scales
    shedding. A relative path is read from the scenario file's folder."""

    invasion_map: str | None = None


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
        """SHA-256 of the normalized scenario (stable across key order and unit spelling)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_parameters(self, **overrides: Any) -> "Scenario":
        """A copy with parameters changed; keys use ``__`` for dots (``shedding__rate=0.01``)."""
        data = self.to_dict()
        for key, value in overrides.items():
            set_dotted(data, key.replace("__", "."), value)
        return Scenario.from_dict(data)

    def with_settings(self, **sections: Any) -> "Scenario":
        """A copy with structural fields changed, e.g. ``with_settings(simulation={"dt": 0.25})``."""
        data = self.to_dict()
        for section, values in sections.items():
            if section == "therapy":
                data["therapy"] = list(values)
            elif values is None:
                data.pop(section, None)
            else:
                data.setdefault(section, {}).update(values)
        return Scenario.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, library: ParameterLibrary | None = None) -> "Scenario":
        lib = library or load_library()
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
        _check_cross_field(params)

        meta = _section(Meta, "scenario", data.get("scenario", {}))
        sim = _section(Simulation, "simulation", data.get("simulation", {}))
        surgery = _section(Surgery, "surgery", data["surgery"]) if "surgery" in data else None
        if surgery is not None and (surgery.day is None) == (surgery.primary_diameter is None):  # type: ignore[union-attr]
            raise ScenarioError("surgery: give exactly one of 'day' or 'primary_diameter'", field="surgery",
                                value=data["surgery"])
        raw_t = data.get("therapy", [])
        if isinstance(raw_t, Mapping):
            raw_t = [raw_t]
        if not isinstance(raw_t, list):
            raise ScenarioError("therapy: write one [[therapy]] table per therapy", field="therapy", value=raw_t)
        therapies = tuple(_section(Therapy, f"therapy[{i}]", t) for i, t in enumerate(raw_t))
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
                from .body.hooks import check_drug_therapy

                check_drug_therapy(t, f"therapy[{i}]")
        injection = _section(Injection, "injection", data["injection"]) if "injection" in data else None
        output = _section(Output, "output", data.get("output", {}))
        tissue = _section(TissueLink, "tissue", data["tissue"]) if "tissue" in data else None
        if tissue is not None and tissue.invasion_map is not None:  # type: ignore[union-attr]
            from .tissue.invasion import InvasionMap

            InvasionMap.load(tissue.invasion_map)  # type: ignore[union-attr]  # fails here, at the boundary
        if sim.stochastic_threshold < sim.exact_threshold:  # type: ignore[union-attr]
            raise ScenarioError(
                f"simulation.stochastic_threshold = {sim.stochastic_threshold:g}: must be >= "  # type: ignore[union-attr]
                f"simulation.exact_threshold ({sim.exact_threshold:g} cells)",  # type: ignore[union-attr]
                field="simulation.stochastic_threshold", value=sim.stochastic_threshold)  # type: ignore[union-attr]
        if params["primary.initial_cells"] == 0 and injection is None and surgery is not None:
            raise ScenarioError("surgery: the scenario has no primary (primary.initial_cells = 0)",
                                field="surgery", value=data["surgery"])
        base = cls(meta=meta, parameters=MappingProxyType(params), simulation=sim, surgery=surgery,  # type: ignore[arg-type]
                   therapies=therapies, injection=injection, output=output,  # type: ignore[arg-type]
                   overrides=MappingProxyType(dict(sorted(overrides.items()))), tissue=tissue)  # type: ignore[arg-type]
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
                       overrides=base.overrides, tissue=tissue, variants=tuple(variants))  # type: ignore[arg-type]
        return base


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
        return Scenario.from_dict(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}", field=f"{where}.{exc.field}", value=exc.value) from None


def _check_cross_field(p: Mapping[str, Any]) -> None:
    total = p["fate.proliferative_probability"] + p["fate.dormant_probability"]
    if total > 1.0 + 1e-12:
        raise ScenarioError(
            f"fate.dormant_probability = {p['fate.dormant_probability']!r}: fate.proliferative_probability + "
            f"fate.dormant_probability = {total:g} must be <= 1 (the rest die)",
            field="fate.dormant_probability", value=p["fate.dormant_probability"])


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file", field="file", value=str(path)) from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise ScenarioError(f"{path}: cannot read it as a UTF-8 text file ({type(exc).__name__})",
                            field="file", value=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}", field="file", value=str(path)) from None
    link = data.get("tissue")
    if isinstance(link, dict) and isinstance(link.get("invasion_map"), str):
        link["invasion_map"] = str((path.parent / link["invasion_map"]).resolve())
    return Scenario.from_dict(data)


def default_scenario() -> Scenario:
    """All library defaults, no surgery, no therapy."""
    return Scenario.from_dict({})


__all__ = ["Scenario", "load_scenario", "default_scenario", "Simulation", "Surgery", "Therapy", "Injection",
           "Output", "Meta", "TissueLink"]
