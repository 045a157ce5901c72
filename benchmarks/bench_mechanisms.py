#!/usr/bin/env python
"""The cost of the relapse-timing mechanisms: the engines with them off against the version
before them, and what each costs when on.

Prints tables, then, as its last line, one JSON object::

    {"slowdown_off_stochastic": ..., "slowdown_off_analytic": ..., "cost_on_stochastic": {...},
     "cost_on_analytic": {...}}

1. **Mechanisms off.** The default breast patient (``examples/breast_surgery.toml``, its base
   scenario): the stochastic engine's CPU time per patient (``summarize_stochastic``, inputs
   built once, ``--patients`` patients) and the relapse-time engine's lean path
   (``relapse_free``: inputs + solve, median of 7), in this checkout and in the peer, the
   version before the mechanisms (``--baseline``, a git revision, checked out into a temporary
   worktree), each in a fresh subprocess, alternated ``--rounds`` times in one session.
   ``slowdown_off_*`` = median(this / peer) − 1 (goal: below 0.10).
2. **Mechanisms on.** The same patient with, in turn, the wound response and 7 days of
   meloxicam; CMF then 5 years of tamoxifen; the angiogenic switch; residual disease with
   radiotherapy (15 × 2.67 Gy); and all of them: time per patient relative to the patient
   without them (``cost_on_*``, a ratio), in this checkout.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import cpu_model  # noqa: E402

#: the commit before issue 12's mechanisms (adjuvant therapy, wound, angiogenic switch, local recurrence)
DEFAULT_BASELINE = "f7f39fc"

MECHANISMS = {
    "wound + meloxicam": {"wound": {"strength": 1.0},
                          "therapy": [{"kind": "nsaid", "agent": "meloxicam"}]},
    "CMF + tamoxifen": {"therapy": [{"kind": "chemotherapy", "regimen": "CMF", "start": "4 week"},
                                    {"kind": "endocrine", "agent": "tamoxifen", "start": "6 month"}]},
    "angiogenic switch": {"angiogenesis": {"enabled": True}},
    "residual + radiotherapy": {"local": {"residual_fraction": 1.342e-9},
                                "therapy": [{"kind": "radiotherapy", "dose_per_fraction": "2.67 Gy",
                                             "fractions": 15, "start": "4 week"}]},
}
MECHANISMS["all"] = {"wound": {"strength": 1.0}, "angiogenesis": {"enabled": True},
                     "local": {"residual_fraction": 1.342e-9},
                     "therapy": [t for m in MECHANISMS.values() for t in m.get("therapy", [])]}


def measure(scenario_dict: dict | None, patients: int) -> dict[str, float]:
    """CPU seconds per patient of both engines for the breast example (plus ``scenario_dict``)."""
    import numpy as np

    from seedsoil.body.model import build_inputs
    from seedsoil.body.relapse import relapse_free
    from seedsoil.body.stochastic import summarize_stochastic
    from seedsoil.scenario import Scenario, load_scenario

    base = load_scenario(ROOT / "examples" / "breast_surgery.toml")
    data = base.to_dict()
    data.pop("variant", None)
    for key, value in (scenario_dict or {}).items():
        data[key] = value if key == "therapy" else {**data.get(key, {}), **value}
    sc = Scenario.from_dict(data)
    years = np.arange(1, 11) * 365.25
    inputs = build_inputs(sc)
    summarize_stochastic(inputs, 1, 0)  # compile
    relapse_free(sc, years)
    c0 = time.process_time()
    for i in range(patients):
        summarize_stochastic(inputs, 1, i)
    sto = (time.process_time() - c0) / patients
    lean = []
    for _ in range(7):
        c0 = time.process_time()
        relapse_free(sc, years)
        lean.append(time.process_time() - c0)
    return {"stochastic_s": sto, "analytic_s": statistics.median(lean)}


def run_measure(src: Path, scenario_dict: dict | None, patients: int) -> dict[str, float]:
    """:func:`measure` in a fresh interpreter importing seedsoil from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, __file__, "--measure", json.dumps(scenario_dict), "--patients",
                          str(patients)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision of the peer (before the mechanisms)")
    ap.add_argument("--patients", type=int, default=300, help="stochastic patients per timing")
    ap.add_argument("--rounds", type=int, default=3, help="alternated peer / this rounds")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(json.loads(args.measure), args.patients)))
        return

    sys.path.insert(0, str(ROOT / "src"))
    from seedsoil import __version__

    print(f"seedsoil {__version__} · {cpu_model()} · {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.2f}")
    here = ROOT / "src"
    tmp = Path(tempfile.mkdtemp(prefix="seedsoil-peer-"))
    peer = tmp / "peer"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(peer), args.baseline], check=True)
    try:
        print(f"\n1. Mechanisms off: the breast example, this checkout vs {args.baseline} "
              f"({args.patients} stochastic patients per timing, {args.rounds} alternated rounds)")
        print(f"{'round':>5} {'peer sto ms':>12} {'this sto ms':>12} {'ratio':>6} {'peer ana ms':>12} "
              f"{'this ana ms':>12} {'ratio':>6}")
        run_measure(peer / "src", None, 5)  # compile both once (numba caches)
        run_measure(here, None, 5)
        rs, ra = [], []
        for r in range(args.rounds):
            old = run_measure(peer / "src", None, args.patients)
            new = run_measure(here, None, args.patients)
            rs.append(new["stochastic_s"] / old["stochastic_s"])
            ra.append(new["analytic_s"] / old["analytic_s"])
            print(f"{r + 1:>5} {1e3 * old['stochastic_s']:>12.2f} {1e3 * new['stochastic_s']:>12.2f} {rs[-1]:>6.3f} "
                  f"{1e3 * old['analytic_s']:>12.2f} {1e3 * new['analytic_s']:>12.2f} {ra[-1]:>6.3f}")
        slow_s, slow_a = statistics.median(rs) - 1.0, statistics.median(ra) - 1.0
        print(f"  median slowdown with the mechanisms off: stochastic {100 * slow_s:+.1f} %, "
              f"relapse-time {100 * slow_a:+.1f} % (goal: below +10 %)")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(peer)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n2. Mechanisms on (this checkout): time per patient relative to the patient without them")
    off = run_measure(here, None, args.patients)
    print(f"{'mechanisms':<26} {'stochastic ms':>14} {'x off':>7} {'relapse-time ms':>16} {'x off':>7}")
    print(f"{'none':<26} {1e3 * off['stochastic_s']:>14.2f} {1.0:>7.2f} {1e3 * off['analytic_s']:>16.2f} {1.0:>7.2f}")
    cost_s, cost_a = {}, {}
    for name, extra in MECHANISMS.items():
        on = run_measure(here, extra, args.patients)
        cost_s[name] = round(on["stochastic_s"] / off["stochastic_s"], 3)
        cost_a[name] = round(on["analytic_s"] / off["analytic_s"], 3)
        print(f"{name:<26} {1e3 * on['stochastic_s']:>14.2f} {cost_s[name]:>7.2f} "
              f"{1e3 * on['analytic_s']:>16.2f} {cost_a[name]:>7.2f}")
    print(json.dumps({"slowdown_off_stochastic": round(slow_s, 4), "slowdown_off_analytic": round(slow_a, 4),
                      "cost_on_stochastic": cost_s, "cost_on_analytic": cost_a}))


if __name__ == "__main__":
    main()
