"""Tissue run directories and figures: ``write_tissue_run(result, out_dir)``, ``read_tissue_run(run_dir)``.

A tissue run directory (written atomically, like every seedsoil run, through
:func:`seedsoil.store.atomic_dir`) holds::

    run.json             seedsoil version, date, python, seed, scenario name, content hash,
                         normalized scenario, cell-scale inputs, summary, timings, file list
    timeseries.parquet   a row per saved time (TissueResult.timeseries)
    escapes.parquet      a row per intravasation (TissueResult.escapes)
    agents.zarr/         the agent columns at every saved time, and the final matrix
    snapshot_<t>min.png  first, middle and last saved time (unless png=False); per-agent path:
                         with a map per substrate and each tumour cell's JAK1 under the tissue
    invasion.png         invasion depth, invading cells and escapes over time (unless png=False)
    tissue.gif           all saved times as an animation (animate=True)

``agents.zarr`` layout (Zarr format 3). The number of agents changes between
saved times, so the columns of all snapshots are concatenated along one axis
(``agent_row``) and ``offsets`` says where each snapshot starts: the agents of
snapshot ``k`` (at ``times[k]`` minutes) are rows ``offsets[k]:offsets[k + 1]``::

    times    (S,)      float64  min     saved times
    offsets  (S + 1,)  int64            row ranges
    ids      (N,)      int64            agent id (stable over time, new ids for daughters)
    kind     (N,)      int8             0 tumour cell, 1 CAF
    mode     (N,)      int8             index into attrs["modes"] (seedsoil.cell.phenotype.MODES)
    state    (N,)      int8             0 active, 1 escaped (dead agents are not saved)
    pos      (N, d)    float64  um      position (x = invasion direction, y, [z])
    matrix/rho    (nx, ny[, nz])  float64  relative matrix density at the end of the run
    matrix/track  (nx, ny[, nz])  float64  track strength (alignment x cleared fraction, 0..1)
    matrix/rho_t, matrix/track_t  (S, nx, ny[, nz])  the same at every saved time

and, on the per-agent path (``signalling.path = "agent"``) only::

    species  (N, n_species)  float64      each agent's cell-network state, an agent column
                                          (columns named by attrs["species_names"])
    fields/<substrate>  (S, fx, fy[, fz])  float64  nM  the substrate's concentration at
                                          every saved time (IL6, JAKi, ROCKi)

Units are in each array's ``attrs["unit"]``; the group attrs name the layout,
the modes, kinds and states, and the domain box (um) (and, per-agent path, the
species names). ``matrix`` attrs give the voxel size (um) and the time of the
fields (the end of the run); ``fields`` attrs the voxel size, the grid origin (um)
and the substrates. A population-path run has neither ``species`` nor ``fields``.

Figures follow :mod:`seedsoil.report.figures`: matplotlib is imported inside
the functions, figures are not registered with pyplot (Agg), and the plot
functions take ``ax=None`` and return the axes.
"""
from __future__ import annotations

import dataclasses
import json
import time as _time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..cell.phenotype import MODES
from ..hashing import content_hash
from ..store import RUN_FILE, _jsonable, atomic_dir, run_record
from .engine import SNAPSHOT_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .scenario import TissueScenario
# "TissueResult" (seedsoil.tissue.simulate) is not imported here, not even for type checking:
# TissueResult.to_store / from_store / plot import this module, and the layers have no cycles.

TABLES = ("timeseries", "escapes")
AGENTS = "agents.zarr"
GIF = "tissue.gif"
INVASION_PNG = "invasion.png"
LAYOUT = "seedsoil.tissue.agents/1"
KINDS = ("tumour", "caf")
STATES = ("active", "escaped")
DPI = 100
CHUNK_ROWS = 2**20

#: colour per tumour-cell migration mode (tab10), CAFs, tracks and the vessel
MODE_COLOURS = {"amoeboid": "#d62728", "mesenchymal": "#1f77b4", "hybrid": "#9467bd", "both_low": "#e377c2"}
CAF_COLOUR = "#2ca02c"
TRACK_RGB = (1.0, 0.50, 0.05)
VESSEL_COLOUR = "#7f0000"
MATRIX_LEGEND_GREY = "#bdbdbd"

_UNITS = {"times": "min", "pos": "um"}
#: unit of the diffusing substrates' concentrations (the cytokine and the drugs)
FIELD_UNIT = "nM"
_DIMS = {"ids": ["agent_row"], "kind": ["agent_row"], "mode": ["agent_row"], "state": ["agent_row"],
         "pos": ["agent_row", "axis"], "times": ["snapshot"], "offsets": ["snapshot_edge"]}
_NOTES = {
    "times": "saved times (min)",
    "offsets": "rows offsets[k]:offsets[k+1] of the agent columns belong to snapshot k",
    "ids": "agent id",
    "kind": "0 tumour cell, 1 CAF",
    "mode": "migration mode: index into the group's attrs['modes']",
    "state": "0 active, 1 escaped (intravasated)",
    "pos": "position (um); axes x (invasion direction), y[, z]",
}


# --------------------------------------------------------------------------- metadata
def tissue_input_hash(result: Any) -> str:
    """Content hash of everything that determines a tissue run: scenario, seed, cell-scale inputs, version."""
    from .. import __version__

    return content_hash({"scenario": result.scenario.content_hash(), "seed": int(result.seed),
                         "cells": _jsonable(dataclasses.asdict(result.cells)), "version": __version__})


def tissue_metadata(result: Any) -> dict[str, Any]:
    """What ``run.json`` holds (JSON-ready)."""
    return run_record(scale="tissue", seed=int(result.seed), content_hash=tissue_input_hash(result),
                      scenario=result.scenario, cells=dataclasses.asdict(result.cells), summary=dict(result.summary),
                      timings=dict(result.timings),
                      units={"time": "min", "length": "um", "escape_rate": "per tumour cell per day"})


