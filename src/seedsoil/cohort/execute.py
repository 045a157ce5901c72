"""The executors moved to :mod:`seedsoil.execute` (core: the tissue scale and the cohorts
both use them); this old import path keeps working."""
from __future__ import annotations

from ..execute import DaskExecutor, InProcess, LocalProcesses, make_executor

__all__ = ["DaskExecutor", "InProcess", "LocalProcesses", "make_executor"]
