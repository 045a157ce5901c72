"""The Hahnfeldt et al. 1999 tumour–vasculature law: tumour volume V and its vascular support K.

Hahnfeldt P, Panigrahy D, Folkman J, Hlatky L. Tumor development under angiogenic
signaling: a dynamical theory of tumor growth, treatment response, and postvascular
dormancy. Cancer Res 1999;59(19):4770-4775 (PMID:10519381)::

    dV/dt = −λ1 V ln(V/K)
    dK/dt = −λ2 K + b V − d K V^(2/3)

V is the tumour, K its carrying capacity ("effective vascular support"): Gompertz growth
towards a plateau that itself grows with the angiogenic stimulus b V and shrinks with the
endogenous inhibition d K V^(2/3) (and the spontaneous vessel loss λ2). Published fit,
untreated Lewis lung carcinoma in mice: λ1 = 0.192 /day, b = 5.85 /day,
d = 0.00873 /(day·mm²), λ2 = 0, from V0 = 180 mm³, K0 = 625 mm³.

**Units.** The paper's V and K are volumes (mm³). seedsoil counts cells, N = ρ V with
ρ = ``cells.density`` (cells/mm³). λ1, λ2 and b are rates (b V and K have the same unit,
so b is 1/day whatever that unit is) and do not change. d multiplies K V^(2/3), so

    d_cells = d_mm · ρ^(−2/3)     (1/(day·cells^(2/3)) from 1/(day·mm²))

(:func:`inhibition_in_cells`). The class holds the internal (cell) values.

**Steady state.** dV/dt = 0 with V > 0 needs V = K; then dK/dt = K (b − λ2 − d K^(2/3)) = 0
gives V* = K* = ((b − λ2)/d)^(3/2) when b > λ2 (in mm³: (5.85/0.00873)^(3/2) = 17 347 mm³
for the published fit; in cells ρ times that). For b ≤ λ2 the only equilibrium is 0.
Linearised in u = ln V, w = ln K the Jacobian there is [[−λ1, λ1], [(b + 2λ2)/3, −b]]:
trace −(λ1 + b) < 0, determinant (2/3) λ1 (b − λ2) > 0 and discriminant
(λ1 + b)² − (8/3) λ1 (b − λ2) > 0, so a stable node (real eigenvalues; −0.127 and
−5.92 /day for the fit).

**Trajectories** (:meth:`Hahnfeldt.trajectory`, :meth:`Hahnfeldt.time_to`) are solved
with scipy's Radau (implicit, for the fast relaxation of K at rate ~b) in the log
variables u = ln V, w = ln K::

    du/dt = −λ1 (u − w)
    dw/dt = −λ2 + b e^(u−w) − d e^(2u/3)

at rtol = atol = 1e-10 (atol on logs is a relative tolerance on V and K), with the
analytic Jacobian. Against DOP853 at rtol 1e-13 the relative error of V and K on a
daily grid is below 1e-8 (tests/test_vascular.py).

**The kernels' step** :func:`vascular_step` advances (V, K) by dt without scipy. Each
half of the system has an exact flow: with K frozen, V follows the Gompertz closed
form ln V(t) = ln K + (ln V0 − ln K) e^(−λ1 t); with V frozen, K is linear,
K(t) = K e^(−a t) + b V (1 − e^(−a t))/a with a = λ2 + d V^(2/3). A substep of length h is
the symmetric (Strang) composition K h/2 · V h · K h/2, positive and stable for any h,
second order, and keeping (V*, K*) fixed exactly. Being symmetric its error expands in
even powers of h, so one Richardson extrapolation in the logs of n and 2n substeps,
ln y = (4 ln y_2n − ln y_n)/3, is fourth order (:func:`vascular_substeps`; the observed
order is checked in tests/test_vascular.py). :func:`vascular_step` picks
n = ceil(dt · s / SUBSTEP_SCALE) from the stiffness at the start of the step,
s = λ1 (1 + |ln(V/K)|) + λ2 + d V^(2/3) + b max(1, V/K). Relative error against the
scipy trajectory, published fit, 80 days from (180, 625) mm³ and from 1 cell with
K0/V0 = 625/180, from (180, 1.8) and (180, 18000) mm³, with λ2 = 0 and 0.1:
≤ 2e-7 at dt = 1 day and at dt = 16 days (about 33 Strang substeps per day of
simulated time at the steady state).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, NamedTuple

import numpy as np

from .._jit import jit
from ..errors import ScenarioError

#: the scenario name of the law (``primary.law = "hahnfeldt"``)
NAME = "hahnfeldt"
#: laws of ``primary.law`` that are not 1-D growth laws (body/growth.py ``LAWS``) but tumour–vasculature systems
PRIMARY_LAWS = (NAME,)
#: :func:`vascular_step`: substeps so that h · (stiffness) <= SUBSTEP_SCALE
SUBSTEP_SCALE = 1.0
#: :func:`vascular_step`: at most this many substeps per call (and the count for K = 0)
MAX_SUBSTEPS = 4096
#: scipy tolerances of :meth:`Hahnfeldt.trajectory` and :meth:`Hahnfeldt.time_to` (on ln V, ln K)
RTOL = 1e-10
ATOL = 1e-10
#: :meth:`Hahnfeldt.time_to` gives up (inf) after this many days
HORIZON_DAYS = 1e5
#: :meth:`Hahnfeldt.time_to`: the trajectory counts as at its steady state within this distance in (ln V, ln K)
_CONVERGED = 1e-9


def inhibition_in_cells(inhibition_per_mm2: float, density: float) -> float:
    """d in 1/(day·cells^(2/3)) from d in 1/(day·mm²) at ``density`` cells/mm³: d ρ^(−2/3)."""
    return inhibition_per_mm2 * density ** (-2.0 / 3.0)


class HahnfeldtParams(NamedTuple):
    """The law's parameters in the order :func:`vascular_step` takes them (internal units)."""

    rate_constant: float
    stimulation: float
    inhibition: float
    vascular_loss: float


