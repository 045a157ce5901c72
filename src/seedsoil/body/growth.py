"""Growth laws for the primary tumour and for colonies, declared as small classes.

Each law gives the deterministic growth rate g(x) (cells/day) of a tumour of x
cells, its closed-form solution x(t) from x0 and the inverse (time to reach a
size). The engines use the same laws through a numeric code and a parameter
vector (``code``, ``as_array()``), evaluated in ``_kernels.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

EXPONENTIAL, LOGISTIC, GOMPERTZ, POWER_LAW = 0, 1, 2, 3


@dataclass(frozen=True)
class GrowthLaw:
    """Base class. Subclasses declare their parameters as dataclass fields."""

    code: ClassVar[int]
    name: ClassVar[str]
    #: parameter name -> unit, in the order of ``as_array``
    units: ClassVar[dict[str, str]]

    def rate(self, x):
        """g(x), cells/day."""
        return np.asarray(x, dtype=float) * self.per_capita(x)

    def per_capita(self, x):  # pragma: no cover - overridden
        raise TypeError("abstract")

    def solution(self, x0: float, t):
        """Size at time t (days) from size x0 at t = 0."""
        raise TypeError("abstract")  # pragma: no cover

    def time_to(self, x0: float, x1: float) -> float:
        """Days to grow from x0 to x1 (``inf`` if never reached)."""
        raise TypeError("abstract")  # pragma: no cover

    def as_array(self) -> np.ndarray:
        vals = [float(getattr(self, f.name)) for f in fields(self)]
        return np.array(vals + [0.0] * (4 - len(vals)), dtype=np.float64)

    def parameters(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Exponential(GrowthLaw):
    """dx/dt = r x."""

    rate_constant: float
    code: ClassVar[int] = EXPONENTIAL
    name: ClassVar[str] = "exponential"
    units: ClassVar[dict[str, str]] = {"rate_constant": "1/day"}

    def per_capita(self, x):
        return np.full_like(np.asarray(x, dtype=float), self.rate_constant)

    def solution(self, x0, t):
        return x0 * np.exp(self.rate_constant * np.asarray(t, dtype=float))

    def time_to(self, x0, x1):
        if x1 <= x0:
            return 0.0
        if x0 <= 0:
            return math.inf
        return math.log(x1 / x0) / self.rate_constant if self.rate_constant > 0 else math.inf


@dataclass(frozen=True)
class Logistic(GrowthLaw):
    """dx/dt = r x (1 - x/K)."""

    rate_constant: float
    carrying_capacity: float
    code: ClassVar[int] = LOGISTIC
    name: ClassVar[str] = "logistic"
    units: ClassVar[dict[str, str]] = {"rate_constant": "1/day", "carrying_capacity": "cells"}

    def per_capita(self, x):
        x = np.asarray(x, dtype=float)
        return self.rate_constant * (1.0 - x / self.carrying_capacity)

    def solution(self, x0, t):
        K, r = self.carrying_capacity, self.rate_constant
        if x0 <= 0:
            return np.zeros_like(np.asarray(t, dtype=float))
        return K / (1.0 + (K / x0 - 1.0) * np.exp(-r * np.asarray(t, dtype=float)))

    def time_to(self, x0, x1):
        K, r = self.carrying_capacity, self.rate_constant
        if x1 <= x0:
            return 0.0
        if x1 >= K or x0 <= 0:
            return math.inf
        return math.log(x1 * (K - x0) / (x0 * (K - x1))) / r


@dataclass(frozen=True)
class Gompertz(GrowthLaw):
    """dx/dt = a x ln(K/x); closed form x(t) = K (x0/K)^exp(-a t) (Iwata 2000: K = b, x0 = 1)."""

    rate_constant: float
    carrying_capacity: float
    code: ClassVar[int] = GOMPERTZ
    name: ClassVar[str] = "gompertz"
    units: ClassVar[dict[str, str]] = {"rate_constant": "1/day", "carrying_capacity": "cells"}

    def per_capita(self, x):
        x = np.asarray(x, dtype=float)
        return self.rate_constant * np.log(self.carrying_capacity / x)

    def solution(self, x0, t):
        K, a = self.carrying_capacity, self.rate_constant
        if x0 <= 0:
            return np.zeros_like(np.asarray(t, dtype=float))
        return K * np.exp(math.log(x0 / K) * np.exp(-a * np.asarray(t, dtype=float)))

    def time_to(self, x0, x1):
        K, a = self.carrying_capacity, self.rate_constant
        if x1 <= x0:
            return 0.0
        if x1 >= K or x0 <= 0:
            return math.inf
        return -math.log(math.log(x1 / K) / math.log(x0 / K)) / a


@dataclass(frozen=True)
class PowerLaw(GrowthLaw):
    """dx/dt = c x^γ − β x (von Bertalanffy; β = 0 is the pure power law of Hart 1998)."""

    coefficient: float
    exponent: float
    loss_rate: float = 0.0
    code: ClassVar[int] = POWER_LAW
    name: ClassVar[str] = "power_law"
    units: ClassVar[dict[str, str]] = {"coefficient": "cells^(1-exponent)/day", "exponent": "",
                                       "loss_rate": "1/day"}

    def per_capita(self, x):
        x = np.asarray(x, dtype=float)
        return self.coefficient * x ** (self.exponent - 1.0) - self.loss_rate

    def _u_of_t(self, u0, t):
        c, g, b = self.coefficient, self.exponent, self.loss_rate
        if b > 0:
            return c / b + (u0 - c / b) * np.exp(-(1.0 - g) * b * t)
        return u0 + (1.0 - g) * c * t

    def solution(self, x0, t):
        t = np.asarray(t, dtype=float)
        if x0 <= 0:
            return np.zeros_like(t)
        u = self._u_of_t(x0 ** (1.0 - self.exponent), t)
        return np.maximum(u, 0.0) ** (1.0 / (1.0 - self.exponent))

    def time_to(self, x0, x1):
        c, g, b = self.coefficient, self.exponent, self.loss_rate
        if x1 <= x0:
            return 0.0
        if x0 <= 0:
            return math.inf  # no tumour never grows
        u0, u1 = x0 ** (1.0 - g), x1 ** (1.0 - g)
        if b > 0:
            us = c / b
            if u1 >= us or x0 <= 0:
                return math.inf
            return -math.log((u1 - us) / (u0 - us)) / ((1.0 - g) * b)
        return (u1 - u0) / ((1.0 - g) * c)


LAWS: dict[str, type[GrowthLaw]] = {cls.name: cls for cls in (Exponential, Logistic, Gompertz, PowerLaw)}


def make_law(name: str, params: dict[str, float]) -> GrowthLaw:
    """Build a law from its name and the scenario's parameter sub-table."""
    cls = LAWS[name]
    return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params})
