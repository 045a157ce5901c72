"""Validation cases of the pharmacology package: the ruxolitinib preset against its label.

The preset's constants (V 72 L, t½ 3 h, F 0.95, ka for Tmax 1 h) come from the
Jakafi label; what is checked here are quantities the label reports *separately*
(Cmax and AUC over 5-200 mg) or that follow from it (accumulation at 12-hourly
dosing), measured on simulated concentration curves, not read from the parameters.
"""
from __future__ import annotations

import math

import numpy as np

from . import Check, case

JAKAFI_SOURCE = (
    "Jakafi (ruxolitinib) US prescribing information, section 12.3 (Incyte; single doses 5-200 mg in "
    "healthy subjects: Cmax 205-7100 nM, AUC 862-30700 nM·h, Tmax 1-2 h, t½ ~3 h); "
    "Shi JG et al. J Clin Pharmacol 2011;51(12):1644-1654, doi:10.1177/0091270010389469 (the single-dose "
    "study behind the label; the numbers are taken from the label)"
)

#: Label Cmax (nM) at the ends of the single-dose range, 5 and 200 mg.
CMAX_LABEL = {5.0: 205.0, 200.0: 7100.0}
#: Label AUC (nM·h) at 5 and 200 mg, as the label prints them (not checked against Shi 2011).
AUC_LABEL = {5.0: 862.0, 200.0: 30700.0}
#: Between-subject variability of ruxolitinib exposure is ~30 % CV (label: Vss CV 29 %), and the
#: preset is one mean patient with one compartment: cohort means are matched to ±30 %.
TOLERANCE = 0.30


def _single_dose(drug, dose_mg: float, t: np.ndarray) -> np.ndarray:
    from ..pharm import Schedule

    return drug.concentration(t, Schedule(dose_mg, 1.0, n_doses=1, route="oral"))


@case("ruxolitinib_pk", source=JAKAFI_SOURCE,
      description="The ruxolitinib preset's simulated curves: terminal half-life, Tmax, Cmax and AUC over "
                  "5-200 mg against the label, dose proportionality, and accumulation at 12-hourly dosing.")
def ruxolitinib_pk() -> list[Check]:
    from ..pharm import Schedule, preset

    rux = preset("ruxolitinib")
    t = np.linspace(0.0, 2.0, 192001)  # 2 days every 0.9 s: Tmax to ~1e-5 h
    checks: list[Check] = []

    # half-life from the log-linear terminal phase (12-24 h, absorption finished)
    tail = np.array([0.5, 0.625, 0.75, 0.875, 1.0])
    slope = np.polyfit(tail, np.log(_single_dose(rux, 20.0, tail)), 1)[0]
    checks.append(Check("terminal half-life from the curve (h), label ~3 h ±10%", 3.0,
                        math.log(2.0) / -slope * 24.0, 0.10, "rel"))

    c20 = _single_dose(rux, 20.0, t)
    checks.append(Check("Tmax (h), label 1-2 h", (1.0, 2.0), float(t[np.argmax(c20)] * 24.0), 0.0, "range"))

    cmax = {d: float(_single_dose(rux, d, t).max()) for d in (5.0, 25.0, 100.0, 200.0)}
    for d, label in CMAX_LABEL.items():
        checks.append(Check(f"Cmax at {d:g} mg (nM), label ±{TOLERANCE:.0%}", label, cmax[d], TOLERANCE, "rel"))
    for d in (25.0, 100.0):
        checks.append(Check(f"Cmax at {d:g} mg (nM) within the label's 205-7100 nM", (205.0, 7100.0), cmax[d],
                            0.0, "range"))
    per_mg = np.array([cmax[d] / d for d in cmax])
    checks.append(Check("Cmax proportional to dose (spread of Cmax/dose over 5-200 mg)", 0.0,
                        float(per_mg.max() / per_mg.min() - 1.0), 1e-9, "abs"))
    checks.append(Check("Cmax(200 mg)/Cmax(5 mg), label 7100/205", 7100.0 / 205.0, cmax[200.0] / cmax[5.0],
                        TOLERANCE, "rel"))

    # AUC(0-inf) by the trapezoid rule on the curve plus the extrapolated tail
    for d, label in AUC_LABEL.items():
        c = _single_dose(rux, d, t)
        auc = float(np.sum(0.5 * (c[1:] + c[:-1]) * np.diff(t)) + c[-1] / (-slope)) * 24.0
        checks.append(Check(f"AUC at {d:g} mg (nM·h), label ±{TOLERANCE:.0%} [U]", label, auc, TOLERANCE, "rel"))

    # accumulation at 20 mg q12h: trough after 30 days over trough after the first dose
    tau = 0.5
    first = float(_single_dose(rux, 20.0, np.array([tau]))[0])
    many = rux.concentration(np.array([60 * tau]), Schedule(20.0, tau, n_doses=60, route="oral"))[0]
    checks.append(Check("accumulation of troughs at q12h, 1/(1 − 2^-4) from t½ 3 h", 1.0 / (1.0 - 2.0 ** -4),
                        float(many / first), 0.01, "rel"))
    return checks
