"""``seedsoil validate``: named cases that reproduce published results.

A case is a function returning a list of :class:`Check` rows (expected, got,
tolerance). Cases register themselves with :func:`case`; modules holding cases
are listed in ``CASE_MODULES`` and imported on first use. A case's ``source`` is
its published reference with a DOI, and its ``description`` one line of what it
checks (docs/validation.md describes every case at length).
"""
from __future__ import annotations

import importlib
import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

CASE_MODULES = (
    "seedsoil.validate.cases_body",
    "seedsoil.validate.cases_vascular",
    "seedsoil.validate.cases_relapse",
    "seedsoil.validate.cases_adjuvant",
    "seedsoil.validate.cases_immune",
    "seedsoil.validate.cases_luzzi",
    "seedsoil.validate.cases_cell",
    "seedsoil.validate.cases_drugs",
    "seedsoil.validate.cases_pharm",
    "seedsoil.validate.cases_tissue",
    "seedsoil.validate.cases_fields",
)


#: how a check compares ``got`` with ``expected``
KINDS = ("rel", "abs", "range", "equal", "true")


def format_value(x: object) -> str:
    """A number, an interval or a label as the validation table prints it."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else str(x)
    if isinstance(x, tuple):
        return "[" + ", ".join(format_value(v) for v in x) + "]"
    if hasattr(x, "item") and not isinstance(x, str):  # a numpy scalar
        return format_value(x.item())
    return str(x)


@dataclass(frozen=True)
class Check:
    """One compared quantity. ``kind`` is 'rel' (|got-exp| <= tol*|exp|), 'abs'
    (|got-exp| <= tol), 'range' (expected is (lo, hi), tolerance ignored), 'equal'
    (got == expected, for labels such as "saddle") or 'true' (a statement: expected is
    True and got must be truthy). A label is compared with 'equal', never 'true', so
    that the row shows the label expected and the label got."""

    name: str
    expected: object
    got: object
    tolerance: float = 0.0
    kind: str = "rel"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Check {self.name!r}: kind = {self.kind!r}; one of {', '.join(KINDS)}")
        if self.kind == "true" and self.expected is not True:
            raise ValueError(f"Check {self.name!r}: a 'true' check states a fact (expected = True, got {self.expected!r}); "
                             "compare a label with kind 'equal'")

    @property
    def passed(self) -> bool:
        if self.kind == "true":
            return bool(self.got)
        if self.kind == "equal":
            return self.got == self.expected
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

    def expected_text(self) -> str:
        """The expected column: a number, an interval, a label, or "yes" for a statement."""
        return format_value(self.expected)

    def got_text(self) -> str:
        """The got column: a number, a label, or "yes" / "no" for a statement."""
        return format_value(bool(self.got) if self.kind == "true" else self.got)

    def tolerance_text(self) -> str:
        if self.kind == "rel":
            return f"±{self.tolerance:.0%}" if self.tolerance >= 0.01 else f"rel {self.tolerance:g}"
        if self.kind == "abs":
            return f"±{self.tolerance:g}"
        if self.kind == "range":
            return "in range"
        if self.kind == "equal":
            return "equal"
        return "holds"


_DOI = re.compile(r"doi:\s*(10\.\d{4,9}/[^\s;,]+)")


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    run: Callable[[], list[Check]]
    description: str = ""
    slow: bool = False

    @property
    def dois(self) -> tuple[str, ...]:
        """The DOIs cited in ``source``, in order."""
        out = []
        for doi in _DOI.findall(self.source):
            doi = doi.rstrip(".")
            while doi.endswith(")") and doi.count(")") > doi.count("("):
                doi = doi[:-1]
            out.append(doi)
        return tuple(out)

    def summary(self) -> str:
        """One line: the name, what the case checks and its published source's DOIs."""
        dois = ", ".join(f"doi:{d}" for d in self.dois)
        return f"{self.name} — {self.description} ({dois})" if dois else f"{self.name} — {self.description}"


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
