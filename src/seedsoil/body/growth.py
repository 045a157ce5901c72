"""Growth laws for the primary tumour and for colonies: one class per law, its maths written once.

A law is a frozen dataclass whose fields are its parameters, with three plain
scalar functions of (state, parameters), in the parameter order of the fields:

``rate_fn(n, *params)``
    per-capita growth rate g(n)/n (1/day) of a tumour of n cells;
``solution_fn(n0, t, *params)``
    size after t days from n0 cells (closed form of dn/dt = g(n)); the
    stochastic engine's deterministic step over dt is ``solution_fn(n, dt, ...)``;
``time_to_fn(n0, n1, *params)``
    days to grow from n0 to n1 (0 if n1 <= n0, ``inf`` if never reached).

The same function objects reach both sides:

* **kernels**: each function is compiled with ``seedsoil._jit.jit``. A kernel
  takes the law as its parameter tuple ``law.kernel_params()`` (a NamedTuple
  class of its own per law) and calls ``law_rate(lp, n)``,
  ``law_solution(lp, n0, t)`` or ``law_time_to(lp, n0, n1)``; numba picks the
  law's compiled function from the tuple's type when it compiles the kernel,
  so a kernel is specialised per law (no run-time law code) and an unknown
  tuple is a compile-time error.
* **NumPy**: the methods ``rate(n)``, ``solution(n0, t)`` and
  ``time_to(n0, n1)`` call the very same Python functions, with n (``rate``)
  or t (``solution``) as NumPy arrays, so NumPy evaluates the formula
  elementwise in one vectorised pass. This is how the body model computes the
  primary tumour on the whole time grid.

Write the functions in numba's subset of Python; use ``np.exp``/``np.log`` for
anything that depends on n in ``rate_fn`` or on t in ``solution_fn`` (numba
compiles them to the same libm calls as ``math.exp``/``math.log``), ``math``
only on scalars, and branch (``if``) only on scalars: n0 and the parameters in
``solution_fn``, anything in ``time_to_fn``. ``seedsoil.testing.check_growth_law``
checks a law against these rules and against its own ODE.

NumPy's array ``exp``/``log`` may differ from libm's in the last bit, so the NumPy
side (the primary tumour) and the kernel side (colonies) agree to ~1e-15, not
always bit for bit; and a formula rewritten in another order of operations changes
simulation results in the last bits.
"""
from __future__ import annotations

import collections
import hashlib
import inspect
import math
import types
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from .._jit import JIT_OPTIONS, jit
from ..errors import ScenarioError, did_you_mean
from ..hashing import feed_code

#: registered laws by name (the names scenarios use in ``primary.law`` / ``colony.law``)
LAWS: dict[str, type[GrowthLaw]] = {}
#: kernel parameter tuple class -> law class (every law, registered or not)
_LAW_OF_PARAMS: dict[type, type[GrowthLaw]] = {}
_PARAMS_PREFIX = "_params_"
_ORPHANS: dict[str, type] = {}

_SCALAR_FUNCTIONS = ("rate_fn", "solution_fn", "time_to_fn")
_STATE_ARGS = {"rate_fn": ("n",), "solution_fn": ("n0", "t"), "time_to_fn": ("n0", "n1")}