# --------------------------------------------------------------------------- zarr
def _zarr():
    import zarr

    return zarr


def _concat(snapshots: Sequence[Mapping[str, np.ndarray]], dims: int) -> dict[str, np.ndarray]:
    """Ragged snapshots -> concatenated columns + offsets."""
    counts = np.array([len(s["ids"]) for s in snapshots], dtype=np.int64)
    out = {"offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)}
    empty = {"ids": np.zeros(0, np.int64), "kind": np.zeros(0, np.int8), "mode": np.zeros(0, np.int8),
             "state": np.zeros(0, np.int8), "pos": np.zeros((0, dims))}
    for c in SNAPSHOT_COLUMNS:
        cols = [np.asarray(s[c]) for s in snapshots]
        out[c] = np.ascontiguousarray(np.concatenate(cols) if cols else empty[c])
    return out


def write_agents_zarr(result: Any, path: str | Path) -> Path:
    """Write the snapshots (ragged: columns + offsets + times) and the final matrix to a Zarr group."""
    zarr = _zarr()
    path = Path(path)
    sc = result.scenario
    d = sc.dims
    snaps = result.snapshots
    times = np.asarray(result.snapshot_times if snaps else np.zeros(0), dtype=np.float64)
    if snaps and len(times) != len(snaps):
        raise ValueError(f"{len(snaps)} snapshots but {len(times)} saved times")
    from .model import domain_box

    lo, hi = domain_box(sc)
    species_names = [str(n) for n in getattr(result, "species_names", ())]
    with_species = bool(species_names) and bool(snaps) and all("species" in s for s in snaps)
    fframes = [f for f in getattr(result, "field_frames", []) if f]
    if fframes and len(fframes) != len(times):
        raise ValueError(f"{len(fframes)} field frames but {len(times)} saved times")
    extra: dict[str, Any] = {"species_names": species_names} if with_species else {}
    root = zarr.open_group(str(path), mode="w", zarr_format=3, attributes=_jsonable({
        "layout": LAYOUT,
        "description": "agent columns at each saved time: rows offsets[k]:offsets[k+1] are snapshot k (times[k] min)",
        "columns": list(SNAPSHOT_COLUMNS),
        "modes": list(MODES),
        "kinds": list(KINDS),
        "states": list(STATES),
        "dims": d,
        "axes": ["x", "y", "z"][:d],
        "domain_lo_um": lo.tolist(),
        "domain_hi_um": hi.tolist(),
        "scenario_name": sc.name,
        "seed": int(result.seed),
        **extra,
    }))
    arrays = {"times": times, **_concat(snaps, d)}
    for name, data in arrays.items():
        attrs = {"note": _NOTES[name]}
        if name in _UNITS:
            attrs["unit"] = _UNITS[name]
        _array(root, name, data, attrs, _DIMS[name])
    if with_species:
        species = np.concatenate([np.asarray(s["species"]) for s in snaps])
        if species.ndim != 2 or species.shape[1] != len(species_names):
            raise ValueError(f"species: shape {species.shape}, but {len(species_names)} species names")
        _array(root, "species", species,
               {"unit": "1", "species_names": species_names,
                "note": "each agent's cell-network state (rows as the other agent columns; "
                        "columns named by species_names)"},
               ["agent_row", "species"])
    if fframes:
        _write_fields(root, fframes, lo)
    m = result.matrix
    if m:
        axes = ["x", "y", "z"][:np.asarray(m["rho"]).ndim]
        g = root.create_group("matrix", attributes=_jsonable({
            "voxel_um": float(m["voxel_um"]), "time_min": float(result.timeseries["time_min"].iloc[-1]),
            "axes": axes, "origin_um": lo.tolist(),
            "description": "matrix fields at the end of the run; voxel [i, j(, k)] spans lo + voxel * (i, j(, k) + [0, 1])",
        }))
        _array(g, "rho", np.asarray(m["rho"]), {"unit": "1", "note": "relative matrix density"}, axes)
        _array(g, "track", np.asarray(m["track"]),
               {"unit": "1", "note": "track strength: fibre alignment x cleared fraction, 0..1"}, axes)
        frames = [f for f in getattr(result, "matrix_frames", []) if f]
        if frames and len(frames) == len(times):
            _array(g, "rho_t", np.stack([f["rho"] for f in frames]),
                   {"unit": "1", "note": "relative matrix density at each saved time"}, ["time"] + axes)
            _array(g, "track_t", np.stack([f["track"] for f in frames]),
                   {"unit": "1", "note": "track strength at each saved time"}, ["time"] + axes)
    return path


def _write_fields(root, frames: Sequence[Mapping[str, Any]], lo: np.ndarray) -> None:
    """The ``fields`` group: one (S, fx, fy[, fz]) array per substrate, in nM."""
    names = [k for k in frames[0] if k != "voxel_um"]
    voxel = float(frames[0]["voxel_um"])
    if any([k for k in f if k != "voxel_um"] != names or float(f["voxel_um"]) != voxel for f in frames):
        raise ValueError("field frames differ in their substrates or voxel size")
    axes = ["x", "y", "z"][:np.asarray(frames[0][names[0]]).ndim] if names else []
    g = root.create_group("fields", attributes=_jsonable({
        "voxel_um": voxel, "origin_um": lo.tolist(), "axes": axes, "substrates": names, "unit": FIELD_UNIT,
        "description": "diffusing substrates at each saved time (snapshot k at times[k] min); voxel "
                       "[i, j(, k)] spans origin + voxel * (i, j(, k) + [0, 1]); the grid may reach past "
                       "the domain's upper faces by less than a voxel",
    }))
    for name in names:
        _array(g, name, np.stack([np.asarray(f[name]) for f in frames]),
               {"unit": FIELD_UNIT, "note": f"{name} concentration at each saved time"}, ["snapshot"] + axes)


def _array(group, name: str, data: np.ndarray, attrs: dict[str, Any], dims: list[str]) -> None:
    data = np.ascontiguousarray(data)
    # few, large chunks (a run is read whole): up to 2^20 rows each along the first axis.
    # Shape + dtype, then write: Group.create_array has no data= in zarr 3.0.x.
    chunks = (max(min(int(data.shape[0]), CHUNK_ROWS), 1),) + tuple(max(int(n), 1) for n in data.shape[1:])
    arr = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks, attributes=attrs,
                             dimension_names=dims)
    if data.size:
        arr[...] = data


