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

import json
import math
import shutil
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import pandas as pd

from ..coupling.drugs import DrugLibrary, default_drugs
from ..errors import ScenarioError, SeedsoilError
from ..hashing import content_hash
from ..rng import PATIENT_ALLOCATION, stream
from ..scenario import Scenario, _apply_overlay, _check_cross_field, resolve_links
from ..tomlfile import read_scenario_file
from ..store import run_record, slug, write_csv_atomic, write_parquet_atomic, write_text_atomic
from ..units import DAYS_PER_YEAR
from ..seeds import check_seed
from .population import Population, parse_population

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

#: purpose key of the allocation stream (randomized design)
STREAM_ALLOCATION = PATIENT_ALLOCATION
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
    #: the drugs the arms may name (a value, shipped to every worker with the tasks)
    drugs: DrugLibrary = field(repr=False, default_factory=default_drugs)

    @property
    def arm_names(self) -> list[str]:
        return [n for n, _ in self.arms]

    @property
    def description(self) -> str:
        return str(self.spec.get("trial", {}).get("description", "")) if self.spec else ""

    def __repr__(self) -> str:
        return (f"Trial({self.name!r}, {self.patients} patients, {self.design}, arms: "
                f"{', '.join(self.arm_names)}; seed {self.seed})")

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.patients / self.chunk_size)

    def content_hash(self) -> str:
        """SHA-256 of the normalized trial (linked map content included), the package version
        and the definitions of drugs that are not unchanged presets."""
        from .. import __version__

        blob: dict[str, Any] = {"spec": self.spec, "version": __version__}
        extra = self.drugs.fingerprint()
        if extra:
            blob["drug_library"] = extra
        if self.population.record_fields and self.base.patient is None:
            # drawn clinical records act through the package's links: their definition counts
            from ..body.covariates import default_links

            blob["covariate_links"] = default_links().sha256
        return content_hash(blob)

    def patient_scenario(self, patient: int, arm: str | None = None) -> Scenario:
        """The scenario of virtual patient ``patient`` in ``arm`` (default: the control arm):
        the arm's scenario with the patient's sampled parameters and covariate effects."""
        if not (isinstance(patient, (int, np.integer)) and 0 <= int(patient) < self.patients):
            raise ValueError(f"patient = {patient!r}: an index in [0, {self.patients})")
        arm = self.control if arm is None else arm
        if arm not in self.arm_names:
            raise KeyError(f"arm {arm!r}: not an arm of this trial ({', '.join(self.arm_names)})")
        a = self.arm_names.index(arm)
        # the trial exactly as the workers rebuild it from the canonical spec (its population's
        # variables in the spec's sorted order, which sets each patient's draws)
        canon = _cached_trial(self.spec_json(), self.drugs)
        draws = canon.population.draw(canon.seed, np.array([int(patient)]))
        return _patient_scenario(canon, a, canon.population.patient_parameters(draws, 0))

    @property
    def fitted_population(self) -> str | None:
        """The label (name, data, fit file, seedsoil version, date) of the fitted population
        that drives this trial's patients (``[population] fitted``), or None."""
        return self.population.fitted_label

    def spec_json(self) -> str:
        """The canonical JSON of the spec: what each worker task carries and rebuilds the trial from."""
        return json.dumps(self.spec, sort_keys=True, default=str)

    def simulate_patient(self, patient: int, arm: str | None = None, **kw: Any):
        """Re-simulate patient ``patient`` of this trial in ``arm`` exactly, with every table:
        the same random stream ``(seed, patient)`` and parameters as in :func:`run_trial`, so
        its summary equals that patient's row. Keyword arguments go to
        :func:`seedsoil.body.simulate.simulate` (e.g. ``engine="meanfield"``)."""
        from ..body.simulate import simulate

        return simulate(self.patient_scenario(patient, arm), seed=self.seed, keys=(int(patient),), **kw)

    def with_options(self, **kw: Any) -> "Trial":
        """A copy with [trial] options changed (patients, seed, chunk_size, design)."""
        spec = json.loads(json.dumps(self.spec, default=str))
        spec["trial"].update({k: v for k, v in kw.items() if v is not None})
        return _from_spec(spec, self.drugs)


TRIAL_KEYS = {"name", "description", "scenario", "patients", "seed", "design", "chunk_size", "control", "horizon"}


