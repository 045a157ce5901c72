"""The tissue engine: agent columns, the neighbour grid and the step loop over the numba kernels.

Units: µm and minutes throughout ``seedsoil.tissue``. :class:`Agents` holds one
array per attribute (agents are columns; docs/tissue.md, Numerics); :class:`TissueEngine` drives the
kernels of :mod:`._kernels`: bin agents into a uniform voxel grid (cell list),
compute motility and pair forces, advance positions (Adams-Bashforth 2), remodel
the matrix, divide and die. At each neighbour-list rebuild the agent columns are
re-ordered by voxel, so neighbours sit close together in memory (the
cache-friendly spatial ordering that keeps the cost per agent flat as N grows).
Re-ordering never changes results: randomness is keyed by agent id.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numba
import numpy as np

from . import _kernels as K

#: per-agent columns other than the vectors (name, dtype, fill value for new slots)
SCALARS = (
    ("radius", np.float64, 0.0), ("kind", np.int8, 0), ("mode", np.int8, 0), ("state", np.int8, K.DEAD),
    ("ids", np.int64, -1), ("speed", np.float64, 0.0), ("persist", np.float64, 1.0), ("hind", np.float64, 0.0),
    ("degrade", np.float64, 0.0), ("align", np.float64, 0.0), ("div_rate", np.float64, 0.0),
    ("death_rate", np.float64, 0.0), ("contacts", np.int32, 0), ("escape_step", np.int64, -1),
)
VECTORS = ("pos", "vel", "vel_prev", "mot", "drift")
#: per-agent rows of a width of their own: the agent's cell-network species and parameters
#: (:mod:`seedsoil.tissue.signalling`; width 0 when agents carry no network)
MATRICES = ("species", "cellpar")
#: the agent columns kept at each saved time (TissueResult.snapshots, agents.zarr)
SNAPSHOT_COLUMNS = ("ids", "kind", "mode", "state", "pos")
#: motility laws by their scenario names (``motility.law``)
LAWS = {"ou": K.OU, "turn": K.TURN}
#: below this many agents the serial kernels run (thread wake-ups would cost more than the work)
PARALLEL_MIN_AGENTS = 4096


@dataclass
class Agents:
    """Agents as columns; rows ``[0, n)`` are in use, the rest is spare capacity."""

    n: int
    pos: np.ndarray
    vel: np.ndarray
    vel_prev: np.ndarray
    mot: np.ndarray
    drift: np.ndarray
    radius: np.ndarray
    kind: np.ndarray
    mode: np.ndarray
    state: np.ndarray
    ids: np.ndarray
    speed: np.ndarray
    persist: np.ndarray
    hind: np.ndarray
    degrade: np.ndarray
    align: np.ndarray
    div_rate: np.ndarray
    death_rate: np.ndarray
    contacts: np.ndarray
    escape_step: np.ndarray
    species: np.ndarray
    cellpar: np.ndarray

    @classmethod
    def empty(cls, capacity: int, dims: int, *, n_species: int = 0, n_parameters: int = 0) -> "Agents":
        cols = {v: np.zeros((capacity, dims)) for v in VECTORS}
        for name, dt, fill in SCALARS:
            cols[name] = np.full(capacity, fill, dtype=dt)
        cols["species"] = np.zeros((capacity, int(n_species)))
        cols["cellpar"] = np.zeros((capacity, int(n_parameters)))
        return cls(n=0, **cols)

    def carry_network(self, n_species: int, n_parameters: int) -> None:
        """Give every agent rows for a cell network's species and parameters (zeros)."""
        self.species = np.zeros((self.capacity, int(n_species)))
        self.cellpar = np.zeros((self.capacity, int(n_parameters)))

    @classmethod
    def from_columns(cls, pos: np.ndarray, *, capacity: int | None = None, **cols) -> "Agents":
        """Agents at ``pos`` (n × d) with the given per-agent columns (scalars broadcast); ids 0..n-1."""
        pos = np.asarray(pos, dtype=float)
        n, dims = pos.shape
        a = cls.empty(max(capacity or n, n, 1), dims)
        a.n = n
        a.pos[:n] = pos
        a.state[:n] = K.ACTIVE
        a.ids[:n] = np.arange(n)
        for name, value in cols.items():
            if name not in a.columns():
                raise KeyError(f"unknown agent column {name!r}; known: {', '.join(a.columns())}")
            getattr(a, name)[:n] = value
        return a

    @property
    def dims(self) -> int:
        return self.pos.shape[1]

    @property
    def capacity(self) -> int:
        return self.pos.shape[0]

    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if f.name != "n")

    def permute(self, perm: np.ndarray) -> None:
        """Re-order rows ``[0, n)`` so that row k holds old row ``perm[k]``."""
        n = self.n
        for name in self.columns():
            col = getattr(self, name)
            col[:n] = col[perm]

    def grow(self, capacity: int) -> None:
        old = self.capacity
        if capacity <= old:
            return
        for name in VECTORS + MATRICES:
            col = getattr(self, name)
            new = np.zeros((capacity, col.shape[1]))
            new[:old] = col
            setattr(self, name, new)
        for name, dt, fill in SCALARS:
            col = getattr(self, name)
            new = np.full(capacity, fill, dtype=dt)
            new[:old] = col
            setattr(self, name, new)

    def compact(self) -> None:
        """Drop dead agents (escaped ones are kept: they are part of the record)."""
        keep = np.flatnonzero(self.state[:self.n] != K.DEAD)
        if len(keep) < self.n:
            self.permute(np.concatenate([keep, np.flatnonzero(self.state[:self.n] == K.DEAD)]))
            self.n = len(keep)


