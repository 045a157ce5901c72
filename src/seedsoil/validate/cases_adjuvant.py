"""Validation of the wound response and adjuvant therapy (body/adjuvant.py, docs/model.md §11b).

* ``krall_2018``: the directions of Krall et al. 2018 — a surgical wound raises the outgrowth of
  distant tumours held by T cells; without T-cell control the wound makes no difference; a
  perioperative NSAID (meloxicam) prevents it. Measured exactly (expected values) with the
  relapse-time engine and confirmed on stochastic mice.
* ``naumov_2003``: the direction of Naumov et al. 2003 — a doxorubicin-like schedule shrinks
  growing metastases and leaves solitary dormant cells untouched.
* ``norton_simon``: one chemotherapy cycle's log kill of a growing colony is −κ·g(x), its
  specific growth rate at that size (Norton & Simon 1977), at three sizes where g differs.

The experimental set-ups (mouse-like fast colonies, injected cells) are declared here; their
numbers are assumptions that make each experiment's contrast visible, not fitted values.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..scenario import Scenario
from . import Check, case

KRALL_SOURCE = ("Krall JA, Reinhardt F, Mercury OA, et al. The systemic response to surgery triggers the outgrowth "
                "of distant immune-controlled tumors in mouse models of dormancy. Sci Transl Med "
                "2018;10(436):eaan3464. doi:10.1126/scitranslmed.aan3464")
NAUMOV_SOURCE = ("Naumov GN, Townson JL, MacDonald IC, et al. Ineffectiveness of doxorubicin treatment on solitary "
                 "dormant mammary carcinoma cells or late-developing metastases. Breast Cancer Res Treat "
                 "2003;82(3):199-206. doi:10.1023/B:BREA.0000004377.12288.3c")
NORTON_SOURCE = ("Norton L, Simon R. Tumor size, sensitivity to therapy, and design of treatment schedules. "
                 "Cancer Treat Rep 1977;61(7):1307-1317 (the Norton-Simon hypothesis: regression under therapy "
                 "proportional to the unperturbed Gompertzian growth rate; as applied in Traina et al. 2010, "
                 "Breast Dis 31(1):7-18, doi:10.3233/BD-2009-0290)")

#: Krall set-up: days after injection of the wound; outgrowth read at this day after the wound
KRALL = {"cells": 200, "wound_day": 7.0, "read_day": 60.0, "mice": 300}


def krall_scenario(*, wound: float = 1.0, t_cells: bool = True, nsaid: bool = False) -> Scenario:
    """Mice injected with cells whose colonies T cells hold (kill above growth below ~50 cells:
    the ratio-dependent kill's unstable equilibrium), wounded at day 7; outgrowth = a colony
    reaching 1 mm. Fast colonies (doubling ~3.5 days) as for a mouse line (assumption)."""
    data: dict[str, Any] = {
        "scenario": {"name": "krall_2018"},
        "simulation": {"follow_up": f"{KRALL['read_day'] + 30} day", "dt": 0.25, "analytic_step": 1.0},
        "primary": {"initial_cells": 0},
        "surgery": {"day": KRALL["wound_day"]},
        "injection": {"day": 0.0, "cells": KRALL["cells"]},
        "inflammation": {"strength": 0.0},
        "circulation": {"arrest_probability": 1.0, "extravasation_probability": 1.0},
        "fate": {"proliferative_probability": 1.0, "dormant_probability": 0.0},
        "wound": {"strength": wound},
        "immune": {"kill_law": "ratio_dependent" if t_cells else "none", "burden": "metastatic",
                   "ratio_dependent": {"max_kill_rate": 0.4, "half_size": 50.0}},
        "colony": {"law": "exponential", "division_rate": 1.0, "exponential": {"rate_constant": 0.2}},
        "detection": {"metastasis_diameter": "1 mm"},
    }
    if nsaid:
        data["therapy"] = [{"kind": "nsaid", "agent": "meloxicam", "start": "0 day", "duration": "7 day"}]
    return Scenario.from_dict(data)


def krall_outgrowth(sc: Scenario) -> float:
    """P(outgrowth by the read day) of one mouse, from the relapse-time engine (exact expectation)."""
    from ..body.simulate import simulate

    res = simulate(sc, engine="analytic")
    return float(1.0 - res.survival(np.array([KRALL["read_day"]]))[0])


def krall_mice(sc: Scenario, mice: int, seed: int = 2018) -> np.ndarray:
    """Outgrowth (True/False) of stochastic mice, mouse i the stream (seed, i)."""
    from ..body.model import build_inputs
    from ..body.stochastic import summarize_stochastic

    inputs = build_inputs(sc)
    out = np.zeros(mice, dtype=bool)
    for i in range(mice):
        s = summarize_stochastic(inputs, seed, i)
        out[i] = bool(s["relapse"]) and s["relapse_day"] - s["surgery_day"] <= KRALL["read_day"]
    return out


@case("krall_2018", source=KRALL_SOURCE,
      description="wound response: raises outgrowth of T-cell-controlled distant tumours; no effect without T "
                  "cells; perioperative meloxicam prevents it (exact expectations, and stochastic mice)")
def krall_case() -> list[Check]:
    p = {name: krall_outgrowth(krall_scenario(**kw)) for name, kw in {
        "no wound": {"wound": 0.0}, "wound": {}, "wound + meloxicam": {"nsaid": True},
        "no T cells": {"wound": 0.0, "t_cells": False}, "no T cells + wound": {"t_cells": False}}.items()}
    checks = [
        Check("outgrowth: wound > 2 x no wound (expected, relapse-time engine)", True,
              p["wound"] > 2.0 * p["no wound"] and p["wound"] - p["no wound"] > 0.1, kind="true"),
        Check("outgrowth without T cells: wound - no wound", 0.0, p["no T cells + wound"] - p["no T cells"], 1e-12,
              "abs"),
        Check("outgrowth: wound + meloxicam - no wound", 0.0, p["wound + meloxicam"] - p["no wound"], 1e-9, "abs"),
    ]
    n = KRALL["mice"]
    mc = {name: krall_mice(krall_scenario(**kw), n).mean() for name, kw in {
        "no wound": {"wound": 0.0}, "wound": {}, "wound + meloxicam": {"nsaid": True}}.items()}
    for name in mc:
        se = math.sqrt(max(p[name] * (1.0 - p[name]), 1.0 / n) / n)
        checks.append(Check(f"stochastic mice ({n}): outgrowth, {name}, vs the engine, in SE", 0.0,
                            (mc[name] - p[name]) / se, 3.0, "abs"))
    return checks


# ----------------------------------------------------------------------------- Naumov 2003
NAUMOV = {"cells": 20000, "read_day": 21.0}


def naumov_scenario(treated: bool) -> Scenario:
    """Mammary carcinoma cells injected to the liver (arrest and extravasation as in Luzzi 1998,
    the library's fate probabilities), growing colonies doubling in ~1 week (assumption), no
    immune kill; treated: weekly doxorubicin-like cycles from day 1 (Naumov 2003's 3-week course)."""
    data: dict[str, Any] = {
        "scenario": {"name": "naumov_2003"},
        "simulation": {"follow_up": f"{NAUMOV['read_day'] + 10} day", "dt": 0.25, "analytic_step": 1.0},
        "primary": {"initial_cells": 0},
        "injection": {"day": 0.0, "cells": NAUMOV["cells"]},
        "inflammation": {"strength": 0.0},
        "circulation": {"arrest_probability": 1.0},
        "immune": {"kill_law": "none"},
        "colony": {"law": "exponential", "exponential": {"rate_constant": 0.1}},
    }
    if treated:
        data["therapy"] = [{"kind": "chemotherapy", "regimen": "doxorubicin", "relative_to": "start", "start": "1 day"}]
    return Scenario.from_dict(data)


@case("naumov_2003", source=NAUMOV_SOURCE,
      description="doxorubicin-like cycles shrink growing metastases and spare solitary dormant cells (at 3 weeks)")
def naumov_case() -> list[Check]:
    from ..body.simulate import simulate

    day = NAUMOV["read_day"]
    at = {}
    for treated in (False, True):
        ts = simulate(naumov_scenario(treated), engine="analytic").timeseries
        at[treated] = {c: float(np.interp(day, ts["day"], ts[c])) for c in ("metastatic_cells", "dormant_cells")}
    burden = at[True]["metastatic_cells"] / at[False]["metastatic_cells"]
    dormant = at[True]["dormant_cells"] / at[False]["dormant_cells"]
    return [Check("metastatic burden at 3 weeks, treated / untreated (< 0.5: shrinks)", (0.0, 0.5), burden,
                  kind="range"),
            Check("solitary dormant cells at 3 weeks, treated / untreated", 1.0, dormant, 0.05, "rel")]


# ----------------------------------------------------------------------------- Norton–Simon
def norton_scenario(pulse_day: float | None) -> Scenario:
    """One injected cell, a deterministic Gompertz colony (stochastic threshold 1 cell), no immune
    kill; one chemotherapy cycle (1-day exposure, a tenth of a CMF cycle's potency so that the
    colony survives it) on ``pulse_day``."""
    data: dict[str, Any] = {
        "scenario": {"name": "norton_simon"},
        "simulation": {"follow_up": "700 day", "dt": 1.0, "exact_threshold": 1.0, "stochastic_threshold": 1.0},
        "primary": {"initial_cells": 0},
        "injection": {"day": 0.0, "cells": 1},
        "inflammation": {"strength": 0.0},
        "circulation": {"arrest_probability": 1.0, "extravasation_probability": 1.0},
        "fate": {"proliferative_probability": 1.0, "dormant_probability": 0.0},
        "immune": {"kill_law": "none"},
        "colony": {"law": "gompertz", "gompertz": {"rate_constant": 0.01, "carrying_capacity": 1e9}},
        "output": {"record_every": "1 day"},
    }
    if pulse_day is not None:
        data["therapy"] = [{"kind": "chemotherapy", "cycles": 1, "interval": "1 day", "relative_to": "start",
                            "start": f"{pulse_day} day", "potency": 0.1}]
    return Scenario.from_dict(data)


@case("norton_simon", source=NORTON_SOURCE,
      description="one cycle's log kill of a growing colony equals -kappa g(x) at three sizes (stochastic engine)")
def norton_case() -> list[Check]:
    from ..body.simulate import simulate

    base = simulate(norton_scenario(None), seed=1).timeseries
    checks = []
    for day in (40.0, 150.0, 400.0):
        sc = norton_scenario(day)
        kappa = sc.parameters["chemotherapy.kill_per_growth"] * sc.therapies[0].potency
        a, K = 0.01, 1e9
        treated = simulate(sc, seed=1).timeseries
        i = int(np.searchsorted(base["day"].to_numpy(), day))  # size at the start of the pulse's step
        x0 = float(base["metastatic_cells"].iloc[i])
        ratio = float(treated["metastatic_cells"].iloc[i + 1]) / float(base["metastatic_cells"].iloc[i + 1])
        g = a * math.log(K / x0)
        checks.append(Check(f"day {day:g}: ln(surviving fraction) / (-kappa) = g(x) at x = {x0:.3g} cells (1/day)",
                            g, -math.log(ratio) / kappa, 1e-9, "rel"))
    return checks
