"""Unit conversion at the boundary: every value a user writes becomes an internal unit here.

Internal units (docs/model.md §1): time day, length mm, volume mm³, cells count,
concentration nM, rates per day. Inside the engines numbers carry no units.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

from .errors import UnitError

#: The unit each physical dimension is stored in, as pint expressions.
INTERNAL_UNITS = {
    "time": "day",
    "length": "mm",
    "volume": "mm**3",
    "concentration": "nM",
}


#: days in a (Julian) year, the one constant every report and table converts with
DAYS_PER_YEAR = 365.25


@lru_cache(maxsize=1)
def registry():
    import pint  # on first use: a module that only needs DAYS_PER_YEAR or sphere_cells does not load pint

    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    # "cells" is a count: dimensionless, so "1e5 cells / mm^3" works.
    ureg.define("cell = [] = cells")
    ureg.define("month_clinical = 30.4375 * day")  # mean Gregorian month
    # the abbreviations clinicians write (and seedsoil prints): "10 y", "6 mo", "3 wk"
    # (pint's year is the Julian year, 365.25 days = DAYS_PER_YEAR; its month is a twelfth of it)
    ureg.define("@alias year = y = yrs")
    ureg.define("@alias month = mo = mos")
    ureg.define("@alias week = wk = wks")
    return ureg


def _normalise_unit(unit: str) -> str:
    u = unit.strip()
    if u in ("", "1", "dimensionless"):
        return "dimensionless"
    return u.replace("µ", "u").replace("μ", "u")


_SUSPICIOUS = re.compile(r"[,;$#@!?&|\\]|\.\.")


def _fail(field: str, value: object, reason: str) -> UnitError:
    err = UnitError(f"{field} = {_show(value)}: {reason}", field=field, value=value)
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _example(unit: str) -> str:
    return f'"2 {unit}"' if _normalise_unit(unit) != "dimensionless" else '"2"'


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_quantity(value: object, unit: str, *, field: str = "value") -> float:
    """Return ``value`` expressed in ``unit`` as a float.

    ``value`` may be a number (already in ``unit``) or a string with a unit
    (``"3 h"``, ``"0.5 / day"``, ``"2 cm"``). Raises :class:`UnitError` naming the
    field when the string cannot be parsed, has the wrong dimension or does not
    fit in a float. The error's ``reason`` attribute holds the message without
    the field prefix.
    """
    import pint

    target = _normalise_unit(unit)
    wanted = f"a number in {unit}" if target != "dimensionless" else "a plain number"
    if isinstance(value, bool):
        raise _fail(field, value, f"expected {wanted}, got a boolean")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            raise _fail(field, value, "too large for a floating-point number") from None
    if not isinstance(value, str):
        example = f" or a string with a unit such as \"3 {unit}\"" if target != "dimensionless" else ""
        raise _fail(field, value, f"expected {wanted}{example}")
    text = value.strip().replace("µ", "u").replace("μ", "u")
    if _SUSPICIOUS.search(text) or not text:
        raise _fail(field, value, f"could not read it as a quantity; write e.g. {_example(unit)}")
    ureg = registry()
    try:
        q = ureg.Quantity(text)
    except Exception as exc:  # pint raises many kinds; all mean "unreadable"
        raise _fail(field, value, f"could not read it as a quantity ({type(exc).__name__}); "
                                  f"write e.g. {_example(unit)}") from None
    try:
        if target == "dimensionless":
            mag = q.to("dimensionless").magnitude if isinstance(q, pint.Quantity) else q
        else:
            if not isinstance(q, pint.Quantity) or q.dimensionless:
                # a bare number written as a string: take it as given in the field's unit
                mag = q.magnitude if isinstance(q, pint.Quantity) else q
                if isinstance(q, pint.Quantity) and str(q.units) not in ("dimensionless", ""):
                    q.to(target)  # raises for e.g. "5 cells" where time is needed
            else:
                mag = q.to(target).magnitude
        mag = float(mag)
    except pint.DimensionalityError:
        reason = f"wrong unit, it must convert to {unit}" if target != "dimensionless" else \
            "wrong unit, it must be a plain number"
        raise _fail(field, value, reason) from None
    except (OverflowError, TypeError, ValueError):
        raise _fail(field, value, "too large or not a real number") from None
    return mag


def to_internal(value: float, unit: str) -> float:
    """Convert a number given in ``unit`` to the internal unit of its dimension."""
    import pint

    ureg = registry()
    q = ureg.Quantity(value, _normalise_unit(unit))
    for internal in INTERNAL_UNITS.values():
        try:
            return float(q.to(internal).magnitude)
        except pint.DimensionalityError:
            continue
    return float(q.to_base_units().magnitude)


def sphere_cells(diameter_mm: float, cell_density_per_mm3: float) -> float:
    """Number of cells in a sphere of the given diameter: (π/6) D³ ρ."""
    return math.pi / 6.0 * diameter_mm ** 3 * cell_density_per_mm3


def sphere_diameter(cells: float, cell_density_per_mm3: float) -> float:
    """Diameter (mm) of a sphere holding ``cells`` cells at the given density."""
    return (6.0 * cells / (math.pi * cell_density_per_mm3)) ** (1.0 / 3.0)


@lru_cache(maxsize=256)
def internal_unit(unit: str) -> str:
    """The internal unit for a quantity written in ``unit``: time in days, amount of
    substance per volume in nM, other lengths in mm; e.g. ``"1/nM/min"`` → ``"1 / nanomolar / day"``.

    Raises :class:`UnitError` for a unit pint does not know.
    """
    u = _normalise_unit(unit)
    if u == "dimensionless":
        return ""
    ureg = registry()
    try:
        dims = dict(ureg.parse_units(u).dimensionality)
    except Exception:  # pint raises several kinds for unknown or malformed units
        raise _fail("unit", unit, "not a unit pint knows") from None
    t = dims.pop("[time]", 0)
    n = dims.pop("[substance]", 0)
    length = dims.pop("[length]", 0) + 3 * n  # what remains after n × (substance / volume)
    mass = dims.pop("[mass]", 0)
    if dims:
        raise _fail("unit", unit, f"has dimensions seedsoil does not use ({', '.join(dims)})")
    parts = []
    for base, power in (("day", t), ("nM", n), ("mm", length), ("mg", mass)):
        if power:
            parts.append(base if power == 1 else f"{base}**{power:g}")
    return " * ".join(parts) if parts else ""