@dataclass(frozen=True)
class GrowthLaw:
    """Base class. A subclass declares its parameters as dataclass fields, a ``name``,
    the ``units`` of its parameters and the three static scalar functions (module
    docstring). Subclassing registers the law under ``name`` in :data:`LAWS`
    (``class MyLaw(GrowthLaw, register=False)`` does not, e.g. in tests)."""

    name: ClassVar[str]
    #: parameter name -> unit, in field order
    units: ClassVar[dict[str, str]]
    #: parameter sets covering the law's regimes, for ``check_growth_law(cls)``
    examples: ClassVar[tuple[dict[str, float], ...]] = ()
    #: the kernels' parameter tuple (set for each law class)
    Params: ClassVar[type]
    #: parameter names, in the order the scalar functions take them
    param_names: ClassVar[tuple[str, ...]]
    #: the scalar functions compiled by numba (name -> dispatcher)
    compiled: ClassVar[types.SimpleNamespace]

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.__dict__.get("name"), str):
            raise TypeError(f"growth law {cls.__qualname__}: set name: ClassVar[str] = '...'")
        params = None
        for fn_name in _SCALAR_FUNCTIONS:
            fn = inspect.getattr_static(cls, fn_name, None)
            if not isinstance(fn, staticmethod):
                raise TypeError(f"growth law {cls.name!r}: {fn_name} must be a @staticmethod "
                                f"def {fn_name}({', '.join(_STATE_ARGS[fn_name])}, <parameters>)")
            args = tuple(inspect.signature(fn.__func__).parameters)
            state = _STATE_ARGS[fn_name]
            if args[:len(state)] != state:
                raise TypeError(f"growth law {cls.name!r}: {fn_name} must start with the arguments "
                                f"{', '.join(state)}; it has ({', '.join(args)})")
            if params is None:
                params = args[len(state):]
            elif args[len(state):] != params:
                raise TypeError(f"growth law {cls.name!r}: rate_fn takes the parameters ({', '.join(params)}) but "
                                f"{fn_name} takes ({', '.join(args[len(state):])}); use the same names in the same "
                                "order (the order of the dataclass fields)")
        same = LAWS.get(cls.name)
        if register and same is not None and (same.__module__, same.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"growth law {cls.name!r} is defined twice ({LAWS[cls.name].__qualname__} and "
                            f"{cls.__qualname__}); pick another name or pass register=False")
        cls.param_names = params
        cls.compiled = types.SimpleNamespace(**{f: _compile(getattr(cls, f)) for f in _SCALAR_FUNCTIONS})
        cls.Params = _params_class(cls)
        _LAW_OF_PARAMS[cls.Params] = cls
        if register:
            LAWS[cls.name] = cls

    def __post_init__(self) -> None:
        names = tuple(f.name for f in fields(self))
        if names != self.param_names:
            raise TypeError(f"growth law {self.name!r}: the dataclass fields ({', '.join(names)}) must be the "
                            f"parameters of its scalar functions, in the same order ({', '.join(self.param_names)})")

    # ---------------------------------------------------------------- NumPy side
    def _values(self) -> tuple:
        return tuple(getattr(self, p) for p in self.param_names)

    def rate(self, n):
        """Per-capita growth rate g(n)/n (1/day); n a number or an array."""
        n = np.asarray(n, dtype=float)
        out = type(self).rate_fn(n, *self._values())
        return _like(out, n)

    def growth(self, n):
        """g(n), the growth rate in cells/day: n · rate(n)."""
        return np.asarray(n, dtype=float) * self.rate(n)

    def solution(self, n0: float, t):
        """Size at time t (days; a number or an array) from size n0 at t = 0."""
        t = np.asarray(t, dtype=float)
        out = type(self).solution_fn(n0, t, *self._values())
        return _like(out, t)

    def time_to(self, n0: float, n1: float) -> float:
        """Days to grow from n0 to n1 (``inf`` if never reached, 0 if n1 <= n0)."""
        return float(type(self).time_to_fn(n0, n1, *self._values()))

    # ---------------------------------------------------------------- parameters
    def parameters(self) -> dict[str, float]:
        return {p: float(getattr(self, p)) for p in self.param_names}

    def kernel_params(self):
        """The parameters as this law's NamedTuple of floats: the kernels' law argument."""
        return self.Params(*(float(v) for v in self._values()))


def _compile(fn):
    """``jit(fn)``; without disk caching for a law defined where numba cannot cache (code run
    with exec or ``python -c``: no source file)."""
    try:
        return jit(fn)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
        import numba

        return numba.njit(**{**JIT_OPTIONS, "cache": False})(fn)


def _like(out, x: np.ndarray) -> np.ndarray:
    """``out`` as a float array of the shape of ``x`` (a law may return a constant)."""
    out = np.asarray(out, dtype=float)
    return out if out.shape == x.shape else np.full(x.shape, out)


# ---------------------------------------------------------------------------- kernel parameter tuples
def _params_class(cls: type[GrowthLaw]) -> type:
    """A NamedTuple class for the kernels, named after the law and a hash of its maths and
    kept in this module: numba's disk cache refers to it by that name, so a kernel
    compiled for an edited law is not reused, and an index entry left by a law that
    another process does not define (a test's, a notebook's) loads as an empty stand-in
    type, never used, instead of failing to import."""
    h = hashlib.sha256(repr((cls.name, cls.param_names)).encode())
    seen: set = set()
    for fn_name in _SCALAR_FUNCTIONS:
        feed_code(getattr(cls, fn_name), h, seen)
    tag = f"{_PARAMS_PREFIX}{''.join(c if c.isalnum() else '_' for c in cls.name)}_{h.hexdigest()[:16]}"
    existing = globals().get(tag)
    if existing is not None and existing in _LAW_OF_PARAMS:
        return existing  # the same name and maths (a class defined again): the same compiled kernels
    params = collections.namedtuple(tag, cls.param_names)
    params.__module__ = __name__
    params.__doc__ = f"Parameters of the {cls.name!r} growth law, as the kernels take them."
    globals()[tag] = params
    return params


