"""Therapy effect sizes calibrated to published rate ratios, on the fitted population.

The adjuvant mechanisms' strengths (tamoxifen's growth and awakening inhibition, the
chemotherapy kill per unit growth) are assumptions the untreated training cohort cannot
inform. The randomised evidence can: the EBCTCG meta-analyses give recurrence rate ratios
of a therapy against none over a window of years. A ``[[calibrate]]`` table of a fit file
names library parameters (set together to one value), a therapy, the training patients it
applies to (e.g. ER-positive), the window and the target rate ratio with its source. On the
fitted population (the maximum-likelihood estimate), the model's rate ratio over [t1, t2],

    RR(v) = [Λ̄_T(t2) − Λ̄_T(t1)] / [Λ̄_0(t2) − Λ̄_0(t1)],   Λ̄ = −log(mean_i S_i),

S_i each patient's marginal distant-relapse-free probability with (T) and without (0) the
therapy, is solved for RR(v) = target by Brent's method over the parameter's range. When no
value in the range reaches the target, the value giving the nearest rate ratio is kept and
the calibration says so, with the attainable range: evidence of what the mechanism cannot
do. The calibrated values enter the fitted population's base scenario and its provenance.
The validation set is never used.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from .mechanistic import MechanisticModel, TherapyRule, predict_survival

YEAR = 365.25


@dataclass(frozen=True)
class Calibration:
    """One ``[[calibrate]]`` table (module docstring)."""

    parameters: tuple[str, ...]
    low: float
    high: float
    therapy: dict
    target_rate_ratio: float
    window_years: tuple[float, float]
    source: str
    patients: dict = dataclasses.field(default_factory=dict)  # column -> required value

    def select(self, data: pd.DataFrame) -> pd.DataFrame:
        mask = np.ones(len(data), dtype=bool)
        for col, value in self.patients.items():
            mask &= (data[col].astype(str) == str(value)).to_numpy()
        return data[mask].reset_index(drop=True)


def _with(model: MechanisticModel, names: tuple[str, ...], value: float) -> MechanisticModel:
    return dataclasses.replace(model, scenario=model.scenario.with_overrides({n: value for n in names}))


def rate_ratio(model: MechanisticModel, theta: np.ndarray, data: pd.DataFrame, cal: Calibration,
               value: float) -> float:
    """The model's rate ratio (module docstring) at parameter value ``value``."""
    grid = np.array([max(cal.window_years[0] * YEAR, 1.0), cal.window_years[1] * YEAR])
    m = _with(model, cal.parameters, value)
    untreated = dataclasses.replace(m, therapies=())
    treated = dataclasses.replace(m, therapies=(TherapyRule("_calibrate", dict(cal.therapy)),))
    d = data.assign(_calibrate=True)
    s0 = predict_survival(untreated, theta, d, grid).mean(0)
    s1 = predict_survival(treated, theta, d, grid).mean(0)
    l0, l1 = -np.log(s0), -np.log(s1)
    if cal.window_years[0] == 0.0:
        return float(l1[1] / l0[1])
    return float((l1[1] - l1[0]) / (l0[1] - l0[0]))


def calibrate(model: MechanisticModel, theta: np.ndarray, data: pd.DataFrame, cal: Calibration) -> dict:
    """Solve RR(v) = target over [low, high]; a record of the result (value, achieved, attainable)."""
    d = cal.select(data)
    if len(d) == 0:
        raise ValueError(f"calibrate {', '.join(cal.parameters)}: no training patient has {cal.patients}")
    f_lo = rate_ratio(model, theta, d, cal, cal.low) - cal.target_rate_ratio
    f_hi = rate_ratio(model, theta, d, cal, cal.high) - cal.target_rate_ratio
    rec: dict[str, Any] = {"parameters": list(cal.parameters), "target_rate_ratio": cal.target_rate_ratio,
                           "window_years": list(cal.window_years), "patients": dict(cal.patients), "n": len(d),
                           "source": cal.source, "therapy": dict(cal.therapy),
                           "attainable": [f_lo + cal.target_rate_ratio, f_hi + cal.target_rate_ratio]}
    if f_lo * f_hi <= 0:
        v = optimize.brentq(lambda x: rate_ratio(model, theta, d, cal, x) - cal.target_rate_ratio, cal.low, cal.high,
                            xtol=1e-4 * max(abs(cal.high), 1e-12), rtol=1e-6)
        rec.update(value=float(v), reached=True)
    else:
        v = cal.low if abs(f_lo) < abs(f_hi) else cal.high
        rec.update(value=float(v), reached=False)
    rec["achieved_rate_ratio"] = rate_ratio(model, theta, d, cal, rec["value"])
    return rec


def apply(model: MechanisticModel, records: list[dict]) -> MechanisticModel:
    """The model with the calibrated values set in its base scenario."""
    for r in records:
        model = _with(model, tuple(r["parameters"]), r["value"])
    return model


__all__ = ["Calibration", "apply", "calibrate", "rate_ratio"]

