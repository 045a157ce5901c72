"""From tissue to body: the escape rate into the blood as a function of drug exposure.

:func:`invasion_map` runs a tissue scenario over a grid of drug exposures
(levels of the cell network's inputs ``JAKi`` / ``ROCKi``, nM network-equivalent),
``replicates`` seeds per point, through the cohort executors (in process, local
worker processes or a Dask cluster), and returns an :class:`InvasionMap`: per
point the escape rate per tumour cell per day (pooled over replicates, exact
Poisson 95 % interval) and the rate relative to no drug (exact interval from the
conditional binomial of the two Poisson counts). The no-drug point is the
reference: its relative rate is 1 by definition and has no interval (NaN). The
map is cached by the content hash of everything that determines it.

The body engine uses the *relative* rate: a patient scenario's ``[tissue]
invasion_map = "file.json"`` makes its drugs' JAK1 / ROCK inhibition scale
shedding by :meth:`InvasionMap.factor` (see :mod:`seedsoil.coupling.effects`). The
absolute rate belongs to the simulated slab of invasive edge, not to a whole
tumour, so it is reported, not used.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ScenarioError
from .scenario import TissueScenario
from .simulate import poisson_rate_ci

#: the network inputs a map may span (drug targets on the tissue path)
MAP_INPUTS = ("JAKi", "ROCKi")
#: bump when the tissue model changes what a run returns (invalidates cached maps);
#: 2: the reference point's relative interval is NaN (it was its ratio to itself)
MODEL_VERSION = 2


def _cache_dir() -> Path:
    from ..store import cache_dir

    return cache_dir("tissue")


def rate_ratio_ci(e1: int, t1: float, e0: int, t0: float, level: float = 0.95) -> tuple[float, float]:
    """Exact interval of the ratio of two Poisson rates ``(e1/t1) / (e0/t0)``: Clopper-Pearson on
    ``e1 | e1 + e0 ~ Binomial(e1 + e0, p)``, ``ratio = p / (1 − p) · t0 / t1``."""
    n = e1 + e0
    if n == 0 or t1 <= 0 or t0 <= 0:
        return (0.0, math.inf)
    a = 1.0 - level
    p_lo = 0.0 if e1 == 0 else stats.beta.ppf(a / 2, e1, n - e1 + 1)
    p_hi = 1.0 if e1 == n else stats.beta.ppf(1 - a / 2, e1 + 1, n - e1)
    lo = p_lo / (1 - p_lo) * t0 / t1
    hi = math.inf if p_hi >= 1 else p_hi / (1 - p_hi) * t0 / t1
    return float(lo), float(hi)


@dataclass(frozen=True)
class InvasionMap:
    """Escape rate per tumour cell per day over a grid of exposures (nM, network-equivalent).

    ``table``: one row per grid point, columns ``JAKi``, ``ROCKi`` (levels), ``events``,
    ``tumour_cell_days``, ``rate`` with ``rate_low`` / ``rate_high`` (95 %), ``relative``
    (to the no-drug point) with ``relative_low`` / ``relative_high`` (NaN at the no-drug
    point itself: 1 by definition, no interval), ``depth_um`` (mean over replicates of
    the 10 deepest cells' depth) with ``depth_se``, ``replicates``.
    """

    table: pd.DataFrame
    scenario: Mapping[str, Any]
    replicates: int
    seed: int
    key: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(c for c in MAP_INPUTS if c in self.table.columns)

    def levels(self, name: str) -> np.ndarray:
        return np.unique(self.table[name].to_numpy(dtype=float))

    def factor(self, **levels: np.ndarray | float) -> np.ndarray:
        """Relative escape rate at the given levels (nM), multilinear in log10(1 + c) between
        grid points and held constant beyond the grid. Missing inputs are 0."""
        unknown = sorted(set(levels) - set(MAP_INPUTS))
        if unknown:
            raise KeyError(f"invasion map has no input {unknown[0]!r}; inputs: {', '.join(MAP_INPUTS)}")
        names = self.inputs
        shape = np.broadcast(*[np.asarray(v, float) for v in levels.values()]).shape if levels else ()
        grids = [self.levels(n) for n in names]
        cube = np.full([len(g) for g in grids], np.nan)
        for _, row in self.table.iterrows():
            idx = tuple(int(np.searchsorted(g, row[n])) for g, n in zip(grids, names))
            cube[idx] = row["relative"]
        if np.isnan(cube).any():
            raise ValueError("invasion map is not a full grid over its inputs")
        if not np.all(np.isfinite(cube)):
            raise ValueError("invasion map has no escapes without drug, so no relative rate: "
                             "run it with more replicates or a longer simulation.duration")
        from scipy.interpolate import RegularGridInterpolator

        coords = [np.log10(1.0 + g) for g in grids]
        # a single level on an axis: pad so the interpolator has two points
        coords = [c if len(c) > 1 else np.array([c[0], c[0] + 1.0]) for c in coords]
        values = cube
        for ax, g in enumerate(grids):
            if len(g) == 1:
                values = np.concatenate([values, values], axis=ax)
        interp = RegularGridInterpolator(coords, values, method="linear", bounds_error=False, fill_value=None)
        pts = []
        for n, c in zip(names, coords):
            v = np.broadcast_to(np.asarray(levels.get(n, 0.0), float), shape)
            pts.append(np.clip(np.log10(1.0 + np.maximum(v, 0.0)), c[0], c[-1]))
        out = interp(np.stack(pts, axis=-1).reshape(-1, len(names))) if names else np.ones(1)
        return np.maximum(out.reshape(shape), 0.0)

    # ----------------------------------------------------------------- files
    def to_json(self) -> str:
        return json.dumps({"kind": "seedsoil.InvasionMap", "version": MODEL_VERSION, "key": self.key,
                           "replicates": self.replicates, "seed": self.seed, "scenario": self.scenario,
                           "table": {"columns": [str(c) for c in self.table.columns],
                                     "data": [[v.item() if hasattr(v, "item") else v for v in row]
                                              for row in self.table.itertuples(index=False)]}},
                          indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "InvasionMap":
        d = json.loads(text)
        if d.get("kind") != "seedsoil.InvasionMap":
            raise ValueError("not a seedsoil invasion map (missing kind = seedsoil.InvasionMap)")
        t = d["table"]
        table = pd.DataFrame(t["data"], columns=t["columns"]) if isinstance(t, dict) else pd.DataFrame(t)
        return cls(table=table, scenario=d["scenario"], replicates=int(d["replicates"]),
                   seed=int(d["seed"]), key=str(d["key"]))

    def save(self, path: str | Path) -> Path:
        from ..store import write_text_atomic

        return write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "InvasionMap":
        """Read a saved map (cached per file version: a rewritten file is read again)."""
        p = Path(path).resolve()
        try:
            st = p.stat()
            version = (st.st_mtime_ns, st.st_size)
        except OSError:
            version = (0, 0)
        return _load_cached(str(p), version)


@lru_cache(maxsize=16)
def _load_cached(path: str, version: tuple[int, int]) -> InvasionMap:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"tissue.invasion_map = {path!r}: cannot read it ({exc.strerror})",
                            field="tissue.invasion_map", value=path) from None
    try:
        return InvasionMap.from_json(text)
    except (ValueError, KeyError) as exc:
        raise ScenarioError(f"tissue.invasion_map = {path!r}: {exc}", field="tissue.invasion_map",
                            value=path) from None


def exposure_grid(exposures: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    """Grid points: the Cartesian product of per-input levels, or an explicit list of points.
    The no-drug point is always included (the reference of ``relative``)."""
    if isinstance(exposures, Mapping):
        names = list(exposures)
        for n in names:
            if n not in MAP_INPUTS:
                raise ScenarioError(f"exposures: {n!r} is not a map input (use {', '.join(MAP_INPUTS)})",
                                    field=f"exposures.{n}", value=exposures[n])
        levels = [sorted({float(x) for x in exposures[n]} | {0.0}) for n in names]
        for n, lv in zip(names, levels):
            if any(not math.isfinite(x) or x < 0 for x in lv):
                raise ScenarioError(f"exposures.{n} = {exposures[n]!r}: levels must be finite and >= 0 nM",
                                    field=f"exposures.{n}", value=exposures[n])
        points = [dict(zip(names, combo)) for combo in itertools.product(*levels)]
    else:
        names = sorted({k for p in exposures for k in p})
        points = [{n: float(p.get(n, 0.0)) for n in names} for p in exposures]
        if {n: 0.0 for n in names} not in points:
            points.insert(0, {n: 0.0 for n in names})
    return points


def _run_point(scenario_dict: dict, exposure: tuple, seed: int) -> dict:
    """One tissue run (a worker task): the numbers the map pools."""
    from .simulate import simulate_tissue

    sc = TissueScenario.from_dict(scenario_dict).with_exposure(dict(exposure))
    r = simulate_tissue(sc, seed=seed, snapshots=False, threads=1)  # one process per core
    s = r.summary
    return {"events": s["escape_events"], "cell_days": s["tumour_cell_days"], "depth": s["depth_top10_um"],
            "invading": s["invading_cells"]}


def map_key(scenario: TissueScenario, points: list[dict[str, float]], replicates: int, seed: int) -> str:
    from .. import __version__
    from ..params import load_library

    cell = load_library(("cell",)).defaults()
    blob = json.dumps({"scenario": scenario.with_exposure({}).to_dict(), "points": points, "replicates": replicates,
                       "seed": seed, "model": MODEL_VERSION, "version": __version__, "cell": cell},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def invasion_map(scenario: TissueScenario, exposures: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]], *,
                 replicates: int = 8, seed: int | None = None, executor: str | Any = "local",
                 workers: int | None = None, scheduler: str | None = None, cache: bool = True,
                 path: str | None = None) -> InvasionMap:
    """Escape rate over a grid of exposures; see the module docstring.

    ``exposures``: ``{"JAKi": [10, 100], "ROCKi": [300]}`` (the product, plus 0) or a list
    of points. ``replicates``: seeds per point; replicate k of every point uses seed
    ``(seed, k)``, so points are compared on the same random tissues (paired).
    ``executor``: ``"local"`` (worker processes; ``workers=1`` runs in this process),
    ``"dask"`` (``scheduler`` address or a local cluster), or an executor object with
    ``run(fn, tasks)``. Results do not depend on the executor or the number of workers.
    ``path``: ``"population"`` or ``"agent"`` (default: the scenario's ``signalling.path``).
    On the population path an exposure is the drug level every cell sees (through the dish
    phenotype); on the per-agent path it is the level held in the vessel, and each cell sees
    what penetrates to it (:mod:`seedsoil.tissue.chemistry`) — the body's plasma
    concentrations are that kind of number.
    """
    from ..execute import make_executor
    from ..rng import TISSUE_MAP_REPLICATE, stream

    if not (isinstance(replicates, int) and replicates >= 1):
        raise ScenarioError(f"replicates = {replicates!r}: must be an integer >= 1", field="replicates",
                            value=replicates)
    seed = scenario.seed if seed is None else int(seed)
    if path is not None:
        if path not in ("population", "agent"):
            raise ScenarioError(f"path = {path!r}: must be population or agent", field="path", value=path)
        scenario = scenario.with_parameters(signalling__path=path)
    points = exposure_grid(exposures)
    key = map_key(scenario, points, replicates, seed)
    path = _cache_dir() / f"invasion_{key}.json"
    if cache and path.exists():
        return InvasionMap.from_json(path.read_text())
    base = scenario.with_exposure({}).to_dict()
    seeds = [int(stream(seed, TISSUE_MAP_REPLICATE, k).integers(2**62)) for k in range(replicates)]
    tasks = [(base, tuple(sorted(pt.items())), seeds[k]) for pt in points for k in range(replicates)]
    own = isinstance(executor, str)
    ex = make_executor(executor, workers=workers, scheduler=scheduler) if own else executor
    results: dict[tuple, dict] = {}
    try:
        for task, res in ex.run(_run_point, tasks):
            results[(task[1], task[2])] = res
    finally:
        if own:
            ex.close()
    rows = []
    for pt in points:
        k = tuple(sorted(pt.items()))
        rs = [results[(k, s)] for s in seeds]
        events = int(sum(r["events"] for r in rs))
        days = float(sum(r["cell_days"] for r in rs))
        depth = np.array([r["depth"] for r in rs])
        lo, hi = poisson_rate_ci(events, days)
        rows.append({**pt, "events": events, "tumour_cell_days": days, "rate": events / days if days else 0.0,
                     "rate_low": lo, "rate_high": hi, "depth_um": float(depth.mean()),
                     "depth_se": float(depth.std(ddof=1) / math.sqrt(len(depth))) if len(depth) > 1 else 0.0,
                     "invading_cells": float(np.mean([r["invading"] for r in rs])), "replicates": replicates})
    table = pd.DataFrame(rows)
    names = [n for n in MAP_INPUTS if n in table.columns]
    ref_at = table.index[(table[names] == 0).all(axis=1)][0] if names else table.index[0]
    ref = table.loc[ref_at]
    rel, rlo, rhi = [], [], []
    for at, row in table.iterrows():
        if at == ref_at:  # the reference against itself: 1 by definition, no interval
            rel.append(1.0)
            rlo.append(math.nan)
            rhi.append(math.nan)
            continue
        if ref["events"] == 0:
            rel.append(1.0 if row["events"] == 0 else math.inf)
            rlo.append(0.0)
            rhi.append(math.inf)
            continue
        rel.append(row["rate"] / ref["rate"])
        a, b = rate_ratio_ci(int(row["events"]), row["tumour_cell_days"], int(ref["events"]),
                             ref["tumour_cell_days"])
        rlo.append(a)
        rhi.append(b)
    table["relative"] = rel
    table["relative_low"] = rlo
    table["relative_high"] = rhi
    if names:
        table = table.sort_values(names, ignore_index=True)
    m = InvasionMap(table=table, scenario=base, replicates=replicates, seed=seed, key=key)
    if cache:
        m.save(path)
    return m
