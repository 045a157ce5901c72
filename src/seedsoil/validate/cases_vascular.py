"""Validation case of the tumour–vasculature law (body/vascular.py): Hahnfeldt et al. 1999.

The published untreated steady state in closed form, and the published Lewis lung
carcinoma trajectory computed three ways: by the seedsoil law (Radau in log variables),
by the body model's primary on its grid (through a scenario, so with the conversion of d
to cells at ``cells.density``), and by the kernels' step function, each against an
independent DOP853 solve of the original equations in mm³.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

from ..scenario import Scenario
from . import Check, case

HAHNFELDT_SOURCE = ("Hahnfeldt P, Panigrahy D, Folkman J, Hlatky L. Tumor development under angiogenic signaling: "
                    "a dynamical theory of tumor growth, treatment response, and postvascular dormancy. Cancer Res "
                    "1999;59(19):4770-4775. PMID:10519381; model analysed in d'Onofrio A, Gandolfi A. Tumour "
                    "eradication by antiangiogenic therapy: analysis and extensions of the model by Hahnfeldt et al. "
                    "(1999). Math Biosci 2004;191(2):159-184. doi:10.1016/j.mbs.2004.06.003")
#: the published untreated Lewis lung carcinoma fit (volumes in mm³, rates per day; d per day per mm²)
HAHNFELDT = {"lambda1": 0.192, "b": 5.85, "d": 0.00873, "lambda2": 0.0, "V0": 180.0, "K0": 625.0}
#: days at which the trajectory is compared
DAYS = (2.0, 5.0, 10.0, 20.0, 40.0)
#: cells per mm³ used to carry the mm³ model into cells (the library default)
DENSITY = 1e5


def reference(days, lambda1=HAHNFELDT["lambda1"], b=HAHNFELDT["b"], d=HAHNFELDT["d"], lambda2=HAHNFELDT["lambda2"],
              v0=HAHNFELDT["V0"], k0=HAHNFELDT["K0"]):
    """(V, K) in mm³ at ``days``: DOP853 on the original equations (not in logs), rtol 1e-12."""
    def rhs(_t, y):
        v, k = y
        return [-lambda1 * v * math.log(v / k), -lambda2 * k + b * v - d * k * v ** (2.0 / 3.0)]

    days = np.asarray(days, dtype=float)
    sol = solve_ivp(rhs, (0.0, float(days[-1])), [v0, k0], t_eval=days, method="DOP853", rtol=1e-12,
                    atol=1e-9, dense_output=True)
    assert sol.success, sol.message
    return sol.y[0], sol.y[1], sol


def hahnfeldt_scenario(*, surgery_mm3: float | None = None) -> Scenario:
    """The published primary in seedsoil: 180 mm³ at t = 0 with K0/V0 = 625/180, colonies Gompertz."""
    h = HAHNFELDT
    data: dict = {
        "scenario": {"name": "hahnfeldt_1999"},
        "simulation": {"dt": 1.0, "follow_up": 60.0, "max_time": 60.0},
        "cells": {"density": DENSITY},
        "primary": {"initial_cells": h["V0"] * DENSITY, "law": "hahnfeldt",
                    "hahnfeldt": {"rate_constant": h["lambda1"], "stimulation": h["b"], "inhibition": h["d"],
                                  "vascular_loss": h["lambda2"], "support_ratio": h["K0"] / h["V0"]}},
        "colony": {"law": "gompertz"},
    }
    if surgery_mm3 is not None:
        data["surgery"] = {"primary_cells": surgery_mm3 * DENSITY}
    return Scenario.from_dict(data)


@case("hahnfeldt_1999", source=HAHNFELDT_SOURCE,
      description="Tumour–vasculature law: steady state (b/d)^(3/2), Lewis lung trajectory vs DOP853 (law, engine "
                  "primary, kernel step), surgery timing")
def hahnfeldt_case() -> list[Check]:
    from ..body.model import build_inputs
    from ..body.vascular import Hahnfeldt

    h = HAHNFELDT
    law = Hahnfeldt.from_volume_units(h["lambda1"], h["b"], h["d"], h["lambda2"], DENSITY)
    v0, k0 = h["V0"] * DENSITY, h["K0"] * DENSITY
    star = (h["b"] / h["d"]) ** 1.5  # mm³, λ2 = 0
    checks = [Check("steady state V* = K* = (b/d)^(3/2) (mm³): law vs closed form", star,
                    law.steady_state() / DENSITY, 1e-12)]
    v_end, k_end = law.trajectory(v0, k0, [0.0, 400.0])
    checks.append(Check("V(400 d) (mm³) reaches (b/d)^(3/2)", star, float(v_end[-1]) / DENSITY, 1e-7))
    checks.append(Check("K(400 d) (mm³) reaches (b/d)^(3/2)", star, float(k_end[-1]) / DENSITY, 1e-7))

    v_ref, k_ref, dense = reference((*DAYS, 48.0))
    v_law, k_law = law.trajectory(v0, k0, DAYS)
    inputs = build_inputs(hahnfeldt_scenario())
    v_grid = np.interp(DAYS, inputs.t, inputs.primary)  # the days are grid points (dt = 1)
    for i, day in enumerate(DAYS):
        checks.append(Check(f"V({day:g} d) mm³: law (Radau, logs) vs DOP853", float(v_ref[i]),
                            float(v_law[i]) / DENSITY, 1e-8))
        checks.append(Check(f"K({day:g} d) mm³: law (Radau, logs) vs DOP853", float(k_ref[i]),
                            float(k_law[i]) / DENSITY, 1e-8))
        checks.append(Check(f"V({day:g} d) mm³: engine primary (cells / density) vs DOP853", float(v_ref[i]),
                            float(v_grid[i]) / DENSITY, 1e-8))
    for dt in (1.0, 16.0):
        v, k, t, worst = v0, k0, 0.0, 0.0
        while t < 48.0 - 1e-9:
            v, k = law.step(v, k, dt)
            t += dt
            rv, rk = dense.sol(t)
            worst = max(worst, abs(v / DENSITY / float(rv) - 1.0), abs(k / DENSITY / float(rk) - 1.0))
        checks.append(Check(f"kernel step dt = {dt:g} d: largest relative error of V, K to day 48", 0.0, worst, 1e-6,
                            kind="abs"))

    # surgery when the primary reaches 10 000 mm³ (a 26.7 mm sphere): the DOP853 dense output's root
    target = 1e4
    sc = hahnfeldt_scenario(surgery_mm3=target)
    sched = build_inputs(sc).schedule
    lo, hi = 0.0, DAYS[-1]
    for _ in range(200):  # bisection on the reference's dense output (V increases up to day 40)
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if dense.sol(mid)[0] < target else (lo, mid)
    checks.append(Check("surgery day at V = 10 000 mm³: engine vs DOP853 root (days)", 0.5 * (lo + hi),
                        sched.surgery_day, 1e-6, kind="abs"))
    return checks
