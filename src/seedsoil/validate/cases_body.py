"""Validation cases of the body scale: Iwata 2000 closed forms, Castaño 2018 direction.

Each case builds its scenario here, runs the engine and compares with an
independent computation (closed form or quadrature) or a published direction.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad, solve_ivp

from ..scenario import Scenario
from . import Check, case

IWATA_SOURCE = ("Iwata K, Kawasaki K, Shigesada N. A dynamical model for the growth and size distribution of "
                "multiple metastatic tumors. J Theor Biol 2000;203(2):177-186. doi:10.1006/jtbi.2000.1075")
CASTANO_SOURCE = ("Castaño Z et al. IL-1β inflammatory response driven by primary breast cancer prevents "
                  "metastasis-initiating cell colonization. Nat Cell Biol 2018;20(9):1084-1097. "
                  "doi:10.1038/s41556-018-0173-5")
KUZNETSOV_SOURCE = ("Kuznetsov VA, Makalkin IA, Taylor MA, Perelson AS. Nonlinear dynamics of immunogenic tumors: "
                    "parameter estimation and global bifurcation analysis. Bull Math Biol 1994;56(2):295-321. "
                    "doi:10.1007/BF02460644")
#: Iwata's fit for one hepatocellular carcinoma patient (a, b, m as published; alpha as widely quoted,
#: 2/3 also used)
IWATA = {"a": 0.00286, "b": 7.3e10, "m": 5.3e-8, "alpha": 0.663}


def iwata_scenario(*, horizon: float = 1500.0, grid_cells: int = 800, dt: float = 0.5) -> Scenario:
    """Iwata's model in seedsoil terms: every shed cell founds a colony at once, no dormancy,
    no immune kill, colonies grow with the primary's Gompertz law, no secondary seeding."""
    return Scenario.from_dict({
        "scenario": {"name": "iwata_2000"},
        "simulation": {"engine": "meanfield", "dt": dt, "follow_up": horizon, "grid_cells": grid_cells},
        "primary": {"initial_cells": 1.0, "law": "gompertz",
                    "gompertz": {"rate_constant": IWATA["a"], "carrying_capacity": IWATA["b"]}},
        "colony": {"law": "same_as_primary"},
        "shedding": {"rate": IWATA["m"], "exponent": IWATA["alpha"], "from_metastases": False},
        "circulation": {"ctc_half_life": 1e-5, "arrest_probability": 1.0, "extravasation_probability": 1.0},
        "fate": {"proliferative_probability": 1.0, "dormant_probability": 0.0},
        "inflammation": {"strength": 0.0},
        "immune": {"kill_law": "none"},
        "cells": {"lethal_burden": 1e15},
        "output": {"record_every": dt},
    })


def iwata_primary(t):
    """x_p(t) = b^(1 − e^(−a t))."""
    return IWATA["b"] ** (1.0 - np.exp(-IWATA["a"] * np.asarray(t, dtype=float)))


def iwata_seeding_rate(s: float) -> float:
    return IWATA["m"] * float(iwata_primary(s)) ** IWATA["alpha"]


def iwata_count(t: float) -> float:
    """Colonies founded by time t: ∫0^t m x_p(s)^α ds."""
    return quad(iwata_seeding_rate, 0.0, t, limit=200)[0]


def iwata_count_above(x: float, t: float) -> float:
    """Colonies of size ≥ x at time t: those founded before t − τ(x), τ the Gompertz time 1 → x."""
    tau = -math.log(1.0 - math.log(x) / math.log(IWATA["b"])) / IWATA["a"]
    return iwata_count(t - tau) if t > tau else 0.0


def count_above(result, x: float, when: str = "end") -> float:
    """Expected colonies of size ≥ x in a mean-field result's size distribution (bin-interpolated)."""
    d = result.colonies[result.colonies["when"] == when]
    n = (d["proliferating"] + d["dormant"]).to_numpy()
    lo = d["size_low"].to_numpy()
    hi = d["size_high"].to_numpy()
    frac = np.clip((np.log(hi) - np.log(np.maximum(x, lo))) / (np.log(hi) - np.log(lo)), 0.0, 1.0)
    return float((n * frac).sum())


@case("iwata_2000_primary", source=IWATA_SOURCE,
      description="Gompertz primary: closed form x_p = b^(1-e^(-at)) vs an ODE solve and the engine's primary")
def iwata_primary_case() -> list[Check]:
    from ..body.model import build_inputs

    times = np.array([100.0, 500.0, 1000.0, 1500.0])
    sol = solve_ivp(lambda t, y: [IWATA["a"] * y[0] * math.log(IWATA["b"] / y[0])], (0, 1500), [1.0],
                    t_eval=times, rtol=1e-11, atol=1e-12, method="DOP853")
    inputs = build_inputs(iwata_scenario())
    engine = np.interp(times, inputs.t, inputs.primary)
    checks = []
    for t, ode, eng in zip(times, sol.y[0], engine):
        checks.append(Check(f"x_p({t:g} d): closed form vs ODE", float(ode), float(iwata_primary(t)), 1e-7))
        checks.append(Check(f"x_p({t:g} d): engine vs closed form", float(iwata_primary(t)), float(eng), 1e-9))
    return checks


@case("iwata_2000_meanfield", source=IWATA_SOURCE,
      description="Mean-field colony counts vs direct quadrature of the seeding rate m x_p^alpha")