@dataclass(frozen=True)
class Mechanics:
    """Mechanics and motility settings (µm, min). Pair coefficients by agent kind (tumour, CAF)."""

    dt: float = 0.1
    repulsion: np.ndarray = field(default_factory=lambda: np.full((2, 2), 10.0))
    adhesion: np.ndarray = field(default_factory=lambda: np.full((2, 2), 0.4))
    adhesion_range: float = 1.25
    motility_law: int = K.OU
    walls: bool = True
    skin: float = 3.0  # µm added to the interaction reach in the neighbour lists
    max_contacts: int = 6
    voxel: float | None = None  # neighbour-grid voxel (µm); default: interaction reach + skin


@dataclass
class Matrix:
    """Extracellular matrix on a grid: relative density ``rho`` and nematic fibre axis ``axis``
    (its length 0..1 is the alignment). ``shape`` is (nx, ny, nz) with nz = 1 in 2-D."""

    lo: np.ndarray
    voxel: float
    shape: tuple[int, int, int]
    rho: np.ndarray
    axis: np.ndarray
    track_speed: float = 1.0
    track_persistence: float = 2.0
    guidance: float = 0.8
    rho0: np.ndarray | None = None  # initial density (set when the engine starts)

    @classmethod
    def uniform(cls, lo, hi, voxel: float, density: float, dims: int, **kw) -> "Matrix":
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        shape = tuple(int(np.ceil((hi[k] - lo[k]) / voxel)) if k < dims else 1 for k in range(3))
        size = int(np.prod(shape))
        return cls(lo=np.concatenate([lo, np.zeros(3 - dims)]), voxel=voxel, shape=shape,  # type: ignore[arg-type]
                   rho=np.full(size, float(density)), axis=np.zeros((size, dims)), **kw)

    def grid(self, name: str) -> np.ndarray:
        """A field (``"rho"``, ``"axis"``) as an array indexed [x, y(, z)]."""
        return self.as_grid(getattr(self, name))

    def as_grid(self, values: np.ndarray) -> np.ndarray:
        """Per-voxel values (flat, x fastest; optionally with a trailing axis) indexed [x, y(, z)]."""
        nx, ny, nz = self.shape
        if values.ndim == 1:
            out = values.reshape(nz, ny, nx).transpose(2, 1, 0)
        else:
            out = values.reshape(nz, ny, nx, -1).transpose(2, 1, 0, 3)
        return out[:, :, 0] if nz == 1 else out

    def track_strength(self) -> np.ndarray:
        """Per voxel: alignment × cleared share of the initial matrix (what speeds up and guides
        tumour cells); 0 where there was no matrix."""
        rho0 = self.rho if self.rho0 is None else self.rho0
        cleared = np.divide(rho0 - self.rho, rho0, out=np.zeros_like(self.rho), where=rho0 > 0)
        return np.linalg.norm(self.axis, axis=1) * cleared


