"""Validation case for the Kuznetsov (1994) tumour-immune model (``seedsoil.body.immune``).

The equilibria found by :func:`seedsoil.body.immune.kuznetsov_equilibria` (polynomial
roots, analytic Jacobian) are re-derived here by other means: a sign-change scan of the
reduced nullcline function on a log grid refined with Brent's method, a finite-difference
Jacobian of the equations as written in this file, and long ODE integrations.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from seedsoil.body.immune import KuznetsovParams, effector_rate, kuznetsov_equilibria
from seedsoil.validate import Check, case

SOURCE = (
    "Kuznetsov VA, Makalkin IA, Taylor MA, Perelson AS. Nonlinear dynamics of immunogenic "
    "tumors: parameter estimation and global bifurcation analysis. Bull Math Biol. "
    "1994;56(2):295-321. doi:10.1007/BF02460644"
)

#: Long-run integration used to confirm that stable equilibria attract (days).
SETTLE_DAYS = 5000.0
#: Relative offset of the starting point from a stable equilibrium.
START_OFFSET = 0.01


def _rhs(y: np.ndarray, q: KuznetsovParams) -> np.ndarray:
    """The model written out again here, independent of ``kuznetsov_rhs``."""
    E, T = float(y[0]), float(y[1])
    dE = q.s + q.p * E * T / (q.g + T) - q.m * E * T - q.d * E
    dT = q.a * T * (1.0 - q.b * T) - q.n * E * T
    return np.array([dE, dT])


def _fd_jacobian(E: float, T: float, q: KuznetsovParams) -> np.ndarray:
    """Central finite-difference Jacobian of :func:`_rhs`."""
    y0 = np.array([E, T], dtype=float)
    J = np.empty((2, 2))
    for j in range(2):
        h = 1e-6 * max(abs(y0[j]), 1.0)
        up, dn = y0.copy(), y0.copy()
        up[j] += h
        dn[j] -= h
        J[:, j] = (_rhs(up, q) - _rhs(dn, q)) / (2 * h)
    return J


def _label_from_eigenvalues(eig: np.ndarray) -> str:
    """Stability label from eigenvalue real/imaginary parts (not trace/determinant)."""
    re = np.real(eig)
    scale = float(np.max(np.abs(eig)))
    if np.any(re > 0) and np.any(re < 0):
        return "saddle"
    kind = "focus" if np.max(np.abs(np.imag(eig))) > 1e-9 * scale else "node"
    return f"{'stable' if np.all(re < 0) else 'unstable'} {kind}"


def scan_interior_equilibria(q: KuznetsovParams, points: int = 20001) -> list[tuple[float, float]]:
    """Interior equilibria (T, E) by sign changes of F(T) = dE/dt on the tumour nullcline.

    F(T) = effector_rate(a (1 - b T)/n, T, ...) is scanned on a log grid of T from
    1e-2 cells to 1/b and each bracketed root refined with :func:`scipy.optimize.brentq`.
    """

    def F(T: float) -> float:
        return float(effector_rate(q.a * (1.0 - q.b * T) / q.n, T, q.s, q.p, q.g, q.m, q.d))

    grid = np.logspace(-2.0, np.log10(1.0 / q.b), points)
    vals = np.array([F(T) for T in grid])
    roots: list[float] = []
    for i in range(points - 1):
        if vals[i] == 0.0:
            roots.append(float(grid[i]))
        elif vals[i] * vals[i + 1] < 0:
            roots.append(float(brentq(F, grid[i], grid[i + 1], xtol=1e-12, rtol=1e-15, maxiter=200)))
    return [(T, q.a * (1.0 - q.b * T) / q.n) for T in roots if 0.0 < T < 1.0 / q.b]


def _settle(q: KuznetsovParams, E0: float, T0: float) -> np.ndarray:
    sol = solve_ivp(
        lambda t, y: _rhs(y, q),
        (0.0, SETTLE_DAYS),
        [E0, T0],
        method="LSODA",
        rtol=1e-10,
        atol=1e-6,
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed from E={E0:g}, T={T0:g}: {sol.message}")
    return sol.y[:, -1]


@case(
    "kuznetsov_1994_equilibria",
    source=SOURCE,
    description=(
        "Equilibria of the published tumour-immune model: polynomial roots vs a log-grid "
        "Brent scan, stability vs a finite-difference Jacobian, stable states vs a "
        f"{SETTLE_DAYS:g}-day LSODA integration, and the immune-held dormant state."
    ),
)
def kuznetsov_1994_equilibria() -> list[Check]:
    q = KuznetsovParams.published()
    eqs = kuznetsov_equilibria(q)
    free, interior = eqs[0], eqs[1:]
    ref = scan_interior_equilibria(q)

    checks: list[Check] = [
        Check("number of interior equilibria (T>0, E>0)", len(ref), len(interior), 0.0, "abs"),
        Check("tumour-free E = s/d (cells)", q.s / q.d, free.effectors, 1e-12, "rel"),
        Check("tumour-free T (cells)", 0.0, free.tumour_cells, 0.0, "abs"),
    ]
    fd_label = _label_from_eigenvalues(np.linalg.eigvals(_fd_jacobian(free.effectors, 0.0, q)))
    # expected: the label from a finite-difference Jacobian; got: the model's own label
    checks.append(Check("tumour-free stability (finite-difference Jacobian vs model)", fd_label, free.stability,
                        0.0, "equal"))

    for i, (eq, (T_ref, E_ref)) in enumerate(zip(interior, ref), start=1):
        checks.append(Check(f"equilibrium {i}: T (cells)", T_ref, eq.tumour_cells, 1e-6, "rel"))
        checks.append(Check(f"equilibrium {i}: E (cells)", E_ref, eq.effectors, 1e-6, "rel"))
        fd_label = _label_from_eigenvalues(np.linalg.eigvals(_fd_jacobian(E_ref, T_ref, q)))
        checks.append(Check(f"equilibrium {i}: stability (finite-difference Jacobian vs model)", fd_label,
                            eq.stability, 0.0, "equal"))

    for i, eq in enumerate(eqs):
        if not eq.stability.startswith("stable"):
            continue
        E0 = eq.effectors * (1.0 + START_OFFSET)
        T0 = eq.tumour_cells * (1.0 - START_OFFSET)
        end = _settle(q, E0, T0)
        tag = "tumour-free" if i == 0 else f"equilibrium {i}"
        checks.append(Check(f"{tag}: T after {SETTLE_DAYS:g} d from 1% off", eq.tumour_cells, end[1], 1e-6, "rel"))
        checks.append(Check(f"{tag}: E after {SETTLE_DAYS:g} d from 1% off", eq.effectors, end[0], 1e-6, "rel"))

    stable_small = [e for e in interior if e.stability.startswith("stable")]
    dormant = min(stable_small, key=lambda e: e.tumour_cells) if stable_small else None
    checks.append(Check("a stable interior (dormant) equilibrium exists", True, dormant is not None, 0.0, "true"))
    checks.append(
        Check(
            "dormant state tumour size (cells)",
            (1e6, 1e7),
            dormant.tumour_cells if dormant is not None else float("nan"),
            0.0,
            "range",
        )
    )
    return checks
