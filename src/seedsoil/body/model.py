"""The body model: from a Scenario to the arrays both engines consume.

Everything that does not depend on the random course of the disease is computed
here, once, on the time grid: the primary tumour (closed form of its growth law, or the
Hahnfeldt tumour–vasculature system solved numerically, body/vascular.py),
surgery, systemic IL-1β inflammation I(t) and its suppression h(I), therapy
windows, drug factors, injections, and the numeric parameter vector.

The body imports no other scale and not the scenario layer: it reads the
scenario it is given (:class:`seedsoil.scenario.Scenario`, or any object with
the same attributes) and asks it for the drug factors
(``scenario.drug_factors``), which the composition root answers through the
coupling layer (docs/architecture.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.signal import lfilter

from ..errors import ScenarioError
from ..units import sphere_cells
from . import _kernels as K
from . import adjuvant, hooks, local, vascular
from .growth import GrowthLaw, make_law


def primary_law(p: Mapping) -> GrowthLaw | vascular.VascularPrimary:
    name = p["primary.law"]
    if name in vascular.PRIMARY_LAWS:  # a tumour–vasculature system, solved numerically (body/vascular.py)
        return vascular.primary_from_parameters(p)
    return make_law(name, {k.split(".")[-1]: v for k, v in p.items() if k.startswith(f"primary.{name}.")})


def avascular_cells(p: Mapping) -> float:
    """X_av: cells of a colony at the avascular plateau (``angiogenesis.avascular_diameter``)."""
    return sphere_cells(p["angiogenesis.avascular_diameter"], p["cells.density"])


def colony_law(p: Mapping) -> GrowthLaw:
    """The colonies' growth law; with the angiogenic switch on, their avascular growth:
    Gompertz at ``angiogenesis.avascular_rate`` towards X_av (docs/model.md §11c)."""
    if p.get("angiogenesis.enabled", False):
        return make_law("gompertz", {"rate_constant": p["angiogenesis.avascular_rate"],
                                     "carrying_capacity": avascular_cells(p)})
    name = p["colony.law"]
    vascular.check_colony_law(p)
    if name == "same_as_primary":
        return primary_law(p)  # type: ignore[return-value]  # a 1-D law: check_colony_law refused the others
    return make_law(name, {k.split(".")[-1]: v for k, v in p.items() if k.startswith(f"colony.{name}.")})


def vascular_colony_law(p: Mapping) -> vascular.Hahnfeldt:
    """The Hahnfeldt law of colonies after their angiogenic switch (``colony.hahnfeldt.*``)."""
    return vascular.law_from_parameters(p, "colony")


def suppression(I: np.ndarray | float, half: float, hill: float) -> np.ndarray:
    """h(I) = I^n / (K^n + I^n): the fraction by which IL-1β holds cells dormant."""
    I = np.maximum(np.asarray(I, dtype=float), 0.0)
    r = (I / half) ** hill
    return r / (1.0 + r)


def inflammation_series(t: np.ndarray, primary: np.ndarray, p: Mapping) -> np.ndarray:
    """Systemic IL-1β I(t) (nM): dI/dt = P s N/(N + N½) − k I, exponential integrator.

    The source (trapezoid over each step) stops when the primary is removed.
    """
    k = math.log(2.0) / p["inflammation.half_life"]
    src = p["inflammation.max_production"] * p["inflammation.strength"] * primary / (
        primary + p["inflammation.half_burden"])
    dt = t[1] - t[0]  # uniform grid
    decay = math.exp(-k * dt)
    gain = 0.5 * (src[:-1] + src[1:]) / k * (1.0 - decay)
    I = np.zeros_like(t)
    # I[i+1] = decay * I[i] + gain[i], as a first-order linear filter
    I[1:] = lfilter([1.0], [1.0, -decay], gain)
    return I


@dataclass(frozen=True)
class Schedule:
    """Key times (days since t = 0)."""

    diagnosis_day: float  # primary reached the surgery diameter (nan if not by size)
    surgery_day: float  # inf without surgery
    end_day: float
    therapies: tuple[tuple[str, float, float], ...]  # (kind, start, stop)
    pulses: tuple[float, ...] = ()  # chemotherapy exposure edges (starts and ends of the cycles' exposure)


@dataclass(frozen=True)
class BodyInputs:
    """Everything deterministic, on the grid ``t`` (K+1 points, step ``dt``)."""

    scenario: Any  # seedsoil.scenario.Scenario
    t: np.ndarray
    dt: float
    primary: np.ndarray  # cells at t
    inflammation: np.ndarray  # I(t) + mimetic, nM, at t
    suppression: np.ndarray  # h per step (K)
    invasion_factor: np.ndarray  # per step
    immune_kill_factor: np.ndarray  # per step
    shed_primary: np.ndarray  # expected cells shed by the primary per step
    injected: np.ndarray  # cells injected per step
    growth_inhibition: np.ndarray  # c per step: extra per-cell death c g(x) of proliferating cells
    switch_rate: np.ndarray  # per step: angiogenic switch rate of an avascular colony at its plateau (1/day)
    activation_factor: np.ndarray  # per step: multiplies the awakening of dormant cells and colonies
    wound: np.ndarray  # W(t), the response to the surgical wound, at t
    par: np.ndarray
    primary_law: GrowthLaw | vascular.VascularPrimary
    colony_law: GrowthLaw
    schedule: Schedule
    detect_cells: float
    # residual disease at the surgical site (body/local.py)
    residual_cells: float = 0.0  # m: mean residual clonogenic cells at surgery (Poisson)
    radiotherapy: np.ndarray | None = None  # per step: sum of ln S of the fractions given in it (<= 0)
    local_detect_cells: float = math.inf  # a local colony is a local recurrence at this size


def _schedule(sc: Any, law: GrowthLaw | vascular.VascularPrimary) -> Schedule:
    p = sc.parameters
    sim = sc.simulation
    n0 = p["primary.initial_cells"]
    diagnosis = math.nan
    surgery = math.inf
    if sc.surgery is not None:
        if sc.surgery.day is not None:
            surgery = sc.surgery.day
        else:
            cells = getattr(sc.surgery, "primary_cells", None)
            if cells is not None:
                target = cells
                what = (f"surgery.primary_cells = {cells:.6g} cells: the primary ({law.name}) never reaches it",
                        "surgery.primary_cells", cells)
            else:
                target = sphere_cells(sc.surgery.primary_diameter, p["cells.density"])
                what = (f"surgery.primary_diameter = {sc.surgery.primary_diameter:g} mm: the primary "
                        f"({law.name}, {target:.3g} cells at {p['cells.density']:.3g} cells/mm^3) never reaches it",
                        "surgery.primary_diameter", sc.surgery.primary_diameter)
            diagnosis = law.time_to(n0, target)
            if not math.isfinite(diagnosis):
                raise ScenarioError(f"{what[0]}; lower it or raise the carrying capacity", field=what[1],
                                    value=what[2])
            surgery = diagnosis + sc.surgery.delay
    start = surgery if math.isfinite(surgery) else 0.0
    end = min(start + sim.follow_up, sim.max_time)
    if end <= 0:
        raise ScenarioError(f"simulation.max_time = {sim.max_time:g} day: ends before the run starts",
                            field="simulation.max_time", value=sim.max_time)
    therapies = []
    pulses: list[float] = []
    for th in sc.therapies:
        origin = surgery if th.relative_to == "surgery" else 0.0
        therapies.append((th.kind, origin + th.start, origin + th.start + th.duration))
        if th.kind == "chemotherapy":
            for s in adjuvant.cycle_starts(origin + th.start, th.cycles, th.interval):
                pulses += [float(s), float(s + th.exposure)]
    return Schedule(diagnosis, surgery, end, tuple(therapies), tuple(sorted(set(pulses))))


def endocrine_responsive(sc: Any) -> bool:
    """Whether endocrine therapy acts: not for ER-negative disease (``[patient] er = "negative"``;
    EBCTCG 2011 doi:10.1016/S0140-6736(11)60993-8: no benefit of tamoxifen in ER-poor disease).
    Without a recorded ER status the therapy is taken to act (it is given to ER-positive patients)."""
    patient = getattr(sc, "patient", None)
    return getattr(patient, "er", None) != "negative"


def _window(t_mid: np.ndarray, start: float, stop: float) -> np.ndarray:
    return (t_mid >= start) & (t_mid < stop)


def build_inputs(sc: Any) -> BodyInputs:
    """Compute the deterministic inputs of one patient on the simulation grid.

    ``sc`` is a :class:`seedsoil.scenario.Scenario`; with drug therapies it must
    answer ``sc.drug_factors(step_midpoints, dosings, step=dt)`` (the scenario does,
    through the coupling layer).
    """
    p = sc.parameters
    sim = sc.simulation
    plaw = primary_law(p)
    claw = colony_law(p)
    sched = _schedule(sc, plaw)
    dt = sim.dt
    n_steps = max(int(math.ceil(sched.end_day / dt - 1e-9)), 1)
    t = np.arange(n_steps + 1, dtype=np.float64) * dt
    n0 = p["primary.initial_cells"]
    primary = plaw.solution(n0, t) if n0 > 0 else np.zeros_like(t)
    primary = np.where(t >= sched.surgery_day, 0.0, primary)
    # step containing surgery: the primary is there until the surgery time
    t_mid = 0.5 * (t[:-1] + t[1:])
    # inflammation and therapies
    I = inflammation_series(t, primary, p)
    I_mid = 0.5 * (I[:-1] + I[1:])
    blocked = np.zeros_like(t_mid)
    schedules: list[hooks.Dosing] = []
    for th, (kind, start, stop) in zip(sc.therapies, sched.therapies):
        win = _window(t_mid, start, stop)
        if kind == "il1b_mimetic":
            I_mid = I_mid + np.where(win, th.level, 0.0)
            I = I + np.where((t >= start) & (t < stop), th.level, 0.0)
        elif kind == "il1r_blockade":
            blocked = np.maximum(blocked, np.where(win, th.blocked_fraction, 0.0))
        elif kind == "drug":
            schedules.append(hooks.Dosing(th.drug, th.dose, th.interval, start, stop))
    h = suppression(I_mid, p["dormancy.suppression_half_concentration"], p["dormancy.suppression_hill"])
    if schedules:
        drug_factors = getattr(sc, "drug_factors", None)
        if drug_factors is None:
            raise TypeError("the scenario has drug therapies but no drug_factors(): build it with "
                            "seedsoil.scenario.Scenario (the coupling layer computes drug effects)")
        fac = drug_factors(t_mid, schedules, step=dt)
    else:
        fac = hooks.no_factors(t_mid)
    h = h * (1.0 - blocked) * fac["dormancy_signal_factor"]
    finv = fac["invasion_factor"]
    mod = adjuvant.modulation(t, [(th, start, stop) for th, (_k, start, stop) in zip(sc.therapies, sched.therapies)
                                  if th.kind in adjuvant.KINDS], sched.surgery_day, p,
                                 endocrine_responsive=endocrine_responsive(sc))
    fkill = fac["immune_kill_factor"] * mod.kill_factor
    angio = bool(p["angiogenesis.enabled"])
    switch = np.zeros_like(t_mid)
    if angio:
        switch = p["angiogenesis.switch_rate"] * (1.0 + p["angiogenesis.wound_gain"]
                                                  * 0.5 * (mod.wound[:-1] + mod.wound[1:]))
    # expected cells shed by the primary per step (trapezoid of mu * f * N^gamma)
    mu, gamma = p["shedding.rate"], p["shedding.exponent"]
    pg = np.where(primary > 0, primary ** gamma, 0.0)
    pre_surgery = t[1:] <= sched.surgery_day
    shed = mu * finv * 0.5 * (pg[:-1] + pg[1:]) * np.diff(t)
    # the step containing surgery: only the part before surgery sheds
    cut = ~pre_surgery & (t[:-1] < sched.surgery_day)
    if cut.any():
        frac = (sched.surgery_day - t[:-1][cut]) / np.diff(t)[cut]
        shed[cut] = mu * finv[cut] * pg[:-1][cut] * frac * np.diff(t)[cut]
    injected = np.zeros_like(t_mid)
    if sc.injection is not None:
        k = min(int(sc.injection.day // dt), len(injected) - 1)
        injected[k] = round(sc.injection.cells)
    detect = sphere_cells(p["detection.metastasis_diameter"], p["cells.density"])
    # residual disease at the surgical site and radiotherapy to it (body/local.py)
    residual = 0.0
    if p["local.residual_fraction"] > 0.0 and math.isfinite(sched.surgery_day) and n0 > 0:
        residual = p["local.residual_fraction"] * float(plaw.solution(n0, np.array([sched.surgery_day]))[0])
    rt = local.radiotherapy_log_survival(t, [(th, start) for th, (_k, start, _s) in zip(sc.therapies, sched.therapies)
                                             if th.kind == local.KIND], p)
    par = np.zeros(K.N_PAR)
    par[K.P_MU] = mu
    par[K.P_GAMMA] = gamma
    par[K.P_FROM_METS] = float(p["shedding.from_metastases"])
    par[K.P_CTC_RATE] = math.log(2.0) / p["circulation.ctc_half_life"]
    par[K.P_ARREST_EXTRAV] = p["circulation.arrest_probability"] * p["circulation.extravasation_probability"]
    par[K.P_PROLIF] = p["fate.proliferative_probability"]
    par[K.P_DORMANT] = p["fate.dormant_probability"]
    par[K.P_ACT] = p["dormancy.activation_rate"]
    par[K.P_DORM_DEATH] = p["dormancy.death_rate"]
    par[K.P_REVERT] = p["dormancy.reversion_rate"]
    par[K.P_DIVISION] = p["colony.division_rate"]
    par[K.P_KILL_LAW] = {"none": 0.0, "mass_action": 1.0, "ratio_dependent": 2.0}[p["immune.kill_law"]]
    par[K.P_KILL_N] = p["immune.mass_action.kill_rate"]
    par[K.P_KILL_MAX] = p["immune.ratio_dependent.max_kill_rate"]
    par[K.P_KILL_HALF] = p["immune.ratio_dependent.half_size"]
    par[K.P_KILL_EXP] = p["immune.ratio_dependent.exponent"]
    par[K.P_EREF] = p["immune.ratio_dependent.reference_effectors"]
    par[K.P_E_S] = p["immune.effector_source"]
    par[K.P_E_P] = p["immune.stimulation_rate"]
    par[K.P_E_G] = p["immune.stimulation_half"]
    par[K.P_E_M] = p["immune.inactivation_rate"]
    par[K.P_E_D] = p["immune.effector_death_rate"]
    par[K.P_E0] = p["immune.initial_effectors"]
    par[K.P_BURDEN_TOTAL] = 1.0 if p["immune.burden"] == "total" else 0.0
    par[K.P_DETECT] = detect
    par[K.P_LETHAL] = p["cells.lethal_burden"]
    par[K.P_EXACT] = sim.exact_threshold
    par[K.P_DET] = sim.stochastic_threshold
    par[K.P_SURGERY] = sched.surgery_day
    par[K.P_STOP_RELAPSE] = 1.0 if sim.stop_at == "relapse" else 0.0
    par[K.P_DT] = dt
    if angio:
        vlaw = vascular_colony_law(p)
        par[K.P_ANGIO] = 1.0
        par[K.P_SWITCH_SIZE] = p["angiogenesis.switch_fraction"] * avascular_cells(p)
        par[K.P_V_K0] = avascular_cells(p)
        par[K.P_V_L1], par[K.P_V_B], par[K.P_V_D], par[K.P_V_L2] = vlaw.kernel_params()
    return BodyInputs(scenario=sc, t=t, dt=dt, primary=primary, inflammation=I, suppression=h,
                      invasion_factor=finv, immune_kill_factor=fkill, shed_primary=shed, injected=injected,
                      growth_inhibition=mod.growth_inhibition, activation_factor=mod.activation_factor,
                      switch_rate=switch,
                      wound=mod.wound, par=par, primary_law=plaw, colony_law=claw, schedule=sched, detect_cells=detect,
                      residual_cells=residual, radiotherapy=rt,
                      local_detect_cells=sphere_cells(p["detection.local_diameter"], p["cells.density"]))