class TissueEngine:
    """Steps agents in a box ``[lo, hi]`` (µm) with optional matrix and vessels.

    Neighbours come from Verlet lists: every agent within the interaction reach plus a
    ``skin``, rebuilt (after re-ordering the agent rows by voxel) as soon as any agent has
    moved more than half the skin, or an agent appeared, died or left. Between rebuilds no
    pair can come within reach unseen, so the forces are exactly those of a search over
    all pairs.

    ``vessels``: array (n_vessels × 6) of axis segments ``x0 y0 z0 x1 y1 z1`` (z ignored in
    2-D) with ``vessel_radius`` (µm) and ``intravasation_rate`` (per min of contact).
    """

    def __init__(self, agents: Agents, lo, hi, mechanics: Mechanics, *, seed: int, matrix: Matrix | None = None,
                 vessels: np.ndarray | None = None, vessel_radius: np.ndarray | None = None,
                 intravasation_rate: float = 0.0, chemotaxis_speed: float = 0.0, chemotaxis_length: float = 100.0):
        self.agents = agents
        self.dims = agents.dims
        self.lo = np.asarray(lo, float)
        self.hi = np.asarray(hi, float)
        self.mech = mechanics
        self.seed = int(seed)
        self.matrix = matrix
        self.vessels = np.zeros((0, 6)) if vessels is None else np.asarray(vessels, float).reshape(-1, 6)
        self.vessel_radius = (np.zeros(len(self.vessels)) if vessel_radius is None
                              else np.broadcast_to(np.asarray(vessel_radius, float), (len(self.vessels),)).copy())
        self.p_intravasate = float(-np.expm1(-intravasation_rate * mechanics.dt))
        self.chemotaxis_speed = float(chemotaxis_speed)
        self.chemotaxis_length = float(chemotaxis_length)
        self.step_index = 0
        self.next_id = int(agents.ids[:agents.n].max()) + 1 if agents.n else 0
        r_max = float(agents.radius[:agents.n].max()) if agents.n else 1.0
        reach = 2.0 * r_max * mechanics.adhesion_range + mechanics.skin
        self.voxel = float(mechanics.voxel or reach)
        if self.voxel < reach:
            raise ValueError(f"neighbour voxel {self.voxel} um is smaller than the interaction reach + skin {reach} um")
        self.rebuilds = 0
        #: objects with ``after_step(engine)``, called in order after every mechanics step
        #: (the diffusing fields, :class:`~seedsoil.tissue.chemistry.FieldCoupling`; each agent's
        #: signalling, :class:`~seedsoil.tissue.signalling.AgentSignalling`)
        self.couplings: list = []
        gdim = [int(np.ceil((self.hi[k] - self.lo[k]) / self.voxel)) if k < self.dims else 1 for k in range(3)]
        self.gdim = np.maximum(np.array(gdim, dtype=np.int64), 1)
        self.glo = np.concatenate([self.lo, np.zeros(3 - self.dims)])
        self.n_cells = int(np.prod(self.gdim))
        self.start = np.zeros(self.n_cells + 1, dtype=np.int64)
        self._cell = np.zeros(agents.capacity, dtype=np.int64)
        self._order = np.zeros(agents.capacity, dtype=np.int64)
        self.c_rep = np.ascontiguousarray(mechanics.repulsion, dtype=float)
        self.c_adh = np.ascontiguousarray(mechanics.adhesion, dtype=float)
        for name, c in (("repulsion", self.c_rep), ("adhesion", self.c_adh)):
            if c.shape != (2, 2) or not np.array_equal(c, c.T) or np.any(c < 0):
                raise ValueError(f"Mechanics.{name} must be a symmetric, non-negative 2 x 2 table by kind "
                                 f"(tumour, CAF), so pair forces are equal and opposite; got {c.tolist()}")
        if matrix is None:
            self._m = (False, np.zeros(1), np.zeros(1), np.zeros((1, self.dims)), np.zeros(3), 1.0,
                       np.ones(3, dtype=np.int64), 0.0, 0.0, 0.0)
        else:
            if matrix.rho0 is None:
                matrix.rho0 = matrix.rho.copy()
            self._m = (True, matrix.rho, matrix.rho0, matrix.axis, matrix.lo, 1.0 / matrix.voxel,
                       np.array(matrix.shape, dtype=np.int64), matrix.track_speed, matrix.track_persistence,
                       matrix.guidance)
        self.proliferating = bool(np.any(agents.div_rate[:agents.n] > 0) or np.any(agents.death_rate[:agents.n] > 0))
        self.remodelling = matrix is not None and bool(
            np.any(agents.degrade[:agents.n] > 0) or np.any(agents.align[:agents.n] > 0))
        self._nbr = np.zeros((agents.capacity, 16 if self.dims == 2 else 32), dtype=np.int32)
        self._nnb = np.zeros(agents.capacity, dtype=np.int64)
        self._pos_ref = np.zeros_like(agents.pos)
        self._moved = np.zeros(agents.capacity)
        self._rebuild()

    # ------------------------------------------------------------------ internals
    def _bin(self) -> None:
        a = self.agents
        if len(self._cell) < a.capacity:
            self._cell = np.zeros(a.capacity, dtype=np.int64)
            self._order = np.zeros(a.capacity, dtype=np.int64)
        cell_ids = K.cell_ids if self._parallel() else K.cell_ids_serial
        cell_ids(a.pos, a.state, a.n, self.glo, 1.0 / self.voxel, self.gdim, self._cell)
        self.n_binned = K.bin_agents(self._cell, a.n, self.n_cells, self.start, self._order)

    def _sort(self) -> None:
        """Re-order agent rows by voxel (active ones first), then rebuild the cell list."""
        a = self.agents
        a.compact()
        self._bin()
        active = self._order[:self.n_binned]
        if self.n_binned < a.n:
            rest = np.flatnonzero(a.state[:a.n] != K.ACTIVE)
            perm = np.concatenate([active, rest])
        else:
            perm = active.copy()
        a.permute(perm)
        # rows [0, n_binned) are now the active agents in voxel order: the cell list's
        # voxel ranges stand as they are and its order becomes the identity
        self._order[:self.n_binned] = np.arange(self.n_binned)

    def _rebuild(self) -> None:
        """Re-order rows by voxel, rebuild the cell list and the Verlet neighbour lists."""
        a = self.agents
        self._sort()
        if len(self._nnb) < a.capacity:
            self._nnb = np.zeros(a.capacity, dtype=np.int64)
            self._moved = np.zeros(a.capacity)
        if self._nbr.shape[0] < a.capacity:
            self._nbr = np.zeros((a.capacity, self._nbr.shape[1]), dtype=np.int32)
        m = self.mech
        build = K.build_neighbours if self._parallel() else K.build_neighbours_serial
        while True:
            build(a.pos, a.radius, a.state, a.n, self.start, self._order, self.glo, 1.0 / self.voxel,
                  self.gdim, m.adhesion_range, m.skin, self._nbr, self._nnb)
            need = int(self._nnb[:a.n].max()) if a.n else 0
            if need <= self._nbr.shape[1]:
                break
            self._nbr = np.zeros((self._nbr.shape[0], need + 8), dtype=np.int32)
        self._pos_ref = a.pos.copy()
        self.rebuilds += 1

    def _parallel(self) -> bool:
        return self.agents.n >= PARALLEL_MIN_AGENTS and numba.get_num_threads() > 1

    def _ensure_capacity(self, extra: int) -> None:
        a = self.agents
        if a.n + extra > a.capacity:
            a.grow(max(2 * a.capacity, a.n + extra))

    # ------------------------------------------------------------------ stepping
    def step(self, steps: int = 1) -> None:
        """Advance ``steps`` mechanics steps of ``mechanics.dt`` minutes."""
        a = self.agents
        m = self.mech
        mon, rho, rho0, axis, mlo, inv_mh, mdim, tsp, tpe, gui = self._m
        half_skin_sq = (0.5 * m.skin) ** 2
        for _ in range(int(steps)):
            s = self.step_index
            par = self._parallel()
            mechanics = K.mechanics if par else K.mechanics_serial
            advance = K.advance if par else K.advance_serial
            mechanics(a.pos, a.vel, a.mot, a.radius, a.kind, a.state, a.ids, a.speed, a.persist, a.hind, a.n,
                      self._nbr, self._nnb, self.c_rep, self.c_adh, m.adhesion_range, self.lo, self.hi, m.walls,
                      m.motility_law, m.dt, self.seed, s, mon, rho, rho0, axis, mlo, inv_mh, mdim, tsp, tpe, gui,
                      self.vessels, self.vessel_radius, self.chemotaxis_speed, self.chemotaxis_length, a.contacts,
                      a.drift)
            advance(a.pos, a.vel, a.vel_prev, a.radius, a.kind, a.state, a.ids, a.escape_step, a.n, m.dt, s == 0,
                    self.lo, self.hi, self.vessels, self.vessel_radius, self.p_intravasate, self.seed, s,
                    self._pos_ref, self._moved)
            if self.remodelling:
                K.remodel(a.pos, a.vel, a.state, a.degrade, a.align, a.n, m.dt, rho, axis, mlo, inv_mh, mdim)
            changed = a.n > 0 and float(self._moved[:a.n].max()) > half_skin_sq
            if self.proliferating:
                begin = 0
                stop = a.n  # only the cells present at the start of the step divide or die in it
                while begin >= 0:
                    self._ensure_capacity(max(64, a.n // 8))
                    a.n, self.next_id, begin, events = K.proliferate(
                        a.pos, a.vel, a.vel_prev, a.mot, a.radius, a.kind, a.mode, a.state, a.ids, a.speed,
                        a.persist, a.hind, a.degrade, a.align, a.div_rate, a.death_rate, a.contacts,
                        m.max_contacts, a.n, a.capacity, begin, self.next_id, m.dt, self.seed, s, self.lo, self.hi,
                        stop, a.species, a.cellpar)
                    changed = changed or events > 0
            self.step_index += 1
            if changed:
                self._rebuild()
            for coupling in self.couplings:
                coupling.after_step(self)

    @property
    def time(self) -> float:
        """Minutes simulated."""
        return self.step_index * self.mech.dt


def set_threads(threads: int | None) -> int:
    """Set numba's thread count for the tissue kernels (None: leave as is); returns it."""
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    return numba.get_num_threads()
