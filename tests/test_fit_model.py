"""The mechanistic cohort fit (seedsoil.fit: likelihood, mechanistic, mortality, estimate, spec,
run, fitted): the mixture likelihood against direct integration, its gradient, the solves it
shares between patients against each patient's own solve, Gompertz recovery, resumable
maximum likelihood, the posterior against the Laplace approximation, and the fit file's errors."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from seedsoil.errors import ScenarioError
from seedsoil.fit.estimate import EvaluationLog, fit_mle, sample_posterior
from seedsoil.fit.likelihood import mixture_loglik, mixture_survival, normal_nodes
from seedsoil.fit.mechanistic import (CohortLikelihood, FreeParameter, GrowthEffect, MechanisticModel, ShedLink,
                                      SolveLink, predict_cumulative)
from seedsoil.fit.mortality import cumulative_hazard, fit_gompertz
from seedsoil.testing import SMALL_FIT_FILE as _SMALL


# ----------------------------------------------------------------------------- the likelihood
def _direct(c0, c1, event, log_m, sigma, v):
    """The mixture likelihood by adaptive quadrature over z (scipy), one patient at a time."""
    out = []
    for i in range(len(event)):
        tot = 0.0
        for k in range(len(v)):
            if event[i]:
                def g(z):
                    r = math.exp(log_m[i] + sigma * z)
                    return stats.norm.pdf(z) * (math.exp(-r * c0[i, k]) - math.exp(-r * c1[i, k]))
            else:
                def g(z):
                    return stats.norm.pdf(z) * math.exp(-math.exp(log_m[i] + sigma * z) * c1[i, k])
            tot += v[k] * integrate.quad(g, -12, 12, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        out.append(math.log(tot))
    return np.array(out)


def test_mixture_likelihood_equals_direct_integration():
    rng = np.random.default_rng(1)
    n, K = 12, 3
    c1 = rng.uniform(0.05, 3.0, (n, K))
    c0 = c1 * rng.uniform(0.2, 0.95, (n, K))
    ev = np.arange(n) % 2 == 0
    log_m = rng.normal(0.0, 0.5, n)
    v = np.array([0.25, 0.5, 0.25])
    ll = mixture_loglik(c0, c1, ev, log_m, 0.7, v, nodes=64)
    np.testing.assert_allclose(ll, _direct(c0, c1, ev, log_m, 0.7, v), rtol=1e-7, atol=1e-9)


def test_mixture_gradient_is_exact_and_extremes_are_finite():
    rng = np.random.default_rng(2)
    n, K = 40, 5
    c1 = rng.exponential(1e-3, (n, K))
    c0 = c1 * rng.uniform(0, 1, (n, K))
    c0[3] = 0.0  # relapse in the first interval after surgery
    ev = rng.uniform(size=n) < 0.5
    log_m = rng.normal(5.0, 3.0, n)
    log_m[0] = 60.0  # a huge multiplier: censored → −∞-free (very negative), relapse → near 0
    w = normal_nodes(K)[1]
    ll, gm, gs = mixture_loglik(c0, c1, ev, log_m, 2.0, w, nodes=48, gradient=True)
    assert np.all(np.isfinite(ll)) and np.all(ll <= 1e-12)
    h = 1e-6
    num_m = (mixture_loglik(c0, c1, ev, log_m + h, 2.0, w, nodes=48)
             - mixture_loglik(c0, c1, ev, log_m - h, 2.0, w, nodes=48)) / (2 * h)
    num_s = (mixture_loglik(c0, c1, ev, log_m, 2.0 + h, w, nodes=48)
             - mixture_loglik(c0, c1, ev, log_m, 2.0 - h, w, nodes=48)) / (2 * h)
    np.testing.assert_allclose(gm, num_m, atol=1e-6)
    np.testing.assert_allclose(gs, num_s, atol=1e-6)


def test_without_random_effects_the_likelihood_is_the_poisson_one():
    c1 = np.array([[0.3], [1.2]])
    c0 = np.array([[0.1], [0.7]])
    ev = np.array([True, False])
    ll = mixture_loglik(c0, c1, ev, np.log([2.0, 0.5]), 1e-9, np.ones(1), nodes=8)
    assert ll[0] == pytest.approx(-2.0 * 0.1 + math.log(1 - math.exp(-2.0 * 0.2)), rel=1e-7)
    assert ll[1] == pytest.approx(-0.5 * 1.2, rel=1e-7)
    s = mixture_survival(np.array([[[0.0, 0.3, 1.2]]]), math.log(2.0), 1e-9, np.ones(1))
    np.testing.assert_allclose(s[0], np.exp(-2.0 * np.array([0.0, 0.3, 1.2])), rtol=1e-7)


# ----------------------------------------------------------------------------- other-cause death
def test_gompertz_fit_recovers_a_simulated_law():
    rng = np.random.default_rng(3)
    n, alpha, beta = 4000, -10.0, 0.09
    age = rng.uniform(35, 80, n)
    # invert H(a0, t) = E: t = log(1 + E β e^-(α+βa0)) / β years
    e = rng.exponential(size=n)
    t_death = np.log1p(e * beta * np.exp(-(alpha + beta * age))) / beta * 365.25
    cens = rng.uniform(0, 15 * 365.25, n)
    days, death = np.minimum(t_death, cens), t_death <= cens
    fit = fit_gompertz(age, days, death)
    se = np.sqrt(np.diag(fit.covariance))
    assert abs(fit.alpha - alpha) < 3 * se[0]
    assert abs(fit.beta - beta) < 3 * se[1]
    assert fit.doubling_years == pytest.approx(math.log(2) / fit.beta)
    # the cumulative hazard is the integral of the hazard
    h = integrate.quad(lambda s: math.exp(alpha + beta * (60 + s)), 0, 5)[0]
    assert cumulative_hazard(alpha, beta, np.array([60.0]), np.array([5 * 365.25]))[0] == pytest.approx(h, rel=1e-10)
    with pytest.raises(ValueError, match="too few"):
        fit_gompertz(age[:5], days[:5], np.zeros(5, bool))


# ----------------------------------------------------------------------------- the model on data
@pytest.fixture(scope="module")
def cohort():
    from seedsoil import data

    df = data.rotterdam_untreated()
    return df.iloc[::7].reset_index(drop=True)  # 299 patients, every size category and grade


def _model(growth=True):
    from seedsoil.scenario import default_scenario

    base = default_scenario().with_overrides({"colony.law": "gompertz"})
    return MechanisticModel(
        base, free=(FreeParameter("dormancy.activation_rate", 1e-7, 1e-2, 5e-6),),
        growth=GrowthEffect("colony.gompertz.rate_constant", 0.4, nodes=3) if growth else None,
        solve_links=(SolveLink("grade", "grade", reference=2.0),) if growth else (),
        shed_links=(ShedLink("nodes", "positive_nodes"),), shedding_nodes=24)


def test_shared_group_solves_equal_each_patients_own_solve(cohort):
    from seedsoil.body.relapse import cumulative_hazard as engine_cum

    m = _model()
    lik = CohortLikelihood(m, cohort, "recurrence_days", "recurrence_event")
    theta = np.array([math.log(5e-6), math.log(0.4), 0.3])
    c0, c1 = lik.cumulative(theta)
    z = normal_nodes(3)[0]
    diam = {"T1": 15.0, "T2": 30.0, "T3": 60.0}
    for i in (0, 5, 17, 40):
        row = cohort.iloc[i]
        for k in range(3):
            rate = 0.00172 * math.exp(0.3 * (row["grade"] - 2) + 0.4 * z[k])
            sc = m.scenario.with_overrides({"surgery.primary_diameter": f"{diam[row['size_category']]} mm",
                                            "simulation.follow_up": "21 year",
                                            "dormancy.activation_rate": 5e-6, "colony.gompertz.rate_constant": rate})
            want, _ = engine_cum(sc, np.array([max(row["recurrence_days"], 1.0)]))
            assert c1[i, k] == pytest.approx(want[0], rel=1e-9)
    assert len(lik.groups) <= 6  # 3 sizes x 2 grades share their solves


def test_profile_maximises_over_the_shedding_parameters(cohort):
    lik = CohortLikelihood(_model(), cohort, "recurrence_days", "recurrence_event")
    ts = np.array([math.log(5e-6), math.log(0.4), 0.3])
    v, phi = lik.profile(ts)
    assert lik.loglik(np.concatenate([ts, phi])) == pytest.approx(v, rel=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert lik.loglik(np.concatenate([ts, phi + rng.normal(0, 0.05, phi.size)])) < v


def test_maximum_likelihood_resumes_from_its_log(cohort, tmp_path):
    m = _model(growth=False)
    log = EvaluationLog(tmp_path / "evaluations.jsonl")
    est = fit_mle(CohortLikelihood(m, cohort, "recurrence_days", "recurrence_event"), max_evaluations=12, log=log)
    lines = (tmp_path / "evaluations.jsonl").read_text().splitlines()
    assert 0 < len(lines) <= est.evaluations  # one line per distinct point (Nelder-Mead may revisit one)
    # a torn last line (a crash while writing) is ignored
    (tmp_path / "evaluations.jsonl").write_text("\n".join(lines) + '\n{"x": [1.0')
    log2 = EvaluationLog(tmp_path / "evaluations.jsonl")
    lik2 = CohortLikelihood(m, cohort, "recurrence_days", "recurrence_event")
    est2 = fit_mle(lik2, max_evaluations=12, log=log2)
    assert log2.replayed >= len(lines)
    np.testing.assert_array_equal(est2.theta, est.theta)
    assert est2.loglik == est.loglik
    np.testing.assert_allclose(est2.covariance, est.covariance, rtol=1e-12)


def test_predictions_for_new_patients_use_their_own_size_and_therapy():
    from seedsoil import data

    m = MechanisticModel(_model(growth=False).scenario, shed_links=(ShedLink("nodes", "positive_nodes"),),
                         therapies=(__import__("seedsoil.fit.mechanistic", fromlist=["TherapyRule"]).TherapyRule(
                             "chemotherapy", {"kind": "chemotherapy", "regimen": "CMF", "start": "4 week"}),))
    g = data.load_gbsg().head(4).copy()
    grid = np.array([365.25, 3 * 365.25])
    cum = predict_cumulative(m, np.zeros(0), g, grid)
    untreated = predict_cumulative(m, np.zeros(0), g.assign(chemotherapy=False), grid)
    assert cum.shape == (4, 1, 2)
    assert np.all(cum <= untreated + 1e-15) and np.any(cum < untreated)  # CMF kills growing colonies
    big = g.assign(tumour_size=g["tumour_size"] * 2, chemotherapy=False)
    assert np.all(predict_cumulative(m, np.zeros(0), big, grid)[:, 0, -1] > untreated[:, 0, -1])


# ----------------------------------------------------------------------------- posterior
def test_posterior_agrees_with_laplace_and_resumes_bitwise(cohort, tmp_path):
    """Shedding parameters only (one cached solve) on a cohort simulated from an interior truth:
    with 299 patients the posterior under flat priors is close to normal, so its mean and SD
    match the MLE and the Wald SE; and an interrupted chain continues bitwise."""
    from seedsoil.fit.estimate import simulate_cohort

    m = MechanisticModel(_model(growth=False).scenario, shed_links=(ShedLink("nodes", "positive_nodes"),),
                         shedding_nodes=24)
    ref = CohortLikelihood(m, cohort, "recurrence_days", "recurrence_event")
    _, c1 = ref.cumulative(np.zeros(0))
    truth = np.array([-math.log(np.median(c1)), math.log(0.8), 0.8])
    sim = simulate_cohort(m, truth, cohort, np.full(len(cohort), 4000.0), seed=11)
    assert 0.2 < sim["event"].mean() < 0.9
    lik = CohortLikelihood(m, sim, "time", "event")
    est = fit_mle(lik, max_evaluations=1)
    assert not est.at_bound
    assert np.all(np.abs(est.theta - truth) < 4 * est.se)
    chain, lp, acc = sample_posterior(lik, est, walkers=12, steps=300, seed=5)
    post = chain[80:].reshape(-1, chain.shape[-1])
    assert 0.2 < acc < 0.9
    # mean vs mode: they differ by O(skewness × SE) in a finite sample (log σ's posterior is skewed)
    assert np.all(np.abs(post.mean(0) - est.theta) < 0.5 * est.se)
    np.testing.assert_allclose(post.std(0), est.se, rtol=0.3)
    # importance resampling around the maximum gives the same posterior
    from seedsoil.fit.estimate import importance_sample

    sir, ess, _ = importance_sample(lik, est, proposals=600, keep=300, seed=2)
    assert ess > 100
    assert np.all(np.abs(sir.mean(0) - post.mean(0)) < 0.3 * est.se)
    np.testing.assert_allclose(sir.std(0), post.std(0), rtol=0.3)
    # interrupted at 40 steps then continued: the same chain as one run
    path = tmp_path / "chain.npz"
    a, _, _ = sample_posterior(lik, est, walkers=12, steps=40, seed=5, path=path, checkpoint_every=10)
    b, _, _ = sample_posterior(lik, est, walkers=12, steps=80, seed=5, path=path, checkpoint_every=10)
    np.testing.assert_array_equal(b[:40], a)
    np.testing.assert_array_equal(b, chain[:80])


# ----------------------------------------------------------------------------- fit files


def test_run_fit_writes_a_population_and_resumes(tmp_path):
    from seedsoil.fit.fitted import load_population
    from seedsoil.fit.spec import FitSpec
    from seedsoil.runs import run_fit
    from seedsoil.tomlfile import read_toml

    f = tmp_path / "small.toml"
    f.write_text(_SMALL)
    out = tmp_path / "run"
    res = run_fit(f, out, report_draws=3)
    for name in ("fit.json", "evaluations.jsonl", "estimates.csv", "population.json", "report.html",
                 "predictive_check.csv"):
        assert (out / name).is_file()
    rec = json.loads((out / "fit.json").read_text())
    assert rec["provenance"]["data_sha256"] and rec["provenance"]["seedsoil_version"]
    assert rec["provenance"]["data"].startswith("rotterdam (untreated: 250 patients")
    assert res.mortality is not None and res.mortality.beta > 0
    pop = load_population(out / "population.json")
    np.testing.assert_array_equal(pop.estimate.theta, res.estimate.theta)
    assert "small" in pop.label and "seedsoil" in pop.label
    g = pd.DataFrame({"size_category": ["T1", "T3"], "positive_nodes": [0, 10], "grade": [2, 3], "age": [50.0, 70.0],
                      "er": ["positive", "negative"], "chemotherapy": [False, False], "hormonal_therapy": [False, False]})
    s = pop.survival(g, np.array([365.25, 5 * 365.25]), draws=3, seed=1)
    assert s.shape == (4, 2, 2) and np.all((s >= 0) & (s <= 1))
    assert s[0, 1, 1] < s[0, 0, 1]  # more nodes, larger tumour, older: worse
    lines = len((out / "evaluations.jsonl").read_text().splitlines())
    res2 = run_fit(f, out, report_draws=0)  # rerun: replays every evaluation
    assert len((out / "evaluations.jsonl").read_text().splitlines()) == lines
    np.testing.assert_array_equal(res2.estimate.theta, res.estimate.theta)
    other = FitSpec.from_dict({**read_toml(f, "fit"), "fit": {"name": "other", "seed": 4}})
    with pytest.raises(ScenarioError, match="holds another fit"):
        run_fit(other, out, report_draws=0)


@pytest.mark.parametrize("edit, field", [
    ('range = ["1e-7 1/day", "1e-2 1/day"]', "parameter[0].range"),
    ('name = "dormancy.activation_rate"', "parameter[0].name"),
    ("max_evaluations = 15", "method.max_evaluations"),
    ('subset = "untreated"', "data.subset"),
    ("max_evaluations = 15", "validate.calibration_simulations"),
])
def test_bad_fit_files_name_the_field(tmp_path, edit, field):
    from seedsoil.fit.spec import load_fit

    bad = {"parameter[0].range": 'range = ["1e-2 1/day", "1e-7 1/day"]',
           "parameter[0].name": 'name = "dormancy.activation_rat"',
           "method.max_evaluations": "max_evaluations = 0",
           "data.subset": 'subset = "treated"',
           "validate.calibration_simulations": 'max_evaluations = 15\n[validate]\ncalibration_simulations = -5'}[field]
    f = tmp_path / "bad.toml"
    f.write_text(_SMALL.replace(edit, bad))
    with pytest.raises(ScenarioError) as e:
        load_fit(f)
    assert e.value.field == field
    r = subprocess.run([sys.executable, "-m", "seedsoil.cli", "fit", str(f), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and field.split("[")[0] in r.stderr + r.stdout


# ----------------------------------------------------------------------------- calibration to rate ratios
def test_calibration_reaches_a_published_rate_ratio_or_says_it_cannot(cohort):
    from seedsoil.fit.calibrate import Calibration, calibrate, rate_ratio

    m = MechanisticModel(_model(growth=False).scenario, shed_links=(ShedLink("nodes", "positive_nodes"),),
                         shedding_nodes=16)
    lik = CohortLikelihood(m, cohort, "recurrence_days", "recurrence_event")
    _, c1 = lik.cumulative(np.zeros(0))
    theta = np.array([-math.log(np.median(c1)), math.log(0.8), 0.8])
    tam = Calibration(("endocrine.tamoxifen.growth_inhibition", "endocrine.tamoxifen.activation_inhibition"),
                      0.0, 0.95, {"kind": "endocrine", "agent": "tamoxifen", "start": "0 day"}, 0.7, (0.0, 4.0),
                      "test", {"er": "positive"})
    d = tam.select(cohort)
    assert len(d) == int((cohort["er"] == "positive").sum())
    rr = [rate_ratio(m, theta, d, tam, v) for v in (0.0, 0.3, 0.6)]
    assert rr[0] == pytest.approx(1.0, abs=1e-12)  # no effect at zero strength
    assert rr[0] > rr[1] > rr[2]  # a stronger drug, a lower rate ratio
    rec = calibrate(m, theta, cohort, tam)
    assert rec["reached"] and rec["achieved_rate_ratio"] == pytest.approx(0.7, abs=1e-3)
    # a drug that cannot harm cannot reach a rate ratio above 1: the nearest value (none) is kept
    impossible = Calibration(tam.parameters, 0.0, 0.95, tam.therapy, 1.5, (0.0, 4.0), "test", {"er": "positive"})
    rec = calibrate(m, theta, cohort, impossible)
    assert not rec["reached"] and rec["value"] == 0.0
    assert rec["attainable"][0] == pytest.approx(1.0) and rec["achieved_rate_ratio"] == pytest.approx(1.0)


def test_solves_on_a_dask_cluster_equal_the_in_process_ones(cohort):
    """The fit's group solves as tasks on a real Dask LocalCluster (two worker processes): the same
    cumulative hazards, bit for bit, and the same profile likelihood."""
    pytest.importorskip("distributed")
    from seedsoil.execute import DaskExecutor

    m = _model()
    theta = np.array([math.log(5e-6), math.log(0.4), 0.3])
    local = CohortLikelihood(m, cohort, "recurrence_days", "recurrence_event")
    ex = DaskExecutor(workers=2)
    try:
        dist = CohortLikelihood(m, cohort, "recurrence_days", "recurrence_event", executor=ex)
        for a, b in zip(local.cumulative(theta), dist.cumulative(theta)):
            np.testing.assert_array_equal(a, b)
        assert dist.profile(theta)[0] == local.profile(theta)[0]
    finally:
        ex.close()


def test_the_example_fit_files_load_and_differ_only_in_method(examples_dir):
    from seedsoil.fit.spec import load_fit

    mle = load_fit(examples_dir / "fit_rotterdam.toml")
    post = load_fit(examples_dir / "fit_rotterdam_posterior.toml")
    assert mle.method == "mle" and post.method == "emcee"
    assert (post.walkers, post.steps, post.burn) == (22, 200, 100)
    assert post.model.names == mle.model.names
    np.testing.assert_array_equal(post.model.solve_start(), mle.model.solve_start())
    assert post.validate == mle.validate and len(post.calibrations) == len(mle.calibrations)
