"""Adjuvant and perioperative therapies, and the body's response to the surgical wound, as
per-step factors the engines read (docs/model.md §11b).

Everything here is deterministic and computed once per patient on the scenario's grid:

* **growth inhibition** ``c(t)`` (dimensionless): a proliferating colony cell dies at the
  extra rate ``c(t)·g(x)``, where ``g(x)`` is its colony's specific growth rate (the growth
  law's per-cell rate). Cytotoxic chemotherapy follows the Norton–Simon hypothesis (Norton &
  Simon 1977, Cancer Treat Rep 61:1307): the log kill of a cycle is proportional to the growth
  rate of the unperturbed tumour, ``ln S = −κ·g(x)`` per cycle. Dormant single cells and
  dormant colonies do not grow (g = 0 for them in the engines) and are spared, as doxorubicin
  spared solitary dormant cells in Naumov et al. 2003 (Breast Cancer Res Treat 82:199,
  doi:10.1023/B:BREA.0000004377.12288.3c). Endocrine therapy of ER-positive disease adds a
  constant inhibition while it is taken (cytostasis: net growth × (1 − θ_g));
* **activation factor** ``f_a(t)``: multiplies the awakening rate of dormant cells and
  colonies (endocrine therapy holds them: × (1 − θ_a); the wound response may raise it);
* **wound response** ``W(t)``: the systemic inflammation that follows a surgical wound (Krall
  et al. 2018, Sci Transl Med 10:eaan3464, doi:10.1126/scitranslmed.aan3464). It is produced
  for ``D`` days after surgery and decays with half-life ``t½``:
  ``dW/dt = P·(1 − b(t)) − k·W``, ``P = s·k / (1 − e^(−kD))`` on [t_s, t_s + D), so that
  without an NSAID it peaks at the strength ``s`` at t_s + D; ``b(t)`` is the block of a
  perioperative NSAID (meloxicam, ketorolac) while it is taken. It lowers immune (T-cell) kill
  by the factor ``1 − σ·min(W, 1)`` and multiplies awakening by ``1 + γ_a·W``. It acts in the
  opposite direction to the primary's IL-1β brake (Castaño 2018), which surgery removes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
from scipy.signal import lfilter

#: chemotherapy regimens: cycles, cycle length (days) and potency per cycle relative to CMF
#: (κ of a cycle is chemotherapy.kill_per_growth × potency). Sources in :data:`REGIMEN_SOURCES`.
REGIMENS: dict[str, dict[str, float]] = {
    "CMF": {"cycles": 6, "interval": 28.0, "potency": 1.0},
    "AC": {"cycles": 4, "interval": 21.0, "potency": 1.5},
    "doxorubicin": {"cycles": 3, "interval": 7.0, "potency": 1.0},
}
REGIMEN_SOURCES = {
    "CMF": "cyclophosphamide, methotrexate, fluorouracil, 6 cycles every 28 days (Bonadonna 1976, "
           "doi:10.1056/NEJM197602192940801; 6 cycles as good as 12: Tancini 1983, doi:10.1200/JCO.1983.1.1.2); "
           "the reference potency",
    "AC": "doxorubicin + cyclophosphamide, 4 cycles every 21 days (NSABP B-15, Fisher 1990, "
          "doi:10.1200/JCO.1990.8.9.1483); potency 1.5 = assumption: 4 cycles of AC as effective as 6 of CMF "
          "in B-15, i.e. the same total log kill",
    "doxorubicin": "weekly doxorubicin (Naumov 2003 doi:10.1023/B:BREA.0000004377.12288.3c treated mice over 3 "
                   "weeks); potency 1 = assumption",
}

#: therapy kinds this module turns into per-step factors
KINDS = ("chemotherapy", "endocrine", "nsaid")
ENDOCRINE_AGENTS = ("tamoxifen", "aromatase_inhibitor")
NSAID_AGENTS = ("meloxicam", "ketorolac")


@dataclass(frozen=True)
class Modulation:
    """Per-step factors (K entries, step k from t[k] to t[k+1]) and the wound signal at t."""

    growth_inhibition: np.ndarray  # c(t), dimensionless
    activation_factor: np.ndarray  # f_a(t)
    kill_factor: np.ndarray  # multiplies immune kill (wound response)
    wound: np.ndarray  # W at the K + 1 grid points


def overlap(t0: np.ndarray, t1: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Length of [t0, t1) ∩ [start, stop), elementwise."""
    return np.clip(np.minimum(t1, stop) - np.maximum(t0, start), 0.0, None)


