"""Patient covariates (the clinic's record) and their links (seedsoil.body.covariates).

Each link form changes its target as its equation says (closed forms); the package's
neutral links leave every parameter as it was; bad values are one-line ScenarioErrors
(exit code 2 from the CLI); a user's links file changes the patient without engine
changes and enters the content hash; populations draw the record reproducibly and
independently of chunking; the node observation model is a normalised negative binomial
whose maximum over shedding.rate recovers the rate that made the counts.
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from seedsoil.body.covariates import (COVARIATES, default_links, positive_nodes_log_likelihood, read_links,
                                      shed_before_surgery, t_stage)
from seedsoil.body.model import build_inputs
from seedsoil.cohort.population import parse_population
from seedsoil.cohort.trial import chunk_patients, trial_from_dict
from seedsoil.errors import ScenarioError
from seedsoil.params import load_library
from seedsoil.patient import positive_nodes_log_likelihood as patient_node_ll
from seedsoil.scenario import Scenario, default_scenario, load_scenario

LIB = load_library()
REPO = Path(__file__).resolve().parents[1]
DEFAULT_LINKS = tomllib.loads((REPO / "src/seedsoil/params/covariate_links.toml").read_text(encoding="utf-8"))
RECORD = {"positive_nodes": 4, "grade": 3, "er": "positive", "pr": "negative", "menopause": "post",
          "age": "61 year"}


def links_toml(**links) -> str:
    """A links file: the package's observation model plus the given [link.<name>] tables."""
    lines = []
    for key in ("kappa", "exponent", "dispersion"):
        c = DEFAULT_LINKS["observation"]["positive_nodes"][key]
        lines += [f"[observation.positive_nodes.{key}]", f"value = {c['value']!r}", 'source = "test"', ""]
    for name, spec in links.items():
        lines.append(f"[link.{name}]")
        for k, v in spec.items():
            if k == "beta":
                continue
            lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
        beta = spec.get("beta")
        if isinstance(beta, dict):
            for cat, val in beta.items():
                lines += [f'[link.{name}.beta."{cat}"]', f"value = {val!r}", 'source = "test"']
        elif beta is not None:
            value, unit = beta if isinstance(beta, tuple) else (beta, "")
            lines += [f"[link.{name}.beta]", f"value = {value!r}", f'unit = "{unit}"', 'source = "test"']
        lines.append("")
    return "\n".join(lines)


def with_links(tmp_path: Path, text: str, patient: dict, extra: dict | None = None, name="links.toml") -> Scenario:
    (tmp_path / name).write_text(text, encoding="utf-8")
    data = {"patient": {"links": str(tmp_path / name), **patient}, **(extra or {})}
    return Scenario.from_dict(data)


# --------------------------------------------------------------------------- without [patient]: nothing changes
def test_default_scenario_hash_is_unchanged_without_patient():
    sc = default_scenario()
    assert "patient" not in sc.to_dict() and sc.patient is None
    # the content hash of the all-defaults scenario before [patient] existed (update it only when the
    # library's defaults change on purpose)
    assert sc.content_hash() == "66182fd0403e030c967cb9568eb93a69f688418756f324225f65d64b371845fe"


def test_breast_example_hash_is_unchanged(breast_example):
    assert load_scenario(breast_example).content_hash() == \
        "9c51e8d8bb484f1cfdb85e42d0f6830afd7a37a0e83044d1f0a464a10953df3c"


# --------------------------------------------------------------------------- the package's links
def test_neutral_links_leave_every_parameter_unchanged():
    base = Scenario.from_dict({"surgery": {"primary_diameter": "2 cm"}})
    sc = Scenario.from_dict({"surgery": {"primary_diameter": "2 cm"}, "patient": RECORD})
    assert dict(sc.parameters) == dict(base.parameters)
    assert sc.surgery == base.surgery
    # but the record is part of the scenario, and of its hash
    assert sc.content_hash() != base.content_hash()
    assert sc.patient.values() == {"positive_nodes": 4, "grade": 3, "er": "positive", "pr": "negative",
                                   "menopause": "post", "age": 61.0}


def test_every_default_coefficient_has_a_source_and_unknown_ones_are_neutral():
    links = default_links()
    for link in links.links:
        for c in link.coefficients():
            assert c.source.strip()
            if c.source.startswith("assumption: neutral"):
                assert c.value == 0.0, c.name
    assert {l.covariate for l in links.links} >= {"tumour_size", "grade", "positive_nodes", "er", "pr",
                                                  "menopause", "age"}


