"""Fingerprints of every example's results, to show a refactor changed no number.

Run it before and after a change and diff the two outputs::

    python scripts/fingerprint.py > before.json   # on the old commit
    python scripts/fingerprint.py > after.json    # on the new one
    diff before.json after.json

Each line hashes the exact bytes of a result table (values, dtypes and column
names, via ``pandas.util.hash_pandas_object``) or a summary, so any change of
any number shows.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


#: columns / summary keys added on purpose after a baseline (``--ignore a,b``): left out of the hashes
IGNORE: set[str] = set()
#: columns renamed on purpose after a baseline (``--rename new=old,...``): hashed under the old name
RENAME: dict[str, str] = {}


def h_df(df: pd.DataFrame) -> str:
    df = df.drop(columns=[c for c in df.columns if c in IGNORE]).rename(columns=RENAME).reset_index(drop=True)
    parts = [json.dumps([str(c) for c in df.columns]).encode(), json.dumps([str(t) for t in df.dtypes]).encode()]
    for c in df.columns:
        col = df[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(str)
        parts.append(pd.util.hash_pandas_object(col, index=False).to_numpy().tobytes())
    return hashlib.sha256(b"".join(parts)).hexdigest()[:16]


def h_obj(x) -> str:
    if isinstance(x, dict):
        x = {k: v for k, v in x.items() if k not in IGNORE}

    def norm(v):
        if isinstance(v, float):
            return repr(v) if math.isfinite(v) else str(v)
        if isinstance(v, dict):
            return {str(k): norm(w) for k, w in v.items()}
        if isinstance(v, (list, tuple)):
            return [norm(w) for w in v]
        if hasattr(v, "item"):
            return norm(v.item())
        return v
    return hashlib.sha256(json.dumps(norm(x), sort_keys=True).encode()).hexdigest()[:16]


def main(which: list[str]) -> None:
    import seedsoil

    out = {}
    if "patients" in which:
        for name in ("breast_surgery", "drugs_after_surgery", "luzzi_1998"):
            sc = seedsoil.load_scenario(ROOT / "examples" / f"{name}.toml")
            for label in ["base"] + sc.variant_names():
                s = sc if label == "base" else sc.variant(label)
                for engine in ("stochastic", "meanfield"):
                    r = seedsoil.simulate(s, seed=1, engine=engine)
                    key = f"{name}/{label}/{engine}"
                    out[key] = {t: h_df(getattr(r, t)) for t in ("timeseries", "colonies", "events")}
                    out[key]["summary"] = h_obj(r.summary)
    if "trial" in which:
        from seedsoil.cohort.trial import load_trial, run_trial

        tr = load_trial(ROOT / "examples" / "trial_il1b.toml")
        with tempfile.TemporaryDirectory() as d:
            res = run_trial(tr, patients=120, chunk_size=40, workers=1, out=Path(d) / "t", report=False)
            cols = [c for c in res.patients.columns]
            out["trial_il1b/patients"] = h_df(res.patients[cols])
            for k, t in sorted(res.tables.items()):
                out[f"trial_il1b/{k}"] = h_df(t)
    if "tissue" in which:
        from seedsoil.tissue import load_tissue_scenario, simulate_tissue

        sc = load_tissue_scenario(ROOT / "examples" / "tissue_edge.toml")
        r = simulate_tissue(sc, seed=3, threads=1)
        out["tissue_edge/timeseries"] = h_df(r.timeseries)
        out["tissue_edge/escapes"] = h_df(r.escapes)
        out["tissue_edge/summary"] = h_obj({k: v for k, v in r.summary.items()})
    if "validate" in which:
        from seedsoil.validate import run_cases

        for res in run_cases(None):
            out[f"validate/{res.case.name}"] = h_obj([(c.name, c.got) for c in res.checks]) if not res.error \
                else f"error: {res.error}"
    for k in sorted(out):
        print(json.dumps({k: out[k]}))


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--ignore" in args:
        i = args.index("--ignore")
        IGNORE.update(args[i + 1].split(","))
        del args[i:i + 2]
    if "--rename" in args:
        i = args.index("--rename")
        RENAME.update(dict(pair.split("=", 1) for pair in args[i + 1].split(",")))
        del args[i:i + 2]
    main(args or ["patients", "trial", "tissue", "validate"])
