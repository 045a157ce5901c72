"""Simulate a network in many cells at once: ``simulate_cells`` → xarray Dataset.

Each cell is one row: its own parameter vector (heterogeneity), inputs and
adaptive step. The stepping is a generated numba Rosenbrock kernel (stiff-capable,
L-stable RODAS4 by default), parallel over cells; a cell's trajectory does not
depend on the batch it is in or on the number of threads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import ScenarioError, SeedsoilError
from ..rng import CELL_VARIABILITY, stream
from . import _codegen
from ._rosenbrock import METHODS
from .network import Network, _unknown

#: Random-stream purpose for cell-to-cell parameter variability (rng.stream keys).
PURPOSE_VARIABILITY = CELL_VARIABILITY


class CellSolverError(SeedsoilError):
    """Some cells could not be integrated (too many steps, step size underflow)."""


@dataclass(frozen=True)
class TimeCourse:
    """An input that changes in time: piecewise linear through (times, values).

    ``times`` in days (increasing); ``values`` shape (len(times),) shared by all
    cells, or (len(times), n_cells). Before the first / after the last time the
    end values hold.
    """

    times: Sequence[float]
    values: Sequence[float] | np.ndarray

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(self.times, float)
        v = np.asarray(self.values, float)
        if t.ndim != 1 or len(t) < 1 or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
            raise ScenarioError("TimeCourse.times must be finite and strictly increasing", field="times", value=t)
        if v.shape[0] != len(t):
            raise ScenarioError(f"TimeCourse.values has {v.shape[0]} rows for {len(t)} times", field="values",
                                value=v.shape)
        return t, v


def lognormal_factors(n_cells: int, cv: float, seed: int, key: int) -> np.ndarray:
    """Mean-one log-normal multipliers with coefficient of variation ``cv``."""
    if cv == 0:
        return np.ones(n_cells)
    sigma = math.sqrt(math.log1p(cv * cv))
    z = stream(seed, PURPOSE_VARIABILITY, key).standard_normal(n_cells)
    return np.exp(sigma * z - 0.5 * sigma * sigma)


def cell_parameters(network: Network, n_cells: int, *, parameters: Mapping[str, object] | None = None,
                    variability: Mapping[str, float] | None = None, seed: int = 0) -> np.ndarray:
    """Per-cell parameter matrix (n_cells × n_parameters), internal units.

    ``parameters``: name → value or array of n_cells (overrides); ``variability``:
    name → coefficient of variation of a mean-preserving log-normal spread.
    """
    P = np.tile(network.parameter_values, (n_cells, 1))
    for name, val in (parameters or {}).items():
        if name not in network.parameter_index:
            raise ScenarioError(_unknown("parameter", name, network.parameter_names), field=f"parameters.{name}",
                                value=name)
        arr = np.asarray(val, float)
        if arr.ndim not in (0, 1) or (arr.ndim == 1 and len(arr) != n_cells) or not np.all(np.isfinite(arr)):
            raise ScenarioError(f"parameters.{name}: give one finite number or one per cell ({n_cells})",
                                field=f"parameters.{name}", value=arr.shape)
        P[:, network.parameter_index[name]] = arr
    for name, cv in (variability or {}).items():
        if name not in network.parameter_index:
            raise ScenarioError(_unknown("parameter", name, network.parameter_names), field=f"variability.{name}",
                                value=name)
        if not (isinstance(cv, (int, float)) and 0 <= cv <= 5):
            raise ScenarioError(f"variability.{name} = {cv!r}: coefficient of variation must be in [0, 5]",
                                field=f"variability.{name}", value=cv)
        k = network.parameter_index[name]
        P[:, k] *= lognormal_factors(n_cells, float(cv), seed, k)
    return P


def input_table(network: Network, n_cells: int, inputs: Mapping[str, object] | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The inputs as :func:`integrate` takes them: (times (m,), values (1 or n_cells, m, n_inputs))
    of the piecewise-linear inputs; ``inputs`` as in :func:`simulate_cells` (None: the defaults)."""
    inputs = dict(inputs or {})
    for name in inputs:
        if name not in network.input_index:
            raise ScenarioError(_unknown("input", name, network.input_names), field=f"inputs.{name}", value=name)
    courses = {k: v.arrays() for k, v in inputs.items() if isinstance(v, TimeCourse)}
    ut = np.unique(np.concatenate([t for t, _ in courses.values()])) if courses else np.zeros(1)
    per_cell = False
    cols = []
    for name in network.input_names:
        v = inputs.get(name, network.input_defaults[network.input_index[name]])
        if isinstance(v, TimeCourse):
            t, vals = courses[name]
            if vals.ndim == 1:
                col = np.interp(ut, t, vals)[None, :]
            else:
                if vals.shape[1] != n_cells:
                    raise ScenarioError(f"inputs.{name}: TimeCourse values need {n_cells} columns",
                                        field=f"inputs.{name}", value=vals.shape)
                col = np.stack([np.interp(ut, t, vals[:, c]) for c in range(n_cells)])
                per_cell = True
        else:
            arr = np.asarray(v, float)
            if arr.ndim == 0:
                col = np.full((1, len(ut)), float(arr))
            elif arr.ndim == 1 and len(arr) == n_cells:
                col = np.repeat(arr[:, None], len(ut), axis=1)
                per_cell = True
            else:
                raise ScenarioError(f"inputs.{name}: give a number, one per cell ({n_cells}) or a TimeCourse",
                                    field=f"inputs.{name}", value=arr.shape)
        if not np.all(np.isfinite(col)) or np.any(col < 0):
            raise ScenarioError(f"inputs.{name}: concentrations must be finite and >= 0", field=f"inputs.{name}",
                                value=v)
        cols.append(col)
    rows = n_cells if per_cell else 1
    U = np.empty((rows, len(ut), len(cols)))
    for k, col in enumerate(cols):
        U[:, :, k] = np.broadcast_to(col, (rows, len(ut)))
    return ut, U