def test_size_sets_the_surgery_diameter_replacing_a_day_trigger():
    sc = Scenario.from_dict({"surgery": {"day": 400, "delay": "2 week"}, "patient": {"tumour_size": "3.1 cm"}})
    assert sc.surgery.primary_diameter == pytest.approx(31.0) and sc.surgery.day is None
    assert sc.surgery.delay == 14.0
    # without a [surgery], the size at surgery makes one
    sc = Scenario.from_dict({"patient": {"tumour_size": 12}})
    assert sc.surgery.primary_diameter == 12.0
    # and the engine's inputs follow: surgery when the primary reaches 12 mm
    inputs = build_inputs(sc.with_settings(simulation={"follow_up": 30}))
    law = inputs.primary_law
    from seedsoil.units import sphere_cells
    assert inputs.schedule.surgery_day == pytest.approx(law.time_to(1.0, sphere_cells(12.0, 1e5)))
    # round trip
    again = Scenario.from_dict(sc.to_dict())
    assert again == sc and again.content_hash() == sc.content_hash()


def test_t_stage_categories():
    assert [t_stage(x) for x in (5, 20, 20.5, 50, 50.1)] == ["T1", "T1", "T2", "T2", "T3"]


# --------------------------------------------------------------------------- each form, closed form
def test_log_linear_identity_with_reference_and_unit(tmp_path):
    text = links_toml(age={"covariate": "age", "target": "dormancy.activation_rate", "form": "log_linear",
                           "reference": "55 year", "beta": (0.24, "1/decade")})
    sc = with_links(tmp_path, text, {"age": "65 year"})
    base = LIB["dormancy.activation_rate"].value
    # beta = 0.24 per decade = 0.024 per year; 10 years above the reference
    assert sc["dormancy.activation_rate"] == pytest.approx(base * math.exp(0.024 * 10), rel=1e-12)
    assert with_links(tmp_path, text, {"age": 55})["dormancy.activation_rate"] == pytest.approx(base, rel=1e-12)


def test_log_linear_log1p_of_nodes(tmp_path):
    text = links_toml(n={"covariate": "positive_nodes", "target": "shedding.rate", "form": "log_linear",
                         "transform": "log1p", "beta": 0.5})
    for nodes in (0, 3, 15):
        sc = with_links(tmp_path, text, {"positive_nodes": nodes})
        assert sc["shedding.rate"] == pytest.approx(0.032 * (1 + nodes) ** 0.5, rel=1e-12)


def test_per_category_and_factors_multiply(tmp_path):
    text = links_toml(
        g={"covariate": "grade", "target": "primary.gompertz.rate_constant", "form": "per_category",
           "beta": {"1": -0.2, "2": 0.0, "3": 0.4}},
        e={"covariate": "er", "target": "primary.gompertz.rate_constant", "form": "per_category",
           "beta": {"negative": 0.1, "positive": 0.0}},
        t={"covariate": "t_stage", "target": "shedding.rate", "form": "per_category",
           "beta": {"T1": 0.0, "T2": 0.7, "T3": 1.0}})
    a = LIB["primary.gompertz.rate_constant"].value
    for grade, beta in ((1, -0.2), (2, 0.0), (3, 0.4)):
        sc = with_links(tmp_path, text, {"grade": grade, "er": "negative"})
        assert sc["primary.gompertz.rate_constant"] == pytest.approx(a * math.exp(beta + 0.1), rel=1e-12)
    sc = with_links(tmp_path, text, {"tumour_size": 30})
    assert sc["shedding.rate"] == pytest.approx(0.032 * math.exp(0.7), rel=1e-12)
    # the factor multiplies the scenario's own value (an override), not the library default
    sc = with_links(tmp_path, text, {"grade": 3}, {"primary": {"gompertz": {"rate_constant": 0.002}}})
    assert sc["primary.gompertz.rate_constant"] == pytest.approx(0.002 * math.exp(0.4), rel=1e-12)
    assert sc.overrides["primary.gompertz.rate_constant"] == 0.002  # to_dict keeps the value before the links
    assert Scenario.from_dict(sc.to_dict()) == sc