def cycle_starts(start: float, cycles: int, interval: float) -> np.ndarray:
    return start + interval * np.arange(int(cycles))


def chemotherapy_inhibition(t: np.ndarray, start: float, cycles: int, interval: float, exposure: float,
                            kappa: float) -> np.ndarray:
    """Per-step growth inhibition of a chemotherapy course: each cycle delivers ``kappa`` days of
    Norton–Simon kill (∫c dt = κ) spread evenly over its first ``exposure`` days, whatever the step."""
    t0, t1 = t[:-1], t[1:]
    c = np.zeros(t0.shape[0])
    for s in cycle_starts(start, cycles, interval):
        c += kappa / exposure * overlap(t0, t1, s, s + exposure)
    return c / np.diff(t)


def window_fraction(t: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Fraction of each step inside [start, stop)."""
    return overlap(t[:-1], t[1:], start, stop) / np.diff(t)


def wound_series(t: np.ndarray, surgery_day: float, p: Mapping[str, Any], block: np.ndarray) -> np.ndarray:
    """W(t) at the grid points: exact for a production constant over each step (module docstring).
    ``block`` is the NSAID block per step."""
    W = np.zeros_like(t)
    s = p["wound.strength"]
    if s <= 0.0 or not math.isfinite(surgery_day):
        return W
    k = math.log(2.0) / p["wound.half_life"]
    D = p["wound.production_days"]
    rate = s * k / -math.expm1(-k * D)
    dt = np.diff(t)
    prod = rate * overlap(t[:-1], t[1:], surgery_day, surgery_day + D) / dt * (1.0 - block)
    decay = math.exp(-k * dt[0])  # uniform grid
    gain = prod / k * (1.0 - decay)
    W[1:] = lfilter([1.0], [1.0, -decay], gain)
    return W


def modulation(t: np.ndarray, therapies: Iterable[tuple[Any, float, float]], surgery_day: float,
               p: Mapping[str, Any], endocrine_responsive: bool = True) -> Modulation:
    """The per-step factors of a patient. ``therapies``: (therapy, start day, stop day) for the
    therapies of the kinds in :data:`KINDS` (others are ignored); ``p`` the parameters.
    ``endocrine_responsive``: False for ER-negative disease (endocrine therapy then does nothing)."""
    n = t.shape[0] - 1
    c = np.zeros(n)
    fa = np.ones(n)
    block = np.zeros(n)
    for th, start, stop in therapies:
        if th.kind == "chemotherapy":
            kappa = p["chemotherapy.kill_per_growth"] * th.potency
            c += chemotherapy_inhibition(t, start, th.cycles, th.interval, th.exposure, kappa)
        elif th.kind == "endocrine" and endocrine_responsive:
            w = window_fraction(t, start, stop)
            c += p[f"endocrine.{th.agent}.growth_inhibition"] * w
            fa *= 1.0 - p[f"endocrine.{th.agent}.activation_inhibition"] * w
        elif th.kind == "nsaid":
            block = np.maximum(block, p[f"nsaid.{th.agent}.block"] * window_fraction(t, start, stop))
    W = wound_series(t, surgery_day, p, block)
    Wm = 0.5 * (W[:-1] + W[1:])
    kill = 1.0 - p["wound.kill_suppression"] * np.minimum(Wm, 1.0)
    fa = fa * (1.0 + p["wound.activation_gain"] * Wm)
    return Modulation(growth_inhibition=c, activation_factor=fa, kill_factor=kill, wound=W)
