"""Diffusing substrates of the tissue scale (oxygen, drugs, cytokines) on a uniform voxel grid.

Each substrate's concentration ρ (any amount per µm³) obeys, in µm and minutes,

    ∂ρ/∂t = D ∇²ρ − λ ρ + Σ_agents (V_a / V_voxel) [S (ρ* − ρ) − U ρ] + E / V_voxel

with diffusion coefficient D (µm²/min), decay rate λ (1/min) and, for each agent in the
voxel, secretion rate S (1/min) towards the saturation density ρ*, uptake rate U (1/min) and
net export E (amount/min) (BioFVM; Ghaffarizadeh, Friedman & Macklin 2016,
doi:10.1093/bioinformatics/btv730). Faces are zero-flux or Dirichlet (the outer voxel layer
held at a value, as BioFVM's Dirichlet nodes); vessel voxels are held at a value that may
follow a curve in time. The solver (:mod:`._kernels_fields`) takes fixed sub-steps
``dt_diffusion``: per-agent sources and sinks implicit per voxel, then the locally
one-dimensional implicit sweeps x, y(, z) with decay λ/d per sweep — unconditionally
stable, first order in time, second order in space. docs/fields.md has the derivations.

Geometry: the grid's lower corner is ``origin`` (default 0); voxel (i, j, k) is the cube
``[origin + i dx, origin + (i + 1) dx)`` … with centre ``origin + (i + ½) dx``. A 2-D grid is
a slab one voxel thick, so ``V_voxel = dx³`` in 2-D too (assumption: PhysiCell's convention
of a 2-D domain with ``dz = dx``); a net export E in a 2-D voxel is then a line source of
E / dx per µm of depth.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, Union

import numba
import numpy as np

from . import _kernels_fields as KF

#: default sub-step of the diffusion solver, min (BioFVM / PhysiCell's ``diffusion_dt``, 0.01 min)
DT_DIFFUSION = 0.01
#: the boundary kinds: zero Neumann, or a number (a Dirichlet value, amount/µm³)
NO_FLUX = "no-flux"
FACES = ("x-", "x+", "y-", "y+", "z-", "z+")
#: grids of at least this many voxels run the parallel kernel when ``parallel=None``, numba
#: has more than one thread and the machine has spare cores (measured on 2 cores, docs/fields.md)
PARALLEL_MIN_VOXELS = 100_000
#: relative tolerance on a duration being a whole number of sub-steps
_STEP_TOL = 1e-9

Boundary = Union[str, float]
Value = Union[float, Callable[[float], float]]


def _spare_cores() -> float:
    """Cores the 1-minute load average leaves free besides this process (∞ where unknown).
    A parallel loop waits at its barrier for a thread the OS has descheduled, which on a
    loaded machine cost up to 1000 times the serial time (docs/fields.md)."""
    try:
        return (os.cpu_count() or 1) - max(os.getloadavg()[0], 1.0)
    except (AttributeError, OSError):  # pragma: no cover - no load average on this platform
        return math.inf


# --------------------------------------------------------------------------- validation
def _positive(name: str, value: float, unit: str, *, allow_zero: bool = False) -> float:
    v = float(value)
    ok = (v >= 0.0 if allow_zero else v > 0.0) and math.isfinite(v)
    if not ok:
        rng = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name} = {value!r} {unit}: must be finite and {rng}")
    return v


@dataclass(frozen=True)
class Substrate:
    """One diffusing substrate.

    ``diffusion`` D in µm²/min (≥ 0), ``decay`` λ in 1/min (≥ 0), ``initial`` concentration
    (amount/µm³) everywhere at t = 0, ``boundary``: ``"no-flux"``, a number (Dirichlet value
    on every face) or a mapping face → either, faces ``x- x+ y- y+ z- z+`` (missing faces are
    no-flux)."""

    name: str
    diffusion: float
    decay: float = 0.0
    initial: float = 0.0
    boundary: Union[Boundary, Mapping[str, Boundary]] = NO_FLUX

    def __post_init__(self) -> None:
        _positive(f"substrate {self.name!r} diffusion", self.diffusion, "µm²/min", allow_zero=True)
        _positive(f"substrate {self.name!r} decay", self.decay, "1/min", allow_zero=True)
        if not math.isfinite(float(self.initial)):
            raise ValueError(f"substrate {self.name!r} initial = {self.initial!r} amount/µm³: must be finite")
        self.faces()

    def faces(self) -> dict[str, Boundary]:
        """Face → ``"no-flux"`` or a float (Dirichlet value), for all six faces."""
        b = self.boundary
        spec = dict(b) if isinstance(b, Mapping) else {f: b for f in FACES}
        out = {}
        for face in spec:
            if face not in FACES:
                raise ValueError(f"substrate {self.name!r} boundary face {face!r}: must be one of {FACES}")
        for face in FACES:
            kind = spec.get(face, NO_FLUX)
            if isinstance(kind, str):
                if kind != NO_FLUX:
                    raise ValueError(f"substrate {self.name!r} boundary[{face!r}] = {kind!r}: "
                                     f"must be {NO_FLUX!r} or a number (Dirichlet value, amount/µm³)")
                out[face] = NO_FLUX
            else:
                v = float(kind)
                if not math.isfinite(v):
                    raise ValueError(f"substrate {self.name!r} boundary[{face!r}] = {kind!r} amount/µm³: "
                                     "must be finite")
                out[face] = v
        return out


@dataclass
class AgentExchange:
    """What agents exchange with the fields over an :meth:`DiffusionFields.advance` call
    (positions held during it).

    ``positions`` (n, d) µm; ``volume`` (n,) µm³; per agent and substrate (n, n_sub):
    ``secretion`` S (1/min), ``saturation`` ρ* (amount/µm³), ``uptake`` U (1/min),
    ``export`` E (amount/min; default 0). Zero arrays where not given."""

    positions: np.ndarray
    volume: np.ndarray
    secretion: np.ndarray | None = None
    saturation: np.ndarray | None = None
    uptake: np.ndarray | None = None
    export: np.ndarray | None = None


# --------------------------------------------------------------------------- closed forms
def gaussian_pulse(r2: np.ndarray, t: float, diffusion: float, decay: float, sigma0: float, dims: int,
                   peak: float = 1.0) -> np.ndarray:
    """Free-space solution from ``peak · exp(−r²/(2σ₀²))`` at t = 0, in ``dims`` dimensions:
    ``peak (σ₀²/σ²)^(d/2) exp(−r²/(2σ²)) e^(−λt)``, ``σ² = σ₀² + 2Dt`` (r² in µm², t in min)."""
    s2 = sigma0 ** 2 + 2.0 * diffusion * t
    return peak * (sigma0 ** 2 / s2) ** (dims / 2) * np.exp(-np.asarray(r2) / (2.0 * s2) - decay * t)


def point_source_steady(r: np.ndarray, rate: float, diffusion: float, decay: float, dims: int) -> np.ndarray:
    """Steady state around a point source of ``rate`` (amount/min; in 2-D amount/min per µm of
    depth) with decay, ``L = √(D/λ)``: 3-D ``q e^(−r/L) / (4π D r)``; 2-D ``q K0(r/L) / (2π D)``."""
    from scipy.special import k0

    r = np.asarray(r, dtype=float)
    length = math.sqrt(diffusion / decay)
    if dims == 3:
        return rate * np.exp(-r / length) / (4.0 * math.pi * diffusion * r)
    if dims == 2:
        return rate * k0(r / length) / (2.0 * math.pi * diffusion)
    raise ValueError(f"dims = {dims!r}: must be 2 or 3")


def gradient(rho: np.ndarray, dx: float) -> np.ndarray:
    """∇ρ at voxel centres, shape (d, *grid): central differences ``(ρᵢ₊₁ − ρᵢ₋₁)/(2dx)``
    inside, one-sided ``(ρ₁ − ρ₀)/dx`` at the faces (first order there); zero along an axis
    of length 1. Units: amount/µm³ per µm."""
    out = np.zeros((rho.ndim, *rho.shape))
    for ax in range(rho.ndim):
        if rho.shape[ax] > 1:
            out[ax] = np.gradient(rho, dx, axis=ax, edge_order=1)
    return out


def interpolate(grid: np.ndarray, positions: np.ndarray, origin: np.ndarray, dx: float) -> np.ndarray:
    """Multilinear (bi- or trilinear) interpolation of ``grid`` (values at voxel centres) at
    ``positions`` (n, d) µm; within half a voxel of a face the nearest centre's value along
    that axis is used (constant extrapolation)."""
    d = grid.ndim
    s = (positions - origin) / dx - 0.5
    lo = np.empty((len(positions), d), dtype=np.int64)
    w = np.empty((len(positions), d))
    for ax in range(d):
        n = grid.shape[ax]
        x = np.clip(s[:, ax], 0.0, n - 1)
        i = np.minimum(np.floor(x).astype(np.int64), max(n - 2, 0))
        lo[:, ax] = i
        w[:, ax] = x - i if n > 1 else 0.0
    out = np.zeros(len(positions))
    for corner in range(2 ** d):
        idx = []
        weight = np.ones(len(positions))
        for ax in range(d):
            bit = (corner >> ax) & 1
            n = grid.shape[ax]
            idx.append(np.minimum(lo[:, ax] + bit, n - 1))
            weight *= w[:, ax] if bit else 1.0 - w[:, ax]
        out += weight * grid[tuple(idx)]
    return out


# --------------------------------------------------------------------------- the solver
@dataclass
class _Fixed:
    mask: np.ndarray
    values: dict[int, Value] = field(default_factory=dict)


class DiffusionFields:
    """Substrates on one uniform grid of ``shape`` (nx, ny) or (nx, ny, nz) voxels of ``dx`` µm,
    advanced in sub-steps of ``dt_diffusion`` min.

    ``fields[s]`` is substrate s's concentration, shape ``shape``; :meth:`field` by name.
    ``parallel=True`` runs the line solves of each sweep and the agents' sources (in chunks of
    whole voxels) on numba's threads, ``False`` serially; both give bitwise the same result.
    ``None`` (the default) chooses, call by call: parallel when numba has more than one
    thread, the grid has at least :data:`PARALLEL_MIN_VOXELS` voxels (below that a parallel
    launch per sweep costs about what it saves) and the 1-minute load average leaves a core
    free for each extra thread (on a loaded machine the parallel kernel was up to 1000 times
    slower; measured on 2 cores, docs/fields.md).

    The fixed-voxel map and the Thomas factorisation of every sweep are computed once and
    kept until :meth:`add_vessels` changes the fixed voxels.
    """

    def __init__(self, shape: Sequence[int], dx: float, substrates: Sequence[Substrate], *,
                 dt_diffusion: float = DT_DIFFUSION, origin: Sequence[float] | None = None,
                 parallel: bool | None = None) -> None:
        shape = tuple(int(n) for n in shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(f"shape = {shape!r} voxels: must be 2 or 3 sizes, each ≥ 1")
        self.shape = shape
        self.dims = len(shape)
        self.dx = _positive("dx", dx, "µm")
        self.dt = _positive("dt_diffusion", dt_diffusion, "min")
        if not substrates:
            raise ValueError("substrates = []: need at least one Substrate")
        names = [s.name for s in substrates]
        if len(set(names)) != len(names):
            raise ValueError(f"substrates = {names!r}: names must be unique")
        self.substrates = tuple(substrates)
        self.origin = np.zeros(self.dims) if origin is None else np.asarray(origin, dtype=float)
        if self.origin.shape != (self.dims,):
            raise ValueError(f"origin = {origin!r} µm: must have {self.dims} coordinates")
        self.v_voxel = self.dx ** 3
        self.time = 0.0
        self.parallel = None if parallel is None else bool(parallel)
        self._cache = None
        self._buffers = None  # work arrays of the agent path, kept between calls
        self._grid3 = shape + (1,) * (3 - self.dims)
        n_sub = len(substrates)
        self._rho = np.empty((n_sub, int(np.prod(self._grid3))))
        for s, sub in enumerate(substrates):
            self._rho[s] = float(sub.initial)
        self._fixed: list[_Fixed] = []
        self._face_groups()
        self._impose(self.time)

    # ---------------------------------------------------------------- state
    @property
    def fields(self) -> np.ndarray:
        """All concentrations, shape (n_sub, *shape) (a view: writes change the state)."""
        return self._rho.reshape((len(self.substrates), *self.shape))

    def index(self, name: str) -> int:
        for s, sub in enumerate(self.substrates):
            if sub.name == name:
                return s
        raise ValueError(f"substrate = {name!r}: unknown; have {[s.name for s in self.substrates]}")

    def field(self, name: str) -> np.ndarray:
        """Concentration of ``name`` (amount/µm³), shape ``shape`` (a view)."""
        return self.fields[self.index(name)]

    def total(self, name: str) -> float:
        """Amount of ``name`` in the domain: Σ ρ V_voxel."""
        return float(self._rho[self.index(name)].sum() * self.v_voxel)

    # ---------------------------------------------------------------- fixed voxels
    def _face_groups(self) -> None:
        for s, sub in enumerate(self.substrates):
            for face, kind in sub.faces().items():
                if kind == NO_FLUX:
                    continue
                ax = "xyz".index(face[0])
                if ax >= self.dims:
                    continue
                mask = np.zeros(self.shape, dtype=bool)
                sl = [slice(None)] * self.dims
                sl[ax] = 0 if face[1] == "-" else -1
                mask[tuple(sl)] = True
                self._fixed.append(_Fixed(mask, {s: float(kind)}))

    def add_vessels(self, mask: np.ndarray, values: Mapping[str, Value]) -> None:
        """Hold the voxels of boolean ``mask`` (shape ``shape``) at ``values[name]`` for each
        named substrate: a number (amount/µm³) or a function of time t (min) → number, read at
        the end of each sub-step (the solve is implicit). Later calls win where masks overlap."""
        mask = np.asarray(mask)
        if mask.shape != self.shape or mask.dtype != bool:
            raise ValueError(f"mask: shape {mask.shape} dtype {mask.dtype}; must be boolean of shape {self.shape}")
        vals = {}
        for name, v in values.items():
            if not callable(v) and not math.isfinite(float(v)):
                raise ValueError(f"values[{name!r}] = {v!r} amount/µm³: must be finite")
            vals[self.index(name)] = v if callable(v) else float(v)
        self._fixed.append(_Fixed(mask.copy(), vals))
        self._cache = None
        self._impose(self.time)

    def _groups(self) -> tuple[np.ndarray, list[list[tuple[int, Value]]]]:
        """Per substrate: the flat group-id map (−1 free) and its groups' values in order."""
        n_sub = len(self.substrates)
        fix = np.full(self._rho.shape, -1, dtype=np.int32)
        groups: list[list[Value]] = [[] for _ in range(n_sub)]
        for fx in self._fixed:
            flat = fx.mask.reshape(-1)
            for s, v in fx.values.items():
                fix[s, flat] = len(groups[s])
                groups[s].append(v)
        return fix, groups

    @staticmethod
    def _value(v: Value, t: float) -> float:
        out = float(v(t)) if callable(v) else v
        if not math.isfinite(out):
            raise ValueError(f"fixed value at t = {t} min is {out!r}: must be finite")
        return out

    def _impose(self, t: float) -> None:
        fix, groups = self._solver()[:2]
        for s in range(len(self.substrates)):
            for g, v in enumerate(groups[s]):
                self._rho[s, fix[s] == g] = self._value(v, t)

    # ---------------------------------------------------------------- agents
    def voxel_of(self, positions: np.ndarray) -> np.ndarray:
        """Flat voxel index (in the (nx, ny, nz) C order) of each position (n, d) µm; positions
        must lie in the domain ``[origin, origin + shape·dx]``."""
        pos = np.asarray(positions, dtype=float).reshape(-1, self.dims) if np.size(positions) else \
            np.zeros((0, self.dims))
        self._check_inside(pos)
        ijk = np.floor((pos - self.origin) / self.dx).astype(np.int64)
        ijk = np.minimum(ijk, np.array(self.shape) - 1)
        g = self._grid3
        if self.dims == 2:
            return ijk[:, 0] * g[1] + ijk[:, 1]
        return (ijk[:, 0] * g[1] + ijk[:, 1]) * g[2] + ijk[:, 2]

    def _check_inside(self, pos: np.ndarray) -> None:
        if pos.ndim != 2 or pos.shape[1] != self.dims:
            raise ValueError(f"positions: shape {pos.shape}; must be (n, {self.dims}) µm")
        hi = self.origin + np.array(self.shape) * self.dx
        bad = ~np.all((pos >= self.origin) & (pos <= hi), axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"positions[{i}] = {pos[i].tolist()} µm: outside the domain "
                             f"[{self.origin.tolist()}, {hi.tolist()}] µm")

    def _agent_terms_checked(self, agents: AgentExchange | None):
        """The agents' voxels and terms by numpy, with every check (the reference path, and
        the one that names what is wrong when the fast path's check fails)."""
        n_sub = len(self.substrates)
        if agents is None:
            z = np.zeros((0, n_sub))
            return np.zeros(0, dtype=np.int64), z, z.copy(), 0
        vox = self.voxel_of(agents.positions)
        n = len(vox)
        vol = np.asarray(agents.volume, dtype=float).reshape(-1)
        if vol.shape != (n,) or not np.all(vol >= 0):
            raise ValueError(f"volume: shape {vol.shape}, must be ({n},) µm³ and ≥ 0")

        def col(name, unit, arr):
            if arr is None:
                return np.zeros((n, n_sub))
            a = np.asarray(arr, dtype=float)
            if a.shape != (n, n_sub):
                raise ValueError(f"{name}: shape {a.shape}; must be ({n}, {n_sub}) (agents × substrates) {unit}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name}: must be finite ({unit})")
            return a

        sec = col("secretion", "1/min", agents.secretion)
        sat = col("saturation", "amount/µm³", agents.saturation)
        upt = col("uptake", "1/min", agents.uptake)
        exp = col("export", "amount/min", agents.export)
        if (sec < 0).any():
            raise ValueError("secretion: must be ≥ 0 (1/min)")
        if (upt < 0).any():
            raise ValueError("uptake: must be ≥ 0 (1/min)")
        c = (vol / self.v_voxel)[:, None]
        num = self.dt * c * sec * sat + self.dt * exp / self.v_voxel
        den = self.dt * c * (sec + upt)
        return vox, num, den, n

    def _agent_prep(self, agents: AgentExchange):
        """Voxels, checks and the per-voxel affine source maps of the agents, in numba
        (:func:`._kernels_fields.agent_prep`); on any failed check the numpy path raises."""
        n_sub = len(self.substrates)
        # the same reading of the arrays as voxel_of and _agent_terms_checked
        pos = np.ascontiguousarray(np.asarray(agents.positions, dtype=float).reshape(-1, self.dims)
                                   if np.size(agents.positions) else np.zeros((0, self.dims)))
        vol = np.ascontiguousarray(np.asarray(agents.volume, dtype=float).reshape(-1))
        arrays = []
        shapes_ok = vol.shape == pos.shape[:1]
        for arr in (agents.secretion, agents.saturation, agents.uptake, agents.export):
            a = np.zeros((0, n_sub)) if arr is None else np.ascontiguousarray(arr, dtype=float)
            shapes_ok = shapes_ok and (arr is None or a.shape == (len(pos), n_sub))
            arrays.append(a)
        if shapes_ok:
            hi = self.origin + np.array(self.shape) * self.dx
            nx, ny, nz = self._grid3
            n = len(pos)
            buf = self._buffers
            if buf is None or len(buf["slot"]) < n:
                size = max(n, 1024)
                buf = self._buffers = {
                    "slot_of": np.full(int(np.prod(self._grid3)), -1, dtype=np.int64),
                    "slot": np.empty(size, dtype=np.int64), "occ": np.empty(size, dtype=np.int64),
                    "ab": np.empty((size, 3, n_sub)), "gd": np.empty((size, 2, n_sub)), "seen": np.empty((size, n_sub))}
            ok, m = KF.agent_prep(pos, self.origin, hi, self.dx, nx, ny, nz, self.dims, vol, *arrays,
                                  self._solver()[0], self.dt, self.v_voxel, buf["slot_of"], buf["slot"], buf["occ"],
                                  buf["ab"], buf["gd"])
            if ok:
                seen = buf["seen"][:m]
                seen[...] = 0.0
                return buf["slot"][:n], buf["occ"][:m], buf["ab"][:m], buf["gd"][:n], seen
        self._agent_terms_checked(agents)  # raises, naming the argument
        raise AssertionError("agent_prep refused agents that the numpy check accepts")  # pragma: no cover

    def _solver(self):
        """The cached (fixed map, groups, fixed-voxel lists, coefficients), rebuilt after
        :meth:`add_vessels` (or a change of dt or dx)."""
        key = (self.dt, self.dx, len(self._fixed))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        fix, groups = self._groups()
        n_sub = len(self.substrates)
        fidx, fgrp, foff = [], [], [0]
        for s in range(n_sub):
            idx = np.flatnonzero(fix[s] >= 0)
            fidx.append(idx)
            fgrp.append(fix[s, idx].astype(np.int64))
            foff.append(foff[-1] + len(idx))
        nx, ny, nz = self._grid3
        n_max = max(self._grid3)
        co_uniform = np.zeros((n_sub, self.dims, 3, n_max))
        vslot = np.full(n_sub, -1, dtype=np.int64)
        with_fixed = [s for s in range(n_sub) if len(fidx[s])]
        co_voxel = np.zeros((max(1, len(with_fixed)), self.dims, 3, fix.shape[1] if with_fixed else 1))
        for s, sub in enumerate(self.substrates):
            r = sub.diffusion * self.dt / self.dx ** 2
            a = sub.decay * self.dt / self.dims
            if s in with_fixed:
                vslot[s] = with_fixed.index(s)
                for ax in range(self.dims):
                    KF.factor_voxels(fix[s], r, a, ax, nx, ny, nz, co_voxel[vslot[s], ax])
            else:
                for ax in range(self.dims):
                    KF.factor_uniform(r, a, self._grid3[ax], co_uniform[s, ax])
        solver = (fix, groups, np.concatenate(fidx).astype(np.int64), np.concatenate(fgrp),
                  np.array(foff, dtype=np.int64), co_uniform, co_voxel, vslot)
        self._cache = (key, solver)
        return solver

    def uses_parallel(self) -> bool:
        """Whether :meth:`advance` runs the parallel kernel (``parallel``, or the automatic choice)."""
        if self.parallel is not None:
            return self.parallel
        threads = numba.get_num_threads()
        if threads < 2 or int(np.prod(self.shape)) < PARALLEL_MIN_VOXELS:
            return False
        return _spare_cores() >= threads - 1

    # ---------------------------------------------------------------- time stepping
    def n_substeps(self, duration: float) -> int:
        """Sub-steps in ``duration`` min; refuses one that is not a whole number of sub-steps."""
        duration = _positive("duration", duration, "min", allow_zero=True)
        k = round(duration / self.dt)
        if abs(k * self.dt - duration) > _STEP_TOL * max(duration, self.dt):
            raise ValueError(f"duration = {duration!r} min: must be a whole number of dt_diffusion = {self.dt} min")
        return int(k)

    def advance(self, duration: float, agents: AgentExchange | None = None) -> np.ndarray:
        """Advance all substrates by ``duration`` min (a whole number of sub-steps), agents held
        where they are. Returns the amount each agent put into each field (n, n_sub; negative:
        taken up), Σ over sub-steps of ``V_voxel (ρ_after − ρ_before)`` at its voxel."""
        k = self.n_substeps(duration)
        n_sub = len(self.substrates)
        if agents is None:
            slot = occ = np.zeros(0, dtype=np.int64)
            ab, gd, seen = np.zeros((0, 3, n_sub)), np.zeros((0, 2, n_sub)), np.zeros((0, n_sub))
        else:
            slot, occ, ab, gd, seen = self._agent_prep(agents)
        if k == 0:
            return np.zeros((len(slot), n_sub))
        fix, groups, fidx, fgrp, foff, co_uniform, co_voxel, vslot = self._solver()
        n_groups = max(1, max(len(g) for g in groups))
        gvals = np.zeros((k, len(self.substrates), n_groups))
        for s, gs in enumerate(groups):
            for g, v in enumerate(gs):
                if callable(v):
                    gvals[:, s, g] = [self._value(v, self.time + (i + 1) * self.dt) for i in range(k)]
                else:
                    gvals[:, s, g] = v
        nx, ny, nz = self._grid3
        kernel = KF.advance if self.uses_parallel() else KF.advance_serial
        kernel(self._rho, fix, fidx, fgrp, foff, gvals, co_uniform, co_voxel, vslot, nx, ny, nz, self.dims, k,
               occ, ab, seen)
        self.time += k * self.dt
        exchanged = np.empty((len(slot), n_sub))
        KF.agent_exchange(slot, gd, seen, k, exchanged)
        return exchanged

    def _advance_reference(self, duration: float, agents: AgentExchange | None = None) -> np.ndarray:
        """:meth:`advance` by the reference solve (numpy agent terms, Thomas coefficients
        recomputed in every sweep), for tests."""
        k = self.n_substeps(duration)
        if agents is None:
            vox, num, den, n = np.zeros(0, dtype=np.int64), np.zeros((0, len(self.substrates))), \
                np.zeros((0, len(self.substrates))), 0
        else:
            vox, num, den, n = self._agent_terms_checked(agents)
        exchanged = np.zeros((n, len(self.substrates)))
        fix, groups = self._groups()
        n_groups = max(1, max(len(g) for g in groups))
        gvals = np.zeros((k, len(self.substrates), n_groups))
        for s, gs in enumerate(groups):
            for g, v in enumerate(gs):
                gvals[:, s, g] = [self._value(v, self.time + (i + 1) * self.dt) for i in range(k)] if callable(v) \
                    else v
        r = np.array([sub.diffusion * self.dt / self.dx ** 2 for sub in self.substrates])
        a = np.array([sub.decay * self.dt / self.dims for sub in self.substrates])
        nx, ny, nz = self._grid3
        KF.advance_reference(self._rho, fix, gvals, r, a, nx, ny, nz, self.dims, k, vox, num, den, self.v_voxel,
                             exchanged)
        self.time += k * self.dt
        return exchanged

    # ---------------------------------------------------------------- reading the fields
    def gradient(self, name: str) -> np.ndarray:
        """∇ρ of ``name`` at voxel centres, shape (d, *shape), amount/µm³ per µm (:func:`gradient`)."""
        return gradient(self.field(name), self.dx)

    def sample(self, name: str, positions: np.ndarray) -> np.ndarray:
        """Concentration of ``name`` at ``positions`` (n, d) µm, multilinear between voxel centres."""
        pos = np.asarray(positions, dtype=float)
        self._check_inside(pos)
        return interpolate(self.field(name), pos, self.origin, self.dx)

    def sample_gradient(self, name: str, positions: np.ndarray) -> np.ndarray:
        """∇ρ of ``name`` at ``positions`` (n, d) µm: the voxel-centre gradient, multilinear. (n, d)."""
        pos = np.asarray(positions, dtype=float)
        self._check_inside(pos)
        g = self.gradient(name)
        return np.stack([interpolate(g[ax], pos, self.origin, self.dx) for ax in range(self.dims)], axis=1)
