"""The PhysiCell mechanics workload as a seedsoil tissue run (the benchmark's common ground).

As in ``benchmarks/README.md`` (PhysiCell 1.14.2, ``template`` project;
Ghaffarizadeh et al. 2018, doi:10.1371/journal.pcbi.1005991): cells placed
uniformly at random at 400 µm² per cell (2-D) or 5000 µm³ per cell (3-D), radius
8.41 µm, no division or death; pair repulsion ``(1 − d/R)² · 10 µm/min`` for
``d < R = r_i + r_j`` and adhesion ``−(1 − d/S)² · 0.4 µm/min`` for ``d < S = 1.25 R``;
persistent random walk at 1 µm/min with persistence 5 min (a new uniform
direction with probability dt/P per step); soft wall repulsion; overdamped
Adams-Bashforth-2 positions at dt = 0.1 min.

:func:`workload_engine` leaves out PhysiCell's diffusing substrate and its
zero-rate cell-interaction checks (30-50 % of its loop), as the workload note
allows; :func:`workload_fields` puts the substrate back (BioFVM's default grid and
sub-step, every agent secreting and taking it up). The neighbour grid uses voxels
of the interaction reach (21.0 µm) rather than PhysiCell's 30 µm: the same pairs
interact, fewer candidates are tested.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from .engine import Agents, Mechanics, TissueEngine

RADIUS = 8.41  # µm (PhysiCell default cell volume 2494 µm³)
AREA_PER_CELL = 400.0  # µm² (2-D)
VOLUME_PER_CELL = 5000.0  # µm³ (3-D)
SPEED = 1.0  # µm/min
PERSISTENCE = 5.0  # min
DT = 0.1  # min

# The substrate of :func:`workload_fields` (PhysiCell template's single substrate, BioFVM defaults)
FIELD_VOXEL = 20.0  # µm (BioFVM's default voxel)
FIELD_DT = 0.01  # min (PhysiCell's diffusion_dt)
FIELD_DIFFUSION = 1e5  # µm²/min (template: 100000)
FIELD_DECAY = 0.1  # 1/min
FIELD_SECRETION = 10.0  # 1/min, towards FIELD_SATURATION
FIELD_SATURATION = 1.0  # amount/µm³
FIELD_UPTAKE = 1.0  # 1/min


def workload_box(n_agents: int, dims: int) -> np.ndarray:
    """Side length (µm) of the square / cube holding ``n_agents`` at the workload density."""
    per = AREA_PER_CELL if dims == 2 else VOLUME_PER_CELL
    return float((n_agents * per) ** (1.0 / dims))


def workload_engine(n_agents: int, dims: int = 2, *, seed: int = 0, law: int = K.TURN, skin: float = 3.0) -> TissueEngine:
    """A :class:`TissueEngine` set up with the PhysiCell benchmark workload."""
    if dims not in (2, 3):
        raise ValueError(f"dims = {dims!r}: must be 2 or 3")
    side = workload_box(n_agents, dims)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0.0, side, size=(n_agents, dims))
    agents = Agents.from_columns(pos, radius=RADIUS, kind=K.TUMOUR, speed=SPEED, persist=PERSISTENCE)
    mech = Mechanics(dt=DT, repulsion=np.full((2, 2), 10.0), adhesion=np.full((2, 2), 0.4), adhesion_range=1.25,
                     motility_law=law, walls=True, skin=skin)
    return TissueEngine(agents, np.zeros(dims), np.full(dims, side), mech, seed=seed)


def workload_fields(engine: TissueEngine, *, dx: float = FIELD_VOXEL, dt_diffusion: float = FIELD_DT,
                    diffusion: float = FIELD_DIFFUSION, decay: float = FIELD_DECAY, secretion: float = FIELD_SECRETION,
                    saturation: float = FIELD_SATURATION, uptake: float = FIELD_UPTAKE, initial: float = 0.0,
                    name: str = "substrate", parallel: bool = False):
    """Give ``engine`` the workload's diffusing substrate, every agent secreting and taking it
    up; returns the :class:`~seedsoil.tissue.chemistry.FieldCoupling`, appended to
    ``engine.couplings`` (so each mechanics step advances the field over that step).

    This is the configuration behind PhysiCell's published throughput for the workload
    (PhysiCell 1.14.2 ``template`` project with its one substrate; BioFVM, Ghaffarizadeh,
    Friedman & Macklin 2016, doi:10.1093/bioinformatics/btv730): one substrate on a grid of
    ``dx`` = 20 µm voxels (BioFVM's default) covering the workload box, no-flux faces,
    diffusion sub-step ``dt_diffusion`` = 0.01 min (PhysiCell's ``diffusion_dt``) inside the
    0.1 min mechanics step, every agent exchanging with the voxel it sits in. The rates
    (assumption: of the template's order; PhysiCell's cost does not depend on their values):
    D = 1e5 µm²/min, decay 0.1/min, secretion S = 10/min towards ρ* = 1, uptake U = 1/min,
    starting from ``initial`` everywhere. A 2-D grid is one voxel thick (``V_voxel = dx³``).

    ``parallel``: run the diffusion sweeps on numba's threads (same result bit for bit; off
    by default, as in :class:`~seedsoil.tissue.fields.DiffusionFields`: measured on the
    shared 2-core machine at load average 4.5, 2-D 448² voxels, 10 sub-steps, the parallel
    sweeps took 109-176 ms against 69-86 ms serial, and 3-D 50³ 323-521 ms against 117-160 ms).
    """
    from .chemistry import Exchange, FieldCoupling
    from .fields import DiffusionFields, Substrate

    shape = tuple(max(int(np.ceil((engine.hi[k] - engine.lo[k]) / dx - 1e-9)), 1) for k in range(engine.dims))
    fields = DiffusionFields(shape, dx, [Substrate(name, diffusion, decay, initial)], dt_diffusion=dt_diffusion,
                             origin=engine.lo, parallel=parallel)
    coupling = FieldCoupling(fields, Exchange.build(1, secretion=secretion, saturation=saturation, uptake=uptake))
    engine.couplings.append(coupling)
    return coupling
