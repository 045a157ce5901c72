"""Unit conversion at the boundary: every value a user writes becomes an internal unit here.

Internal units (DESIGN.md): time day, length mm, volume mm³, cells count,
concentration nM, rates per day. Inside the engines numbers carry no units.
"""
from __future__ import annotations

import math
from functools import lru_cache

import pint

from .errors import UnitError

#: The unit each physical dimension is stored in, as pint expressions.
INTERNAL_UNITS = {
    "time": "day",
    "length": "mm",
    "volume": "mm**3",
    "concentration": "nM",
}


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    # "cells" is a count: dimensionless, so "1e5 cells / mm^3" works.
    ureg.define("cell = [] = cells")
    ureg.define("month_clinical = 30.4375 * day")  # mean Gregorian month
    return ureg


def _normalise_unit(unit: str) -> str:
    u = unit.strip()
    if u in ("", "1", "dimensionless"):
        return "dimensionless"
    return u.replace("µ", "u").replace("μ", "u")


def parse_quantity(value: object, unit: str, *, field: str = "value") -> float:
    """Return ``value`` expressed in ``unit`` as a float.

    ``value`` may be a number (already in ``unit``) or a string with a unit
    (``"3 h"``, ``"0.5 / day"``, ``"2 cm"``). Raises :class:`UnitError` naming the
    field when the string cannot be parsed or has the wrong dimension.
    """
    target = _normalise_unit(unit)
    if isinstance(value, bool):
        raise UnitError(f"{field} = {value!r}: expected a number in {unit or 'dimensionless'}, got a boolean",
                        field=field, value=value)
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise UnitError(f"{field} = {value!r}: expected a number or a string with a unit "
                        f"such as \"3 {unit or ''}\"".rstrip(), field=field, value=value)
    text = value.strip().replace("µ", "u").replace("μ", "u")
    ureg = registry()
    try:
        q = ureg.Quantity(text)
    except Exception as exc:  # pint raises many kinds; all mean "unreadable"
        raise UnitError(f"{field} = {value!r}: could not read it as a quantity ({type(exc).__name__}); "
                        f"write e.g. \"2 {unit}\"", field=field, value=value) from None
    try:
        if target == "dimensionless":
            mag = q.to("dimensionless").magnitude if isinstance(q, pint.Quantity) else float(q)
        else:
            if not isinstance(q, pint.Quantity) or q.dimensionless:
                # a bare number written as a string: take it as given in the field's unit
                mag = float(q.magnitude if isinstance(q, pint.Quantity) else q)
                if isinstance(q, pint.Quantity) and str(q.units) not in ("dimensionless", ""):
                    q.to(target)  # raises for e.g. "5 cells" where time is needed
            else:
                mag = q.to(target).magnitude
    except pint.DimensionalityError:
        raise UnitError(f"{field} = {value!r}: wrong unit, it must convert to {unit}",
                        field=field, value=value) from None
    mag = float(mag)
    return mag


def to_internal(value: float, unit: str) -> float:
    """Convert a number given in ``unit`` to the internal unit of its dimension."""
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
