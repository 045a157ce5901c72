"""Rosenbrock methods as tableaux,.

A method is declared by its coefficients, in the formulation of
the Kinetic PreProcessor (Sandu et al. 1997, Atmos Environ 31:3459,
doi:10.1016/S1352-2310(97)83212-8; Damian et al. 2002, doi:10.1016/S0098-1354(02)00128-X):

    G = I / (h γ₁) − J
    G kᵢ = f(t + αᵢ h, y + Σⱼ aᵢⱼ kⱼ) + Σⱼ (cᵢⱼ / h) kⱼ + h γᵢ ∂f/∂t
    y₁ = y + Σ mᵢ kᵢ,   error = Σ eᵢ kᵢ

The stepping loop, the right-hand side, the Jacobian and a sparse LU of G are
generated per network (``_codegen``), so they are direct calls that numba can
inline and cache.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np



@dataclass(frozen=True)
class RosenbrockTableau:
    name: str
    stages: int
    a: tuple[float, ...]  # strictly lower triangle, row-wise: a21, a31, a32, a41, ...
    c: tuple[float, ...]
    m: tuple[float, ...]
    e: tuple[float, ...]
    alpha: tuple[float, ...]
    gamma: tuple[float, ...]
    new_f: tuple[bool, ...]
    order: int  # order of the main method (for convergence tests)
    elo: float  # estimator of local order: min(main, embedded) + 1

    def arrays(self) -> tuple[np.ndarray, ...]:
        s = self.stages
        A = np.zeros((s, s))
        C = np.zeros((s, s))
        k = 0
        for i in range(1, s):
            for j in range(i):
                A[i, j] = self.a[k]
                C[i, j] = self.c[k]
                k += 1
        return (A, C, np.array(self.m), np.array(self.e), np.array(self.alpha), np.array(self.gamma),
                np.array(self.new_f, dtype=np.bool_))


#: Hairer & Wanner's RODAS4 (6 stages, order 4, stiffly accurate, embedded order 3).
RODAS4 = RosenbrockTableau(
    name="rodas4", stages=6,
    a=(1.544, 0.9466785280815826, 0.2557011698983284, 3.314825187068521, 2.896124015972201,
       0.9986419139977817, 1.221224509226641, 6.019134481288629, 12.53708332932087, -0.687886036105895,
       1.221224509226641, 6.019134481288629, 12.53708332932087, -0.687886036105895, 1.0),
    c=(-5.6688, -2.430093356833875, -0.2063599157091915, -0.1073529058151375, -9.594562251023355,
       -20.47028614809616, 7.496443313967647, -10.24680431464352, -33.99990352819905, 11.7089089320616,
       8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054),
    m=(1.221224509226641, 6.019134481288629, 12.53708332932087, -0.687886036105895, 1.0, 1.0),
    e=(0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    alpha=(0.0, 0.386, 0.21, 0.63, 1.0, 1.0),
    gamma=(0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0),
    new_f=(True, True, True, True, True, True),
    order=4, elo=4.0,
)

#: Sandu et al.'s ROS3 (3 stages, order 3, L-stable, 2 function evaluations).
ROS3 = RosenbrockTableau(
    name="ros3", stages=3,
    a=(1.0, 1.0, 0.0),
    c=(-1.0156171083877702, 4.07599564525377, 9.20767942983308),
    m=(1.0, 6.169794704382825, -0.4277225654321857),
    e=(0.5, -2.907955871680547, 0.2235406989781157),
    alpha=(0.0, 0.435866521508459, 0.435866521508459),
    gamma=(0.435866521508459, 0.242919964548168, 2.185138002766406),
    new_f=(True, True, False),
    order=3, elo=3.0,
)

#: Sandu et al.'s RODAS3 (4 stages, order 3, stiffly accurate).
RODAS3 = RosenbrockTableau(
    name="rodas3", stages=4,
    a=(0.0, 2.0, 0.0, 2.0, 0.0, 1.0),
    c=(4.0, 1.0, -1.0, 1.0, -1.0, -8.0 / 3.0),
    m=(2.0, 0.0, 1.0, 1.0),
    e=(0.0, 0.0, 0.0, 1.0),
    alpha=(0.0, 0.0, 1.0, 1.0),
    gamma=(0.5, 1.5, 0.0, 0.0),
    new_f=(True, False, True, True),
    order=3, elo=3.0,
)

METHODS = {t.name: t for t in (RODAS4, RODAS3, ROS3)}

