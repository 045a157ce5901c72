"""Named hooks through which other scales change the patient.

The body engine asks two questions of drug therapies, on its time grid:

* ``exposure``: drug name -> concentration (nM) over time, from a registered
  pharmacokinetic model (:func:`register_drug`), and
* ``effects``: exposures -> multiplicative factors on body processes, from the
  registered effect models (:func:`register_effect`). Known factors are
  ``invasion_factor`` (multiplies shedding; the cell and tissue scales fill it),
  ``immune_kill_factor`` (multiplies immune killing of colony cells, e.g.
  JAK inhibitors weakening NK cells) and ``dormancy_signal_factor`` (multiplies
  the IL-1β suppression of colonisation, e.g. an IL-1R antagonist).

Factors are averaged over each engine step (sub-sampled every 30 min), so a
drug dosed every 12 h is not aliased by a 1-day step. With nothing registered
all factors are 1. :mod:`seedsoil.body.drugs` registers the pharm presets here
the first time a scenario names a drug; a user can register their own in a few lines.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Protocol

import numpy as np

from ..errors import ScenarioError

FACTORS = ("invasion_factor", "immune_kill_factor", "dormancy_signal_factor")

#: Sub-samples per day when factors are averaged over an engine step.
SAMPLES_PER_DAY = 48


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


EffectModel = Callable[[np.ndarray, Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]

_DRUGS: dict[str, ExposureModel] = {}
_EFFECTS: list[EffectModel] = []


def register_drug(name: str, exposure: ExposureModel) -> None:
    """Make ``[[therapy]] kind = "drug", drug = name`` usable in scenarios."""
    _DRUGS[name] = exposure


def unregister_drug(name: str) -> None:
    _DRUGS.pop(name, None)


def register_effect(effect: EffectModel) -> None:
    """Add an effect model: ``effect(times, exposures) -> {factor name: array}``."""
    _EFFECTS.append(effect)


def unregister_effect(effect: EffectModel) -> None:
    if effect in _EFFECTS:
        _EFFECTS.remove(effect)


def registered_drugs() -> list[str]:
    return sorted(_DRUGS)


def registered_effects() -> list[EffectModel]:
    return list(_EFFECTS)


def _ensure_presets() -> None:
    from .drugs import register_presets

    register_presets()


def check_drug_therapy(therapy, where: str) -> None:
    """Validate a ``kind = "drug"`` therapy against the registry (raises ScenarioError)."""
    if not therapy.drug:
        raise ScenarioError(f"{where}.drug: a drug therapy needs a drug name", field=f"{where}.drug", value=None)
    if therapy.drug not in _DRUGS or not _EFFECTS:
        _ensure_presets()
    if therapy.drug not in _DRUGS:
        known = ", ".join(registered_drugs()) or "none registered yet (seedsoil.body.hooks.register_drug)"
        raise ScenarioError(f"{where}.drug = {therapy.drug!r}: unknown drug; known: {known}",
                            field=f"{where}.drug", value=therapy.drug)
    for key in ("dose", "interval"):
        if getattr(therapy, key) is None:
            raise ScenarioError(f"{where}.{key}: a drug therapy needs a {key}", field=f"{where}.{key}", value=None)


def exposures(times: np.ndarray, schedules: list[Dosing]) -> dict[str, np.ndarray]:
    """Summed concentration (nM) of each drug at ``times``."""
    if any(s.drug not in _DRUGS for s in schedules):
        _ensure_presets()
    out: dict[str, np.ndarray] = {}
    for s in schedules:
        if s.drug not in _DRUGS:
            raise KeyError(f"drug {s.drug!r} is not registered (known: {', '.join(registered_drugs())})")
        c = np.asarray(_DRUGS[s.drug](times, s), dtype=float)
        out[s.drug] = out.get(s.drug, 0.0) + c
    return out


def factors(times: np.ndarray, schedules: list[Dosing], *, step: float | None = None) -> dict[str, np.ndarray]:
    """Product of all registered effects, per factor, on ``times`` (1 where nothing acts).

    With ``step`` (days), ``times`` are step midpoints and each factor is the mean
    over the step, sampled at ``SAMPLES_PER_DAY`` points per day (at least one).
    """
    if step is not None and schedules:
        k = max(int(np.ceil(step * SAMPLES_PER_DAY)), 1)
        offsets = step * ((np.arange(k) + 0.5) / k - 0.5)
        fine = (np.asarray(times, float)[:, None] + offsets[None, :]).ravel()
        sub = factors(fine, schedules)
        return {f: v.reshape(len(times), k).mean(axis=1) for f, v in sub.items()}
    result = {f: np.ones_like(times, dtype=float) for f in FACTORS}
    if not schedules:
        return result
    _ensure_presets()  # a cheap check; repairs a registry that was cleared or reloaded
    exp = exposures(times, schedules)
    for effect in _EFFECTS:
        for name, arr in effect(times, exp).items():
            if name not in result:
                raise ValueError(f"effect model returned unknown factor {name!r}; known: {FACTORS}")
            arr = np.asarray(arr, dtype=float)
            if arr.shape != times.shape or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError(f"effect model returned a bad {name}: it must be finite, >= 0, one per time")
            result[name] = result[name] * arr
    return result
