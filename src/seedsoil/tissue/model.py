"""From a tissue scenario and the cell scale's phenotype to a ready-to-step :class:`TissueEngine`.

The invasive edge: a tumour mass fills ``x < tumour.edge`` (cells placed at
random at the scenario's density), stroma with matrix of density
``matrix.density`` and CAFs fills the rest up to the vessel at
``vessel.position``, a line (2-D) or tube (3-D) along y. Each tumour cell gets a
migration mode drawn from the population :class:`~seedsoil.cell.phenotype.Phenotype`
under the scenario's drug exposure, with that mode's speed and persistence
(params/cell.toml) and matrix hindrance; it divides only if it is in the
dividing (ZEB1-low) share. CAFs carry the same JAK1/ROCK network: their matrix
clearing and fibre alignment scale with their contractility relative to
untreated cells (the network's pMLC2 under the exposure), times
``caf.contractility``.

With ``signalling.path = "agent"`` the edge also has its chemistry (:func:`attach_chemistry`):
diffusing fields of the IL-6-family cytokine (secreted by CAFs and, through their own pSTAT3
→ IL-6 loop, by tumour cells) and of each drug (entering from the vessel at its exposure
level, or along a plasma curve), and every tumour cell and CAF carries its own cell network,
read from the fields at its position: its mode, speed, division and (for CAFs) matrix
remodelling follow its own state rather than a draw from the dish population.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ..cell.phenotype import MODES, Phenotype
from .. import rng
from ..rng import stream
from . import _kernels as K
from .engine import LAWS, Agents, Matrix, Mechanics, TissueEngine
from .scenario import TissueScenario

#: purposes of the random streams drawn in NumPy when the tissue is set up
_PLACE_TUMOUR, _PLACE_CAF, _MODES, _DIVIDING, _CAF_DIRECTION, _MOTILITY = (
    rng.TISSUE_PLACE_TUMOUR, rng.TISSUE_PLACE_CAF, rng.TISSUE_MODES, rng.TISSUE_DIVIDING, rng.TISSUE_CAF_DIRECTION,
    rng.TISSUE_MOTILITY)


@dataclass(frozen=True)
class CellInputs:
    """What the tissue takes from the cell scale for one exposure."""

    mode_fractions: Mapping[str, float]
    dividing_fraction: float
    caf_contractility: float  # relative to untreated, before caf.contractility

    @classmethod
    def from_phenotypes(cls, treated: Phenotype, untreated: Phenotype) -> "CellInputs":
        rel = treated.contractility / untreated.contractility if untreated.contractility > 0 else 1.0
        return cls(dict(treated.mode_fractions), treated.dividing_fraction, float(rel))


def cell_inputs(exposure: Mapping[str, float]) -> CellInputs:
    """The cell scale's answer for ``exposure`` (network inputs, nM): mode fractions,
    dividing share and relative contractility (cached: :func:`phenotype_response`)."""
    from ..cell.phenotype import phenotype_response, response_cells

    n = response_cells()
    treated = phenotype_response(dict(exposure), n_cells=n)
    untreated = phenotype_response({}, n_cells=n)
    return CellInputs.from_phenotypes(treated, untreated)


def mode_parameters(sc: TissueScenario | None = None) -> dict[str, np.ndarray]:
    """Speed (µm/min) and persistence (min) per mode, in :data:`MODES` order: the scenario's
    ``speed.<mode>`` / ``persistence.<mode>`` where it sets them, else params/cell.toml."""
    from ..cell.phenotype import phenotype_parameters

    q = {**phenotype_parameters(), **(dict(sc.parameters) if sc is not None else {})}
    return {"speed": np.array([q[f"speed.{m}"] for m in MODES]),
            "persistence": np.array([q[f"persistence.{m}"] for m in MODES])}


def _mode_tables(p: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """Matrix hindrance (1) and degradation (1/min) of a tumour cell by mode (``MODES`` order)."""
    h_am, h_mes = p["matrix.hindrance_amoeboid"], p["matrix.hindrance_mesenchymal"]
    hind_by_mode = np.array([h_am, h_mes, 0.5 * (h_am + h_mes), h_mes])
    deg_by_mode = np.array([0.0, 1.0, 0.5, 0.0]) * p["tumour.degradation_mesenchymal"]
    return hind_by_mode, deg_by_mode


def domain_box(sc: TissueScenario) -> tuple[np.ndarray, np.ndarray]:
    p = sc.parameters
    hi = [p["domain.width"], p["domain.height"]] + ([p["domain.depth"]] if sc.dims == 3 else [])
    return np.zeros(sc.dims), np.array(hi, dtype=float)


def _uniform_in(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    return lo + (hi - lo) * rng.random((n, len(lo)))


def build_engine(sc: TissueScenario, cells: CellInputs | None = None, *, seed: int | None = None,
                 vessel_curves: Mapping[str, Callable[[float], float]] | None = None) -> TissueEngine:
    """The scenario's tissue, ready to step. ``seed`` defaults to the scenario's.

    ``cells``: the population phenotype (default :func:`cell_inputs` of the exposure). On the
    per-agent path (``signalling.path = "agent"``) it is not used: the fields and every agent's
    network are attached and spun up (:func:`attach_chemistry`), and each agent's phenotype
    follows from its own state; ``vessel_curves`` (drug → function of time in min → nM) then
    replace a drug's constant exposure at the vessel."""
    agent_path = sc.parameters["signalling.path"] == "agent"
    if agent_path:  # columns set from each agent's own network after the spin-up
        cells = CellInputs({"amoeboid": 1.0}, dividing_fraction=1.0, caf_contractility=1.0)
    elif cells is None:
        cells = cell_inputs(sc.exposure)
    p = sc.parameters
    d = sc.dims
    seed = sc.seed if seed is None else int(seed)
    lo, hi = domain_box(sc)
    edge = float(p["tumour.edge"])
    vessel_x = float(p["vessel.position"])
    slab = float(np.prod(hi[1:]))  # height (× depth)
    per_tumour = p["tumour.area_per_cell"] if d == 2 else p["tumour.volume_per_cell"]
    per_caf = p["caf.area_per_cell"] if d == 2 else p["caf.volume_per_cell"]
    n_tumour = int(round(edge * slab / per_tumour))
    stroma_hi = hi.copy()
    stroma_hi[0] = max(vessel_x, edge)
    n_caf = int(round((stroma_hi[0] - edge) * slab / per_caf))

    t_lo, t_hi = lo.copy(), hi.copy()
    t_hi[0] = edge
    pos_t = _uniform_in(stream(seed, _PLACE_TUMOUR), t_lo, t_hi, n_tumour)
    s_lo = lo.copy()
    s_lo[0] = edge
    pos_c = _uniform_in(stream(seed, _PLACE_CAF), s_lo, stroma_hi, n_caf)

    fr = np.array([cells.mode_fractions.get(m, 0.0) for m in MODES], dtype=float)
    fr = fr / fr.sum() if fr.sum() > 0 else np.array([1.0, 0, 0, 0])
    mode = stream(seed, _MODES).choice(len(MODES), size=n_tumour, p=fr).astype(np.int8)
    mp = mode_parameters(sc)
    hind_by_mode, deg_by_mode = _mode_tables(p)
    dividing = stream(seed, _DIVIDING).random(n_tumour) < cells.dividing_fraction

    caf_c = cells.caf_contractility * p["caf.contractility"]
    n = n_tumour + n_caf
    agents = Agents.from_columns(np.vstack([pos_t, pos_c]) if n else np.zeros((0, d)), capacity=max(2 * n, 64))
    a = agents
    a.radius[:n_tumour] = p["tumour.radius"]
    a.radius[n_tumour:n] = p["caf.radius"]
    a.kind[:n_tumour] = K.TUMOUR
    a.kind[n_tumour:n] = K.CAF
    a.mode[:n_tumour] = mode
    a.mode[n_tumour:n] = MODES.index("mesenchymal")
    a.speed[:n_tumour] = mp["speed"][mode]
    a.persist[:n_tumour] = mp["persistence"][mode]
    a.hind[:n_tumour] = hind_by_mode[mode]
    a.degrade[:n_tumour] = deg_by_mode[mode]
    a.div_rate[:n_tumour] = np.where(dividing, p["tumour.division_rate"], 0.0)
    a.death_rate[:n_tumour] = p["tumour.death_rate"]
    if n_tumour and p["motility.law"] == "ou":
        # start from the stationary OU velocity (N(0, S²/d) per axis), not from rest
        a.mot[:n_tumour] = stream(seed, _MOTILITY).normal(size=(n_tumour, d)) * (a.speed[:n_tumour, None] / np.sqrt(d))
    a.speed[n_tumour:n] = p["caf.speed"]
    a.persist[n_tumour:n] = p["caf.persistence"]
    a.hind[n_tumour:n] = p["matrix.hindrance_caf"]
    a.degrade[n_tumour:n] = p["caf.degradation"] * caf_c
    a.align[n_tumour:n] = p["caf.alignment"] * caf_c
    if n_caf:
        # CAFs start polarised away from the tumour (part of their motility along +x)
        rnd = stream(seed, _CAF_DIRECTION).normal(size=(n_caf, d))
        rnd /= np.linalg.norm(rnd, axis=1, keepdims=True)
        o = p["caf.orientation"]
        direction = (1 - o) * rnd
        direction[:, 0] += o
        direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
        a.mot[n_tumour:n] = p["caf.speed"] * direction

    matrix = Matrix.uniform(lo, hi, p["matrix.voxel"], p["matrix.density"], d,
                            track_speed=p["track.speed_gain"], track_persistence=p["track.persistence_gain"],
                            guidance=p["track.guidance"])
    nx = matrix.shape[0]
    x_centres = matrix.lo[0] + (np.arange(nx) + 0.5) * matrix.voxel
    in_tumour = np.tile(x_centres < edge, matrix.shape[1] * matrix.shape[2])
    matrix.rho[in_tumour] = 0.0

    rep = p["mechanics.repulsion"]
    adh, het = p["mechanics.adhesion"], p["mechanics.heterotypic_adhesion"]
    mech = Mechanics(dt=p["mechanics.dt"], repulsion=np.full((2, 2), rep), adhesion=np.array([[adh, het], [het, adh]]),
                     adhesion_range=p["mechanics.adhesion_range"],
                     motility_law=LAWS[p["motility.law"]], walls=True,
                     skin=p["mechanics.skin"], max_contacts=int(p["tumour.max_contacts"]))
    z_mid = 0.5 * hi[2] if d == 3 else 0.0
    vessels = np.array([[vessel_x, lo[1], z_mid, vessel_x, hi[1], z_mid]])
    engine = TissueEngine(agents, lo, hi, mech, seed=seed, matrix=matrix, vessels=vessels,
                          vessel_radius=p["vessel.radius"], intravasation_rate=p["vessel.intravasation_rate"],
                          chemotaxis_speed=p["chemotaxis.speed"], chemotaxis_length=p["chemotaxis.length"])
    if agent_path:
        attach_chemistry(engine, sc, seed=seed, vessel_curves=vessel_curves)
    return engine


