"""What the body engine asks of other scales, as plain data (docs/architecture.md).

The body knows no other scale. For drug therapies it builds a :class:`Dosing` per
therapy and asks the scenario for three multiplicative factors per engine step
(``scenario.drug_factors(step_midpoints, dosings, step=dt)``):

* ``invasion_factor`` multiplies shedding,
* ``immune_kill_factor`` multiplies immune killing of colony cells,
* ``dormancy_signal_factor`` multiplies the IL-1β suppression of colonisation.

The composition root (:class:`seedsoil.scenario.Scenario`) answers through the
coupling layer (:mod:`seedsoil.coupling.effects`) with the scenario's own
:class:`~seedsoil.coupling.DrugLibrary`: drugs are values that travel with the
scenario, not entries in a process-wide registry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

FACTORS = ("invasion_factor", "immune_kill_factor", "dormancy_signal_factor")


@dataclass(frozen=True)
class Dosing:
    """A drug schedule on the simulation clock (days since t = 0)."""

    drug: str
    dose_mg: float
    interval_days: float
    start_day: float
    stop_day: float

    def dose_times(self) -> np.ndarray:
        n = max(int(np.floor((self.stop_day - self.start_day) / self.interval_days - 1e-9)) + 1, 0)
        return self.start_day + self.interval_days * np.arange(n)


class ExposureModel(Protocol):
    def __call__(self, times: np.ndarray, dosing: Dosing) -> np.ndarray:
        """Concentration (nM) at ``times`` (days) under ``dosing``."""


def no_factors(times: np.ndarray) -> dict[str, np.ndarray]:
    """Every factor 1 on ``times``: a patient without drugs."""
    return {f: np.ones_like(times, dtype=float) for f in FACTORS}


_REMOVED = {"register_drug", "unregister_drug", "register_effect", "unregister_effect", "registered_drugs",
            "registered_effects", "check_drug_therapy", "factors", "exposures"}


def __getattr__(name: str):
    if name in _REMOVED:
        raise AttributeError(
            f"seedsoil.body.hooks.{name} was removed: drugs are values now, not a process-wide registry "
            "(a drug registered in one process was unknown in trial workers). Build a library with "
            "seedsoil.coupling.default_drugs().with_drug(drug) / .with_effect(effect) and pass it as drugs= to "
            "Scenario.from_dict, load_scenario, load_trial or run_trial (docs/architecture.md)")
    raise AttributeError(f"module 'seedsoil.body.hooks' has no attribute {name!r}")
