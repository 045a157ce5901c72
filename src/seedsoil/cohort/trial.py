"""Virtual trials: a population of patients, arms as overlays of one base scenario.

A trial file is a scenario file plus ``[trial]``, ``[population]`` and
``[[arm]]`` tables (docs/cohort.md). By default the design is paired: every
virtual patient is simulated in every arm with the same random stream (common
random numbers), so arm differences are differences of treatment, not of luck.
With ``design = "randomized"`` each patient is allocated to one arm.

Patients run in chunks; each finished chunk is written as a Parquet part file
with an atomic rename, ``resume`` skips finished chunks, and re-running a
finished trial with the same inputs is a cache hit (content hash of inputs).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import ScenarioError, SeedsoilError
from ..rng import stream
from ..scenario import Scenario, _apply_overlay, _check_cross_field
from ..seeds import check_seed
from .population import Population, parse_population

#: purpose key of the allocation stream (randomized design)
STREAM_ALLOCATION = 2
TRIAL_FILE = "trial.json"
PARTS = "parts"


class TrialStateError(SeedsoilError):
    """The output folder holds another trial, or an unfinished one (use resume / force)."""


@dataclass(frozen=True)
class Trial:
    name: str
    base: Scenario
    population: Population
    arms: tuple[tuple[str, Scenario], ...]
    patients: int
    seed: int
    design: str
    chunk_size: int
    control: str
    horizon_days: float
    spec: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @property
    def arm_names(self) -> list[str]:
        return [n for n, _ in self.arms]

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.patients / self.chunk_size)

    def content_hash(self) -> str:
        from .. import __version__

        blob = json.dumps({"spec": self.spec, "version": __version__}, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_options(self, **kw: Any) -> "Trial":
        """A copy with [trial] options changed (patients, seed, chunk_size, design)."""
        spec = json.loads(json.dumps(self.spec, default=str))
        spec["trial"].update({k: v for k, v in kw.items() if v is not None})
        return _from_spec(spec)


TRIAL_KEYS = {"name", "scenario", "patients", "seed", "design", "chunk_size", "control", "horizon"}


def _err(msg: str, where: str, value: Any = None) -> ScenarioError:
    return ScenarioError(msg, field=where, value=value)


def trial_from_dict(data: Mapping[str, Any], base_dir: Path | None = None) -> Trial:
    """Validate a trial (the parsed TOML of a trial file)."""
    from ..units import parse_quantity

    data = dict(data)
    t = data.get("trial")
    if not isinstance(t, Mapping):
        raise _err("trial: a trial file needs a [trial] table (name, patients, seed, ...)", "trial", t)
    extra = sorted(set(t) - TRIAL_KEYS)
    if extra:
        raise _err(f"trial.{extra[0]}: unknown key (trial takes {', '.join(sorted(TRIAL_KEYS))})",
                   f"trial.{extra[0]}", t[extra[0]])
    # base scenario: an optional file, then the scenario sections of the trial file on top
    base: dict[str, Any] = {}
    if "scenario" in t:
        if isinstance(t["scenario"], str):
            path = Path(t["scenario"])
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            try:
                base = tomllib.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise _err(f"trial.scenario = {t['scenario']!r}: no such file ({path})", "trial.scenario",
                           t["scenario"]) from None
            except tomllib.TOMLDecodeError as exc:
                raise _err(f"trial.scenario: {path} is not valid TOML: {exc}", "trial.scenario", str(path)) from None
        elif isinstance(t["scenario"], Mapping):
            base = dict(t["scenario"])
        else:
            raise _err("trial.scenario: a path to a scenario file", "trial.scenario", t["scenario"])
    base.pop("variant", None)
    for key, value in data.items():
        if key in ("trial", "population", "arm"):
            continue
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    scenario = Scenario.from_dict(base)
    patients = t.get("patients", 1000)
    if isinstance(patients, bool) or not isinstance(patients, int) or not 1 <= patients <= 10**8:
        raise _err(f"trial.patients = {patients!r}: an integer in [1, 1e8]", "trial.patients", patients)
    seed = check_seed(t.get("seed", 1), "trial.seed")
    design = t.get("design", "paired")
    if design not in ("paired", "randomized"):
        raise _err(f"trial.design = {design!r}: must be paired or randomized", "trial.design", design)
    chunk = t.get("chunk_size", 250)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= 10**6:
        raise _err(f"trial.chunk_size = {chunk!r}: an integer in [1, 1e6]", "trial.chunk_size", chunk)
    population = parse_population(data.get("population"))
    raw_arms = data.get("arm", [])
    if isinstance(raw_arms, Mapping):
        raw_arms = [raw_arms]
    if not isinstance(raw_arms, list) or not raw_arms:
        raise _err("arm: a trial needs at least one [[arm]] with a name", "arm", raw_arms)
    arms = []
    for i, a in enumerate(raw_arms):
        if not isinstance(a, Mapping) or not isinstance(a.get("name"), str) or not a["name"]:
            raise _err(f"arm[{i}]: needs a name = \"...\"", f"arm[{i}].name", a)
        overlay = {k: v for k, v in a.items() if k != "name"}
        bad = [k for k in overlay if k in ("scenario", "variant", "injection")]
        if bad:
            raise _err(f"arm[{i}].{bad[0]}: an arm cannot change this section", f"arm[{i}].{bad[0]}")
        if a["name"] in [n for n, _ in arms]:
            raise _err(f"arm[{i}].name = {a['name']!r}: duplicate arm name", f"arm[{i}].name", a["name"])
        arms.append((a["name"], _apply_overlay(scenario, overlay, f"arm[{i}]", a["name"])))
    names = [n for n, _ in arms]
    control = t.get("control", names[0])
    if control not in names:
        raise _err(f"trial.control = {control!r}: not an arm ({', '.join(names)})", "trial.control", control)
    horizon = parse_quantity(t["horizon"], "day", field="trial.horizon") if "horizon" in t else \
        scenario.simulation.follow_up
    if not horizon > 0:
        raise _err(f"trial.horizon = {t.get('horizon')!r}: must be > 0 days", "trial.horizon", t.get("horizon"))
    spec = {
        "trial": {"name": t.get("name", scenario.name), "patients": patients, "seed": seed, "design": design,
                  "chunk_size": chunk, "control": control, "horizon": horizon},
        "scenario": base_dict(scenario),
        "population": json.loads(json.dumps(data.get("population") or {}, default=str)),
        "arm": json.loads(json.dumps(raw_arms, default=str)),
    }
    return Trial(name=str(spec["trial"]["name"]), base=scenario, population=population, arms=tuple(arms),
                 patients=patients, seed=seed, design=design, chunk_size=chunk, control=control,
                 horizon_days=horizon, spec=spec)


def base_dict(sc: Scenario) -> dict[str, Any]:
    d = sc.to_dict()
    d.pop("variant", None)
    return d


def load_trial(path: str | Path) -> Trial:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _err(f"{path}: no such trial file", "file", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise _err(f"{path}: not valid TOML: {exc}", "file", str(path)) from None
    return trial_from_dict(data, base_dir=path.parent)


def _from_spec(spec: Mapping[str, Any]) -> Trial:
    data = {**spec["scenario"], "trial": {k: v for k, v in spec["trial"].items()},
            "population": spec["population"], "arm": spec["arm"]}
    data["trial"]["horizon"] = spec["trial"]["horizon"]
    return trial_from_dict(data)


@lru_cache(maxsize=4)
def _cached_trial(spec_json: str) -> Trial:
    return _from_spec(json.loads(spec_json))


# --------------------------------------------------------------------------- one chunk
def allocation(trial: Trial, patients: np.ndarray) -> np.ndarray:
    """Arm index of each patient (randomized design), from its own stream."""
    k = len(trial.arms)
    return np.array([int(stream(trial.seed, int(i), STREAM_ALLOCATION).integers(k)) for i in patients])


def endpoints(s: Mapping[str, Any]) -> dict[str, Any]:
    """Survival endpoints (days from surgery, or from t = 0 without surgery) of one summary."""
    origin = s["surgery_day"] if math.isfinite(s["surgery_day"]) else 0.0
    end = s["end_day"] - origin
    relapse = s["relapse_day"] - origin if s["relapse"] else math.inf
    death = s["death_day"] - origin if math.isfinite(s["death_day"]) else math.inf
    dmfs = min(relapse, death)
    if relapse <= death and math.isfinite(relapse):
        rel_status, rel_days = 1, relapse
    elif math.isfinite(death):
        rel_status, rel_days = 2, death
    else:
        rel_status, rel_days = 0, end
    m1 = bool(s.get("detectable_at_surgery", 0.0) and s["detectable_at_surgery"] > 0)
    return {
        "eligible": not m1,
        "dmfs_days": dmfs if math.isfinite(dmfs) else end,
        "dmfs_event": bool(math.isfinite(dmfs)),
        "os_days": death if math.isfinite(death) else end,
        "os_event": bool(math.isfinite(death)),
        "relapse_days": rel_days,
        "relapse_status": rel_status,
        "n_mets_at_relapse": s.get("metastases_at_relapse", math.nan),
    }


SUMMARY_COLUMNS = ("status", "surgery_day", "end_day", "shed_before_surgery", "arrived_before_surgery",
                   "colonies_started_before_surgery", "dormant_cells_at_surgery", "colonies_alive_at_surgery",
                   "detectable_at_surgery", "metastases_detected")


def run_chunk(spec_json: str, chunk: int) -> pd.DataFrame:
    """Simulate the patients of ``chunk`` in every arm (paired) or their allocated arm.

    A pure function of (spec, chunk): rows depend only on the trial's seed and the
    patient indices, so any executor and any chunk size give the same rows.
    """
    from ..body.model import build_inputs
    from ..body.stochastic import summarize_stochastic

    trial = _cached_trial(spec_json)
    lo = chunk * trial.chunk_size
    hi = min(trial.patients, lo + trial.chunk_size)
    idx = np.arange(lo, hi)
    draws = trial.population.draw(trial.seed, idx)
    alloc = allocation(trial, idx) if trial.design == "randomized" else None
    rows = []
    for r, i in enumerate(idx):
        over = trial.population.patient_parameters(draws, r)
        for a, (arm, sc) in enumerate(trial.arms):
            if alloc is not None and alloc[r] != a:
                continue
            params = {**sc.parameters, **over}
            row: dict[str, Any] = {"patient": int(i), "arm": arm}
            try:
                _check_cross_field(params)
                inputs = build_inputs(replace(sc, parameters=MappingProxyType(params)))
            except ScenarioError as exc:
                row.update({"status": "not_simulated", "eligible": False, "note": str(exc)})
            else:
                s = summarize_stochastic(inputs, trial.seed, int(i))
                row.update({k: s[k] for k in SUMMARY_COLUMNS})
                row.update(endpoints(s))
                row["note"] = ""
            for var in trial.population.variables:
                v = draws[var.name][r]
                row[("param_" if var.parameter is not None else "cov_") + var.name] = \
                    v.item() if hasattr(v, "item") else v
            rows.append(row)
    df = pd.DataFrame(rows)
    return df


# --------------------------------------------------------------------------- driver
def _atomic_write(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _atomic_text(text: str, path: Path) -> None:
    from ..store import write_text_atomic

    write_text_atomic(path, text)


def part_path(out: Path, chunk: int) -> Path:
    return out / PARTS / f"chunk-{chunk:06d}.parquet"


def _prepare_dir(trial: Trial, out: Path, *, resume: bool, force: bool) -> list[int]:
    """Chunks still to run; raises TrialStateError when the folder belongs to something else."""
    h = trial.content_hash()
    meta_path = out / TRIAL_FILE
    if out.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        same = meta.get("content_hash") == h
        if not same and not force:
            raise TrialStateError(f"{out} holds a different trial (other inputs); pass --force to replace it "
                                  "or choose another --out")
        if not same:
            shutil.rmtree(out)
        elif not meta.get("complete") and not resume and not force:
            raise TrialStateError(f"{out} holds an unfinished run of this trial; pass --resume to continue it "
                                  "or --force to start again")
        elif force and not resume:
            shutil.rmtree(out)
    elif out.exists() and any(out.iterdir()) and not force:
        raise TrialStateError(f"{out} exists and is not a trial folder; pass --force or choose another --out")
    (out / PARTS).mkdir(parents=True, exist_ok=True)
    if not meta_path.exists():
        from .. import __version__

        _atomic_text(json.dumps({"content_hash": h, "seedsoil_version": __version__, "spec": trial.spec,
                                 "n_chunks": trial.n_chunks, "complete": False}, indent=2, default=str), meta_path)
    return [c for c in range(trial.n_chunks) if not part_path(out, c).exists()]


def read_patients(out: Path, trial: Trial) -> pd.DataFrame:
    parts = [pd.read_parquet(part_path(out, c)) for c in range(trial.n_chunks)]
    df = pd.concat(parts, ignore_index=True)
    del parts
    df["arm"] = pd.Categorical(df["arm"], categories=trial.arm_names)
    _share_strings(df)
    _release_arrow_memory()
    return df


def _share_strings(df: pd.DataFrame) -> None:
    """Make the rows of each text column (status, note, covariate levels) share one string object
    per distinct value, in place: each part file brings its own copies, ~60 bytes a row and column.
    Values and dtypes are unchanged; columns with missing, non-text or mostly distinct values are
    left alone."""
    for column in df.columns:
        values = df[column]
        if values.dtype != object or pd.api.types.infer_dtype(values, skipna=False) != "string":
            continue
        codes, uniques = pd.factorize(values)
        if 2 * len(uniques) <= len(values):
            df[column] = np.asarray(uniques, dtype=object)[codes]


def _release_arrow_memory() -> None:
    """Hand the buffers pyarrow's allocator keeps after a large read or write back to the system
    (otherwise the process keeps the high-water mark of the Parquet conversion)."""
    try:
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    except (ImportError, AttributeError):  # pragma: no cover
        pass


@dataclass
class TrialResult:
    """Per-patient table plus summary tables (lifelines statistics)."""

    trial: Trial
    patients: pd.DataFrame
    out_dir: Path | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cache_hit: bool = False

    @property
    def eligible(self) -> pd.DataFrame:
        return self.patients[self.patients["eligible"].astype(bool)]

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name.endswith("_") and name[:-1] in tables:
            return tables[name[:-1]]
        raise AttributeError(name)


#: the per-patient columns the statistics read, besides the ``cov_*`` covariates (and, for
#: the report's subgroups and population, the ``param_*`` sampled parameters)
ANALYSIS_COLUMNS = ("patient", "arm", "dmfs_days", "dmfs_event", "os_days", "os_event", "relapse_days",
                    "relapse_status", "n_mets_at_relapse")


def eligible_rows(patients: pd.DataFrame, prefixes: tuple[str, ...] = ("cov_",)) -> pd.DataFrame:
    """The eligible rows of ``patients`` with only the columns the statistics need
    (:data:`ANALYSIS_COLUMNS` and those starting with ``prefixes``), in table order: a
    working copy a fraction of the size of the whole table."""
    columns = [c for c in patients.columns if c in ANALYSIS_COLUMNS or c.startswith(prefixes)]
    return patients.loc[patients["eligible"].astype(bool).to_numpy(), columns]


def analyse(trial: Trial, patients: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The trial's summary tables (see seedsoil.cohort.stats)."""
    from . import stats

    df = eligible_rows(patients)
    paired = trial.design == "paired"
    tables: dict[str, pd.DataFrame] = {}
    tables["endpoints"] = stats.endpoint_summary(df, trial.horizon_days)
    tables["medians_dmfs"] = stats.medians(df, "dmfs")
    tables["medians_os"] = stats.medians(df, "os")
    if len(trial.arms) > 1:
        for ep in ("dmfs", "os"):
            tables[f"logrank_{ep}"] = stats.logrank(df, ep, control=trial.control)
            tables[f"hazard_ratios_{ep}"] = stats.hazard_ratios(df, ep, control=trial.control, paired=paired)
        covs = [c[4:] for c in df.columns if c.startswith("cov_")]
        if covs:
            tables["subgroups_dmfs"] = pd.concat(
                [stats.subgroup_hazard_ratios(df, "dmfs", by=f"cov_{c}", control=trial.control) for c in covs],
                ignore_index=True)
    tables["rmst_dmfs"] = stats.rmst(df, "dmfs", trial.horizon_days)
    return tables


