"""Dosing schedules: a fixed dose every interval, by a route, validated once at the boundary.

A :class:`Schedule` is the pharmacology-side twin of :class:`seedsoil.body.hooks.Dosing`
(which has no route): doses of ``dose_mg`` at ``start_day``, ``start_day + interval_days``,
... until ``stop_day`` (exclusive) or for ``n_doses`` doses. Times in days, doses in mg.
Human-readable values go through :meth:`Schedule.parse` (``dose="20 mg", every="12 h"``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ScenarioError, did_you_mean
from ..units import parse_quantity

#: Routes a schedule can use. "oral" and "subcutaneous" enter through a first-order depot
#: (the drug declares ka and F per route); "iv_bolus" and "iv_infusion" enter plasma
#: (unless the drug declares a depot for them, e.g. a prodrug forming its metabolite).
ROUTES = ("oral", "subcutaneous", "iv_bolus", "iv_infusion")

#: Tolerance (days) under which a dose time equal to ``stop_day`` counts as after it;
#: the same rule as :meth:`seedsoil.body.hooks.Dosing.dose_times`.
_STOP_EPS = 1e-9


def _bad(field: str, value: object, allowed: str, unit: str = "") -> ScenarioError:
    unit = f" {unit}" if unit else ""
    return ScenarioError(f"schedule.{field} = {value!r}: out of range; allowed {allowed}{unit}",
                         field=f"schedule.{field}", value=value)


def _finite(field: str, value: object, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"schedule.{field} = {value!r}: expected a number in {unit} "
                            f"(use Schedule.parse for strings with units)", field=f"schedule.{field}", value=value)
    x = float(value)
    if not math.isfinite(x):
        raise _bad(field, value, "a finite number", unit)
    return x


@dataclass(frozen=True)
class Schedule:
    """``dose_mg`` every ``interval_days`` from ``start_day``, until ``stop_day`` (exclusive)
    or for ``n_doses`` doses (give exactly one), by ``route`` (one of :data:`ROUTES`).

    ``infusion_days`` is the duration of each dose's infusion, required for
    ``route="iv_infusion"`` (0 < infusion ≤ interval: infusions do not overlap) and
    not allowed for other routes.
    """

    dose_mg: float
    interval_days: float
    start_day: float = 0.0
    stop_day: float | None = None
    n_doses: int | None = None
    route: str = "oral"
    infusion_days: float | None = None

    def __post_init__(self) -> None:
        dose = _finite("dose_mg", self.dose_mg, "mg")
        if dose <= 0:
            raise _bad("dose_mg", self.dose_mg, "(0, inf)", "mg")
        tau = _finite("interval_days", self.interval_days, "day")
        if tau <= 0:
            raise _bad("interval_days", self.interval_days, "(0, inf)", "day")
        start = _finite("start_day", self.start_day, "day")
        if (self.stop_day is None) == (self.n_doses is None):
            raise ScenarioError("schedule: give exactly one of stop_day (day, exclusive) or n_doses",
                                field="schedule.stop_day", value=(self.stop_day, self.n_doses))
        if self.stop_day is not None:
            stop = _finite("stop_day", self.stop_day, "day")
            if stop <= start:
                raise _bad("stop_day", self.stop_day, f"({start:g}, inf) (after start_day)", "day")
        if self.n_doses is not None:
            if isinstance(self.n_doses, bool) or not isinstance(self.n_doses, (int, np.integer)) or self.n_doses < 1:
                raise _bad("n_doses", self.n_doses, "a whole number >= 1")
        if self.route not in ROUTES:
            hint = did_you_mean(str(self.route), ROUTES)
            raise ScenarioError(f"schedule.route = {self.route!r}: unknown route{hint} (known: {', '.join(ROUTES)})",
                                field="schedule.route", value=self.route)
        if self.route == "iv_infusion":
            if self.infusion_days is None:
                raise ScenarioError("schedule.infusion_days: an iv_infusion needs its duration (day)",
                                    field="schedule.infusion_days", value=None)
            inf = _finite("infusion_days", self.infusion_days, "day")
            if not (0 < inf <= tau):
                raise _bad("infusion_days", self.infusion_days, f"(0, {tau:g}] (at most the interval)", "day")
        elif self.infusion_days is not None:
            raise ScenarioError(f"schedule.infusion_days = {self.infusion_days!r}: only an iv_infusion has a "
                                f"duration (route is {self.route!r})", field="schedule.infusion_days",
                                value=self.infusion_days)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def parse(cls, *, dose: object, every: object, duration: object = None, n_doses: int | None = None,
              start: object = 0.0, route: str = "oral", infusion: object = None) -> "Schedule":
        """A schedule from values with units, e.g. ``Schedule.parse(dose="20 mg", every="12 h",
        duration="12 week")``. Numbers without units are taken in mg and days. ``duration``
        (from ``start``) and ``n_doses`` are alternatives."""
        dose_mg = parse_quantity(dose, "mg", field="schedule.dose")
        interval = parse_quantity(every, "day", field="schedule.every")
        start_day = parse_quantity(start, "day", field="schedule.start")
        stop = None if duration is None else start_day + parse_quantity(duration, "day", field="schedule.duration")
        inf = None if infusion is None else parse_quantity(infusion, "day", field="schedule.infusion")
        return cls(dose_mg, interval, start_day, stop, n_doses, route, inf)

    @classmethod
    def from_dosing(cls, dosing, *, route: str = "oral", infusion_days: float | None = None) -> "Schedule":
        """The schedule of a body-engine :class:`~seedsoil.body.hooks.Dosing` by ``route``."""
        return cls(float(dosing.dose_mg), float(dosing.interval_days), float(dosing.start_day),
                   float(dosing.stop_day), None, route, infusion_days)

    # ------------------------------------------------------------------ derived
    @property
    def count(self) -> int:
        """Number of doses."""
        if self.n_doses is not None:
            return int(self.n_doses)
        assert self.stop_day is not None
        return max(int(np.floor((self.stop_day - self.start_day) / self.interval_days - _STOP_EPS)) + 1, 0)

    def dose_times(self) -> np.ndarray:
        """Start time of each dose (days)."""
        return self.start_day + self.interval_days * np.arange(self.count, dtype=float)

    def doses_mg(self) -> np.ndarray:
        """Amount of each dose (mg)."""
        return np.full(self.count, float(self.dose_mg))

    @property
    def end_day(self) -> float:
        """Time the last dose starts (days)."""
        return float(self.start_day + self.interval_days * (self.count - 1))

    def with_dose(self, dose_mg: float) -> "Schedule":
        """The same schedule with another dose (mg)."""
        from dataclasses import replace

        return replace(self, dose_mg=dose_mg)
