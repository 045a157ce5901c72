"""Fitting seedsoil to patient cohorts (issue 13; this package holds its first part).

:mod:`seedsoil.fit.frailty`: the marginal likelihood of relapse times when each patient's
shedding rate is lognormal around her covariates' value (a random effect), computed from the
relapse-time engine's curve at one shedding rate (the distant cumulative hazard is
proportional to the shedding rate), and maximum-likelihood estimates of the shedding
median, its spread and covariate-link coefficients on shedding, with Wald intervals.
"""
from .frailty import FrailtyFit, fit_shedding_frailty, marginal_curves, marginal_loglik

__all__ = ["FrailtyFit", "fit_shedding_frailty", "marginal_curves", "marginal_loglik"]
