"""Drug exposure → cell response → the factors the body engine multiplies its rates by.

This is the one place where scales meet (docs/architecture.md). The body asks, on its
time grid, for three factors (:data:`seedsoil.body.hooks.FACTORS`); this module
answers from the scenario's :class:`~seedsoil.coupling.drugs.DrugLibrary` and,
optionally, the tissue scale's :class:`~seedsoil.tissue.invasion.InvasionMap`:

* **invasion_factor** (multiplies shedding): with an invasion map, the escape rate
  into blood relative to no drug at the network-equivalent JAK1 / ROCK inhibitor
  levels the drugs reach; without one, the cell-scale population's motility (mean
  speed relative to untreated, :func:`seedsoil.cell.phenotype.phenotype_response`)
  stands in for it (assumption).
* **immune_kill_factor** (multiplies immune killing): NK-cell killing needs cytokine
  signalling through JAK1 (IL-15 → JAK1/JAK3 → STAT5); a JAK inhibitor removes the
  JAK-dependent share ``coupling.nk_jak_share`` in proportion to its cellular
  inhibition (Bottos et al. 2016, doi:10.1038/ncomms12258; Schönberg et al. 2015,
  doi:10.1158/0008-5472.CAN-14-3211).
* **dormancy_signal_factor** (multiplies the IL-1β suppression of colonisation): the
  remaining IL-1R1 signal under a competitive antagonist (anakinra).

So a JAK inhibitor has two opposite effects on metastasis: fewer cells leave, and
more of those that arrive escape NK cells; ``seedsoil validate`` shows a regime of
each sign. Any :class:`~seedsoil.pharm.Drug` in the library acts through its targets
(a user's drug as much as a preset); a plain exposure callable acts only through
the library's extra effect models.

Factors are averaged over each engine step (sub-sampled :data:`SAMPLES_PER_DAY`
times a day), so a drug dosed every 12 h is not aliased by a 1-day step.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np

from ..body.hooks import FACTORS, Dosing
from .drugs import DrugLibrary

#: Sub-samples per day when factors are averaged over an engine step.
SAMPLES_PER_DAY = 48

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
    """The ``coupling.*`` parameters of the library (params/cell.toml)."""
    from ..params import load_library

    lib = load_library(("cell",))
    return {k: float(v) for k, v in lib.defaults().items() if k.startswith("coupling.")}


@lru_cache(maxsize=16)
def motility_curve(network_input: str) -> tuple[np.ndarray, np.ndarray]:
    """Population motility (relative mean speed) against the network input level (nM).

    Runs the cell network for 20 exposures the first time (cached on disk by content
    hash by :func:`~seedsoil.cell.phenotype.phenotype_response`, and here per process).
    """
    import logging

    from ..cell.phenotype import phenotype_response

    n = int(coupling_parameters()["coupling.response_cells"])
    logging.getLogger("seedsoil.coupling").info(
        "motility of %d-cell populations at %d %s levels (cell-scale ODEs; cached on disk after the first time)",
        n, len(RESPONSE_GRID), network_input)
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


def drug_effects(times: np.ndarray, exposures: Mapping[str, np.ndarray], library: DrugLibrary,
                 invasion_map: Any = None) -> dict[str, np.ndarray]:
    """Exposures (unbound nM) of the library's drugs → factors, per time point."""
    from ..cell import builtin_network

    q = coupling_parameters()
    net = builtin_network()
    out = {f: np.ones_like(times, dtype=float) for f in FACTORS}
    # remaining activity of each tissue-path target (JAK1, ROCK) under all drugs together
    activity: dict[str, Any] = {net_input: None for _, net_input, _ in _TARGET_INPUTS}
    for name, c in exposures.items():
        drug = library.drugs.get(name)
        if drug is None or not hasattr(drug, "targets"):
            continue  # an exposure callable: the library's own effect models handle it
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
    if invasion_map is not None:
        if levels:
            out["invasion_factor"] *= invasion_map.factor(**levels)
    else:
        for net_input, eq in levels.items():
            grid, mot = motility_curve(net_input)
            out["invasion_factor"] *= _interp_log(eq, grid, mot)
    return out


def exposures(times: np.ndarray, schedules: Sequence[Dosing], library: DrugLibrary) -> dict[str, np.ndarray]:
    """Summed unbound concentration (nM) of each drug at ``times``."""
    out: dict[str, np.ndarray] = {}
    for s in schedules:
        c = library.exposure(s.drug, times, s)
        out[s.drug] = out.get(s.drug, 0.0) + c
    return out


def factors(times: np.ndarray, schedules: Sequence[Dosing], *, library: DrugLibrary, invasion_map: Any = None,
            step: float | None = None) -> dict[str, np.ndarray]:
    """Product of the built-in and the library's extra effects, per factor, on ``times``
    (1 where nothing acts).

    With ``step`` (days), ``times`` are step midpoints and each factor is the mean over
    the step, sampled at :data:`SAMPLES_PER_DAY` points per day (at least one).
    """
    if step is not None and schedules:
        k = max(int(np.ceil(step * SAMPLES_PER_DAY)), 1)
        offsets = step * ((np.arange(k) + 0.5) / k - 0.5)
        fine = (np.asarray(times, float)[:, None] + offsets[None, :]).ravel()
        sub = factors(fine, schedules, library=library, invasion_map=invasion_map)
        return {f: v.reshape(len(times), k).mean(axis=1) for f, v in sub.items()}
    result = {f: np.ones_like(times, dtype=float) for f in FACTORS}
    if not schedules:
        return result
    exp = exposures(times, schedules, library)
    for effect in (lambda t, e: drug_effects(t, e, library, invasion_map),) + tuple(library.effects):
        for name, arr in effect(times, exp).items():
            if name not in result:
                raise ValueError(f"effect model returned unknown factor {name!r}; known: {FACTORS}")
            arr = np.asarray(arr, dtype=float)
            if arr.shape != times.shape or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError(f"effect model returned a bad {name}: it must be finite, >= 0, one per time")
            result[name] = result[name] * arr
    return result
