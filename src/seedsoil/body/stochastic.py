"""Stochastic engine: drives the numba patient kernel and names its output."""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ..rng import BODY_COURSE, stream
from . import _kernels as K
from .model import BodyInputs
from .result import STATUS_TEXT, PatientResult
from .summary import build_events, build_summary

STATE_NAMES = {K.PROLIFERATING: "proliferating", K.DORMANT: "dormant", K.EXTINCT: "extinct"}
#: colony origins by code: the first site (primary or injection), a metastasis (secondary seeding),
#: the surgical site (residual disease, body/local.py)
ORIGIN_NAMES = ("primary", "metastasis", "local")

#: purpose key of the patient's main random stream
STREAM_BODY = BODY_COURSE


def run_kernel(inputs: BodyInputs, seed: int, *keys: int):
    """Run the kernel for ``inputs`` with the stream (seed, *keys, STREAM_BODY)."""
    stride = max(int(round(inputs.scenario.output.record_every / inputs.dt)), 1)
    rng = stream(seed, *keys, STREAM_BODY)
    return K.run_patient(rng, inputs.t, inputs.shed_primary, inputs.injected, inputs.suppression,
                         inputs.immune_kill_factor, inputs.invasion_factor, inputs.growth_inhibition,
                         inputs.activation_factor, inputs.switch_rate if inputs.par[K.P_ANGIO] > 0.0 else None,
                         inputs.primary, inputs.par, inputs.colony_law.kernel_params(), stride, 256,
                         float(inputs.residual_cells), _radiotherapy(inputs), float(inputs.local_detect_cells))


def _radiotherapy(inputs: BodyInputs) -> np.ndarray | None:
    """ln S per step of radiotherapy to the surgical site; None without residual disease (the kernel
    then has no local colonies to treat, and numba compiles it without their code)."""
    if not inputs.residual_cells > 0.0:
        return None
    rt = inputs.radiotherapy
    return np.zeros(inputs.t.shape[0] - 1) if rt is None else rt


def colony_frame(col: np.ndarray) -> pd.DataFrame:
    n = col.shape[0]
    return pd.DataFrame({
        "colony_id": np.arange(n, dtype=np.int64),
        "origin": pd.Categorical.from_codes(col[:, K.C_ORIGIN].astype(np.int8), categories=list(ORIGIN_NAMES)),
        "parent_id": np.where(np.isnan(col[:, K.C_PARENT]), -1, col[:, K.C_PARENT]).astype(np.int64),
        "from_dormant_pool": col[:, K.C_FROM_POOL] > 0,
        "seeded_day": col[:, K.C_SEEDED],
        "activated_day": col[:, K.C_ACTIVATED],
        "state": pd.Categorical.from_codes(col[:, K.C_STATE].astype(np.int8),
                                           categories=list(STATE_NAMES.values())),
        "n_state_changes": col[:, K.C_NSWITCH].astype(np.int64),
        "end_day": col[:, K.C_END],
        "size": col[:, K.C_SIZE],
        "max_size": col[:, K.C_MAX],
        "size_at_surgery": col[:, K.C_SIZE_SURGERY],
        "state_at_surgery": pd.Categorical.from_codes(
            np.where(np.isnan(col[:, K.C_STATE_SURGERY]), -1, col[:, K.C_STATE_SURGERY]).astype(np.int8),
            categories=list(STATE_NAMES.values())),
        "detected_day": col[:, K.C_DETECTED],
        "vascular_day": col[:, K.C_VASCULAR],
    })


def timeseries_frame(rec: np.ndarray, inputs: BodyInputs) -> pd.DataFrame:
    day = rec[:, K.R_T]
    return pd.DataFrame({
        "day": day,
        "primary_cells": rec[:, K.R_PRIMARY],
        "ctc_cells": rec[:, K.R_CTC],
        "dormant_cells": rec[:, K.R_DORMANT_CELLS],
        "colonies_proliferating": rec[:, K.R_COL_PROLIF],
        "colonies_dormant": rec[:, K.R_COL_DORMANT],
        "metastatic_cells": rec[:, K.R_MET_CELLS],
        "effector_cells": rec[:, K.R_E],
        "inflammation_nM": np.interp(day, inputs.t, inputs.inflammation),
        "cells_shed": rec[:, K.R_SHED],
        "cells_arrived": rec[:, K.R_ARRIVED],
        "cells_died": rec[:, K.R_DIED],
        "ctc_died": rec[:, K.R_CTC_DIED],
        "cells_injected": rec[:, K.R_INJECTED],
        "colonies_started": rec[:, K.R_STARTED],
        "detectable_metastases": rec[:, K.R_DETECTABLE],
        "largest_colony_cells": rec[:, K.R_LARGEST],
    })


#: where the first relapse came from (``summary["relapse_origin"]``; see :func:`relapse_origin`)
RELAPSE_ORIGINS = ("growing_at_surgery", "dormant_at_surgery", "arrived_after_surgery", "no_surgery", "none")


