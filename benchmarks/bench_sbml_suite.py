#!/usr/bin/env python
"""SBML Test Suite conformance: seedsoil's SBML import + cell solver against libroadrunner,
case by case, on the suite's semantic time-course cases.

Prints the pass counts by tag, the top reasons seedsoil does not pass, the time each
engine took, writes the per-case table to a CSV, then, as its last line, one JSON object::

    {"cases": ..., "seedsoil_pass": ..., "roadrunner_pass": ..., "core_cases": ...,
     "core_seedsoil_pass": ..., "core_roadrunner_pass": ..., "seedsoil_s": ..., "roadrunner_s": ...,
     "roundtrip_pass": ..., "core_roundtrip_pass": ...}

What is compared (``seedsoil.cell.sbml_suite``): for each case, both engines simulate the
model on the case's grid (start, duration, steps + 1 points) and the requested variables
(amounts or concentrations as the settings say) are checked against the suite's expected
CSV with its rule ``|expected - actual| <= absolute + relative * |expected|`` at every
point. seedsoil: ``from_sbml`` (a refusal counts as not passed, status "refused") then the
cell solver's RODAS4 kernel, rtol 1e-10, atol 1e-14. libroadrunner: CVODE, rtol 1e-10,
atol 1e-14. "Core" cases use no events, algebraic rules, delays, fast reactions or
hierarchical composition (comp); comp models are flattened by libsbml before import.

Round trip (engine ``roundtrip``): every case seedsoil imports is exported back with
``to_sbml`` and the export is simulated by libroadrunner under the case's settings, then
compared with the expected results by the same rule (a case seedsoil refuses is "refused"
here too). ``roundtrip_pass`` counts the exports that pass.

Times (``seedsoil_s``, ``roadrunner_s``): the sum over cases of each engine's wall-clock
for the case (import + simulate + compare). seedsoil's includes numba compiling each new
network's kernel (seconds per network; cached on disk afterwards, so a second run is much
faster); roadrunner's includes its LLVM compilation of each model.

Data: ``sbml-semantic-suite-3.3.0.tar.xz`` from ``$SEEDSOIL_SBML_SUITE`` or
a ``shared/data`` folder beside the repository (LGPL 2.1+, the SBML Team); without it the script says so and exits 0
after printing a JSON line of nulls.

Run:  PYTHONPATH=src python benchmarks/bench_sbml_suite.py [table.csv] [--sample N] [--workers W] [--core]
      [--cases 1,2,...] [--engines seedsoil,roadrunner,roundtrip] [--resume]
(each finished case is appended to <csv>.jsonl as it finishes; ``--resume`` keeps those;
with --workers each worker process is replaced every 150 cases, which bounds its memory)
(the full suite takes long the first time: ~5 s of numba compilation per imported model).
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

from _common import cpu_model  # noqa: E402

KEYS = ("cases", "seedsoil_pass", "roadrunner_pass", "core_cases", "core_seedsoil_pass", "core_roadrunner_pass",
        "seedsoil_s", "roadrunner_s", "roundtrip_pass", "core_roundtrip_pass")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", nargs="?", default="sbml_suite_cases.csv", help="where to write the per-case table")
    ap.add_argument("--sample", type=int, default=None, help="a stratified sample of N cases instead of all")
    ap.add_argument("--seed", type=int, default=20260107)
    ap.add_argument("--workers", type=int, default=1, help="processes (times are per case, so sums stay comparable)")
    ap.add_argument("--cases", default=None, help="comma-separated case numbers instead of the suite")
    ap.add_argument("--core", action="store_true", help="only the core cases (no events, algebraic rules, delays, "
                                                        "fast reactions, comp)")
    ap.add_argument("--engines", default="seedsoil,roadrunner,roundtrip",
                    help="comma-separated engines to run (seedsoil, roadrunner, roundtrip)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the cases already in the journal (<csv>.jsonl) of a stopped run of the same code")
    a = ap.parse_args(argv)

    import pandas as pd
    import roadrunner

    import seedsoil
    from seedsoil.cell import sbml_suite as S

    try:
        root = S.suite_dir()
    except S.SuiteNotFound as exc:
        print(f"SBML Test Suite not available: {exc}")
        print(json.dumps(dict.fromkeys(KEYS)))
        return 0
    cases = [int(x) for x in a.cases.split(",")] if a.cases else None
    if a.core:
        pool = S.all_cases(root) if cases is None else [S.Case(f"{c:05d}", root / f"{c:05d}") for c in cases]
        cases = [int(c.id) for c in pool if c.is_core]
    engines = tuple(e.strip() for e in a.engines.split(",") if e.strip())
    print("seedsoil SBML Test Suite conformance")
    print(f"  cpu      : {cpu_model()} ({os.cpu_count()} logical)")
    print(f"  versions : seedsoil {seedsoil.__version__}, libroadrunner {roadrunner.__version__}")
    print(f"  suite    : {root} ({'sample of ' + str(a.sample) if a.sample else 'all time-course cases'}"
          f"{', cases ' + a.cases if a.cases else ''}), workers {a.workers}")
    journal = Path(a.csv).with_suffix(".jsonl")  # each finished case, as it finishes
    if not a.resume:
        journal.unlink(missing_ok=True)
    elif journal.exists():
        print(f"  resuming: cases already in {journal} are not run again")
    t0 = time.perf_counter()
    table = S.run_suite(cases, sample=a.sample, seed=a.seed, workers=a.workers, root=root, engines=engines,
                        journal=journal)
    wall = time.perf_counter() - t0
    table.to_csv(a.csv, index=False)

    pd.set_option("display.width", 200)
    summ = S.summary_by_tag(table)
    print("\n  passed by tag (a case counts under each of its tags)")
    print(summ.to_string(index=False))
    for engine in engines:
        print(f"\n  {engine}: status counts (all / core)")
        allc = table[f"{engine}_status"].value_counts()
        corec = table[table["core"]][f"{engine}_status"].value_counts()
        print(pd.DataFrame({"all": allc, "core": corec}).fillna(0).astype(int).to_string())
        for label, sub in (("all cases", table), ("core cases", table[table["core"]])):
            top = S.reasons(sub, engine, 15)
            print(f"\n  {engine}: top reasons for not passing ({label})")
            print(top.to_string() if len(top) else "  (none)")
    core = table[table["core"]]
    out = {
        "cases": int(len(table)),
        "core_cases": int(len(core)),
    }
    for e in ("seedsoil", "roadrunner", "roundtrip"):  # null for an engine not run
        ran = f"{e}_status" in table
        out[f"{e}_pass"] = int((table[f"{e}_status"] == "passed").sum()) if ran else None
        out[f"core_{e}_pass"] = int((core[f"{e}_status"] == "passed").sum()) if ran else None
        out[f"{e}_s"] = round(float(table[f"{e}_s"].sum()), 2) if ran else None
    out = {k: out[k] for k in KEYS}
    if "seedsoil_status" in table:
        imported = table[table.seedsoil_status != "refused"]
        print(f"\n  seedsoil imported {len(imported)} of {len(table)} cases; time on imported cases "
              f"{imported.seedsoil_s.sum():.1f} s (mostly numba compilation on a first run)")
    if "roundtrip_status" in table:
        rt = table[table.roundtrip_status != "refused"]
        ok = rt.roundtrip_status == "passed"
        print(f"  round trip (to_sbml of the import, simulated by libroadrunner): {int(ok.sum())} of {len(rt)} "
              f"imported cases pass ({int(ok[rt.core].sum())} of {int(rt.core.sum())} core)")
    print(f"  time for the whole suite: seedsoil {out['seedsoil_s']} s, roadrunner {out['roadrunner_s']} s "
          f"(sum of per-case times); wall-clock of the run {wall:.1f} s")
    print(f"  per-case table: {a.csv}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
