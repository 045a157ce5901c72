"""Clinical summary and event table of a patient run (shared by both engines)."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .model import BodyInputs


FINAL_COLUMNS = ("cells_shed", "cells_arrived", "colonies_started", "metastatic_cells", "dormant_cells")


def build_summary(inputs: BodyInputs, final: Mapping[str, float], metastases_detected: float,
                  snap: dict[str, float], out: dict[str, float], status: str) -> dict[str, Any]:
    """The clinical summary. ``final`` holds the last recorded values of ``FINAL_COLUMNS``."""
    sched = inputs.schedule
    surgery = sched.surgery_day if math.isfinite(sched.surgery_day) else math.nan
    relapse_day = out["relapse_day"]
    # residual disease at the surgical site (body/local.py): local recurrence, and any recurrence
    local_day = out.get("local_recurrence_day", math.nan)
    any_day = min((d for d in (relapse_day, local_day) if math.isfinite(d)), default=math.nan)
    return {
        "status": status,
        "diagnosis_day": sched.diagnosis_day,
        "surgery_day": surgery,
        "end_day": out["end_day"],
        **snap,
        "relapse": bool(math.isfinite(relapse_day)),
        "relapse_day": relapse_day,
        "time_to_relapse_days": relapse_day - surgery if math.isfinite(relapse_day) else math.nan,
        "relapse_colony": out["relapse_colony"],
        "metastases_at_relapse": out.get("detectable_at_relapse", math.nan),
        "death_day": out["death_day"],
        "local_recurrence": bool(math.isfinite(local_day)),
        "local_recurrence_day": local_day,
        "local_recurrence_colony": int(out.get("local_recurrence_colony", -1)),
        "any_recurrence_day": any_day,
        "metastases_detected": metastases_detected,
        "cells_shed_total": float(final["cells_shed"]),
        "cells_arrived_total": float(final["cells_arrived"]),
        "colonies_started_total": float(final["colonies_started"]),
        "metastatic_cells_end": float(final["metastatic_cells"]),
        "dormant_cells_end": float(final["dormant_cells"]),
    }


def build_events(inputs: BodyInputs, colonies: pd.DataFrame, summary: dict[str, Any]) -> pd.DataFrame:
    sched = inputs.schedule
    rows: list[tuple[float, str, int, str]] = []
    if math.isfinite(sched.diagnosis_day):
        rows.append((sched.diagnosis_day, "diagnosis", -1, "primary reached the surgery diameter"))
    if math.isfinite(sched.surgery_day) and sched.surgery_day <= summary["end_day"]:
        rows.append((sched.surgery_day, "surgery", -1, "primary removed"))
    for kind, start, stop in sched.therapies:
        if start <= summary["end_day"]:
            rows.append((start, "therapy_start", -1, kind))
        if stop <= summary["end_day"]:
            rows.append((stop, "therapy_end", -1, kind))
    if len(colonies):
        det = colonies[np.isfinite(colonies["detected_day"])]
        if "origin" in det:  # local colonies are local recurrences, not metastases
            det = det[(det["origin"] != "local").to_numpy()]
        for cid, day in zip(det["colony_id"], det["detected_day"]):
            when = "synchronous" if day <= sched.surgery_day else "after surgery"
            rows.append((float(day), "metastasis_detected", int(cid), when))
    if summary["relapse"]:
        rows.append((summary["relapse_day"], "relapse", int(summary["relapse_colony"]),
                     "first detectable metastasis after surgery"))
    if summary.get("local_recurrence"):
        rows.append((summary["local_recurrence_day"], "local_recurrence", int(summary.get("local_recurrence_colony", -1)),
                     "first colony at the surgical site above the local detection diameter"))
    if math.isfinite(summary["death_day"]):
        rows.append((summary["death_day"], "death", -1, "total burden reached the lethal burden"))
    rows.append((summary["end_day"], "end", -1, summary["status"]))
    ev = pd.DataFrame(rows, columns=["day", "event", "colony_id", "detail"])
    return ev.sort_values("day", kind="stable").reset_index(drop=True)
