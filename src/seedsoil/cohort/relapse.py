"""Relapse-time distributions of a whole trial: every patient's relapse-free curve, computed.

``relapse_distributions(trial, days)`` runs the relapse-time engine
(:mod:`seedsoil.body.relapse`) for every patient of every arm (or the allocated arm) of a
trial, with the same population draws as :func:`seedsoil.cohort.run_trial`, in chunks on
any executor (this process, local worker processes, a Dask cluster). Nothing is sampled:
for the same trial the result is the same whatever the executor or chunk size. With
``out`` each finished chunk is written atomically and a run resumes where it stopped.

The population average of the relapse-free curves of an arm is what the Kaplan–Meier
curve of that arm estimates when the trial is run with the stochastic engine.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..body.curve import log_likelihood
from ..errors import ScenarioError
from ..hashing import content_hash
from ..store import run_record, write_parquet_atomic, write_text_atomic
from .trial import Trial, _cached_trial, _make, chunk_patients, load_trial, part_path, prepare_run_dir

RELAPSE_FILE = "relapse.json"


def relapse_chunk(spec_json: str, drugs: Any, chunk: int, days: tuple[float, ...],
                  endpoint: str = "distant") -> pd.DataFrame:
    """One chunk of patients: a row per (patient, arm) with the event-free probability and the
    hazard of ``endpoint`` ("distant", "local" or "any" recurrence, or "death") at ``days`` (columns ``s_<i>``,
    ``h_<i>``), the surgery day, and the sampled parameters. A pure function of its arguments."""
    from ..body.relapse import relapse_free

    trial = _cached_trial(spec_json, drugs)
    t = np.asarray(days, dtype=float)
    rows = []
    for i, arm, inputs, columns in chunk_patients(trial, chunk):
        row: dict[str, Any] = {"patient": i, "arm": arm}
        if isinstance(inputs, ScenarioError):
            row.update({"status": "not_simulated", "note": str(inputs), "surgery_day": np.nan})
            s = np.full(len(t), np.nan)
            h = np.full(len(t), np.nan)
        else:
            s, h = relapse_free(inputs, t, endpoint=endpoint)
            row.update({"status": "ok", "note": "", "surgery_day": inputs.schedule.surgery_day})
        row.update({f"s_{j}": float(v) for j, v in enumerate(s)})
        row.update({f"h_{j}": float(v) for j, v in enumerate(h)})
        row.update(columns)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class RelapseCurves:
    """Relapse-free probability and hazard of every patient (rows) at ``days`` after surgery.

    ``rows``: patient, arm, status, note, surgery_day and the population's parameter columns;
    ``survival`` and ``hazard``: arrays of shape (len(rows), len(days)).
    """

    trial: Trial
    days: np.ndarray
    rows: pd.DataFrame
    survival: np.ndarray
    hazard: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    #: what ``survival`` and ``hazard`` are of: "distant" relapse, "local" or "any" recurrence
    endpoint: str = "distant"

    def __repr__(self) -> str:
        what = "" if self.endpoint == "distant" else f", endpoint={self.endpoint!r}"
        return (f"RelapseCurves({self.trial.name!r}{what}, {len(self.rows):,} patient-arms, {len(self.days)} times, "
                f"{self.timings.get('simulate_s', float('nan')):.1f} s)")

    def _mask(self, arm: str | None) -> np.ndarray:
        ok = (self.rows["status"] == "ok").to_numpy()
        if arm is None:
            return ok
        if arm not in self.trial.arm_names:
            raise KeyError(f"arm {arm!r}: one of {', '.join(self.trial.arm_names)}")
        return ok & (self.rows["arm"] == arm).to_numpy()

    def mean_survival(self, arm: str | None = None) -> np.ndarray:
        """The population's relapse-free probability at ``days`` (the mean of the patients' curves):
        what a Kaplan–Meier curve of the arm estimates."""
        return self.survival[self._mask(arm)].mean(axis=0)

    def loglik(self, time_days, event) -> np.ndarray:
        """Each row's log-likelihood of one observation (``time_days`` after surgery, ``event``:
        relapse at that time, or relapse-free when last seen), with ``time_days`` one of ``days``
        (arrays of len(rows), or scalars)."""
        t = np.broadcast_to(np.asarray(time_days, dtype=float), (len(self.rows),))
        ev = np.broadcast_to(np.asarray(event, dtype=bool), (len(self.rows),))
        col = np.searchsorted(self.days, t)
        if np.any(col >= len(self.days)) or not np.allclose(self.days[np.minimum(col, len(self.days) - 1)], t):
            raise ValueError("loglik: every time must be one of the computed days")
        rows = np.arange(len(self.rows))
        s = self.survival[rows, col]
        h = self.hazard[rows, col]
        with np.errstate(divide="ignore"):
            return log_likelihood(np.log(s), h, ev)

    def by_arm(self) -> pd.DataFrame:
        """The population's relapse-free probability per arm at each day (long format: ``arm``,
        ``days_after_surgery``, ``relapse_free_probability``, ``patients``)."""
        parts = []
        for arm in self.trial.arm_names:
            mask = self._mask(arm)
            parts.append(pd.DataFrame({"arm": arm, "days_after_surgery": self.days,
                                       "relapse_free_probability": self.survival[mask].mean(axis=0)
                                       if mask.any() else np.nan, "patients": int(mask.sum())}))
        return pd.concat(parts, ignore_index=True)

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per (patient, arm, day)."""
        n, m = self.survival.shape
        base = self.rows[["patient", "arm"]].loc[np.repeat(np.arange(n), m)].reset_index(drop=True)
        base["days_after_surgery"] = np.tile(self.days, n)
        base["relapse_free_probability"] = self.survival.ravel()
        base["hazard_per_day"] = self.hazard.ravel()
        return base