def _err(msg: str, where: str, value: Any = None) -> ScenarioError:
    return ScenarioError(msg, field=where, value=value)


def trial_from_dict(data: Mapping[str, Any], base_dir: Path | None = None, *,
                    drugs: DrugLibrary | None = None) -> Trial:
    """Validate a trial (the parsed TOML of a trial file); ``drugs``: the drugs its arms may
    name (default: the presets; see :class:`seedsoil.coupling.DrugLibrary`)."""
    drugs = default_drugs() if drugs is None else drugs
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
                base = read_scenario_file(path, "patient")
            except ScenarioError as exc:
                raise _err(f"trial.scenario = {t['scenario']!r}: {exc}", "trial.scenario", t["scenario"]) from None
            resolve_links(base, path.parent)
        elif isinstance(t["scenario"], Mapping):
            base = dict(t["scenario"])
        else:
            raise _err("trial.scenario: a path to a scenario file", "trial.scenario", t["scenario"])
    base.pop("variant", None)
    data = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    if base_dir is not None:
        resolve_links(data, base_dir)
    for key, value in data.items():
        if key in ("trial", "population", "arm"):
            continue
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    scenario = Scenario.from_dict(base, drugs=drugs)
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
    if population.fitted is not None:  # the fitted model's settings and estimates, in every arm
        if scenario.patient is not None and scenario.patient.links is not None:
            raise _err(f"population.fitted = {population.fitted['source']!r}: the fitted population brings its own "
                       f"covariate links; remove patient.links = {scenario.patient.links!r} (or population.fitted)",
                       "population.fitted", population.fitted["source"])
        scenario = scenario.with_overrides(population.fitted_overrides, where="population.fitted: ")
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
        arm_sc = _apply_overlay(scenario, overlay, f"arm[{i}]", a["name"])
        if population.links is not None:  # her record acts through the fitted population's links
            arm_sc = replace(arm_sc, links=population.links)
        arms.append((a["name"], arm_sc))
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
        "population": json.loads(json.dumps(_population_spec(data.get("population"), population), default=str)),
        "arm": json.loads(json.dumps(raw_arms, default=str)),
    }
    if "description" in t:
        if not isinstance(t["description"], str):
            raise _err(f"trial.description = {t['description']!r}: a text", "trial.description", t["description"])
        spec["trial"]["description"] = t["description"]
    trial = Trial(name=str(spec["trial"]["name"]), base=scenario, population=population, arms=tuple(arms),
                  patients=patients, seed=seed, design=design, chunk_size=chunk, control=control,
                  horizon_days=horizon, spec=spec, drugs=drugs)
    population.check_against([sc for _, sc in arms])
    return trial


def _population_spec(raw: Any, population: Population) -> Any:
    """The ``[population]`` table as the trial's spec keeps it: a fitted population's name is
    replaced by its expansion (:func:`seedsoil.cohort.population.fitted_population_spec`), so
    the spec (what workers rebuild the trial from, and what the content hash covers) holds
    the fitted model itself and its provenance."""
    if population.fitted is None or not isinstance(raw, Mapping):
        return raw or {}
    return {**raw, "fitted": dict(population.fitted)}


def base_dict(sc: Scenario) -> dict[str, Any]:
    d = sc.to_dict()
    d.pop("variant", None)
    return d


def load_trial(path: str | Path, *, drugs: DrugLibrary | None = None) -> Trial:
    """Read and validate a trial file (``drugs``: see :func:`trial_from_dict`)."""
    path = Path(path)
    data = read_scenario_file(path, "trial")
    return trial_from_dict(data, base_dir=path.parent, drugs=drugs)


def _from_spec(spec: Mapping[str, Any], drugs: DrugLibrary | None = None) -> Trial:
    data = {**spec["scenario"], "trial": {k: v for k, v in spec["trial"].items()},
            "population": spec["population"], "arm": spec["arm"]}
    data["trial"]["horizon"] = spec["trial"]["horizon"]
    return trial_from_dict(data, drugs=drugs)


@lru_cache(maxsize=4)
def _cached_trial(spec_json: str, drugs: DrugLibrary) -> Trial:
    return _from_spec(json.loads(spec_json), drugs)


def _split_overrides(over: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[tuple[str, Any], ...], dict[str, Any]]:
    """A patient's overrides → (library parameters, other scenario fields, clinical record)."""
    record = {k[len("patient."):]: v for k, v in over.items() if k.startswith("patient.")}
    params = {k: v for k, v in over.items() if not k.startswith(STRUCTURAL_PREFIXES + ("patient.",))}
    fields = tuple(sorted((k, v) for k, v in over.items() if k.startswith(STRUCTURAL_PREFIXES)))
    return params, fields, record


