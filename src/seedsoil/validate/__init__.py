"""``seedsoil validate``: named cases that reproduce published results.

A case is a function returning a list of :class:`Check` rows (expected, got,
tolerance). Cases register themselves with :func:`case`; modules holding cases
are listed in ``CASE_MODULES`` and imported on first use.
"""
from __future__ import annotations

import importlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

CASE_MODULES = (
    "seedsoil.validate.cases_body",
    "seedsoil.validate.cases_immune",
    "seedsoil.validate.cases_luzzi",
    "seedsoil.validate.cases_cell",
    "seedsoil.validate.cases_drugs",
    "seedsoil.validate.cases_pharm",
    "seedsoil.validate.cases_tissue",
)


@dataclass(frozen=True)
class Check:
    """One compared quantity. ``kind`` is 'rel' (|got-exp| <= tol*|exp|), 'abs',
    'range' (expected is (lo, hi), tolerance ignored) or 'true' (got must be truthy)."""

    name: str
    expected: object
    got: object
    tolerance: float = 0.0
    kind: str = "rel"

    @property
    def passed(self) -> bool:
        if self.kind == "true":
            return bool(self.got)
        got = float(self.got)  # type: ignore[arg-type]
        if math.isnan(got):
            return False
        if self.kind == "range":
            lo, hi = self.expected  # type: ignore[misc]
            return lo <= got <= hi
        exp = float(self.expected)  # type: ignore[arg-type]
        if self.kind == "abs":
            return abs(got - exp) <= self.tolerance
        return abs(got - exp) <= self.tolerance * abs(exp)

    def tolerance_text(self) -> str:
        if self.kind == "rel":
            return f"±{self.tolerance:.0%}" if self.tolerance >= 0.01 else f"rel {self.tolerance:g}"
        if self.kind == "abs":
            return f"±{self.tolerance:g}"
        if self.kind == "range":
            return "in range"
        return "holds"


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    run: Callable[[], list[Check]]
    description: str = ""
    slow: bool = False


@dataclass
class CaseResult:
    case: Case
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)


_REGISTRY: dict[str, Case] = {}


def case(name: str, *, source: str, description: str = "", slow: bool = False):
    """Decorator registering a validation case under ``name``."""

    def deco(fn: Callable[[], list[Check]]) -> Callable[[], list[Check]]:
        _REGISTRY[name] = Case(name=name, source=source, run=fn, description=description, slow=slow)
        return fn

    return deco


def all_cases() -> dict[str, Case]:
    for mod in CASE_MODULES:
        importlib.import_module(mod)
    return dict(_REGISTRY)


def run_cases(names: list[str] | None = None) -> list[CaseResult]:
    """Run the named cases (all when ``names`` is None) and return their results."""
    cases = all_cases()
    if names:
        missing = [n for n in names if n not in cases]
        if missing:
            raise KeyError(f"unknown validation case(s) {missing}; known: {', '.join(sorted(cases))}")
        selected = [cases[n] for n in names]
    else:
        selected = list(cases.values())
    results = []
    for c in selected:
        t0 = time.perf_counter()
        try:
            checks = c.run()
            results.append(CaseResult(c, checks, time.perf_counter() - t0))
        except Exception as exc:  # a crashing case is a failing case, reported as such
            results.append(CaseResult(c, [], time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}"))
    return results
