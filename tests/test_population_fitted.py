"""A fitted population drives a virtual trial (issue 13): ``[population] fitted = ...``.

The science checked: two independent paths give the same patients. The fit's own prediction
(:meth:`FittedPopulation.survival`, Gauss–Hermite quadrature over the growth and shedding
random effects, one engine solve per node) and the trial machinery (each patient's scenario
from :meth:`Trial` draws and the covariate links, one analytic-engine solve per drawn
patient) agree, averaged over the same records, within Monte Carlo error; each trial
patient's shedding and growth rates follow the fitted lognormals with the fitted link
factors exactly. A fitted population is built from a fit file and chosen estimates (no
optimiser: fast and deterministic); nothing depends on the library's populations.
"""
from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pandas as pd
import pytest

from seedsoil.errors import ScenarioError

FIT = """
[fit]
name = "test_growth"
seed = 3
[data]
set = "rotterdam"
subset = "untreated"
sample = 250
[model]
shedding_nodes = 32
[model.settings]
"colony.law" = "gompertz"
[model.growth_effect]
target = "colony.gompertz.rate_constant"
sigma = 0.4
nodes = 7
[[model.growth_link]]
name = "grade"
covariate = "grade"
transform = "identity"
reference = 2
range = [-3, 3]
[[model.shedding_link]]
name = "nodes"
covariate = "positive_nodes"
transform = "log1p"
[[parameter]]
name = "dormancy.activation_rate"
start = "2e-5 1/day"
range = ["1e-7 1/day", "1e-2 1/day"]
[method]
max_evaluations = 10
"""

#: the chosen estimates (natural scale): a 10-year distant-relapse-free probability near 0.5
ACTIVATION, SIGMA_GROWTH, BETA_GRADE, MULTIPLIER, SIGMA_SHED, BETA_NODES = 2e-5, 0.4, 0.4, 0.05, 0.8, 0.5
GRID = np.array([1.0, 2.0, 3.0, 5.0, 7.0, 10.0]) * 365.25
N_RECORDS = 200
#: drawn trial patients per record in the consistency test
DRAWS = 8


