"""Validation of the relapse-time engine (``engine="analytic"``).

* ``relapse_closed_form``: linear birth–death colonies seeded at a constant Poisson rate
  (no dormancy, no immune kill, no inflammation). The relapse-free curve is exact: it
  follows from the first-passage law of a linear birth–death chain absorbed at 0 and at the
  detection size N, computed here by the spectral decomposition of its (symmetrisable)
  generator, independently of the engine's solver. Also Kendall's (1948) extinction
  probability (expected extinct colonies) and the gambler's-ruin probability of reaching N.
* ``relapse_vs_stochastic``: the engine against the stochastic engine's patients in
  scenarios that differ in what matters (inflammation, IL-1 therapies, a JAK inhibitor
  through the coupling layer, immune killing, primary size): relapse-free probability at
  yearly times and the yearly hazard, every deviation within 3 standard errors.

The scenario set and the Monte Carlo comparison are shared with
``benchmarks/bench_relapse.py`` (which runs 20,000 patients per scenario).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ..scenario import Scenario
from . import Check, case

KENDALL_SOURCE = ("Kendall DG. On the generalized 'birth-and-death' process. Ann Math Stat 1948;19(1):1-15. "
                  "doi:10.1214/aoms/1177730285")
ENGINE_SOURCE = ("seedsoil's stochastic engine (docs/model.md §12): the same model, sampled; each colony a "
                 "birth-death branching process as in Kendall DG, Ann Math Stat 1948;19(1):1-15, "
                 "doi:10.1214/aoms/1177730285")

YEAR = 365.25


# ----------------------------------------------------------------------------- closed form
#: the linear birth–death case: per-cell birth b, death d (1/day), seeding a0 colonies/day, detection N cells
CLOSED = {"b": 0.5, "d": 0.4, "seeding": 0.2, "N": 30, "horizon": 120.0}


def closed_form_scenario(*, step: float = 0.02, detect_cells: int = CLOSED["N"], horizon: float = CLOSED["horizon"],
                         integers: int = 64) -> Scenario:
    """Constant seeding (a primary at its Gompertz plateau shedding at exponent 0), every arrival a
    colony (no dormancy), exponential colony growth r = b − d with division rate b, no immune kill,
    no inflammation, detection at ``detect_cells`` cells (inside the exact stochastic regime)."""
    b, d = CLOSED["b"], CLOSED["d"]
    density = 1e5
    # diameter of a sphere of detect_cells - 1/2 cells at this density: detection at x >= detect_cells
    vol = (detect_cells - 0.5) / density
    diameter = 2.0 * (3.0 * vol / (4.0 * math.pi)) ** (1.0 / 3.0)
    return Scenario.from_dict({
        "scenario": {"name": "relapse_closed_form"},
        "simulation": {"engine": "analytic", "dt": step, "analytic_step": step, "follow_up": horizon,
                       "analytic_integer_sizes": integers, "stochastic_threshold": 1e4, "exact_threshold": 64},
        "primary": {"initial_cells": 1e9, "law": "gompertz", "gompertz": {"rate_constant": 0.01,
                                                                         "carrying_capacity": 1e9}},
        "shedding": {"rate": CLOSED["seeding"], "exponent": 0.0, "from_metastases": False},
        "circulation": {"ctc_half_life": 1e-7, "arrest_probability": 1.0, "extravasation_probability": 1.0},
        "fate": {"proliferative_probability": 1.0, "dormant_probability": 0.0},
        "inflammation": {"strength": 0.0},
        "immune": {"kill_law": "none"},
        "colony": {"law": "exponential", "division_rate": b, "exponential": {"rate_constant": b - d}},
        "cells": {"density": density, "lethal_burden": 1e15},
        "detection": {"metastasis_diameter": diameter},
        "output": {"record_every": 1.0},
    })


def first_passage(b: float, d: float, n: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a linear birth–death chain from 1 cell absorbed at 0 and at ``n``: (∫0^t P(absorbed at n
    by u) du, P(absorbed at n by t)), exactly, by the spectral decomposition of the generator on
    the transient states 1 … n−1 (symmetrised with its detailed-balance weights)."""
    k = np.arange(1, n)
    diag = -(b + d) * k
    # generator Q[i, j] rate i -> j; birth i -> i+1 at b i, death i -> i-1 at d i
    up = b * k[:-1]  # Q[i, i+1]
    down = d * k[1:]  # Q[i+1, i]
    s = np.sqrt(up * down)
    # similar symmetric matrix: D Q D^-1 with D chosen so off-diagonals are sqrt(up*down)
    w = np.concatenate([[1.0], np.cumprod(np.sqrt(up / down))])
    evals, vecs = np.linalg.eigh(np.diag(diag) + np.diag(s, 1) + np.diag(s, -1))
    # row 0 of e^{Qt} times the exit rate from n-1 to n: Q = D^-1 S D
    left = vecs[0, :] / w[0]
    right = vecs[-1, :] * w[-1]
    exit_rate = b * (n - 1)
    t = np.asarray(t, dtype=float)[:, None]
    lam = evals[None, :]
    prob = exit_rate * ((np.expm1(lam * t) / lam) @ (left * right))
    integ = exit_rate * (((np.expm1(lam * t) - lam * t) / lam ** 2) @ (left * right))
    return integ, prob


