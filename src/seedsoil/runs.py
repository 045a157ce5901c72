"""Entry points that write a run folder with its HTML report (top layer, beside the CLI).

``seedsoil.run_trial`` is :func:`run_trial` here: the cohort layer's
:func:`seedsoil.cohort.trial.run_trial` with the trial report's writer
(:func:`seedsoil.report.trial.write_trial_report`) passed in, so that the cohort
layer never imports the report layer (docs/architecture.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .cohort.trial import Trial, TrialResult
from .cohort.trial import run_trial as _run_trial
from .report import trial as _report


def run_trial(trial: Trial | str | Path, *, report: bool = True, **kw: Any) -> TrialResult:
    """Run a trial (:func:`seedsoil.cohort.trial.run_trial`, same keywords) and, with
    ``report=True``, write its ``report.html`` (:func:`seedsoil.report.trial.write_trial_report`,
    looked up at call time)."""
    return _run_trial(trial, report=_report.write_trial_report if report else None, **kw)