def relapse_origin(col: np.ndarray, out: np.ndarray, surgery_day: float) -> str:
    """Where the colony that made the first relapse came from.

    * ``growing_at_surgery``: a colony alive and dividing when the primary was removed;
    * ``dormant_at_surgery``: a colony held dormant at surgery that woke after it, or a
      colony started after surgery by a single cell from the dormant pool (the pool's
      cells are not tracked one by one, so a pool cell that arrived after surgery, e.g. a
      CTC still circulating at surgery, counts here too: with the primary gone such
      late arrivals are few);
    * ``arrived_after_surgery``: a cell that arrived after surgery and began dividing at
      once (shed by a metastasis, or an injection);
    * ``no_surgery`` (relapse in a scenario without surgery) or ``none`` (no relapse).
    """
    i = int(out[K.O_RELAPSE_COL])
    if i < 0 or not math.isfinite(out[K.O_RELAPSE_T]):
        return "none"
    if not math.isfinite(surgery_day):
        return "no_surgery"
    state = col[i, K.C_STATE_SURGERY]
    if not math.isnan(state):  # alive at surgery
        return "growing_at_surgery" if int(state) == K.PROLIFERATING else "dormant_at_surgery"
    return "dormant_at_surgery" if col[i, K.C_FROM_POOL] > 0 else "arrived_after_surgery"


def simulate_stochastic(inputs: BodyInputs, seed: int, *keys: int) -> PatientResult:
    t0 = time.perf_counter()
    col, rec, snap, out = run_kernel(inputs, seed, *keys)
    t1 = time.perf_counter()
    colonies = colony_frame(col)
    ts = timeseries_frame(rec, inputs)
    status = STATUS_TEXT[int(out[K.O_STATUS])]
    detected = _metastases_detected(col)
    summary = build_summary(inputs, ts.iloc[-1], detected, snap_dict(snap), out_dict(out), status)
    summary["relapse_origin"] = relapse_origin(col, out, inputs.schedule.surgery_day)
    summary["residual_cells_at_surgery"] = _residual_cells(col, inputs)
    events = build_events(inputs, colonies, summary)
    if not inputs.scenario.output.colonies:
        colonies = colonies.iloc[0:0]
    return PatientResult(scenario=inputs.scenario, seed=seed, engine="stochastic", timeseries=ts,
                         colonies=colonies, events=events, summary=summary,
                         timings={"kernel_s": t1 - t0, "total_s": time.perf_counter() - t0}, keys=tuple(keys))


def snap_dict(snap: np.ndarray) -> dict[str, float]:
    taken = snap[K.S_TAKEN] > 0
    val = (lambda i: float(snap[i])) if taken else (lambda i: math.nan)
    return {
        "shed_before_surgery": val(K.S_SHED),
        "arrived_before_surgery": val(K.S_ARRIVED),
        "colonies_started_before_surgery": val(K.S_STARTED),
        "dormant_cells_at_surgery": val(K.S_DORMANT_CELLS),
        "colonies_alive_at_surgery": (val(K.S_COL_PROLIF) + val(K.S_COL_DORMANT)),
        "dormant_colonies_at_surgery": val(K.S_COL_DORMANT),
        "occult_metastatic_cells_at_surgery": val(K.S_MET_CELLS),
        "detectable_at_surgery": val(K.S_DETECTABLE),
    }


def out_dict(out: np.ndarray) -> dict[str, float]:
    return {
        "end_day": float(out[K.O_END_T]),
        "death_day": float(out[K.O_DEATH_T]),
        "relapse_day": float(out[K.O_RELAPSE_T]),
        "relapse_colony": int(out[K.O_RELAPSE_COL]),
        "detectable_at_relapse": float(out[K.O_DETECTABLE_AT_RELAPSE]) if math.isfinite(out[K.O_RELAPSE_T])
        else math.nan,
        "local_recurrence_day": float(out[K.O_LOCAL_T]),
        "local_recurrence_colony": int(out[K.O_LOCAL_COL]),
    }


def summarize_stochastic(inputs: BodyInputs, seed: int, *keys: int) -> dict:
    """The patient's summary only (no tables): the lean path for cohorts and benchmarks.

    Gives the same numbers as ``simulate_stochastic(...).summary`` for the same
    seed and keys.
    """
    col, rec, snap, out = run_kernel(inputs, seed, *keys)
    last = rec[-1]
    final = {"cells_shed": last[K.R_SHED], "cells_arrived": last[K.R_ARRIVED],
             "colonies_started": last[K.R_STARTED], "metastatic_cells": last[K.R_MET_CELLS],
             "dormant_cells": last[K.R_DORMANT_CELLS]}
    detected = _metastases_detected(col)
    summary = build_summary(inputs, final, detected, snap_dict(snap), out_dict(out),
                            STATUS_TEXT[int(out[K.O_STATUS])])
    summary["relapse_origin"] = relapse_origin(col, out, inputs.schedule.surgery_day)
    summary["residual_cells_at_surgery"] = _residual_cells(col, inputs)
    return summary


def _metastases_detected(col: np.ndarray) -> int:
    """Detected colonies, synchronous included, local recurrences (origin "local") not."""
    return int((np.isfinite(col[:, K.C_DETECTED]) & (col[:, K.C_ORIGIN] != K.ORIGIN_LOCAL)).sum())


def _residual_cells(col: np.ndarray, inputs: BodyInputs) -> float:
    """Residual cells left at the surgical site (local colonies started at surgery); NaN without surgery."""
    if not math.isfinite(inputs.schedule.surgery_day):
        return math.nan
    if not inputs.residual_cells > 0.0:
        return 0.0
    return float((col[:, K.C_ORIGIN] == K.ORIGIN_LOCAL).sum())