def __getattr__(name: str):
    """An empty stand-in for the parameter tuple of a law this process does not define (see
    ``_params_class``): lets numba load a cache index that mentions it."""
    if name.startswith(_PARAMS_PREFIX):
        return _ORPHANS.setdefault(name, type(name, (tuple,), {"__module__": __name__}))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------- kernel side
def law_rate(lp, n):
    """In a numba kernel: per-capita rate g(n)/n of the law whose parameter tuple is ``lp``."""
    raise TypeError("law_rate is for numba kernels; from Python call law.rate(n) or kernel_rate(lp, n)")


def law_solution(lp, n0, t):
    """In a numba kernel: size after t days from n0 under the law of ``lp``."""
    raise TypeError("law_solution is for numba kernels; from Python call law.solution(n0, t) or "
                    "kernel_solution(lp, n0, t)")


def law_time_to(lp, n0, n1):
    """In a numba kernel: days from n0 to n1 under the law of ``lp``."""
    raise TypeError("law_time_to is for numba kernels; from Python call law.time_to(n0, n1) or "
                    "kernel_time_to(lp, n0, n1)")


def _law_of(target, lp) -> type[GrowthLaw]:
    """The law whose kernel parameter tuple has the numba type ``lp`` (at compile time)."""
    from numba.core.errors import TypingError

    law = _LAW_OF_PARAMS.get(getattr(lp, "instance_class", None))
    if law is None:
        raise TypingError(f"{target.__name__}: {lp} is not the parameter tuple of a growth law "
                          f"(law.kernel_params()); known laws: {', '.join(sorted(LAWS))}")
    return law


def _register_kernel_overloads() -> None:
    from numba.extending import overload

    options = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}

    @overload(law_rate, jit_options=options)
    def _law_rate(lp, n):
        fn = _law_of(law_rate, lp).compiled.rate_fn
        return lambda lp, n: fn(n, *lp[:])

    @overload(law_solution, jit_options=options)
    def _law_solution(lp, n0, t):
        fn = _law_of(law_solution, lp).compiled.solution_fn
        return lambda lp, n0, t: fn(n0, t, *lp[:])

    @overload(law_time_to, jit_options=options)
    def _law_time_to(lp, n0, n1):
        fn = _law_of(law_time_to, lp).compiled.time_to_fn
        return lambda lp, n0, n1: fn(n0, n1, *lp[:])


_register_kernel_overloads()


@jit
def kernel_rate(lp, n):
    """The kernels' ``law_rate``, callable from Python (tests, ``check_growth_law``)."""
    return law_rate(lp, n)


@jit
def kernel_solution(lp, n0, t):
    """The kernels' ``law_solution``, callable from Python."""
    return law_solution(lp, n0, t)


@jit
def kernel_time_to(lp, n0, n1):
    """The kernels' ``law_time_to``, callable from Python."""
    return law_time_to(lp, n0, n1)


# ---------------------------------------------------------------------------- the laws
@dataclass(frozen=True)
class Exponential(GrowthLaw):
    """dx/dt = r x."""

    rate_constant: float
    name: ClassVar[str] = "exponential"
    units: ClassVar[dict[str, str]] = {"rate_constant": "1/day"}
    examples: ClassVar[tuple[dict[str, float], ...]] = ({"rate_constant": 0.0134}, {"rate_constant": 0.7})

    @staticmethod
    def rate_fn(n, rate_constant):
        return rate_constant

    @staticmethod
    def solution_fn(n0, t, rate_constant):
        if n0 <= 0.0:
            return 0.0
        return n0 * np.exp(rate_constant * t)

    @staticmethod
    def time_to_fn(n0, n1, rate_constant):
        if n1 <= n0:
            return 0.0
        if n0 <= 0:
            return math.inf
        return math.log(n1 / n0) / rate_constant if rate_constant > 0 else math.inf


@dataclass(frozen=True)
class Logistic(GrowthLaw):
    """dx/dt = r x (1 - x/K)."""

    rate_constant: float
    carrying_capacity: float
    name: ClassVar[str] = "logistic"
    units: ClassVar[dict[str, str]] = {"rate_constant": "1/day", "carrying_capacity": "cells"}
    examples: ClassVar[tuple[dict[str, float], ...]] = (
        {"rate_constant": 0.0134, "carrying_capacity": 1e12}, {"rate_constant": 0.3, "carrying_capacity": 1e6})

    @staticmethod
    def rate_fn(n, rate_constant, carrying_capacity):
        return rate_constant * (1.0 - n / carrying_capacity)

    @staticmethod
    def solution_fn(n0, t, rate_constant, carrying_capacity):
        K, r = carrying_capacity, rate_constant
        if n0 <= 0:
            return 0.0
        return K / (1.0 + (K / n0 - 1.0) * np.exp(-r * t))

    @staticmethod
    def time_to_fn(n0, n1, rate_constant, carrying_capacity):
        K, r = carrying_capacity, rate_constant
        if n1 <= n0:
            return 0.0
        if n1 >= K or n0 <= 0:
            return math.inf
        return math.log(n1 * (K - n0) / (n0 * (K - n1))) / r


