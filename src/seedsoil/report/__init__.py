"""Figures and a self-contained HTML report of a patient run, imported only when used.

Importing this package imports no plotting library: matplotlib is loaded by
the functions that draw (docs/architecture.md).

>>> from seedsoil.report import write_report
>>> write_report({"base": result, "with therapy": other}, "report.html")  # doctest: +SKIP
"""
from __future__ import annotations

from .html import render_report, write_report

__all__ = ["write_report", "render_report"]