def test_set_a_library_parameter_converts_units(tmp_path):
    text = links_toml(s={"covariate": "tumour_size", "target": "detection.metastasis_diameter", "form": "set",
                         "source": "test"})
    sc = with_links(tmp_path, text, {"tumour_size": "0.8 cm"}, {"surgery": {"day": 100}})
    assert sc["detection.metastasis_diameter"] == pytest.approx(8.0)
    assert sc.surgery.day == 100  # this file has no size-at-surgery link


def test_a_link_pushing_a_parameter_out_of_range_names_the_covariate(tmp_path):
    text = links_toml(n={"covariate": "positive_nodes", "target": "shedding.rate", "form": "log_linear",
                         "transform": "log1p", "beta": 8.0})
    with pytest.raises(ScenarioError) as info:
        with_links(tmp_path, text, {"positive_nodes": 40})
    assert info.value.field == "patient.positive_nodes"
    assert "shedding.rate" in str(info.value) and "[0, 1e+09] 1/day" in str(info.value)


# --------------------------------------------------------------------------- a user's links file
def test_user_links_file_changes_the_patient_without_engine_changes(tmp_path):
    text = links_toml(p={"covariate": "pr", "target": "shedding.rate", "form": "per_category",
                         "beta": {"negative": math.log(3.0), "positive": 0.0}})
    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    (tmp_path / "patient.toml").write_text(
        '[surgery]\nprimary_diameter = "2 cm"\n[simulation]\nfollow_up = "30 day"\n'
        '[patient]\npr = "negative"\nlinks = "mine.toml"\n', encoding="utf-8")
    mine = load_scenario(tmp_path / "patient.toml")  # the links path is relative to the scenario file
    package = Scenario.from_dict({"surgery": {"primary_diameter": 20}, "simulation": {"follow_up": 30},
                                  "patient": {"pr": "negative"}})
    assert mine["shedding.rate"] == pytest.approx(3 * package["shedding.rate"], rel=1e-12)
    # what the engines receive: three times the cells shed by the primary, step by step
    a, b = build_inputs(mine), build_inputs(package)
    np.testing.assert_allclose(a.shed_primary, 3 * b.shed_primary, rtol=1e-12)
    # the links' definition is in the hash
    assert mine.content_hash() != package.content_hash()
    again = Scenario.from_dict(mine.to_dict())
    assert again == mine and again.content_hash() == mine.content_hash()
    # rewriting the file after loading: the stored scenario no longer validates
    (tmp_path / "mine.toml").write_text(text.replace(repr(math.log(3.0)), "0.5"), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(mine.to_dict())
    assert info.value.field == "patient.links_sha256"
    # notes and sources do not change the definition
    (tmp_path / "mine.toml").write_text(text.replace('source = "test"', 'source = "another"'), encoding="utf-8")
    assert Scenario.from_dict(mine.to_dict()).content_hash() == mine.content_hash()


@pytest.mark.parametrize("link, field, words", [
    ({"covariate": "grade", "target": "shedding.rate", "form": "squared"}, "link.x.form", ["log_linear"]),
    ({"covariate": "grad", "target": "shedding.rate", "form": "per_category"}, "link.x.covariate", ["'grade'"]),
    ({"covariate": "grade", "target": "shedding.rat", "form": "per_category"}, "link.x.target", ["shedding.rate"]),
    ({"covariate": "grade", "target": "shedding.rate", "form": "log_linear", "beta": 1.0}, "link.x",
     ["per_category"]),
    ({"covariate": "grade", "target": "shedding.rate", "form": "per_category", "beta": {"1": 0.0, "2": 0.0}},
     "link.x.beta", ["'3' is missing"]),
    ({"covariate": "age", "target": "surgery.primary_diameter", "form": "set", "source": "x"}, "link.x",
     ["year", "mm"]),
    ({"covariate": "age", "target": "shedding.rate", "form": "log_linear", "beta": (0.1, "mm")}, "link.x.beta.unit",
     ["1/year"]),
])
def test_bad_links_files_name_the_entry(tmp_path, link, field, words):
    (tmp_path / "bad.toml").write_text(links_toml(x=link), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        read_links(tmp_path / "bad.toml")
    assert info.value.field.endswith(field), (info.value.field, str(info.value))
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_a_coefficient_without_source_is_refused(tmp_path):
    text = links_toml(a={"covariate": "age", "target": "shedding.rate", "form": "log_linear", "beta": 0.0})
    head, _, tail = text.rpartition('source = "test"')  # the last one: link a's beta
    (tmp_path / "nosrc.toml").write_text(head + tail, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        read_links(tmp_path / "nosrc.toml")
    assert info.value.field == "link.a.beta.source" and "nosrc.toml" in str(info.value)


# --------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("patient, field, words", [
    ({"tumour_size": "40 cm"}, "patient.tumour_size", ["'40 cm'", "(0, 300] mm"]),
    ({"tumour_size": "3 day"}, "patient.tumour_size", ["'3 day'", "mm"]),
    ({"age": "130 year"}, "patient.age", ["'130 year'", "[0, 120] year"]),
    ({"age": -4}, "patient.age", ["-4", "[0, 120] year"]),
    ({"positive_nodes": 2.5}, "patient.positive_nodes", ["2.5", "whole number in [0, 100]"]),
    ({"positive_nodes": -1}, "patient.positive_nodes", ["-1", "[0, 100]"]),
    ({"grade": 4}, "patient.grade", ["4", "1, 2, 3"]),
    ({"er": "maybe"}, "patient.er", ["'maybe'", "'negative', 'positive'", "fmol/mg"]),
    ({"pr": "-3 fmol/mg"}, "patient.pr", ["'-3 fmol/mg'", ">= 0 fmol/mg"]),
    ({"menopause": "peri"}, "patient.menopause", ["'peri'", "'pre', 'post'"]),
    ({"grad": 2}, "patient.grad", ["did you mean 'grade'"]),
    ({"links": 3}, "patient.links", ["path"]),
])
def test_bad_record_values_are_one_line_errors(patient, field, words):
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict({"patient": patient})
    msg = str(info.value)
    assert info.value.field == field and msg.startswith(field) and "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_receptor_level_is_read_as_its_status():
    sc = Scenario.from_dict({"patient": {"er": "35 fmol/mg", "pr": "9.9 fmol/mg"}})
    assert (sc.patient.er, sc.patient.pr) == ("positive", "negative")
    assert Scenario.from_dict({"patient": {"er": "10 fmol/mg"}}).patient.er == "positive"


def test_missing_links_file_is_a_scenario_error():
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict({"patient": {"links": "/no/such/links.toml"}})
    assert info.value.field == "patient.links"


def test_cli_bad_record_exits_2_without_traceback(cli, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[surgery]\nprimary_diameter = "2 cm"\n[patient]\nage = "130 year"\n', encoding="utf-8")
    res = cli("run", str(path), "--out", str(tmp_path / "out"))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert "patient.age" in res.stderr + res.stdout and "[0, 120] year" in res.stderr + res.stdout


# --------------------------------------------------------------------------- positive nodes
def test_node_log_likelihood_normalises_and_has_the_declared_mean():
    nodes = default_links().nodes
    for shed in (1e8, 1.9e9, 2e10):
        n = np.arange(0, 20000)
        p = np.exp(nodes.log_likelihood(n, shed))
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        m = nodes.kappa.value * shed ** nodes.exponent.value
        assert (n * p).sum() == pytest.approx(m, rel=1e-9)
        r = nodes.dispersion.value
        assert ((n - m) ** 2 * p).sum() == pytest.approx(m + m * m / r, rel=1e-6)
    # no shedding: no positive nodes
    assert positive_nodes_log_likelihood(0, 0.0, 1e-9, 1.0, 0.4) == 0.0
    assert positive_nodes_log_likelihood(1, 0.0, 1e-9, 1.0, 0.4) == -math.inf


def test_node_counts_recover_the_shedding_rate_that_made_them():
    """S (cells shed before surgery) is linear in shedding.rate when shedding.exponent = 1, so the
    mean node count is kappa * rate * A; for a negative binomial of known dispersion the maximum
    likelihood mean is the sample mean: rate_hat = mean(n) / (kappa * A)."""
    sc = Scenario.from_dict({"surgery": {"primary_diameter": "2.5 cm"}, "simulation": {"follow_up": 30},
                             "patient": {"positive_nodes": 3}})
    rate = sc["shedding.rate"]
    inputs = build_inputs(sc)
    shed = shed_before_surgery(inputs)
    area = float(np.sum(inputs.shed_primary[inputs.t[:-1] < inputs.schedule.surgery_day])) / rate
    assert shed == pytest.approx(rate * area, rel=1e-12)
    # linear in the rate: the engine's own inputs at twice the rate
    assert shed_before_surgery(build_inputs(sc.with_parameters(shedding__rate=2 * rate))) == \
        pytest.approx(2 * shed, rel=1e-12)
    nodes = default_links().nodes
    kappa, r = nodes.kappa.value, nodes.dispersion.value
    true_rate = 0.05
    m = kappa * true_rate * area
    counts = stats.nbinom.rvs(r, r / (r + m), size=20000, random_state=np.random.default_rng(20240612))

    def nll(log_rate):
        return -np.sum(positive_nodes_log_likelihood(counts, math.exp(log_rate) * area, kappa, 1.0, r))

    fit = optimize.minimize_scalar(nll, bounds=(math.log(1e-4), math.log(10.0)), method="bounded",
                                   options={"xatol": 1e-10})
    rate_hat = math.exp(fit.x)
    assert rate_hat == pytest.approx(counts.mean() / (kappa * area), rel=1e-6)  # the closed form
    se = math.sqrt((m + m * m / r) / len(counts)) / (kappa * area)
    assert abs(rate_hat - true_rate) < 5 * se
    # one patient's own count, through the scenario (her record's node count)
    ll = patient_node_ll(sc)
    assert ll == pytest.approx(float(stats.nbinom.logpmf(3, r, r / (r + kappa * shed))), rel=1e-12)
    assert patient_node_ll(sc, nodes=0) != ll


# --------------------------------------------------------------------------- populations
POP = {"covariates": {
    "tumour_size": {"distribution": "lognormal", "median": "2.5 cm", "sigma": 0.46, "truncate": ["3 mm", "120 mm"]},
    "positive_nodes": {"distribution": "negative_binomial", "mean": 2.83, "size": 0.4, "truncate": [0, 51]},
    "grade": {"distribution": "categorical", "values": [1, 2, 3], "probabilities": [0.12, 0.65, 0.23]},
    "er": {"distribution": "categorical", "values": ["negative", "positive"], "probabilities": [0.28, 0.72]},
    "age": {"distribution": "normal", "mean": "53 year", "sd": "10 year", "truncate": ["21 year", "80 year"]},
}}


def test_population_draws_record_covariates_in_their_units():
    n = 20000
    pop = parse_population(POP)
    d = pop.draw(11, np.arange(n))
    size = d["tumour_size"].astype(float)
    assert size.min() >= 3 and size.max() <= 120
    assert abs(np.median(np.log(size)) - math.log(25.0)) < 5 * 0.46 * math.sqrt(math.pi / 2 / n)
    nodes = d["positive_nodes"].astype(float)
    assert np.all(nodes == np.round(nodes)) and nodes.max() <= 51
    ref = stats.nbinom(0.4, 0.4 / (0.4 + 2.83))
    assert abs(np.mean(nodes == 0) - ref.pmf(0) / ref.cdf(51)) < 5 * math.sqrt(0.5 * 0.5 / n)
    assert abs(np.mean(d["grade"] == 3) - 0.23) < 5 * math.sqrt(0.23 * 0.77 / n)
    over = pop.patient_parameters(d, 0)
    assert set(over) == {f"patient.{k}" for k in POP["covariates"]}
    assert isinstance(over["patient.positive_nodes"], int) and isinstance(over["patient.grade"], int)
    assert [v.column for v in pop.variables] == [f"cov_{k}" for k in sorted(POP["covariates"])]  # sorted: draw order


@pytest.mark.parametrize("name, spec, words", [
    ("grade", {"distribution": "categorical", "values": [1, 4], "probabilities": [0.5, 0.5]}, ["1, 2, 3"]),
    ("age", {"distribution": "normal", "mean": "50 year", "sd": "10 year"}, ["truncate", "year"]),
    ("positive_nodes", {"distribution": "uniform", "low": 0, "high": 5}, ["whole number", "negative_binomial"]),
    ("tumour_size", {"distribution": "lognormal", "median": "2 h", "sigma": 0.5}, ["mm"]),
    ("er", {"distribution": "categorical", "values": ["yes", "no"], "probabilities": [0.5, 0.5]}, ["'positive'"]),
])
def test_population_record_covariates_are_checked(name, spec, words):
    with pytest.raises(ScenarioError) as info:
        parse_population({"covariates": {name: spec}})
    assert info.value.field.startswith(f"population.covariates.{name}")
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def clinic_trial(tmp_path, chunk_size, links_text=None, **extra):
    data = tomllib.loads((REPO / "examples" / "trial_clinic.toml").read_text(encoding="utf-8"))
    data["trial"].update(patients=12, chunk_size=chunk_size, scenario=str(REPO / "examples" / "breast_surgery.toml"))
    data["simulation"] = {"follow_up": "1 year"}
    # the record and its links on their own: the example's fitted population (its own links and
    # draws) is tested in tests/test_population_fitted.py
    data["population"].pop("fitted", None)
    if links_text is not None:
        (tmp_path / "links.toml").write_text(links_text, encoding="utf-8")
        data["patient"] = {"links": "links.toml"}  # relative to the trial file's folder
    data.update(extra)
    return trial_from_dict(data, base_dir=tmp_path)


def test_trial_example_loads_and_patients_carry_their_record(tmp_path):
    trial = clinic_trial(tmp_path, 5)
    for i in range(12):
        sc = trial.patient_scenario(i)
        assert sc.surgery.primary_diameter == pytest.approx(sc.patient.tumour_size)
        assert dict(sc.parameters) == dict(trial.arms[0][1].parameters)  # the package's links are neutral
    rows = [(i, arm, cols) for i, arm, _, cols in chunk_patients(trial, 0)]
    cols = rows[0][2]
    assert {"cov_tumour_size", "cov_t_stage", "cov_positive_nodes", "cov_grade", "cov_er", "cov_menopause",
            "cov_age"} <= set(cols)
    assert cols["cov_t_stage"] == t_stage(cols["cov_tumour_size"]) and cols["cov_positive_nodes"] >= 1


def test_population_record_acts_through_a_trials_links_and_keeps_sampled_parameters(tmp_path):
    beta = {"1": -0.3, "2": 0.0, "3": 0.5}
    text = links_toml(g={"covariate": "grade", "target": "primary.gompertz.rate_constant",
                         "form": "per_category", "beta": beta},
                      s={"covariate": "tumour_size", "target": "surgery.primary_diameter", "form": "set",
                         "source": "test"})
    pop = {"parameters": {"primary.gompertz.rate_constant": {
        "distribution": "uniform", "low": "0.0015 / day", "high": "0.0019 / day"}}}
    trial = clinic_trial(tmp_path, 5, links_text=text)
    spec_pop = trial.spec["population"]
    trial = clinic_trial(tmp_path, 5, links_text=text, population={**spec_pop, **pop})
    grades = set()
    for i in range(12):
        sc = trial.patient_scenario(i, "IL-1b mimetic 12 months")
        g = sc.patient.grade
        grades.add(g)
        a = sc.overrides["primary.gompertz.rate_constant"]  # her sampled rate, before the links
        assert 0.0015 <= a <= 0.0019
        assert sc["primary.gompertz.rate_constant"] == pytest.approx(a * math.exp(beta[str(g)]), rel=1e-12)
        assert sc.patient.links.endswith("links.toml")
        assert Scenario.from_dict(sc.to_dict()) == sc  # her scenario, written out, is her
    assert len(grades) >= 2
    # the links' definition is part of the trial's hash
    other = clinic_trial(tmp_path, 5, links_text=text.replace("0.5", "0.6"), population={**spec_pop, **pop})
    assert other.content_hash() != trial.content_hash()


def test_trial_patients_do_not_depend_on_chunking(tmp_path):
    a, b = clinic_trial(tmp_path, 3), clinic_trial(tmp_path, 8)

    def rows(trial):
        out = {}
        for c in range(trial.n_chunks):
            for i, arm, inputs, cols in chunk_patients(trial, c):
                out[(i, arm)] = (inputs.par.tolist(), inputs.schedule.surgery_day, cols)
        return out

    ra, rb = rows(a), rows(b)
    assert ra.keys() == rb.keys() and len(ra) == 24
    assert ra == rb
    # and the same seed gives the same patients again; another seed, other patients
    assert rows(clinic_trial(tmp_path, 3)) == ra
    c = a.with_options(seed=7)
    assert rows(c) != ra
