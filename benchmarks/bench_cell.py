#!/usr/bin/env python
"""Cell-scale benchmark: 100,000 heterogeneous cells × 48 h of the built-in signalling
network, seedsoil's batched Rosenbrock kernels against libroadrunner one cell at a time.

Prints every figure, then, as its last line, one JSON object::

    {"cells": ..., "seedsoil_s": ..., "roadrunner_per_cell_s": ..., "ratio": ..., "max_rel_err": ...}

Goal: >= 50x faster than the per-cell peer, with trajectories matching.

The workload
------------
The built-in network (``seedsoil.cell.builtin_network()``: 10 species, 21 reactions:
GP130/JAK1/STAT3, Rho/ROCK/MLC2, the bistable Rac1/RhoA switch, IL-1β/ZEB1), in
100,000 cells whose activation rate constants vary log-normally (CV 0.3, the
``phenotype_response`` default), under IL-6 0.5 nM, IL-1β 0.05 nM and a JAK
inhibitor at 10 nM, from the network's initial state for 48 h, hourly output
(49 time points × 10 species per cell). Tolerances rtol 1e-6, atol 1e-9 for both
codes.

The peer
--------
libroadrunner (LLVM-compiled SBML, CVODE) simulating the SBML that
``seedsoil.cell.sbml.to_sbml`` exports for the same network, one cell at a time:
for each cell ``resetAll()``, set the cell's full parameter vector
(``model.setGlobalParameterValues``, one call), ``simulate(0, 2, 49)``. This is
what per-agent SBML does in agent-based simulators, and the most generous form of
it (one ``simulate`` call per cell for the whole 48 h, not one per ABM time step).
The peer is timed on a sample of cells (``--peer-cells``, default 1,000, the
first cells of the same population) and scaled to 100,000: per-cell cost is
flat in the number of cells, as the printed per-cell times show.

Accuracy: both codes are compared on the sampled cells with a tight reference
(seedsoil at rtol 1e-10, checked against scipy Radau in the test suite); the
``max_rel_err`` in the JSON line is seedsoil's largest relative difference from
roadrunner over the sample (all species and times, with an absolute floor of
1e-6 on the denominator: activity fractions near 0 carry no relative meaning).

Threads: seedsoil runs in-process with numba's threads; it is timed with 1
thread and with all usable cores. ``ratio`` compares like with like: one core
each (roadrunner is single-threaded here). The all-cores ratio is printed beside.
Times are wall-clock of the call (best of ``--repeats``); the one-time numba
compilation (or on-disk cache load) is timed and printed separately.

Run:  PYTHONPATH=src python benchmarks/bench_cell.py [--quick]
(``--quick``: 10,000 cells, 200 peer cells). A full run takes about 1-2 minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from _common import cpu_model  # noqa: E402

INPUTS = {"IL6": 0.5, "IL1B": 0.05, "JAKi": 10.0}
RTOL, ATOL = 1e-6, 1e-9
T_END_DAYS, N_OUT = 2.0, 49
FLOOR = 1e-6


def peer_run(sbml: str, P: np.ndarray, param_ids: list[str], net_param_names: list[str]) -> tuple[float, np.ndarray]:
    """Roadrunner, one cell at a time; returns (seconds, states (n, N_OUT, n_species))."""
    import roadrunner

    r = roadrunner.RoadRunner(sbml)
    r.integrator.relative_tolerance = RTOL
    r.integrator.absolute_tolerance = ATOL
    order = [net_param_names.index(pid) for pid in param_ids]
    sel = ["time"] + [f"[{s}]" for s in SPECIES]
    r.timeCourseSelections = sel
    out = np.empty((len(P), N_OUT, len(SPECIES)))
    t0 = time.perf_counter()
    for c in range(len(P)):
        r.resetAll()
        r.model.setGlobalParameterValues(P[c, order])
        res = r.simulate(0.0, T_END_DAYS, N_OUT)
        out[c] = np.asarray(res)[:, 1:]
    return time.perf_counter() - t0, out


def peer_run_abm(sbml: str, P: np.ndarray, param_ids: list[str], net_param_names: list[str],
                 dt_days: float) -> tuple[float, np.ndarray]:
    """Roadrunner as an agent-based simulator drives it: each cell's model advanced by one
    ``simulate(t, t + dt)`` per ABM update (PhysiCell's RoadRunnerIntracellular::update pattern),
    states read hourly. Returns (seconds, states)."""
    import roadrunner

    r = roadrunner.RoadRunner(sbml)
    r.integrator.relative_tolerance = RTOL
    r.integrator.absolute_tolerance = ATOL
    order = [net_param_names.index(pid) for pid in param_ids]
    r.timeCourseSelections = ["time"] + [f"[{s}]" for s in SPECIES]
    n_steps = int(round(T_END_DAYS / dt_days))
    every = int(round((T_END_DAYS / (N_OUT - 1)) / dt_days))
    out = np.empty((len(P), N_OUT, len(SPECIES)))
    t0 = time.perf_counter()
    for c in range(len(P)):
        r.resetAll()
        r.model.setGlobalParameterValues(P[c, order])
        out[c, 0] = r.model.getFloatingSpeciesConcentrations()[[r.model.getFloatingSpeciesIds().index(s)
                                                                 for s in SPECIES]]
        for k in range(n_steps):
            res = r.simulate(k * dt_days, (k + 1) * dt_days, 2)
            if (k + 1) % every == 0:
                out[c, (k + 1) // every] = np.asarray(res)[-1, 1:]
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--peer-cells", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--abm-cells", type=int, default=50, help="cells timed for the ABM-stepping peer")
    ap.add_argument("--abm-dt-min", type=float, default=6.0,
                    help="ABM update interval of the stepping peer, minutes (PhysiCell's phenotype step)")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    if a.quick:
        a.cells, a.peer_cells, a.repeats, a.abm_cells = 10_000, 200, 1, 10

    import numba
    import roadrunner

    import seedsoil
    from seedsoil.cell import builtin_network
    from seedsoil.cell.phenotype import default_variability
    from seedsoil.cell.sbml import to_sbml
    from seedsoil.cell.solver import simulate_cells

    global SPECIES
    net = builtin_network()
    SPECIES = list(net.species_names)
    var = default_variability(net)
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    print("seedsoil cell benchmark")
    print(f"  cpu        : {cpu_model()} ({os.cpu_count()} logical, {ncpu} usable)")
    print(f"  versions   : seedsoil {seedsoil.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
          f"libroadrunner {roadrunner.__version__}")
    print(f"  workload   : {a.cells:,} cells x {T_END_DAYS * 24:g} h, network '{net.name}' ({len(net.species)} "
          f"species, {len(net.reactions)} reactions), inputs {INPUTS}, variability CV {next(iter(var.values()))} on "
          f"{len(var)} rate constants, rtol {RTOL:g}, atol {ATOL:g}, {N_OUT} output times")
    kw = dict(inputs=INPUTS, t_span=(0.0, T_END_DAYS), t_eval=N_OUT, variability=var, seed=2011, rtol=RTOL, atol=ATOL)

    t0 = time.perf_counter()
    simulate_cells(net, 8, **kw)
    print(f"  compile / cache load: {time.perf_counter() - t0:.2f} s (once per network structure and machine)")

    def timed(threads: int) -> tuple[float, object]:
        best, ds = np.inf, None
        for _ in range(a.repeats):
            t = time.perf_counter()
            ds = simulate_cells(net, a.cells, threads=threads, **kw)
            best = min(best, time.perf_counter() - t)
        return best, ds

    s1, ds = timed(1)
    sN, dsN = timed(ncpu)
    assert np.array_equal(ds.state.values, dsN.state.values), "results differ between thread counts"
    steps = ds.steps.values
    print(f"\n  seedsoil, 1 thread   : {s1:8.3f} s  ({s1 / a.cells * 1e6:7.1f} us/cell, "
          f"{steps.mean():.0f} steps/cell, {ds.rejected.values.mean():.1f} rejected)")
    print(f"  seedsoil, {ncpu} threads  : {sN:8.3f} s  ({sN / a.cells * 1e6:7.1f} us/cell); identical results")

    # ---- the peer, on the first peer_cells cells of the same population
    sbml = to_sbml(net, inputs=INPUTS)
    import roadrunner as rr_mod

    probe = rr_mod.RoadRunner(sbml)
    param_ids = list(probe.model.getGlobalParameterIds())
    P = ds.parameter_values.values[: a.peer_cells]
    peer_s, peer = peer_run(sbml, P, param_ids, list(net.parameter_names))
    half_s, _ = peer_run(sbml, P[: a.peer_cells // 2], param_ids, list(net.parameter_names))
    per_cell = peer_s / a.peer_cells
    peer_total = per_cell * a.cells
    print(f"\n  roadrunner, 1 core   : {peer_s:8.3f} s for {a.peer_cells:,} cells ({per_cell * 1e6:7.1f} us/cell; "
          f"{half_s / (a.peer_cells // 2) * 1e6:.1f} us/cell on the first half) -> {peer_total:.1f} s scaled to "
          f"{a.cells:,} cells")

    ours = ds.state.values[: a.peer_cells]

    def rel_err(x, ref):
        return np.abs(x - ref) / np.maximum(np.abs(ref), FLOOR)

    rel = rel_err(ours, peer)
    max_rel = float(rel.max())
    worst = np.unravel_index(np.argmax(rel), rel.shape)
    print(f"  trajectories: max relative difference seedsoil vs roadrunner {max_rel:.2e} "
          f"(cell {worst[0]}, t = {worst[1]} h, {SPECIES[worst[2]]}); median {np.median(rel):.1e}")

    # accuracy of each against a tight reference (seedsoil at rtol 1e-10 on the same cells)
    ref = simulate_cells(net, a.peer_cells, **{**kw, "rtol": 1e-10, "atol": 1e-13}).state.values
    e_ours, e_peer = float(rel_err(ours, ref).max()), float(rel_err(peer, ref).max())
    loose = simulate_cells(net, a.peer_cells, **{**kw, "rtol": 1e-5, "atol": 1e-8}).state.values
    e_loose = float(rel_err(loose, ref).max())
    t = time.perf_counter()
    simulate_cells(net, a.cells, threads=1, **{**kw, "rtol": 1e-5, "atol": 1e-8})
    s_loose = time.perf_counter() - t
    print(f"  accuracy vs a tight reference (max relative error, floor {FLOOR:g}): roadrunner at rtol {RTOL:g}: "
          f"{e_peer:.1e}; seedsoil at rtol {RTOL:g}: {e_ours:.1e}; seedsoil at rtol 1e-5: {e_loose:.1e} "
          f"({s_loose:.3f} s on 1 thread)")

    # the ABM pattern: each agent's model stepped with the ABM clock
    dt_abm = a.abm_dt_min / 1440.0
    abm_s, abm = peer_run_abm(sbml, P[: a.abm_cells], param_ids, list(net.parameter_names), dt_abm)
    abm_per_cell = abm_s / a.abm_cells
    e_abm = float(rel_err(abm, ref[: a.abm_cells]).max())
    print(f"  roadrunner stepped like an ABM (simulate(t, t+{a.abm_dt_min:g} min) per cell and update): "
          f"{abm_per_cell * 1e3:.2f} ms/cell ({a.abm_cells} cells timed), max relative error {e_abm:.1e}")

    ratio1 = peer_total / s1
    ratioN = peer_total / sN
    matched = peer_total / s_loose if e_loose <= e_peer else float("nan")
    ratio_abm = abm_per_cell * a.cells / s1
    print(f"\n  ratio, one core each, same rtol          : {ratio1:7.1f}x  (goal >= 50x)")
    print(f"  ratio, seedsoil on {ncpu} cores, same rtol    : {ratioN:7.1f}x")
    print(f"  ratio, one core each, matched accuracy  : {matched:7.1f}x  (seedsoil rtol 1e-5, error <= roadrunner's)")
    print(f"  ratio vs the ABM-stepping peer, one core: {ratio_abm:7.1f}x")
    print(json.dumps({"cells": a.cells, "seedsoil_s": round(s1, 3), "roadrunner_per_cell_s": round(per_cell, 7),
                      "ratio": round(ratio1, 1), "max_rel_err": float(f"{max_rel:.3g}"),
                      "seedsoil_s_all_cores": round(sN, 3), "ratio_all_cores": round(ratioN, 1),
                      "ratio_matched_accuracy": round(matched, 1), "ratio_abm_stepping": round(ratio_abm, 1),
                      "peer_cells_timed": a.peer_cells, "quick": a.quick}))
    return 0


SPECIES: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
