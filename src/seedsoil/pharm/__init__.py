"""Pharmacology: declarative linear PK, dosing schedules, PD laws and drug presets.

Modules, one concept each:

* :mod:`~seedsoil.pharm.pk` — compartment models (:class:`OneCompartment`,
  :class:`TwoCompartment`), routes (:class:`FirstOrderAbsorption`), closed-form
  single-dose responses, superposition over a schedule, steady state;
* :mod:`~seedsoil.pharm.schedule` — :class:`Schedule` (dose, interval, route), validated;
* :mod:`~seedsoil.pharm.pd` — :class:`HillInhibition`, :class:`CompetitiveAntagonist`;
* :mod:`~seedsoil.pharm.presets` — :class:`Drug` and the presets read from
  ``params/pharm.toml`` (:func:`preset`, :func:`presets`).

Units: days, L, L/day, mg, nM (mg/L inside :mod:`pk`). Importing registers nothing
and the package knows no other scale: the presets reach a patient through
:func:`seedsoil.coupling.default_drugs`, and a drug of your own through
``default_drugs().with_drug(drug)`` passed as ``drugs=`` to a scenario or trial.
"""
from __future__ import annotations

from .pd import CompetitiveAntagonist, HillInhibition
from .pk import (
    FirstOrderAbsorption,
    OneCompartment,
    TwoCompartment,
    mg_per_L_to_nM,
    single_dose_peak,
    steady_state_extremes,
    steady_state_profile,
    superpose,
    unit_response,
)
from .presets import Drug, preset, presets
from .schedule import ROUTES, Schedule

__all__ = [
    "OneCompartment", "TwoCompartment", "FirstOrderAbsorption", "unit_response", "superpose",
    "steady_state_profile", "steady_state_extremes", "single_dose_peak", "mg_per_L_to_nM",
    "Schedule", "ROUTES", "HillInhibition", "CompetitiveAntagonist", "Drug", "preset", "presets",
]
