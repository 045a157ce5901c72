"""Tissue scale: agent-based invasion at the tumour edge (µm, minutes).

Tumour cells move by their cell-scale phenotype (amoeboid or mesenchymal), CAFs
cut matrix tracks with JAK1/ROCK contractility, tumour cells intravasate at a
vessel. :func:`simulate_tissue` runs one scenario; :func:`invasion_map` runs a
grid of drug exposures and gives the body scale its escape rate.
"""
from .engine import Agents, Matrix, Mechanics, TissueEngine

__all__ = ["Agents", "Matrix", "Mechanics", "TissueEngine", "TissueScenario", "TissueResult",
           "default_tissue_scenario", "load_tissue_scenario", "simulate_tissue", "invasion_map", "InvasionMap"]

# the scenario, run and map layers (pandas, scipy, the cell scale) load on first use
_LAZY = {"TissueScenario": ".scenario", "default_tissue_scenario": ".scenario", "load_tissue_scenario": ".scenario",
         "TissueResult": ".simulate", "simulate_tissue": ".simulate", "invasion_map": ".invasion",
         "InvasionMap": ".invasion"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'seedsoil.tissue' has no attribute {name!r}")
