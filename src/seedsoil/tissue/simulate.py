"""Run one tissue scenario: ``simulate_tissue(scenario) -> TissueResult``.

The result holds tidy tables (a row per saved time: invasion depth, escapes,
mode fractions of invading cells; a row per escape event), the agent columns at
each saved step, the final matrix, and the escape rate per tumour cell per day
with an exact Poisson confidence interval.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from ..cell.phenotype import MODES
from ..errors import ScenarioError
from ..seeds import check_seed
from . import _kernels as K
from .engine import SNAPSHOT_COLUMNS, TissueEngine, set_threads
from .model import CellInputs, build_engine, cell_inputs
from .scenario import TissueScenario

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

MIN_PER_DAY = 1440.0


@dataclass(frozen=True, eq=False)
class TissueResult:
    """One tissue run. Times in minutes, lengths in µm; ``escape_rate`` per tumour cell per day.

    ``timeseries``: a row per saved time. ``escapes``: a row per intravasation
    (id, time, mode). ``snapshots``: per saved time, the agent columns
    (:data:`SNAPSHOT_COLUMNS`) of active and escaped agents. ``matrix``: final
    density and track strength on the matrix grid (x, y[, z]); ``matrix_frames``: the
    same two fields at every saved time. On the per-agent path (``signalling.path =
    "agent"``) ``field_frames`` holds, at every saved time, each diffusing substrate's
    concentration (nM) on the fields' grid (x, y[, z]) and ``voxel_um``; the snapshots
    gain ``species`` (agents × ``species_names``: each agent's network state), and the
    timeseries the mean field levels and network activities of the tumour cells.

    ``repr`` is one line; in a notebook the result shows as a small table
    (``_repr_html_``). :meth:`to_store` / :meth:`from_store` write and read a tissue run
    directory (:mod:`seedsoil.tissue.output`), :meth:`plot` draws the invasion over time.
    """

    scenario: TissueScenario
    seed: int
    cells: CellInputs
    timeseries: pd.DataFrame
    escapes: pd.DataFrame
    snapshots: list[dict[str, np.ndarray]]
    matrix: dict[str, np.ndarray]
    matrix_frames: list[dict[str, np.ndarray]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    field_frames: list[dict[str, np.ndarray]] = field(default_factory=list)
    species_names: tuple[str, ...] = ()

    @property
    def escape_rate(self) -> float:
        return float(self.summary["escape_rate_per_day"])

    @property
    def snapshot_times(self) -> np.ndarray:
        return self.timeseries["time_min"].to_numpy()

    # ------------------------------------------------------------------ display
    @property
    def scenario_name(self) -> str:
        """The scenario's name (also when ``scenario`` is the plain dict of a run directory)."""
        sc = self.scenario
        name = getattr(sc, "name", None)
        if name is None and isinstance(sc, dict):
            name = (sc.get("scenario") or {}).get("name")
        return str(name) if name is not None else "?"

    def _duration_text(self) -> str:
        t = self.snapshot_times
        end = float(t[-1]) if len(t) else 0.0
        return f"{end:g} min" if end < 180 else f"{end / 60:g} h"

    def headline(self) -> str:
        """Escapes with the rate per tumour cell per day, and the invasion at the end."""
        s = self.summary
        n = int(s.get("escape_events", 0))
        rate = s.get("escape_rate_per_day", math.nan)
        inv = int(s.get("invading_cells", 0))
        return (f"{n} escape{'s' if n != 1 else ''} ({float(rate):.3g} per tumour cell per day), "
                f"depth {float(s.get('depth_top10_um', math.nan)):.0f} µm (10 deepest), "
                f"{inv} invading cell{'s' if inv != 1 else ''}")

    def __repr__(self) -> str:
        dims = getattr(self.scenario, "dims", None)
        where = f"{dims}-D, " if dims else ""
        return (f"TissueResult({self.scenario_name!r}, seed={self.seed}, {where}{self._duration_text()}, "
                f"{self.headline()})")

    def _repr_html_(self) -> str:
        from .. import __version__
        from .._html import result_html

        s = self.summary
        dims = getattr(self.scenario, "dims", None)
        rows = [
            ("simulated", self._duration_text() + (f" in {dims}-D" if dims else "")),
            ("escapes (intravasations)", s.get("escape_events")),
            ("escape rate (per tumour cell per day)", s.get("escape_rate_per_day")),
            ("95 % interval (exact Poisson)",
             f"{float(s.get('escape_rate_ci_low', math.nan)):.3g} – {float(s.get('escape_rate_ci_high', math.nan)):.3g}"),
            ("tumour-cell days at risk", s.get("tumour_cell_days")),
            ("invasion depth, 10 deepest cells (µm)", s.get("depth_top10_um")),
            ("invasion depth, deepest cell (µm)", s.get("depth_max_um")),
            ("invading tumour cells at the end", s.get("invading_cells")),
            ("tumour cells, start → end", f"{s.get('tumour_cells_start', '—')} → {s.get('tumour_cells_end', '—')}"),
            ("stroma with CAF tracks (fraction)", s.get("track_fraction")),
        ]
        tables: dict[str, Any] = {"timeseries": self.timeseries.shape, "escapes": self.escapes.shape}
        tables["snapshots"] = f"{len(self.snapshots)} saved times" if self.snapshots else "not kept"
        if self.matrix and "rho" in self.matrix:
            tables["matrix"] = "density and tracks, grid " + " × ".join(map(str, np.shape(self.matrix["rho"])))
        return result_html("TissueResult", self.scenario_name, rows, tables=tables, seed=self.seed,
                           version=__version__)

    # ------------------------------------------------------------------ run directory
    def to_store(self, folder: str | PathLike, *, force: bool = False, png: bool = True,
                 animate: bool = False) -> Path:
        """Write this result as a tissue run directory
        (:func:`seedsoil.tissue.output.write_tissue_run`: ``run.json``, the tables as Parquet,
        the snapshots, matrix and (per-agent path) species and substrate fields in
        ``agents.zarr``, PNGs unless ``png=False``, a GIF with ``animate=True``); an existing
        folder is replaced only with ``force=True``."""
        from .output import write_tissue_run

        if not isinstance(self.scenario, TissueScenario):
            raise TypeError("to_store needs the TissueScenario; this result's scenario is the plain dict of a run "
                            "directory whose scenario no longer validates")
        return write_tissue_run(self, folder, force=force, png=png, animate=animate)

    @classmethod
    def from_store(cls, folder: str | PathLike, *, agents: bool = True) -> "TissueResult":
        """Read a tissue run directory back.

        ``timeseries`` and ``escapes`` come back exactly; ``seed``, ``cells``, ``summary``
        and ``timings`` from ``run.json`` (a non-finite summary value, written as null,
        comes back as NaN; ``timings`` gains the ``write_s`` of the writer). With
        ``agents=True`` (default) the snapshots (with each agent's ``species`` on the per-agent
        path), the final matrix, the matrix and the substrate fields (``field_frames``) at every
        saved time are read from ``agents.zarr``, all bitwise; with ``agents=False`` they stay
        on disk (``snapshots``, ``matrix_frames`` and ``field_frames`` empty, ``matrix`` ``{}``;
        ``species_names`` still read): the tables and the summary only, fast for a large run.
        ``scenario`` is the :class:`TissueScenario`, or the plain dict of ``run.json`` if it no
        longer validates (another version).
        """
        from . import output
        from .model import CellInputs

        data = output.read_tissue_run(Path(folder), agents=agents)
        meta = data["run"]
        cells = CellInputs(**meta["cells"])
        summary = {k: (math.nan if v is None else v) for k, v in meta.get("summary", {}).items()}
        scenario = data["scenario"] if data["scenario"] is not None else meta["scenario"]
        return cls(scenario=scenario, seed=int(meta["seed"]), cells=cells, timeseries=data["timeseries"],
                   escapes=data["escapes"], snapshots=data["snapshots"], matrix=data["matrix"],
                   matrix_frames=data["matrix_frames"], summary=summary, timings=dict(meta.get("timings") or {}),
                   field_frames=data.get("field_frames", []), species_names=tuple(data.get("species_names", ())))

    # ------------------------------------------------------------------ figure
    def plot(self, ax: "Axes | None" = None) -> "Axes":
        """Invasion over time (:func:`seedsoil.tissue.output.plot_invasion`): depth of the 10
        deepest and of the deepest tumour cell beyond the initial edge (µm, left axis),
        invading cells and cumulative escapes (cells, right axis), time in min or h. Draws on
        ``ax`` (default: a new matplotlib Figure, not registered with pyplot; in a notebook
        show it with ``ax.figure``) and returns it."""
        from .output import plot_invasion

        ax = plot_invasion(self.timeseries, ax)
        ax.set_title(f"{self.scenario_name} (seed {self.seed}): {self.headline()}", fontsize=9)
        return ax


def poisson_rate_ci(events: int, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) confidence interval of a Poisson rate ``events / exposure``."""
    if exposure <= 0:
        return (0.0, float("inf"))
    a = 1.0 - level
    lo = 0.0 if events == 0 else stats.chi2.ppf(a / 2, 2 * events) / 2
    hi = stats.chi2.ppf(1 - a / 2, 2 * events + 2) / 2
    return float(lo / exposure), float(hi / exposure)


def _row(engine: TissueEngine, edge: float) -> dict[str, float]:
    a = engine.agents
    n = a.n
    state, kind, mode = a.state[:n], a.kind[:n], a.mode[:n]
    tum = (state == K.ACTIVE) & (kind == K.TUMOUR)
    x = a.pos[:n, 0][tum]
    depth = x - edge
    r = a.radius[:n][tum]
    invading = depth > r  # wholly beyond the original edge
    deepest = np.sort(depth)[-10:] if len(depth) else np.zeros(1)
    row = {
        "time_min": engine.time,
        "tumour_cells": int(tum.sum()),
        "cafs": int(((state == K.ACTIVE) & (kind == K.CAF)).sum()),
        "escaped": int(((state == K.ESCAPED) & (kind == K.TUMOUR)).sum()),
        "invading_cells": int(invading.sum()),
        "depth_max_um": float(max(depth.max(), 0.0)) if len(depth) else 0.0,
        "depth_top10_um": float(max(deepest.mean(), 0.0)),
        "depth_mean_invading_um": float(depth[invading].mean()) if invading.any() else 0.0,
    }
    inv_modes = mode[tum][invading]
    for k, m in enumerate(MODES):
        row[f"invading_{m}"] = float((inv_modes == k).mean()) if len(inv_modes) else float("nan")
    if engine.matrix is not None:
        m = engine.matrix
        stroma = m.rho0 > 0
        row["track_fraction"] = float((m.track_strength()[stroma] > 0.5).mean()) if stroma.any() else 0.0
        row["matrix_density_mean"] = float(m.rho[stroma].mean()) if stroma.any() else 0.0
    return row


def _matrix_frame(engine: TissueEngine) -> dict[str, np.ndarray]:
    m = engine.matrix
    if m is None:
        return {}
    return {"rho": m.grid("rho").copy(), "track": m.as_grid(m.track_strength()), "voxel_um": np.float64(m.voxel)}


def _snapshot(engine: TissueEngine) -> dict[str, np.ndarray]:
    a = engine.agents
    keep = a.state[:a.n] != K.DEAD
    snap = {c: getattr(a, c)[:a.n][keep].copy() for c in SNAPSHOT_COLUMNS}
    if a.species.shape[1]:
        snap["species"] = a.species[:a.n][keep].copy()
    return snap


def _chemistry(engine: TissueEngine):
    """(the field coupling, the agents' signalling) of the per-agent path, else (None, None)."""
    from .chemistry import FieldCoupling
    from .signalling import AgentSignalling

    coupling = next((c for c in engine.couplings if isinstance(c, FieldCoupling)), None)
    signalling = next((c for c in engine.couplings if isinstance(c, AgentSignalling)), None)
    return coupling, signalling


def _field_frame(engine: TissueEngine) -> dict[str, np.ndarray]:
    coupling, _ = _chemistry(engine)
    if coupling is None:
        return {}
    f = coupling.fields
    frame = {s.name: f.field(s.name).copy() for s in f.substrates}
    frame["voxel_um"] = np.float64(f.dx)
    return frame


#: network species whose tumour-cell mean is a timeseries column on the per-agent path
TRACKED_SPECIES = ("JAK1", "STAT3", "MLC2", "RhoA", "Rac1", "ZEB1")


def _chemistry_row(engine: TissueEngine) -> dict[str, float]:
    coupling, signalling = _chemistry(engine)
    row: dict[str, float] = {}
    if coupling is None:
        return row
    a = engine.agents
    tum = np.flatnonzero((a.state[:a.n] == K.ACTIVE) & (a.kind[:a.n] == K.TUMOUR))
    f = coupling.fields
    for s in f.substrates:
        row[f"{s.name}_tumour_nM"] = float(f.sample(s.name, a.pos[tum]).mean()) if len(tum) else float("nan")
    if signalling is not None:
        idx = signalling.network.species_index
        for name in TRACKED_SPECIES:
            if name in idx:
                row[f"{name}_tumour"] = float(a.species[tum, idx[name]].mean()) if len(tum) else float("nan")
    return row


def simulate_tissue(scenario: TissueScenario, *, seed: int | None = None, cells: CellInputs | None = None,
                    threads: int | None = None, snapshots: bool = True,
                    progress: Callable[[float, float], None] | None = None,
                    vessel_curves: Mapping[str, Callable[[float], float]] | None = None) -> TissueResult:
    """Simulate the tissue scenario; ``seed`` defaults to the scenario's.

    ``cells``: the cell-scale inputs (mode fractions, dividing share, CAF
    contractility) of the population path (``signalling.path = "population"``; refused on
    the per-agent path, where every agent has its own); by default computed for the
    scenario's exposure with :func:`~seedsoil.tissue.model.cell_inputs` (cached). ``threads``: numba threads
    (results do not depend on it). ``progress(t, t_end)`` is called at each save.
    ``vessel_curves``: on the per-agent path, drug (``JAKi``, ``ROCKi``) → its vessel
    concentration (nM) as a function of time (min), e.g. a plasma curve from the body
    scale's PK (:func:`~seedsoil.tissue.chemistry.piecewise_linear`); default: the
    scenario's constant exposure.

    ``seed`` must be an integer in [0, 2^63) and ``threads`` an integer >= 1 (or None
    for numba's current setting); anything else raises
    :class:`~seedsoil.errors.ScenarioError`.
    """
    import numba

    seed = scenario.seed if seed is None else check_seed(seed)
    threads = check_threads(threads)
    if cells is not None and scenario.parameters["signalling.path"] == "agent":
        raise ScenarioError("cells: the population phenotype is used only on the population path, but this scenario "
                            "has signalling.path = 'agent' (each agent's own network); set signalling.path = "
                            "'population' to pass cells", field="cells", value=cells)
    before = numba.get_num_threads()
    try:
        set_threads(threads)
        return _simulate(scenario, seed, cells, snapshots, progress, vessel_curves)
    finally:
        numba.set_num_threads(before)


def check_threads(threads: object, field: str = "threads") -> int | None:
    """``threads`` as an int >= 1 (or None), else :class:`ScenarioError` naming the value."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ScenarioError(f"{field} = {threads!r}: must be an integer >= 1 (or unset for numba's default)",
                            field=field, value=threads)
    return int(threads)


def _simulate(scenario: TissueScenario, seed: int, cells: CellInputs | None, snapshots: bool,
              progress: Callable[[float, float], None] | None,
              vessel_curves: Mapping[str, Callable[[float], float]] | None = None) -> TissueResult:
    t0 = _time.perf_counter()
    cells = cell_inputs(scenario.exposure) if cells is None else cells
    t1 = _time.perf_counter()
    engine = build_engine(scenario, cells, seed=seed, vessel_curves=vessel_curves)
    t_setup = _time.perf_counter()
    p = scenario.parameters
    edge = float(p["tumour.edge"])
    dt = float(p["mechanics.dt"])
    total = int(round(p["simulation.duration"] / dt))
    every = max(int(round(p["simulation.save_every"] / dt)), 1)
    rows = [{**_row(engine, edge), **_chemistry_row(engine)}]
    snaps = [_snapshot(engine)] if snapshots else []
    frames = [_matrix_frame(engine)] if snapshots else []
    fframes = [_field_frame(engine)] if snapshots and engine.couplings else []
    done = 0
    while done < total:
        k = min(every, total - done)
        engine.step(k)
        done += k
        rows.append({**_row(engine, edge), **_chemistry_row(engine)})
        if snapshots:
            snaps.append(_snapshot(engine))
            frames.append(_matrix_frame(engine))
            if fframes:
                fframes.append(_field_frame(engine))
        if progress is not None:
            progress(engine.time, total * dt)
    t2 = _time.perf_counter()
    ts = pd.DataFrame(rows)
    a = engine.agents
    esc = (a.state[:a.n] == K.ESCAPED) & (a.kind[:a.n] == K.TUMOUR)
    escapes = pd.DataFrame({
        "id": a.ids[:a.n][esc],
        "time_min": a.escape_step[:a.n][esc] * dt + dt,
        "mode": pd.array([MODES[m] for m in a.mode[:a.n][esc]], dtype="string"),
    }).sort_values(["time_min", "id"], ignore_index=True)
    # tumour-cell time at risk: trapezoid over the saved counts (cells change by rare events)
    tt = ts["time_min"].to_numpy()
    nt = ts["tumour_cells"].to_numpy(dtype=float)
    cell_min = float(np.sum(0.5 * (nt[1:] + nt[:-1]) * np.diff(tt)))
    n_esc = int(len(escapes))
    cell_days = cell_min / MIN_PER_DAY
    lo, hi = poisson_rate_ci(n_esc, cell_days)
    summary = {
        "escape_events": n_esc,
        "tumour_cell_days": cell_days,
        "escape_rate_per_day": n_esc / cell_days if cell_days > 0 else 0.0,
        "escape_rate_ci_low": lo,
        "escape_rate_ci_high": hi,
        "depth_top10_um": float(ts["depth_top10_um"].iloc[-1]),
        "depth_max_um": float(ts["depth_max_um"].iloc[-1]),
        "invading_cells": int(ts["invading_cells"].iloc[-1]),
        "tumour_cells_start": int(ts["tumour_cells"].iloc[0]),
        "tumour_cells_end": int(ts["tumour_cells"].iloc[-1]),
        "track_fraction": float(ts["track_fraction"].iloc[-1]) if "track_fraction" in ts else 0.0,
        "steps": total,
        "neighbour_rebuilds": engine.rebuilds,
    }
    coupling, signalling = _chemistry(engine)
    if signalling is not None:
        summary["network_updates"] = signalling.updates
        summary["agent_network_updates"] = signalling.agent_updates
    if coupling is not None:
        for k, kind in enumerate(("tumour", "caf")):
            for s_, sub in enumerate(coupling.fields.substrates):
                summary[f"{sub.name}_exchanged_{kind}"] = float(coupling.exchanged[k, s_])
    return TissueResult(scenario=scenario, seed=seed, cells=cells, timeseries=ts, escapes=escapes,
                        snapshots=snaps, matrix=_matrix_frame(engine), matrix_frames=frames, summary=summary,
                        timings={"cell_inputs_s": t1 - t0, "setup_s": t_setup - t1, "simulate_s": t2 - t1}, field_frames=fframes,
                        species_names=tuple(signalling.network.species_names) if signalling is not None else ())
