"""Drug therapies in one patient: PK preset → unbound exposure → effects on body processes.

The built-in presets of :mod:`seedsoil.pharm` are registered with the body's hooks
(:mod:`seedsoil.body.hooks`) the first time a scenario names a drug. Their
effects, per time point:

* **invasion_factor** (multiplies shedding): with a tissue-scale
  :class:`~seedsoil.tissue.invasion.InvasionMap` (scenario ``[tissue] invasion_map``),
  the escape rate into blood relative to no drug at the network-equivalent JAK1 / ROCK
  inhibitor levels the drugs reach; without one, the cell-scale population's motility
  (mean speed relative to untreated, :func:`seedsoil.cell.phenotype.phenotype_response`)
  stands in for it (assumption).
* **immune_kill_factor** (multiplies immune killing): NK-cell killing needs
  cytokine signalling through JAK1 (IL-15 → JAK1/JAK3 → STAT5); a JAK inhibitor
  removes the JAK-dependent share ``coupling.nk_jak_share`` in proportion to its
  cellular inhibition (Bottos et al. 2016, doi:10.1038/ncomms12258; Schönberg et al.
  2015, doi:10.1158/0008-5472.CAN-14-3211).
* **dormancy_signal_factor** (multiplies the IL-1β suppression of colonisation):
  the remaining IL-1R1 signal under a competitive antagonist (anakinra).

So a JAK inhibitor has two opposite effects on metastasis: fewer cells leave,
and more of those that arrive escape NK cells. Which wins depends on when it is
given and on the patient; ``seedsoil validate`` shows a regime of each sign.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import numpy as np

from . import hooks

#: Network inputs fed by drug targets, with the network parameter holding the
#: potency their units refer to (Hill coefficient 1 in the network).
_TARGET_INPUTS = (
    (("JAK1",), "JAKi", "ic50_jak1"),
    (("ROCK1", "ROCK", "ROCK2"), "ROCKi", "ic50_rock"),
)
_NK_TARGETS = ("pSTAT3_whole_blood", "JAK1")
_IL1R_TARGETS = ("IL1R1", "IL1R")

#: Network-equivalent inhibitor levels (nM) on which the motility response is tabulated.
RESPONSE_GRID = np.concatenate([[0.0], np.geomspace(0.1, 1e5, 19)])


def coupling_parameters() -> dict[str, float]:
    from ..params import load_library

    lib = load_library(("cell",))
    return {k: float(v) for k, v in lib.defaults().items() if k.startswith("coupling.")}


@lru_cache(maxsize=16)
def motility_curve(network_input: str) -> tuple[np.ndarray, np.ndarray]:
    """Population motility (relative mean speed) against the network input level (nM)."""
    from ..cell.phenotype import phenotype_response

    n = int(coupling_parameters()["coupling.response_cells"])
    values = np.array([phenotype_response({network_input: float(c)} if c > 0 else {}, n_cells=n).motility
                       for c in RESPONSE_GRID])
    return RESPONSE_GRID, values


def _interp_log(c: np.ndarray, grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear in log10(1 + c): exact at the grid points, monotone between them."""
    return np.interp(np.log10(1.0 + c), np.log10(1.0 + grid), values)


def _network_equivalent(activity: np.ndarray, network_ic50: float) -> np.ndarray:
    """The network-input level giving the same remaining target activity (Hill 1 in the network)."""
    a = np.clip(activity, 1e-12, 1.0)
    return network_ic50 * (1.0 / a - 1.0)


def drug_effects(times: np.ndarray, exposures: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The effect model registered with the hooks: exposures (unbound nM) → factors."""
    from ..cell import builtin_network
    from ..pharm.presets import preset, presets
    from ..tissue.invasion import current_map

    known = set(presets())
    q = coupling_parameters()
    net = builtin_network()
    out = {f: np.ones_like(times, dtype=float) for f in hooks.FACTORS}
    # remaining activity of each tissue-path target (JAK1, ROCK) under all drugs together
    activity = {net_input: None for _, net_input, _ in _TARGET_INPUTS}
    for name, c in exposures.items():
        if name not in known:
            continue  # a user-registered drug: its own effect model handles it
        drug = preset(name)
        c = np.asarray(c, dtype=float)
        for targets, net_input, _ in _TARGET_INPUTS:
            target = next((t for t in targets if t in drug.targets), None)
            if target is None:
                continue
            a = drug.activity(target, c)
            activity[net_input] = a if activity[net_input] is None else activity[net_input] * a
        nk_target = next((t for t in _NK_TARGETS if t in drug.targets), None)
        if nk_target is not None:
            a = drug.activity(nk_target, c)
            out["immune_kill_factor"] *= 1.0 - q["coupling.nk_jak_share"] * (1.0 - a)
        il1_target = next((t for t in _IL1R_TARGETS if t in drug.targets), None)
        if il1_target is not None:
            out["dormancy_signal_factor"] *= drug.activity(il1_target, c)
    levels = {net_input: _network_equivalent(a, net.parameter(ic50_name).value)
              for _, net_input, ic50_name in _TARGET_INPUTS if (a := activity[net_input]) is not None}
    imap = current_map()
    if imap is not None:
        if levels:
            out["invasion_factor"] *= imap.factor(**levels)
    else:
        for net_input, eq in levels.items():
            grid, mot = motility_curve(net_input)
            out["invasion_factor"] *= _interp_log(eq, grid, mot)
    return out


def register_presets() -> None:
    """Register every pharm preset and the effect model with the body hooks.

    Idempotent, and it repairs: a preset or the effect model that was unregistered
    (or a registry that was cleared) is registered again; a drug a user registered
    under a preset's name is left alone.
    """
    from ..pharm.presets import preset, presets

    known = set(hooks.registered_drugs())
    for name in presets():
        if name not in known:
            hooks.register_drug(name, preset(name).exposure)
    if drug_effects not in hooks.registered_effects():
        hooks.register_effect(drug_effects)
