"""Entry points that write a run folder with its HTML report (top layer, beside the CLI).

``seedsoil.run_trial`` is :func:`run_trial` here: the cohort layer's
:func:`seedsoil.cohort.trial.run_trial` with the trial report's writer
(:func:`seedsoil.report.trial.write_trial_report`) passed in, so that the cohort
layer never imports the report layer (docs/architecture.md). :func:`run_fit` is the fit
layer's :func:`seedsoil.fit.run.run_fit` followed by the fit report
(:func:`seedsoil.report.fit.write_fit_report`).
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


def run_fit(spec: Any, out_dir: str | Path | None = None, **kw: Any):
    """Run a fit (:func:`seedsoil.fit.run.run_fit`, same keywords) and, when it made its
    predictive checks (``report_draws`` > 0, a run folder), write its ``report.html``."""
    from .fit.run import run_fit as _run_fit
    from .report.fit import write_fit_report

    res = _run_fit(spec, out_dir, **kw)
    if res.out_dir is not None and res.check is not None:
        write_fit_report(res.out_dir, title=f"Fit: {res.spec.name}", estimates=res.table, check=res.check,
                         summary=res.summary, extra_html=res.report_html, level=res.spec.level)
    return res