#: dotted names a population may set that are scenario fields, not library parameters
STRUCTURAL_PREFIXES = ("surgery.", "simulation.", "output.", "therapy.")


_ARM_FIELDS: dict[tuple[int, int, tuple], tuple[Trial, Scenario]] = {}


def _arm_with_fields(trial: Trial, arm: int, fields: tuple[tuple[str, Any], ...]) -> Scenario:
    """The arm's scenario with other fields set (cached per process: covariates take few values)."""
    key = (id(trial), arm, fields)
    hit = _ARM_FIELDS.get(key)
    if hit is None or hit[0] is not trial:
        if len(_ARM_FIELDS) > 256:
            _ARM_FIELDS.clear()
        hit = _ARM_FIELDS[key] = (trial, trial.arms[arm][1].with_overrides(dict(fields), where="population: ",
                                                                                 strict=False))
    return hit[1]


def _patient_scenario(trial: Trial, arm: int, over: Mapping[str, Any]) -> Scenario:
    """Arm ``arm``'s scenario with one patient's overrides (raises ScenarioError if invalid)."""
    params, fields, record = _split_overrides(over)
    sc = _arm_with_fields(trial, arm, fields) if fields else trial.arms[arm][1]
    if trial.population.links is not None and sc.links is not trial.population.links:
        sc = replace(sc, links=trial.population.links)  # with_overrides re-reads the package's links
    if record or sc.patient is not None:  # her record goes through the links, after her parameters
        return sc.with_patient(record, params)
    merged = {**sc.parameters, **params}
    _check_cross_field(merged)
    # the sampled values are her overrides too (to_dict, with_overrides and hashes keep them)
    overrides = dict(sorted({**sc.overrides, **params}.items()))
    return replace(sc, parameters=MappingProxyType(merged), overrides=MappingProxyType(overrides))


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
    # residual disease at the surgical site: local recurrence (cause-specific: death censors) and
    # recurrence-free survival (event = any recurrence, local or distant, or death)
    local = s.get("local_recurrence_day", math.nan) - origin if s.get("local_recurrence") else math.inf
    local_event = math.isfinite(local) and local <= death
    rfs = min(relapse, local, death)
    return {
        "eligible": not m1,
        "dmfs_days": dmfs if math.isfinite(dmfs) else end,
        "dmfs_event": bool(math.isfinite(dmfs)),
        "os_days": death if math.isfinite(death) else end,
        "os_event": bool(math.isfinite(death)),
        "relapse_days": rel_days,
        "relapse_status": rel_status,
        "n_mets_at_relapse": s.get("metastases_at_relapse", math.nan),
        "rfs_days": rfs if math.isfinite(rfs) else end,
        "rfs_event": bool(math.isfinite(rfs)),
        "local_days": local if local_event else (death if math.isfinite(death) else end),
        "local_event": bool(local_event),
    }


SUMMARY_COLUMNS = ("status", "surgery_day", "end_day", "shed_before_surgery", "arrived_before_surgery",
                   "colonies_started_before_surgery", "dormant_cells_at_surgery", "colonies_alive_at_surgery",
                   "detectable_at_surgery", "metastases_detected", "relapse_origin")


def chunk_patients(trial: Trial, chunk: int):
    """Every (patient, arm) of ``chunk``, in order, as ``(patient, arm, inputs, columns)``: the
    patient's deterministic body inputs (:class:`~seedsoil.body.model.BodyInputs`, or the
    ScenarioError that makes it invalid) and its sampled parameter columns. Every arm (paired)
    or the allocated one (randomized); a pure function of (trial, chunk)."""
    from ..body.covariates import t_stage
    from ..body.model import build_inputs

    lo = chunk * trial.chunk_size
    hi = min(trial.patients, lo + trial.chunk_size)
    idx = np.arange(lo, hi)
    draws = trial.population.draw(trial.seed, idx)
    alloc = allocation(trial, idx) if trial.design == "randomized" else None
    for r, i in enumerate(idx):
        over = trial.population.patient_parameters(draws, r)
        columns = {}
        for var in trial.population.variables:
            v = draws[var.name][r]
            columns[var.column] = v.item() if hasattr(v, "item") else v
            if var.record:
                columns[var.column] = over.get(f"patient.{var.name}", columns[var.column])
                if var.name == "tumour_size":  # the T category, for subgroups
                    columns["cov_t_stage"] = t_stage(float(columns[var.column]))
        for a, (arm, _sc) in enumerate(trial.arms):
            if alloc is not None and alloc[r] != a:
                continue
            try:
                inputs: Any = build_inputs(_patient_scenario(trial, a, over))
            except ScenarioError as exc:
                inputs = exc
            yield int(i), arm, inputs, columns