#: the substrates of the per-agent path: the cytokine and the drugs, each named after the
#: network input it feeds
FIELD_INPUTS = ("IL6", "JAKi", "ROCKi")


def make_fields(sc: TissueScenario, engine: TissueEngine, *, dt: float | None = None,
                vessel_curves: Mapping[str, Callable[[float], float]] | None = None):
    """The scenario's diffusing fields on the engine's box (voxel ``fields.voxel``, sub-step
    ``dt``, default ``fields.dt``): the cytokine ``IL6`` and the drugs ``JAKi``, ``ROCKi``,
    every face no-flux, the vessel's voxels held at the plasma cytokine level and at each
    drug's exposure (or its curve in ``vessel_curves``)."""
    from .chemistry import vessel_mask
    from .fields import DiffusionFields, Substrate

    p = sc.parameters
    dx = float(p["fields.voxel"])
    shape = tuple(max(int(np.ceil((engine.hi[k] - engine.lo[k]) / dx - 1e-9)), 1) for k in range(engine.dims))
    subs = [Substrate("IL6", p["cytokine.diffusion"], p["cytokine.decay"])]
    subs += [Substrate(d, p["drug_field.diffusion"], p["drug_field.decay"]) for d in FIELD_INPUTS[1:]]
    f = DiffusionFields(shape, dx, subs, dt_diffusion=float(p["fields.dt"] if dt is None else dt), origin=engine.lo)
    values: dict[str, object] = {"IL6": float(p["cytokine.plasma"])}
    for d in FIELD_INPUTS[1:]:
        values[d] = (vessel_curves or {}).get(d, float(sc.exposure.get(d, 0.0)))
    if len(engine.vessels):
        f.add_vessels(vessel_mask(f, engine.vessels, engine.vessel_radius), values)
    return f


