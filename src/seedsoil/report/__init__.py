"""Figures and a self-contained HTML report of a patient run or a virtual trial, imported only when used.

Importing this package imports no plotting library: matplotlib is loaded by
the functions that draw (docs/architecture.md).

>>> from seedsoil.report import write_report
>>> write_report({"base": result, "with therapy": other}, "report.html")  # doctest: +SKIP

The one-line figures (each takes ``ax=None`` and returns the axes):

>>> from seedsoil.report import plot_burden, plot_km
>>> plot_burden(result)            # tumour cells over time, a patient and its variants  # doctest: +SKIP
>>> plot_km(trial_result, "dmfs")  # Kaplan–Meier curves of a trial, by arm  # doctest: +SKIP
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from .html import render_report, write_report

#: figures importable from this package, and the module that draws them (imported on first use)
_FIGURES = {"plot_burden": ".figures", "plot_km": ".trial_figures"}


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        return getattr(import_module(_FIGURES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["write_report", "render_report", "plot_burden", "plot_km"]
