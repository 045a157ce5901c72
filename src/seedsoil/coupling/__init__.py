"""The coupling layer: the only code that crosses scales (docs/architecture.md).

* :mod:`~seedsoil.coupling.drugs` — :class:`DrugLibrary`, the drugs a scenario may
  name, as an immutable value (presets: :func:`default_drugs`);
* :mod:`~seedsoil.coupling.effects` — drug exposure → cell response (JAK1 / ROCK /
  IL-1R1 inhibition, the network's motility, the tissue's invasion map) → the
  invasion, immune-kill and dormancy-signal factors of the body engine.
"""
from __future__ import annotations

from .drugs import DrugLibrary, default_drugs

__all__ = ["DrugLibrary", "default_drugs"]