def exchange_of(sc: TissueScenario, n_sub: int = len(FIELD_INPUTS)):
    """What tumour cells and CAFs exchange with the fields (:class:`~seedsoil.tissue.chemistry.Exchange`)."""
    from .chemistry import Exchange

    p = sc.parameters
    export = np.zeros((2, n_sub))
    gain = np.zeros((2, n_sub))
    export[K.CAF, 0] = p["cytokine.caf_export"]
    gain[K.TUMOUR, 0] = p["cytokine.tumour_export"]
    uptake = np.zeros((2, n_sub))
    uptake[:, 0] = p["cytokine.uptake"]
    uptake[:, 1:] = p["drug_field.uptake"]
    return Exchange.build(n_sub, uptake=uptake, export=export, export_gain=gain,
                          export_species=("IL6_auto",) + (None,) * (n_sub - 1))


def phenotype_map(sc: TissueScenario):
    """How an agent's network state sets its columns under this scenario
    (:class:`~seedsoil.tissue.signalling.PhenotypeMap`)."""
    from ..cell.phenotype import phenotype_parameters, phenotype_response, response_cells
    from .signalling import PhenotypeMap

    p = sc.parameters
    mp = mode_parameters(sc)
    hind, deg = _mode_tables(p)
    ref = phenotype_response({}, n_cells=response_cells()).contractility
    return PhenotypeMap(speed=mp["speed"], persistence=mp["persistence"], hindrance=hind, degradation=deg,
                        division_rate=float(p["tumour.division_rate"]), caf_degradation=float(p["caf.degradation"]),
                        caf_alignment=float(p["caf.alignment"]), caf_contractility=float(p["caf.contractility"]),
                        mlc2_reference=float(ref), readout=phenotype_parameters())