def run_chunk(spec_json: str, drugs: DrugLibrary, chunk: int) -> pd.DataFrame:
    """Simulate the patients of ``chunk`` in every arm (paired) or their allocated arm.

    A pure function of (spec, chunk): rows depend only on the trial's seed and the
    patient indices, so any executor and any chunk size give the same rows.
    """
    from ..body.stochastic import summarize_stochastic

    trial = _cached_trial(spec_json, drugs)
    rows = []
    for i, arm, inputs, columns in chunk_patients(trial, chunk):
        row: dict[str, Any] = {"patient": i, "arm": arm}
        if isinstance(inputs, ScenarioError):
            row.update({"status": "not_simulated", "eligible": False, "note": str(inputs)})
        else:
            s = summarize_stochastic(inputs, trial.seed, i)
            row.update({k: s[k] for k in SUMMARY_COLUMNS})
            row.update(endpoints(s))
            row["note"] = ""
        row.update(columns)
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- driver
def _atomic_write(df: pd.DataFrame, path: Path) -> None:
    write_parquet_atomic(df, path)


def part_path(out: Path, chunk: int) -> Path:
    return out / PARTS / f"chunk-{chunk:06d}.parquet"


def prepare_run_dir(out: Path, *, meta_file: str, key: str, record: Callable[[], dict[str, Any]], n_chunks: int,
                    resume: bool, force: bool, what: str) -> list[int]:
    """Chunks still to run in the chunked-run folder ``out`` (metadata ``meta_file`` holding the inputs'
    content hash ``key``, parts in ``parts/``); raises TrialStateError when the folder belongs to
    something else or holds an unfinished run without ``resume``. ``record()`` is the metadata
    of a new run; ``what`` names the run in the messages ("trial")."""
    meta_path = out / meta_file
    if out.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        same = meta.get("content_hash") == key
        if not same and not force:
            old = str(meta.get("content_hash"))[:12]
            raise TrialStateError(f"{out} holds a different {what}: content hash {old}…, this run's {key[:12]}… "
                                  f"(other inputs, or a seedsoil that reads them differently: that folder was made by "
                                  f"seedsoil {meta.get('seedsoil_version', '?')}); its parts cannot be mixed with this "
                                  "run's; pass --force to replace it or choose another --out")
        if not same:
            shutil.rmtree(out)
        elif not meta.get("complete") and not resume and not force:
            raise TrialStateError(f"{out} holds an unfinished run of this {what}; pass --resume to continue it "
                                  "or --force to start again")
        elif force and not resume:
            shutil.rmtree(out)
    elif out.exists() and any(out.iterdir()) and not force:
        raise TrialStateError(f"{out} exists and is not a {what} folder; pass --force or choose another --out")
    (out / PARTS).mkdir(parents=True, exist_ok=True)
    if not meta_path.exists():
        write_text_atomic(meta_path, json.dumps(record(), indent=2, default=str))
    return [c for c in range(n_chunks) if not part_path(out, c).exists()]


def _prepare_dir(trial: Trial, out: Path, *, resume: bool, force: bool) -> list[int]:
    """Chunks still to run; raises TrialStateError when the folder belongs to something else."""
    h = trial.content_hash()
    return prepare_run_dir(out, meta_file=TRIAL_FILE, key=h, n_chunks=trial.n_chunks, resume=resume, force=force,
                           what="trial",
                           record=lambda: run_record(scale="cohort", seed=trial.seed, content_hash=h, spec=trial.spec,
                                                     n_chunks=trial.n_chunks, complete=False,
                                                     **_fitted_record(trial)))


def _fitted_record(trial: Trial) -> dict[str, Any]:
    """What a trial folder's ``trial.json`` says about the fitted population it used (nothing without one)."""
    f = trial.population.fitted
    if f is None:
        return {}
    return {"fitted_population": {"name": f["name"], "label": f["label"], "source": f["source"],
                                  "provenance": f["provenance"]}}


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


