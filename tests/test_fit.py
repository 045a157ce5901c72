"""The shedding-frailty likelihood (seedsoil.fit.frailty): quadrature against direct integration,
density against the survival's derivative, the proportionality it relies on, and parameter
recovery with interval coverage on synthetic cohorts."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from seedsoil.fit import fit_shedding_frailty, marginal_curves, marginal_loglik
from seedsoil.fit.frailty import engine_reference


def test_marginal_curves_equal_direct_integration():
    cum = np.array([0.01, 0.3, 1.0, 4.0])
    haz = np.array([0.001, 0.002, 0.003, 0.004])
    sigma, m = 0.8, 1.7
    s, f = marginal_curves(cum, haz, sigma, m)
    for i in range(len(cum)):
        ws = integrate.quad(lambda z: stats.norm.pdf(z) * math.exp(-m * math.exp(sigma * z) * cum[i]),
                            -12, 12, epsabs=1e-14)[0]
        wf = integrate.quad(lambda z: stats.norm.pdf(z) * m * math.exp(sigma * z) * haz[i]
                            * math.exp(-m * math.exp(sigma * z) * cum[i]), -12, 12, epsabs=1e-14)[0]
        assert s[i] == pytest.approx(ws, rel=1e-8)
        assert f[i] == pytest.approx(wf, rel=1e-8)
    s0, f0 = marginal_curves(cum, haz, 0.0, m)
    np.testing.assert_allclose(s0, np.exp(-m * cum), rtol=1e-15)


def test_density_is_minus_the_derivative_of_survival():
    t = np.linspace(1.0, 10.0, 2001)
    cum, haz = (t / 4.0) ** 2, 2 * t / 16.0
    s, f = marginal_curves(cum, haz, 1.1, 0.6)
    np.testing.assert_allclose(f[1:-1], -np.gradient(s, t)[1:-1], rtol=2e-4)


def test_engine_hazard_is_proportional_to_shedding():
    """What the method relies on: the engine's distant cumulative hazard scales with the shedding rate."""
    from seedsoil.validate.cases_relapse import scenario

    sc = scenario("default_breast")
    t = np.array([2.0, 5.0, 10.0]) * 365.25
    cum1, haz1 = engine_reference(sc, t)
    for f in (0.1, 10.0):
        cum, haz = engine_reference(sc.with_parameters(**{"shedding.rate": 0.032 * f}), t)
        np.testing.assert_allclose(cum / f, cum1, rtol=2e-3)
        np.testing.assert_allclose(haz / f, haz1, rtol=2e-3)


def _synthetic(rng, n, theta0, sigma, beta):
    """Weibull-shaped reference hazard Λ_ref(t) = (t/τ)^k, log(1 + nodes) covariate, uniform censoring."""
    tau, k = 2000.0, 2.0
    nodes = rng.poisson(2.0, n)
    x = np.log1p(nodes)
    m = np.exp(theta0 + beta * x + sigma * rng.standard_normal(n))
    t_event = tau * (-np.log(rng.random(n)) / m) ** (1 / k)
    c = rng.uniform(1000.0, 4000.0, n)
    t = np.minimum(t_event, c)
    ev = t_event <= c
    return (t / tau) ** k, k / tau * (t / tau) ** (k - 1), ev, x[:, None]


def test_recovers_its_parameters():
    rng = np.random.default_rng(13)
    truth = np.array([-0.5, math.log(0.8), 0.4])
    cum, haz, ev, x = _synthetic(rng, 3000, truth[0], math.exp(truth[1]), truth[2])
    fit = fit_shedding_frailty(cum, haz, ev, x, ["log1p_nodes"])
    assert fit.converged
    z = (fit.estimates - truth) / fit.se
    assert np.all(np.abs(z) < 3.5), fit.to_frame()
    # the maximum is a maximum: the truth's log-likelihood is not higher
    m = np.exp(truth[0] + x[:, 0] * truth[2])
    assert marginal_loglik(cum, haz, ev, math.exp(truth[1]), m) <= fit.loglik + 1e-9


def test_wald_intervals_cover_at_the_nominal_rate():
    """40 synthetic cohorts of 800: each parameter's 95 % interval covers the truth in at least 34
    (the binomial 40 × 0.95 = 38 less ~2.5 SD)."""
    rng = np.random.default_rng(2024)
    truth = np.array([0.2, math.log(0.6), -0.3])
    cover = np.zeros(3)
    reps = 40
    for _ in range(reps):
        cum, haz, ev, x = _synthetic(rng, 800, truth[0], math.exp(truth[1]), truth[2])
        fit = fit_shedding_frailty(cum, haz, ev, x, ["log1p_nodes"])
        ci = fit.interval()
        cover += (ci[:, 0] <= truth) & (truth <= ci[:, 1])
    assert np.all(cover >= 34), cover


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="one value per patient"):
        fit_shedding_frailty(np.ones(3), np.ones(2), np.ones(3, bool))
    with pytest.raises(ValueError, match="hazard is 0"):
        fit_shedding_frailty(np.ones(3), np.array([1.0, 0.0, 1.0]), np.ones(3, bool))
    with pytest.raises(ValueError, match="columns but"):
        fit_shedding_frailty(np.ones(3), np.ones(3), np.ones(3, bool), np.ones((3, 2)), ["a"])