def initial_states(network: Network, n_cells: int, initial) -> np.ndarray:
    """Initial states (n_cells, n_species) as :func:`integrate` takes them; ``initial`` as in
    :func:`simulate_cells` (None: the network's)."""
    if initial is None:
        return np.tile(network.initial_state, (n_cells, 1))
    if isinstance(initial, Mapping):
        y0 = np.tile(network.initial_state, (n_cells, 1))
        for name, v in initial.items():
            if name not in network.species_index:
                raise ScenarioError(_unknown("species", name, network.species_names), field=f"initial.{name}",
                                    value=name)
            y0[:, network.species_index[name]] = v
        return y0
    y0 = np.array(initial, dtype=float)
    if y0.shape == (len(network.species),):
        y0 = np.tile(y0, (n_cells, 1))
    if y0.shape != (n_cells, len(network.species)):
        raise ScenarioError(f"initial: shape {y0.shape}, expected ({n_cells}, {len(network.species)})",
                            field="initial", value=y0.shape)
    return np.ascontiguousarray(y0)


def integrate(network: Network, y0: np.ndarray, P: np.ndarray, ut: np.ndarray, U: np.ndarray, t_out: np.ndarray,
              *, method: str = "rodas4", rtol: float = 1e-6, atol: float = 1e-9, h0: float = 1e-6,
              hmax: float | None = None, max_steps: int = 100_000, clip: bool = True, parallel: bool = True,
              inline: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Array-level entry: states (n_cells, n_times, n_species) and stats (n_cells, 3: accepted, rejected, status)."""
    if method not in METHODS:
        raise ScenarioError(_unknown("method", method, METHODS), field="method", value=method)
    if not (0 < rtol < 1 and atol > 0):
        raise ScenarioError(f"rtol = {rtol!r}, atol = {atol!r}: need 0 < rtol < 1 and atol > 0", field="rtol",
                            value=rtol)
    tab = METHODS[method]
    A, C, M, E, alpha, gamma, newf = tab.arrays()
    n = y0.shape[0]
    fixed = {}
    if inline:  # integer Hill coefficients that are the same in every cell are written into the code
        for name, v in _codegen.exponent_parameters(network).items():
            if np.all(P[:, network.parameter_index[name]] == v):
                fixed[name] = v
    mod = _codegen.kernels(network, fixed, method)
    t_out = np.ascontiguousarray(t_out, dtype=float)
    out = np.empty((n, len(t_out), len(network.species)))
    stats = np.zeros((n, 3), dtype=np.int64)
    span = float(t_out[-1] - t_out[0])
    hmax = span if hmax is None else float(hmax)
    if network.events and len(t_out) > 1:
        # events: a trigger's relations are looked at where steps end (and located inside a step
        # where one changed); steps no longer than the output spacing keep a relation that changes
        # and changes back (an oscillation) from hiding inside one long step
        hmax = min(hmax, span / (len(t_out) - 1))
    args = (np.ascontiguousarray(y0, float), np.ascontiguousarray(P, float), np.ascontiguousarray(U, float))
    rest = (A, C, M, E, alpha, gamma, newf, float(tab.elo), float(rtol), float(atol), float(h0), max(hmax, 1e-300),
            int(max_steps), bool(clip), out, stats)
    fn = mod.solve_batch if parallel else mod.solve_serial
    fn(*args, np.ascontiguousarray(ut, float), t_out, *rest)
    return out, stats


def simulate_cells(network: Network, n_cells: int = 1, *, inputs: Mapping[str, object] | None = None,
                   t_span: tuple[float, float] = (0.0, 2.0), t_eval: Sequence[float] | int | None = None,
                   parameters: Mapping[str, object] | None = None, variability: Mapping[str, float] | None = None,
                   initial=None, seed: int = 0, method: str = "rodas4", rtol: float = 1e-6, atol: float = 1e-9,
                   max_steps: int = 100_000, threads: int | None = None, on_failure: str = "raise",
                   clip: bool = True):
    """Simulate ``n_cells`` copies of ``network``; returns an :class:`xarray.Dataset`.

    Parameters
    ----------
    inputs : name → number (all cells), array (one per cell) or :class:`TimeCourse` (nM).
    t_span : (start, end) in days. ``t_eval``: output times (days) or a number of
        equally spaced points (default: hourly).
    parameters, variability : per-cell overrides and log-normal spread (see :func:`cell_parameters`).
    initial : species → value, or an array (n_species,) / (n_cells, n_species); default: the network's.
    method : "rodas4" (default), "rodas3" or "ros3". ``rtol``, ``atol``: local error tolerances.
    threads : numba threads for this call (default: numba's setting). Results do not depend on it.
    on_failure : "raise" (default) or "nan" (failed cells keep NaN after the failure time).
    clip : True (default): species not marked ``signed`` are held at >= 0 after every step
        (concentrations; round-off below 0 cannot feed back). False: nothing is clipped, as in
        SBML, where a species may go negative (what the SBML Test Suite expects).

    Returns
    -------
    Dataset with ``state`` (cell, time, species), per-cell ``parameter_values`` (cell, parameter),
    ``steps``, ``rejected``, ``status``; attrs record the network hash, method, tolerances and seed.
    Every variable and coordinate has ``units`` and ``long_name`` attributes (time in days,
    concentrations in nM, dimensionless ``"1"``); the coordinates ``species_units``,
    ``parameter_units`` (and ``input_units``) give the unit of each species, parameter, input.
    """
    import xarray as xr

    if not (isinstance(n_cells, (int, np.integer)) and n_cells >= 1):
        raise ScenarioError(f"n_cells = {n_cells!r}: must be a positive integer", field="n_cells", value=n_cells)
    t0, t1 = map(float, t_span)
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise ScenarioError(f"t_span = {t_span!r}: need finite start < end (days)", field="t_span", value=t_span)
    if t_eval is None:
        t_eval = int(round((t1 - t0) * 24)) + 1
    if isinstance(t_eval, (int, np.integer)):
        t_out = np.linspace(t0, t1, max(int(t_eval), 2))
    else:
        t_out = np.asarray(t_eval, float)
        if t_out.ndim != 1 or len(t_out) < 2 or np.any(np.diff(t_out) <= 0):
            raise ScenarioError("t_eval must be at least 2 strictly increasing times", field="t_eval", value=None)
        t_out = np.concatenate([[t0], t_out[t_out > t0]]) if t_out[0] > t0 else t_out
    if on_failure not in ("raise", "nan"):
        raise ScenarioError(f"on_failure = {on_failure!r}: 'raise' or 'nan'", field="on_failure", value=on_failure)
    P = cell_parameters(network, int(n_cells), parameters=parameters, variability=variability, seed=seed)
    ut, U = input_table(network, int(n_cells), inputs)
    y0 = initial_states(network, int(n_cells), initial)
    if threads is not None:
        import numba

        old = numba.get_num_threads()
        numba.set_num_threads(int(threads))
    try:
        out, stats = integrate(network, y0, P, ut, U, t_out, method=method, rtol=rtol, atol=atol,
                               max_steps=max_steps, clip=bool(clip))
    finally:
        if threads is not None:
            numba.set_num_threads(old)
    failed = np.flatnonzero(stats[:, 2])
    if len(failed) and on_failure == "raise":
        why = {1: "max_steps reached", 2: "step size underflow", 3: "singular matrix",
               4: "too many pending events"}
        raise CellSolverError(f"{len(failed)} of {n_cells} cells failed (first: cell {failed[0]}, "
                              f"{why.get(int(stats[failed[0], 2]), 'error')}); raise max_steps, loosen rtol, "
                              f"or pass on_failure='nan' to keep the others")
    from .. import __version__

    ds = xr.Dataset(
        {
            "state": (("cell", "time", "species"), out),
            "parameter_values": (("cell", "parameter"), P),
            "steps": ("cell", stats[:, 0]),
            "rejected": ("cell", stats[:, 1]),
            "status": ("cell", stats[:, 2]),
        },
        coords={"cell": np.arange(n_cells), "time": t_out, "species": list(network.species_names),
                "parameter": list(network.parameter_names)},
        attrs={"network": network.name, "network_hash": network.content_hash, "method": method, "rtol": rtol,
               "atol": atol, "seed": seed, "clip": int(bool(clip)), "time_unit": "day",
               "seedsoil_version": __version__},
    )
    if U.shape[1] == 1:
        ds["inputs"] = (("cell", "input"), np.broadcast_to(U[:, 0, :], (n_cells, U.shape[2])).copy())
        ds = ds.assign_coords(input=list(network.input_names))
    _annotate(ds, network)
    return ds


def _unit(unit: str) -> str:
    """A network unit as a ``units`` attribute: dimensionless is ``"1"`` (CF convention)."""
    return unit or "1"


def _common_unit(units: Sequence[str], per: str) -> str:
    distinct = sorted(set(units))
    return distinct[0] if len(distinct) == 1 else f"per {per}: see the {per}_units coordinate"


def _annotate(ds, network: Network) -> None:
    """``units`` and ``long_name`` attributes of every variable and coordinate (in place; no
    value changes). Time is in days, concentrations in nM (docs/cell.md); the units of each
    species, parameter and input are also coordinates (``species_units``, ...)."""
    species_units = [_unit(sp.unit) for sp in network.species]
    parameter_units = [_unit(p.unit) for p in network.parameters]
    ds.coords["species_units"] = ("species", species_units)
    ds.coords["parameter_units"] = ("parameter", parameter_units)
    ds["cell"].attrs.update(long_name="cell index", units="1")
    ds["time"].attrs.update(long_name="time (the clock of t_span and of the inputs' TimeCourses)", units="day")
    ds["species"].attrs.update(long_name="species (state variable) of the network")
    ds["parameter"].attrs.update(long_name="parameter of the network")
    ds["species_units"].attrs.update(long_name="unit of each species (1: dimensionless, e.g. an activity fraction)")
    ds["parameter_units"].attrs.update(long_name="unit of each parameter (internal units: day, nM)")
    ds["state"].attrs.update(long_name="species level per cell and time (activity fraction or concentration)",
                             units=_common_unit(species_units, "species"))
    ds["parameter_values"].attrs.update(long_name="parameter value per cell (internal units)",
                                        units=_common_unit(parameter_units, "parameter"))
    ds["steps"].attrs.update(long_name="accepted solver steps per cell", units="1")
    ds["rejected"].attrs.update(long_name="rejected solver steps per cell", units="1")
    ev = bool(network.events)  # status 4 only exists for networks with events
    ds["status"].attrs.update(long_name="solver status per cell", units="1", flag_values=[0, 1, 2, 3] + [4] * ev,
                              flag_meanings="ok max_steps_reached step_size_underflow singular_matrix"
                              + " event_queue_full" * ev)
    if "inputs" in ds:
        input_units = [_unit(u.unit) for u in network.inputs]
        ds.coords["input_units"] = ("input", input_units)
        ds["input"].attrs.update(long_name="input (external signal) of the network")
        ds["input_units"].attrs.update(long_name="unit of each input")
        ds["inputs"].attrs.update(long_name="input level per cell (constant over time)",
                                  units=_common_unit(input_units, "input"))
