"""Each agent's own signalling state: the cell network integrated for all agents at once.

Every agent carries the species of a cell network (``Agents.species``) and its own parameter
vector (``Agents.cellpar``: cell-to-cell variability, inherited by daughters with the
state). Every ``interval`` minutes :class:`AgentSignalling` integrates the network for all
active agents in one batched call of the stiff solver (:func:`seedsoil.cell.solver.integrate`,
the kernel behind :func:`~seedsoil.cell.solver.simulate_cells`), with each agent's inputs held
over the interval at what the fields hold at its position (cytokine → GP130, drug → its
target; :class:`~seedsoil.tissue.fields.DiffusionFields`) and the other inputs fixed. Then
each agent's phenotype is read from its state (:func:`seedsoil.cell.phenotype.classify`: the
Rac1/RhoA switch, with the hysteresis the network gives it, per agent) and written into its
columns by a :class:`PhenotypeMap`: migration mode, speed and persistence, matrix hindrance
and degradation, division (ZEB1 low); for CAFs, how fast they clear and align matrix, in
proportion to their contractility (pMLC2). A cell's trajectory does not depend on the batch
it is in or the thread count (the solver's property), so neither do the results.

Units: the network's time is in days (docs/cell.md); the tissue's in minutes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..cell.network import Network
from ..cell.phenotype import classify
from ..cell.solver import CellSolverError, integrate
from . import _kernels as K

MIN_PER_DAY = 1440.0
#: below this many agents the solver runs serially (a parallel launch costs more)
PARALLEL_MIN_AGENTS = 256


@dataclass(frozen=True)
class PhenotypeMap:
    """How an agent's phenotype sets its columns. Per mode (``MODES`` order): ``speed`` (µm/min),
    ``persistence`` (min), ``hindrance`` (matrix hindrance, 1), ``degradation`` (1/min);
    ``division_rate`` (1/min, for tumour cells whose ZEB1 is below the dormancy threshold).
    CAFs: ``caf_degradation`` and ``caf_alignment`` (1/min) at the reference contractility
    ``mlc2_reference`` (pMLC2 fraction), scaled by ``caf_contractility`` (1) and the agent's
    pMLC2 / ``mlc2_reference``. ``readout``: thresholds for :func:`classify` (params/cell.toml
    names)."""

    speed: np.ndarray
    persistence: np.ndarray
    hindrance: np.ndarray
    degradation: np.ndarray
    division_rate: float
    caf_degradation: float
    caf_alignment: float
    caf_contractility: float
    mlc2_reference: float
    readout: Mapping[str, float]

    def apply(self, agents, rows: np.ndarray, state: np.ndarray, network: Network) -> None:
        """Write the phenotype of ``state`` (len(rows) × species) into the columns of ``rows``."""
        ph = classify(state, network, dict(self.readout))
        kind = agents.kind[rows]
        tum = kind == K.TUMOUR
        t_rows = rows[tum]
        mode = ph["mode"][tum]
        agents.mode[t_rows] = mode
        agents.speed[t_rows] = self.speed[mode]
        agents.persist[t_rows] = self.persistence[mode]
        agents.hind[t_rows] = self.hindrance[mode]
        agents.degrade[t_rows] = self.degradation[mode]
        agents.div_rate[t_rows] = np.where(ph["dividing"][tum], self.division_rate, 0.0)
        c_rows = rows[kind == K.CAF]
        if len(c_rows):
            rel = ph["contractility"][kind == K.CAF] / self.mlc2_reference if self.mlc2_reference > 0 else 1.0
            agents.degrade[c_rows] = self.caf_degradation * self.caf_contractility * rel
            agents.align[c_rows] = self.caf_alignment * self.caf_contractility * rel


class AgentSignalling:
    """Integrates ``network`` for every active agent every ``interval`` min.

    ``field_inputs``: network input → substrate name of ``fields`` read at each agent's
    position (nM); ``fixed_inputs``: network input → value (nM) for the rest (unset inputs
    take the network's defaults). ``phenotype``: how states become columns (None: states
    only). Attach with ``engine.couplings.append(signalling)`` after the field coupling, so
    agents read the fields as the step left them.
    """

    def __init__(self, network: Network, *, interval: float, fields=None,
                 field_inputs: Mapping[str, str] | None = None, fixed_inputs: Mapping[str, float] | None = None,
                 phenotype: PhenotypeMap | None = None, rtol: float = 1e-6, atol: float = 1e-9,
                 max_steps: int = 100_000) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"signalling interval = {interval!r} min: must be finite and > 0")
        self.network = network
        self.interval = float(interval)
        self.fields = fields
        self.field_inputs = dict(field_inputs or {})
        for name, sub in self.field_inputs.items():
            if name not in network.input_index:
                raise ValueError(f"field input {name!r}: not an input of network {network.name!r} "
                                 f"(inputs: {', '.join(network.input_names)})")
            if fields is None:
                raise ValueError(f"field input {name!r} needs the fields")
            fields.index(sub)
        self.inputs = network.input_defaults.astype(float).copy()
        for name, v in (fixed_inputs or {}).items():
            if name not in network.input_index:
                raise ValueError(f"input {name!r}: not an input of network {network.name!r}")
            self.inputs[network.input_index[name]] = float(v)
        self.phenotype = phenotype
        self.rtol, self.atol, self.max_steps = float(rtol), float(atol), int(max_steps)
        self.updates = 0
        self.agent_updates = 0
        self._last = None  # step index of the last update

    # ------------------------------------------------------------------ inputs
    def input_matrix(self, agents, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_inputs): fixed inputs, and field inputs sampled at each agent (≥ 0)."""
        U = np.tile(self.inputs, (len(rows), 1))
        if len(rows):
            for name, sub in self.field_inputs.items():
                U[:, self.network.input_index[name]] = np.maximum(self.fields.sample(sub, agents.pos[rows]), 0.0)
        return U

    def rows(self, agents) -> np.ndarray:
        return np.flatnonzero(agents.state[:agents.n] == K.ACTIVE)

    # ------------------------------------------------------------------ stepping
    def integrate(self, agents, duration: float, rows: np.ndarray | None = None) -> np.ndarray:
        """Advance the species of ``rows`` (default: every active agent) by ``duration`` min with
        the inputs read now; writes ``agents.species`` and returns the rows."""
        rows = self.rows(agents) if rows is None else rows
        if len(rows) == 0 or duration <= 0:
            return rows
        U = self.input_matrix(agents, rows)
        t_out = np.array([0.0, duration / MIN_PER_DAY])
        out, stats = integrate(self.network, agents.species[rows], agents.cellpar[rows], np.zeros(1), U[:, None, :],
                               t_out, rtol=self.rtol, atol=self.atol, max_steps=self.max_steps,
                               parallel=len(rows) >= PARALLEL_MIN_AGENTS)
        failed = np.flatnonzero(stats[:, 2])
        if len(failed):
            i = rows[failed[0]]
            raise CellSolverError(f"{len(failed)} of {len(rows)} agents' networks failed to integrate (first: agent "
                                  f"id {int(agents.ids[i])}, status {int(stats[failed[0], 2])}); loosen "
                                  "signalling tolerances or raise max_steps")
        agents.species[rows] = out[:, -1]
        self.updates += 1
        self.agent_updates += len(rows)
        return rows

    def update(self, agents, duration: float | None = None) -> None:
        """Integrate every active agent over ``duration`` (default: one interval), then set its phenotype."""
        rows = self.integrate(agents, self.interval if duration is None else duration)
        self.apply(agents, rows)

    def apply(self, agents, rows: np.ndarray | None = None) -> None:
        rows = self.rows(agents) if rows is None else rows
        if self.phenotype is not None and len(rows):
            self.phenotype.apply(agents, rows, agents.species[rows], self.network)

    def due(self, engine) -> bool:
        """True when the step just taken ends an interval (steps of ``mechanics.dt``)."""
        k = max(int(round(self.interval / engine.mech.dt)), 1)
        return engine.step_index % k == 0

    def after_step(self, engine) -> None:
        if self.due(engine):
            self.update(engine.agents)

    # ------------------------------------------------------------------ read-out
    def states(self, agents) -> tuple[np.ndarray, np.ndarray]:
        """(ids, species) of the active agents."""
        rows = self.rows(agents)
        return agents.ids[rows].copy(), agents.species[rows].copy()


def settle(agents, coupling, signalling: AgentSignalling, duration: float, step: float) -> None:
    """Agents held in place: advance the fields (``coupling``, a
    :class:`~seedsoil.tissue.chemistry.FieldCoupling`) and every agent's network alternately, in
    steps of ``step`` min, for ``duration`` min (the spin-up of the per-agent path, and slow
    ramps of a drug that need no motion)."""
    left = float(duration)
    while left > 1e-9:
        h = min(float(step), left)
        coupling.advance(agents, h)
        signalling.integrate(agents, h)
        left -= h