def read_agents_zarr(path: str | Path) -> dict[str, Any]:
    """``{"times", "snapshots", "matrix", "matrix_frames", "field_frames", "species_names", "attrs"}``
    from an ``agents.zarr`` group (``field_frames`` empty and ``species_names`` ``()`` for a
    population-path run; the snapshots gain ``species`` when the group has that column)."""
    zarr = _zarr()
    root = zarr.open_group(str(path), mode="r")
    attrs = dict(root.attrs)
    if attrs.get("layout") != LAYOUT:
        raise ValueError(f"{path}: not a seedsoil tissue agents group (layout {attrs.get('layout')!r})")
    times = np.asarray(root["times"][...])
    off = np.asarray(root["offsets"][...])
    cols = {c: np.asarray(root[c][...]) for c in SNAPSHOT_COLUMNS}
    snapshots = [{c: cols[c][off[k]:off[k + 1]].copy() for c in SNAPSHOT_COLUMNS} for k in range(len(times))]
    species_names: tuple[str, ...] = ()
    if "species" in root:
        species = np.asarray(root["species"][...])
        species_names = tuple(str(n) for n in root["species"].attrs["species_names"])
        for k, snap in enumerate(snapshots):
            snap["species"] = species[off[k]:off[k + 1]].copy()
    field_frames: list[dict[str, Any]] = []
    if "fields" in root:
        g = root["fields"]
        voxel = np.float64(g.attrs["voxel_um"])
        stacks = {name: np.asarray(g[name][...]) for name in g.attrs["substrates"]}
        field_frames = [{**{name: a[k].copy() for name, a in stacks.items()}, "voxel_um": voxel}
                        for k in range(len(times))]
    matrix: dict[str, Any] = {}
    frames: list[dict[str, Any]] = []
    if "matrix" in root:
        g = root["matrix"]
        matrix = {"rho": np.asarray(g["rho"][...]), "track": np.asarray(g["track"][...]),
                  "voxel_um": np.float64(g.attrs["voxel_um"])}
        if "rho_t" in g:
            rho_t, track_t = np.asarray(g["rho_t"][...]), np.asarray(g["track_t"][...])
            frames = [{"rho": rho_t[k], "track": track_t[k], "voxel_um": matrix["voxel_um"]} for k in range(len(rho_t))]
    return {"times": times, "snapshots": snapshots, "matrix": matrix, "matrix_frames": frames,
            "field_frames": field_frames, "species_names": species_names, "attrs": attrs}


# --------------------------------------------------------------------------- run directory
def _time_label(t: float, width: int) -> str:
    if float(t).is_integer():
        return f"{int(t):0{width}d}"
    return f"{t:0{width + 2}.1f}".replace(".", "p")