def relapse_distributions(trial: Trial | str | Path, days, *, patients: int | None = None, executor: str = "local",
                          workers: int | None = None, scheduler: str | None = None, out: str | Path | None = None,
                          resume: bool = False, force: bool = False, chunk_size: int | None = None,
                          seed: int | None = None, drugs: Any = None, endpoint: str = "distant") -> RelapseCurves:
    """Every patient's relapse-free probability and hazard at ``days`` (days after surgery) with the
    relapse-time engine: one call for a whole trial, on ``executor`` ("local": worker processes,
    ``workers=1`` this process; "dask": ``scheduler`` or a LocalCluster).

    Patients, arms and parameters are those of :func:`seedsoil.cohort.run_trial` for the same
    trial (same seed, same draws). ``out``: write each finished chunk there (atomically) and
    resume with ``resume=True``. ``endpoint``: "distant" relapse (the default), "local" recurrence at
    the surgical site, or "any" recurrence (docs/model.md §11d).
    """
    from ..body.curve import check_endpoint

    check_endpoint(endpoint)
    tr = trial if isinstance(trial, Trial) else load_trial(trial, drugs=drugs)
    if patients is not None or chunk_size is not None or seed is not None:
        tr = tr.with_options(patients=patients, chunk_size=chunk_size, seed=seed)
    t = np.asarray(days, dtype=float).ravel()
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0) or t[0] < 0:
        raise ValueError("days: a non-empty increasing sequence of days after surgery (>= 0)")
    days_key = tuple(float(x) for x in t)
    spec_json = tr.spec_json()
    tasks = [(spec_json, tr.drugs, c, days_key, endpoint) for c in range(tr.n_chunks)]
    t0 = time.perf_counter()
    parts: dict[int, pd.DataFrame] = {}
    out_dir = Path(out) if out is not None else None
    todo = list(range(tr.n_chunks))
    if out_dir is not None:
        what_key: dict[str, Any] = {"trial": tr.content_hash(), "days": days_key, "engine": "analytic"}
        if endpoint != "distant":  # (distant keeps the key it always had)
            what_key["endpoint"] = endpoint
        key = content_hash(what_key)
        todo = prepare_run_dir(out_dir, meta_file=RELAPSE_FILE, key=key, n_chunks=tr.n_chunks, resume=resume,
                               force=force, what="relapse-curve run",
                               record=lambda: run_record(scale="cohort", seed=tr.seed, content_hash=key,
                                                         engine="analytic", n_chunks=tr.n_chunks, complete=False))
        for c in range(tr.n_chunks):
            if c not in todo:
                parts[c] = pd.read_parquet(part_path(out_dir, c))
    if todo:
        ex = _make(executor, workers, scheduler, len(todo))
        try:
            for task, df in ex.run(relapse_chunk, [tasks[c] for c in todo]):
                chunk = task[2]
                parts[chunk] = df
                if out_dir is not None:
                    write_parquet_atomic(df, part_path(out_dir, chunk))
        finally:
            ex.close()
    elapsed = time.perf_counter() - t0
    df = pd.concat([parts[c] for c in range(tr.n_chunks)], ignore_index=True)
    s = df[[f"s_{j}" for j in range(len(t))]].to_numpy()
    h = df[[f"h_{j}" for j in range(len(t))]].to_numpy()
    rows = df.drop(columns=[f"s_{j}" for j in range(len(t))] + [f"h_{j}" for j in range(len(t))])
    rows["arm"] = pd.Categorical(rows["arm"], categories=tr.arm_names)
    if out_dir is not None:
        meta = json.loads((out_dir / RELAPSE_FILE).read_text())
        meta.update({"complete": True})
        write_text_atomic(out_dir / RELAPSE_FILE, json.dumps(meta, indent=2, default=str))
    return RelapseCurves(trial=tr, days=t, rows=rows, survival=s, hazard=h,
                         timings={"simulate_s": elapsed, "ms_per_patient_arm": 1e3 * elapsed / max(len(df), 1)},
                         endpoint=endpoint)
