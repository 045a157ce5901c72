"""Tissue scenarios (TOML) -> one validated, immutable :class:`TissueScenario`.

A tissue scenario sets parameters of ``params/tissue.toml`` grouped as there
(``[domain] width = "600 um"``, ``[caf] contractility = 0``), the drug
``[exposure]`` as levels of the cell-scale network's inputs (``JAKi``, ``ROCKi``,
nM, network-equivalent: what the body scale's drugs are converted to) and
``[simulation] seed``. Values may carry units; they are converted once, here, to
the tissue scale's units (µm, minutes). Anything invalid raises
:class:`~seedsoil.errors.ScenarioError` naming the field, the value, the unit
and the allowed range.

Example::

    [scenario]
    name = "edge"
    [simulation]
    duration = "24 h"
    seed = 1
    [domain]
    dimensions = 2
    [exposure]
    JAKi = "100 nM"
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import ScenarioError, did_you_mean
from ..params import ParameterLibrary, load_library
from ..hashing import content_hash
from ..seeds import check_seed
from ..tomlfile import read_scenario_file
from ..tree import flatten as _flatten, set_dotted
from ..units import parse_quantity

INTEGER_PARAMETERS = ("domain.dimensions", "tumour.max_contacts")


def tissue_library() -> ParameterLibrary:
    return load_library(("tissue",))


def _motility_library() -> dict[str, Any]:
    """The cell library's per-mode ``speed.*`` (µm/min) and ``persistence.*`` (min): settable in a
    tissue scenario (only values it sets are stored, so a scenario that sets none hashes as before)."""
    lib = load_library(("cell",))
    return {k: lib[k] for k in lib if k.startswith(("speed.", "persistence."))}


def _network_inputs() -> tuple[str, ...]:
    from ..cell import builtin_network

    return tuple(builtin_network().input_names)


@dataclass(frozen=True)
class TissueScenario:
    """A validated tissue scenario: parameters (µm, min), exposure (nM), seed and name."""

    name: str = "tissue"
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType(tissue_library().defaults()))
    exposure: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    seed: int = 0

    def __getitem__(self, name: str) -> Any:
        return self.parameters[name]

    @property
    def dims(self) -> int:
        return int(self.parameters["domain.dimensions"])

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict in internal units (round-trips through :meth:`from_dict`)."""
        nested: dict[str, Any] = {"scenario": {"name": self.name, "description": self.description},
                                  "simulation": {"seed": self.seed}}
        for key, value in self.parameters.items():
            set_dotted(nested, key, value)
        if self.exposure:
            nested["exposure"] = dict(self.exposure)
        return nested

    def content_hash(self) -> str:
        """SHA-256 of the normalized scenario (:func:`seedsoil.hashing.content_hash`, as for every spec)."""
        return content_hash(self.to_dict())

    def with_parameters(self, **overrides: Any) -> "TissueScenario":
        """A copy with parameters changed; keys use ``__`` for dots (``caf__contractility=0``)."""
        d = self.to_dict()
        for key, value in overrides.items():
            set_dotted(d, key.replace("__", "."), value)
        return TissueScenario.from_dict(d)

    def with_exposure(self, exposure: Mapping[str, float]) -> "TissueScenario":
        d = self.to_dict()
        d["exposure"] = dict(exposure)
        return TissueScenario.from_dict(d)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TissueScenario":
        lib = tissue_library()
        if not isinstance(data, Mapping):
            raise ScenarioError("a tissue scenario must be a table", field="scenario", value=data)
        data = dict(data)
        meta = data.pop("scenario", {}) or {}
        if not isinstance(meta, Mapping):
            raise ScenarioError("scenario: must be a table with name and description", field="scenario", value=meta)
        bad_meta = sorted(set(meta) - {"name", "description"})
        if bad_meta:
            raise ScenarioError(f"scenario.{bad_meta[0]}: unknown key (scenario takes name, description)",
                                field=f"scenario.{bad_meta[0]}", value=meta[bad_meta[0]])
        exposure_raw = data.pop("exposure", {}) or {}
        sim = dict(data.get("simulation", {}) or {})
        seed = sim.pop("seed", 0)
        if sim or "simulation" in data:
            data["simulation"] = sim
        seed = check_seed(seed, "simulation.seed")
        params = dict(lib.defaults())
        motility = _motility_library()
        for key, raw in _flatten(data).items():
            if key in motility:  # each migration mode's speed and persistence (params/cell.toml defaults)
                params[key] = motility[key].coerce(raw)
                continue
            if key not in lib:
                raise ScenarioError(f"{key}: unknown tissue parameter{did_you_mean(key, list(lib) + list(motility))} "
                                    "(`seedsoil params --scale tissue` lists them; speed.<mode> and "
                                    "persistence.<mode> come from `seedsoil params --scale cell`)", field=key, value=raw)
            value = lib[key].coerce(raw)
            if key in INTEGER_PARAMETERS:
                if float(value) != int(value):
                    raise ScenarioError(f"{key} = {raw!r}: must be a whole number", field=key, value=raw)
                value = int(value)
            params[key] = value
        inputs = _network_inputs()
        exposure: dict[str, float] = {}
        if not isinstance(exposure_raw, Mapping):
            raise ScenarioError("exposure: must be a table of network inputs, e.g. JAKi = \"100 nM\"",
                                field="exposure", value=exposure_raw)
        for key, raw in exposure_raw.items():
            if key not in inputs:
                raise ScenarioError(f"exposure.{key}: not an input of the cell network{did_you_mean(key, inputs)} "
                                    f"(inputs: {', '.join(inputs)})", field=f"exposure.{key}", value=raw)
            v = parse_quantity(raw, "nM", field=f"exposure.{key}")
            if not (math.isfinite(v) and v >= 0):
                raise ScenarioError(f"exposure.{key} = {raw!r}: out of range; allowed [0, inf) nM",
                                    field=f"exposure.{key}", value=raw)
            if v > 0:
                exposure[key] = v
        _check_geometry(params)
        return cls(name=str(meta.get("name", "tissue")), description=str(meta.get("description", "")),
                   parameters=MappingProxyType(params), exposure=MappingProxyType(dict(sorted(exposure.items()))),
                   seed=int(seed))