def snapshot_indices(n: int) -> list[int]:
    """The saved times drawn as PNG: first, middle and last."""
    return sorted({0, n // 2, n - 1}) if n else []


def write_tissue_run(result: Any, out_dir: str | Path, *, force: bool = False, animate: bool = False,
                     png: bool = True) -> Path:
    """Write a tissue run directory atomically (see the module docstring); returns its path.

    An existing ``out_dir`` is replaced only with ``force=True`` (else
    :class:`~seedsoil.errors.RunExistsError`). ``png``: snapshot PNGs and
    ``invasion.png``; ``animate``: ``tissue.gif`` with every saved snapshot.
    """

    def fill(tmp: Path) -> None:
        t0 = _time.perf_counter()
        for name in TABLES:
            getattr(result, name).to_parquet(tmp / f"{name}.parquet", index=False)
        write_agents_zarr(result, tmp / AGENTS)
        if png:
            write_figures(result, tmp)
        if animate and result.snapshots:
            write_animation(result, tmp / GIF)
        meta = tissue_metadata(result)
        meta["timings"]["write_s"] = _time.perf_counter() - t0
        meta["files"] = sorted(p.name for p in tmp.iterdir()) + [RUN_FILE]
        (tmp / RUN_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")

    return atomic_dir(out_dir, fill, force=force)


def read_tissue_run(run_dir: str | Path, *, agents: bool = True) -> dict[str, Any]:
    """A tissue run directory back: ``{"run": run.json dict, "scenario": TissueScenario,
    "timeseries", "escapes": DataFrame, "times": saved times (min), "snapshots": list of
    dicts like TissueResult.snapshots, "matrix": dict like TissueResult.matrix,
    "matrix_frames", "field_frames": lists like TissueResult's, "species_names": tuple}``.

    ``scenario`` is None when the stored scenario no longer validates (a run written by
    another seedsoil version whose parameters differ); ``run["scenario"]`` still holds it.
    With ``agents=False`` the Zarr arrays are not read (no times, empty snapshots, matrix and
    frames); ``species_names`` still come from the group's attributes.
    """
    from ..errors import ScenarioError
    from .scenario import TissueScenario

    d = Path(run_dir)
    meta = json.loads((d / RUN_FILE).read_text(encoding="utf-8"))
    if meta.get("scale") != "tissue":
        raise ValueError(f"{d}: not a tissue run directory (run.json scale = {meta.get('scale')!r})")
    try:
        scenario = TissueScenario.from_dict(meta["scenario"])
    except ScenarioError:
        scenario = None
    out: dict[str, Any] = {"run": meta, "scenario": scenario}
    for name in TABLES:
        out[name] = pd.read_parquet(d / f"{name}.parquet")
    if not agents:
        names: tuple[str, ...] = ()
        if (d / AGENTS).exists():
            names = tuple(str(n) for n in _zarr().open_group(str(d / AGENTS), mode="r").attrs.get("species_names", ()))
        out.update(snapshots=[], matrix={}, matrix_frames=[], field_frames=[], species_names=names)
        return out
    zarr_data = read_agents_zarr(d / AGENTS)
    out.update(times=zarr_data["times"], snapshots=zarr_data["snapshots"], matrix=zarr_data["matrix"],
               matrix_frames=zarr_data["matrix_frames"], field_frames=zarr_data["field_frames"],
               species_names=zarr_data["species_names"])
    return out


# --------------------------------------------------------------------------- figures
def _new_figure(figsize: tuple[float, float], layout: str | None = "constrained"):
    from ..plotting import new_figure

    return new_figure(figsize, layout=layout, dpi=DPI)


def _domain(scenario: "TissueScenario") -> tuple[float, float]:
    p = scenario.parameters
    return float(p["domain.width"]), float(p["domain.height"])


_MARGINS = (0.75, 2.35, 0.6, 0.65)  # inches: left, right (legend), bottom, top
#: inches right of the axes for the matrix-density colour bar: gap, bar, ticks and label;
#: the legend starts after it (also when a snapshot has no matrix, so frames line up)
_COLOURBAR = (0.12, 0.14, 0.66)
_COLOURBAR_SPACE = sum(_COLOURBAR)
#: the grey scale of the matrix density (relative, dimensionless)
DENSITY_CMAP = "Greys"
DENSITY_RANGE = (0.0, 2.5)
#: colour-bar label: the quantity, then its unit (relative density: dimensionless)
DENSITY_LABEL = "matrix density{}\n(relative, dimensionless)"


def _snapshot_axes_size(scenario: "TissueScenario") -> tuple[float, float]:
    w, h = _domain(scenario)
    return 6.0, float(np.clip(6.0 * h / w, 1.6, 6.0))


#: the substrate maps of the per-agent path: colour map, and the agent species shown per agent
FIELD_CMAP = "viridis"
SPECIES_CMAP = "plasma"
#: the network species whose per-agent activity gets a panel of its own (when the run has it)
PANEL_SPECIES = "JAK1"
#: inches: the field panels' grid (two columns) under the tissue: title above, x label below
_PANEL_TITLE, _PANEL_XLABEL, _PANEL_RIGHT = 0.32, 0.5, 0.62


def field_panels(result: Any) -> list[str]:
    """The panels under the tissue in the snapshot figures of ``result``: one per substrate of
    its ``field_frames`` (the per-agent path), then :data:`PANEL_SPECIES` when the snapshots
    carry the agents' species; ``[]`` on the population path."""
    frames = getattr(result, "field_frames", None) or []
    if not frames or not frames[0]:
        return []
    names = [k for k in frames[0] if k != "voxel_um"]
    snaps = result.snapshots
    if PANEL_SPECIES in tuple(getattr(result, "species_names", ())) and snaps and all("species" in s for s in snaps):
        names.append(PANEL_SPECIES)
    return names


def snapshot_figure(scenario: "TissueScenario", panels: Sequence[str] = ()):
    """An empty figure for :func:`plot_snapshot`: the domain at its aspect ratio (the x extent
    6 inches wide), then a narrow axes for the matrix-density colour bar, then room for the
    legend. ``fig.axes`` is ``[tissue, colour bar]``. Fixed layout, so the frames of an
    animation line up.

    With ``panels`` (:func:`field_panels`: substrate names, then a species) a grid of two
    columns of smaller maps follows under the tissue, each with its colour bar:
    ``fig.axes`` is ``[tissue, colour bar, panel 1, its colour bar, panel 2, ...]`` (see
    :func:`plot_fields`)."""
    aw, ah = _snapshot_axes_size(scenario)
    left, right, bottom, top = _MARGINS
    gap, bar, _ = _COLOURBAR
    fw, fh = left + aw + _COLOURBAR_SPACE + right, bottom + ah + top
    ncols = min(len(panels), 2)
    nrows = -(-len(panels) // 2) if panels else 0
    pw = ph = row = 0.0
    if panels:
        w, h = _domain(scenario)
        pw = (fw - left - 0.25) / ncols - _COLOURBAR_SPACE - _PANEL_RIGHT
        ph = float(np.clip(pw * h / w, 0.8, 4.0))
        row = _PANEL_TITLE + ph + _PANEL_XLABEL
    below = nrows * row + (0.15 if panels else 0.0)  # the panels' rows under the tissue's x label
    fh += below
    fig = _new_figure((fw, fh), layout=None)
    base = bottom + below
    fig.add_axes((left / fw, base / fh, aw / fw, ah / fh))
    fig.add_axes(((left + aw + gap) / fw, base / fh, bar / fw, ah / fh))
    colw = pw + _COLOURBAR_SPACE + _PANEL_RIGHT
    for i, _ in enumerate(panels):
        r, c = divmod(i, 2)
        x0, y0 = left + c * colw, (nrows - 1 - r) * row + _PANEL_XLABEL
        fig.add_axes((x0 / fw, y0 / fh, pw / fw, ph / fh))
        fig.add_axes(((x0 + pw + gap) / fw, y0 / fh, bar / fw, ph / fh))
    return fig


def _matrix_at(result: Any, k: int) -> dict[str, Any] | None:
    """The matrix at snapshot ``k`` (None if the run kept no matrix frames)."""
    frames = getattr(result, "matrix_frames", None) or []
    if k < len(frames) and frames[k]:
        return frames[k]
    if k == len(result.snapshots) - 1:
        return result.matrix or None
    return None


def _project(grid: np.ndarray, how: str) -> np.ndarray:
    g = np.asarray(grid, dtype=float)
    if g.ndim == 3:  # 3-D: project onto x-y
        return g.max(axis=2) if how == "max" else g.mean(axis=2)
    return g


def plot_snapshot(snapshot: Mapping[str, np.ndarray], scenario: "TissueScenario", matrix: Mapping[str, Any] | None = None,
                  ax: "Axes | None" = None, *, time: float | None = None, legend: bool = True,
                  cax: "Axes | None" = None) -> "Axes":
    """One saved time of the tissue, seen from above (3-D runs projected onto x-y); positions in µm.

    Tumour cells are coloured by migration mode, CAFs green, drawn at their
    radius; escaped cells are not shown. The vessel is the dark red band at
    ``vessel.position``, the dashed line the initial tumour edge. With ``matrix``
    (``TissueResult.matrix``: the fields at the *end* of the run, so pass it for
    the last snapshot only) the matrix density is the grey background (darker =
    denser; relative density, dimensionless, on the colour bar; 3-D: mean over z)
    and the track strength an orange overlay (3-D: max over z). ``time`` (min)
    goes in the title.

    The colour bar is drawn in ``cax``; without it, in the colour-bar axes of
    :func:`snapshot_figure` when ``ax`` is None, else beside ``ax`` (space taken from it).
    """
    from matplotlib.collections import EllipseCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import ScaledTranslation

    if ax is None:
        ax, own_cax = snapshot_figure(scenario).axes
        cax = own_cax if cax is None else cax
    p = scenario.parameters
    width, height = _domain(scenario)
    if matrix:
        voxel = float(matrix["voxel_um"])
        rho = _project(matrix["rho"], "mean")
        track = _project(matrix["track"], "max")
        extent = (0.0, rho.shape[0] * voxel, 0.0, rho.shape[1] * voxel)
        image = ax.imshow(rho.T, origin="lower", extent=extent, cmap=DENSITY_CMAP, vmin=DENSITY_RANGE[0],
                          vmax=DENSITY_RANGE[1], interpolation="nearest", zorder=0)
        label = DENSITY_LABEL.format(", mean over z" if np.ndim(matrix["rho"]) == 3 else "")
        if cax is not None:
            ax.figure.colorbar(image, cax=cax, label=label)
        else:
            ax.figure.colorbar(image, ax=ax, label=label, fraction=0.04, pad=0.02)
        rgba = np.zeros(track.T.shape + (4,))
        rgba[..., :3] = TRACK_RGB
        rgba[..., 3] = 0.8 * np.clip(track.T, 0.0, 1.0)
        ax.imshow(rgba, origin="lower", extent=extent, interpolation="nearest", zorder=1)
    else:
        ax.set_facecolor("#fbfbfb")
        if cax is not None:  # no density to show: keep the place, draw nothing
            cax.set_axis_off()

    pos = np.asarray(snapshot["pos"], dtype=float)
    kind = np.asarray(snapshot["kind"])
    mode = np.asarray(snapshot["mode"])
    state = np.asarray(snapshot["state"])
    show = state == 0  # active; escaped cells have left the tissue
    if pos.ndim == 2 and pos.shape[1] == 3:  # draw deeper cells first
        order = np.argsort(pos[:, 2], kind="stable")
        pos, kind, mode, show = pos[order], kind[order], mode[order], show[order]
    tumour = show & (kind == 0)
    caf = show & (kind == 1)
    mode_rgb = [MODE_COLOURS.get(m, "#7f7f7f") for m in MODES]
    colours = np.where(caf, CAF_COLOUR, np.array(mode_rgb, dtype=object)[np.clip(mode, 0, len(MODES) - 1)])
    radius = np.where(kind == 1, float(p["caf.radius"]), float(p["tumour.radius"]))
    if show.any():
        coll = EllipseCollection(2 * radius[show], 2 * radius[show], np.zeros(int(show.sum())), units="xy",
                                 offsets=pos[show, :2], offset_transform=ax.transData,
                                 facecolors=list(colours[show]), edgecolors="white", linewidths=0.3,
                                 alpha=0.9, zorder=3)
        ax.add_collection(coll)

    vx, vr = float(p["vessel.position"]), float(p["vessel.radius"])
    ax.axvspan(vx - vr, vx + vr, color=VESSEL_COLOUR, alpha=0.85, lw=0, zorder=2)
    ax.axvline(vx, color=VESSEL_COLOUR, lw=1.5, zorder=2)
    edge = float(p["tumour.edge"])
    ax.axvline(edge, color="black", lw=0.8, ls="--", alpha=0.6, zorder=2)
    ax.set_xlim(0.0, width)
    ax.set_ylim(0.0, height)
    ax.set_aspect("equal")
    ax.set_xlabel("x (µm), invasion direction →" + ("  [x-y projection]" if scenario.dims == 3 else ""))
    ax.set_ylabel("y (µm)")
    n_t, n_c = int(tumour.sum()), int(caf.sum())
    n_esc = int(((state == 1) & (np.asarray(snapshot["kind"]) == 0)).sum())
    n_inv = int((tumour & (pos[:, 0] - edge > float(p["tumour.radius"]))).sum())
    head = f"{scenario.name}" + (f", t = {_fmt_time(time)}" if time is not None else "")
    ax.set_title(f"{head}\n{n_t} tumour cells ({n_inv} invading), {n_c} CAFs, {n_esc} escaped", fontsize=9)
    if legend:
        handles = [Line2D([], [], ls="", marker="o", ms=7, mfc=MODE_COLOURS.get(m, "#7f7f7f"), mec="white",
                          label=f"tumour: {m.replace('_', ' ')}") for m in MODES]
        handles += [Line2D([], [], ls="", marker="o", ms=7, mfc=CAF_COLOUR, mec="white", label="CAF"),
                    Line2D([], [], color=VESSEL_COLOUR, lw=3, label="vessel"),
                    Line2D([], [], color="black", lw=0.8, ls="--", label="initial tumour edge")]
        if matrix:
            handles += [Patch(color=MATRIX_LEGEND_GREY, label="matrix (grey: density)"),
                        Patch(color=TRACK_RGB, alpha=0.8, label="CAF tracks")]
        # right of the colour bar, the same place whether or not this snapshot has a matrix
        after_bar = ax.transAxes + ScaledTranslation(_COLOURBAR_SPACE + 0.1, 0.0, ax.figure.dpi_scale_trans)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), bbox_transform=after_bar,
                  frameon=False, fontsize=8)
    return ax


def field_ranges(result: Any) -> dict[str, tuple[float, float]]:
    """Colour range of each panel over the whole run (so a colour means the same level in every
    snapshot and frame): 0 to the substrate's largest concentration (nM; 1 nM if it is 0
    everywhere), and 0 to max(1, the largest activity) for the species."""
    out: dict[str, tuple[float, float]] = {}
    frames = [f for f in (getattr(result, "field_frames", None) or []) if f]
    for name in field_panels(result):
        if frames and name in frames[0]:
            top = max(float(np.max(f[name])) if np.size(f[name]) else 0.0 for f in frames)
        else:
            k = list(result.species_names).index(name)
            top = max([float(s["species"][:, k].max()) for s in result.snapshots if len(s["species"])] + [1.0])
        out[name] = (0.0, top if top > 0 else 1.0)
    return out


def plot_fields(snapshot: Mapping[str, np.ndarray], scenario: "TissueScenario", frame: Mapping[str, Any],
                axes: Sequence["Axes"], *, panels: Sequence[str],
                ranges: Mapping[str, tuple[float, float]] | None = None,
                species_names: Sequence[str] = ()) -> list["Axes"]:
    """The per-agent path's panels of one saved time on ``axes`` (``[panel 1, its colour bar,
    panel 2, ...]``, as :func:`snapshot_figure` makes them); returns the panels.

    A substrate panel is its concentration map (``frame``: one of ``TissueResult.field_frames``)
    in nM (``FIELD_CMAP``; 3-D: mean over z), pixel [i, j] the voxel [i, j] from the grid's
    origin at the domain's lower corner, with the active agents outlined (tumour cells black,
    CAFs green, each on a white stroke), the vessel's edges and the initial tumour edge. The species panel
    (:data:`PANEL_SPECIES`) colours each active tumour cell by its own activity of that
    network species (``snapshot["species"]``, columns ``species_names``; CAFs outlined).
    ``ranges``: colour range per panel (:func:`field_ranges`; default each map's own). The
    panel axes are labelled ``"field:<substrate>"`` / ``"species:<name>"`` (``Axes.get_label``).
    """
    from matplotlib.collections import EllipseCollection

    p = scenario.parameters
    width, height = _domain(scenario)
    from .model import domain_box

    lo = np.asarray(domain_box(scenario)[0], dtype=float)
    pos = np.asarray(snapshot["pos"], dtype=float).reshape(len(snapshot["ids"]), -1)
    kind = np.asarray(snapshot["kind"])
    show = np.asarray(snapshot["state"]) == 0
    tumour, caf = show & (kind == 0), show & (kind == 1)
    radius = np.where(kind == 1, float(p["caf.radius"]), float(p["tumour.radius"]))
    vx, vr = float(p["vessel.position"]), float(p["vessel.radius"])
    edge = float(p["tumour.edge"])
    out = []
    for i, name in enumerate(panels):
        ax, cax = axes[2 * i], axes[2 * i + 1]
        vmin, vmax = (ranges or {}).get(name, (None, None))

        def cells(mask, face, edgecolor, lw, z=3):
            if mask.any():
                ax.add_collection(EllipseCollection(
                    2 * radius[mask], 2 * radius[mask], np.zeros(int(mask.sum())), units="xy",
                    offsets=pos[mask, :2], offset_transform=ax.transData, facecolors=face,
                    edgecolors=edgecolor, linewidths=lw, zorder=z))

        if name in frame:
            grid = np.asarray(frame[name], dtype=float)
            g = _project(grid, "mean")
            voxel = float(frame["voxel_um"])
            extent = (lo[0], lo[0] + g.shape[0] * voxel, lo[1], lo[1] + g.shape[1] * voxel)
            top = float(g.max()) if g.size else 0.0
            image = ax.imshow(g.T, origin="lower", extent=extent, cmap=FIELD_CMAP, interpolation="nearest",
                              vmin=vmin if vmin is not None else 0.0,
                              vmax=vmax if vmax is not None else (top if top > 0 else 1.0), zorder=0)
            label = f"{name} ({FIELD_UNIT}{', mean over z' if grid.ndim == 3 else ''})"
            ax.figure.colorbar(image, cax=cax, label=label)
            # outlines in two strokes (white under dark) show on every colour of the map
            cells(tumour, "none", "white", 1.3)
            cells(tumour, "none", "black", 0.5, 4)
            cells(caf, "none", "white", 1.6)
            cells(caf, "none", CAF_COLOUR, 0.9, 4)
            peak = float(grid.max()) if grid.size else 0.0
            ax.set_title(f"{name}: max {peak:.3g} {FIELD_UNIT}" if peak > 0 else f"{name}: 0 {FIELD_UNIT} everywhere",
                         fontsize=8)
            ax.set_label(f"field:{name}")
        else:
            from matplotlib import colormaps
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import Normalize

            k = list(species_names).index(name)
            act = np.asarray(snapshot["species"])[:, k]
            norm = Normalize(vmin if vmin is not None else 0.0, vmax if vmax is not None else 1.0)
            ax.set_facecolor("#fbfbfb")
            cells(tumour, colormaps[SPECIES_CMAP](norm(act[tumour])), "white", 0.3)
            cells(caf, "none", CAF_COLOUR, 0.9)
            ax.figure.colorbar(ScalarMappable(norm, SPECIES_CMAP), cax=cax, label=f"{name} activity\n(network, 0–1)")
            mean = float(act[tumour].mean()) if tumour.any() else float("nan")
            ax.set_title(f"{name} activity per tumour cell: mean {mean:.2f}", fontsize=8)
            ax.set_label(f"species:{name}")
        for x in (vx - vr, vx + vr):
            ax.axvline(x, color=VESSEL_COLOUR, lw=1.0, zorder=2)
        ax.axvline(edge, color="black", lw=0.6, ls="--", alpha=0.6, zorder=2)
        ax.set_xlim(0.0, width)
        ax.set_ylim(0.0, height)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        cax.tick_params(labelsize=7)
        cax.yaxis.label.set_size(8)
        ax.set_xlabel("x (µm)" + ("  [x-y]" if scenario.dims == 3 else ""), fontsize=8)
        ax.set_ylabel("y (µm)", fontsize=8)
        out.append(ax)
    return out


def draw_snapshot(result: Any, k: int, fig=None, *, ranges: Mapping[str, tuple[float, float]] | None = None):
    """Saved time ``k`` of ``result`` on ``fig`` (default a new :func:`snapshot_figure` with
    the result's :func:`field_panels`): the tissue (:func:`plot_snapshot`) and, on the
    per-agent path, the field and species panels (:func:`plot_fields`; colour ranges over the
    whole run unless ``ranges``). Returns the figure."""
    panels = field_panels(result)
    if fig is None:
        fig = snapshot_figure(result.scenario, panels)
    ax, cax, *rest = fig.axes
    t = float(result.snapshot_times[k])
    plot_snapshot(result.snapshots[k], result.scenario, _matrix_at(result, k), ax=ax, cax=cax, time=t)
    if panels:
        plot_fields(result.snapshots[k], result.scenario, result.field_frames[k], rest, panels=panels,
                    ranges=field_ranges(result) if ranges is None else ranges,
                    species_names=result.species_names)
    return fig


def _fmt_time(t: float) -> str:
    return f"{t:g} min ({t / 60:.1f} h)" if t >= 60 else f"{t:g} min"


def plot_invasion(result: "Any | pd.DataFrame", ax: "Axes | None" = None) -> "Axes":
    """Invasion over time: how deep tumour cells got beyond the initial tumour edge, how many
    invade, how many escaped into the vessel.

    ``result``: a :class:`~seedsoil.tissue.simulate.TissueResult` (or anything with a
    ``timeseries``), or its ``timeseries`` table itself. Left axis: depth of the 10 deepest
    (solid) and of the deepest (dashed) tumour cell beyond the initial edge (µm). Right axis:
    invading tumour cells and escapes since the start (cumulative), in cells. Time in hours
    when the run lasts 3 h or more, else in minutes. Draws on ``ax`` (a new figure, not
    registered with pyplot, when None) and returns it; the right axis is its twin.
    """
    from matplotlib.lines import Line2D

    if ax is None:
        ax = _new_figure((7.0, 4.4)).add_subplot()
    ts = getattr(result, "timeseries", result)
    t = ts["time_min"].to_numpy(dtype=float)
    hours = len(t) > 0 and t.max() >= 180
    x = t / 60.0 if hours else t
    ax.plot(x, ts["depth_top10_um"], color="#1f77b4", lw=2, label="depth, 10 deepest cells (µm)")
    ax.plot(x, ts["depth_max_um"], color="#1f77b4", lw=1, ls="--", label="depth, deepest cell (µm)")
    ax.set_xlabel("time (h)" if hours else "time (min)")
    ax.set_ylabel("invasion depth beyond the initial edge (µm)", color="#1f77b4")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    tw = ax.twinx()
    tw.plot(x, ts["invading_cells"], color="#d62728", lw=2, label="invading tumour cells")
    tw.step(x, ts["escaped"], where="post", color="black", lw=1.5, label="escaped (cumulative)")
    tw.set_ylabel("cells")
    tw.set_ylim(bottom=0)
    handles = [Line2D([], [], color="#1f77b4", lw=2), Line2D([], [], color="#1f77b4", lw=1, ls="--"),
               Line2D([], [], color="#d62728", lw=2), Line2D([], [], color="black", lw=1.5)]
    labels = ["depth, 10 deepest (µm)", "depth, deepest (µm)", "invading cells", "escaped (cumulative)"]
    ax.legend(handles, labels, loc="upper left", fontsize=8, framealpha=0.85)
    return ax


def write_figures(result: Any, folder: str | Path) -> list[Path]:
    """``snapshot_<t>min.png`` (first, middle, last saved time; on the per-agent path with the
    field and species panels, :func:`draw_snapshot`) and ``invasion.png``."""
    folder = Path(folder)
    out = []
    snaps = result.snapshots
    times = result.snapshot_times
    width = len(str(int(max(times.max(), 0)))) if len(times) else 1
    ranges = field_ranges(result) if field_panels(result) else None
    for k in snapshot_indices(len(snaps)):
        fig = draw_snapshot(result, k, ranges=ranges)
        path = folder / f"snapshot_{_time_label(float(times[k]), width)}min.png"
        fig.savefig(path, dpi=DPI)
        out.append(path)
    ax = plot_invasion(result.timeseries)
    s = result.summary
    ax.set_title(f"{result.scenario.name} (seed {result.seed}): {s.get('escape_events', 0)} escapes, "
                 f"{s.get('escape_rate_per_day', 0):.3g} per tumour cell per day", fontsize=9)
    path = folder / INVASION_PNG
    ax.figure.savefig(path, dpi=DPI)
    out.append(path)
    return out


#: frames whose colours make the GIF's palette (evenly spaced over the run, first and last included)
PALETTE_FRAMES = 8


def _render_rgb(fig, dpi: int):
    """The figure as an RGB PIL image at ``dpi``."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    with Image.open(buf) as im:
        return im.convert("RGB")


def gif_palette(frames: Sequence[Any], fixed: Sequence[str] = ()):
    """One palette (a "P" image) for every frame of an animation: the ``fixed`` colours
    (hex) first, exactly, then the colours of up to :data:`PALETTE_FRAMES` of ``frames``
    (RGB images) reduced by median cut; at most 256, each once."""
    from PIL import Image

    fixed_rgb = list(dict.fromkeys(tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in fixed))
    picks = sorted({round(i * (len(frames) - 1) / max(PALETTE_FRAMES - 1, 1)) for i in range(PALETTE_FRAMES)}) \
        if frames else []
    sample = [frames[i] for i in picks]
    colours: list[tuple[int, int, int]] = list(fixed_rgb)
    if sample:
        w = max(f.width for f in sample)
        mosaic = Image.new("RGB", (w, sum(f.height for f in sample)), "white")
        y = 0
        for f in sample:
            mosaic.paste(f, (0, y))
            y += f.height
        adaptive = mosaic.quantize(colors=256 - len(fixed_rgb), method=Image.Quantize.MEDIANCUT,
                                   dither=Image.Dither.NONE)
        flat = adaptive.getpalette()[:3 * (256 - len(fixed_rgb))]
        colours += zip(flat[0::3], flat[1::3], flat[2::3])
    colours = list(dict.fromkeys(colours))[:256]  # each colour once: a frame's index for it is unambiguous
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for c in colours for v in c])
    return palette


def _to_palette(frame, palette):
    """``frame`` (RGB image) as a "P" image on ``palette`` (a "P" image): each pixel the
    nearest palette colour (Euclidean in RGB, no dithering), so a palette colour stays
    exactly itself; the same colour gives the same index in every frame."""
    from PIL import Image

    pal = np.asarray(palette.getpalette(), dtype=np.int32).reshape(-1, 3)
    rgb = np.asarray(frame.convert("RGB"), dtype=np.int32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    colours, inverse = np.unique(packed.ravel(), return_inverse=True)
    unique_rgb = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=-1)
    index = np.empty(len(colours), dtype=np.uint8)
    for start in range(0, len(colours), 4096):  # bounded memory: 4096 colours x 256 entries at a time
        block = unique_rgb[start:start + 4096]
        index[start:start + 4096] = ((block[:, None, :] - pal[None, :, :]) ** 2).sum(axis=-1).argmin(axis=1)
    out = Image.fromarray(index[inverse].reshape(packed.shape), mode="P")
    out.putpalette(palette.getpalette())
    return out


def write_animation(result: Any, path: str | Path, *, fps: float = 4.0, dpi: int = 80) -> Path:
    """``tissue.gif``: one frame per saved snapshot (Pillow, no ffmpeg needed).

    The matrix (density in grey with its colour bar, tracks in colour) is drawn on every
    frame, and on the per-agent path the field and species panels (:func:`draw_snapshot`),
    their colour ranges fixed over the run. All frames share one palette (:func:`gif_palette`),
    written once as the file's global colour table, that holds the legend's colours exactly,
    so a colour means the same in every frame (a per-frame palette, as matplotlib's PillowWriter makes, shifts
    the legend's colours from frame to frame).
    """
    path = Path(path)
    snaps = result.snapshots
    panels = field_panels(result)
    ranges = field_ranges(result) if panels else None
    fig = snapshot_figure(result.scenario, panels)
    boxes = [a.get_position() for a in fig.axes]
    frames = []
    for k in range(len(snaps)):
        fig.clear()
        for box in boxes:
            fig.add_axes(box)
        draw_snapshot(result, k, fig, ranges=ranges)
        frames.append(_render_rgb(fig, dpi))
    fixed = ["#ffffff", "#000000", *MODE_COLOURS.values(), CAF_COLOUR, VESSEL_COLOUR, MATRIX_LEGEND_GREY]
    palette = gif_palette(frames, fixed)
    indexed = [_to_palette(f, palette) for f in frames]
    if indexed:
        # the palette as the file's global colour table: no frame carries a table of its own
        indexed[0].save(path, format="GIF", save_all=True, append_images=indexed[1:], duration=round(1000 / fps),
                        loop=0, optimize=False, palette=bytes(palette.getpalette()))
    return path