def kendall_extinction(b: float, d: float, u: np.ndarray) -> np.ndarray:
    """Kendall (1948): P(a linear birth–death lineage from one cell is extinct by u)."""
    r = b - d
    e = np.exp(r * np.asarray(u, dtype=float))
    return d * (e - 1.0) / (b * e - d)


@case("relapse_closed_form", source=KENDALL_SOURCE,
      description="relapse-time engine: linear birth–death colonies with constant Poisson seeding; relapse-free "
                  "curve, Kendall extinction, gambler's-ruin detection probability (to 1e-6)")
def closed_form_case() -> list[Check]:
    from ..body.simulate import simulate

    b, d, a0, n = CLOSED["b"], CLOSED["d"], CLOSED["seeding"], CLOSED["N"]
    res = simulate(closed_form_scenario(), engine="analytic")
    times = np.array([10.0, 30.0, 60.0, 90.0, 120.0])
    integ, _prob = first_passage(b, d, n, times)
    exact = np.exp(-a0 * integ)
    checks = [Check(f"P(no detection by day {t:g})", float(e), float(g), 1e-6, "abs")
              for t, e, g in zip(times, exact, res.survival(times))]
    # Kendall: expected extinct colonies by t (no lineage that reached N cells can die: N is absorbing;
    # the difference from Kendall's unbounded chain is P(reach N, then die) <= (d/b)^N, ~1e-3 here), so
    # compare with a second run whose detection is out of reach
    far = simulate(closed_form_scenario(detect_cells=10**6, horizon=40.0, integers=400), engine="analytic")
    ts = far.timeseries
    for t in (10.0, 20.0, 40.0):
        from scipy.integrate import quad

        want = a0 * quad(lambda u: float(kendall_extinction(b, d, u)), 0.0, t, epsabs=1e-13, epsrel=1e-12)[0]
        got = float(np.interp(t, ts["day"], ts["colonies_extinct"]))
        checks.append(Check(f"expected extinct colonies by day {t:g} (Kendall)", want, got, 1e-6, "abs"))
    ruin = (1.0 - d / b) / (1.0 - (d / b) ** n)
    late = res.hazard(np.array([CLOSED["horizon"]]))[0] / a0
    checks.append(Check("P(a colony reaches N) from the late hazard (gambler's ruin)", ruin, float(late), 2e-3, "rel"))
    return checks


# ----------------------------------------------------------------------------- against the stochastic engine
def _base(name: str, **extra: Any) -> dict[str, Any]:
    data = {"scenario": {"name": name}, "simulation": {"follow_up": "10 year", "dt": 1.0},
            "surgery": {"primary_diameter": "2 cm"}, "inflammation": {"strength": 1.0}}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


