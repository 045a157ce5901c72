"""seedsoil: in-silico metastasis experiments across cell, tissue, body and cohort scales.

Importing the package changes nothing and compiles nothing; engines compile on
first use.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("seedsoil")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

from .body.result import PatientResult
from .body.simulate import simulate
from .errors import ScenarioError, SeedsoilError
from .scenario import Scenario, default_scenario, load_scenario

__all__ = ["simulate", "Scenario", "load_scenario", "default_scenario", "PatientResult", "ScenarioError",
           "SeedsoilError", "run_trial", "load_trial", "TrialResult", "__version__"]

_LAZY = {"run_trial": "seedsoil.cohort.trial", "load_trial": "seedsoil.cohort.trial",
         "TrialResult": "seedsoil.cohort.trial"}


def __getattr__(name: str):
    """Cohort entry points are imported on first use (they pull in scipy.stats and lifelines)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seedsoil' has no attribute {name!r}")