@dataclass(frozen=True)
class Hahnfeldt:
    """The Hahnfeldt 1999 system in internal units (cells, days); module docstring.

    ``rate_constant`` λ1 (1/day), ``stimulation`` b (1/day), ``inhibition`` d
    (1/(day·cells^(2/3)); :meth:`from_volume_units` converts the paper's 1/(day·mm²)),
    ``vascular_loss`` λ2 (1/day).
    """

    rate_constant: float
    stimulation: float
    inhibition: float
    vascular_loss: float = 0.0
    name: ClassVar[str] = NAME
    units: ClassVar[dict[str, str]] = {"rate_constant": "1/day", "stimulation": "1/day",
                                       "inhibition": "1/(day*cells^(2/3))", "vascular_loss": "1/day"}

    def __post_init__(self) -> None:
        for name in self.units:
            x = float(getattr(self, name))
            if not math.isfinite(x) or x < 0 or (name == "rate_constant" and x == 0):
                raise ValueError(f"Hahnfeldt.{name} = {x!r}: must be finite and "
                                 f"{'> 0' if name == 'rate_constant' else '>= 0'}")

    @classmethod
    def from_volume_units(cls, rate_constant: float, stimulation: float, inhibition: float,
                          vascular_loss: float, density: float) -> "Hahnfeldt":
        """The law with d given per mm² (as published), for volumes counted at ``density`` cells/mm³."""
        return cls(rate_constant, stimulation, inhibition_in_cells(inhibition, density), vascular_loss)

    def kernel_params(self) -> HahnfeldtParams:
        """(λ1, b, d, λ2) as floats: ``vascular_step(v, k, dt, *law.kernel_params())``."""
        return HahnfeldtParams(float(self.rate_constant), float(self.stimulation), float(self.inhibition),
                               float(self.vascular_loss))

    def parameters(self) -> dict[str, float]:
        return dict(self.kernel_params()._asdict())

    # ---------------------------------------------------------------- closed forms
    def rhs(self, v, k):
        """(dV/dt, dK/dt) in cells/day at V = v, K = k (numbers or arrays of one shape)."""
        v = np.asarray(v, dtype=float)
        k = np.asarray(k, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            dv = np.where(v > 0, -self.rate_constant * v * np.log(v / k), 0.0)
        dk = -self.vascular_loss * k + self.stimulation * v - self.inhibition * k * np.cbrt(v) ** 2
        return dv, dk

    def steady_state(self) -> float:
        """V* = K* = ((b − λ2)/d)^(3/2) cells (inf when d = 0, 0 when b <= λ2)."""
        net = self.stimulation - self.vascular_loss
        if net <= 0:
            return 0.0
        if self.inhibition == 0:
            return math.inf
        return (net / self.inhibition) ** 1.5

    def eigenvalues(self) -> tuple[float, float]:
        """The two (real, negative) rates (1/day) of the linearisation at the steady state (b > λ2)."""
        l1, b, l2 = self.rate_constant, self.stimulation, self.vascular_loss
        if b <= l2:
            raise ValueError("no positive steady state (stimulation <= vascular_loss)")
        tr = -(l1 + b)
        det = 2.0 / 3.0 * l1 * (b - l2)
        root = math.sqrt(tr * tr - 4.0 * det)
        return (0.5 * (tr + root), 0.5 * (tr - root))

    # ---------------------------------------------------------------- numerical solutions
    def _log_rhs(self, _t: float, y: np.ndarray) -> list[float]:
        u, w = y
        return [-self.rate_constant * (u - w),
                -self.vascular_loss + self.stimulation * math.exp(u - w) - self.inhibition * math.exp(2.0 * u / 3.0)]

    def _log_jac(self, _t: float, y: np.ndarray) -> list[list[float]]:
        u, w = y
        s = self.stimulation * math.exp(u - w)
        return [[-self.rate_constant, self.rate_constant],
                [s - 2.0 / 3.0 * self.inhibition * math.exp(2.0 * u / 3.0), -s]]

    def _solve(self, v0: float, k0: float, t_end: float, **kwargs: Any):
        from scipy.integrate import solve_ivp

        sol = solve_ivp(self._log_rhs, (0.0, t_end), [math.log(v0), math.log(k0)], method="Radau",
                        jac=self._log_jac, rtol=RTOL, atol=ATOL, **kwargs)
        if sol.status < 0:
            raise RuntimeError(f"Hahnfeldt trajectory from V0 = {v0:g}, K0 = {k0:g}: {sol.message}")
        return sol

    def trajectory(self, v0: float, k0: float, t) -> tuple[np.ndarray, np.ndarray]:
        """(V(t), K(t)) in cells from (v0, k0) at t = 0, at the times ``t`` (days, >= 0, non-decreasing).

        With v0 = 0 there is no tumour: V = 0 and K = k0 e^(−λ2 t).
        """
        t = np.asarray(t, dtype=float)
        flat = np.atleast_1d(t).ravel()
        if flat.size and (flat[0] < 0 or np.any(np.diff(flat) < 0)):
            raise ValueError("trajectory: times must be >= 0 and non-decreasing")
        if not (v0 >= 0 and k0 >= 0):
            raise ValueError(f"trajectory: V0 = {v0!r}, K0 = {k0!r} must be >= 0")
        if v0 == 0 or flat.size == 0:
            return np.zeros(t.shape), k0 * np.exp(-self.vascular_loss * t)
        if k0 == 0:
            raise ValueError("trajectory: K0 = 0 with a tumour (V0 > 0): ln(V/K) is undefined; give K0 > 0")
        v = np.empty(flat.shape)
        k = np.empty(flat.shape)
        at0 = flat == 0.0
        v[at0], k[at0] = v0, k0
        if (~at0).any():
            sol = self._solve(v0, k0, float(flat[-1]), t_eval=flat[~at0])
            v[~at0], k[~at0] = np.exp(sol.y[0]), np.exp(sol.y[1])
        return v.reshape(t.shape), k.reshape(t.shape)

    def time_to(self, v0: float, k0: float, v1: float) -> float:
        """Days until V first reaches v1 from (v0, k0): 0 if v1 <= v0, ``inf`` if never.

        The root is found on the Radau dense output (scipy's event location). "Never" is
        decided when the trajectory has settled within 1e-9 of its steady state in
        (ln V, ln K) below v1 (so a level within ~1e-8 relative of V* counts as never
        reached), or after :data:`HORIZON_DAYS`.
        """
        if v1 <= v0:
            return 0.0
        if v0 <= 0:
            return math.inf
        if k0 <= 0:
            raise ValueError("time_to: K0 = 0 with a tumour (V0 > 0); give K0 > 0")
        target = math.log(v1)
        star = self.steady_state()

        def reach(_t, y):
            return y[0] - target
        reach.terminal = True  # type: ignore[attr-defined]
        reach.direction = 1.0  # type: ignore[attr-defined]
        events = [reach]
        if 0 < star < math.inf and v1 > star:
            ls = math.log(star)

            def settled(_t, y):
                return abs(y[0] - ls) + abs(y[1] - ls) - _CONVERGED
            settled.terminal = True  # type: ignore[attr-defined]
            settled.direction = -1.0  # type: ignore[attr-defined]
            events.append(settled)
        sol = self._solve(v0, k0, HORIZON_DAYS, events=events)
        hit = sol.t_events[0]
        return float(hit[0]) if hit.size else math.inf

    def step(self, v: float, k: float, dt: float) -> tuple[float, float]:
        """:func:`vascular_step` with this law's parameters (the kernels' step, from Python)."""
        return vascular_step(float(v), float(k), float(dt), *self.kernel_params())


# ---------------------------------------------------------------------------- the primary tumour
@dataclass(frozen=True)
class VascularPrimary:
    """The primary tumour under :class:`Hahnfeldt`: K0 = ``support_ratio`` · N0.

    Offers what the body model asks of a primary growth law: ``name``,
    ``solution(n0, t)`` (cells on a time grid) and ``time_to(n0, n1)`` (surgery timing);
    ``support(n0, t)`` is K(t). It has no ``kernel_params``: it is not a colony law.
    """

    law: Hahnfeldt
    support_ratio: float
    name: str = field(default=NAME, init=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.support_ratio) and self.support_ratio > 0):
            raise ValueError(f"support_ratio = {self.support_ratio!r}: must be finite and > 0")

    def solution(self, n0: float, t) -> np.ndarray:
        """Primary cells V(t) from n0 cells (and K0 = support_ratio · n0) at t = 0."""
        return self.law.trajectory(n0, self.support_ratio * n0, t)[0]

    def support(self, n0: float, t) -> np.ndarray:
        """Vascular support K(t) (cells) along the same trajectory."""
        return self.law.trajectory(n0, self.support_ratio * n0, t)[1]

    def time_to(self, n0: float, n1: float) -> float:
        """Days from n0 cells to n1 cells (0 if n1 <= n0, inf if never)."""
        return self.law.time_to(n0, self.support_ratio * n0, n1)

    def plateau(self) -> float:
        """The size (cells) the untreated primary settles at: the steady state V*."""
        return self.law.steady_state()

    def parameters(self) -> dict[str, float]:
        return {**self.law.parameters(), "support_ratio": float(self.support_ratio)}


