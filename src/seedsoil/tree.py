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