def _records(n: int = N_RECORDS, seed: int = 5) -> pd.DataFrame:
    """Rotterdam-like records: size by category (15 / 30 / 60 mm), grade, positive nodes."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tumour_size": rng.choice([15.0, 30.0, 60.0], n, p=[0.45, 0.45, 0.1]),
                         "grade": rng.choice([1, 2, 3], n, p=[0.1, 0.3, 0.6]),
                         "positive_nodes": np.minimum(rng.negative_binomial(0.5, 0.5 / 2.5, n), 30)})


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """(FittedPopulation, path of its population.json)."""
    from seedsoil.fit.estimate import MLEstimate
    from seedsoil.fit.fitted import FittedPopulation
    from seedsoil.fit.spec import FitSpec

    spec = FitSpec.from_dict(tomllib.loads(FIT))
    m = spec.model
    theta = np.array([math.log(ACTIVATION), math.log(SIGMA_GROWTH), BETA_GRADE, math.log(MULTIPLIER),
                      math.log(SIGMA_SHED), BETA_NODES])
    assert m.names == ["dormancy.activation_rate", "log_sigma_growth", "beta_grade", "log_shedding_multiplier",
                       "log_sigma_shedding", "beta_nodes"]
    est = MLEstimate(list(m.names), theta, np.eye(len(theta)) * 1e-4, -1234.5, 10, True, n=250, events=100)
    prov = {"data": "rotterdam (untreated: 250 patients)", "fit_file": "test_growth.toml",
            "seedsoil_version": "test", "date": "2026-12-06", "method": "mle"}
    pop = FittedPopulation("test_growth", spec, est, None, prov, raw=spec.portable())
    path = tmp_path_factory.mktemp("fitted") / "population.json"
    pop.save(path)
    return pop, path


def _trial(path, patients: int = 50, seed: int = 11, **trial):
    """A trial driven by the fitted population at ``path``, as its workers rebuild it from the
    canonical spec (whose variable order sets each patient's draws)."""
    from seedsoil.cohort.trial import _cached_trial, trial_from_dict

    tr = trial_from_dict({
        "trial": {"name": "fitted", "patients": patients, "seed": seed, **trial},
        "surgery": {"primary_diameter": "20 mm"}, "simulation": {"follow_up": "11 year"},
        "population": {"fitted": str(path), "covariates": {
            "tumour_size": {"distribution": "categorical", "values": ["15 mm", "30 mm", "60 mm"],
                            "probabilities": [0.45, 0.45, 0.1]},
            "grade": {"distribution": "categorical", "values": [1, 2, 3], "probabilities": [0.1, 0.3, 0.6]},
            "positive_nodes": {"distribution": "negative_binomial", "mean": 2.0, "size": 0.5,
                               "truncate": [0, 30]}}},
        "arm": [{"name": "surgery only"}]})
    return _cached_trial(tr.spec_json(), tr.drugs)


def _scenario_for(trial, draws, r, record):
    """Drawn patient ``r`` of ``trial`` with her record replaced by ``record``: the trial's own
    path (population parameters, then the record through the trial's links)."""
    from seedsoil.cohort.trial import _patient_scenario

    over = trial.population.patient_parameters(draws, r)
    over.update({f"patient.{k}": v for k, v in record.items()})
    return _patient_scenario(trial, 0, over)


def test_expansion_carries_the_fit(fitted):
    pop, path = fitted
    f = pop.trial_population()
    base_rate = pop.model.scenario.parameters["shedding.rate"]
    assert f["overrides"] == {"colony.law": "gompertz", "dormancy.activation_rate": pytest.approx(ACTIVATION)}
    sh = f["parameters"]["shedding.rate"]
    assert (sh["distribution"], sh["median"], sh["sigma"]) == ("lognormal", pytest.approx(base_rate * MULTIPLIER),
                                                               pytest.approx(SIGMA_SHED))
    g = f["parameters"]["colony.gompertz.rate_constant"]
    assert g["median"] == pytest.approx(pop.model.scenario.parameters["colony.gompertz.rate_constant"])
    assert g["sigma"] == pytest.approx(SIGMA_GROWTH)
    assert f["label"] == pop.label and f["provenance"]["loglik"] == -1234.5
    json.dumps(f)  # plain data: it travels in the trial's spec


def test_trial_patients_follow_the_fitted_lognormals_and_links(fitted):
    pop, path = fitted
    tr = _trial(path, patients=4000)
    assert tr.fitted_population == pop.label
    base = pop.model.scenario.parameters
    idx = np.arange(tr.patients)
    d = tr.population.draw(tr.seed, idx)
    n = len(idx)
    for name, median, sigma in (("shedding.rate", base["shedding.rate"] * MULTIPLIER, SIGMA_SHED),
                                ("colony.gompertz.rate_constant", base["colony.gompertz.rate_constant"],
                                 SIGMA_GROWTH)):
        logs = np.log(d[name].astype(float))
        # sampling error of the log-median ~ 1.25 sigma / sqrt(n), of the log-sd ~ sigma / sqrt(2n): 4 of each
        assert abs(np.median(logs) - math.log(median)) < 4 * 1.25 * sigma / math.sqrt(n)
        assert abs(logs.std(ddof=1) - sigma) < 4 * sigma / math.sqrt(2 * n)
    # each patient's scenario: her drawn values, times the fitted link factors exactly
    for i in range(40):
        sc = tr.patient_scenario(i)
        rec = sc.patient
        assert sc.parameters["colony.law"] == "gompertz"
        assert sc.parameters["dormancy.activation_rate"] == pytest.approx(ACTIVATION, rel=1e-12)
        assert sc.parameters["shedding.rate"] == pytest.approx(
            d["shedding.rate"][i] * math.exp(BETA_NODES * math.log1p(rec.positive_nodes)), rel=1e-12)
        assert sc.parameters["colony.gompertz.rate_constant"] == pytest.approx(
            d["colony.gompertz.rate_constant"][i] * math.exp(BETA_GRADE * (rec.grade - 2)), rel=1e-12)
        assert sc.surgery.primary_diameter == pytest.approx(rec.tumour_size)
        # the package's other growth link (grade on the primary) is neutral
        assert sc.parameters["primary.gompertz.rate_constant"] == pytest.approx(base["primary.gompertz.rate_constant"])


def test_a_fitted_patient_scenario_reloads_and_pickles_with_its_links(fitted):
    """A trial patient's scenario writes the fitted links inline (patient.links), so its JSON and
    its pickle (how scenarios reach workers) rebuild the same patient; an edited inline table is
    refused by its hash, and without the hash it acts."""
    import copy
    import pickle

    from seedsoil.scenario import Scenario

    pop, path = fitted
    tr = _trial(path, patients=10)
    for i in range(3):
        sc = tr.patient_scenario(i)
        d = json.loads(json.dumps(sc.to_dict()))
        beta = d["patient"]["links"]["link"]["nodes_shedding"]["beta"]
        assert beta["value"] == pytest.approx(BETA_NODES) and "fitted: test_growth" in beta["source"]
        for back in (Scenario.from_dict(d), pickle.loads(pickle.dumps(sc))):
            assert dict(back.parameters) == dict(sc.parameters) and back.links.sha256 == sc.links.sha256
            assert back.to_dict() == sc.to_dict()
    edited = copy.deepcopy(d)
    edited["patient"]["links"]["link"]["nodes_shedding"]["beta"]["value"] = 2 * BETA_NODES
    with pytest.raises(ScenarioError, match="patient.links_sha256.*links table patient.links changed"):
        Scenario.from_dict(edited)
    edited["patient"].pop("links_sha256")
    assert sc.patient.positive_nodes > 0  # so that the edited coefficient shows
    more = Scenario.from_dict(edited).parameters["shedding.rate"]
    assert more == pytest.approx(sc.parameters["shedding.rate"] * (1 + sc.patient.positive_nodes) ** BETA_NODES)
    assert Scenario.from_dict({"patient": {"grade": 2}}).to_dict()["patient"].get("links") is None  # package links


def test_trial_patients_average_to_the_fits_prediction(fitted):
    """Population-average distant-relapse-free probability of the same 200 records: the fit's
    quadrature vs DRAWS trial patients per record. The Monte Carlo standard error of the trial
    mean is sqrt(sum_i var_i / DRAWS) / N (var_i: the within-record variance of S over the
    random effects); tolerance 4 standard errors plus 0.003 for the fit's quadrature."""
    from seedsoil.body.relapse import relapse_free

    pop, path = fitted
    recs = _records()
    fit_S = pop.survival(recs, GRID, endpoint="distant")[0]  # patients x times
    tr = _trial(path, patients=N_RECORDS * DRAWS)
    d = tr.population.draw(tr.seed, np.arange(tr.patients))
    S = np.empty((N_RECORDS, DRAWS, len(GRID)))
    for i, row in recs.iterrows():
        record = {"tumour_size": float(row["tumour_size"]), "grade": int(row["grade"]),
                  "positive_nodes": int(row["positive_nodes"])}
        for k in range(DRAWS):
            S[i, k], _ = relapse_free(_scenario_for(tr, d, i * DRAWS + k, record), GRID)
    trial_mean = S.mean(axis=(0, 1))
    se = np.sqrt(S.var(axis=1, ddof=1).sum(axis=0) / DRAWS) / N_RECORDS
    fit_mean = fit_S.mean(axis=0)
    assert 0.3 < fit_mean[-1] < 0.9  # a curve that tests something
    np.testing.assert_array_less(np.abs(trial_mean - fit_mean), 4 * se + 0.003)
    # and per grade (the growth link), with that subgroup's error
    for g in (1, 3):
        sel = (recs["grade"] == g).to_numpy()
        se_g = np.sqrt(S[sel].var(axis=1, ddof=1).sum(axis=0) / DRAWS) / sel.sum()
        np.testing.assert_array_less(np.abs(S[sel].mean(axis=(0, 1)) - fit_S[sel].mean(axis=0)), 4 * se_g + 0.005)


def test_trial_folder_records_the_fitted_population(fitted, tmp_path):
    from seedsoil.cohort.trial import TrialResult, run_trial

    pop, path = fitted
    tr = _trial(path, patients=3, chunk_size=3)
    res = run_trial(tr, out=tmp_path / "run", workers=1)
    meta = json.loads((tmp_path / "run" / "trial.json").read_text())
    assert meta["fitted_population"]["label"] == pop.label
    assert meta["fitted_population"]["provenance"]["loglik"] == -1234.5
    assert meta["spec"]["population"]["fitted"]["label"] == pop.label  # the spec carries the expansion
    assert len(res.patients) == 3
    # rebuilt from the folder's spec alone (as workers do), without the population file
    path.rename(path.with_suffix(".moved"))
    try:
        back = TrialResult.from_store(tmp_path / "run")
        assert back.trial.fitted_population == pop.label
        assert back.trial.content_hash() == tr.content_hash()
    finally:
        path.with_suffix(".moved").rename(path)


def test_a_bad_fitted_population_names_the_field():
    from seedsoil.cohort.population import fitted_library
    from seedsoil.cohort.trial import trial_from_dict

    with pytest.raises(ScenarioError) as e:
        trial_from_dict({"trial": {"name": "x", "patients": 2}, "population": {"fitted": "rotterdam_untreatd"},
                         "arm": [{"name": "a"}]})
    assert e.value.field == "population.fitted"
    assert "population.fitted" in str(e.value) and "available:" in str(e.value)
    for name in fitted_library():
        assert name in str(e.value)
    with pytest.raises(ScenarioError, match="population.fitted.*no such fitted-population file"):
        trial_from_dict({"trial": {"name": "x", "patients": 2}, "population": {"fitted": "/nonexistent/p.json"},
                         "arm": [{"name": "a"}]})


def test_fitted_parameters_cannot_be_given_twice(fitted):
    from seedsoil.cohort.trial import trial_from_dict

    pop, path = fitted
    with pytest.raises(ScenarioError, match="population.parameters.shedding.rate: drawn by the fitted population"):
        trial_from_dict({"trial": {"name": "x", "patients": 2},
                         "population": {"fitted": str(path), "parameters": {
                             "shedding.rate": {"distribution": "fixed", "value": 0.01}}},
                         "arm": [{"name": "a"}]})


def test_sampled_parameters_without_a_record_reach_the_patient():
    """A population without record covariates: the drawn value is the patient's parameter and
    one of her overrides (so to_dict / with_overrides keep it)."""
    from seedsoil.cohort.trial import _cached_trial, trial_from_dict

    tr = trial_from_dict({"trial": {"name": "x", "patients": 5, "seed": 2},
                          "population": {"parameters": {"shedding.rate": {"distribution": "lognormal",
                                                                          "median": 0.01, "sigma": 0.5,
                                                                          "truncate": [0, 100]}}},
                          "arm": [{"name": "a"}]})
    tr = _cached_trial(tr.spec_json(), tr.drugs)
    d = tr.population.draw(tr.seed, np.arange(5))
    for i in range(5):
        sc = tr.patient_scenario(i)
        assert sc.parameters["shedding.rate"] == pytest.approx(d["shedding.rate"][i], rel=1e-12)
        assert sc.overrides["shedding.rate"] == pytest.approx(d["shedding.rate"][i], rel=1e-12)
