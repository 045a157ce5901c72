"""Validation cases for the tissue's chemistry: the diffusing fields against closed forms
(:mod:`seedsoil.tissue.fields`) and each agent's own signalling in tissue
(:mod:`seedsoil.tissue.signalling`, ``signalling.path = "agent"``): drug penetration from the
vessel, the fibroblasts' cytokine behind tumour-cell contractility and invasion, and the
Rac1/RhoA switch's hysteresis under a ROCK-inhibitor ramp.

Units: µm, minutes, nM. The field cases run the solver on purpose-built grids; the signalling
cases run the real per-agent path (the engine, the fields, the batched network solver).
"""
from __future__ import annotations

import math

import numpy as np

from . import Check, case

BIOFVM = ("Ghaffarizadeh A, Friedman SH, Macklin P. BioFVM: an efficient, parallelized diffusive transport solver "
          "for 3-D biological simulations. Bioinformatics 2016;32:1256. doi:10.1093/bioinformatics/btv730 (the LOD "
          "implicit scheme); closed forms of diffusion with decay: Crank J. The Mathematics of Diffusion, 2nd ed. "
          "1975 (Gaussian pulse; point source with first-order loss)")
DEWHIRST = ("Dewhirst MW, Secomb TW. Transport of drugs from blood vessels to tumour tissue. Nat Rev Cancer "
            "2017;17:738. doi:10.1038/nrc.2017.93 (penetration distance set by diffusion and binding/uptake, "
            "sqrt(D/k))")
SANZ_MORENO = ("Sanz-Moreno V et al. ROCK and JAK1 signaling cooperate to control actomyosin contractility in tumor "
               "cells and stroma. Cancer Cell 2011;20:229. doi:10.1016/j.ccr.2011.06.018")
BYRNE = ("Byrne KM et al. Bistability in the Rac1, PAK, and RhoA signaling network drives actin cytoskeleton "
         "dynamics and cell motility switches. Cell Syst 2016;2:38. doi:10.1016/j.cels.2016.01.003")

#: drug-penetration geometry: the tumour fills x < 400 µm, the vessel at 450 µm (distances 50-450 µm)
PENETRATION = {"domain": {"width": "500 um", "height": "600 um"}, "tumour": {"edge": "400 um"},
               "vessel": {"position": "450 um"}, "exposure": {"JAKi": "100 nM"}, "signalling": {"path": "agent"}}
#: drug loss rates (1/min) of the two runs: penetration lengths sqrt(D/k) of 100 and 50 µm at D = 12000 µm²/min
PENETRATION_DECAY = (1.2, 4.8)
#: tumour cells nearer than NEAR_UM to the vessel, and farther than FAR_UM (µm)
NEAR_UM, FAR_UM = 100.0, 300.0
#: seeds and duration of the fibroblast-cytokine invasion case
CYTOKINE_SEEDS = (0, 1, 2, 3)
CYTOKINE_DURATION = 1440.0
#: ROCK-inhibitor levels at the vessel for the tissue hysteresis ramp (nM, up then down; none first and
#: last), and days per level
RAMP = (0.0,) + tuple(float(x) for x in np.geomspace(30.0, 3e5, 9))
RAMP_DAYS = 2.0


# ---------------------------------------------------------------- a. the fields against closed forms
def _centred(shape, dx, centre=None):
    if centre is None:
        centre = [n * dx / 2 for n in shape]
    axes = [(np.arange(n) + 0.5) * dx - c for n, c in zip(shape, centre)]
    return np.meshgrid(*axes, indexing="ij")


