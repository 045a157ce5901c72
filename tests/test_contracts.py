"""What a scientist could not do before the contracts changed: a map's content in the hash, the
origin of each relapse, exact re-simulation of trial patient i, covariates that set surgery
and therapy fields, surgery at a cell count."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from seedsoil import Scenario, ScenarioError, load_scenario
from seedsoil.body.model import build_inputs
from seedsoil.cohort.trial import load_trial, run_trial, trial_from_dict
from seedsoil.tissue.invasion import InvasionMap
from seedsoil.validate.cases_luzzi import examples_dir

RUX = [{"kind": "drug", "drug": "ruxolitinib", "dose": "20 mg", "interval": "12 h", "start": "300 day",
        "duration": "100 day", "relative_to": "start"}]


def write_map(path, rel):
    InvasionMap(table=pd.DataFrame({"JAKi": [0.0, 10.0, 100.0], "relative": rel}), scenario={}, replicates=1,
                seed=0, key="handmade").save(path)


def test_rewriting_the_map_file_changes_the_hash_and_a_stale_scenario_says_so(tmp_path):
    path = tmp_path / "map.json"
    write_map(path, [1.0, 0.5, 0.2])
    text = (examples_dir() / "breast_surgery.toml").read_text() + f'\n[tissue]\ninvasion_map = "{path.name}"\n'
    (tmp_path / "patient.toml").write_text(text)
    a = load_scenario(tmp_path / "patient.toml").with_settings(therapy=RUX)
    write_map(path, [1.0, 0.9, 0.8])  # same path, other content
    b = load_scenario(tmp_path / "patient.toml").with_settings(therapy=RUX)
    assert a.tissue.invasion_map == b.tissue.invasion_map
    assert a.content_hash() != b.content_hash()
    # and the results follow the content: the drug lowers shedding less with the second map
    assert build_inputs(b).invasion_factor.min() > build_inputs(a).invasion_factor.min()
    # a scenario made from the old content refuses the new file instead of running on it silently
    with pytest.raises(ScenarioError, match="changed since this scenario was made"):
        Scenario.from_dict(a.to_dict())


def test_surgery_at_a_cell_count_equals_surgery_at_the_same_size():
    by_diameter = Scenario.from_dict({"surgery": {"primary_diameter": "2 cm"}})
    p = by_diameter.parameters
    cells = 4.0 / 3.0 * math.pi * 10.0 ** 3 * p["cells.density"]  # a 2 cm sphere, mm and cells/mm^3
    by_cells = Scenario.from_dict({"surgery": {"primary_cells": cells}})
    assert build_inputs(by_cells).schedule.surgery_day == pytest.approx(build_inputs(by_diameter).schedule.surgery_day,
                                                                         rel=1e-9)
    with pytest.raises(ScenarioError, match="exactly one of 'day', 'primary_diameter' or 'primary_cells'"):
        Scenario.from_dict({"surgery": {"primary_cells": 1e9, "day": 100}})


def small_trial(tmp_path, **extra):
    data = {
        "trial": {"name": "contracts", "patients": 24, "seed": 77, "chunk_size": 8},
        "surgery": {"primary_diameter": "2 cm"}, "simulation": {"follow_up": "10 y"},
        "population": {"covariates": {"size": {
            "distribution": "categorical", "values": ["small", "large"], "probabilities": [0.5, 0.5],
            "overrides": {"small": {"surgery.primary_diameter": "1 cm"},
                          "large": {"surgery.primary_diameter": "4 cm", "therapy.duration": "2 y"}}}}},
        "arm": [{"name": "surgery only"},
                {"name": "mimetic", "therapy": [{"kind": "il1b_mimetic", "start": "0 day", "duration": "1 y"}]}],
    }
    data.update(extra)
    return trial_from_dict(data)


def test_covariates_set_surgery_size_and_therapy_fields(tmp_path):
    tr = small_trial(tmp_path)
    res = run_trial(tr, workers=1, out=tmp_path / "t")
    df = res.patients
    assert (df["status"] != "not_simulated").all()
    # the surgery day follows the covariate: large primaries are removed later
    ctl = df[df["arm"] == "surgery only"]
    small = ctl.loc[ctl["cov_size"] == "small", "surgery_day"]
    large = ctl.loc[ctl["cov_size"] == "large", "surgery_day"]
    assert len(small) and len(large) and small.max() < large.min()
    # and the therapy duration: patient by patient, the scenario the trial ran
    for i in (int(ctl.loc[ctl["cov_size"] == "large", "patient"].iloc[0]),
              int(ctl.loc[ctl["cov_size"] == "small", "patient"].iloc[0])):
        sc = tr.patient_scenario(i, "mimetic")
        size = ctl.loc[ctl["patient"] == i, "cov_size"].iloc[0]
        assert sc.surgery.primary_diameter == (40.0 if size == "large" else 10.0)
        assert sc.therapies[0].duration == pytest.approx(730.5 if size == "large" else 365.25)


def test_a_bad_covariate_field_fails_when_the_trial_loads(tmp_path):
    bad = {"population": {"covariates": {"size": {
        "distribution": "categorical", "values": ["a"], "probabilities": [1.0],
        "overrides": {"a": {"surgery.primary_diameter": "-1 cm"}}}}}}
    with pytest.raises(ScenarioError, match=r"population.covariates.size.overrides.a: surgery.primary_diameter"):
        small_trial(tmp_path, **bad)
    bad["population"]["covariates"]["size"]["overrides"]["a"] = {"therapy.level": 1.0}  # no such therapy field
    with pytest.raises(ScenarioError, match="no therapy with this setting"):
        small_trial(tmp_path, **{**bad, "arm": [{"name": "surgery only"}]})


def test_patient_i_of_a_trial_is_resimulated_exactly_with_its_relapse_origin(tmp_path):
    tr = load_trial(examples_dir() / "trial_il1b.toml").with_options(patients=40, chunk_size=10)
    res = run_trial(tr, workers=1, out=tmp_path / "il1b")
    df = res.patients
    assert set(df["relapse_origin"]) <= {"growing_at_surgery", "dormant_at_surgery", "arrived_after_surgery",
                                         "no_surgery", "none"}
    relapsed = df[df["relapse_status"] == 1]
    assert len(relapsed), "the example trial should have relapses at 40 patients"
    assert (relapsed["relapse_origin"] != "none").all()
    others = df[(df["relapse_status"] != 1) & df["eligible"].astype(bool)]
    assert (others["relapse_origin"] == "none").all()
    for _, row in relapsed.head(3).iterrows():
        one = res.patient(int(row["patient"]), row["arm"])
        assert one.keys == (int(row["patient"]),)
        for col in ("surgery_day", "shed_before_surgery", "dormant_cells_at_surgery", "metastases_detected",
                    "relapse_origin"):
            assert one.summary[col] == row[col], col
        # the table names the same colony: its origin follows from its row in the colony table
        colony = one.colonies.set_index("colony_id").loc[one.summary["relapse_colony"]]
        origin = row["relapse_origin"]
        if origin == "growing_at_surgery":
            assert colony["state_at_surgery"] == "proliferating"
        elif origin == "arrived_after_surgery":
            assert pd.isna(colony["state_at_surgery"]) and not colony["from_dormant_pool"]
        else:
            assert colony["state_at_surgery"] == "dormant" or (pd.isna(colony["state_at_surgery"])
                                                               and colony["from_dormant_pool"])
        assert one.summary["relapse_day"] - one.summary["surgery_day"] == pytest.approx(row["relapse_days"])
    with pytest.raises(ValueError, match="patient = 40"):
        tr.patient_scenario(40)


def test_tissue_scenario_sets_each_modes_speed_and_persistence():
    from seedsoil.tissue import default_tissue_scenario
    from seedsoil.tissue.model import mode_parameters
    from seedsoil.tissue.scenario import TissueScenario

    base = default_tissue_scenario()
    fast = TissueScenario.from_dict({**base.to_dict(), "speed": {"amoeboid": "3 um/min"},
                                     "persistence": {"mesenchymal": "1 h"}})
    mp0, mp1 = mode_parameters(base), mode_parameters(fast)
    assert mp1["speed"][0] == 3.0 and mp1["persistence"][1] == 60.0
    assert mp1["speed"][1] == mp0["speed"][1] and mp1["persistence"][0] == mp0["persistence"][0]
    assert fast.content_hash() != base.content_hash()
    assert TissueScenario.from_dict(fast.to_dict()) == fast
    with pytest.raises(ScenarioError, match=r"speed.amoeboid = .*out of range"):
        TissueScenario.from_dict({"speed": {"amoeboid": 100.0}})


def test_a_single_arm_trial_writes_the_comparison_tables_of_a_multi_arm_one(tmp_path):
    no_cov = {"population": {}}
    one = small_trial(tmp_path, arm=[{"name": "surgery only"}], **no_cov)
    two = small_trial(tmp_path, **no_cov)
    a = run_trial(one.with_options(patients=6), workers=1, out=tmp_path / "one")
    b = run_trial(two.with_options(patients=6), workers=1, out=tmp_path / "two")
    for name in ("hazard_ratios_dmfs", "hazard_ratios_os", "logrank_dmfs", "logrank_os"):
        assert (tmp_path / "one" / f"{name}.csv").exists(), name
        assert list(a.tables[name].columns) == list(b.tables[name].columns), name
        assert len(a.tables[name]) == 0 and len(b.tables[name]) == 1


def test_one_loader_names_the_kind_of_a_wrong_file():
    from seedsoil.tissue import load_tissue_scenario

    with pytest.raises(ScenarioError, match=r"tissue_edge.toml is a tissue scenario; run it with `seedsoil tissue"):
        load_scenario(examples_dir() / "tissue_edge.toml")
    with pytest.raises(ScenarioError, match=r"trial_il1b.toml is a trial file; run it with `seedsoil trial"):
        load_tissue_scenario(examples_dir() / "trial_il1b.toml")
    with pytest.raises(ScenarioError, match=r"breast_surgery.toml is a patient scenario; run it with `seedsoil run"):
        load_trial(examples_dir() / "breast_surgery.toml")
    with pytest.raises(ScenarioError, match="no such tissue scenario file"):
        load_tissue_scenario(examples_dir() / "nope.toml")


def test_column_names_carry_units_and_no_dots():
    from seedsoil.body.result import TIMESERIES_COLUMNS
    from seedsoil.tree import column_name

    assert column_name("param_", "shedding.rate", "1/day") == "param_shedding_rate_per_day"
    assert column_name("param_", "cells.density", "1/mm^3") == "param_cells_density_per_mm3"
    assert column_name("cov_", "inflammatory") == "cov_inflammatory"
    tr = load_trial(examples_dir() / "trial_il1b.toml")
    assert {v.column for v in tr.population.variables} == {
        "param_shedding_rate_per_day", "param_primary_gompertz_rate_constant_per_day", "cov_inflammatory"}
    for col in ("ctc_cells", "effector_cells", "largest_colony_cells"):
        assert col in TIMESERIES_COLUMNS
    assert not {"ctc", "effectors", "largest_colony"} & set(TIMESERIES_COLUMNS)


def test_a_trial_has_a_short_repr_and_its_own_description(tmp_path):
    tr = small_trial(tmp_path, trial={"name": "contracts", "patients": 4, "seed": 1, "chunk_size": 2,
                                      "description": "surgery size by covariate"})
    assert repr(tr) == "Trial('contracts', 4 patients, paired, arms: surgery only, mimetic; seed 1)"
    assert tr.description == "surgery size by covariate"
    from seedsoil.report.trial import trial_subtitle

    res = run_trial(tr, workers=1, out=tmp_path / "d")
    assert trial_subtitle(res).startswith("surgery size by covariate")
    with pytest.raises(ScenarioError, match="engine = 'bogus'"):
        from seedsoil import simulate

        simulate(Scenario.from_dict({}), engine="bogus")
