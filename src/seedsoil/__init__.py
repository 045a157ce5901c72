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

from .errors import ScenarioError, SeedsoilError

__all__ = ["simulate", "Scenario", "load_scenario", "default_scenario", "PatientResult", "RelapseResult",
           "relapse_distributions", "ScenarioError",
           "SeedsoilError", "run_trial", "load_trial", "TrialResult", "load_result", "DrugLibrary", "default_drugs",
           "run_fit", "load_population", "predict_patient", "__version__"]

# Entry points are imported on first use: a process that only steps tissue agents
# does not pay for pandas, scipy, pydantic, sympy and lifelines (memory and start-up).
# The package namespace is a facade over the layers (docs/architecture.md): it names
# each entry point's module as a string and imports nothing of them itself.
_LAZY = {"run_trial": "seedsoil.runs", "load_trial": "seedsoil.cohort.trial",
         "TrialResult": "seedsoil.cohort.trial", "simulate": "seedsoil.patient",
         "load_result": "seedsoil.patient", "PatientResult": "seedsoil.body.result",
         "RelapseResult": "seedsoil.body.result", "relapse_distributions": "seedsoil.cohort.relapse",
         "Scenario": "seedsoil.scenario", "load_scenario": "seedsoil.scenario",
         "default_scenario": "seedsoil.scenario", "DrugLibrary": "seedsoil.coupling.drugs",
         "default_drugs": "seedsoil.coupling.drugs", "run_fit": "seedsoil.runs",
         "load_population": "seedsoil.fit.fitted", "predict_patient": "seedsoil.fit.predict"}


def __getattr__(name: str):
    """The public entry points, imported on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seedsoil' has no attribute {name!r}")