def pulse_error(shape, dx, diffusion, decay, sigma0, duration, dt) -> tuple[float, float]:
    """Relative L2 and max error of a Gaussian pulse (free space, with decay) started at the
    domain's middle, after ``duration`` min; an (n, 1) grid is the 1-D problem (its second axis
    is one voxel, whose sweep only decays)."""
    from ..tissue.fields import DiffusionFields, Substrate, gaussian_pulse

    f = DiffusionFields(shape, dx, [Substrate("s", diffusion, decay)], dt_diffusion=dt)
    xs = _centred(shape, dx)
    one_d = len(shape) == 2 and shape[1] == 1
    dims = 1 if one_d else len(shape)
    r2 = xs[0] ** 2 if one_d else sum(x ** 2 for x in xs)
    f.fields[0][...] = gaussian_pulse(r2, 0.0, diffusion, decay, sigma0, dims)
    f.advance(duration)
    exact = gaussian_pulse(r2, duration, diffusion, decay, sigma0, dims)
    u = f.fields[0]
    return (float(np.sqrt(((u - exact) ** 2).sum() / (exact ** 2).sum())),
            float(np.abs(u - exact).max() / exact.max()))


def point_source_error(shape, diffusion, dt, duration, rmax) -> float:
    """Relative L2 error against the steady state around a voxel exporting 1 amount/min with
    decay 1/min (3-D: e^(−r/L)/(4πDr); 2-D: K0(r/L)/(2πD dx)), for 2.5 dx < r ≤ rmax dx."""
    from ..tissue.fields import AgentExchange, DiffusionFields, Substrate, point_source_steady

    dx, decay, q = 10.0, 1.0, 1.0
    d = len(shape)
    f = DiffusionFields(shape, dx, [Substrate("s", diffusion, decay)], dt_diffusion=dt)
    centre = np.array([n // 2 for n in shape])
    f.advance(duration, AgentExchange(((centre + 0.5) * dx)[None, :], np.zeros(1), export=np.array([[q]])))
    r = np.sqrt(sum(x ** 2 for x in _centred(shape, dx, (centre + 0.5) * dx)))
    sel = (r > 2.5 * dx) & (r <= rmax * dx)
    exact = point_source_steady(r[sel], q if d == 3 else q / dx, diffusion, decay, d)
    u = f.fields[0][sel]
    return float(np.sqrt(((u - exact) ** 2).sum() / (exact ** 2).sum()))


def mass_balance_error() -> float:
    """Largest relative error of the discrete mass balance over 50 sub-steps with agents secreting
    (with saturation), taking up and exporting three substrates with decay: each sub-step
    M' = (M + put) / (1 + λ dt / d)^d, ``put`` what the agents exchanged."""
    from ..tissue.fields import AgentExchange, DiffusionFields, Substrate

    rng = np.random.default_rng(20261207)
    shape, dx, dt = (16, 12, 6), 10.0, 0.05
    subs = [Substrate("oxygen", 2000.0, 0.1), Substrate("drug", 300.0, 0.02), Substrate("cytokine", 50.0, 0.0)]
    f = DiffusionFields(shape, dx, subs, dt_diffusion=dt)
    f.fields[...] = rng.random(f.fields.shape)
    n = 40
    agents = AgentExchange(rng.random((n, 3)) * np.array(shape) * dx, rng.uniform(1000.0, 3000.0, n),
                           rng.random((n, 3)), 2 * rng.random((n, 3)), rng.random((n, 3)), rng.normal(0, 5, (n, 3)))
    decay = np.array([s.decay for s in subs])
    worst = 0.0
    for _ in range(50):
        m0 = np.array([f.total(s.name) for s in subs])
        put = f.advance(dt, agents).sum(axis=0)
        m1 = np.array([f.total(s.name) for s in subs])
        expected = (m0 + put) / (1.0 + decay * dt / 3) ** 3
        worst = max(worst, float(np.max(np.abs(m1 - expected) / np.abs(expected))))
    return worst


def observed_orders() -> tuple[list[float], list[float]]:
    """Observed orders: in time (2-D self-convergence, dt = 0.2 ... 0.025 min) and in space
    (1-D pulse against its closed form, dx = 10, 5, 2.5 µm, dt = 1e-4 min)."""
    from ..tissue.fields import DiffusionFields, Substrate, gaussian_pulse

    shape, dx = (32, 32), 10.0
    xs = _centred(shape, dx)
    r2 = xs[0] ** 2 + xs[1] ** 2
    sols = []
    for dt in (0.2, 0.1, 0.05, 0.025):
        f = DiffusionFields(shape, dx, [Substrate("s", 100.0, 0.3)], dt_diffusion=dt)
        f.fields[0][...] = gaussian_pulse(r2, 0.0, 100.0, 0.3, 30.0, 2)
        f.advance(2.0)
        sols.append(f.fields[0].copy())
    diffs = [float(np.sqrt(((a - b) ** 2).sum())) for a, b in zip(sols, sols[1:])]
    in_time = [math.log2(a / b) for a, b in zip(diffs, diffs[1:])]
    errs = [pulse_error((int(320 / h), 1), h, 100.0, 0.05, 20.0, 1.0, 1e-4)[0] for h in (10.0, 5.0, 2.5)]
    in_space = [math.log2(a / b) for a, b in zip(errs, errs[1:])]
    return in_time, in_space


@case("diffusion_closed_forms", source=BIOFVM,
      description="the tissue's diffusion solver: Gaussian pulses in 1-D/2-D/3-D, the steady state around a point "
                  "source with decay (3-D exponential, 2-D K0), exact discrete mass balance with secretion, uptake and "
                  "decay, and observed orders 1 in the time step and 2 in the grid spacing")
def diffusion_closed_forms() -> list[Check]:
    # D = 100 µm²/min, λ = 0.1 /min, dx = 10 µm, dt = 0.01 min; measured 1.8e-3, 2.6e-3, 5.1e-3
    pulses = {d: pulse_error(shape, 10.0, 100.0, 0.1, s0, t, 0.01)[0]
              for d, shape, s0, t in ((1, (64, 1), 40.0, 5.0), (2, (64, 64), 40.0, 5.0), (3, (32, 32, 32), 30.0, 2.0))}
    src2 = point_source_error((64, 64), 1600.0, 0.01, 10.0, 10)  # L = 40 µm; measured 0.018
    src3 = point_source_error((32, 32, 32), 900.0, 0.005, 8.0, 8)  # L = 30 µm; measured 0.036
    t_orders, x_orders = observed_orders()
    checks = [Check(f"Gaussian pulse {d}-D: relative L2 error < {tol:g}", (0.0, tol), pulses[d], kind="range")
              for d, tol in ((1, 5e-3), (2, 7e-3), (3, 1.2e-2))]
    checks += [
        Check("point source with decay, 2-D (K0 form): relative L2 error < 0.03", (0.0, 0.03), src2, kind="range"),
        Check("point source with decay, 3-D (q e^(-r/L)/(4 pi D r)): relative L2 error < 0.06", (0.0, 0.06), src3,
              kind="range"),
        Check("mass balance with secretion, uptake, export and decay: largest relative error per sub-step",
              0.0, mass_balance_error(), 1e-12, kind="abs"),
    ]
    checks += [Check(f"observed order in dt ({k + 1}): 1 ± 0.3", 1.0, p, 0.3, kind="abs") for k, p in enumerate(t_orders)]
    checks += [Check(f"observed order in dx ({k + 1}): 2 ± 0.3", 2.0, p, 0.3, kind="abs") for k, p in enumerate(x_orders)]
    return checks


# ---------------------------------------------------------------- b. drug penetration
def penetration_profile(decay: float, jaki: float, *, seed: int = 0, height: str = PENETRATION["domain"]["height"]
                        ) -> dict:
    """The per-agent edge of :data:`PENETRATION` with JAK inhibitor ``jaki`` (nM) at the vessel
    and drug loss rate ``decay`` (1/min), spun up (agents held in place;
    :func:`~seedsoil.tissue.model.attach_chemistry`): the drug field along x against its
    closed forms (continuous, and the lattice's own), and per tumour cell (rows in id order)
    its distance from the vessel, pSTAT3 (the read-out of JAK1 activity) and whether it is
    amoeboid. The same seed places the same cells with the same parameters in every run."""
    from ..tissue.model import build_engine
    from ..tissue.scenario import TissueScenario
    from ..tissue import _kernels as K

    sc = TissueScenario.from_dict({**PENETRATION, "exposure": {"JAKi": jaki}, "drug_field": {"decay": decay},
                                   "simulation": {"seed": seed}, "domain": {**PENETRATION["domain"], "height": height}})
    engine = build_engine(sc, seed=seed)
    coupling, signalling = engine.couplings
    f = coupling.fields
    p = sc.parameters
    length = math.sqrt(p["drug_field.diffusion"] / decay)
    x = f.origin[0] + (np.arange(f.shape[0]) + 0.5) * f.dx
    xv = float(p["vessel.position"])
    field = f.field("JAKi").mean(axis=1)
    inside = x < xv - f.dx  # between the no-flux face at x = 0 and the vessel
    out = {"length": length}
    if jaki > 0:
        exact = jaki * np.cosh(x[inside] / length) / math.cosh(xv / length)  # 1-D, no flux at x = 0
        # the scheme's own steady state: per sub-step the x sweep ((1 + a) I - r T) w = u, the vessel column
        # held at c_v, then (the field being uniform in y) the y sweep's u = w / (1 + a) off the vessel. Steady:
        # r T w = a (2 + a) / (1 + a) w, so w = c_v cosh(κ x) / cosh(κ x_v) with cosh(κ dx) = 1 + a (2 + a) /
        # (2 r (1 + a)), a = k dt / 2, r = D dt / dx², and u = w / (1 + a): exact, no flux at x = 0
        a_ = decay * f.dt / 2
        r_ = p["drug_field.diffusion"] * f.dt / f.dx ** 2
        kappa = math.acosh(1.0 + a_ * (2 + a_) / (2 * r_ * (1 + a_))) / f.dx
        lattice = jaki * np.cosh(kappa * x[inside]) / math.cosh(kappa * xv) / (1.0 + a_)
        out["field_error"] = float(np.max(np.abs(field[inside] - exact) / exact))
        out["lattice_error"] = float(np.max(np.abs(field[inside] - lattice) / lattice))
    a = engine.agents
    tum = np.flatnonzero((a.state[:a.n] == K.ACTIVE) & (a.kind[:a.n] == K.TUMOUR))
    tum = tum[np.argsort(a.ids[tum])]
    idx = signalling.network.species_index
    out.update(distance=xv - a.pos[tum, 0], pstat3=a.species[tum, idx["STAT3"]], amoeboid=a.mode[tum] == 0,
               drug=f.sample("JAKi", a.pos[tum]), kappa=kappa if jaki > 0 else math.nan, x_vessel=xv, jaki=jaki)
    return out


def binned(x: np.ndarray, y: np.ndarray, edges: np.ndarray, *, least: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and mean ``y`` of the bins of ``x`` (``edges``) holding at least ``least`` values
    (NaN elsewhere)."""
    centres = 0.5 * (edges[1:] + edges[:-1])
    means = np.full(len(centres), np.nan)
    for k, (lo, hi) in enumerate(zip(edges, edges[1:])):
        m = (x >= lo) & (x < hi)
        if m.sum() >= least:
            means[k] = float(y[m].mean())
    return centres, means


def crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    """First x at which the (binned) curve y(x) rises through ``level`` (linear between points)."""
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    k = int(np.argmax(y >= level)) if np.any(y >= level) else -1
    if k <= 0:
        return float(x[0]) if k == 0 else math.nan
    return float(np.interp(level, [y[k - 1], y[k]], [x[k - 1], x[k]]))


#: pSTAT3 (with / without drug) level whose distance the case compares with the field's prediction
RECOVERY_LEVEL = 0.7


@case("drug_penetration_from_the_vessel", source=DEWHIRST,
      description="a JAK inhibitor entering from the vessel (100 nM) at a 400-µm-deep tumour edge, each cell with its "
                  "own network, against the same cells without drug: the drug field follows c_v cosh(x/L)/cosh(x_v/L), "
                  "L = sqrt(D/k); each cell's pSTAT3 (JAK1 activity) and the amoeboid fraction fall near the vessel and "
                  "recover with distance, over a length that halves when L halves")
def drug_penetration_from_the_vessel() -> list[Check]:
    return penetration_checks()


def penetration_checks(*, height: str = PENETRATION["domain"]["height"]) -> list[Check]:
    """The checks of ``drug_penetration_from_the_vessel`` on an edge ``height`` high."""
    base = penetration_profile(PENETRATION_DECAY[0], 0.0, height=height)
    runs = [penetration_profile(k, float(PENETRATION["exposure"]["JAKi"].split()[0]), height=height)
            for k in PENETRATION_DECAY]
    d = base["distance"]
    near, far = d < NEAR_UM, d > FAR_UM
    checks = []
    for r, tol in zip(runs, (0.05, 0.1)):
        assert np.array_equal(r["distance"], d)  # the same cells in the same places
        ratio = r["pstat3"] / base["pstat3"]
        length = r["length"]
        checks += [
            Check(f"L = {length:.0f} µm: drug field vs the scheme's own steady state, largest relative error", 0.0,
                  r["lattice_error"], 1e-9, kind="abs"),
            Check(f"L = {length:.0f} µm (dx/L = {20 / length:.1f}): drug field vs the continuous closed form, largest "
                  f"relative error < {tol:g}", (0.0, tol), r["field_error"], kind="range"),
            Check(f"L = {length:.0f} µm: pSTAT3 with / without drug, cells < {NEAR_UM:g} µm from the vessel < 0.6",
                  (0.0, 0.6), float(ratio[near].mean()), kind="range"),
            Check(f"L = {length:.0f} µm: amoeboid fraction with − without drug, cells < {NEAR_UM:g} µm < −0.1",
                  (-1.0, -0.1), float(r["amoeboid"][near].mean() - base["amoeboid"][near].mean()), kind="range"),
        ]
        r["ratio"] = ratio
    deep = runs[1]
    checks += [
        Check(f"L = {deep['length']:.0f} µm: pSTAT3 with / without drug, cells > {FAR_UM:g} µm (recovered) > 0.95",
              (0.95, 1.05), float(deep["ratio"][far].mean()), kind="range"),
        Check(f"L = {deep['length']:.0f} µm: amoeboid fraction with − without drug, cells > {FAR_UM:g} µm, |.| < 0.05",
              (-0.05, 0.05), float(deep["amoeboid"][far].mean() - base["amoeboid"][far].mean()), kind="range"),
    ]
    # each cell responds to the drug where it sits: against the local concentration the two runs collapse
    # onto one curve, so the distance of recovery follows the field's length
    log_edges = np.linspace(-1.0, 2.0, 13)  # log10 nM
    curves = [binned(np.log10(np.maximum(r["drug"], 1e-3)), r["ratio"], log_edges) for r in runs]
    both = np.isfinite(curves[0][1]) & np.isfinite(curves[1][1])
    checks.append(Check(f"pSTAT3 (with / without drug) against the local drug level: the two runs agree, largest "
                        f"difference over {int(both.sum())} shared concentration bins < 0.1", (0.0, 0.1),
                        float(np.max(np.abs(curves[0][1][both] - curves[1][1][both]))), kind="range"))
    pooled = binned(np.log10(np.maximum(np.concatenate([r["drug"] for r in runs]), 1e-3)),
                    np.concatenate([r["ratio"] for r in runs]), log_edges)
    # the ratio rises as the drug falls: the crossing along −log10 c
    c_level = 10 ** -crossing(-pooled[0][::-1], pooled[1][::-1], RECOVERY_LEVEL)
    dist_edges = np.arange(0.0, 476.0, 25.0)
    for r in runs:
        observed = crossing(*binned(r["distance"], r["ratio"], dist_edges), RECOVERY_LEVEL)
        # where the closed form of the field falls to c_level: c_v cosh(κ x)/cosh(κ x_v) = c_level
        x_pred = math.acosh(max(c_level / r["jaki"] * math.cosh(r["kappa"] * r["x_vessel"]), 1.0)) / r["kappa"]
        predicted = r["x_vessel"] - x_pred
        checks.append(Check(f"L = {r['length']:.0f} µm: distance at which pSTAT3 recovers to {RECOVERY_LEVEL:g} of "
                            f"untreated, {observed:.0f} µm, vs the field's prediction {predicted:.0f} µm (where the "
                            f"drug falls to {c_level:.2g} nM): ratio 1 ± 0.2", 1.0, observed / predicted, 0.2,
                            kind="abs"))
    return checks


# ---------------------------------------------------------------- c. the fibroblasts' cytokine
def cytokine_checks(*, seeds=CYTOKINE_SEEDS, duration: float = CYTOKINE_DURATION) -> list[Check]:
    """The default per-agent edge with and without the CAFs' cytokine (``cytokine.caf_export = 0``),
    ``duration`` min, over ``seeds``: tumour-cell pMLC2 and the depth of the 10 deepest cells."""
    from ..tissue.scenario import default_tissue_scenario
    from ..tissue.simulate import simulate_tissue
    from .cases_tissue import single_thread

    base = default_tissue_scenario().with_parameters(simulation__duration=duration, signalling__path="agent")
    out = {}
    with single_thread():
        for name, sc in (("with", base), ("without", base.with_parameters(cytokine__caf_export=0.0))):
            runs = [simulate_tissue(sc, seed=s, snapshots=False) for s in seeds]
            out[name] = {"mlc2": [float(r.timeseries["MLC2_tumour"].mean()) for r in runs],
                         "depth": [float(r.timeseries["depth_top10_um"].iloc[-1]) for r in runs]}
    w, wo = out["with"], out["without"]
    return [
        Check("without the CAFs' cytokine: tumour pMLC2 (mean over the run) / with < 0.8, every seed",
              (0.0, 0.8), max(b / a for a, b in zip(w["mlc2"], wo["mlc2"])), kind="range"),
        Check(f"without the CAFs' cytokine: depth of the 10 deepest cells / with < 0.9 (with {np.mean(w['depth']):.0f} "
              f"µm, without {np.mean(wo['depth']):.0f} µm, mean over {len(seeds)} seeds)", (0.0, 0.9),
              float(np.mean(wo["depth"]) / np.mean(w["depth"])), kind="range"),
        Check("every seed without the cytokine invades less deep than the same seed with it", True,
              all(b < a for a, b in zip(w["depth"], wo["depth"])), kind="true"),
    ]


@case("fibroblast_cytokine_drives_invasion", source=SANZ_MORENO, slow=True,
      description="the default per-agent edge, 4 seeds, 1 day: without the CAFs' IL-6-family cytokine the tumour "
                  "cells' JAK1/STAT3 loop does not ignite, their contractility (pMLC2) is lower and they invade less deep")
def fibroblast_cytokine_drives_invasion() -> list[Check]:
    return cytokine_checks()


# ---------------------------------------------------------------- d. hysteresis in tissue
def tissue_rock_ramp(levels=RAMP, days: float = RAMP_DAYS, *, seed: int = 0, height: float | None = None) -> dict:
    """The default per-agent edge, spun up, then a ROCK inhibitor at the vessel stepped up through
    ``levels`` (nM) and back down, ``days`` per level, agents held in place
    (:func:`~seedsoil.tissue.signalling.settle`: the switch needs no motion). Per level and branch:
    the amoeboid (RhoA-high) fraction of tumour cells, and each tumour cell's IL6 and ROCKi at the
    end of the level; also the cells' parameters and their states where each branch starts (for
    :func:`dish_replay`)."""
    from ..tissue import _kernels as K
    from ..tissue.model import build_engine, held_in_place
    from ..tissue.scenario import default_tissue_scenario
    from ..tissue.signalling import MIN_PER_DAY, settle

    sc = default_tissue_scenario().with_parameters(signalling__path="agent")
    if height is not None:
        sc = sc.with_parameters(domain__height=height)
    engine = build_engine(sc, seed=seed)
    coupling, signalling = engine.couplings
    level = {"ROCKi": 0.0}
    step = float(sc["signalling.spinup_step"])
    ramp, sig = held_in_place(sc, engine, signalling.network, step=step, dt=1.0,
                              vessel_curves={"ROCKi": lambda t: level["ROCKi"]})
    f = ramp.fields
    f.fields[...] = coupling.fields.fields
    a = engine.agents
    tum = np.flatnonzero((a.state[:a.n] == K.ACTIVE) & (a.kind[:a.n] == K.TUMOUR))
    net = signalling.network
    i_rho = net.species_index["RhoA"]
    thr = float(signalling.phenotype.readout["phenotype.rhoa_high"])
    out: dict = {"network": net, "parameters": a.cellpar[tum].copy(), "days": days, "threshold": thr}
    for branch, seq in (("up", levels), ("down", levels[::-1])):
        out[f"start_{branch}"] = a.species[tum].copy()
        fr, il6, rocki = [], [], []
        for c in seq:
            level["ROCKi"] = c
            settle(a, ramp, sig, days * MIN_PER_DAY, step)
            fr.append(float(np.mean(a.species[tum, i_rho] > thr)))
            il6.append(f.sample("IL6", a.pos[tum]))
            rocki.append(f.sample("ROCKi", a.pos[tum]))
        out[branch], out[f"il6_{branch}"], out[f"rocki_{branch}"] = np.array(fr), np.array(il6), np.array(rocki)
    return out


def dish_replay(r: dict) -> dict[str, np.ndarray]:
    """The same tumour cells (their own parameters, from the states each branch started from) in
    the dish, each at the IL6 and ROCKi it saw in tissue, level after level
    (:func:`~seedsoil.cell.solver.simulate_cells`): the amoeboid fraction per level and branch."""
    from ..cell.solver import simulate_cells

    net = r["network"]
    n = len(r["parameters"])
    params = {p: r["parameters"][:, k] for k, p in enumerate(net.parameter_names)}
    i_rho = net.species_index["RhoA"]
    out = {}
    for branch in ("up", "down"):
        y = r[f"start_{branch}"]
        fr = []
        for il6, rocki in zip(r[f"il6_{branch}"], r[f"rocki_{branch}"]):
            ds = simulate_cells(net, n, inputs={"IL6": il6, "ROCKi": rocki}, t_span=(0.0, r["days"]), t_eval=2,
                                parameters=params, initial=y)
            y = ds.state.values[:, -1]
            fr.append(float(np.mean(y[:, i_rho] > r["threshold"])))
        out[branch] = np.array(fr)
    return out


@case("tissue_switch_hysteresis", source=BYRNE,
      description="a ROCK inhibitor entering from the vessel, stepped up then down (2 days per level): each tumour "
                  "cell's own Rac1/RhoA switch flips at a higher level on the way up than on the way down, in tissue "
                  "as the same cells do in the dish at the inputs they saw (rac_rho_hysteresis)")
def tissue_switch_hysteresis() -> list[Check]:
    return hysteresis_checks(tissue_rock_ramp())


def hysteresis_checks(r: dict) -> list[Check]:
    """Checks of a :func:`tissue_rock_ramp` result (its down branch runs from the highest level down)."""
    dish = dish_replay(r)
    down = r["down"][::-1]  # level by level, as the up branch
    return [
        Check("no drug: rounded on the way up (amoeboid fraction > 0.8)", (0.8, 1.0), r["up"][0], kind="range"),
        Check("highest level: elongated (amoeboid fraction < 0.2)", (0.0, 0.2), r["up"][-1], kind="range"),
        Check("the branches differ (up − down amoeboid fraction > 0.3) at >= 2 levels", (2, len(r["up"])),
              int((r["up"] - down > 0.3).sum()), kind="range"),
        Check("never more rounded on the way down than on the way up (largest down − up)", (-1.0, 0.05),
              float(np.max(down - r["up"])), kind="range"),
        Check("the same cells in the dish at the inputs they saw in tissue: largest difference of the amoeboid "
              "fraction over levels and branches < 0.05", (0.0, 0.05),
              float(max(np.max(np.abs(dish["up"] - r["up"])), np.max(np.abs(dish["down"] - r["down"])))),
              kind="range"),
    ]