def law_from_parameters(p: Mapping[str, Any], group: str) -> Hahnfeldt:
    """The law of a scenario's ``<group>.hahnfeldt.*`` entries (published units, d per mm²)
    converted at ``cells.density``; ``group`` is ``"primary"`` or ``"colony"``."""
    q = f"{group}.{NAME}."
    return Hahnfeldt.from_volume_units(p[q + "rate_constant"], p[q + "stimulation"], p[q + "inhibition"],
                                       p[q + "vascular_loss"], p["cells.density"])


def primary_from_parameters(p: Mapping[str, Any]) -> VascularPrimary:
    """The primary of a scenario's parameters with ``primary.law = "hahnfeldt"``."""
    return VascularPrimary(law_from_parameters(p, "primary"), p[f"primary.{NAME}.support_ratio"])


def check_colony_law(p: Mapping[str, Any]) -> None:
    """ScenarioError if colonies would get a tumour–vasculature law: colonies grow by the 1-D laws
    of body/growth.py (their kernels' ``law_solution``) until the angiogenic switch reaches them."""
    name = p["colony.law"]
    if name in PRIMARY_LAWS:
        raise ScenarioError(f"colony.law = {name!r}: colonies cannot follow the {name} tumour–vasculature law yet; "
                            "choose exponential, logistic, gompertz or power_law", field="colony.law", value=name)
    if name == "same_as_primary" and p["primary.law"] in PRIMARY_LAWS:
        raise ScenarioError(f"colony.law = 'same_as_primary' with primary.law = {p['primary.law']!r}: colonies cannot "
                            "follow the tumour–vasculature law yet; set colony.law to exponential, logistic, gompertz "
                            "or power_law", field="colony.law", value=name)


