"""The two engines, one model: the mean of many stochastic patients agrees with the
mean-field expectation; the mean-field conserves colonies and converges at first order."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seedsoil import Scenario, simulate
from seedsoil.validate.cases_body import IWATA, count_above, iwata_count_above, iwata_scenario

N_PATIENTS = 200
TIMES = (400.0, 800.0, 1200.0)


def constant_seeding(**extra) -> dict:
    """A primary held at its plateau (logistic started at K), shedding at a constant rate."""
    data = {
        "primary": {"initial_cells": 1e8, "law": "logistic",
                    "logistic": {"rate_constant": 0.01, "carrying_capacity": 1e8}},
        "shedding": {"rate": 0.05, "from_metastases": False},
        "circulation": {"arrest_probability": 1e-5},
        "inflammation": {"strength": 0.0},
        "simulation": {"follow_up": 1200.0, "dt": 1.0},
        "output": {"record_every": 400.0},
    }
    for k, v in extra.items():
        data.setdefault(k, {}).update(v)
    return data


def stochastic_mean(sc: Scenario, columns: list[str], n: int = N_PATIENTS):
    rows = []
    for seed in range(n):
        ts = simulate(sc, seed=seed).timeseries.set_index("day")
        rows.append(ts.loc[list(TIMES), columns].to_numpy())
    arr = np.array(rows)  # patient x time x column
    return arr.mean(axis=0), arr.std(axis=0, ddof=1) / math.sqrt(n)


def meanfield_at(sc: Scenario, columns: list[str]) -> np.ndarray:
    ts = simulate(sc, engine="meanfield").timeseries
    return np.array([[np.interp(t, ts["day"], ts[c]) for c in columns] for t in TIMES])


def test_counts_agree_when_colonies_grow_deterministically():
    """Seeding, dormancy, awakening and colony-level switching are random; colony growth is
    deterministic (stochastic_threshold = 1) and no colony dies, so every count is governed by
    linear rates and its expectation is the same in both engines. (The extinction of small
    dormant colonies is not linear: the continuum shrinks a 1.5-cell colony smoothly, the
    stochastic engine loses whole cells; that regime is compared through the mass below.)"""
    sc = Scenario.from_dict(constant_seeding(
        simulation={"exact_threshold": 1.0, "stochastic_threshold": 1.0},
        inflammation={"strength": 0.3},  # partial suppression: both switching directions active
        dormancy={"activation_rate": 2e-3, "reversion_rate": 0.02, "death_rate": 0.0},
        immune={"kill_law": "none"},  # colonies grow from x = 1 (no continuum artefact at the bottom)
    ))
    cols = ["cells_arrived", "dormant_cells", "colonies_started", "colonies_proliferating", "colonies_dormant"]
    mean, se = stochastic_mean(sc, cols)
    mf = meanfield_at(sc, cols)
    assert mf[-1, 2] > 50, "the test needs a non-trivial number of colonies"
    z = np.abs(mean - mf) / np.maximum(se, 1e-12)
    # 4 standard errors, plus 1 % for the O(dt) timing of within-step events
    assert np.all(np.abs(mean - mf) <= 4 * se + 0.01 * np.abs(mf)), (cols, mean, mf, z)


def test_metastatic_mass_agrees_for_linear_birth_death():
    """With a constant per-cell birth and death rate the expected number of colony cells obeys
    the same linear equation as the mean-field mass, extinction of small colonies included."""
    sc = Scenario.from_dict(constant_seeding(
        colony={"law": "exponential", "exponential": {"rate_constant": 0.01}, "division_rate": 0.3},
        immune={"kill_law": "none"},
        fate={"proliferative_probability": 0.05},
    ))
    mean, se = stochastic_mean(sc, ["metastatic_cells", "colonies_started"])
    mf = meanfield_at(sc.with_settings(simulation={"grid_cells": 2000}), ["metastatic_cells", "colonies_started"])
    assert np.all(np.abs(mean - mf) <= 4 * se + 0.02 * np.abs(mf)), (mean, mf, se)


def test_colony_number_changes_by_exactly_the_boundary_flux():
    """Mean-field: alive + extinct colonies equal the colonies that entered at x = 1."""
    sc = Scenario.from_dict({"surgery": {"primary_diameter": "2 cm"}, "simulation": {"follow_up": 2000.0},
                             "output": {"record_every": 10.0}})
    ts = simulate(sc, engine="meanfield").timeseries
    total = ts["colonies_proliferating"] + ts["colonies_dormant"] + ts["colonies_extinct"]
    assert ts["colonies_started"].iloc[-1] > 10
    np.testing.assert_allclose(total, ts["colonies_started"], rtol=1e-9, atol=1e-9)
    assert (ts["colonies_extinct"].diff().dropna() >= -1e-12).all()


def test_meanfield_converges_at_first_order_in_the_grid():
    """Upwind finite volumes: at a fixed Courant number (dt ∝ Δy) the error of the size-resolved
    count against Iwata's closed form halves each time the grid doubles."""
    y_max = math.log(IWATA["b"])
    for frac in (0.25, 0.5, 0.75):
        x = math.exp(frac * y_max)  # a cell face on every grid below
        exact = iwata_count_above(x, 1200.0)
        errors = []
        for n in (100, 200, 400, 800):
            res = simulate(iwata_scenario(horizon=1200.0, grid_cells=n, dt=200.0 / n))
            errors.append(abs(count_above(res, x) - exact))
        orders = [math.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)]
        assert all(0.9 < o < 1.1 for o in orders), (x, errors, orders)
        assert errors[-1] / exact < 0.01


def test_meanfield_counts_converge_in_time_step():
    """Colonies founded by day 1000 against quadrature: error falls as dt shrinks (trapezoid: 2nd order)."""
    from seedsoil.validate.cases_body import iwata_count

    exact = iwata_count(1000.0)
    errs = []
    for dt in (4.0, 2.0, 1.0):
        ts = simulate(iwata_scenario(horizon=1000.0, dt=dt, grid_cells=200)).timeseries
        errs.append(abs(float(ts["colonies_started"].iloc[-1]) - exact))
    assert errs[0] > errs[1] > errs[2]
    assert math.log2(errs[0] / errs[1]) > 1.5 and math.log2(errs[1] / errs[2]) > 1.5, errs


@pytest.mark.parametrize("name", ["iwata_2000_primary", "iwata_2000_meanfield", "castano_2018_direction",
                                  "kuznetsov_1994_body_engine",
                                  "kuznetsov_1994_equilibria"])
def test_validation_case_passes(name):
    from seedsoil.validate import run_cases

    (res,) = run_cases([name])
    assert res.error is None, res.error
    failed = [c for c in res.checks if not c.passed]
    assert not failed, failed
