"""Pharmacodynamics: how a drug concentration changes the activity of its target.

Two declarative laws, each a frozen dataclass with vectorized methods (concentrations
in nM, at equilibrium: binding is taken as fast compared with the days of the body
clock):

* :class:`HillInhibition` — a kinase inhibitor (ruxolitinib on JAK1, fasudil on ROCK):
  fraction inhibited ``c^h / (c^h + IC50^h)``, remaining activity one minus that.
* :class:`CompetitiveAntagonist` — a receptor antagonist that competes with the
  agonist (anakinra at IL-1R1 against IL-1β): agonist occupancy
  ``A / (A + Kd (1 + B/Ki))`` (Gaddum), so the antagonist shifts the agonist's
  concentration-response by the factor ``1 + B/Ki`` without lowering its maximum.

Both expose ``activity(c)`` (1 = untouched target, 0 = fully blocked) and
``fraction_inhibited(c)``, so the cell scale can treat them alike. ``basis`` says
which concentration the potency refers to: ``"unbound"`` (free drug, the default) or
``"total"`` (e.g. a whole-blood IC50 measured against total drug).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ScenarioError

BASES = ("unbound", "total")


def _positive(where: str, value: float, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ScenarioError(f"{where} = {value!r}: out of range; allowed (0, inf) {unit}".rstrip(),
                            field=where, value=value)


def _basis(where: str, basis: str) -> None:
    if basis not in BASES:
        raise ScenarioError(f"{where}.basis = {basis!r}: must be one of {', '.join(BASES)}",
                            field=f"{where}.basis", value=basis)


def _conc(c: ArrayLike) -> NDArray[np.float64]:
    # negative concentrations are numerical noise of a sum of exponentials; clip them
    return np.clip(np.asarray(c, dtype=float), 0.0, None)


@dataclass(frozen=True)
class HillInhibition:
    """Inhibition of ``target`` with half-maximal concentration ``ic50_nM`` (nM) and
    Hill coefficient ``hill`` (dimensionless)."""

    target: str
    ic50_nM: float
    hill: float = 1.0
    basis: str = "unbound"
    source: str = ""

    def __post_init__(self) -> None:
        _positive(f"{self.target}.ic50_nM", self.ic50_nM, "nM")
        _positive(f"{self.target}.hill", self.hill, "")
        _basis(self.target, self.basis)

    def fraction_inhibited(self, c: ArrayLike) -> NDArray[np.float64]:
        """c^h / (c^h + IC50^h), written as 1/(1 + (IC50/c)^h) to stay finite for large c."""
        c = _conc(c)
        with np.errstate(divide="ignore", over="ignore"):
            ratio = np.where(c > 0, (self.ic50_nM / np.where(c > 0, c, 1.0)) ** self.hill, np.inf)
        return 1.0 / (1.0 + ratio)

    def activity(self, c: ArrayLike) -> NDArray[np.float64]:
        """Remaining activity of the target, 1 − fraction inhibited = IC50^h / (c^h + IC50^h)."""
        c = _conc(c)
        with np.errstate(over="ignore"):  # (c/IC50)^h = inf gives activity 0, as it should
            return 1.0 / (1.0 + (c / self.ic50_nM) ** self.hill)

    def concentration_for(self, fraction: ArrayLike) -> NDArray[np.float64]:
        """Concentration (nM) that inhibits ``fraction`` (0 < f < 1): IC50 (f/(1 − f))^{1/h}."""
        f = np.asarray(fraction, dtype=float)
        if np.any((f <= 0) | (f >= 1)):
            raise ValueError("fraction must lie in (0, 1)")
        return self.ic50_nM * (f / (1.0 - f)) ** (1.0 / self.hill)


@dataclass(frozen=True)
class CompetitiveAntagonist:
    """A competitive antagonist of ``target`` (a receptor) against ``agonist``.

    ``agonist_kd_nM`` is the agonist's dissociation constant (nM), ``ki_nM`` the
    antagonist's (nM) and ``agonist_nM`` the reference agonist concentration (nM) at
    which :meth:`activity` is evaluated when none is given.
    """

    target: str
    agonist: str
    agonist_kd_nM: float
    ki_nM: float
    agonist_nM: float
    basis: str = "unbound"
    source: str = ""

    def __post_init__(self) -> None:
        _positive(f"{self.target}.agonist_kd_nM", self.agonist_kd_nM, "nM")
        _positive(f"{self.target}.ki_nM", self.ki_nM, "nM")
        _positive(f"{self.target}.agonist_nM", self.agonist_nM, "nM")
        _basis(self.target, self.basis)

    def ec50_shift(self, c: ArrayLike) -> NDArray[np.float64]:
        """Factor by which the antagonist at ``c`` nM raises the agonist's EC50: 1 + c/Ki."""
        return 1.0 + _conc(c) / self.ki_nM

    def occupancy(self, agonist_nM: ArrayLike, c: ArrayLike) -> NDArray[np.float64]:
        """Fraction of receptors bound by agonist: A / (A + Kd (1 + B/Ki))."""
        a = _conc(agonist_nM)
        return a / (a + self.agonist_kd_nM * self.ec50_shift(c))

    def activity(self, c: ArrayLike, agonist_nM: ArrayLike | None = None) -> NDArray[np.float64]:
        """Agonist signal with the antagonist at ``c`` relative to without it:
        occupancy(A, c) / occupancy(A, 0) = (A + Kd) / (A + Kd (1 + c/Ki))."""
        a = _conc(self.agonist_nM if agonist_nM is None else agonist_nM)
        return (a + self.agonist_kd_nM) / (a + self.agonist_kd_nM * self.ec50_shift(c))

    def fraction_inhibited(self, c: ArrayLike, agonist_nM: ArrayLike | None = None) -> NDArray[np.float64]:
        """1 − :meth:`activity`."""
        return 1.0 - self.activity(c, agonist_nM)


TargetModel = HillInhibition | CompetitiveAntagonist