def held_in_place(sc: TissueScenario, engine: TissueEngine, network, *, step: float, fields=None,
                  dt: float | None = None, vessel_curves: Mapping[str, Callable[[float], float]] | None = None,
                  fixed_inputs: Mapping[str, float] | None = None):
    """(field coupling, per-agent signalling) for running the fields and every agent's network
    with the agents held in place (:func:`~seedsoil.tissue.signalling.settle`, networks every
    ``step`` min, no phenotype update): on ``fields``, or on new fields of the scenario with
    sub-step ``dt`` and the vessel's drug levels ``vessel_curves`` (:func:`make_fields`)."""
    from .chemistry import FieldCoupling
    from .signalling import AgentSignalling

    if fields is None:
        fields = make_fields(sc, engine, dt=dt, vessel_curves=vessel_curves)
    coupling = FieldCoupling(fields, exchange_of(sc, len(fields.substrates)), species_index=network.species_index)
    signalling = AgentSignalling(network, interval=step, fields=fields, field_inputs={k: k for k in FIELD_INPUTS},
                                 fixed_inputs=fixed_inputs)
    return coupling, signalling


def attach_chemistry(engine: TissueEngine, sc: TissueScenario, *, seed: int,
                     vessel_curves: Mapping[str, Callable[[float], float]] | None = None,
                     network=None, spinup: bool = True):
    """Give ``engine`` the scenario's fields and every agent its own cell network; returns
    (the :class:`~seedsoil.tissue.chemistry.FieldCoupling`, the
    :class:`~seedsoil.tissue.signalling.AgentSignalling`), both appended to ``engine.couplings``.

    Each agent gets the network's parameters with the population's cell-to-cell variability
    (``population.variability_cv``, drawn by agent id from ``seed``; daughters inherit it)
    and starts from the network's resting state (no cytokine signalling). Then, agents held in
    place, the fields and the networks are run together (:func:`~seedsoil.tissue.signalling.settle`,
    steps of ``signalling.spinup_step``; the fields with sub-steps of at most 1 min,
    unconditionally stable): ``population.pretreatment_days`` without drug, then
    ``population.exposure_days`` with the drugs at the vessel (at their level at t = 0) — the
    schedule of the population path's dish, but each cell in its own place: the STAT3 loop
    ignites where the cytokine reaches, and the drug acts where it penetrates. The last spin-up
    step runs the fields at the run's own sub-step, so the run starts from its scheme's state."""
    from ..cell import builtin_network
    from ..cell.phenotype import default_variability, phenotype_parameters
    from ..cell.solver import cell_parameters
    from .chemistry import FieldCoupling
    from .signalling import MIN_PER_DAY, AgentSignalling, settle

    p = sc.parameters
    net = builtin_network() if network is None else network
    a = engine.agents
    n = a.n
    a.carry_network(len(net.species), len(net.parameters))
    a.cellpar[:n] = cell_parameters(net, n, variability=default_variability(net), seed=seed)
    a.species[:n] = net.initial_state
    q = phenotype_parameters()
    fixed = {k: v for k, v in sc.exposure.items() if k not in FIELD_INPUTS}
    fields = make_fields(sc, engine, vessel_curves=vessel_curves)
    exchange = exchange_of(sc, len(fields.substrates))
    chem = None
    if p["chemotaxis.substrate"] != "none":
        from .chemistry import Chemotaxis

        chem = Chemotaxis(p["chemotaxis.substrate"], (float(p["chemotaxis.field_speed"]), 0.0),
                          float(p["chemotaxis.gradient_half"]))
    coupling = FieldCoupling(fields, exchange, chemotaxis=chem, species_index=net.species_index)
    signalling = AgentSignalling(net, interval=float(p["signalling.interval"]), fields=fields,
                                 field_inputs={k: k for k in FIELD_INPUTS}, fixed_inputs=fixed,
                                 phenotype=phenotype_map(sc))
    if spinup:
        step = float(p["signalling.spinup_step"])
        pre = q["population.pretreatment_days"] * MIN_PER_DAY
        exposed = q["population.exposure_days"] * MIN_PER_DAY
        drugs: dict[str, object] = {}
        for d in FIELD_INPUTS[1:]:
            level = float(vessel_curves[d](0.0)) if vessel_curves and d in vessel_curves else \
                float(sc.exposure.get(d, 0.0))
            drugs[d] = (lambda t, level=level: level if t >= pre - 1e-9 else 0.0)
        spin, sig = held_in_place(sc, engine, net, step=step, dt=min(1.0, step), vessel_curves=drugs,
                                  fixed_inputs=fixed)
        settle(a, spin, sig, pre, step)
        settle(a, spin, sig, max(exposed - step, 0.0), step)
        # the last step at the run's own sub-step: a coarse step's splitting error shifts the
        # steady profiles (the decay seen per sweep is a(2 + a)/(1 + a), a = λ dt/d, not 2a), so
        # the run starts from its own scheme's state (relaxed over ≥ 6 decay times of the cytokine)
        fields.fields[...] = spin.fields.fields  # same fixed voxels and values: they stay held
        settle(a, *held_in_place(sc, engine, net, step=step, fields=fields, fixed_inputs=fixed),
               min(step, exposed), step)
        fields.time = 0.0
    signalling.apply(a)
    coupling.update_drift(a)
    engine.couplings.extend([coupling, signalling])
    return coupling, signalling
