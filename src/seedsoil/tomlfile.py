"""Reading seedsoil TOML files, and telling their kinds apart.

``read_toml(path)`` gives the parsed table, with one set of error messages
(missing file, not UTF-8 text, invalid TOML) as :class:`~seedsoil.errors.ScenarioError`.
``detect_kind(data)`` says which command the file is for, from its top-level
tables alone:

``"trial"``
    a virtual trial (``seedsoil trial``): it has ``[trial]`` (or ``[[arm]]``).
``"tissue"``
    a tissue scenario (``seedsoil tissue``): it sets tissue sections
    (``[domain]``, ``[tumour]``, ``[vessel]``, ``[caf]``, ``[matrix]``, ...) and none
    of a patient scenario's own sections (``[surgery]``, ``[[therapy]]``, ...).
``"patient"``
    anything else: a patient scenario (``seedsoil run``), including an empty file
    (all library defaults). :func:`looks_like_patient` says whether the file also
    has a section only a patient scenario has (``[surgery]``, ``[primary]``, ...).

This module is core: it imports nothing of seedsoil but :mod:`seedsoil.errors`.
"""
from __future__ import annotations

import numbers
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

from .errors import ScenarioError, did_you_mean

Kind = Literal["patient", "trial", "tissue"]

#: top-level tables only a trial file has
TRIAL_SECTIONS = frozenset({"trial", "arm"})
#: top-level tables of a tissue scenario: the parameter groups of params/tissue.toml
#: (besides [simulation], which both scenario kinds have) and the drug [exposure]
TISSUE_SECTIONS = frozenset({"domain", "tumour", "vessel", "caf", "matrix", "mechanics", "motility", "track",
                             "chemotaxis", "exposure", "signalling", "fields", "cytokine", "drug_field"})
#: top-level tables only a patient scenario has: its own sections (scenario.STRUCTURAL without
#: [scenario] and [simulation], which every kind has) and the parameter groups of
#: params/body.toml and params/pharm.toml
PATIENT_SECTIONS = frozenset({"surgery", "therapy", "injection", "output", "variant", "tissue", "patient",
                              "primary", "shedding", "circulation", "fate", "dormancy", "colony", "immune",
                              "inflammation", "detection", "cells", "drug", "wound", "nsaid", "chemotherapy",
                              "endocrine", "angiogenesis", "local", "radiotherapy"})

#: how each kind is described and which command runs it
KIND_NAMES: dict[str, str] = {"patient": "patient scenario", "trial": "trial file", "tissue": "tissue scenario"}
KIND_COMMANDS: dict[str, str] = {"patient": "run", "trial": "trial", "tissue": "tissue"}


def check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """ScenarioError naming ``where.<key>`` for the first key of ``table`` not in ``allowed``."""
    for key in table:
        if key not in allowed:
            raise ScenarioError(f"{where}.{key}: unknown key{did_you_mean(key, allowed)} (allowed: "
                                f"{', '.join(sorted(allowed))})", field=f"{where}.{key}", value=table[key])


def subtable(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``data[key]`` (empty when absent); ScenarioError when it is not a table."""
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ScenarioError(f"[{key}] must be a table", field=key, value=value)
    return value


def integer(value: Any, where: str, low: int) -> int:
    """``value`` as an int >= ``low`` (booleans refused); ScenarioError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ScenarioError(f"{where} = {value!r}: must be an integer >= {low}", field=where, value=value)
    return int(value)


def read_toml(path: str | Path, what: str = "scenario") -> dict[str, Any]:
    """The parsed TOML file at ``path``; ``what`` names the file in the messages
    (``"<path>: no such scenario file"``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such {what} file", field="file", value=str(path)) from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise ScenarioError(f"{path}: cannot read it as a UTF-8 text file ({type(exc).__name__})",
                            field="file", value=str(path)) from None
    except OSError as exc:  # permissions, a broken link, ...
        raise ScenarioError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})",
                            field="file", value=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}", field="file", value=str(path)) from None


def detect_kind(data: Mapping[str, Any]) -> Kind:
    """``"trial"``, ``"tissue"`` or ``"patient"`` for the parsed TOML ``data`` (see the module docstring).

    A file that mixes patient and tissue sections counts as a patient scenario, so
    that the scenario loader names the section that does not belong there.
    """
    keys = set(data)
    if keys & TRIAL_SECTIONS:
        return "trial"
    if keys & TISSUE_SECTIONS and not keys & PATIENT_SECTIONS:
        return "tissue"
    return "patient"


def looks_like_patient(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` has a top-level table only a patient scenario has: ``"patient"``
    from :func:`detect_kind` is then more than the default for an unrecognised file."""
    return bool(set(data) & PATIENT_SECTIONS)


def read_scenario_file(path: str | Path, kind: Kind) -> dict[str, Any]:
    """The one loader's first step for every scenario kind: :func:`read_toml`, then a
    :class:`ScenarioError` naming the right command if the file is of another kind."""
    data = read_toml(path, what={"patient": "scenario", "trial": "trial", "tissue": "tissue scenario"}[kind])
    found = detect_kind(data)
    if found != kind:
        raise ScenarioError(wrong_kind_message(path, found), field="file", value=str(path))
    return data


def wrong_kind_message(path: str | Path, kind: str) -> str:
    """``"<path> is a tissue scenario; run it with `seedsoil tissue <path>`"``."""
    return f"{path} is a {KIND_NAMES[kind]}; run it with `seedsoil {KIND_COMMANDS[kind]} {path}`"


__all__ = ["read_toml", "read_scenario_file", "detect_kind", "looks_like_patient", "wrong_kind_message", "Kind", "TRIAL_SECTIONS", "TISSUE_SECTIONS",
           "PATIENT_SECTIONS", "KIND_NAMES", "KIND_COMMANDS"]