def run_trial(trial: Trial | str | Path, *, patients: int | None = None, executor: str = "local",
              scheduler: str | None = None, workers: int | None = None, out: str | Path | None = None,
              resume: bool = False, force: bool = False, progress: bool = False, report: bool = True,
              seed: int | None = None, chunk_size: int | None = None) -> TrialResult:
    """Run a trial and return its :class:`TrialResult`.

    ``out``: folder for part files, tables and the report (default
    ``out/<trial name>``); ``None`` results are still written there so that runs
    can resume. ``executor``: "local" (processes on this machine; ``workers=1``
    runs in this process) or "dask" (``scheduler`` address, else a LocalCluster).
    """
    tr = trial if isinstance(trial, Trial) else load_trial(trial)
    if patients is not None or seed is not None or chunk_size is not None:
        tr = tr.with_options(patients=patients, seed=seed, chunk_size=chunk_size)
    out_dir = Path(out) if out is not None else Path("out") / _slug(tr.name)
    todo = _prepare_dir(tr, out_dir, resume=resume, force=force)
    t0 = time.perf_counter()
    cache_hit = not todo and (out_dir / "patients.parquet").exists()
    if todo:
        spec_json = json.dumps(tr.spec, sort_keys=True, default=str)
        ex = _make(executor, workers, scheduler, len(todo))
        bar = _progress(progress, tr, len(todo))
        try:
            for (_, chunk), df in ex.run(run_chunk, [(spec_json, c) for c in todo]):
                _atomic_write(df, part_path(out_dir, chunk))
                bar.advance(len(df) // max(1, len(tr.arms) if tr.design == "paired" else 1))
        finally:
            bar.stop()
            ex.close()
    t1 = time.perf_counter()
    patients_df = read_patients(out_dir, tr)
    tables = analyse(tr, patients_df)
    if not cache_hit:
        _atomic_write(patients_df, out_dir / "patients.parquet")
        _release_arrow_memory()
        from .stats import csv_frame

        for name, table in tables.items():  # a median not reached is an empty cell, not "inf"
            csv_frame(table).to_csv(out_dir / f"{name}.csv.tmp", index=False)
            os.replace(out_dir / f"{name}.csv.tmp", out_dir / f"{name}.csv")
    result = TrialResult(trial=tr, patients=patients_df, out_dir=out_dir, tables=tables,
                         timings={"simulate_s": t1 - t0, "total_s": time.perf_counter() - t0}, cache_hit=cache_hit)
    if report and not cache_hit:
        try:
            from ..report.trial import write_trial_report
        except ImportError:
            write_trial_report = None
        if write_trial_report is not None:
            write_trial_report(result, out_dir / "report.html")
    meta = json.loads((out_dir / TRIAL_FILE).read_text())
    meta.update({"complete": True, "patients_per_s": tr.patients / result.timings["simulate_s"]
                 if todo and result.timings["simulate_s"] > 0 else meta.get("patients_per_s")})
    _atomic_text(json.dumps(meta, indent=2, default=str), out_dir / TRIAL_FILE)
    return result


def _make(kind: str, workers: int | None, scheduler: str | None, n_tasks: int):
    from .execute import make_executor

    if kind == "local" and workers is None and n_tasks == 1:
        workers = 1
    return make_executor(kind, workers=workers, scheduler=scheduler)


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "trial"


class _NoBar:
    def advance(self, n: int) -> None:
        pass

    def stop(self) -> None:
        pass


class _Bar:
    def __init__(self, trial: Trial, n_chunks: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.t0 = time.perf_counter()
        total = min(trial.patients, n_chunks * trial.chunk_size)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), transient=False)
        self.task = self.progress.add_task(f"{trial.name}: patients", total=total, rate="")
        self.done = 0
        self.progress.start()

    def advance(self, n: int) -> None:
        self.done += n
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        self.progress.update(self.task, advance=n, rate=f"{rate:,.0f} patients/s")

    def stop(self) -> None:
        self.progress.stop()


def _progress(show: bool, trial: Trial, n_chunks: int):
    return _Bar(trial, n_chunks) if show else _NoBar()
