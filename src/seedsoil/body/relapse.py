"""The relapse-time engine (``engine="analytic"``): one patient's relapse distribution, computed.

Disseminated cells arrive as a Poisson process whose intensity is fixed once the primary's
course and the therapies are; given the deterministic systemic signals, each cell's fate
is independent of the others. The colonies that first reach the detection size in a
window are then a thinned Poisson process, and

    P(relapse-free at t) = exp(−[Λ(t) − Λ(t_s)]),   Λ(t) = ∫ λ_arrival(s) π(s, t) ds,

Λ(t) being the expected number of colonies that have reached the detection size by t,
t_s the start of the scenario step containing surgery (t = 0 without surgery). Λ is the
integral of the expected first-detection flux, which the kernel
(:mod:`seedsoil.body._kernels_relapse`) obtains by solving the forward equation of one
colony's size and state once, fed by the expected colony starts: no sampling.

Approximations (docs/model.md, "The relapse-time engine"):

* effectors follow the trajectory driven by the primary and the *expected* burden of the
  colonies still undetected (in the stochastic engine they follow the random burden);
* with ``shedding.from_metastases``, metastasis-borne cells arrive at the rate the
  expected occult burden gives (a Poisson approximation of a cluster process);
* the size lattice is exact on the integers 1 … ``simulation.analytic_integer_sizes``;
  above, jumps match the birth–death drift and variance (the drift alone where the grid
  is too coarse for the variance);
* death (total burden reaching the lethal burden): the burden of the detected colonies is a
  compound Poisson sum of their sizes, grown from the detection size at reference conditions;
  the undetected burden enters at its mean (:mod:`seedsoil.body.death`).

All are measured against the stochastic engine by ``seedsoil validate`` and
``benchmarks/bench_relapse.py``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import _kernels as K
from . import _kernels_relapse as RK
from .curve import ENDPOINT_COLUMNS, SURVIVAL_COLUMNS, check_endpoint, evaluate, log_likelihood
from .model import BodyInputs, endocrine_responsive
from .result import STATUS_TEXT, RelapseResult
from .summary import build_events, build_summary

#: the colony lattice's rates are refreshed when the effectors have moved by more than this fraction
#: (0: whenever they move, which keeps the solution a smooth function of the parameters)
E_TOLERANCE = 0.0
#: sub-steps per macro step when following the reference colony to place the aligned nodes
ALIGN_SUBSTEPS = 16
#: most nodes of the deterministic regime's aligned grid (beyond: a uniform log grid)
MAX_ALIGNED_NODES = 20_000


@dataclass(frozen=True)
class Lattice:
    """The size grid of one patient (see the kernel's docstring)."""

    xs: np.ndarray  # stochastic-regime nodes (cells), xs[0] = 1
    exit_size: float  # where the stochastic lattice ends (threshold, or detection if smaller)
    yd: np.ndarray  # ln size of the nodes above it; reaching yd[-1] is detection
    aligned: bool  # yd follows the reference trajectory (one node per macro step)
    entry: float = 0.5  # mean node index at which a colony leaving the lattice during a step ends it
    n_noisy: int = 0  # the first n_noisy nodes of yd are below the stochastic threshold
    vascular: "VascularNodes | None" = None  # the angiogenic switch's vascular stage (else None)


@dataclass(frozen=True)
class VascularNodes:
    """The reference vascular colony's trajectory (Hahnfeldt law from V = the switch size, K = X_av,
    no kill, no therapy), every ``step`` days: ln V at the nodes, the per-cell growth λ1 ln(K/V)
    there, the fractional index at which it crosses the detection size, and for each lattice node
    the index at which a colony switching there enters (−1: below the switch size)."""

    y: np.ndarray
    growth: np.ndarray
    detect: float
    step: float
    entry: np.ndarray


#: vascular nodes per macro step (the trajectory's time resolution)
VASCULAR_NODES_PER_STEP = 8


def reference_effectors(par: np.ndarray) -> float:
    """Effectors without tumour, s/d (the level after surgery): the aligned grid's reference."""
    d = par[K.P_E_D]
    return par[K.P_E_S] / d if d > 0 else par[K.P_E0]


def deterministic_nodes(inputs: BodyInputs, start: float, step: float,
                        ratio: float) -> tuple[np.ndarray, bool, float]:
    """ln-size nodes from about ``start`` cells (the lattice's top) to detection, the last one
    past it (reaching it is detection), whether they are aligned, and the entry index.

    Aligned (:func:`seedsoil.body._kernels_relapse.timed_nodes`) when the reference colony
    (tumour-free effector level, no drug) grows from ``start`` to detection: node j + 1 is where
    node j's colony is one macro step later, and it crosses the detection size half a step after
    the last node. Otherwise a uniform grid of ``ratio`` from ``start`` to detection."""
    par = inputs.par
    d = float(inputs.detect_cells)
    ys, entry = RK.timed_nodes(par, inputs.colony_law.kernel_params(), reference_effectors(par), start, d,
                               float(step), MAX_ALIGNED_NODES, ALIGN_SUBSTEPS)
    if len(ys) >= 2:
        return ys, True, float(entry)
    n = max(int(math.ceil((math.log(d) - math.log(start)) / math.log(ratio))), 1)
    return np.linspace(math.log(start), math.log(d), n + 1), False, 0.5


def vascular_nodes(inputs: BodyInputs, xs: np.ndarray, step: float) -> VascularNodes:
    """The vascular stage's nodes for macro steps of ``step`` days (:class:`VascularNodes`)."""
    from .model import vascular_colony_law

    par = inputs.par
    law = vascular_colony_law(inputs.scenario.parameters)
    lp = law.kernel_params()
    dv = step / VASCULAR_NODES_PER_STEP
    ln_d = math.log(float(inputs.detect_cells))
    horizon = float(inputs.t[-1])
    v, k = float(par[K.P_SWITCH_SIZE]), float(par[K.P_V_K0])
    ys, gs = [math.log(v)], [lp.rate_constant * math.log(k / v)]
    det = math.inf
    extra = VASCULAR_NODES_PER_STEP + 2  # nodes kept past detection: a macro step's move stays on the grid
    while len(ys) * dv <= horizon + step:
        v, k = law.step(v, k, dv)
        y = math.log(v)
        if not y > ys[-1]:
            if math.isfinite(det):
                break
            from ..errors import ScenarioError
            raise ScenarioError("angiogenesis.enabled: the vascular colony (colony.hahnfeldt.*) stops growing at "
                                f"{v:.3g} cells, below the detection size {inputs.detect_cells:.3g}: the relapse-time "
                                "engine needs a trajectory that reaches it (use the stochastic engine)",
                                field="angiogenesis.enabled", value=True)
        ys.append(y)
        gs.append(lp.rate_constant * math.log(k / v))
        if not math.isfinite(det) and y >= ln_d:
            j = len(ys) - 1
            det = j - 1 + (ln_d - ys[-2]) / (y - ys[-2])
        if math.isfinite(det) and len(ys) > det + extra:
            break
    y_arr = np.asarray(ys)
    entry = np.array([RK.index_of(y_arr, math.log(x)) if x >= par[K.P_SWITCH_SIZE] else -1.0 for x in xs])
    return VascularNodes(y_arr, np.asarray(gs), det if math.isfinite(det) else float(len(ys) + 1), dv, entry)


def lattice(inputs: BodyInputs, step: float) -> Lattice:
    """The size grid of one patient for macro steps of ``step`` days: the lattice up to
    ``simulation.analytic_lattice_top`` cells (or the stochastic threshold, or detection, if
    smaller), then nodes aligned with the colony's trajectory up to detection."""
    sim = inputs.scenario.simulation
    par = inputs.par
    x_t = float(par[K.P_DET])
    d = float(inputs.detect_cells)
    if par[K.P_ANGIO] > 0.0:
        # avascular colonies stall below X_av: the lattice holds them all (its top, 2 X_av, is out of
        # reach); the vascular stage follows the switched colonies to detection
        top = float(math.ceil(2.0 * par[K.P_V_K0]))
        if d <= top:
            from ..errors import ScenarioError
            raise ScenarioError(f"detection.metastasis_diameter: with angiogenesis.enabled the relapse-time engine "
                                f"needs a detection size ({d:.3g} cells) above twice the avascular plateau "
                                f"({top:.3g} cells); raise it or lower angiogenesis.avascular_diameter",
                                field="detection.metastasis_diameter",
                                value=inputs.scenario.parameters["detection.metastasis_diameter"])
        xs = RK.ladder(par, inputs.colony_law.kernel_params(), reference_effectors(par), top,
                       int(sim.analytic_integer_sizes), float(sim.analytic_size_ratio))
        return Lattice(xs, top, np.zeros(0), False, 0.5, 0, vascular_nodes(inputs, xs, step))
    # colonies in the lattice hold whole cells: x >= X  <=>  x >= ceil(X)
    top = float(math.ceil(min(float(sim.analytic_lattice_top), x_t, d) - 1e-9))
    xs = RK.ladder(par, inputs.colony_law.kernel_params(), reference_effectors(par), top,
                   int(sim.analytic_integer_sizes), float(sim.analytic_size_ratio))
    if d <= top:
        return Lattice(xs, top, np.zeros(0), False, 0.5, 0)
    yd, aligned, entry = deterministic_nodes(inputs, top, step, float(sim.analytic_size_ratio))
    n_noisy = int(np.sum(yd[:-1] < math.log(x_t)))
    return Lattice(xs, top, yd, aligned, entry, n_noisy)


#: a run has at least this many macro steps (a short run gets shorter ones)
MIN_MACRO_STEPS = 50


def macro_per_step(inputs: BodyInputs) -> int:
    """Scenario steps per macro step: ``simulation.analytic_step`` / dt, but at most 1/50 of the run."""
    n = inputs.t.shape[0] - 1
    per = max(int(round(float(inputs.scenario.simulation.analytic_step) / inputs.dt)), 1)
    return max(min(per, n // MIN_MACRO_STEPS), 1)


def macro_bounds(inputs: BodyInputs, per_step: int, extra: Any = ()) -> tuple[np.ndarray, int, int]:
    """Macro-step boundaries (indices into the scenario's grid): every ``per_step`` steps, plus
    the start and the end of the step containing surgery (the relapse window opens at its
    start, as in the stochastic engine; the surgery snapshot is taken at its end) and every
    therapy start and stop that acts (radiotherapy acts on the local channel only: its fractions'
    steps come in ``extra``, scenario-step indices to add; endocrine therapy does not act on
    ER-negative disease). Returns (bounds, index of the window start, index of the snapshot)."""
    n = inputs.t.shape[0] - 1
    dt = inputs.dt
    marks = set(range(0, n, per_step)) | {n}
    s = inputs.schedule.surgery_day
    k_s = -1
    if math.isfinite(s) and s < inputs.t[-1]:
        k_s = min(int(math.floor(s / dt + 1e-9)), n - 1)
        marks |= {k_s, k_s + 1}
    # radiotherapy's steps come in ``extra``; endocrine therapy does nothing for ER-negative
    # disease, and its edges would only move the grid (the curve must equal the untreated one)
    skip = {"radiotherapy"} if endocrine_responsive(inputs.scenario) else {"radiotherapy", "endocrine"}
    edges = [e for kind, start, stop in inputs.schedule.therapies for e in (start, stop) if kind not in skip]
    marks |= {int(k) for k in extra}
    for edge in edges + list(inputs.schedule.pulses):
        if 0 < edge < inputs.t[-1]:
            marks.add(int(math.ceil(edge / dt - 1e-9)))
    bounds = np.asarray(sorted(m for m in marks if 0 <= m <= n), dtype=np.int64)
    if k_s < 0:
        return bounds, 0, -1
    return bounds, int(np.searchsorted(bounds, k_s)), int(np.searchsorted(bounds, k_s + 1))


@dataclass(frozen=True)
class Solution:
    """The kernel's output, named."""

    rec: np.ndarray
    dist: np.ndarray
    fine: np.ndarray  # linear compartments on the scenario's grid
    lattice: Lattice
    bounds: np.ndarray
    window: int  # macro boundary where the relapse window opens
    snapshot: int  # macro boundary of the surgery snapshot (-1: none)
    injected_cells: float


def solve(inputs: BodyInputs, grid: Lattice | None = None) -> Solution:
    """Run the kernel for one patient's deterministic inputs (on ``grid``, default: the patient's
    own :func:`lattice`; pass another patient's to compare solutions on one grid)."""
    per_step = macro_per_step(inputs)
    bounds, window, snapshot = macro_bounds(inputs, per_step)
    lat = grid if grid is not None else lattice(inputs, per_step * inputs.dt)
    n_inj = float(inputs.injected.sum())
    channels = 2 if n_inj > 0 else 1
    rec, dist, fine = RK.run_relapse(
        inputs.t, bounds, inputs.shed_primary, inputs.injected, inputs.suppression, inputs.immune_kill_factor,
        inputs.invasion_factor, inputs.growth_inhibition, inputs.activation_factor, inputs.switch_rate,
        inputs.primary, inputs.par, inputs.colony_law.kernel_params(), *_vascular_args(lat), lat.xs, lat.exit_size,
        lat.yd, lat.aligned, lat.entry, lat.n_noisy, per_step * inputs.dt, reference_effectors(inputs.par), snapshot,
        channels, E_TOLERANCE, np.zeros(inputs.t.shape[0] - 1), np.zeros(inputs.t.shape[0] - 1))
    return Solution(rec, dist, fine, lat, bounds, window, snapshot, n_inj)


_NO_VASCULAR = (np.zeros(0), np.zeros(0), np.zeros(0), 0.0, 1.0)


def _vascular_args(lat: Lattice) -> tuple:
    v = lat.vascular
    if v is None:
        return _NO_VASCULAR
    return (v.y, v.growth, v.entry, float(v.detect), float(v.step))


# ----------------------------------------------------------------------------- residual disease (body/local.py)
def local_inputs(inputs: BodyInputs) -> BodyInputs | None:
    """The inputs of the local channel: no shedding, no injection, detection at the local detection
    size; None when there is no residual disease (no surgery within the run, or m = 0)."""
    s = inputs.schedule.surgery_day
    if not inputs.residual_cells > 0.0 or not math.isfinite(s) or s >= inputs.t[-1]:
        return None
    zeros = np.zeros(inputs.t.shape[0] - 1)
    return dataclasses.replace(inputs, shed_primary=zeros, injected=zeros, detect_cells=inputs.local_detect_cells)


def solve_local(inputs: BodyInputs, grid: Lattice | None = None) -> Solution | None:
    """The local recurrence process: the same kernel, run a second time with no shedding, with the
    m residual cells as colonies of one cell started in the step containing surgery (expected numbers,
    so its detection counter is Λ_L(t) = m·π_L(t)), radiotherapy's binomial thinning at the fractions,
    and its own size grid up to ``detection.local_diameter`` (``grid``: another patient's). Its
    effectors follow the primary and the expected local burden. None without residual disease."""
    loc = local_inputs(inputs)
    if loc is None:
        return None
    per_step = macro_per_step(loc)
    rt = loc.radiotherapy if loc.radiotherapy is not None else np.zeros(loc.t.shape[0] - 1)
    bounds, window, snapshot = macro_bounds(loc, per_step, extra=np.flatnonzero(rt < 0.0))
    lat = grid if grid is not None else lattice(loc, per_step * loc.dt)
    src = np.zeros(loc.t.shape[0] - 1)
    src[int(bounds[window])] = loc.residual_cells
    rec, dist, fine = RK.run_relapse(
        loc.t, bounds, loc.shed_primary, loc.injected, loc.suppression, loc.immune_kill_factor,
        loc.invasion_factor, loc.growth_inhibition, loc.activation_factor, loc.switch_rate, loc.primary, loc.par,
        loc.colony_law.kernel_params(), *_vascular_args(lat), lat.xs, lat.exit_size,
        lat.yd, lat.aligned, lat.entry, lat.n_noisy, per_step * loc.dt, reference_effectors(loc.par), snapshot,
        1, E_TOLERANCE, src, rt)
    return Solution(rec, dist, fine, lat, bounds, window, snapshot, 0.0)


#: the death curve is computed at every DEATH_STRIDE-th macro boundary (and the last), linear between
DEATH_STRIDE = 4


def size_after_detection(inputs: BodyInputs):
    """The size ``a`` days after a colony reached the detection size, at reference conditions (its
    growth law from the detection size; with the angiogenic switch, the reference vascular
    trajectory past it): a vectorised function of ``a``."""
    d = float(inputs.detect_cells)
    if inputs.par[K.P_ANGIO] > 0.0:
        from .model import vascular_colony_law

        law = vascular_colony_law(inputs.scenario.parameters)
        ages = np.arange(0.0, float(inputs.t[-1]) + 2.0, 1.0)
        v, _k = law.trajectory(float(inputs.par[K.P_SWITCH_SIZE]), float(inputs.par[K.P_V_K0]), ages)
        j = int(np.searchsorted(v, d))
        if j >= len(v):
            return lambda a: np.zeros_like(np.asarray(a, dtype=float))
        t_det = ages[j - 1] + (math.log(d) - math.log(v[j - 1])) / (math.log(v[j]) - math.log(v[j - 1]))
        return lambda a: np.interp(t_det + np.asarray(a, dtype=float), ages, v)
    law = inputs.colony_law
    return lambda a: law.solution(d, np.asarray(a, dtype=float))


def death_arrays(sol: Solution, inputs: BodyInputs, origin: float):
    """(days after ``origin``, cumulative hazard, hazard per day) of death given alive at the window's
    start: −ln P(alive at t) + ln P(alive at its start), P from :func:`seedsoil.body.death.alive_probability`
    with the distant colonies' detections (every channel), the primary and the expected undetected
    burden; computed at every :data:`DEATH_STRIDE`-th boundary and linear between."""
    from .death import alive_probability

    rec = sol.rec
    t_all = rec[:, RK.A_T]
    detected = rec[:, RK.A_DETECTED].copy()
    if sol.injected_cells > 0:
        detected += sol.injected_cells * rec[:, RK.A_DETECTED_INJ]
    t, d, _cum, _haz = curve_arrays(sol, origin)
    pick = np.unique(np.append(np.arange(0, len(t), DEATH_STRIDE), len(t) - 1))
    tp = t[pick]
    offset = np.interp(tp, inputs.t, inputs.primary) + np.interp(tp, t_all, rec[:, RK.A_MET_CELLS])
    alive = alive_probability(tp, t_all, detected, size_after_detection(inputs), float(inputs.par[K.P_LETHAL]),
                              offset)
    with np.errstate(divide="ignore"):
        cum_p = -np.log(np.maximum(alive, 1e-300))
    cum = np.interp(t, tp, cum_p - cum_p[0])
    haz = np.zeros_like(t)
    if len(t) > 1:
        haz[1:] = np.diff(cum) / np.diff(t)
        haz[0] = haz[1]
    return d, cum, haz


def endpoint_arrays(sol: Solution, lsol: Solution | None, origin: float, endpoint: str = "distant",
                    inputs: BodyInputs | None = None):
    """(days after ``origin``, cumulative hazard, hazard per day) of ``endpoint`` ("distant", "local",
    "any"): distant from ``sol``, local from ``lsol`` (none: a zero hazard), any = their sum (the two
    processes are independent given the deterministic inputs: P(no recurrence) is the product). With
    the local process, on the union of the two solutions' macro boundaries. "death" (needs ``inputs``):
    :func:`death_arrays`, from the distant colonies and the primary."""
    check_endpoint(endpoint)
    if endpoint == "death":
        if inputs is None:
            raise ValueError("endpoint = 'death' needs the patient's inputs")
        return death_arrays(sol, inputs, origin)
    _t, d, cum, haz = curve_arrays(sol, origin)
    if lsol is None:
        if endpoint == "local":
            return d, np.zeros_like(cum), np.zeros_like(haz)
        return d, cum, haz
    _lt, ld, lcum, lhaz = curve_arrays(lsol, origin)
    if endpoint == "local":
        return ld, lcum, lhaz
    u = np.union1d(d, ld)
    c1, h1 = evaluate(d, cum, haz, u)
    if endpoint == "distant":
        return u, c1, h1
    c2, h2 = evaluate(ld, lcum, lhaz, u)
    return u, c1 + c2, h1 + h2


def curve_arrays(sol: Solution, origin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(day, days after ``origin``, cumulative hazard, hazard per day) at every macro boundary from
    the window's start. The hazard is constant on each macro step (attributed to its end)."""
    rec = sol.rec[sol.window:]
    t = rec[:, RK.A_T]
    cum = rec[:, RK.A_DETECTED] - rec[0, RK.A_DETECTED]
    if sol.injected_cells > 0:
        pi = np.clip(rec[:, RK.A_DETECTED_INJ] - rec[0, RK.A_DETECTED_INJ], 0.0, 1.0)
        with np.errstate(divide="ignore"):
            cum = cum - sol.injected_cells * np.log1p(-pi)
    haz = np.zeros_like(t)
    if len(t) > 1:
        haz[1:] = np.diff(cum) / np.diff(t)
        haz[0] = haz[1]
    return t, t - origin, cum, haz


def relapse_curve(sol: Solution, origin: float) -> pd.DataFrame:
    """Relapse-free probability, hazard, density and cumulative hazard at every macro boundary
    from the window's start; ``days_after_surgery`` counts from ``origin``."""
    t, d, cum, haz = curve_arrays(sol, origin)
    surv = np.exp(-cum)
    return pd.DataFrame({"day": t, "days_after_surgery": d, "relapse_free_probability": surv,
                         "cumulative_hazard": cum, "hazard_per_day": haz, "density_per_day": haz * surv})


def full_curve(sol: Solution, lsol: Solution | None, origin: float, inputs: BodyInputs | None = None) -> pd.DataFrame:
    """:func:`recurrence_curve`, with the death columns (``alive_probability``,
    ``death_cumulative_hazard``, ``death_hazard_per_day``) when ``inputs`` are given."""
    curve = recurrence_curve(sol, lsol, origin)
    if inputs is not None:
        d, cum, haz = death_arrays(sol, inputs, origin)
        c, h = evaluate(d, cum, haz, curve["days_after_surgery"].to_numpy())
        curve["alive_probability"] = np.exp(-c)
        curve["death_cumulative_hazard"] = c
        curve["death_hazard_per_day"] = h
    return curve


def recurrence_curve(sol: Solution, lsol: Solution | None, origin: float) -> pd.DataFrame:
    """:func:`relapse_curve` (distant relapse) with the local and any-recurrence columns
    (``local_recurrence_free_probability``, ``local_cumulative_hazard``, ``local_hazard_per_day``,
    ``recurrence_free_probability``, ``any_cumulative_hazard``, ``any_hazard_per_day``). Without
    residual disease the rows are those of :func:`relapse_curve`; with it, the union of both
    solutions' boundaries (the distant values there are exact: its hazard is constant on its steps)."""
    if lsol is None:
        curve = relapse_curve(sol, origin)
        curve["local_recurrence_free_probability"] = 1.0
        curve["local_cumulative_hazard"] = 0.0
        curve["local_hazard_per_day"] = 0.0
        curve["recurrence_free_probability"] = curve["relapse_free_probability"]
        curve["any_cumulative_hazard"] = curve["cumulative_hazard"]
        curve["any_hazard_per_day"] = curve["hazard_per_day"]
        return curve
    d, cum, haz = endpoint_arrays(sol, lsol, origin, "distant")
    _, lcum, lhaz = endpoint_arrays(sol, lsol, origin, "local")
    lcum, lhaz = evaluate(_, lcum, lhaz, d)
    surv = np.exp(-cum)
    return pd.DataFrame({"day": d + origin, "days_after_surgery": d, "relapse_free_probability": surv,
                         "cumulative_hazard": cum, "hazard_per_day": haz, "density_per_day": haz * surv,
                         "local_recurrence_free_probability": np.exp(-lcum), "local_cumulative_hazard": lcum,
                         "local_hazard_per_day": lhaz, "recurrence_free_probability": np.exp(-(cum + lcum)),
                         "any_cumulative_hazard": cum + lcum, "any_hazard_per_day": haz + lhaz})


def simulate_analytic(inputs: BodyInputs) -> RelapseResult:
    """The relapse-time engine for one patient: a :class:`~seedsoil.body.result.RelapseResult`."""
    t0 = time.perf_counter()
    sol = solve(inputs)
    lsol = solve_local(inputs)
    t1 = time.perf_counter()
    rec = sol.rec
    sched = inputs.schedule
    surgery = sched.surgery_day
    origin = surgery if math.isfinite(surgery) else 0.0
    curve = full_curve(sol, lsol, origin, inputs)
    # expected numbers, like the mean-field engine's, on the output grid
    stride = float(inputs.scenario.output.record_every)
    end_day = float(rec[-1, RK.A_T])
    days = np.arange(0.0, end_day, stride)
    days = np.append(days, end_day) if days[-1] < end_day else days
    # colony numbers between macro boundaries: interpolated; the linear compartments: exact per step
    col = {name: np.interp(days, rec[:, RK.A_T], rec[:, c]) for name, c in (
        ("colonies_proliferating", RK.A_COL_PROLIF), ("colonies_dormant", RK.A_COL_DORMANT),
        ("metastatic_cells", RK.A_MET_CELLS), ("effector_cells", RK.A_E),
        ("colonies_started", RK.A_STARTED), ("colonies_extinct", RK.A_EXTINCT),
        ("detectable_metastases", RK.A_DETECTED), ("largest_colony_cells", RK.A_LARGEST))}
    for name, c in (("ctc_cells", RK.F_CTC), ("dormant_cells", RK.F_DORMANT_CELLS), ("cells_shed", RK.F_SHED),
                    ("cells_arrived", RK.F_ARRIVED), ("cells_died", RK.F_DIED), ("ctc_died", RK.F_CTC_DIED),
                    ("cells_injected", RK.F_INJECTED)):
        col[name] = np.interp(days, inputs.t, sol.fine[:, c])
    col["primary_cells"] = np.interp(days, inputs.t, inputs.primary)
    col["primary_cells"][days > surgery] = 0.0
    ts = pd.DataFrame({"day": days, **col,
                       "inflammation_nM": np.interp(days, inputs.t, inputs.inflammation),
                       "relapse_free_probability": np.interp(days, curve["day"], curve["relapse_free_probability"],
                                                             left=1.0)})
    ts = ts[["day", "primary_cells", "ctc_cells", "dormant_cells", "colonies_proliferating", "colonies_dormant",
             "metastatic_cells", "effector_cells", "inflammation_nM", "cells_shed", "cells_arrived", "cells_died",
             "ctc_died", "cells_injected", "colonies_started", "detectable_metastases", "largest_colony_cells",
             "colonies_extinct", "relapse_free_probability"]]
    # summary
    p_relapse = 1.0 - float(curve["relapse_free_probability"].iloc[-1])
    median = _median(curve)
    if sol.snapshot >= 0:
        snap_day = float(rec[sol.snapshot, RK.A_T])
        r = rec[sol.snapshot]
        f = sol.fine[sol.bounds[sol.snapshot]]
        snap = {"shed_before_surgery": float(f[RK.F_SHED]), "arrived_before_surgery": float(f[RK.F_ARRIVED]),
                "colonies_started_before_surgery": float(r[RK.A_STARTED]),
                "dormant_cells_at_surgery": float(f[RK.F_DORMANT_CELLS]),
                "colonies_alive_at_surgery": float(r[RK.A_COL_PROLIF] + r[RK.A_COL_DORMANT]),
                "dormant_colonies_at_surgery": float(r[RK.A_COL_DORMANT]),
                "occult_metastatic_cells_at_surgery": float(r[RK.A_MET_CELLS]),
                "detectable_at_surgery": float(rec[sol.window, RK.A_DETECTED])}
    else:
        snap_day = math.nan
        snap = {k: math.nan for k in ("shed_before_surgery", "arrived_before_surgery",
                                      "colonies_started_before_surgery", "dormant_cells_at_surgery",
                                      "colonies_alive_at_surgery", "dormant_colonies_at_surgery",
                                      "occult_metastatic_cells_at_surgery", "detectable_at_surgery")}
    relapse_day = origin + median if math.isfinite(median) else math.nan
    local_median = _median(curve, "local")
    any_median = _median(curve, "any")
    death_median = _median(curve, "death")
    outd = {"end_day": end_day, "death_day": origin + death_median if math.isfinite(death_median) else math.nan,
            "relapse_day": relapse_day, "relapse_colony": -1,
            "detectable_at_relapse": math.nan,
            "local_recurrence_day": origin + local_median if math.isfinite(local_median) else math.nan}
    final = {"cells_shed": sol.fine[-1, RK.F_SHED], "cells_arrived": sol.fine[-1, RK.F_ARRIVED],
             "colonies_started": rec[-1, RK.A_STARTED], "metastatic_cells": rec[-1, RK.A_MET_CELLS],
             "dormant_cells": sol.fine[-1, RK.F_DORMANT_CELLS]}
    summary = build_summary(inputs, final, float(rec[-1, RK.A_DETECTED]), snap, outd, STATUS_TEXT[0])
    summary["relapse_probability"] = p_relapse
    summary["expected_detections_after_surgery"] = float(curve["cumulative_hazard"].iloc[-1]) \
        if sol.injected_cells == 0 else float(rec[-1, RK.A_DETECTED] - rec[sol.window, RK.A_DETECTED])
    summary["median_time_to_relapse_days"] = median
    # residual disease at the surgical site: local and any recurrence (medians, like relapse_day)
    summary["any_recurrence_day"] = origin + any_median if math.isfinite(any_median) else math.nan
    summary["residual_cells_at_surgery"] = float(inputs.residual_cells) if math.isfinite(surgery) else math.nan
    summary["local_recurrence_probability"] = 1.0 - float(curve["local_recurrence_free_probability"].iloc[-1])
    summary["any_recurrence_probability"] = 1.0 - float(curve["recurrence_free_probability"].iloc[-1])
    summary["median_time_to_local_recurrence_days"] = local_median
    summary["median_time_to_any_recurrence_days"] = any_median
    death_median = _median(curve, "death")
    summary["death_probability"] = 1.0 - float(curve["alive_probability"].iloc[-1])
    summary["median_survival_days"] = death_median
    summary["snapshot_day"] = snap_day
    summary["relapse_origin"] = "none"
    events = build_events(inputs, pd.DataFrame({"colony_id": pd.Series([], dtype=np.int64),
                                                "detected_day": pd.Series([], dtype=float)}), summary)
    colonies = size_distribution(sol, inputs)
    return RelapseResult(scenario=inputs.scenario, seed=None, engine="analytic", timeseries=ts, colonies=colonies,
                         events=events, summary=summary, curve=curve,
                         timings={"kernel_s": t1 - t0, "total_s": time.perf_counter() - t0})


def _median(curve: pd.DataFrame, endpoint: str = "distant") -> float:
    """Days after surgery at which the endpoint's free probability falls to 1/2 (NaN if it does not)."""
    s = curve[SURVIVAL_COLUMNS[endpoint]].to_numpy()
    d = curve["days_after_surgery"].to_numpy()
    below = np.nonzero(s <= 0.5)[0]
    if len(below) == 0:
        return math.nan
    i = int(below[0])
    if i == 0:
        return float(d[0])
    # log-linear between the two boundaries (constant hazard on the step)
    a, b = math.log(s[i - 1]), math.log(s[i])
    return float(d[i - 1] + (math.log(0.5) - a) / (b - a) * (d[i] - d[i - 1]))


def size_distribution(sol: Solution, inputs: BodyInputs) -> pd.DataFrame:
    """Expected occult colonies per lattice node (proliferating, dormant) at surgery and at the end,
    in the mean-field engine's format (a node's bin spans halfway, in log size, to its neighbours)."""
    lat = sol.lattice
    nodes = np.concatenate([lat.xs, np.exp(lat.yd[:-1])]) if len(lat.yd) else lat.xs
    edges = np.sqrt(nodes[1:] * nodes[:-1])
    low = np.concatenate([[0.5], edges])
    high = np.concatenate([edges, [lat.exit_size if not len(lat.yd) else inputs.detect_cells]])
    w = np.array([1.0, sol.injected_cells])[: sol.dist.shape[1]]
    parts = []
    for s, label in ((0, "surgery"), (1, "end")):
        if s == 0 and sol.snapshot < 0:
            continue
        day = float(sol.rec[sol.snapshot if s == 0 else -1, RK.A_T])
        d = sol.dist[s]
        chans = d.shape[0] if sol.injected_cells > 0 else 1
        prol = sum(w[c] * d[c, :, 0] for c in range(chans))
        dorm = sum(w[c] * d[c, :, 1] for c in range(chans))
        parts.append(pd.DataFrame({"when": label, "day": day, "size_low": low, "size_high": high,
                                   "proliferating": prol, "dormant": dorm}))
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- lean paths: cohorts and fits
def relapse_free(scenario: Any, t, *, grid: Lattice | None = None,
                 endpoint: str = "distant") -> tuple[np.ndarray, np.ndarray]:
    """(P(event-free), hazard per day) at ``t`` days after surgery for one scenario (or its
    :class:`BodyInputs`), without building tables: the cohort and fitting path. Equal to
    ``simulate(scenario, engine="analytic").survival(t, endpoint)`` and ``.hazard(t, endpoint)``.
    ``endpoint``: "distant" (relapse), "local" (recurrence at the surgical site), "any" or "death"; ``grid``
    is the distant process's lattice (the local process always uses its own)."""
    c, h = cumulative_hazard(scenario, t, grid=grid, endpoint=endpoint)
    return np.exp(-c), h


def cumulative_hazard(scenario: Any, t, *, grid: Lattice | None = None,
                      endpoint: str = "distant") -> tuple[np.ndarray, np.ndarray]:
    """(cumulative hazard Λ(t) − Λ(t_s), hazard per day) at ``t`` days after surgery: what
    :func:`relapse_free` exponentiates, kept finite where P(event-free) underflows to 0 (the
    fitting path needs Λ itself). NaN past the follow-up."""
    from .model import build_inputs

    check_endpoint(endpoint)
    inputs = scenario if isinstance(scenario, BodyInputs) else build_inputs(scenario)
    s = inputs.schedule.surgery_day
    origin = s if math.isfinite(s) else 0.0
    sol = solve(inputs, grid)
    if endpoint == "distant":
        _t, d, cum, haz = curve_arrays(sol, origin)
    elif endpoint == "death":
        d, cum, haz = death_arrays(sol, inputs, origin)
    else:
        d, cum, haz = endpoint_arrays(sol, solve_local(inputs), origin, endpoint)
    return evaluate(d, cum, haz, t)


def loglik(scenario: Any, t, event, *, grid: Lattice | None = None, endpoint: str = "distant") -> float:
    """Log-likelihood of relapse data (``t`` days after surgery; ``event`` true: relapse at t,
    false: relapse-free when last seen at t) under one scenario: Σ log f(t) over events +
    Σ log S(t) over censored times."""
    t = np.asarray(t, dtype=float)
    ev = np.asarray(event, dtype=bool)
    s, h = relapse_free(scenario, t, grid=grid, endpoint=endpoint)
    with np.errstate(divide="ignore"):
        return float(np.sum(log_likelihood(np.log(s), h, ev)))


def loglik_gradient(scenario: Any, t, event, parameters: list[str] | tuple[str, ...], *,
                    rel_step: float = 1e-4) -> dict[str, float]:
    """∂ loglik / ∂θ for each library parameter θ in ``parameters`` (e.g. ``"shedding.rate"``), by
    central differences on the solver's smooth solution, with step ``rel_step``·|θ| (θ ≠ 0).

    Every evaluation uses the size lattice of ``scenario`` itself (the lattice's nodes depend on
    the colony parameters, and a node more or less is a jump), so the solver is a fixed sequence
    of smooth operations of the parameters and the differences converge at second order until
    round-off. Parameters that move the surgery time across a scenario step (growth rates, with
    surgery at a size) change the time grid and are differentiable only to the step's
    resolution. ``scenario`` is a :class:`~seedsoil.scenario.Scenario` (it provides
    ``with_overrides``).
    """
    from .model import build_inputs

    base = build_inputs(scenario)
    grid = lattice(base, macro_per_step(base) * base.dt)
    out = {}
    for name in parameters:
        theta = scenario.parameters[name]
        if isinstance(theta, bool) or not isinstance(theta, (int, float)):
            raise TypeError(f"{name} = {theta!r}: not a numeric parameter")
        h = rel_step * abs(theta) if theta != 0 else rel_step
        up = loglik(scenario.with_overrides({name: theta + h}), t, event, grid=grid)
        down = loglik(scenario.with_overrides({name: theta - h}), t, event, grid=grid)
        out[name] = (up - down) / (2.0 * h)
    return out
