"""Drug hooks: a registered PK model and effect change the patient through named factors."""
from __future__ import annotations

import numpy as np
import pytest

from seedsoil import Scenario, ScenarioError, simulate
from seedsoil.body import hooks
from seedsoil.body.model import build_inputs


def one_compartment(times, dosing):
    """IV bolus, 10 nM per mg, 3 h half-life, doses summed."""
    k = np.log(2) / 0.125
    c = np.zeros_like(times)
    for t0 in dosing.dose_times():
        dt = times - t0
        c += np.where(dt >= 0, 10.0 * dosing.dose_mg * np.exp(-k * np.clip(dt, 0, None)), 0.0)
    return c


def jak_effect(times, exposures):
    c = exposures.get("testinib", np.zeros_like(times))
    frac = c / (c + 50.0)  # IC50 50 nM
    return {"invasion_factor": 1.0 - 0.8 * frac, "immune_kill_factor": 1.0 - 0.5 * frac}


@pytest.fixture
def registered():
    hooks.register_drug("testinib", one_compartment)
    hooks.register_effect(jak_effect)
    yield
    hooks.unregister_drug("testinib")
    hooks.unregister_effect(jak_effect)


def scenario(with_drug: bool) -> Scenario:
    data = {"surgery": {"primary_diameter": "2 cm"}, "simulation": {"follow_up": 200.0}}
    if with_drug:
        data["therapy"] = [{"kind": "drug", "drug": "testinib", "dose": "20 mg", "interval": "12 h",
                            "relative_to": "start", "start": "600 day", "duration": "137 day"}]
    return Scenario.from_dict(data)


def test_unknown_drug_is_a_scenario_error():
    with pytest.raises(ScenarioError, match="unknown drug"):
        Scenario.from_dict({"therapy": [{"kind": "drug", "drug": "nosuchdrug", "dose": 1, "interval": 1,
                                         "relative_to": "start"}]})


def test_drug_lowers_shedding_and_killing_through_the_factors(registered):
    base = build_inputs(scenario(False))
    drug = build_inputs(scenario(True))
    win = (drug.t[:-1] >= 600) & (drug.t[:-1] < 737)
    before = drug.t[:-1] < 600
    washed_out = drug.t[:-1] > 740  # 3 h half-life: gone within a day of the last dose
    assert np.all(drug.invasion_factor[before] == 1.0)
    np.testing.assert_allclose(drug.invasion_factor[washed_out], 1.0, atol=1e-9)
    assert np.all(drug.invasion_factor[win] < 1.0) and np.all(drug.invasion_factor[win] > 0.2)
    assert np.all(drug.immune_kill_factor[win] < 1.0)
    # expected shedding is lowered exactly by the factor
    np.testing.assert_allclose(drug.shed_primary, base.shed_primary * drug.invasion_factor)
    a = simulate(scenario(False), seed=5).summary
    b = simulate(scenario(True), seed=5).summary
    assert b["shed_before_surgery"] < 0.8 * a["shed_before_surgery"]
