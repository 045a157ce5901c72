"""PatientResult: the named, tidy outcome of one simulated patient."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..units import DAYS_PER_YEAR

STATUS_TEXT = {0: "end_of_follow_up", 1: "death", 2: "relapse"}

TIMESERIES_COLUMNS = {
    "day": "days since the first cancer cell (t = 0)",
    "primary_cells": "cells in the primary tumour (0 after surgery)",
    "ctc": "circulating tumour cells",
    "dormant_cells": "dormant ZEB1-high single disseminated cells (untracked pool)",
    "colonies_proliferating": "colonies whose cells divide",
    "colonies_dormant": "colonies held dormant",
    "metastatic_cells": "cells in all colonies",
    "effectors": "immune effector cells E(t)",
    "inflammation_nM": "systemic IL-1β I(t) incl. mimetic therapy, nM",
    "cells_shed": "cumulative cells shed into blood",
    "cells_arrived": "cumulative disseminated (extravasated) cells",
    "cells_died": "cumulative circulating and disseminated single cells that died (excl. colony turnover)",
    "ctc_died": "cumulative circulating cells that died in the blood (or failed to extravasate)",
    "cells_injected": "cumulative cells injected into the circulation",
    "colonies_started": "cumulative colonies started (a cell began dividing)",
    "detectable_metastases": "colonies above the detection diameter",
    "largest_colony": "cells in the largest colony (mean-field: the size above which one colony is expected)",
}


@dataclass(frozen=True)
class PatientResult:
    """Outcome of ``seedsoil.simulate``.

    Attributes
    ----------
    timeseries : DataFrame, one row per recorded time (columns in ``TIMESERIES_COLUMNS``).
    colonies : DataFrame, one row per colony (a disseminated cell that began dividing).
    events : DataFrame with columns day, event, colony_id, detail.
    summary : dict of the clinical summary (days since t = 0 unless named *_after_surgery).
    """

    scenario: Any
    seed: int | None
    engine: str
    timeseries: pd.DataFrame
    colonies: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: extra keys of the random stream (``(i,)`` for patient ``i`` of a trial)
    keys: tuple[int, ...] = ()

    @property
    def status(self) -> str:
        return self.summary["status"]

    def summary_rows(self) -> list[tuple[str, str]]:
        """Human-readable (label, value) rows for tables and reports."""
        s = self.summary

        def fmt_day(x: float) -> str:
            if x is None or (isinstance(x, float) and not math.isfinite(x)):
                return "—"
            return f"{x:,.0f} d ({x / DAYS_PER_YEAR:.1f} y)"

        def fmt_n(x: float) -> str:
            if x is None or (isinstance(x, float) and math.isnan(x)):
                return "—"
            return f"{x:,.0f}" if abs(x) < 1e7 else f"{x:.3g}"

        rows = [
            ("engine", self.engine),
            ("diagnosis (primary reached surgery size)", fmt_day(s.get("diagnosis_day"))),
            ("surgery", fmt_day(s.get("surgery_day"))),
            ("cells shed before surgery", fmt_n(s.get("shed_before_surgery"))),
            ("disseminated cells before surgery", fmt_n(s.get("arrived_before_surgery"))),
            ("metastases seeded before surgery (colonies started)", fmt_n(s.get("colonies_started_before_surgery"))),
            ("dormant single cells at surgery", fmt_n(s.get("dormant_cells_at_surgery"))),
            ("occult colonies alive at surgery", fmt_n(s.get("colonies_alive_at_surgery"))),
            ("detectable metastases at surgery", fmt_n(s.get("detectable_at_surgery"))),
            ("relapse", "yes" if s.get("relapse") else "no"),
            ("time to relapse after surgery", fmt_day(s.get("time_to_relapse_days"))),
            ("death", fmt_day(s.get("death_day"))),
            ("metastases detected (total)", fmt_n(s.get("metastases_detected"))),
            ("stopped because", s.get("status", "")),
            ("simulated until", fmt_day(s.get("end_day"))),
        ]
        return rows
