"""Diffusing fields coupled to the tissue's agents: secretion, uptake and chemotaxis.

:class:`FieldCoupling` owns a :class:`~seedsoil.tissue.fields.DiffusionFields` on the
engine's box and, after every mechanics step of a
:class:`~seedsoil.tissue.engine.TissueEngine`, advances it over that step with every active
agent exchanging with the voxel it sits in (agents held where the step left them; the
fields take their own sub-steps, ``dt_diffusion``, inside). Units: µm, minutes; a
concentration is any amount per µm³ (the default scenario uses nM, so an amount is nM µm³,
0.602 molecules).

What each agent exchanges with substrate s is set per agent kind (tumour, CAF)
(:class:`Exchange`): secretion rate S towards saturation ρ*, uptake rate U (1/min) and a net
export E (amount/min) that may scale with one species of the agent's own cell network
(``E = E₀ + E₁ · x``, e.g. pSTAT3 → IL-6-family cytokine, the loop of docs/fields.md).
Chemotaxis: an agent of a kind with chemotactic speed v > 0 drifts up the gradient of one
substrate at ``v · ∇ρ / (|∇ρ| + g½)`` (saturating in the gradient; ``g½`` the gradient at
half speed), added to its velocity by the mechanics kernel (``Agents.drift``).

Mass balance: :attr:`FieldCoupling.exchanged` accumulates, per kind and substrate, the
amount agents put in (negative: took up), so ``total(t) − total(0)`` equals that sum plus
what decay removed and fixed voxels (faces, vessels) added (docs/fields.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from . import _kernels as K
from .fields import AgentExchange, DiffusionFields

#: the agent kinds, in the row order of every per-kind table (``_kernels.TUMOUR``, ``_kernels.CAF``)
KINDS = ("tumour", "caf")


def _table(value, n_sub: int, name: str) -> np.ndarray:
    """A (2 kinds, n_sub) float table from a scalar or an array that broadcasts to it."""
    arr = np.broadcast_to(np.asarray(value, dtype=float), (len(KINDS), n_sub)).copy()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: must be finite")
    return arr


@dataclass(frozen=True)
class Exchange:
    """What each agent kind exchanges with each substrate; tables (2 kinds × n_sub), rows
    ``KINDS`` (tumour, CAF), columns the substrates in the fields' order.

    ``secretion`` S (1/min) towards ``saturation`` ρ* (amount/µm³), ``uptake`` U (1/min),
    ``export`` E₀ (amount/min per agent), ``export_gain`` E₁ (amount/min per unit of the
    agent's network species ``export_species[s]``; a species name, or None for none).
    """

    secretion: np.ndarray
    saturation: np.ndarray
    uptake: np.ndarray
    export: np.ndarray
    export_gain: np.ndarray
    export_species: tuple[str | None, ...]

    @classmethod
    def build(cls, n_sub: int, *, secretion=0.0, saturation=0.0, uptake=0.0, export=0.0, export_gain=0.0,
              export_species: Sequence[str | None] | None = None) -> "Exchange":
        ex = cls(secretion=_table(secretion, n_sub, "secretion"), saturation=_table(saturation, n_sub, "saturation"),
                 uptake=_table(uptake, n_sub, "uptake"), export=_table(export, n_sub, "export"),
                 export_gain=_table(export_gain, n_sub, "export_gain"),
                 export_species=tuple(export_species) if export_species is not None else (None,) * n_sub)
        for name in ("secretion", "uptake"):
            if np.any(getattr(ex, name) < 0):
                raise ValueError(f"{name}: must be >= 0 (1/min)")
        if len(ex.export_species) != n_sub:
            raise ValueError(f"export_species: {len(ex.export_species)} entries for {n_sub} substrates")
        return ex


@dataclass(frozen=True)
class Chemotaxis:
    """Drift up the gradient of substrate ``substrate``: speed (µm/min) per kind (``KINDS``
    order) and ``gradient_half`` (amount/µm³ per µm: the gradient at half speed, > 0)."""

    substrate: str
    speed: tuple[float, float]
    gradient_half: float

    def __post_init__(self) -> None:
        if len(self.speed) != len(KINDS) or any(not (math.isfinite(v) and v >= 0) for v in self.speed):
            raise ValueError(f"chemotaxis speed = {self.speed!r} µm/min: one finite value >= 0 per kind {KINDS}")
        if not (math.isfinite(self.gradient_half) and self.gradient_half > 0):
            raise ValueError(f"chemotaxis gradient_half = {self.gradient_half!r}: must be finite and > 0")


def agent_volume(radius: np.ndarray) -> np.ndarray:
    """Volume of a spherical agent of ``radius`` µm (µm³), in 2-D too (PhysiCell's convention)."""
    return (4.0 / 3.0) * math.pi * np.asarray(radius, dtype=float) ** 3


def vessel_mask(fields: DiffusionFields, vessels: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Voxels of ``fields`` that a vessel fills: centre within max(vessel radius, dx/2) of a
    vessel's axis segment (``vessels``: rows ``x0 y0 z0 x1 y1 z1`` µm, z ignored in 2-D), so
    a thin capillary still holds the voxels it runs through."""
    d = fields.dims
    axes = [fields.origin[k] + (np.arange(fields.shape[k]) + 0.5) * fields.dx for k in range(d)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)
    mask = np.zeros(len(centres), dtype=bool)
    for (seg, r) in zip(np.asarray(vessels, float).reshape(-1, 6), np.broadcast_to(radius, (len(vessels),))):
        a, b = seg[:d], seg[3:3 + d]
        ab = b - a
        L2 = float(ab @ ab)
        t = np.clip(((centres - a) @ ab) / L2, 0.0, 1.0) if L2 > 0 else np.zeros(len(centres))
        dist = np.linalg.norm(centres - (a + t[:, None] * ab), axis=1)
        mask |= dist <= max(float(r), 0.5 * fields.dx) + 1e-9 * fields.dx
    return mask.reshape(fields.shape)


@dataclass
class FieldCoupling:
    """Advances ``fields`` after every mechanics step of an engine, with its agents exchanging.

    ``species_index``: the agents' network species by name (for ``Exchange.export_species``);
    ``population_species``: the value to use for those species when agents carry no network
    (the population-phenotype path: e.g. its mean pSTAT3). Attach with
    ``engine.couplings.append(coupling)``.
    """

    fields: DiffusionFields
    exchange: Exchange
    chemotaxis: Chemotaxis | None = None
    species_index: Mapping[str, int] = field(default_factory=dict)
    population_species: Mapping[str, float] = field(default_factory=dict)
    #: amount put into each substrate by each kind since the start (negative: taken up), (2, n_sub)
    exchanged: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n_sub = len(self.fields.substrates)
        self.exchanged = np.zeros((len(KINDS), n_sub))
        self._chem = None if self.chemotaxis is None else self.fields.index(self.chemotaxis.substrate)
        self._cache = None  # (kind, radius, volume, secretion, saturation, uptake, kind as int64) of the last step
        for s, name in enumerate(self.exchange.export_species):
            if name is not None and name not in self.species_index and name not in self.population_species:
                raise ValueError(f"export of substrate {self.fields.substrates[s].name!r} scales with species "
                                 f"{name!r}, which the agents do not carry")

    def _export(self, agents, rows: np.ndarray | slice, kind: np.ndarray) -> np.ndarray:
        ex = self.exchange
        out = ex.export[kind]  # fancy indexing: a new array
        for s, name in enumerate(ex.export_species):
            if name is None:
                continue
            if name in self.species_index and agents.species.shape[1] > 0:
                x = agents.species[rows, self.species_index[name]]
            else:
                x = np.full(len(kind), float(self.population_species[name]))
            out[:, s] += ex.export_gain[kind, s] * x
        return out

    def _rows(self, agents) -> np.ndarray | slice:
        """The active agents' rows: a slice (views, no copies) when all of ``[0, n)`` are active."""
        n = agents.n
        active = agents.state[:n] == K.ACTIVE
        return slice(0, n) if active.all() else np.flatnonzero(active)

    def exchange_of(self, agents) -> tuple[np.ndarray | slice, AgentExchange]:
        """(rows of the active agents, what they exchange) for the agents' current state. The
        per-kind tables and volumes are reused while the agents' kinds and radii are unchanged."""
        rows = self._rows(agents)
        kind = agents.kind[rows]
        radius = agents.radius[rows]
        cache = self._cache
        if cache is None or not (np.array_equal(cache[0], kind) and np.array_equal(cache[1], radius)):
            k = kind.astype(np.int64)
            ex = self.exchange
            cache = self._cache = (kind.copy(), radius.copy(), agent_volume(radius), ex.secretion[k],
                                   ex.saturation[k], ex.uptake[k], k)
        _, _, volume, secretion, saturation, uptake, k = cache
        return rows, AgentExchange(positions=agents.pos[rows], volume=volume, secretion=secretion,
                                   saturation=saturation, uptake=uptake, export=self._export(agents, rows, k))

    def advance(self, agents, duration: float) -> None:
        """Advance the fields ``duration`` min with ``agents`` exchanging (positions held)."""
        rows, exch = self.exchange_of(agents)
        put = self.fields.advance(duration, exch)
        kind = self._cache[0]
        for k in range(len(KINDS)):
            self.exchanged[k] += put[kind == k].sum(axis=0)
        self.update_drift(agents, rows)

    def update_drift(self, agents, rows: np.ndarray | slice | None = None) -> None:
        """Set ``agents.drift``: chemotaxis up the chosen substrate (zero for inactive agents)."""
        if self._chem is None:
            return
        n = agents.n
        agents.drift[:n] = 0.0
        rows = np.flatnonzero(agents.state[:n] == K.ACTIVE) if rows is None or isinstance(rows, slice) else rows
        speed = np.asarray(self.chemotaxis.speed)[agents.kind[rows].astype(np.int64)]
        moving = rows[speed > 0]
        if len(moving) == 0:
            return
        g = self.fields.sample_gradient(self.chemotaxis.substrate, agents.pos[moving])
        mag = np.linalg.norm(g, axis=1)
        scale = speed[speed > 0] / (mag + self.chemotaxis.gradient_half)
        agents.drift[moving] = g * scale[:, None]

    def after_step(self, engine) -> None:
        self.advance(engine.agents, engine.mech.dt)

    def totals(self) -> dict[str, float]:
        """Amount of each substrate in the domain now (Σ ρ V_voxel)."""
        return {s.name: self.fields.total(s.name) for s in self.fields.substrates}


def piecewise_linear(times: Sequence[float], values: Sequence[float]) -> Callable[[float], float]:
    """A function of time (min) through the points (``times`` increasing, min; ``values``),
    holding the end values outside them: a drug's plasma curve for a vessel
    (:meth:`~seedsoil.tissue.fields.DiffusionFields.add_vessels`)."""
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.ndim != 1 or len(t) < 1 or t.shape != v.shape or np.any(np.diff(t) <= 0) \
            or not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
        raise ValueError("a vessel curve needs finite, strictly increasing times (min) and one finite value each")

    def curve(time: float) -> float:
        return float(np.interp(time, t, v))

    return curve