def iwata_meanfield_case() -> list[Check]:
    from ..body.simulate import simulate

    horizon = 1500.0
    res = simulate(iwata_scenario(horizon=horizon, grid_cells=1600))
    ts = res.timeseries
    checks = []
    for t in (500.0, 1000.0, 1500.0):
        got = float(np.interp(t, ts["day"], ts["colonies_started"]))
        checks.append(Check(f"colonies founded by day {t:g}", iwata_count(t), got, 1e-3))
    alive = float(ts["colonies_proliferating"].iloc[-1])
    checks.append(Check("colonies alive at day 1500 (none die)", iwata_count(horizon), alive, 1e-3))
    for x in (1e2, 1e4, 1e6):
        checks.append(Check(f"colonies ≥ {x:.0e} cells at day 1500", iwata_count_above(x, horizon),
                            count_above(res, x), 0.01))
    return checks


def castano_scenario(strength: float, *, surgery: bool, blockade: bool) -> Scenario:
    """A breast patient diagnosed at 2 cm (day ~737); outgrowth counted two years later."""
    from ..body.growth import Gompertz
    from ..params import load_library
    from ..units import sphere_cells

    p = load_library().defaults()
    law = Gompertz(p["primary.gompertz.rate_constant"], p["primary.gompertz.carrying_capacity"])
    diagnosis = law.time_to(1.0, sphere_cells(20.0, p["cells.density"]))
    data: dict = {
        "scenario": {"name": "castano_2018"},
        "simulation": {"engine": "meanfield", "follow_up": diagnosis + 730.0},
        "inflammation": {"strength": strength},
    }
    if surgery:
        data["surgery"] = {"day": diagnosis}
        data["simulation"]["follow_up"] = 730.0
    if blockade:
        data["therapy"] = [{"kind": "il1r_blockade", "relative_to": "start", "start": diagnosis,
                            "duration": 730.0}]
    return Scenario.from_dict(data)


OUTGROWTH_CELLS = 1e4  # a colony past 1e4 cells has escaped the small-colony (dormancy / immune) regime


def outgrowing(strength: float, *, surgery: bool, blockade: bool) -> float:
    from ..body.simulate import simulate

    res = simulate(castano_scenario(strength, surgery=surgery, blockade=blockade))
    return count_above(res, OUTGROWTH_CELLS)


@case("castano_2018_direction", source=CASTANO_SOURCE,
      description="Inflammatory primary: resection or IL-1R blockade raises outgrowing metastases; "
                  "non-inflammatory primary: no such brake")
def castano_case() -> list[Check]:
    inf_keep = outgrowing(1.0, surgery=False, blockade=False)
    inf_cut = outgrowing(1.0, surgery=True, blockade=False)
    inf_block = outgrowing(1.0, surgery=False, blockade=True)
    non_keep = outgrowing(0.0, surgery=False, blockade=False)
    non_cut = outgrowing(0.0, surgery=True, blockade=False)
    non_block = outgrowing(0.0, surgery=False, blockade=True)
    return [
        Check("inflammatory: outgrowth ratio, resected / primary kept", (1.0, math.inf), inf_cut / inf_keep,
              kind="range"),
        Check("inflammatory: outgrowth ratio, IL-1R blockade / none", (1.0, math.inf), inf_block / inf_keep,
              kind="range"),
        Check("non-inflammatory: outgrowth ratio, resected / primary kept", (0.0, 1.0), non_cut / non_keep,
              kind="range"),
        Check("non-inflammatory: outgrowth ratio, IL-1R blockade / none", 1.0, non_block / non_keep, 1e-9),
    ]


def kuznetsov_body_scenario(dt: float) -> Scenario:
    """Kuznetsov's tumour-immune system written as a body scenario: one injected cell founds
    one colony growing logistically (a = 0.18 /day, 1/b = 5e8 cells), killed at n·E per cell,
    effectors driven by the metastatic burden; growth deterministic from the first cell."""
    return Scenario.from_dict({
        "scenario": {"name": "kuznetsov_1994_body"},
        "simulation": {"dt": dt, "follow_up": 6000.0, "exact_threshold": 1.0, "stochastic_threshold": 1.0},
        "primary": {"initial_cells": 0.0},
        "injection": {"cells": 1},
        "circulation": {"ctc_half_life": 1e-6, "arrest_probability": 1.0, "extravasation_probability": 1.0},
        "fate": {"proliferative_probability": 1.0, "dormant_probability": 0.0},
        "colony": {"law": "logistic", "logistic": {"rate_constant": 0.18, "carrying_capacity": 5e8}},
        "immune": {"kill_law": "mass_action", "burden": "metastatic"},
        "inflammation": {"strength": 0.0},
        "cells": {"lethal_burden": 1e15},
        "output": {"record_every": 100.0},
    })


@case("kuznetsov_1994_body_engine", source=KUZNETSOV_SOURCE,
      description="The body engine, configured as Kuznetsov's system with the published parameters, "
                  "settles on the immune-held dormant equilibrium; error is first order in dt")
def kuznetsov_body_case() -> list[Check]:
    from ..body.immune import KuznetsovParams, kuznetsov_equilibria
    from ..body.simulate import simulate

    eq = [e for e in kuznetsov_equilibria(KuznetsovParams.published()) if e.stability == "stable focus"][0]
    errs = []
    last = None
    for dt in (0.1, 0.05):
        ts = simulate(kuznetsov_body_scenario(dt), seed=1).timeseries
        last = ts
        errs.append(abs(ts["metastatic_cells"].iloc[-1] / eq.tumour_cells - 1.0))
    return [
        Check("dormant tumour cells T* (dt 0.05 d)", eq.tumour_cells, float(last["metastatic_cells"].iloc[-1]), 1e-3),
        Check("dormant effector cells E* (dt 0.05 d)", eq.effectors, float(last["effector_cells"].iloc[-1]), 1e-3),
        Check("order of convergence in dt (Lie splitting)", (0.8, 1.2), math.log2(errs[0] / errs[1]), kind="range"),
    ]
