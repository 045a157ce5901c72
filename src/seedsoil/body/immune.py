"""Tumour-immune dynamics at body scale: the Kuznetsov (1994) effector/tumour-cell model.

Kuznetsov VA, Makalkin IA, Taylor MA, Perelson AS. Nonlinear dynamics of immunogenic
tumors: parameter estimation and global bifurcation analysis. Bull Math Biol.
1994;56(2):295-321. doi:10.1007/BF02460644.

State ``y = [E, T]``: E is the number of cytotoxic effector cells in the tumour region,
T the number of tumour cells (both counts of cells); time is in days.

    dE/dt = s + p E T / (g + T) - m E T - d E
    dT/dt = a T (1 - b T) - n E T

The published parameters (BCL1 lymphoma in chimeric mice) give an immune-controlled
"dormant" state of a few million tumour cells next to an escape state near the carrying
capacity 1/b; see :func:`kuznetsov_equilibria`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from seedsoil.errors import ScenarioError

__all__ = [
    "KuznetsovParams",
    "Equilibrium",
    "effector_rate",
    "tumour_rate",
    "kuznetsov_rhs",
    "jacobian",
    "classify_stability",
    "kuznetsov_equilibria",
    "effector_steady_state",
    "STABILITY_LABELS",
]

#: Labels used by :func:`classify_stability` for hyperbolic equilibria.
STABILITY_LABELS = ("stable node", "stable focus", "saddle", "unstable node", "unstable focus")


@dataclass(frozen=True)
class KuznetsovParams:
    """Parameters of the Kuznetsov (1994) model. Time in days, cells as counts.

    s: effector-cell source rate (cells/day)
    p: maximal tumour-driven effector stimulation rate (1/day)
    g: tumour burden at half-maximal stimulation (cells)
    m: effector inactivation by tumour cells (1/(cell day))
    d: effector death rate (1/day)
    a: tumour intrinsic growth rate (1/day)
    b: inverse tumour carrying capacity (1/cell)
    n: tumour-cell kill rate by effectors (1/(cell day))
    """

    s: float
    p: float
    g: float
    m: float
    d: float
    a: float
    b: float
    n: float

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ScenarioError(
                    f"Kuznetsov parameter {f.name}={v!r} must be a finite number >= 0",
                    field=f"immune.{f.name}",
                    value=v,
                )
        for name in ("b", "n", "d"):
            if getattr(self, name) == 0:
                raise ScenarioError(
                    f"Kuznetsov parameter {name} must be > 0 (it sets a scale of the model); got 0",
                    field=f"immune.{name}",
                    value=0,
                )

    @classmethod
    def published(cls) -> "KuznetsovParams":
        """Values of Kuznetsov et al. 1994 (BCL1 lymphoma in chimeric mice)."""
        return cls(s=1.3e4, p=0.1245, g=2.019e7, m=3.422e-10, d=0.0412, a=0.18, b=2.0e-9, n=1.101e-7)


@dataclass(frozen=True)
class Equilibrium:
    """A steady state of the model: effector and tumour cell counts, Jacobian
    eigenvalues (1/day) and a stability label (see :func:`classify_stability`)."""

    effectors: float
    tumour_cells: float
    eigenvalues: tuple[complex, ...]
    stability: str


def effector_rate(E, T, s, p, g, m, d):
    """dE/dt in cells/day: source + tumour-driven recruitment - inactivation - death.

    Plain arithmetic, so E and T may be floats or numpy arrays (cells).
    """
    return s + p * E * T / (g + T) - m * E * T - d * E


def tumour_rate(E, T, a, b, n):
    """dT/dt in cells/day: logistic growth minus effector killing (arrays allowed)."""
    return a * T * (1 - b * T) - n * E * T


def kuznetsov_rhs(t: float, y: Sequence[float], params: KuznetsovParams) -> np.ndarray:
    """Right-hand side for :func:`scipy.integrate.solve_ivp`; y = [E, T] (cells), t in days."""
    E, T = y[0], y[1]
    q = params
    return np.array(
        [effector_rate(E, T, q.s, q.p, q.g, q.m, q.d), tumour_rate(E, T, q.a, q.b, q.n)],
        dtype=float,
    )


def jacobian(E: float, T: float, params: KuznetsovParams) -> np.ndarray:
    """Analytic 2x2 Jacobian d(dE/dt, dT/dt)/d(E, T) at (E, T), in 1/day."""
    q = params
    dEE = q.p * T / (q.g + T) - q.m * T - q.d
    dET = q.p * E * q.g / (q.g + T) ** 2 - q.m * E
    dTE = -q.n * T
    dTT = q.a - 2 * q.a * q.b * T - q.n * E
    return np.array([[dEE, dET], [dTE, dTT]], dtype=float)


def classify_stability(J: np.ndarray, rtol: float = 1e-12) -> str:
    """Label a 2x2 Jacobian: one of :data:`STABILITY_LABELS`, or 'non-hyperbolic' when an
    eigenvalue's real part is zero to within ``rtol`` of the Jacobian's scale."""
    J = np.asarray(J, dtype=float)
    tr = float(J[0, 0] + J[1, 1])
    det = float(J[0, 0] * J[1, 1] - J[0, 1] * J[1, 0])
    scale = max(float(np.max(np.abs(J))), 1e-300)
    if abs(det) <= rtol * scale * scale:
        return "non-hyperbolic"
    if det < 0:
        return "saddle"
    if abs(tr) <= rtol * scale:
        return "non-hyperbolic"
    disc = tr * tr - 4.0 * det
    kind = "focus" if disc < 0 else "node"
    return f"{'stable' if tr < 0 else 'unstable'} {kind}"


def _equilibrium(E: float, T: float, params: KuznetsovParams) -> Equilibrium:
    J = jacobian(E, T, params)
    eig = tuple(complex(v) for v in np.linalg.eigvals(J))
    return Equilibrium(float(E), float(T), eig, classify_stability(J))


def _interior_polynomial(params: KuznetsovParams) -> np.ndarray:
    """Coefficients (highest power first) of the cubic in x = b T whose roots in (0, 1)
    are the interior equilibria.

    On the tumour nullcline (T > 0) E = c (1 - x) with c = a/n. Substituting into
    dE/dt = 0 and multiplying by b (g + T) (> 0):
        s g b + s x + p c (1 - x) x - c (1 - x) (m x / b + d) (g b + x) = 0.
    Working in x = b T instead of T keeps the coefficients of similar size.
    """
    q = params
    c = q.a / q.n
    one_minus_x = np.array([-1.0, 1.0])
    source = np.array([q.s, q.s * q.g * q.b])
    recruit = q.p * c * np.polymul(one_minus_x, [1.0, 0.0])
    loss = c * np.polymul(np.polymul(one_minus_x, [q.m / q.b, q.d]), [1.0, q.g * q.b])
    return np.polysub(np.polyadd(source, recruit), loss)


def _polish(coef: np.ndarray, x: float, steps: int = 3) -> float:
    """A few Newton steps on the polynomial to recover digits numpy.roots may lose."""
    dcoef = np.polyder(coef)
    for _ in range(steps):
        fp = np.polyval(dcoef, x)
        if fp == 0:
            break
        x_new = x - np.polyval(coef, x) / fp
        if not math.isfinite(x_new):
            break
        x = x_new
    return float(x)


def kuznetsov_equilibria(params: KuznetsovParams) -> list[Equilibrium]:
    """All equilibria with E > 0, T >= 0, sorted by tumour size.

    The first is the tumour-free state (T = 0, E = s/d). Interior states (T > 0, E > 0)
    are the real roots in (0, 1/b) of the polynomial obtained by putting the tumour
    nullcline E = a (1 - b T)/n into dE/dt = 0 (see ``_interior_polynomial``), found
    with :func:`numpy.roots`.
    """
    q = params
    out = [_equilibrium(q.s / q.d, 0.0, q)]
    coef = np.trim_zeros(_interior_polynomial(q), "f")
    if coef.size < 2:
        return out
    xs = []
    for r in np.roots(coef):
        if abs(r.imag) > 1e-9 * max(abs(r), 1e-12):
            continue
        x = _polish(coef, float(r.real))
        if 0.0 < x < 1.0:
            xs.append(x)
    for x in sorted(xs):
        T = x / q.b
        E = q.a * (1.0 - x) / q.n
        out.append(_equilibrium(E, T, q))
    return out


def effector_steady_state(T, params: KuznetsovParams):
    """Effector count (cells) at which dE/dt = 0 for a tumour burden T held fixed (cells).

    dE/dt is linear in E: E* = s / (d + m T - p T/(g + T)). Where that denominator is
    <= 0 the tumour recruits effectors faster than they are lost and there is no
    finite steady state; ``inf`` is returned there. T may be a float or an array.
    """
    q = params
    T_arr = np.asarray(T, dtype=float)
    denom = q.d + q.m * T_arr - q.p * T_arr / (q.g + T_arr)
    with np.errstate(divide="ignore"):
        E = np.where(denom > 0, q.s / np.where(denom > 0, denom, 1.0), np.inf)
    if E.ndim == 0:
        return float(E)
    return E