#: scenarios that differ in what matters for relapse (name -> scenario dict)
SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "default_breast": lambda: _base("default_breast"),
    "non_inflammatory": lambda: _base("non_inflammatory", inflammation={"strength": 0.0}),
    "il1b_mimetic": lambda: _base("il1b_mimetic", therapy=[{"kind": "il1b_mimetic", "start": "0 day",
                                                             "duration": "12 month", "level": "5.7e-3 nM"}]),
    "il1r_blockade": lambda: _base("il1r_blockade", therapy=[{"kind": "il1r_blockade", "start": "0 day",
                                                               "duration": "12 month"}]),
    "jak_inhibitor": lambda: _base("jak_inhibitor", therapy=[{"kind": "drug", "drug": "ruxolitinib", "dose": "20 mg",
                                                               "interval": "12 h", "relative_to": "start",
                                                               "start": "557 day", "duration": "12 month"}]),
    "strong_immune": lambda: _base("strong_immune", immune={"ratio_dependent": {"max_kill_rate": 0.036}}),
    "large_primary": lambda: _base("large_primary", surgery={"primary_diameter": "4 cm"}),
    "small_primary": lambda: _base("small_primary", surgery={"primary_diameter": "1 cm"}),
    "cmf": lambda: _base("cmf", therapy=[{"kind": "chemotherapy", "regimen": "CMF", "start": "4 week"}]),
    "tamoxifen": lambda: _base("tamoxifen", therapy=[{"kind": "endocrine", "agent": "tamoxifen", "start": "6 week"}]),
    "wound_response": lambda: _base("wound_response", wound={"strength": 1.0},
                                    immune={"ratio_dependent": {"max_kill_rate": 0.036}}),
    "angiogenic": lambda: _base("angiogenic", angiogenesis={"enabled": True}),
    "angiogenic_cmf": lambda: _base("angiogenic_cmf", angiogenesis={"enabled": True, "switch_rate": 1e-3},
                                    therapy=[{"kind": "chemotherapy", "regimen": "CMF", "start": "4 week"}]),
    "wound_meloxicam": lambda: _base("wound_meloxicam", wound={"strength": 1.0},
                                     immune={"ratio_dependent": {"max_kill_rate": 0.036}},
                                     therapy=[{"kind": "nsaid", "agent": "meloxicam"}]),
    # residual disease at the surgical site (body/local.py): ~290 residual cells at a 2-cm primary (the
    # breast-conserving value of local.residual_fraction gives 0.56, and local recurrence in 0.2 % of
    # patients: too few to compare), without and with hypofractionated radiotherapy (START-B, 15 x 2.67 Gy).
    # Without radiotherapy most patients get a local recurrence that grows on (nothing removes it), and its
    # burden drives the effectors of the stochastic patient, which the relapse-time engine's distant run
    # does not follow (docs/model.md §11d): 6.9 SE on distant relapse at 2,000 patients with immune
    # killing. Without immune killing (and without death, which would censor) the two processes are
    # independent in both engines.
    "residual_disease": lambda: _base("residual_disease", local={"residual_fraction": 7e-7},
                                      immune={"kill_law": "none"}, cells={"lethal_burden": 1e15}),
    "residual_radiotherapy": lambda: _base("residual_radiotherapy", local={"residual_fraction": 7e-7},
                                           therapy=[{"kind": "radiotherapy", "dose_per_fraction": "2.67 Gy",
                                                     "fractions": 15, "start": "4 week"}]),
}
def death_scenario() -> Scenario:
    """The breast patient without immune killing and with less shedding: lesions that do not interact
    (no effectors), so that death (the total burden reaching the lethal burden) in the relapse-time
    engine is exact up to its grid; deaths within 10 years in about a fifth of patients."""
    return Scenario.from_dict(_base("relapse_death", immune={"kill_law": "none"}, shedding={"rate": 0.003}))


#: the scenarios with residual disease: compared on local and any recurrence too
LOCAL_SCENARIOS = ("residual_disease", "residual_radiotherapy")
#: summary field of each endpoint's day in a stochastic patient
ENDPOINT_DAY = {"distant": "relapse_day", "local": "local_recurrence_day", "any": "any_recurrence_day"}