def _whole_multiple(p: Mapping[str, Any], key: str, of: str) -> None:
    k = p[key] / p[of]
    if abs(k - round(k)) > 1e-9 * max(k, 1.0) or round(k) < 1:
        raise ScenarioError(f"{key} = {p[key]:g} min: must be a whole number (>= 1) of {of} = {p[of]:g} min",
                            field=key, value=p[key])


def _check_chemistry(p: Mapping[str, Any]) -> None:
    if p["signalling.path"] == "agent":
        _whole_multiple(p, "mechanics.dt", "fields.dt")
        _whole_multiple(p, "signalling.interval", "mechanics.dt")
    elif p["chemotaxis.substrate"] != "none":
        raise ScenarioError(f"chemotaxis.substrate = {p['chemotaxis.substrate']!r}: needs the diffusing fields "
                            "(signalling.path = 'agent'); on the population path use chemotaxis.speed (toward the "
                            "vessel)", field="chemotaxis.substrate", value=p["chemotaxis.substrate"])


def _check_geometry(p: Mapping[str, Any]) -> None:
    _check_chemistry(p)
    width = p["domain.width"]
    if not p["tumour.edge"] < width:
        raise ScenarioError(f"tumour.edge = {p['tumour.edge']:g} um: must be inside the domain "
                            f"(< domain.width = {width:g} um)", field="tumour.edge", value=p["tumour.edge"])
    if not p["vessel.position"] <= width:
        raise ScenarioError(f"vessel.position = {p['vessel.position']:g} um: must be inside the domain "
                            f"(<= domain.width = {width:g} um)", field="vessel.position", value=p["vessel.position"])
    if p["simulation.save_every"] > p["simulation.duration"]:
        raise ScenarioError(f"simulation.save_every = {p['simulation.save_every']:g} min: must not exceed "
                            f"simulation.duration ({p['simulation.duration']:g} min)",
                            field="simulation.save_every", value=p["simulation.save_every"])
    if p["simulation.save_every"] < p["mechanics.dt"]:
        raise ScenarioError(f"simulation.save_every = {p['simulation.save_every']:g} min: must be at least "
                            f"mechanics.dt ({p['mechanics.dt']:g} min)", field="simulation.save_every",
                            value=p["simulation.save_every"])


def load_tissue_scenario(path: str | Path) -> TissueScenario:
    """Read and validate a tissue scenario TOML file."""
    data = read_scenario_file(Path(path), "tissue")
    return TissueScenario.from_dict(data)


def default_tissue_scenario() -> TissueScenario:
    return TissueScenario.from_dict({})
