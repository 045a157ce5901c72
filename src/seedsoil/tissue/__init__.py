"""Tissue scale: agent-based invasion at the tumour edge (µm, minutes).

Tumour cells move by their cell-scale phenotype (amoeboid or mesenchymal), CAFs
cut matrix tracks with JAK1/ROCK contractility, tumour cells intravasate at a
vessel. :func:`simulate_tissue` runs one scenario; :func:`invasion_map` runs a
grid of drug exposures and gives the body scale its escape rate.
"""
from .engine import Agents, Matrix, Mechanics, TissueEngine
from .scenario import TissueScenario, default_tissue_scenario, load_tissue_scenario
from .simulate import TissueResult, simulate_tissue

__all__ = ["Agents", "Matrix", "Mechanics", "TissueEngine", "TissueScenario", "TissueResult",
           "default_tissue_scenario", "load_tissue_scenario", "simulate_tissue"]
