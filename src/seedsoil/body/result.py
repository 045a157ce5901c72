"""PatientResult: the named, tidy outcome of one simulated patient."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import pandas as pd

from ..units import DAYS_PER_YEAR
if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

#: what :meth:`PatientResult.plot` draws
PLOTS = ("burden",)

STATUS_TEXT = {0: "end_of_follow_up", 1: "death", 2: "relapse"}

TIMESERIES_COLUMNS = {
    "day": "days since the first cancer cell (t = 0)",
    "primary_cells": "cells in the primary tumour (0 after surgery)",
    "ctc_cells": "circulating tumour cells",
    "dormant_cells": "dormant ZEB1-high single disseminated cells (untracked pool)",
    "colonies_proliferating": "colonies whose cells divide",
    "colonies_dormant": "colonies held dormant",
    "metastatic_cells": "cells in all colonies",
    "effector_cells": "immune effector cells E(t)",
    "inflammation_nM": "systemic IL-1β I(t) incl. mimetic therapy, nM",
    "cells_shed": "cumulative cells shed into blood",
    "cells_arrived": "cumulative disseminated (extravasated) cells",
    "cells_died": "cumulative circulating and disseminated single cells that died (excl. colony turnover)",
    "ctc_died": "cumulative circulating cells that died in the blood (or failed to extravasate)",
    "cells_injected": "cumulative cells injected into the circulation",
    "colonies_started": "cumulative colonies started (a cell began dividing)",
    "detectable_metastases": "colonies above the detection diameter",
    "largest_colony_cells": "cells in the largest colony (mean-field: the size above which one colony is expected)",
}


@dataclass(frozen=True, eq=False)
class PatientResult:
    """Outcome of ``seedsoil.simulate``.

    Attributes
    ----------
    timeseries : DataFrame, one row per recorded time (columns in ``TIMESERIES_COLUMNS``).
    colonies : DataFrame, one row per colony (a disseminated cell that began dividing).
    events : DataFrame with columns day, event, colony_id, detail.
    summary : dict of the clinical summary (days since t = 0 unless named *_after_surgery).

    ``repr`` is one line; in a notebook the result shows as a small table
    (``_repr_html_``). :meth:`to_store` / :meth:`from_store` write and read a run
    directory, :meth:`plot` draws the tumour burden.
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
        """Human-readable (label, value) rows for tables and reports.

        The mean-field engine's numbers are expectations over patients: its rows say
        "expected", show them unrounded, and give the probability of relapse instead
        of a yes/no relapse.
        """
        s = self.summary

        def fmt_day(x: float) -> str:
            if x is None or (isinstance(x, float) and not math.isfinite(x)):
                return "—"
            return f"{x:,.0f} d ({x / DAYS_PER_YEAR:.1f} y)"

        def fmt_n(x: float) -> str:
            if x is None or (isinstance(x, float) and math.isnan(x)):
                return "—"
            return f"{x:,.0f}" if abs(x) < 1e7 else f"{x:.3g}"

        def fmt_expected(x: float) -> str:
            if x is None or (isinstance(x, float) and math.isnan(x)):
                return "—"
            if x == 0 or abs(x) >= 1e7:
                return f"{x:.3g}"
            if abs(x) >= 100:
                return f"{x:,.0f}"
            return f"{x:.3g}" if abs(x) >= 1e-3 else "< 0.001"

        def fmt_probability(p: float) -> str:
            if p is None or (isinstance(p, float) and math.isnan(p)):
                return "—"
            pct = 100.0 * p
            if pct in (0.0, 100.0):
                return f"{pct:.0f} %"
            if pct < 0.1:
                return f"{pct:.2g} %" if pct >= 0.01 else "< 0.01 %"
            return f"{pct:.1f} %" if pct <= 99.9 else "> 99.9 %"

        if self.engine == "analytic":
            return [
                ("engine", "analytic (relapse-time distribution)"),
                ("diagnosis (primary reached surgery size)", fmt_day(s.get("diagnosis_day"))),
                ("surgery", fmt_day(s.get("surgery_day"))),
                ("expected cells shed before surgery", fmt_expected(s.get("shed_before_surgery"))),
                ("expected disseminated cells before surgery", fmt_expected(s.get("arrived_before_surgery"))),
                ("expected dormant single cells at surgery", fmt_expected(s.get("dormant_cells_at_surgery"))),
                ("expected occult colonies alive at surgery", fmt_expected(s.get("colonies_alive_at_surgery"))),
                ("expected metastases detected after surgery",
                 fmt_expected(s.get("expected_detections_after_surgery"))),
                ("probability of relapse by end", fmt_probability(s.get("relapse_probability"))),
                ("median time to relapse after surgery", fmt_day(s.get("median_time_to_relapse_days"))),
                ("simulated until", fmt_day(s.get("end_day"))),
            ]
        if self.engine == "meanfield":
            return [
                ("engine", self.engine),
                ("diagnosis (primary reached surgery size)", fmt_day(s.get("diagnosis_day"))),
                ("surgery", fmt_day(s.get("surgery_day"))),
                ("expected cells shed before surgery", fmt_expected(s.get("shed_before_surgery"))),
                ("expected disseminated cells before surgery", fmt_expected(s.get("arrived_before_surgery"))),
                ("expected metastases seeded before surgery (colonies started)",
                 fmt_expected(s.get("colonies_started_before_surgery"))),
                ("expected dormant single cells at surgery", fmt_expected(s.get("dormant_cells_at_surgery"))),
                ("expected occult colonies alive at surgery", fmt_expected(s.get("colonies_alive_at_surgery"))),
                ("expected detectable metastases at surgery", fmt_expected(s.get("detectable_at_surgery"))),
                ("expected metastases detected after surgery",
                 fmt_expected(s.get("expected_detections_after_surgery"))),
                ("probability of relapse by end (Poisson)", fmt_probability(s.get("relapse_probability"))),
                ("time until one metastasis is expected after surgery", fmt_day(s.get("time_to_relapse_days"))),
                ("death (expected burden reached lethal)", fmt_day(s.get("death_day"))),
                ("expected detectable metastases (end)", fmt_expected(s.get("metastases_detected"))),
                ("stopped because", s.get("status", "")),
                ("simulated until", fmt_day(s.get("end_day"))),
            ]
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

    # ------------------------------------------------------------------ display
    @property
    def scenario_name(self) -> str:
        """The scenario's name (also when ``scenario`` is the plain dict of a run directory)."""
        return _scenario_name(self.scenario)

    def headline(self) -> str:
        """The outcome in a few words: relapse and death (days after surgery, or days since
        t = 0 without surgery), or how long the patient was followed without relapse."""
        s = self.summary
        surgery = s.get("surgery_day")

        def when(day: Any) -> str:
            if _finite(surgery):
                return f"{float(day) - float(surgery):,.0f} d after surgery"
            return f"day {float(day):,.0f}"

        if s.get("relapse") and _finite(s.get("relapse_day")):
            text = f"relapse at {when(s['relapse_day'])}"
        elif _finite(s.get("end_day")):
            text = f"no relapse to {when(s['end_day'])}"
        else:
            text = "no relapse"
        if _finite(s.get("death_day")):
            text += f", death at {when(s['death_day'])}"
        return text

    def __repr__(self) -> str:
        keys = f", keys={self.keys!r}" if self.keys else ""
        n = self.summary.get("colonies_started_total")
        if not _finite(n):
            colonies = ""
        elif self.engine == "meanfield":  # an expected number
            colonies = f", {float(n):,.1f} colonies expected"
        else:
            colonies = f", {float(n):,.0f} colonies"
        return (f"PatientResult({self.scenario_name!r}, seed={self.seed}{keys}, {self.engine}, "
                f"{self.headline()}{colonies})")

    def _repr_html_(self) -> str:
        from .. import __version__
        from .._html import result_html

        rows = [("outcome", self.headline()), *self.summary_rows()]
        if self.keys:
            rows.append(("random stream keys", ", ".join(map(str, self.keys))))
        tables = {name: getattr(self, name).shape for name in ("timeseries", "colonies", "events")
                  if getattr(self, name) is not None}
        return result_html("PatientResult", self.scenario_name, rows, tables=tables, seed=self.seed,
                           version=__version__)

    # ------------------------------------------------------------------ run directory
    def to_store(self, folder: str | PathLike, *, force: bool = False, variant: str | None = None) -> Path:
        """Write this result as a run directory (:func:`seedsoil.store.write_run`: ``run.json``
        and the three tables as Parquet, atomically); an existing folder is replaced only with
        ``force=True``. Returns the folder."""
        from ..store import write_run

        if not hasattr(self.scenario, "content_hash"):
            raise TypeError("to_store needs the Scenario, not the plain dict of a run directory: read it back "
                            "with seedsoil.load_result(folder) or PatientResult.from_store(folder, "
                            "scenario_from_dict=Scenario.from_dict)")
        return write_run(self, folder, force=force, variant=variant)

    @classmethod
    def from_store(cls, folder: str | PathLike,
                   scenario_from_dict: Callable[[Mapping[str, Any]], Any] | None = None) -> "PatientResult":
        """Read a run directory written by :meth:`to_store` (or ``seedsoil run``) back.

        Tables, seed, engine, keys, timings and summary come back as written (infinite and
        NaN summary values too). ``scenario`` is the normalized scenario dict of ``run.json``
        unless ``scenario_from_dict`` rebuilds it (the body does not know the scenario
        layer): ``seedsoil.load_result`` passes ``Scenario.from_dict``.
        """
        from ..store import TABLES, read_run, summary_from_json

        d = Path(folder)
        data = read_run(d)
        meta = data["run"]
        for name in TABLES:
            if name not in data:
                raise FileNotFoundError(2, f"{d}: not a patient run directory ({name}.parquet missing)",
                                        str(d / f"{name}.parquet"))
        scenario = meta["scenario"] if scenario_from_dict is None else scenario_from_dict(meta["scenario"])
        if meta["engine"] == "analytic" and cls is PatientResult:
            cls = RelapseResult
        extra = {"curve": data.get("curve")} if issubclass(cls, RelapseResult) else {}
        return cls(scenario=scenario, **extra, seed=meta["seed"], engine=meta["engine"], timeseries=data["timeseries"],
                   colonies=data["colonies"], events=data["events"],
                   summary=summary_from_json(meta["summary"], meta.get("summary_nonfinite")),
                   timings=dict(meta.get("timings") or {}), keys=tuple(meta.get("keys") or ()))

    # ------------------------------------------------------------------ figure
    def plot(self, ax: "Axes | None" = None, what: str = "burden") -> "Axes":
        """Draw the result on ``ax`` (default: a new matplotlib Figure, not registered with
        pyplot; in a notebook show it with ``ax.figure``) and return the axes.

        ``what="burden"``: cells in the primary tumour and in all metastases (log scale)
        against years since surgery (since t = 0 without surgery); vertical lines mark
        surgery and relapse.
        """
        from ..units import DAYS_PER_YEAR

        if what not in PLOTS:
            raise ValueError(f"what = {what!r}: one of {', '.join(PLOTS)}")
        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(7.0, 4.4), layout="constrained").add_subplot()
        ts = self.timeseries
        surgery = self.summary.get("surgery_day")
        origin = float(surgery) if _finite(surgery) else 0.0
        x = (ts["day"].to_numpy(dtype=float) - origin) / DAYS_PER_YEAR
        drawn = []
        for column, colour, label in (("primary_cells", "#1f77b4", "primary tumour"),
                                      ("metastatic_cells", "#d62728", "all metastases")):
            if column in ts:
                y = ts[column].to_numpy(dtype=float).copy()
                y[~(y > 0)] = math.nan  # a log axis: no cells is a gap, not a drop to zero
                ax.plot(x, y, color=colour, linewidth=1.8, label=label)
                drawn.append(y)
        if _finite(surgery):
            ax.axvline(0.0, color="black", linewidth=1.0, label="surgery")
        if self.summary.get("relapse") and _finite(self.summary.get("relapse_day")):
            ax.axvline((float(self.summary["relapse_day"]) - origin) / DAYS_PER_YEAR, color="#e377c2",
                       linewidth=1.4, linestyle="--", label="relapse")
        ax.set_yscale("log")
        ax.set_xlabel("time since surgery (years)" if _finite(surgery)
                      else "time since the first cancer cell, t = 0 (years)")
        ax.set_ylabel("tumour cells (cells)")
        ax.set_title(f"{self.scenario_name} (seed {self.seed}, {self.engine}): {self.headline()}", fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        return ax



def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _scenario_name(sc: Any) -> str:
    name = getattr(sc, "name", None)
    if name is None and isinstance(sc, Mapping):
        name = (sc.get("scenario") or {}).get("name")
    return str(name) if name is not None else "?"


@dataclass(frozen=True, eq=False, repr=False)
class RelapseResult(PatientResult):
    """Outcome of the relapse-time engine (``engine="analytic"``): a distribution, not a course.

    Besides the :class:`PatientResult` tables (expected numbers, like the mean-field
    engine's, and the expected colony-size distribution at surgery and at the end) it holds
    the relapse-free curve on the solver's macro steps, ``curve`` (columns ``day``,
    ``days_after_surgery``, ``relapse_free_probability``, ``cumulative_hazard``,
    ``hazard_per_day``, ``density_per_day``), and answers questions about it.

    Times ``t`` are **days after surgery** (after t = 0 without surgery): the clock of
    relapse data. Between macro steps the hazard is constant (the cumulative hazard is
    interpolated linearly); beyond the end of the run the methods return NaN.
    """

    curve: pd.DataFrame | None = None

    def _curve(self) -> pd.DataFrame:
        if self.curve is not None:
            return self.curve
        raise ValueError("this RelapseResult has no relapse curve")

    def _eval(self, t, endpoint: str = "distant"):
        from .curve import ENDPOINT_COLUMNS, check_endpoint, evaluate

        c = self._curve()
        cum, haz = ENDPOINT_COLUMNS[check_endpoint(endpoint)]
        if cum not in c:
            raise ValueError(f"this relapse curve has no {endpoint!r} columns (written before local recurrence "
                             "existed); rerun the scenario")
        return evaluate(c["days_after_surgery"].to_numpy(), c[cum].to_numpy(), c[haz].to_numpy(), t)

    def survival(self, t, endpoint: str = "distant"):
        """P(event-free at t days after surgery). ``endpoint``: "distant" (no distant relapse, the
        default), "local" (no local recurrence at the surgical site) or "any" (neither; the product)."""
        import numpy as np

        return np.exp(-self._eval(t, endpoint)[0])

    def cumulative_hazard(self, t, endpoint: str = "distant"):
        """−log P(event-free at t): for "distant", the expected number of detections after surgery by t
        (without an injection); for "local", m·π_L(t)."""
        return self._eval(t, endpoint)[0]

    def hazard(self, t, endpoint: str = "distant"):
        """Hazard (1/day) of ``endpoint`` at t days after surgery (constant on each macro step)."""
        return self._eval(t, endpoint)[1]

    def density(self, t, endpoint: str = "distant"):
        """Density (1/day) of the time to ``endpoint`` at t days after surgery: hazard × survival."""
        import numpy as np

        c, h = self._eval(t, endpoint)
        return h * np.exp(-c)

    def loglik(self, t, event, endpoint: str = "distant"):
        """Log-likelihood of event data: ``event`` true → log density(t), false (censored at t)
        → log survival(t). ``t`` and ``event`` may be arrays (summed)."""
        import numpy as np

        t = np.asarray(t, dtype=float)
        ev = np.asarray(event, dtype=bool)
        from .curve import log_likelihood

        with np.errstate(divide="ignore"):
            c, h = self._eval(t, endpoint)
            ll = log_likelihood(-c, h, ev)
        return float(np.sum(ll))

    def occult_lesions_at_surgery(self, kind: str = "colonies"):
        """The distribution of occult lesions at surgery (a frozen ``scipy.stats.poisson``): undetected
        colonies alive (``kind="colonies"``), dormant single cells (``"cells"``) or both
        (``"all"``). Poisson because each disseminated cell's state at surgery is independent
        of the others' (with an injection, approximately)."""
        from scipy.stats import poisson

        s = self.summary
        if kind == "colonies":
            mean = s["colonies_alive_at_surgery"]
        elif kind == "cells":
            mean = s["dormant_cells_at_surgery"]
        elif kind == "all":
            mean = s["colonies_alive_at_surgery"] + s["dormant_cells_at_surgery"]
        else:
            raise ValueError(f"kind = {kind!r}: one of 'colonies', 'cells', 'all'")
        if not math.isfinite(mean):
            raise ValueError("no surgery in this scenario: no occult lesions at surgery")
        return poisson(mean)
