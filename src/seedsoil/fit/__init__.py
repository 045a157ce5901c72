"""Fitting seedsoil to patient cohorts (issue 13): ``seedsoil fit FIT.toml``.

* :mod:`~seedsoil.fit.likelihood` (with the numba kernel :mod:`~seedsoil.fit._kernels`): the
  mixture likelihood of interval-censored relapse times over a lognormal growth and a
  lognormal shedding random effect.
* :mod:`~seedsoil.fit.mechanistic`: the model of a cohort (engine solves shared by covariate
  groups, free library parameters, links), its profile likelihood, predictions.
* :mod:`~seedsoil.fit.mortality`: other-cause death (Gompertz in age), the competing event of
  recurrence-free survival.
* :mod:`~seedsoil.fit.estimate`: resumable maximum likelihood, Wald and profile intervals,
  parametric bootstrap, synthetic cohorts, the posterior (emcee).
* :mod:`~seedsoil.fit.calibrate`: therapy strengths set to published rate ratios.
* :mod:`~seedsoil.fit.spec` / :mod:`~seedsoil.fit.run`: the fit file and the run directory.
* :mod:`~seedsoil.fit.fitted`: fitted populations with provenance (the library's and a run's).
* :mod:`~seedsoil.fit.validation`: external validation beside a Cox model.
* :mod:`~seedsoil.fit.report`: posterior predictive checks and the report.
* :mod:`~seedsoil.fit.frailty`: the shedding random effect alone on a fixed engine curve.
"""
from .fitted import FittedPopulation, library_populations, load_population
from .frailty import FrailtyFit, fit_shedding_frailty, marginal_curves, marginal_loglik
from .mechanistic import CohortLikelihood, MechanisticModel, predict_survival
from .run import FitResult, run_fit
from .spec import FitSpec, load_fit

__all__ = ["CohortLikelihood", "FitResult", "FitSpec", "FittedPopulation", "FrailtyFit", "MechanisticModel",
           "fit_shedding_frailty", "library_populations", "load_fit", "load_population", "marginal_curves",
           "marginal_loglik", "predict_survival", "run_fit"]