@dataclass(frozen=True)
class Gompertz(GrowthLaw):
    """dx/dt = a x ln(K/x); closed form x(t) = K (x0/K)^exp(-a t) (Iwata 2000: K = b, x0 = 1)."""

    rate_constant: float
    carrying_capacity: float
    name: ClassVar[str] = "gompertz"
    units: ClassVar[dict[str, str]] = {"rate_constant": "1/day", "carrying_capacity": "cells"}
    examples: ClassVar[tuple[dict[str, float], ...]] = (
        {"rate_constant": 0.00172, "carrying_capacity": 1e12}, {"rate_constant": 0.00286, "carrying_capacity": 7.3e10},
        {"rate_constant": 0.01, "carrying_capacity": 1e6})

    @staticmethod
    def rate_fn(n, rate_constant, carrying_capacity):
        return rate_constant * np.log(carrying_capacity / n)

    @staticmethod
    def solution_fn(n0, t, rate_constant, carrying_capacity):
        K, a = carrying_capacity, rate_constant
        if n0 <= 0:
            return 0.0
        return K * np.exp(math.log(n0 / K) * np.exp(-a * t))

    @staticmethod
    def time_to_fn(n0, n1, rate_constant, carrying_capacity):
        K, a = carrying_capacity, rate_constant
        if n1 <= n0:
            return 0.0
        if n1 >= K or n0 <= 0:
            return math.inf
        return -math.log(math.log(n1 / K) / math.log(n0 / K)) / a


@dataclass(frozen=True)
class PowerLaw(GrowthLaw):
    """dx/dt = c x^γ − β x (von Bertalanffy; β = 0 is the pure power law of Hart 1998).

    With u = x^(1−γ): du/dt = (1 − γ)(c − β u), solved in closed form."""

    coefficient: float
    exponent: float
    loss_rate: float = 0.0
    name: ClassVar[str] = "power_law"
    units: ClassVar[dict[str, str]] = {"coefficient": "cells^(1-exponent)/day", "exponent": "",
                                       "loss_rate": "1/day"}
    examples: ClassVar[tuple[dict[str, float], ...]] = (
        {"coefficient": 274.6, "exponent": 0.5, "loss_rate": 0.0}, {"coefficient": 2.0, "exponent": 2 / 3},
        {"coefficient": 50.0, "exponent": 0.75, "loss_rate": 0.05},
        {"coefficient": 1.0, "exponent": 0.5, "loss_rate": 0.2})

    @staticmethod
    def rate_fn(n, coefficient, exponent, loss_rate):
        return coefficient * n ** (exponent - 1.0) - loss_rate

    @staticmethod
    def solution_fn(n0, t, coefficient, exponent, loss_rate):
        c, g, b = coefficient, exponent, loss_rate
        if n0 <= 0:
            return 0.0
        u0 = n0 ** (1.0 - g)
        if b > 0:
            us = c / b
            u = us + (u0 - us) * np.exp(-(1.0 - g) * b * t)
        else:
            u = u0 + (1.0 - g) * c * t
        return np.maximum(u, 0.0) ** (1.0 / (1.0 - g))

    @staticmethod
    def time_to_fn(n0, n1, coefficient, exponent, loss_rate):
        c, g, b = coefficient, exponent, loss_rate
        if n1 <= n0:
            return 0.0
        if n0 <= 0:
            return math.inf  # no tumour never grows
        u0, u1 = n0 ** (1.0 - g), n1 ** (1.0 - g)
        if b > 0:
            us = c / b
            if u1 >= us:
                return math.inf
            return -math.log((u1 - us) / (u0 - us)) / ((1.0 - g) * b)
        return (u1 - u0) / ((1.0 - g) * c)


def make_law(name: str, params: dict[str, float]) -> GrowthLaw:
    """Build a law from its name and the scenario's parameter sub-table."""
    cls = LAWS.get(name)
    if cls is None:
        raise ScenarioError(f"unknown growth law {name!r}; known laws: {', '.join(sorted(LAWS))}"
                            f"{did_you_mean(str(name), LAWS)}", value=name)
    return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params})
