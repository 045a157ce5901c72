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
           "SeedsoilError", "__version__"]
