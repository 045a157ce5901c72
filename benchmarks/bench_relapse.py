#!/usr/bin/env python
"""Relapse-time engine benchmark: accuracy against the stochastic engine, speed, cost at matched precision.

Prints tables, then, as its last line, one JSON object::

    {"scenarios": ..., "max_dev_se": ..., "ms_per_patient": ..., "speedup_vs_mc": ...}

What it does
------------
1. **Agreement.** For each scenario of ``seedsoil.validate.cases_relapse.SCENARIOS`` (default
   breast patient; non-inflammatory primary; IL-1β mimetic after surgery; IL-1R blockade; a JAK
   inhibitor through the coupling layer; strong immune killing; large and small primaries; CMF;
   tamoxifen; the wound response with and without meloxicam; the angiogenic switch with and without
   CMF; residual disease with and without radiotherapy) it runs
   20,000 stochastic patients (``--patients``; ``--quick``: 2,000) on 2 worker processes and the
   relapse-time engine once (with residual disease: also local and any recurrence), and compares
   the relapse-free probability at each year 1–10 (SE
   under the engine's value, binomial) and the yearly hazard −ln(1 − q)/year, q the conditional
   relapse probability within the year (binomial among those at risk; years with >= 20 at risk).
   ``max_dev_se`` is the largest |engine − Monte Carlo| / SE over scenarios, years and both
   quantities.
2. **Time per patient.** One patient (the default): ``simulate(..., engine="analytic")`` with its
   tables, and the lean path ``relapse_free`` (deterministic inputs + solve), median CPU time of 5
   after a warm-up. Vectorised: ``seedsoil.cohort.relapse.relapse_distributions`` over 10,000
   heterogeneous patients (``--quick``: 1,000) of the population of ``examples/trial_il1b.toml``,
   arm "surgery only", on 2 worker processes; ``ms_per_patient`` is its wall time per patient.
3. **Cost at matched precision.** The engine's numerical error on P(relapse by 10 y) of the default
   patient is |default grid − a grid refined 4× in time and 2.5× in size| (the refined grid's own
   error is far smaller). The stochastic engine needs N = p(1 − p)/error² patients for that
   standard error; its cost is N × its measured CPU time per patient (inputs built once, kernel
   only). ``speedup_vs_mc`` = that cost / the engine's single-patient CPU time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _common import cpu_model  # noqa: E402


def cpu_time(fn, repeat: int = 5) -> tuple[float, float]:
    """Median (CPU, wall) seconds of ``fn()`` over ``repeat`` runs."""
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 stochastic patients per scenario, 1,000 in the cohort")
    ap.add_argument("--patients", type=int, default=None, help="stochastic patients per scenario (default 20,000)")
    ap.add_argument("--cohort", type=int, default=None, help="cohort patients for the vectorised timing (10,000)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    n_mc = args.patients or (2000 if args.quick else 20000)
    n_cohort = args.cohort or (1000 if args.quick else 10000)

    from seedsoil import __version__
    from seedsoil.body.model import build_inputs
    from seedsoil.body.relapse import relapse_free
    from seedsoil.body.simulate import simulate
    from seedsoil.body.stochastic import summarize_stochastic
    from seedsoil.cohort.relapse import relapse_distributions
    from seedsoil.cohort.trial import trial_from_dict
    from seedsoil.tomlfile import read_toml
    from seedsoil.validate.cases_relapse import (LOCAL_SCENARIOS, SCENARIOS, compare, scenario,
                                                 stochastic_relapse_times)

    print(f"seedsoil {__version__} · {cpu_model()} · {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.2f}")
    default = scenario("default_breast")
    simulate(default, engine="analytic")  # compile / load kernels

    # ---- 1. agreement
    print(f"\n1. Agreement with {n_mc:,} stochastic patients per scenario (deviation in SE)")
    print(f"{'scenario':<18} {'P(relapse 10y) eng':>18} {'MC':>8} {'max|dev| S':>11} {'max|dev| h':>11} {'MC s':>7}")
    worst = 0.0
    for name in SCENARIOS:
        t0 = time.perf_counter()
        times = stochastic_relapse_times(name, n_mc, workers=args.workers)
        mc_s = time.perf_counter() - t0
        c = compare(name, times)
        ds = float(np.max(np.abs(c["s_dev"])))
        dh = float(np.nanmax(np.abs(c["h_dev"]))) if np.any(np.isfinite(c["h_dev"])) else 0.0
        worst = max(worst, ds, dh)
        print(f"{name:<18} {1 - c['s_engine'][-1]:>18.4f} {1 - c['s_mc'][-1]:>8.4f} {ds:>11.2f} {dh:>11.2f} "
              f"{mc_s:>7.1f}")
        for i, y in enumerate(c["years"]):
            print(f"    {y:>2d} y  S {c['s_engine'][i]:.4f} vs {c['s_mc'][i]:.4f} ± {c['s_se'][i]:.4f}"
                  f"  |  h {c['h_engine'][i]:.3e} vs {c['h_mc'][i]:.3e} ± {c['h_se'][i]:.1e} /day"
                  f"  (at risk {c['at_risk'][i]})")

    # residual disease: local and any recurrence too
    for name in LOCAL_SCENARIOS:
        for endpoint in ("local", "any"):
            times = stochastic_relapse_times(name, n_mc, workers=args.workers, endpoint=endpoint)
            c = compare(name, times, endpoint=endpoint)
            ds = float(np.max(np.abs(c["s_dev"])))
            dh = float(np.nanmax(np.abs(c["h_dev"]))) if np.any(np.isfinite(c["h_dev"])) else 0.0
            worst = max(worst, ds, dh)
            label = f"{name}:{endpoint}"
            print(f"{label:<18} {1 - c['s_engine'][-1]:>18.4f} {1 - c['s_mc'][-1]:>8.4f} {ds:>11.2f} {dh:>11.2f}")

    # ---- 2. time per patient
    print("\n2. Time per patient")
    inputs = build_inputs(default)
    years = np.arange(1, 11) * 365.25
    full_cpu, full_wall = cpu_time(lambda: simulate(default, engine="analytic"))
    lean_cpu, lean_wall = cpu_time(lambda: relapse_free(default, years))
    print(f"  one patient, simulate(engine='analytic') with tables: {1e3 * full_cpu:7.2f} ms CPU "
          f"({1e3 * full_wall:.2f} ms wall)")
    print(f"  one patient, lean path (inputs + solve):             {1e3 * lean_cpu:7.2f} ms CPU "
          f"({1e3 * lean_wall:.2f} ms wall)")
    # the example trial with its control arm only: every patient is one relapse-free curve
    data = read_toml(HERE.parent / "examples" / "trial_il1b.toml", "trial")
    data["arm"] = [a for a in data["arm"] if a["name"] == "surgery only"]
    trial = trial_from_dict(data, HERE.parent / "examples")
    relapse_distributions(trial, years, patients=20, workers=1)  # warm-up
    t0 = time.perf_counter()
    curves = relapse_distributions(trial, years, patients=n_cohort, workers=args.workers)
    wall = time.perf_counter() - t0
    assert len(curves.rows) == n_cohort, "one arm: one curve per patient"
    ms_per_patient = 1e3 * wall / n_cohort
    print(f"  vectorised: {n_cohort:,} patients of trial_il1b (surgery only), {args.workers} workers: "
          f"{wall:.1f} s wall, {ms_per_patient:.2f} ms per patient "
          f"(population P(relapse by 10 y) = {1 - curves.mean_survival()[-1]:.4f})")

    # ---- 3. matched precision
    print("\n3. Cost at matched precision (default patient, P(relapse by 10 y))")
    fine = default.with_overrides({"simulation.analytic_step": 1.0, "simulation.analytic_integer_sizes": 128,
                                   "simulation.analytic_size_ratio": 1.02})
    p_def = 1.0 - float(relapse_free(default, years[-1:])[0][0])
    p_fine = 1.0 - float(relapse_free(fine, years[-1:])[0][0])
    err = max(abs(p_def - p_fine), 1e-7)
    n_needed = p_fine * (1.0 - p_fine) / err ** 2
    keys = range(200)
    c0 = time.process_time()
    for i in keys:
        summarize_stochastic(inputs, 1, i)
    mc_per_patient = (time.process_time() - c0) / len(keys)
    mc_cost = n_needed * mc_per_patient
    speedup = mc_cost / lean_cpu
    print(f"  engine: P = {p_def:.6f} (default grid), {p_fine:.6f} (refined); numerical error {err:.2e}")
    print(f"  stochastic engine: {1e3 * mc_per_patient:.2f} ms CPU per patient; SE {err:.2e} needs "
          f"{n_needed:,.0f} patients = {mc_cost:,.0f} s CPU")
    print(f"  relapse-time engine: {1e3 * lean_cpu:.2f} ms CPU  →  speed-up at matched precision {speedup:,.0f}×")

    print(json.dumps({"scenarios": len(SCENARIOS), "max_dev_se": round(worst, 3),
                      "ms_per_patient": round(ms_per_patient, 3), "speedup_vs_mc": float(f"{speedup:.3g}")}))


if __name__ == "__main__":
    main()
