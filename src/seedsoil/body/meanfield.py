"""Mean-field engine: expected colony-size density with a dormant compartment.

Solves the Iwata-type transport equation of ``_kernels_meanfield`` on a
log-size grid and returns a :class:`PatientResult` whose numbers are
expectations. Its ``colonies`` table is the expected size distribution
(colonies per size bin) at surgery and at the end, not individual colonies.
Relapse day is when one detectable metastasis is expected to have appeared
after surgery; ``relapse_probability`` = 1 − exp(−expected number), the Poisson
approximation.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from . import _kernels_meanfield as MK
from .growth import Gompertz, Logistic
from .model import BodyInputs
from .result import STATUS_TEXT, PatientResult
from .summary import build_events, build_summary

CFL = 0.9


def grid_top(inputs: BodyInputs) -> float:
    """ln of the largest colony size the grid must hold."""
    p = inputs.scenario.parameters
    top = p["cells.lethal_burden"]
    law = inputs.colony_law
    if isinstance(law, (Gompertz, Logistic)):
        top = min(top, law.carrying_capacity)  # type: ignore[attr-defined]
    return math.log(max(top, 2.0 * inputs.detect_cells, 10.0))


def run(inputs: BodyInputs, n_cells: int | None = None):
    sc = inputs.scenario
    if sc.parameters.get("angiogenesis.enabled", False):
        raise ScenarioError("angiogenesis.enabled = true: the mean-field engine has one colony size per lesion and "
                            "no vascular support K, so it cannot follow the angiogenic switch; use engine = "
                            "\"stochastic\" or \"analytic\"", field="angiogenesis.enabled", value=True)
    if inputs.residual_cells > 0.0:
        raise ScenarioError(f"local.residual_fraction = {sc.parameters['local.residual_fraction']:g}: the mean-field "
                            "engine does not follow residual disease at the surgical site (local recurrence); use "
                            "engine = \"stochastic\" or \"analytic\"", field="local.residual_fraction",
                            value=sc.parameters["local.residual_fraction"])
    n_cells = int(n_cells or sc.simulation.grid_cells)
    stride = max(int(round(sc.output.record_every / inputs.dt)), 1)
    return MK.run_meanfield(inputs.t, inputs.shed_primary, inputs.injected, inputs.suppression,
                            inputs.immune_kill_factor, inputs.invasion_factor, inputs.growth_inhibition,
                            inputs.activation_factor, inputs.primary, inputs.par,
                            inputs.colony_law.kernel_params(), n_cells, grid_top(inputs),
                            stride, CFL)


def size_distribution(n_p: np.ndarray, n_q: np.ndarray, y_max: float, day: float, label: str) -> pd.DataFrame:
    n = n_p.shape[0]
    dy = y_max / n
    edges = np.exp(np.arange(n + 1) * dy)
    return pd.DataFrame({"when": label, "day": day, "size_low": edges[:-1], "size_high": edges[1:],
                         "proliferating": n_p, "dormant": n_q})


def simulate_meanfield(inputs: BodyInputs, n_cells: int | None = None) -> PatientResult:
    t0 = time.perf_counter()
    rec, sp, sq, ep, eq, out = run(inputs, n_cells)
    t1 = time.perf_counter()
    ts = pd.DataFrame({
        "day": rec[:, MK.M_T],
        "primary_cells": rec[:, MK.M_PRIMARY],
        "ctc_cells": rec[:, MK.M_CTC],
        "dormant_cells": rec[:, MK.M_DORMANT_CELLS],
        "colonies_proliferating": rec[:, MK.M_COL_PROLIF],
        "colonies_dormant": rec[:, MK.M_COL_DORMANT],
        "metastatic_cells": rec[:, MK.M_MET_CELLS],
        "effector_cells": rec[:, MK.M_E],
        "inflammation_nM": np.interp(rec[:, MK.M_T], inputs.t, inputs.inflammation),
        "cells_shed": rec[:, MK.M_SHED],
        "cells_arrived": rec[:, MK.M_ARRIVED],
        "cells_died": rec[:, MK.M_DIED],
        "ctc_died": rec[:, MK.M_CTC_DIED],
        "cells_injected": rec[:, MK.M_INJECTED],
        "colonies_started": rec[:, MK.M_STARTED],
        "detectable_metastases": rec[:, MK.M_DETECTABLE],
        "largest_colony_cells": rec[:, MK.M_LARGEST],
        "colonies_extinct": rec[:, MK.M_EXTINCT],
        "expected_detections_after_surgery": rec[:, MK.M_DETECT_FLUX],
    })
    y_max = grid_top(inputs)
    end_day = float(out[MK.MO_END_T])
    parts = []
    if out[MK.MO_SNAP_STEP] >= 0:
        parts.append(size_distribution(sp, sq, y_max, float(inputs.t[int(out[MK.MO_SNAP_STEP])]), "surgery"))
    parts.append(size_distribution(ep, eq, y_max, end_day, "end"))
    dist = pd.concat(parts, ignore_index=True)
    sched = inputs.schedule
    snap = _snapshot(ts, sched.surgery_day)
    status = STATUS_TEXT[int(out[MK.MO_STATUS])]
    outd = {"end_day": end_day, "death_day": float(out[MK.MO_DEATH_T]),
            "relapse_day": float(out[MK.MO_RELAPSE_T]), "relapse_colony": -1}
    empty = pd.DataFrame({"colony_id": pd.Series([], dtype=np.int64), "detected_day": pd.Series([], dtype=float)})
    summary = build_summary(inputs, ts.iloc[-1], float(ts["detectable_metastases"].iloc[-1]), snap, outd, status)
    lam = float(ts["expected_detections_after_surgery"].iloc[-1])
    summary["expected_detections_after_surgery"] = lam
    summary["relapse_probability"] = 1.0 - math.exp(-lam)
    summary["grid_outflow_top"] = float(out[MK.MO_OUTFLOW_RIGHT])
    summary["residual_cells_at_surgery"] = 0.0 if math.isfinite(inputs.schedule.surgery_day) else math.nan
    events = build_events(inputs, empty, summary)
    return PatientResult(scenario=inputs.scenario, seed=None, engine="meanfield", timeseries=ts, colonies=dist,
                         events=events, summary=summary,
                         timings={"kernel_s": t1 - t0, "total_s": time.perf_counter() - t0})


def _snapshot(ts: pd.DataFrame, surgery_day: float) -> dict[str, float]:
    if not math.isfinite(surgery_day) or surgery_day > ts["day"].iloc[-1]:
        keys = ["shed_before_surgery", "arrived_before_surgery", "colonies_started_before_surgery",
                "dormant_cells_at_surgery", "colonies_alive_at_surgery", "dormant_colonies_at_surgery",
                "occult_metastatic_cells_at_surgery", "detectable_at_surgery"]
        return {k: math.nan for k in keys}
    # interpolate the expected state at the surgery time
    def at(col: str) -> float:
        return float(np.interp(surgery_day, ts["day"], ts[col]))
    return {
        "shed_before_surgery": at("cells_shed"),
        "arrived_before_surgery": at("cells_arrived"),
        "colonies_started_before_surgery": at("colonies_started"),
        "dormant_cells_at_surgery": at("dormant_cells"),
        "colonies_alive_at_surgery": at("colonies_proliferating") + at("colonies_dormant"),
        "dormant_colonies_at_surgery": at("colonies_dormant"),
        "occult_metastatic_cells_at_surgery": at("metastatic_cells"),
        "detectable_at_surgery": at("detectable_metastases"),
    }