# ---------------------------------------------------------------------------- the kernels' step
@jit
def _k_flow(v, k, h, stimulation, inhibition, vascular_loss):
    """K after h days with V frozen: K e^(−a h) + b V (1 − e^(−a h))/a, a = λ2 + d V^(2/3)."""
    a = vascular_loss + inhibition * math.exp(2.0 / 3.0 * math.log(v))
    x = a * h
    growth = h if x == 0.0 else -math.expm1(-x) / a
    return k * math.exp(-x) + stimulation * v * growth


@jit
def _strang(u, k, dt, n, rate_constant, stimulation, inhibition, vascular_loss):
    """n Strang substeps K h/2 · V h · K h/2 (h = dt/n), the inner K half-steps merged; (ln V, K) in and out."""
    h = dt / n
    decay = math.exp(-rate_constant * h)
    k = _k_flow(math.exp(u), k, 0.5 * h, stimulation, inhibition, vascular_loss)
    for i in range(n):
        w = math.log(k)
        u = w + (u - w) * decay
        k = _k_flow(math.exp(u), k, h if i < n - 1 else 0.5 * h, stimulation, inhibition, vascular_loss)
    return u, k


@jit
def vascular_substeps(v, k, dt, n, rate_constant, stimulation, inhibition, vascular_loss):
    """(V, K) after dt days from (v, k): n and 2n Strang substeps, Richardson-extrapolated in the logs
    (fourth order in dt/n). v <= 0: (0, k e^(−λ2 dt)). k <= 0 with v > 0 is allowed (K is built first)."""
    if v <= 0.0:
        return 0.0, max(k, 0.0) * math.exp(-vascular_loss * dt)
    if dt <= 0.0:
        return v, k
    k = max(k, 0.0)
    u = math.log(v)
    u1, k1 = _strang(u, k, dt, n, rate_constant, stimulation, inhibition, vascular_loss)
    u2, k2 = _strang(u, k, dt, 2 * n, rate_constant, stimulation, inhibition, vascular_loss)
    return math.exp((4.0 * u2 - u1) / 3.0), math.exp((4.0 * math.log(k2) - math.log(k1)) / 3.0)


