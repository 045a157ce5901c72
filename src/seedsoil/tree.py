"""Dotted names and nested tables: ``"a.b.c" = 1`` ⇄ ``{"a": {"b": {"c": 1}}}`` (core).

How dotted parameter names become the nested tables of a scenario file, in every
kind of scenario (patient, trial, tissue).
"""
from __future__ import annotations

from typing import Any, Mapping


def set_dotted(tree: dict[str, Any], name: str, value: Any) -> None:
    """``tree[a][b][c] = value`` for ``name = "a.b.c"`` (creating the groups)."""
    *groups, leaf = name.split(".")
    for g in groups:
        tree = tree.setdefault(g, {})
    tree[leaf] = value


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (tables become dotted names; other values are leaves)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


def unit_suffix(unit: str) -> str:
    """A unit as it ends a column name: ``"1/day"`` → ``"per_day"``, ``"nM/day"`` →
    ``"nM_per_day"``, ``"1/mm^3"`` → ``"per_mm3"``, ``"day"`` → ``"days"``, ``""`` → ``""``."""
    u = unit.strip().replace("^", "").replace("**", "").replace(" ", "")
    if u in ("", "1", "dimensionless"):
        return ""
    if u == "day":
        return "days"
    if u.startswith("1/"):
        u = "per_" + u[2:]
    return u.replace("/", "_per_").replace("*", "_")


def column_name(prefix: str, dotted: str, unit: str = "") -> str:
    """A table column for a dotted name with its unit: ``column_name("param_", "shedding.rate",
    "1/day")`` → ``"param_shedding_rate_per_day"`` (no dots, so the column works as an attribute,
    in R and in SQL)."""
    suffix = unit_suffix(unit)
    return prefix + dotted.replace(".", "_") + (f"_{suffix}" if suffix else "")