@lru_cache(maxsize=32)
def scenario(name: str) -> Scenario:
    """A scenario of :data:`SCENARIOS` (cached per process)."""
    return Scenario.from_dict(SCENARIOS[name]())


def _relapse_times(name: str, seed: int, lo: int, hi: int, endpoint: str = "distant") -> np.ndarray:
    """Days from surgery to relapse (``endpoint`` "distant"), local recurrence ("local") or either
    ("any") (inf: none) of stochastic patients lo … hi−1 (one scenario: its deterministic inputs
    are built once)."""
    from ..body.model import build_inputs
    from ..body.stochastic import summarize_stochastic

    # a distant relapse (and the first recurrence) does not depend on what follows it (same stream):
    # stop there; a local recurrence may come after it
    sc = scenario(name)
    inputs = build_inputs(sc if endpoint == "local" else sc.with_settings(simulation={"stop_at": "relapse"}))
    out = np.full(hi - lo, np.inf)
    for j, i in enumerate(range(lo, hi)):
        s = summarize_stochastic(inputs, seed, i)
        day = s[ENDPOINT_DAY[endpoint]]
        if math.isfinite(day):
            out[j] = day - s["surgery_day"]
    return out


def stochastic_relapse_times(name: str, patients: int, *, seed: int = 11, executor: str = "local",
                             workers: int | None = None, chunk: int = 500, endpoint: str = "distant") -> np.ndarray:
    """Relapse times (days after surgery; inf: none within follow-up) of ``patients`` stochastic
    patients of scenario ``name`` (patient i is the stream (seed, i)), on an executor. ``endpoint``:
    "distant" relapse, "local" recurrence or "any" recurrence."""
    from ..execute import make_executor

    tasks = [(name, seed, lo, min(lo + chunk, patients), endpoint) for lo in range(0, patients, chunk)]
    ex = make_executor(executor, workers=workers)
    out = np.empty(patients)
    try:
        for (_, _, lo, hi, _), times in ex.run(_relapse_times, tasks):
            out[lo:hi] = times
    finally:
        ex.close()
    return out


def compare(name: str, times: np.ndarray, years: np.ndarray | None = None,
            endpoint: str = "distant") -> dict[str, np.ndarray]:
    """The relapse-time engine against stochastic relapse ``times`` of scenario ``name``: at each
    year, the relapse-free probability (engine, Monte Carlo, standard error under the engine's
    value, deviation in SE) and the hazard on each year (same columns). ``endpoint``: what the
    times are of ("distant", "local", "any"; :func:`stochastic_relapse_times`)."""
    from ..body.simulate import simulate

    years = np.arange(1, 11) if years is None else np.asarray(years)
    t = years * YEAR
    res = simulate(scenario(name), engine="analytic")
    n = len(times)
    s_eng = res.survival(t, endpoint)
    s_mc = np.array([(times > x).mean() for x in t])
    se = np.sqrt(np.maximum(s_eng * (1.0 - s_eng), 1.0 / n) / n)
    # yearly hazard -ln(1 - q_i)/year, q_i = P(relapse in year i | relapse-free at its start): binomial
    # in the Monte Carlo (events among those at risk), with its SE under the engine's q_i
    edges = np.concatenate([[0.0], t])
    s_prev = np.concatenate([[1.0], s_eng[:-1]])
    q_eng = 1.0 - s_eng / np.maximum(s_prev, 1e-300)
    at_risk = np.array([(times > a).sum() for a in edges[:-1]])
    events = np.array([((times > a) & (times <= b)).sum() for a, b in zip(edges[:-1], edges[1:])])
    with np.errstate(divide="ignore", invalid="ignore"):
        q_mc = np.where(at_risk > 0, events / np.maximum(at_risk, 1), np.nan)
        q_se = np.sqrt(np.maximum(q_eng * (1.0 - q_eng), 1.0 / np.maximum(at_risk, 1)) / np.maximum(at_risk, 1))
        h_eng = -np.log1p(-q_eng) / YEAR
        h_mc = -np.log1p(-np.minimum(q_mc, 1.0 - 1e-12)) / YEAR
        # the SE of the hazard by the delta method, d(-ln(1-q))/dq = 1/(1-q)
        h_se = q_se / np.maximum(1.0 - q_eng, 1e-12) / YEAR
        h_dev = np.where(at_risk >= 20, (q_eng - q_mc) / q_se, np.nan)
    return {"years": years, "s_engine": s_eng, "s_mc": s_mc, "s_se": se, "s_dev": (s_eng - s_mc) / se,
            "h_engine": h_eng, "h_mc": h_mc, "h_se": h_se, "h_dev": h_dev, "at_risk": at_risk, "result": res}


