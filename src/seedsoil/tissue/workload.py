"""The PhysiCell mechanics workload as a seedsoil tissue run (the benchmark's common ground).

As in ``benchmarks/README.md`` (PhysiCell 1.14.2, ``template`` project;
Ghaffarizadeh et al. 2018, doi:10.1371/journal.pcbi.1005991): cells placed
uniformly at random at 400 µm² per cell (2-D) or 5000 µm³ per cell (3-D), radius
8.41 µm, no division or death; pair repulsion ``(1 − d/R)² · 10 µm/min`` for
``d < R = r_i + r_j`` and adhesion ``−(1 − d/S)² · 0.4 µm/min`` for ``d < S = 1.25 R``;
persistent random walk at 1 µm/min with persistence 5 min (a new uniform
direction with probability dt/P per step); soft wall repulsion; overdamped
Adams-Bashforth-2 positions at dt = 0.1 min.

What is left out, as the workload note allows: PhysiCell's diffusing substrate
and its zero-rate cell-interaction checks (30-50 % of its loop). The neighbour
grid uses voxels of the interaction reach (21.0 µm) rather than PhysiCell's 30 µm:
the same pairs interact, fewer candidates are tested.
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
