"""Cohorts and virtual trials: populations of patients, arms, survival statistics.

``run_trial(path_or_trial, ...)`` runs a trial on this machine or a Dask cluster
and returns a :class:`TrialResult`; ``load_trial`` validates a trial file.
"""
from __future__ import annotations

from .population import Population, parse_population
from .trial import Trial, TrialResult, load_trial, run_trial, trial_from_dict

__all__ = ["Population", "parse_population", "Trial", "TrialResult", "load_trial", "run_trial", "trial_from_dict"]