#: patients per scenario in ``seedsoil validate`` (the benchmark runs 20,000)
VALIDATE_PATIENTS = 4000


@case("relapse_death_vs_stochastic", source=ENGINE_SOURCE,
      description=f"death in the relapse-time engine (compound Poisson burden, Panjer) vs {VALIDATE_PATIENTS:,} "
                  "stochastic patients without immune killing: P(alive) by year within 3 SE")
def death_case() -> list[Check]:
    from ..body.model import build_inputs
    from ..body.simulate import simulate
    from ..body.stochastic import summarize_stochastic

    sc = death_scenario()
    t = np.arange(1, 11) * YEAR
    s_eng = simulate(sc, engine="analytic").survival(t, endpoint="death")
    inp = build_inputs(sc)
    n = VALIDATE_PATIENTS
    dd = np.array([summarize_stochastic(inp, 11, i)["death_day"] for i in range(n)]) - inp.schedule.surgery_day
    s_mc = np.array([np.mean(~(dd <= x)) for x in t])
    dev = (s_eng - s_mc) / np.sqrt(np.maximum(s_eng * (1 - s_eng), 1 / n) / n)
    worst = int(np.argmax(np.abs(dev)))
    return [Check("P(alive) at 10 years, engine vs stochastic", float(s_mc[-1]), float(s_eng[-1]), 0.05, "abs"),
            Check(f"largest |dev| of P(alive) by year, in SE (year {worst + 1})", 0.0, float(dev[worst]), 3.0, "abs")]


@case("relapse_vs_stochastic", source=ENGINE_SOURCE,
      description=f"relapse-time engine vs {VALIDATE_PATIENTS:,} stochastic patients in each of "
                  f"{len(SCENARIOS)} scenarios: relapse-free probability and hazard by year within 3 SE")
def versus_stochastic_case() -> list[Check]:
    checks = []
    for name in SCENARIOS:
        times = stochastic_relapse_times(name, VALIDATE_PATIENTS)
        c = compare(name, times)
        worst_s = int(np.nanargmax(np.abs(c["s_dev"])))
        checks.append(Check(f"{name}: largest |dev| of P(relapse-free) by year, in SE (year {c['years'][worst_s]})",
                            0.0, float(c["s_dev"][worst_s]), 3.0, "abs"))
        hdev = np.where(np.isfinite(c["h_dev"]), c["h_dev"], 0.0)
        worst_h = int(np.argmax(np.abs(hdev)))
        checks.append(Check(f"{name}: largest |dev| of the yearly hazard, in SE (year {c['years'][worst_h]}; "
                            "years with >= 20 at risk)",
                            0.0, float(hdev[worst_h]), 3.0, "abs"))
    for name in LOCAL_SCENARIOS:
        for endpoint in ("local", "any"):
            c = compare(name, stochastic_relapse_times(name, VALIDATE_PATIENTS, endpoint=endpoint), endpoint=endpoint)
            worst_s = int(np.nanargmax(np.abs(c["s_dev"])))
            checks.append(Check(f"{name}: largest |dev| of P(no {endpoint} recurrence) by year, in SE "
                                f"(year {c['years'][worst_s]})", 0.0, float(c["s_dev"][worst_s]), 3.0, "abs"))
    return checks