@jit
def substeps_for(v, k, dt, rate_constant, stimulation, inhibition, vascular_loss):
    """The substep count :func:`vascular_step` uses: ceil(dt s / SUBSTEP_SCALE), 1..MAX_SUBSTEPS (module docstring)."""
    if v <= 0.0 or dt <= 0.0:
        return 1
    if k <= 0.0:
        return MAX_SUBSTEPS
    r = v / k
    s = (rate_constant * (1.0 + abs(math.log(r))) + vascular_loss + inhibition * math.exp(2.0 / 3.0 * math.log(v))
         + stimulation * max(1.0, r))
    x = dt * s / SUBSTEP_SCALE
    if not x < MAX_SUBSTEPS:
        return MAX_SUBSTEPS
    return max(1, int(math.ceil(x)))


@jit
def vascular_step(v, k, dt, rate_constant, stimulation, inhibition, vascular_loss):
    """(V, K) after dt days from V = v, K = k (cells) under the Hahnfeldt law; plain floats in and out.

    For numba kernels (call with ``*law.kernel_params()``) and from Python. Accuracy: module docstring.
    """
    n = substeps_for(v, k, dt, rate_constant, stimulation, inhibition, vascular_loss)
    return vascular_substeps(v, k, dt, n, rate_constant, stimulation, inhibition, vascular_loss)
