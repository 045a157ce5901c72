"""Virtual populations (seedsoil.cohort.population): marginals, copula, per-patient streams, errors.

Statistical checks use large samples (N = 40 000 patients, fixed seeds) and
tolerances of several standard errors, so they are deterministic and would
catch a wrong parameterisation (e.g. sigma read as a variance, a median read
as a mean, truncation ignored, the correlation put on the wrong pair).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from seedsoil.cohort.population import Population, parse_population
from seedsoil.errors import ScenarioError

N = 40_000
SEED = 20240607


def draw(spec, n=N, seed=SEED):
    pop = parse_population(spec)
    return pop, pop.draw(seed, np.arange(n))


def p(name, **dist):
    """A [population] table with one parameter."""
    return {"parameters": {name: dist}}


# --------------------------------------------------------------------------- marginals
def test_lognormal_median_and_sigma_with_unit_conversion():
    # median given per week: 0.7 / week = 0.1 / day (the library unit of shedding.rate)
    _, d = draw(p("shedding.rate", distribution="lognormal", median="0.7 / week", sigma=0.5,
                  truncate=["0 / day", "100 / day"]))
    x = d["shedding.rate"].astype(float)
    logx = np.log(x)
    sigma = 0.5
    # median of ln X: SE = sigma * sqrt(pi / 2) / sqrt(N)
    se_med = sigma * math.sqrt(math.pi / 2) / math.sqrt(N)
    assert abs(np.median(logx) - math.log(0.1)) < 5 * se_med
    # sd of ln X: SE ~ sigma / sqrt(2 N)
    assert abs(np.std(logx, ddof=1) - sigma) < 5 * sigma / math.sqrt(2 * N)
    # lognormal, not normal: ln X is symmetric (skewness ~ 0, SE ~ sqrt(6 / N))
    assert abs(stats.skew(logx)) < 5 * math.sqrt(6 / N)


def test_normal_mean_and_sd():
    mean, sd = 0.5, 0.05
    _, d = draw(p("fate.dormant_probability", distribution="normal", mean=mean, sd=sd, truncate=[0.0, 1.0]))
    x = d["fate.dormant_probability"].astype(float)
    assert abs(x.mean() - mean) < 5 * sd / math.sqrt(N)
    assert abs(x.std(ddof=1) - sd) < 5 * sd / math.sqrt(2 * N)
    # symmetric, no excess kurtosis
    assert abs(stats.skew(x)) < 5 * math.sqrt(6 / N)
    assert abs(stats.kurtosis(x)) < 5 * math.sqrt(24 / N)


def test_uniform_bounds_moments_and_shape():
    lo, hi = 0.2, 0.6
    _, d = draw(p("fate.dormant_probability", distribution="uniform", low=lo, high=hi))
    x = d["fate.dormant_probability"].astype(float)
    assert x.min() >= lo and x.max() <= hi
    sd = (hi - lo) / math.sqrt(12)
    assert abs(x.mean() - (lo + hi) / 2) < 5 * sd / math.sqrt(N)
    # Kolmogorov-Smirnov against the exact uniform (fixed seed: deterministic)
    assert stats.kstest(x, stats.uniform(loc=lo, scale=hi - lo).cdf).pvalue > 1e-3


def test_categorical_frequencies_numeric_parameter():
    values, probs = [0.0, 1.0, 2.5], [0.2, 0.5, 0.3]
    _, d = draw(p("inflammation.strength", distribution="categorical", values=values, probabilities=probs))
    x = d["inflammation.strength"].astype(float)
    assert set(np.unique(x)) == set(values)
    for v, q in zip(values, probs):
        f = np.mean(x == v)
        assert abs(f - q) < 5 * math.sqrt(q * (1 - q) / N), (v, f, q)


def test_categorical_frequencies_choice_parameter():
    values, probs = ["none", "mass_action", "ratio_dependent"], [0.1, 0.3, 0.6]
    _, d = draw(p("immune.kill_law", distribution="categorical", values=values, probabilities=probs))
    x = d["immune.kill_law"]
    assert set(x) == set(values)
    for v, q in zip(values, probs):
        f = np.mean(x == v)
        assert abs(f - q) < 5 * math.sqrt(q * (1 - q) / N), (v, f, q)


def test_categorical_covariate_frequencies():
    _, d = draw({"covariates": {"menopause": {"distribution": "categorical", "values": ["pre", "post"],
                                              "probabilities": [0.35, 0.65]}}})
    f = np.mean(d["menopause"] == "pre")
    assert abs(f - 0.35) < 5 * math.sqrt(0.35 * 0.65 / N)


def test_empirical_values_equally_likely():
    observed = [0.1, 0.2, 0.2, 0.5]
    _, d = draw(p("fate.dormant_probability", distribution="empirical", values=observed))
    x = d["fate.dormant_probability"].astype(float)
    assert set(np.unique(x)) == {0.1, 0.2, 0.5}
    for v, q in ((0.1, 0.25), (0.2, 0.5), (0.5, 0.25)):
        f = np.mean(x == v)
        assert abs(f - q) < 5 * math.sqrt(q * (1 - q) / N), (v, f, q)


def test_fixed_value_with_units():
    _, d = draw(p("shedding.rate", distribution="fixed", value="0.7 / week"), n=50)
    x = d["shedding.rate"].astype(float)
    np.testing.assert_allclose(x, 0.1, rtol=1e-12)


def test_truncated_normal_bounds_and_moments_match_scipy_truncnorm():
    # the example trial's growth-rate distribution, strongly truncated on the left
    mean, sd, a, b = 0.00172, 0.0008, 0.0012, 0.004
    _, d = draw(p("primary.gompertz.rate_constant", distribution="normal", mean=mean, sd=sd, truncate=[a, b]))
    x = d["primary.gompertz.rate_constant"].astype(float)
    assert x.min() >= a and x.max() <= b
    ref = stats.truncnorm((a - mean) / sd, (b - mean) / sd, loc=mean, scale=sd)
    m, v = ref.stats(moments="mv")
    assert abs(x.mean() - m) < 5 * math.sqrt(v / N)
    assert abs(x.var(ddof=1) - v) < 5 * v * math.sqrt(2 / N) * 1.5  # var of a light-tailed sample var
    # the untruncated moments are clearly different (the check can fail)
    assert abs(mean - m) > 20 * math.sqrt(v / N)
    assert stats.kstest(x, ref.cdf).pvalue > 1e-3


def test_truncated_lognormal_bounds_and_moments_match_scipy():
    med, sigma, a, b = 0.032, 1.0, 0.01, 0.1
    _, d = draw(p("shedding.rate", distribution="lognormal", median=med, sigma=sigma, truncate=[a, b]))
    x = d["shedding.rate"].astype(float)
    assert x.min() >= a and x.max() <= b
    base = stats.lognorm(s=sigma, scale=med)
    m = base.expect(lambda t: t, lb=a, ub=b, conditional=True)
    m2 = base.expect(lambda t: t * t, lb=a, ub=b, conditional=True)
    v = m2 - m * m
    assert abs(x.mean() - m) < 5 * math.sqrt(v / N)
    # same as a normal truncated on the log scale
    ref_log = stats.truncnorm((math.log(a) - math.log(med)) / sigma, (math.log(b) - math.log(med)) / sigma,
                              loc=math.log(med), scale=sigma)
    assert stats.kstest(np.log(x), ref_log.cdf).pvalue > 1e-3
    # untruncated mean differs a lot
    assert abs(base.mean() - m) > 20 * math.sqrt(v / N)


def test_truncated_uniform_is_uniform_on_the_intersection():
    _, d = draw(p("fate.dormant_probability", distribution="uniform", low=0.0, high=1.0, truncate=[0.3, 0.4]))
    x = d["fate.dormant_probability"].astype(float)
    assert x.min() >= 0.3 and x.max() <= 0.4
    assert stats.kstest(x, stats.uniform(loc=0.3, scale=0.1).cdf).pvalue > 1e-3


# --------------------------------------------------------------------------- Gaussian copula
def spearman_of(rho):
    return 6 / math.pi * math.asin(rho / 2)


@pytest.mark.parametrize("rho", [0.8, -0.5])
def test_copula_rank_correlation(rho):
    spec = {
        "parameters": {
            "shedding.rate": {"distribution": "lognormal", "median": 0.032, "sigma": 1.0, "truncate": [0, 10]},
            "primary.gompertz.rate_constant": {"distribution": "uniform", "low": 0.001, "high": 0.003},
            "fate.dormant_probability": {"distribution": "normal", "mean": 0.5, "sd": 0.1, "truncate": [0, 1]},
        },
        # a covariate correlated with a parameter: checks the variable ordering of the matrix
        # (age is a clinical-record field: years in [0, 120], so its normal is truncated there, 6 sd away)
        "covariates": {"age": {"distribution": "normal", "mean": 60, "sd": 10, "truncate": [0, 120]}},
        "correlation": [["shedding.rate", "primary.gompertz.rate_constant", rho],
                        ["age", "fate.dormant_probability", 0.6]],
    }
    pop, d = draw(spec)
    se = 1 / math.sqrt(N)  # SE of Spearman's rho is <= ~1.06 / sqrt(N)
    r1 = stats.spearmanr(d["shedding.rate"].astype(float), d["primary.gompertz.rate_constant"].astype(float))[0]
    assert abs(r1 - spearman_of(rho)) < 5 * se, (r1, spearman_of(rho))
    r2 = stats.spearmanr(d["age"].astype(float), d["fate.dormant_probability"].astype(float))[0]
    assert abs(r2 - spearman_of(0.6)) < 5 * se, (r2, spearman_of(0.6))
    # pairs without a declared correlation are independent
    r3 = stats.spearmanr(d["shedding.rate"].astype(float), d["age"].astype(float))[0]
    assert abs(r3) < 5 * se
    r4 = stats.spearmanr(d["primary.gompertz.rate_constant"].astype(float),
                         d["fate.dormant_probability"].astype(float))[0]
    assert abs(r4) < 5 * se


def test_no_correlation_means_independent():
    spec = {"parameters": {
        "shedding.rate": {"distribution": "lognormal", "median": 0.032, "sigma": 1.0, "truncate": [0, 10]},
        "fate.dormant_probability": {"distribution": "uniform", "low": 0.1, "high": 0.9}}}
    _, d = draw(spec)
    r = stats.spearmanr(d["shedding.rate"].astype(float), d["fate.dormant_probability"].astype(float))[0]
    assert abs(r) < 5 / math.sqrt(N)


# --------------------------------------------------------------------------- per-patient streams
EXAMPLE_POP = {
    "parameters": {
        "shedding.rate": {"distribution": "lognormal", "median": "0.032 / day", "sigma": 1.0,
                          "truncate": ["0 / day", "10 / day"]},
        "primary.gompertz.rate_constant": {"distribution": "normal", "mean": "0.00172 / day", "sd": "0.0004 / day",
                                           "truncate": ["0.0008 / day", "0.004 / day"]},
    },
    "covariates": {"inflammatory": {"distribution": "categorical", "values": ["no", "yes"],
                                    "probabilities": [0.5, 0.5],
                                    "overrides": {"no": {"inflammation.strength": 0.0},
                                                  "yes": {"inflammation.strength": 1.0}}}},
    "correlation": [["shedding.rate", "primary.gompertz.rate_constant", 0.3]],
}


def test_patient_values_do_not_depend_on_the_other_patients_drawn():
    pop = parse_population(EXAMPLE_POP)
    few = pop.draw(2018, [5, 1])
    many = pop.draw(2018, range(10))
    other = pop.draw(2018, np.arange(3, 1000)[::-1])
    for name in pop.names:
        assert few[name][0] == many[name][5] == other[name][-3], name
        assert few[name][1] == many[name][1], name
    # and it is the seed that makes the patient
    again = pop.draw(2018, [5, 1])
    changed = pop.draw(2019, [5, 1])
    for name in ("shedding.rate", "primary.gompertz.rate_constant"):
        assert list(again[name]) == list(few[name])
        assert changed[name][0] != few[name][0]


def test_patients_differ_from_each_other():
    pop = parse_population(EXAMPLE_POP)
    d = pop.draw(1, range(100))
    assert len(set(d["shedding.rate"].tolist())) == 100


# --------------------------------------------------------------------------- covariate overrides
def test_patient_parameters_apply_sampled_values_and_covariate_overrides():
    pop = parse_population(EXAMPLE_POP)
    d = pop.draw(7, range(200))
    seen = set()
    for row in range(200):
        over = pop.patient_parameters(d, row)
        cov = d["inflammatory"][row]
        seen.add(cov)
        assert over["inflammation.strength"] == (1.0 if cov == "yes" else 0.0)
        assert over["shedding.rate"] == d["shedding.rate"][row]
        assert over["primary.gompertz.rate_constant"] == d["primary.gompertz.rate_constant"][row]
        assert isinstance(over["shedding.rate"], float)
        assert "inflammatory" not in over  # a covariate is not a parameter
    assert seen == {"no", "yes"}


def test_numeric_covariate_categories_and_categories_without_overrides():
    pop = parse_population({"covariates": {"grade": {
        "distribution": "categorical", "values": [1, 2, 3], "probabilities": [0.3, 0.4, 0.3],
        "overrides": {"3": {"shedding.rate": "0.1 / day"}, "1": {"immune.kill_law": "none"}}}}})
    d = pop.draw(3, range(300))
    grades = set()
    for row in range(300):
        g = d["grade"][row]
        grades.add(g)
        over = pop.patient_parameters(d, row)
        # grade is a field of the clinical record: it also reaches the patient's [patient] (the links)
        assert over.pop("patient.grade") == g
        if g == 3:
            assert over == {"shedding.rate": pytest.approx(0.1)}
        elif g == 1:
            assert over == {"immune.kill_law": "none"}
        else:
            assert over == {}
    assert grades == {1, 2, 3}


def test_empty_population():
    pop = parse_population(None)
    assert isinstance(pop, Population) and pop.variables == ()
    assert pop.draw(1, range(5)) == {}
    assert pop.patient_parameters({}, 0) == {}


# --------------------------------------------------------------------------- errors
def raises_field(spec, field, *words):
    with pytest.raises(ScenarioError) as exc:
        parse_population(spec)
    assert exc.value.field == field, (exc.value.field, str(exc.value))
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    return exc.value


def test_unknown_parameter_with_hint():
    raises_field(p("shedding.rat", distribution="fixed", value=0.1), "population.parameters.shedding.rat",
                 "unknown parameter", "did you mean 'shedding.rate'")


def test_unknown_override_parameter():
    raises_field({"covariates": {"c": {"distribution": "categorical", "values": ["a", "b"], "probabilities": [0.5, 0.5],
                                       "overrides": {"a": {"no.such.param": 1}}}}},
                 "population.covariates.c.overrides.a.no.such.param", "unknown parameter")


def test_override_value_out_of_range():
    with pytest.raises(ScenarioError) as exc:
        parse_population({"covariates": {"c": {"distribution": "categorical", "values": ["a", "b"],
                                               "probabilities": [0.5, 0.5],
                                               "overrides": {"a": {"fate.dormant_probability": 1.5}}}}})
    assert "fate.dormant_probability" in exc.value.field


def test_override_for_a_value_the_covariate_cannot_take():
    raises_field({"covariates": {"c": {"distribution": "categorical", "values": ["a", "b"], "probabilities": [0.5, 0.5],
                                       "overrides": {"z": {"inflammation.strength": 1}}}}},
                 "population.covariates.c.overrides", "not a value")


@pytest.mark.parametrize("name,dist", [
    ("fate.dormant_probability", {"distribution": "normal", "mean": 0.5, "sd": 0.1}),
    ("primary.gompertz.rate_constant", {"distribution": "lognormal", "median": 0.0017, "sigma": 0.3}),
    ("fate.dormant_probability", {"distribution": "uniform", "low": 0.5, "high": 1.5}),
    ("shedding.rate", {"distribution": "normal", "mean": 0.03, "sd": 0.01, "truncate": [-1, 1]}),
    ("fate.dormant_probability", {"distribution": "categorical", "values": [0.5, 2.0], "probabilities": [0.5, 0.5]}),
    ("fate.dormant_probability", {"distribution": "empirical", "values": [0.5, -0.1]}),
])
def test_support_beyond_parameter_range_needs_truncation(name, dist):
    with pytest.raises(ScenarioError) as exc:
        parse_population(p(name, **dist))
    assert exc.value.field == f"population.parameters.{name}"
    if dist["distribution"] in ("normal", "lognormal", "uniform"):
        assert "truncate" in str(exc.value)


def test_same_distribution_accepted_once_truncated():
    pop = parse_population(p("fate.dormant_probability", distribution="normal", mean=0.5, sd=0.1, truncate=[0, 1]))
    assert pop.names == ["fate.dormant_probability"]


@pytest.mark.parametrize("probs,field", [
    ([0.5, 0.6], "population.parameters.inflammation.strength.probabilities"),
    ([1.2, -0.2], "population.parameters.inflammation.strength.probabilities"),
])
def test_bad_probabilities(probs, field):
    raises_field(p("inflammation.strength", distribution="categorical", values=[0, 1], probabilities=probs),
                 field, "sum to 1")


def test_probabilities_and_values_of_different_length():
    raises_field(p("inflammation.strength", distribution="categorical", values=[0, 1, 2], probabilities=[0.5, 0.5]),
                 "population.parameters.inflammation.strength", "equal length")


def test_impossible_correlation_matrix():
    spec = {"covariates": {k: {"distribution": "normal", "mean": 0, "sd": 1} for k in "abc"},
            "correlation": [["a", "b", 0.9], ["a", "c", 0.9], ["b", "c", -0.9]]}
    raises_field(spec, "population.correlation", "not positive definite")
    # weaker correlations of the same signs are possible
    parse_population({**spec, "correlation": [["a", "b", 0.6], ["a", "c", 0.6], ["b", "c", -0.2]]})


@pytest.mark.parametrize("pair,words", [
    (["a", "b", 1.0], ["(-1, 1)"]),
    (["a", "a", 0.5], ["different"]),
    (["a", "zz", 0.5], ["'zz'", "not a population variable"]),
    (["a", "b"], ["write"]),
])
def test_bad_correlation_entries(pair, words):
    spec = {"covariates": {k: {"distribution": "normal", "mean": 0, "sd": 1} for k in "ab"}, "correlation": [pair]}
    raises_field(spec, "population.correlation[0]", *words)


def test_unknown_distribution():
    raises_field(p("shedding.rate", distribution="gamma", shape=2.0), "population.parameters.shedding.rate.distribution",
                 "'gamma'", "lognormal")


def test_unknown_distribution_setting_and_missing_setting():
    raises_field(p("shedding.rate", distribution="lognormal", median=0.03, sigma=1.0, mean=0.1, truncate=[0, 1]),
                 "population.parameters.shedding.rate.mean", "not a setting")
    raises_field(p("fate.dormant_probability", distribution="normal", mean=0.5, truncate=[0, 1]),
                 "population.parameters.fate.dormant_probability.sd", "required")


@pytest.mark.parametrize("trunc,words", [([0.5, 0.2], ["low must be below high"]), ([0.1], ["[low, high]"])])
def test_bad_truncation(trunc, words):
    raises_field(p("fate.dormant_probability", distribution="uniform", low=0, high=1, truncate=trunc),
                 "population.parameters.fate.dormant_probability.truncate", *words)


def test_discrete_distributions_cannot_be_truncated():
    raises_field(p("fate.dormant_probability", distribution="empirical", values=[0.1, 0.2], truncate=[0, 1]),
                 "population.parameters.fate.dormant_probability.truncate", "continuous")


def test_choice_parameter_values_must_be_allowed():
    raises_field(p("immune.kill_law", distribution="categorical", values=["none", "zap"], probabilities=[0.5, 0.5]),
                 "population.parameters.immune.kill_law", "ratio_dependent")


def test_bad_units_name_the_field():
    with pytest.raises(ScenarioError) as exc:
        parse_population(p("shedding.rate", distribution="lognormal", median="3 mm", sigma=1.0, truncate=[0, 1]))
    assert exc.value.field == "population.parameters.shedding.rate.median"


def test_unknown_population_key():
    raises_field({"parameter": {}}, "population.parameter", "unknown key")


def test_draws_do_not_depend_on_the_order_variables_are_written_in():
    """A patient's draws follow the variables' order; it is sorted within parameters and within
    covariates, so a population written in another order (or rebuilt from a trial's canonical,
    key-sorted spec, as the workers do) gives every patient the same values."""
    params = {"shedding.rate": {"distribution": "lognormal", "median": "0.5 1/day", "sigma": 0.4, "truncate": [0, 1e6]},
              "dormancy.activation_rate": {"distribution": "uniform", "low": "1e-5 1/day", "high": "3e-5 1/day"}}
    covs = {"size": {"distribution": "uniform", "low": 0.0, "high": 1.0},
            "arm_effect": {"distribution": "normal", "mean": 0.0, "sd": 1.0}}
    a = parse_population({"parameters": params, "covariates": covs,
                          "correlation": [["shedding.rate", "size", 0.5]]})
    b = parse_population({"parameters": dict(reversed(params.items())), "covariates": dict(reversed(covs.items())),
                          "correlation": [["size", "shedding.rate", 0.5]]})
    assert a.names == b.names == ["dormancy.activation_rate", "shedding.rate", "arm_effect", "size"]
    da, db = a.draw(7, np.arange(50)), b.draw(7, np.arange(50))
    for name in a.names:
        np.testing.assert_array_equal(da[name], db[name])
