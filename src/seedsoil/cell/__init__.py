"""The cell scale: batched intracellular signalling and the phenotype it sets.

``Network`` (data) → ``simulate_cells`` (generated numba Rosenbrock kernels, many
cells at once) → ``Phenotype`` (contractility, migration mode, dividing or dormant).
"""
from __future__ import annotations

from .network import Event, Input, Network, Parameter, Reaction, Species, builtin_network, load_network
from .phenotype import MODES, Phenotype, classify, phenotype_response, summarize
from .sbml import from_sbml, to_sbml
from .solver import CellSolverError, TimeCourse, simulate_cells

__all__ = ["CellSolverError", "Event", "Input", "MODES", "Network", "Parameter", "Phenotype", "Reaction", "Species",
           "TimeCourse", "builtin_network", "classify", "from_sbml", "load_network", "phenotype_response",
           "simulate_cells", "summarize", "to_sbml"]
