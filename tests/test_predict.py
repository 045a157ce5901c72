"""Predictions for the individual patient (seedsoil.fit.predict, seedsoil.report.predict,
`seedsoil predict`): prognosis ordered by nodes and size, recurrence-free below
distant-metastasis-free, chemotherapy helping with a band around its benefit, endocrine
therapy inert for ER-negative disease, paired draws, agreement with
FittedPopulation.survival, errors naming the field, the report in Chromium, the CLI's files.

The population is a small fit made here (the fit file of tests/test_fit_model.py), not the
library's. Note: in that fit the shedding parameters other than the multiplier stay at their
starts (σ = 0.5, β_nodes = 0: the profile's L-BFGS-B stops at its start), so node effects are
tested on a copy with β_nodes set."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from seedsoil.errors import ScenarioError
from seedsoil.testing import SMALL_FIT_FILE as _SMALL

CHROMIUM_TIMEOUT_S = 120
YEAR = 365.25


PATIENT = {"tumour_size": "25 mm", "positive_nodes": 3, "grade": 2, "er": "positive", "menopause": "post",
           "age": "60 year"}


@pytest.fixture(scope="module")
def population_file(tmp_path_factory):
    from seedsoil.fit.run import run_fit

    d = tmp_path_factory.mktemp("population")
    f = d / "small.toml"
    f.write_text(_SMALL)
    run_fit(f, d / "run")
    return d / "run" / "population.json"


@pytest.fixture(scope="module")
def population(population_file):
    from seedsoil.fit.fitted import load_population

    return load_population(population_file)


@pytest.fixture(scope="module")
def prediction(population):
    from seedsoil.fit.predict import predict_patient

    return predict_patient(PATIENT, population, therapies=["chemotherapy (CMF)", "tamoxifen 5 y"], draws=8, seed=3)


def _curve(pred, therapy, endpoint, column="estimate"):
    c = pred.curves
    return c[(c["therapy"] == therapy) & (c["endpoint"] == endpoint)][column].to_numpy()


def _at(pred, therapy, endpoint, years, column="probability"):
    s = pred.summary
    return float(s[(s["therapy"] == therapy) & (s["endpoint"] == endpoint) & (s["years"] == years)][column].iloc[0])


# ----------------------------------------------------------------------------- science
def _with_nodes_effect(population, beta):
    """The population with its shedding-nodes coefficient set to ``beta`` (the quick fit leaves
    it at its start, 0: see the module docstring's note)."""
    theta = population.estimate.theta.copy()
    theta[population.model.names.index("beta_nodes")] = beta
    return dataclasses.replace(population, estimate=dataclasses.replace(population.estimate, theta=theta))


def test_more_nodes_and_a_larger_tumour_predict_more_distant_metastasis(population):
    from seedsoil.fit.predict import predict_patient

    def p(pop=population, **kw):
        pred = predict_patient({**PATIENT, **kw}, pop, therapies=[], draws=0, horizon_years=10)
        return np.array([_at(pred, "surgery only", "distant", y) for y in (5, 10)])

    base = p()
    assert np.all(p(tumour_size="60 mm") < base)
    assert np.all(p(tumour_size="10 mm") > base)
    # nodes act through the shedding link, in the direction of its coefficient
    linked = _with_nodes_effect(population, 0.4)
    assert np.all(p(linked, positive_nodes=12) < p(linked))
    assert np.all(p(linked, positive_nodes=0, tumour_size="10 mm") > p(linked))
    beta = population.natural()["beta_nodes"]
    assert np.all(np.sign(p(positive_nodes=12) - base) == -np.sign(beta))
    # T categories stand for the model's diameters (T1 15 mm < T3 60 mm)
    rec = {k: v for k, v in PATIENT.items() if k != "tumour_size"}
    t1 = predict_patient({**rec, "size_category": "T1"}, population, therapies=[], draws=0)
    t3 = predict_patient({**rec, "size_category": "T3"}, population, therapies=[], draws=0)
    assert _at(t3, "surgery only", "distant", 10) < _at(t1, "surgery only", "distant", 10)
    np.testing.assert_array_equal(p(tumour_size="60 mm"), [_at(t3, "surgery only", "distant", y) for y in (5, 10)])


def test_recurrence_free_is_below_distant_metastasis_free(prediction, population):
    c = prediction.curves
    for col in ("estimate", "median", "low", "high"):
        d = c[c["endpoint"] == "distant"][col].to_numpy()
        r = c[c["endpoint"] == "rfs"][col].to_numpy()
        assert np.all(r <= d + 1e-15)
    assert prediction.mortality and population.mortality is not None
    # strictly below at 10 years: a 60-year-old dies of other causes at a visible rate
    assert _at(prediction, "surgery only", "rfs", 10) < _at(prediction, "surgery only", "distant", 10) - 1e-3
    assert np.all((c[["estimate", "median", "low", "high"]] >= 0).all()) and np.all(c["high"] <= 1)
    assert np.all(c["low"] <= c["median"] + 1e-15) and np.all(c["median"] <= c["high"] + 1e-15)
    # curves start at 1 on the day of surgery (to the engine's step: Λ counts from the start of the
    # step containing surgery) and do not rise
    for (_, _), g in c.groupby(["therapy", "endpoint"]):
        assert g["estimate"].iloc[0] == pytest.approx(1.0, abs=1e-6)
        assert np.all(np.diff(g["estimate"].to_numpy()) <= 1e-12)


def test_chemotherapy_helps_and_its_band_contains_its_benefit(prediction):
    for endpoint in ("distant", "rfs"):
        gain = _curve(prediction, "chemotherapy (CMF)", endpoint) - _curve(prediction, "surgery only", endpoint)
        assert np.all(gain >= -1e-12) and gain.max() > 0.01
        for y in (5, 10):
            b = _at(prediction, "chemotherapy (CMF)", endpoint, y, "benefit")
            assert b > 0
            assert _at(prediction, "chemotherapy (CMF)", endpoint, y, "benefit_low") <= b \
                <= _at(prediction, "chemotherapy (CMF)", endpoint, y, "benefit_high")
            # benefit = difference of probabilities at the estimate
            assert b == pytest.approx(_at(prediction, "chemotherapy (CMF)", endpoint, y)
                                      - _at(prediction, "surgery only", endpoint, y), abs=1e-14)
    s = prediction.summary
    ref = s[s["therapy"] == "surgery only"]
    assert (ref[["benefit", "benefit_low", "benefit_high"]] == 0).all().all()


def test_endocrine_therapy_does_nothing_for_er_negative_disease(population, prediction):
    from seedsoil.fit.predict import predict_patient

    neg = predict_patient({**PATIENT, "er": "negative"}, population,
                          therapies=["tamoxifen 5 y", "aromatase inhibitor 5 y", "CMF + tamoxifen",
                                     "chemotherapy (CMF)"],
                          draws=3, seed=3)
    s = neg.summary
    for name in ("tamoxifen 5 y", "aromatase inhibitor 5 y"):
        assert (s[s["therapy"] == name][["benefit", "benefit_low", "benefit_high"]] == 0).all().all()
        for endpoint in ("distant", "rfs"):
            np.testing.assert_array_equal(_curve(neg, name, endpoint), _curve(neg, "surgery only", endpoint))
    np.testing.assert_array_equal(_curve(neg, "CMF + tamoxifen", "distant"),
                                  _curve(neg, "chemotherapy (CMF)", "distant"))
    assert neg.notes and "ER-negative" in neg.notes[0]
    # ... and helps ER-positive disease
    assert _at(prediction, "tamoxifen 5 y", "distant", 10, "benefit") > 0.01


def test_draws_are_paired_and_seeded(population, prediction):
    from seedsoil.fit.predict import predict_patient

    other = predict_patient(PATIENT, population, therapies=["chemotherapy (CMF)"], draws=8, seed=3)
    for col in ("estimate", "median", "low", "high"):
        np.testing.assert_array_equal(_curve(other, "surgery only", "distant", col),
                                      _curve(prediction, "surgery only", "distant", col))
        np.testing.assert_array_equal(_curve(other, "chemotherapy (CMF)", "rfs", col),
                                      _curve(prediction, "chemotherapy (CMF)", "rfs", col))
    reseeded = predict_patient(PATIENT, population, therapies=[], draws=8, seed=4)
    assert not np.array_equal(_curve(reseeded, "surgery only", "distant", "low"),
                              _curve(prediction, "surgery only", "distant", "low"))
    np.testing.assert_array_equal(_curve(reseeded, "surgery only", "distant"),
                                  _curve(prediction, "surgery only", "distant"))  # the estimate is not drawn
    # paired: the band of the benefit is narrower than the band of either probability
    w_b = _at(prediction, "chemotherapy (CMF)", "distant", 10, "benefit_high") - \
        _at(prediction, "chemotherapy (CMF)", "distant", 10, "benefit_low")
    w_p = _at(prediction, "surgery only", "distant", 10, "high") - _at(prediction, "surgery only", "distant", 10, "low")
    assert w_b < w_p


def test_prediction_equals_fitted_population_survival(population, prediction):
    from seedsoil.fit.mechanistic import TherapyRule
    from seedsoil.fit.predict import THERAPY_OPTIONS

    grid = prediction.curves.query("therapy == 'surgery only' and endpoint == 'distant'")["day"].to_numpy()
    row = pd.DataFrame([{"tumour_size": 25.0, "positive_nodes": 3, "grade": 2, "er": "positive", "menopause": "post",
                         "age": 60.0, "chemotherapy": True, "hormonal_therapy": False}])
    rule = TherapyRule("chemotherapy", dict(THERAPY_OPTIONS["chemotherapy (CMF)"][0]))
    treated = dataclasses.replace(population, spec=dataclasses.replace(
        population.spec, model=dataclasses.replace(population.model, therapies=(rule,))))
    a = 0.025
    for endpoint in ("distant", "rfs"):
        direct = population.survival(row, grid, endpoint=endpoint, draws=8, seed=3)  # no rule: surgery only
        np.testing.assert_allclose(_curve(prediction, "surgery only", endpoint), direct[0, 0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(_curve(prediction, "surgery only", endpoint, "low"),
                                   np.quantile(direct[1:, 0], a, axis=0), rtol=1e-12, atol=1e-15)
        chemo = treated.survival(row, grid, endpoint=endpoint, draws=8, seed=3)
        np.testing.assert_allclose(_curve(prediction, "chemotherapy (CMF)", endpoint), chemo[0, 0], rtol=1e-12,
                                   atol=1e-15)
        np.testing.assert_allclose(_at(prediction, "chemotherapy (CMF)", endpoint, 10, "benefit_high"),
                                   np.quantile(chemo[1:, 0, -1] - direct[1:, 0, -1], 1 - a), rtol=1e-10, atol=1e-15)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("edit, field", [
    ({"positive_nodes": -1}, "patient.positive_nodes"),
    ({"positive_nodes": 2.5}, "patient.positive_nodes"),
    ({"grade": 4}, "patient.grade"),
    ({"er": "maybe"}, "patient.er"),
    ({"tumour_size": "25 kg"}, "patient.tumour_size"),
    ({"tumour_size": "400 mm"}, "patient.tumour_size"),
    ({"age": "150 year"}, "patient.age"),
    ({"menopause": "peri"}, "patient.menopause"),
    ({"size_category": "T5", "tumour_size": None}, "patient.size_category"),
    ({"tumour_size": None}, "patient.tumour_size"),
    ({"positive_nodes": None}, "patient.positive_nodes"),  # the population links shedding to nodes
    ({"age": None}, "patient.age"),  # the population's other-cause mortality needs it
    ({"nodes": 3}, "patient.nodes"),
])
def test_bad_records_name_the_field(population, edit, field):
    from seedsoil.fit.predict import predict_patient

    rec = {k: v for k, v in {**PATIENT, **edit}.items() if v is not None}
    with pytest.raises(ScenarioError) as e:
        predict_patient(rec, population, therapies=[], draws=0)
    assert e.value.field == field
    assert field.split(".")[1] in str(e.value)


def test_bad_options_name_the_field(population):
    from seedsoil.fit.predict import predict_patient

    with pytest.raises(ScenarioError, match="not a standard option") as e:
        predict_patient(PATIENT, population, therapies=["chemo"], draws=0)
    assert e.value.field == "therapy"
    with pytest.raises(ScenarioError) as e:
        predict_patient(PATIENT, population, therapies={"mine": {"kind": "endocrine", "agent": "raloxifene"}}, draws=0)
    assert e.value.field.startswith("therapy") and "raloxifene" in str(e.value)
    for kw, field in (({"horizon_years": 0}, "horizon"), ({"draws": -1}, "draws"), ({"level": 1.5}, "level")):
        with pytest.raises(ScenarioError) as e:
            predict_patient(PATIENT, population, therapies=[], **kw)
        assert e.value.field == field
    with pytest.raises(ScenarioError) as e:
        predict_patient(PATIENT, "no_such_population", therapies=[])
    assert e.value.field == "population"


def test_own_therapy_tables_are_options(population):
    from seedsoil.fit.predict import THERAPY_OPTIONS, predict_patient

    own = predict_patient(PATIENT, population, therapies={"my CMF": dict(THERAPY_OPTIONS["chemotherapy (CMF)"][0])},
                          draws=0)
    std = predict_patient(PATIENT, population, therapies=["chemotherapy (CMF)"], draws=0)
    assert own.options == ["surgery only", "my CMF"]
    np.testing.assert_array_equal(_curve(own, "my CMF", "rfs"), _curve(std, "chemotherapy (CMF)", "rfs"))


# ----------------------------------------------------------------------------- report and CLI
def test_report_renders_in_headless_chromium(prediction, tmp_path):
    from seedsoil.report.predict import write_prediction_report
    from seedsoil.testing import chromium, render_in_chromium

    path = write_prediction_report(prediction, tmp_path)
    text = path.read_text()
    assert prediction.population_label.split(" (")[0] in text and "chemotherapy (CMF)" in text
    assert 'id="fig-curves"' in text and "figure could not be drawn" not in text and "http" not in text.split(
        "</style>")[1].replace("http://www.w3.org", "")
    if chromium() is None:
        pytest.skip("chromium is not installed (CI installs it in .ci/run; locally: apt-get install chromium)")
    page = render_in_chromium(path, tmp_path, timeout_s=CHROMIUM_TIMEOUT_S)
    assert not page.console_errors, "\n".join(page.console_errors)
    assert page.pixels.std() > 0.05, "the screenshot is blank"
    assert page.non_white_fraction > 0.03


def test_cli_writes_the_files_and_rejects_bad_values(population_file, tmp_path):
    out = tmp_path / "pred"
    base = [sys.executable, "-m", "seedsoil.cli", "predict", "--population", str(population_file), "--age", "60",
            "--size", "25 mm", "--nodes", "3", "--grade", "2", "--er", "positive", "--menopause", "post"]
    r = subprocess.run(base + ["--therapy", "chemotherapy (CMF)", "--draws", "2", "--horizon", "6", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "chemotherapy (CMF)" in r.stdout and "surgery only" in r.stdout
    for name in ("curves.csv", "summary.csv", "prediction.json", "report.html"):
        assert (out / name).is_file()
    d = json.loads((out / "prediction.json").read_text())
    assert d["draws"] == 2 and d["population"]["name"] == "small" and d["record"]["tumour_size"] == 25.0
    s = pd.read_csv(out / "summary.csv")
    assert set(s["therapy"]) == {"surgery only", "chemotherapy (CMF)"} and set(s["years"]) == {5.0}
    bad = [a if a != "3" else "-2" for a in base]
    r = subprocess.run(bad, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "positive_nodes" in r.stderr and "--nodes" in r.stderr
    assert "[0, 100]" in r.stderr