@dataclass(frozen=True, eq=False)
class TrialResult:
    """Per-patient table plus summary tables (lifelines statistics).

    ``repr`` is one line; in a notebook the result shows as a small table
    (``_repr_html_``). :meth:`to_store` / :meth:`from_store` write and read a trial folder
    (the folder :func:`run_trial` fills), :meth:`plot` draws Kaplan–Meier curves per arm.
    """

    trial: Trial
    patients: pd.DataFrame
    out_dir: Path | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cache_hit: bool = False

    @property
    def eligible(self) -> pd.DataFrame:
        return self.patients[self.patients["eligible"].astype(bool)]

    def patient(self, patient: int, arm: str | None = None, **kw: Any):
        """Patient ``patient`` of this trial in ``arm`` (default: control), re-simulated exactly
        with every table (:meth:`Trial.simulate_patient`): its summary equals the patient's row."""
        return self.trial.simulate_patient(patient, arm, **kw)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name.endswith("_") and name[:-1] in tables:
            return tables[name[:-1]]
        raise AttributeError(name)

    # ------------------------------------------------------------------ display
    def _horizon_text(self) -> str:
        return f"{self.trial.horizon_days / DAYS_PER_YEAR:.3g} y"

    def headline(self, max_arms: int = 4) -> str:
        """DMFS at the horizon per arm (Kaplan–Meier), from the ``endpoints`` table."""
        ep = self.tables.get("endpoints")
        if ep is None or not len(ep) or "dmfs_at_horizon" not in ep:
            return "no endpoint table"
        parts = [f"{arm} {float(p):.2f}" for arm, p in zip(ep["arm"], ep["dmfs_at_horizon"])]
        if len(parts) > max_arms:
            parts = parts[:max_arms] + [f"... ({len(parts) - max_arms} more)"]
        return f"DMFS at {self._horizon_text()}: " + ", ".join(parts)

    def __repr__(self) -> str:
        tr = self.trial
        status = ", cache hit" if self.cache_hit else ""
        return (f"TrialResult({tr.name!r}, seed={tr.seed}, {tr.design}{status}, {tr.patients:,} patients × "
                f"{len(tr.arms)} arm{'s' if len(tr.arms) != 1 else ''}, {self.headline()})")

    def _repr_html_(self) -> str:
        from .. import __version__
        from .._html import result_html

        tr = self.trial
        eligible = int(self.patients["eligible"].astype(bool).sum()) if "eligible" in self.patients else None
        rows: list[tuple[str, Any]] = [
            ("design", f"{tr.design}, {tr.patients:,} patients × {len(tr.arms)} arms"
                       + (" (every patient in every arm)" if tr.design == "paired" else "")),
            ("eligible patient-arm rows (no detectable metastasis at surgery)",
             f"{eligible:,} of {len(self.patients):,}" if eligible is not None else None),
            ("control arm", tr.control),
            ("horizon", f"{tr.horizon_days:,.0f} d ({self._horizon_text()})"),
        ]
        ep = self.tables.get("endpoints")
        hr = self.tables.get("hazard_ratios_dmfs")
        hr = hr.set_index("arm") if hr is not None and len(hr) else None
        if ep is not None:
            for _, r in ep.iterrows():
                med = float(r.get("median_dmfs_days", math.nan))
                med_text = "not reached" if math.isinf(med) else f"{med / DAYS_PER_YEAR:.2f} y"
                text = (f"n {int(r['n']):,}, {int(r['relapses']):,} relapses, {int(r['deaths']):,} deaths; "
                        f"DMFS at {self._horizon_text()} {float(r['dmfs_at_horizon']):.3f}, median DMFS {med_text}")
                if hr is not None and r["arm"] in hr.index:
                    h = hr.loc[r["arm"]]
                    text += (f"; DMFS hazard ratio {float(h['hr']):.3g} ({float(h['ci_lower']):.3g}–"
                             f"{float(h['ci_upper']):.3g}), p = {float(h['p_value']):.3g}")
                rows.append((f"arm: {r['arm']}" + (" (control)" if r["arm"] == tr.control else ""), text))
        if self.out_dir is not None:
            rows.append(("folder", str(self.out_dir)))
        tables: dict[str, Any] = {"patients": self.patients.shape}
        tables.update({name: t.shape for name, t in self.tables.items()})
        return result_html("TrialResult", tr.name, rows, tables=tables, seed=tr.seed, version=__version__)

    # ------------------------------------------------------------------ trial folder
    def to_store(self, folder: str | Path, *, force: bool = False) -> Path:
        """Write this result as a finished trial folder, atomically: ``trial.json`` (the spec and
        content hash, ``complete``), ``patients.parquet``, one CSV per table and the part files
        (one per chunk, as :func:`run_trial` writes them), so :meth:`from_store` reads it and
        ``run_trial(trial, out=folder)`` finds it as a cache hit. A ``report.html`` of the
        same trial in :attr:`out_dir` is copied along. An existing ``folder`` is replaced only
        with ``force=True``. Returns the folder."""
        from .. import __version__
        from ..store import atomic_dir

        tr = self.trial
        h = tr.content_hash()
        old_meta: dict[str, Any] = {}
        source = Path(self.out_dir) if self.out_dir is not None else None
        if source is not None and (source / TRIAL_FILE).exists():
            old_meta = json.loads((source / TRIAL_FILE).read_text())
        same = old_meta.get("content_hash") == h
        report = source / "report.html" if same and source is not None else None

        def fill(tmp: Path) -> None:
            (tmp / PARTS).mkdir()
            pid = self.patients["patient"].to_numpy()
            for c in range(tr.n_chunks):
                lo, hi = c * tr.chunk_size, min((c + 1) * tr.chunk_size, tr.patients)
                part = self.patients.loc[(pid >= lo) & (pid < hi)].reset_index(drop=True)
                part["arm"] = part["arm"].astype(object)  # as run_chunk writes it (plain strings)
                part.to_parquet(part_path(tmp, c), index=False)
            self.patients.to_parquet(tmp / "patients.parquet", index=False)
            for name, table in self.tables.items():
                table.to_csv(tmp / f"{name}.csv", index=False)
            if report is not None and report.is_file():
                shutil.copyfile(report, tmp / "report.html")
            meta = {**(old_meta if same else {}), "content_hash": h, "seedsoil_version": __version__,
                    "spec": tr.spec, "n_chunks": tr.n_chunks, "complete": True, **_fitted_record(tr)}
            (tmp / TRIAL_FILE).write_text(json.dumps(meta, indent=2, default=str))

        return atomic_dir(folder, fill, force=force)

    @classmethod
    def from_store(cls, folder: str | Path, *, drugs: DrugLibrary | None = None) -> "TrialResult":
        """Read a finished trial folder (written by :func:`run_trial` or :meth:`to_store`) back.

        The trial is rebuilt from the spec in ``trial.json`` (``drugs``: the drugs its arms
        name, default the presets), the patients table read from ``patients.parquet`` and
        the summary tables recomputed from it with :func:`analyse`, as a cache hit of
        :func:`run_trial` does (the CSVs are for other programs). ``cache_hit`` is True and
        ``timings`` empty: nothing was simulated. A folder of an unfinished run raises
        :class:`TrialStateError` (finish it with ``run_trial(..., resume=True)``).
        """
        import warnings

        d = Path(folder)
        meta_path = d / TRIAL_FILE
        if not meta_path.exists():
            raise FileNotFoundError(2, f"{d}: not a trial folder ({TRIAL_FILE} missing)", str(meta_path))
        meta = json.loads(meta_path.read_text())
        if not meta.get("complete") or not (d / "patients.parquet").exists():
            raise TrialStateError(f"{d} holds an unfinished trial; finish it with run_trial(..., out={str(d)!r}, "
                                  "resume=True)")
        trial = _from_spec(meta["spec"], drugs)
        if meta.get("content_hash") != trial.content_hash():
            warnings.warn(f"{d}: trial.json's content hash differs from the trial rebuilt from its spec (written "
                          f"by seedsoil {meta.get('seedsoil_version')}, or with other drugs): patient(i, arm) "
                          "may not reproduce its rows", UserWarning, stacklevel=2)
        patients = pd.read_parquet(d / "patients.parquet")
        patients["arm"] = pd.Categorical(patients["arm"], categories=trial.arm_names)
        _share_strings(patients)
        _release_arrow_memory()
        return cls(trial=trial, patients=patients, out_dir=d, tables=analyse(trial, patients), timings={},
                   cache_hit=True)

    # ------------------------------------------------------------------ figure
    def plot(self, ax: "Axes | None" = None, endpoint: str = "dmfs") -> "Axes":
        """Kaplan–Meier curves of ``endpoint`` ("dmfs", "os", "relapse", "rfs" or "local") per arm, eligible
        patients, years since surgery (:func:`seedsoil.cohort.stats.km`): steps, a pale
        pointwise 95 % band and ticks at censored patients. Draws on ``ax`` (default: a new
        matplotlib Figure, not registered with pyplot; in a notebook show it with
        ``ax.figure``) and returns it."""
        from . import stats

        if endpoint not in stats.ENDPOINTS:
            raise ValueError(f"endpoint = {endpoint!r}: one of {', '.join(stats.ENDPOINTS)}")
        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(7.0, 4.8), layout="constrained").add_subplot()
        df = eligible_rows(self.patients)
        curves = stats.km(df, endpoint)
        marks = stats.censor_marks(df, endpoint)
        for arm in self.trial.arm_names:
            c = curves[(curves["arm"] == arm).to_numpy()]
            if not len(c):
                continue
            x = c["days"].to_numpy(dtype=float) / DAYS_PER_YEAR
            n = int((df["arm"] == arm).sum())
            (line,) = ax.step(x, c["survival"].to_numpy(dtype=float), where="post", linewidth=1.8,
                              label=f"{arm} (n = {n:,})")
            colour = line.get_color()
            ax.fill_between(x, c["ci_lower"].to_numpy(dtype=float), c["ci_upper"].to_numpy(dtype=float),
                            step="post", color=colour, alpha=0.12, linewidth=0)
            m = marks[(marks["arm"] == arm).to_numpy()]
            ax.plot(m["days"].to_numpy(dtype=float) / DAYS_PER_YEAR, m["survival"].to_numpy(dtype=float),
                    linestyle="none", marker="|", markersize=6, color=colour)
        name = {"dmfs": "DMFS", "os": "overall survival", "relapse": "relapse-free (cause-specific)",
                "rfs": "recurrence-free survival", "local": "local-recurrence-free (cause-specific)"}[endpoint]
        ax.set_ylim(0.0, 1.02)
        ax.set_xlim(left=0.0)
        ax.set_xlabel("time since surgery (years)")
        ax.set_ylabel(f"{name} probability")
        ax.set_title(f"{self.trial.name}: Kaplan–Meier, {stats.ENDPOINTS[endpoint][2]}", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        return ax


#: the per-patient columns the statistics read, besides the ``cov_*`` covariates (and, for
#: the report's subgroups and population, the ``param_*`` sampled parameters)
ANALYSIS_COLUMNS = ("patient", "arm", "dmfs_days", "dmfs_event", "os_days", "os_event", "relapse_days",
                    "relapse_status", "n_mets_at_relapse", "rfs_days", "rfs_event", "local_days", "local_event")


def eligible_rows(patients: pd.DataFrame, prefixes: tuple[str, ...] = ("cov_",)) -> pd.DataFrame:
    """The eligible rows of ``patients`` with only the columns the statistics need
    (:data:`ANALYSIS_COLUMNS` and those starting with ``prefixes``), in table order: a
    working copy a fraction of the size of the whole table."""
    columns = [c for c in patients.columns if c in ANALYSIS_COLUMNS or c.startswith(prefixes)]
    return patients.loc[patients["eligible"].astype(bool).to_numpy(), columns]


#: columns of the comparison tables (:func:`seedsoil.cohort.stats.logrank`, :func:`~seedsoil.cohort.stats.hazard_ratios`)
LOGRANK_COLUMNS = ("arm", "control", "test_statistic", "p_value")
HAZARD_RATIO_COLUMNS = ("arm", "control", "hr", "ci_lower", "ci_upper", "p_value")


def analyse(trial: Trial, patients: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The trial's summary tables (see seedsoil.cohort.stats)."""
    from . import stats

    df = eligible_rows(patients)
    paired = trial.design == "paired"
    tables: dict[str, pd.DataFrame] = {}
    tables["endpoints"] = stats.endpoint_summary(df, trial.horizon_days)
    tables["medians_dmfs"] = stats.medians(df, "dmfs")
    tables["medians_os"] = stats.medians(df, "os")
    for ep in ("dmfs", "os"):
        if len(trial.arms) > 1:
            tables[f"logrank_{ep}"] = stats.logrank(df, ep, control=trial.control)
            tables[f"hazard_ratios_{ep}"] = stats.hazard_ratios(df, ep, control=trial.control, paired=paired)
        else:  # one arm: nothing to compare, but the same tables (no rows), so readers find every file
            tables[f"logrank_{ep}"] = pd.DataFrame(columns=list(LOGRANK_COLUMNS))
            tables[f"hazard_ratios_{ep}"] = pd.DataFrame(columns=list(HAZARD_RATIO_COLUMNS))
        # covariates with few values; a continuous one (e.g. age) is left out: bin it (as t_stage bins the size)
        covs = [c[4:] for c in df.columns if c.startswith("cov_") and df[c].nunique() <= 20
                and not (pd.api.types.is_float_dtype(df[c]) and (df[c].dropna() % 1 != 0).any())]
        if covs and len(trial.arms) > 1:  # one arm: no comparison within subgroups either
            tables["subgroups_dmfs"] = pd.concat(
                [stats.subgroup_hazard_ratios(df, "dmfs", by=f"cov_{c}", control=trial.control) for c in covs],
                ignore_index=True)
    tables["rmst_dmfs"] = stats.rmst(df, "dmfs", trial.horizon_days)
    return tables


def run_trial(trial: Trial | str | Path, *, patients: int | None = None, executor: str = "local",
              scheduler: str | None = None, workers: int | None = None, out: str | Path | None = None,
              resume: bool = False, force: bool = False, progress: bool = False,
              report: Callable[["TrialResult", Path], Any] | None = None,
              seed: int | None = None, chunk_size: int | None = None,
              drugs: DrugLibrary | None = None) -> TrialResult:
    """Run a trial and return its :class:`TrialResult`.

    ``out``: folder for part files, tables and the report (default
    ``out/<trial name>``); ``None`` results are still written there so that runs
    can resume. ``executor``: "local" (processes on this machine; ``workers=1``
    runs in this process) or "dask" (``scheduler`` address, else a LocalCluster).
    ``report``: a writer ``report(result, path)`` for ``report.html`` (the cohort layer
    draws nothing itself; :func:`seedsoil.run_trial` passes the HTML report's writer).
    ``drugs``: for a trial file, the drugs its arms may name (a Trial carries its own).
    """
    if report is False:
        report = None
    if report is True:
        raise TypeError("cohort.run_trial(report=...) takes a writer report(result, path) or None; "
                        "seedsoil.run_trial(..., report=True) writes the HTML report")
    tr = trial if isinstance(trial, Trial) else load_trial(trial, drugs=drugs)
    if patients is not None or seed is not None or chunk_size is not None:
        tr = tr.with_options(patients=patients, seed=seed, chunk_size=chunk_size)
    out_dir = Path(out) if out is not None else Path("out") / _slug(tr.name)
    todo = _prepare_dir(tr, out_dir, resume=resume, force=force)
    t0 = time.perf_counter()
    cache_hit = not todo and (out_dir / "patients.parquet").exists()
    if todo:
        spec_json = tr.spec_json()
        ex = _make(executor, workers, scheduler, len(todo))
        bar = _progress(progress, tr, len(todo))
        try:
            for (_, _, chunk), df in ex.run(run_chunk, [(spec_json, tr.drugs, c) for c in todo]):
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
            write_csv_atomic(csv_frame(table), out_dir / f"{name}.csv")
    result = TrialResult(trial=tr, patients=patients_df, out_dir=out_dir, tables=tables,
                         timings={"simulate_s": t1 - t0, "total_s": time.perf_counter() - t0}, cache_hit=cache_hit)
    if report is not None and not cache_hit:
        report(result, out_dir / "report.html")
    meta = json.loads((out_dir / TRIAL_FILE).read_text())
    meta.update({"complete": True, "patients_per_s": tr.patients / result.timings["simulate_s"]
                 if todo and result.timings["simulate_s"] > 0 else meta.get("patients_per_s")})
    write_text_atomic(out_dir / TRIAL_FILE, json.dumps(meta, indent=2, default=str))
    return result


def _make(kind: str, workers: int | None, scheduler: str | None, n_tasks: int):
    from .execute import make_executor

    if kind == "local" and workers is None and n_tasks == 1:
        workers = 1
    return make_executor(kind, workers=workers, scheduler=scheduler)


def _slug(name: str) -> str:
    return slug(name, "trial")


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
