"""The parameter library: every default value with its unit, allowed range and source.

Parameters live in TOML files next to this module, one file per scale
(``body.toml``, ...). A parameter is a TOML table with a ``value`` key; tables
without ``value`` are groups, so ``[primary.gompertz.rate]`` is the parameter
``primary.gompertz.rate``. Each parameter carries:

``value``   default, in ``unit``
``unit``    pint expression ("1/day", "cells", "nM", "" for dimensionless)
``range``   allowed interval in interval notation, e.g. ``"(0, inf)"``, ``"[0, 1]"``
``choices`` for string parameters, the allowed values
``source``  a DOI / PMID, or ``"assumption: <why>"``
``note``    what it means

The library is the single table of constraints used to validate scenarios
(docs/architecture.md).
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from ..errors import ScenarioError
from ..units import parse_quantity

#: Scales whose parameters a scenario file sets (the body engine's).
SCALES = ("body",)
#: Every scale of the library, for ``seedsoil params`` and docs/parameters.md: the cell
#: scale's phenotype and coupling numbers and the drug presets are read by their packages.
ALL_SCALES = ("body", "cell", "pharm", "tissue")

_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\])])\s*$")


@dataclass(frozen=True)
class Interval:
    """A real interval with open or closed ends, e.g. ``(0, inf)``."""

    low: float
    high: float
    low_closed: bool
    high_closed: bool

    @classmethod
    def parse(cls, text: str) -> "Interval":
        m = _INTERVAL.match(text)
        if not m:
            raise ValueError(f"bad interval {text!r}; write e.g. '(0, inf)' or '[0, 1]'")
        lo, hi = (float(x.replace("inf", "inf")) for x in (m.group(2), m.group(3)))
        return cls(lo, hi, m.group(1) == "[", m.group(4) == "]")

    def __contains__(self, x: float) -> bool:
        if math.isnan(x):
            return False
        lo_ok = x >= self.low if self.low_closed else x > self.low
        hi_ok = x <= self.high if self.high_closed else x < self.high
        return lo_ok and hi_ok

    def __str__(self) -> str:
        def f(v: float) -> str:
            return "inf" if v == math.inf else ("-inf" if v == -math.inf else f"{v:g}")
        return f"{'[' if self.low_closed else '('}{f(self.low)}, {f(self.high)}{']' if self.high_closed else ')'}"


@dataclass(frozen=True)
class Parameter:
    """One library entry. ``value`` is in ``unit`` (which is the internal unit)."""

    name: str
    value: Any
    unit: str
    source: str
    note: str
    scale: str
    range: Interval | None = None
    choices: tuple[str, ...] | None = None
    tag: str = ""

    @property
    def kind(self) -> str:
        if self.choices is not None or isinstance(self.value, str):
            return "choice"
        if isinstance(self.value, bool):
            return "bool"
        return "number"

    def coerce(self, raw: object, *, where: str = "") -> Any:
        """Validate and convert a user value for this parameter (raises ScenarioError)."""
        fieldname = f"{where}{self.name}"
        if self.kind == "choice":
            if not isinstance(raw, str) or (self.choices and raw not in self.choices):
                raise ScenarioError(
                    f"{fieldname} = {raw!r}: must be one of {', '.join(self.choices or ())}",
                    field=fieldname, value=raw)
            return raw
        if self.kind == "bool":
            if not isinstance(raw, bool):
                raise ScenarioError(f"{fieldname} = {raw!r}: must be true or false", field=fieldname, value=raw)
            return raw
        x = parse_quantity(raw, self.unit, field=fieldname)
        if self.range is not None and x not in self.range:
            unit = f" {self.unit}" if self.unit else ""
            raise ScenarioError(
                f"{fieldname} = {raw!r}: out of range; allowed {self.range}{unit}",
                field=fieldname, value=raw)
        return x


def _walk(table: Mapping[str, Any], prefix: str, scale: str) -> Iterator[Parameter]:
    for key, entry in table.items():
        name = f"{prefix}{key}"
        if not isinstance(entry, dict):
            raise ValueError(f"params/{scale}.toml: {name} must be a table")
        if "value" in entry:
            unknown = set(entry) - {"value", "unit", "range", "choices", "source", "note", "tag"}
            if unknown:
                raise ValueError(f"params/{scale}.toml: {name} has unknown keys {sorted(unknown)}")
            if not entry.get("source"):
                raise ValueError(f"params/{scale}.toml: {name} has no source")
            yield Parameter(
                name=name,
                value=entry["value"],
                unit=entry.get("unit", ""),
                source=entry["source"],
                note=entry.get("note", ""),
                scale=scale,
                range=Interval.parse(entry["range"]) if "range" in entry else None,
                choices=tuple(entry["choices"]) if "choices" in entry else None,
                tag=entry.get("tag", ""),
            )
        else:
            yield from _walk(entry, f"{name}.", scale)


@dataclass(frozen=True)
class ParameterLibrary:
    """All parameters of the given scales, by dotted name (read-only)."""

    entries: Mapping[str, Parameter] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Parameter:
        return self.entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def defaults(self) -> dict[str, Any]:
        return {k: p.value for k, p in self.entries.items()}

    def groups(self) -> set[str]:
        out = set()
        for name in self.entries:
            parts = name.split(".")
            for i in range(1, len(parts)):
                out.add(".".join(parts[:i]))
        return out

    def table(self, scale: str | None = None, grep: str | None = None) -> list[dict[str, Any]]:
        """Rows for display: name, value, unit, range, source, note."""
        rows = []
        for p in self.entries.values():
            if scale and p.scale != scale:
                continue
            text = " ".join(str(x) for x in (p.name, p.note, p.source, p.unit))
            if grep and grep.lower() not in text.lower():
                continue
            rows.append({
                "scale": p.scale, "name": p.name, "value": p.value, "unit": p.unit,
                "range": str(p.range) if p.range else (" | ".join(p.choices) if p.choices else ""),
                "source": p.source, "note": p.note,
            })
        return rows


@lru_cache(maxsize=None)
def load_library(scales: tuple[str, ...] = SCALES) -> ParameterLibrary:
    """Read the TOML parameter files of ``scales`` (cached; the result is immutable)."""
    entries: dict[str, Parameter] = {}
    for scale in scales:
        text = resources.files(__package__).joinpath(f"{scale}.toml").read_text(encoding="utf-8")
        for p in _walk(tomllib.loads(text), "", scale):
            if p.kind == "number" and p.range is not None and float(p.value) not in p.range:
                raise ValueError(f"params/{scale}.toml: default of {p.name} = {p.value} is outside {p.range}")
            entries[p.name] = p
    return ParameterLibrary(MappingProxyType(entries))


def check_in_use(name: str, parameters: Mapping[str, Any], where: str) -> None:
    """ScenarioError when ``name`` belongs to a law the scenario's ``parameters`` do not use
    (``primary.logistic.*`` with ``primary.law = "gompertz"``): varying or fitting it would do
    nothing. ``where`` names the entry (the message says ``<where>.name``)."""
    parts = name.split(".")
    if len(parts) < 3:
        return
    lib = load_library()
    for law in lib:
        p = lib[law]
        if law.startswith(parts[0] + ".") and law.endswith("law") and p.choices and parts[1] in p.choices:
            used = parameters[law]
            if used == "same_as_primary":
                used = parameters["primary.law"]
            if used != parts[1]:
                raise ScenarioError(f"{where}.name = {name!r}: has no effect, the scenario's {law} is {used!r}",
                                    field=f"{where}.name", value=name)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The parameter table as Markdown (used for docs/parameters.md)."""

    def cell(x: Any) -> str:
        text = f"{x:g}" if isinstance(x, float) else str(x)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| parameter | value | unit | allowed | source | meaning |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(r[k]) for k in ("name", "value", "unit", "range", "source", "note")) + " |")
    return "\n".join(lines) + "\n"
