"""Drugs as values (seedsoil.coupling.DrugLibrary): a user's drug changes the patient through the
named factors, travels with the scenario to worker processes, and is part of the content hash."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from seedsoil import Scenario, ScenarioError, simulate
from seedsoil.body import hooks
from seedsoil.body.model import build_inputs
from seedsoil.cohort.trial import run_trial, trial_from_dict
from seedsoil.coupling import DrugLibrary, default_drugs
from seedsoil.pharm import Drug, FirstOrderAbsorption, HillInhibition, OneCompartment


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


#: a user's drug as a callable exposure model plus its own effect model
CALLABLE_LIBRARY = default_drugs().with_drug(one_compartment, name="testinib").with_effect(jak_effect)

#: a user's drug as a pharm.Drug value (PK, route, target): acts through the JAK1 coupling like a preset
JAKINIB = Drug(name="jakinib", pk=OneCompartment.from_half_life(60.0, 0.15), molecular_weight_g_per_mol=400.0,
               unbound_fraction=0.2, routes={"oral": FirstOrderAbsorption(12.0, 0.7)}, default_route="oral",
               targets={"JAK1": HillInhibition("JAK1", 15.0)})


def scenario(with_drug: bool, drugs: DrugLibrary | None = CALLABLE_LIBRARY) -> Scenario:
    data = {"surgery": {"primary_diameter": "2 cm"}, "simulation": {"follow_up": 200.0}}
    if with_drug:
        data["therapy"] = [{"kind": "drug", "drug": "testinib", "dose": "20 mg", "interval": "12 h",
                            "relative_to": "start", "start": "600 day", "duration": "137 day"}]
    return Scenario.from_dict(data, drugs=drugs)


def test_unknown_drug_is_a_scenario_error_naming_the_library():
    with pytest.raises(ScenarioError, match="unknown drug.*known: anakinra"):
        Scenario.from_dict({"therapy": [{"kind": "drug", "drug": "nosuchdrug", "dose": 1, "interval": 1,
                                         "relative_to": "start"}]})
    # a drug of one library is unknown to another: there is no process-wide registry
    scenario(True)
    with pytest.raises(ScenarioError, match="therapy\\[0\\].drug = 'testinib': unknown drug"):
        scenario(True, drugs=None)


def test_the_old_registry_is_gone_with_a_message():
    with pytest.raises(AttributeError, match="drugs are values now"):
        hooks.register_drug  # noqa: B018


def test_library_is_immutable_and_picklable():
    base = default_drugs()
    mine = base.with_drug(JAKINIB)
    assert "jakinib" in mine and "jakinib" not in base and "jakinib" not in default_drugs()
    again = pickle.loads(pickle.dumps(mine))
    assert again == mine and hash(again) == hash(mine) and again.names() == mine.names()
    assert pickle.loads(pickle.dumps(JAKINIB)) == JAKINIB
    t = np.linspace(0, 3, 7)
    d = hooks.Dosing("jakinib", 10.0, 0.5, 0.0, 3.0)
    np.testing.assert_array_equal(again.exposure("jakinib", t, d), mine.exposure("jakinib", t, d))


def test_drug_lowers_shedding_and_killing_through_the_factors():
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


def test_user_drug_is_part_of_the_content_hash():
    a = scenario(True)
    stronger = default_drugs().with_drug(one_compartment, name="testinib").with_effect(jak_effect).with_effect(
        jak_effect)
    b = scenario(True, drugs=stronger)
    assert a.to_dict() == b.to_dict()
    assert a.content_hash() != b.content_hash()
    # presets only: the hash is that of the normalized file (unchanged by the library)
    plain = Scenario.from_dict({"therapy": [{"kind": "drug", "drug": "ruxolitinib", "dose": 20, "interval": 0.5,
                                             "relative_to": "start"}]})
    assert plain.content_hash() == Scenario.from_dict(plain.to_dict(), drugs=default_drugs().with_drug(
        JAKINIB)).content_hash()


def _trial(drugs: DrugLibrary, drug: str, patients: int = 8):
    data = {
        "trial": {"name": "user drug", "patients": patients, "seed": 9, "chunk_size": 2},
        "surgery": {"primary_diameter": "2 cm"}, "simulation": {"follow_up": "3 y"},
        "arm": [{"name": "control"},
                {"name": drug, "therapy": [{"kind": "drug", "drug": drug, "dose": "20 mg", "interval": "12 h",
                                            "start": "0 day", "duration": "1 y"}]}],
    }
    return trial_from_dict(data, drugs=drugs)


@pytest.mark.parametrize("library,drug", [(CALLABLE_LIBRARY, "testinib"), (default_drugs().with_drug(JAKINIB),
                                                                          "jakinib")])
def test_user_drug_in_a_two_worker_local_trial(library, drug, tmp_path):
    """The spawned workers re-validate the trial with the library shipped in the tasks."""
    tr = _trial(library, drug)
    one = run_trial(tr, workers=1, out=tmp_path / "one")
    two = run_trial(tr, executor="local", workers=2, out=tmp_path / "two")
    a = one.patients.sort_values(["patient", "arm"]).reset_index(drop=True)
    b = two.patients.sort_values(["patient", "arm"]).reset_index(drop=True)
    assert (a["status"] != "not_simulated").all(), a["note"].tolist()
    import pandas as pd

    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # and the drug acted: fewer cells shed before surgery than in the control arm, patient by patient
    ctl = a[a["arm"] == "control"]["shed_before_surgery"].to_numpy()
    trt = a[a["arm"] == drug]["shed_before_surgery"].to_numpy()
    assert np.all(trt < ctl)


def test_conformance_checks_pass_for_real_drugs_and_engines_and_fail_for_broken_ones():
    from seedsoil.body.meanfield import simulate_meanfield
    from seedsoil.body.stochastic import simulate_stochastic
    from seedsoil.pharm import preset
    from seedsoil.testing import check_drug, check_engine

    check_drug(JAKINIB)
    check_drug(preset("anakinra"))
    check_drug(one_compartment, name="testinib")

    def leaky(times, dosing):  # exposure before the first dose
        return one_compartment(times, dosing) + 1.0

    with pytest.raises(AssertionError, match="before the first dose"):
        check_drug(leaky, name="leaky")

    check_engine(simulate_stochastic)
    check_engine(lambda inputs, seed, *keys: simulate_meanfield(inputs))

    def no_surgery_engine(inputs, seed, *keys):  # forgets to remove the primary
        r = simulate_stochastic(inputs, seed, *keys)
        ts = r.timeseries.copy()
        ts["primary_cells"] = ts["primary_cells"].max()
        from dataclasses import replace

        return replace(r, timeseries=ts)

    with pytest.raises(AssertionError, match="primary after surgery"):
        check_engine(no_surgery_engine)
