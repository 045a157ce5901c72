"""Global sensitivity of relapse outputs to model parameters over their ranges (SALib).

A :class:`SensitivitySpec` names a base patient scenario, the parameters to vary (names of
the parameter library, each over a user range inside the library's allowed range, sampled
uniformly or log-uniformly), the outputs and the method:

``sobol``
    Saltelli's sampling of Sobol' sequences (``N`` base samples, ``N (d + 2)`` model runs,
    ``N (2d + 2)`` with second-order indices) and the Sobol'/Saltelli estimators of the
    first-order (S1) and total-order (ST) indices with bootstrap confidence intervals
    (Saltelli et al. 2010, doi:10.1016/j.cpc.2009.09.018).
``morris``
    Morris' elementary effects on ``r`` trajectories over a ``p``-level grid (``r (d + 1)`` model
    runs): mu* (the mean absolute effect, Campolongo et al. 2007, doi:10.1016/j.envsoft.2006.10.004),
    its bootstrap confidence interval and sigma (Morris 1991, doi:10.1080/00401706.1991.10484804).

Sampling and analysis are SALib's (``SALib.sample``/``SALib.analyze``); this module evaluates the
model rows in chunks on an executor (:func:`seedsoil.execute.make_executor`) and writes a
resumable run folder. Each row is one patient: the base scenario with the row's parameter values,
evaluated by the relapse-time engine (:func:`seedsoil.body.relapse.relapse_free`). That engine is
deterministic, so the outputs carry no Monte Carlo noise: the confidence intervals are those of the
sampling design only, and the result does not depend on the executor, the number of workers or the
chunk size.

Any picklable callable ``model(X) -> Y`` (rows of parameter values in, one column per output out)
can stand in for the relapse engine (``run_sensitivity(spec, model=f)``), which is how the
estimators are checked against closed forms (the Ishigami function, tests/test_sensitivity.py).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ..errors import ScenarioError, did_you_mean
from ..hashing import content_hash
from ..params import check_in_use
from ..seeds import check_seed
from ..store import run_record, write_csv_atomic, write_parquet_atomic, write_text_atomic
from ..tomlfile import check_keys, integer, subtable
from ..units import DAYS_PER_YEAR

RUN_FILE = "run.json"
INDICES_FILE = "indices.csv"
SECOND_ORDER_FILE = "indices_second_order.csv"
SAMPLES_FILE = "samples.parquet"

METHODS = ("sobol", "morris")
OUTPUT_KINDS = ("relapse_by", "hazard_peak", "model")
#: what each endpoint of the relapse-time engine is the time to, in output names
EVENT_NAMES = {"distant": "distant relapse", "local": "local recurrence", "any": "any recurrence",
               "death": "death"}
#: rows per chunk: at 3-10 ms per row a chunk takes 0.2-0.6 s, long next to the cost of sending a
#: task (the scenario is pickled with each) yet short enough that a few hundred rows still give
#: every worker several chunks to balance
DEFAULT_CHUNK_SIZE = 64
#: bootstrap resamples of SALib's confidence intervals: the analysis costs milliseconds next to the
#: model runs, and 1000 resamples make the interval's own Monte Carlo error small (Efron & Tibshirani)
DEFAULT_RESAMPLES = 1000
#: Morris grid levels: p = 4 with the step p / (2 (p - 1)) is the design Morris (1991) and
#: Campolongo et al. (2007) use, and SALib's default
DEFAULT_LEVELS = 4
#: grid of the hazard's peak (days): finer than the relapse-time engine's macro step (16 days by
#: default), whose piecewise-constant hazard it resolves; the peak is the first day of the top step
PEAK_STEP_DAYS = 1.0

_TOP = {"sensitivity", "method", "executor", "parameter", "output"}
_SENS_KEYS = {"name", "scenario", "seed", "chunk_size", "description"}
_METHOD_KEYS = {"name", "samples", "second_order", "trajectories", "levels", "resamples", "conf_level"}
_EXECUTOR_KEYS = {"kind", "workers", "scheduler"}
_PARAM_KEYS = {"name", "bounds", "log"}
_OUTPUT_KEYS = {"kind", "years", "endpoint", "name"}


# ----------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class ParameterRange:
    """One varied parameter: library name, bounds in the library's unit, log-uniform or uniform."""

    name: str
    low: float
    high: float
    log: bool = False
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bounds": [self.low, self.high], "log": self.log}


@dataclass(frozen=True)
class OutputSpec:
    """One output: ``relapse_by`` (P(event by ``years`` after surgery)), ``hazard_peak`` (the day after
    surgery of the hazard's maximum) of ``endpoint``, or ``model`` (a column of a stand-in model)."""

    kind: str
    endpoint: str = "distant"
    years: float | None = None
    name: str = ""

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.kind == "relapse_by":
            return f"P({EVENT_NAMES[self.endpoint]} by {self.years:g} y)"
        return f"hazard peak of {EVENT_NAMES[self.endpoint]} (days)"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind != "model":
            out["endpoint"] = self.endpoint
        if self.years is not None:
            out["years"] = self.years
        if self.name:
            out["name"] = self.name
        return out


def _library_bounds(name: str, raw: Any, i: int, scenario: Any) -> ParameterRange:
    from ..params import load_library

    lib = load_library()
    where = f"parameter[{i}]"
    if name not in lib:
        raise ScenarioError(f"{where}.name = {name!r}: not a parameter of the library{did_you_mean(name, lib)} "
                            "(see `seedsoil params`)", field=f"{where}.name", value=name)
    p = lib[name]
    if p.kind != "number":
        raise ScenarioError(f"{where}.name = {name!r}: a {p.kind} parameter; only numeric parameters can vary",
                            field=f"{where}.name", value=name)
    if not isinstance(raw.get("bounds"), list) or len(raw["bounds"]) != 2:
        raise ScenarioError(f"{where}.bounds ({name}): give [low, high] in {p.unit or 'its unit'} (allowed "
                            f"{p.range})", field=f"{where}.bounds", value=raw.get("bounds"))
    lo_hi = []
    for end, b in zip(("low", "high"), raw["bounds"]):
        try:
            lo_hi.append(float(p.coerce(b)))
        except ScenarioError:
            unit = f" {p.unit}" if p.unit else ""
            raise ScenarioError(f"{where}.bounds: {name} {end} bound {b!r} is outside the allowed range "
                                f"{p.range}{unit}", field=f"{where}.bounds", value=b) from None
    lo, hi = lo_hi
    if not lo < hi:
        raise ScenarioError(f"{where}.bounds ({name}) = {raw['bounds']!r}: need low < high",
                            field=f"{where}.bounds", value=raw["bounds"])
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ScenarioError(f"{where}.log ({name}) = {log!r}: must be true or false", field=f"{where}.log", value=log)
    if log and lo <= 0:
        raise ScenarioError(f"{where}.bounds ({name}): log-scale sampling needs a low bound > 0, not {lo:g}",
                            field=f"{where}.bounds", value=raw["bounds"])
    check_in_use(name, scenario.parameters, where)
    return ParameterRange(name=name, low=lo, high=hi, log=log, unit=p.unit)


@dataclass(frozen=True)
class SensitivitySpec:
    """What to vary, what to look at and how (see the module docstring); build with :meth:`from_dict`
    or :func:`load_sensitivity`."""

    name: str
    parameters: tuple[ParameterRange, ...]
    outputs: tuple[OutputSpec, ...]
    seed: int
    method: str = "sobol"
    #: sobol: N base samples (a power of 2: the Sobol' sequence's balance needs it)
    samples: int | None = None
    second_order: bool = False
    #: morris: trajectories r and grid levels p
    trajectories: int | None = None
    levels: int = DEFAULT_LEVELS
    resamples: int = DEFAULT_RESAMPLES
    conf_level: float = 0.95
    chunk_size: int = DEFAULT_CHUNK_SIZE
    executor: str = "local"
    workers: int | None = None
    scheduler: str | None = None
    #: the base patient (a seedsoil.scenario.Scenario); None when a stand-in model is given
    scenario: Any = field(default=None, compare=False)
    description: str = ""

    # -- construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str | Path | None = None, *,
                  drugs: Any = None) -> "SensitivitySpec":
        """Validate a parsed spec file. ``[sensitivity] scenario`` is a scenario file (relative to
        ``base_dir``) or a scenario table (as ``run.json`` keeps it); without it every parameter is
        free-named and every output ``kind = "model"`` (a stand-in model, ``run_sensitivity(model=)``)."""
        check_keys(data, _TOP, "spec")
        sens, meth, ex = subtable(data, "sensitivity"), subtable(data, "method"), subtable(data, "executor")
        check_keys(sens, _SENS_KEYS, "sensitivity")
        check_keys(meth, _METHOD_KEYS, "method")
        check_keys(ex, _EXECUTOR_KEYS, "executor")
        scenario = _base_scenario(sens.get("scenario"), base_dir, drugs)
        if "seed" not in sens:
            raise ScenarioError("sensitivity.seed: missing; the sample design is drawn from it (an integer)",
                                field="sensitivity.seed", value=None)
        seed = check_seed(sens["seed"], "sensitivity.seed")
        name = sens.get("name", scenario.name if scenario is not None else "sensitivity")
        method = meth.get("name", "sobol")
        if method not in METHODS:
            raise ScenarioError(f"method.name = {method!r}: one of {', '.join(METHODS)}", field="method.name",
                                value=method)
        kw: dict[str, Any] = {}
        if method == "sobol":
            if "samples" not in meth:
                raise ScenarioError("method.samples: missing; the number N of base samples (a power of 2) of "
                                    "Sobol' sampling", field="method.samples", value=None)
            n = integer(meth["samples"], "method.samples", 2)
            if n & (n - 1):
                raise ScenarioError(f"method.samples = {n}: must be a power of 2 (Sobol' sequences are balanced "
                                    "only at powers of 2)", field="method.samples", value=n)
            so = meth.get("second_order", False)
            if not isinstance(so, bool):
                raise ScenarioError(f"method.second_order = {so!r}: must be true or false",
                                    field="method.second_order", value=so)
            kw.update(samples=n, second_order=so)
        else:
            if "trajectories" not in meth:
                raise ScenarioError("method.trajectories: missing; the number r of Morris trajectories",
                                    field="method.trajectories", value=None)
            levels = integer(meth.get("levels", DEFAULT_LEVELS), "method.levels", 2)
            if levels % 2:
                raise ScenarioError(f"method.levels = {levels}: must be even (the step p / (2 (p - 1)) then "
                                    "samples every level equally)", field="method.levels", value=levels)
            kw.update(trajectories=integer(meth["trajectories"], "method.trajectories", 2), levels=levels)
        for other in (("trajectories", "levels") if method == "sobol" else ("samples", "second_order")):
            if other in meth:
                raise ScenarioError(f"method.{other}: not a setting of {method}", field=f"method.{other}",
                                    value=meth[other])
        kw["resamples"] = integer(meth.get("resamples", DEFAULT_RESAMPLES), "method.resamples", 10)
        conf = meth.get("conf_level", 0.95)
        if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0 < conf < 1:
            raise ScenarioError(f"method.conf_level = {conf!r}: must be in (0, 1)", field="method.conf_level",
                                value=conf)
        kw["conf_level"] = float(conf)
        kw["chunk_size"] = integer(sens.get("chunk_size", DEFAULT_CHUNK_SIZE), "sensitivity.chunk_size", 1)
        kind = ex.get("kind", "local")
        if kind not in ("local", "dask"):
            raise ScenarioError(f"executor.kind = {kind!r}: must be local or dask", field="executor.kind", value=kind)
        workers = ex.get("workers")
        kw.update(executor=kind, workers=None if workers is None else integer(workers, "executor.workers", 1),
                  scheduler=ex.get("scheduler"))
        params = _parameters(data.get("parameter"), scenario)
        outputs = _outputs(data.get("output"), scenario)
        return cls(name=str(name), parameters=params, outputs=outputs, seed=seed, method=method, scenario=scenario,
                   description=str(sens.get("description", "")), **kw)

    def to_dict(self) -> dict[str, Any]:
        """The spec as a table (the form of a spec file, with the scenario inline): JSON-ready."""
        sens: dict[str, Any] = {"name": self.name, "seed": self.seed, "chunk_size": self.chunk_size}
        if self.description:
            sens["description"] = self.description
        if self.scenario is not None:
            sens["scenario"] = self.scenario.to_dict()
        meth: dict[str, Any] = {"name": self.method, "resamples": self.resamples, "conf_level": self.conf_level}
        if self.method == "sobol":
            meth.update(samples=self.samples, second_order=self.second_order)
        else:
            meth.update(trajectories=self.trajectories, levels=self.levels)
        ex: dict[str, Any] = {"kind": self.executor}
        if self.workers is not None:
            ex["workers"] = self.workers
        if self.scheduler is not None:
            ex["scheduler"] = self.scheduler
        return {"sensitivity": sens, "method": meth, "executor": ex,
                "parameter": [p.to_dict() for p in self.parameters], "output": [o.to_dict() for o in self.outputs]}

    def design_key(self) -> dict[str, Any]:
        """What the rows and outputs depend on (not the executor, workers or name)."""
        d = self.to_dict()
        d["sensitivity"] = {k: v for k, v in d["sensitivity"].items() if k not in ("name", "description")}
        d.pop("executor")
        return d

    def with_options(self, **kw: Any) -> "SensitivitySpec":
        """A copy with run options changed (``executor``, ``workers``, ``scheduler``, ``chunk_size``);
        None keeps the spec's value."""
        allowed = {"executor", "workers", "scheduler", "chunk_size"}
        bad = set(kw) - allowed
        if bad:
            raise TypeError(f"with_options: unknown option(s) {sorted(bad)}")
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    # -- the design
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def output_names(self) -> list[str]:
        return [o.label for o in self.outputs]

    def problem(self) -> dict[str, Any]:
        """SALib's problem: bounds in the sampling space (log10 of the value for log-scale parameters)."""
        bounds = [[math.log10(p.low), math.log10(p.high)] if p.log else [p.low, p.high] for p in self.parameters]
        return {"num_vars": len(self.parameters), "names": self.names, "bounds": bounds}

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows in the sampling space, rows of parameter values): SALib's design for this spec and seed."""
        prob = self.problem()
        if self.method == "sobol":
            from SALib.sample import sobol

            xs = sobol.sample(prob, self.samples, calc_second_order=self.second_order, scramble=True, seed=self.seed)
        else:
            from SALib.sample import morris

            xs = morris.sample(prob, self.trajectories, num_levels=self.levels, seed=self.seed)
        x = xs.copy()
        for j, p in enumerate(self.parameters):
            if p.log:
                x[:, j] = 10.0 ** xs[:, j]
        return xs, x

    def n_rows(self) -> int:
        d = len(self.parameters)
        if self.method == "sobol":
            return int(self.samples) * ((2 * d + 2) if self.second_order else (d + 2))
        return int(self.trajectories) * (d + 1)


def _base_scenario(value: Any, base_dir: str | Path | None, drugs: Any) -> Any:
    from ..scenario import Scenario, load_scenario

    if value is None:
        return None
    if isinstance(value, Scenario):
        return value
    if isinstance(value, Mapping):
        return Scenario.from_dict(value, drugs=drugs)
    if isinstance(value, str):
        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise ScenarioError(f"sensitivity.scenario = {value!r}: no such scenario file ({path})",
                                field="sensitivity.scenario", value=value)
        return load_scenario(path, drugs=drugs)
    raise ScenarioError(f"sensitivity.scenario = {value!r}: a scenario file name", field="sensitivity.scenario",
                        value=value)


def _parameters(raw: Any, scenario: Any) -> tuple[ParameterRange, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError("parameter: give at least one [[parameter]] table (name, bounds, optional log)",
                            field="parameter", value=raw)
    out: list[ParameterRange] = []
    for i, p in enumerate(raw):
        where = f"parameter[{i}]"
        if not isinstance(p, Mapping) or "name" not in p:
            raise ScenarioError(f"{where}: a table with name and bounds", field=where, value=p)
        check_keys(p, _PARAM_KEYS, where)
        name = str(p["name"])
        if scenario is not None:
            out.append(_library_bounds(name, p, i, scenario))
        else:  # a stand-in model: free names, plain numeric bounds
            b = p.get("bounds")
            if (not isinstance(b, list) or len(b) != 2 or
                    not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in b)
                    or not b[0] < b[1]):
                raise ScenarioError(f"{where}.bounds ({name}) = {b!r}: give [low, high] with low < high",
                                    field=f"{where}.bounds", value=b)
            log = bool(p.get("log", False))
            if log and b[0] <= 0:
                raise ScenarioError(f"{where}.bounds ({name}): log-scale sampling needs a low bound > 0",
                                    field=f"{where}.bounds", value=b)
            out.append(ParameterRange(name=name, low=float(b[0]), high=float(b[1]), log=log))
    names = [p.name for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"parameter: {', '.join(dup)} given more than once", field="parameter", value=dup)
    return tuple(out)


def _outputs(raw: Any, scenario: Any) -> tuple[OutputSpec, ...]:
    from ..body.curve import ENDPOINT_COLUMNS

    if not isinstance(raw, list) or not raw:
        raise ScenarioError("output: give at least one [[output]] table (kind = relapse_by | hazard_peak)",
                            field="output", value=raw)
    out: list[OutputSpec] = []
    for i, o in enumerate(raw):
        where = f"output[{i}]"
        if not isinstance(o, Mapping):
            raise ScenarioError(f"{where}: a table (kind, endpoint, years)", field=where, value=o)
        check_keys(o, _OUTPUT_KEYS, where)
        kind = o.get("kind")
        if kind not in OUTPUT_KINDS:
            raise ScenarioError(f"{where}.kind = {kind!r}: one of {', '.join(OUTPUT_KINDS)}", field=f"{where}.kind",
                                value=kind)
        if (kind == "model") != (scenario is None):
            raise ScenarioError(f"{where}.kind = {kind!r}: " + ("needs [sensitivity] scenario" if scenario is None
                                                                 else "only for a stand-in model (no scenario)"),
                                field=f"{where}.kind", value=kind)
        if kind == "model":
            if not o.get("name"):
                raise ScenarioError(f"{where}.name: a stand-in model's output needs a name", field=f"{where}.name",
                                    value=None)
            out.append(OutputSpec(kind="model", name=str(o["name"])))
            continue
        endpoint = o.get("endpoint", "distant")
        if endpoint not in ENDPOINT_COLUMNS:
            raise ScenarioError(f"{where}.endpoint = {endpoint!r}: one of {', '.join(ENDPOINT_COLUMNS)}",
                                field=f"{where}.endpoint", value=endpoint)
        years = None
        if kind == "relapse_by":
            years = o.get("years")
            follow = scenario.simulation.follow_up / DAYS_PER_YEAR
            if isinstance(years, bool) or not isinstance(years, (int, float)) or not 0 < years <= follow + 1e-9:
                raise ScenarioError(f"{where}.years = {years!r}: must be in (0, {follow:g}], the scenario's "
                                    "follow-up in years", field=f"{where}.years", value=years)
            years = float(years)
        elif "years" in o:
            raise ScenarioError(f"{where}.years: not a setting of hazard_peak (the peak is sought over the "
                                "scenario's follow-up)", field=f"{where}.years", value=o["years"])
        out.append(OutputSpec(kind=kind, endpoint=endpoint, years=years, name=str(o.get("name", ""))))
    labels = [o.label for o in out]
    dup = sorted({n for n in labels if labels.count(n) > 1})
    if dup:
        raise ScenarioError(f"output: {', '.join(dup)} given more than once", field="output", value=dup)
    return tuple(out)


def load_sensitivity(path: str | Path, *, drugs: Any = None) -> SensitivitySpec:
    """Read and validate a sensitivity spec file (TOML; the scenario path is relative to it)."""
    from ..tomlfile import read_toml

    path = Path(path)
    return SensitivitySpec.from_dict(read_toml(path, what="sensitivity spec"), base_dir=path.parent, drugs=drugs)


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class RelapseModel:
    """The relapse-time engine as a model: each row of parameter values is the base scenario with
    those values; the outputs are read from :func:`seedsoil.body.relapse.relapse_free`. Picklable
    (the scenario travels with each task). A row the scenario rejects gives NaN outputs."""

    scenario: Any
    names: tuple[str, ...]
    outputs: tuple[OutputSpec, ...]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from ..body.relapse import relapse_free

        follow = float(self.scenario.simulation.follow_up)
        grid = np.arange(0.0, follow, PEAK_STEP_DAYS)
        endpoints = sorted({o.endpoint for o in self.outputs}, key=list(EVENT_NAMES).index)
        y = np.full((len(x), len(self.outputs)), np.nan)
        for r, row in enumerate(np.asarray(x, dtype=float)):
            try:
                sc = self.scenario.with_parameters(**{n: float(v) for n, v in zip(self.names, row)})
            except ScenarioError:
                continue
            for ep in endpoints:
                cols = [k for k, o in enumerate(self.outputs) if o.endpoint == ep]
                times = [o.years * DAYS_PER_YEAR for o in (self.outputs[k] for k in cols) if o.kind == "relapse_by"]
                t = np.concatenate([grid, times]) if times else grid
                s, h = relapse_free(sc, t, endpoint=ep)
                at = len(grid)
                for k in cols:
                    o = self.outputs[k]
                    if o.kind == "relapse_by":
                        y[r, k] = 1.0 - s[at]
                        at += 1
                    else:
                        hg = h[:len(grid)]
                        y[r, k] = grid[int(np.argmax(hg))] if np.all(np.isfinite(hg)) and hg.max() > 0 else np.nan
        return y


def evaluate_chunk(model: Callable[[np.ndarray], np.ndarray], chunk: int, x: np.ndarray) -> np.ndarray:
    """One executor task: the outputs (rows x outputs) of ``model`` at the rows ``x`` of chunk ``chunk``.
    A pure function of its arguments, so a rerun (a lost Dask task, a resumed run) gives the same values."""
    y = np.asarray(model(np.asarray(x, dtype=float)), dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.shape[0] != len(x):
        raise ValueError(f"model returned {y.shape[0]} rows for {len(x)} inputs")
    return y


# ----------------------------------------------------------------------------- analysis
def analyse(spec: SensitivitySpec, xs: np.ndarray, y: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame | None,
                                                                            list[str]]:
    """SALib's indices of every output (columns of ``y``) at the design ``xs`` (sampling space):
    (tidy indices, second-order indices or None, notes). An output with non-finite values or no
    variance has NaN indices and a note saying why."""
    prob = spec.problem()
    rows: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    notes: list[str] = []
    for k, out in enumerate(spec.output_names):
        yk = y[:, k]
        bad = int((~np.isfinite(yk)).sum())
        flat = bad == 0 and float(np.ptp(yk)) == 0.0
        if bad or flat:
            notes.append(f"{out}: " + (f"{bad} of {len(yk)} model runs gave no value" if bad
                                       else "the same value in every run (no variance)") + "; indices are NaN")
        if spec.method == "sobol":
            names = ("S1", "S1_conf", "ST", "ST_conf")
            if bad or flat:
                si = {n: np.full(len(spec.names), np.nan) for n in names}
                si["S2"] = si["S2_conf"] = np.full((len(spec.names),) * 2, np.nan)
            else:
                from SALib.analyze import sobol

                si = sobol.analyze(prob, yk, calc_second_order=spec.second_order, num_resamples=spec.resamples,
                                   conf_level=spec.conf_level, seed=spec.seed)
            if spec.second_order:
                for i in range(len(spec.names)):
                    for j in range(i + 1, len(spec.names)):
                        pairs.append({"output": out, "parameter_1": spec.names[i], "parameter_2": spec.names[j],
                                      "S2": float(si["S2"][i, j]), "S2_conf": float(si["S2_conf"][i, j])})
        else:
            names = ("mu", "mu_star", "mu_star_conf", "sigma")
            if bad or flat:
                si = {n: np.full(len(spec.names), np.nan) for n in names}
            else:
                from SALib.analyze import morris

                si = morris.analyze(prob, xs, yk, num_resamples=spec.resamples, conf_level=spec.conf_level,
                                    num_levels=spec.levels, seed=spec.seed)
        for i, p in enumerate(spec.names):
            rows.append({"output": out, "parameter": p, **{n: float(np.asarray(si[n])[i]) for n in names}})
    second = pd.DataFrame(pairs) if spec.method == "sobol" and spec.second_order else None
    return pd.DataFrame(rows), second, notes


# ----------------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """Indices per (output, parameter) and the model runs behind them.

    ``indices``: output, parameter, then S1, S1_conf, ST, ST_conf (sobol) or mu, mu_star,
    mu_star_conf, sigma (morris; in the output's unit per the parameter's whole range, the
    sampling space's for log-scale parameters); ``samples``: one row per model run (row, the
    parameter values, the outputs); ``second_order``: output, parameter_1, parameter_2, S2,
    S2_conf (sobol with second_order), else None.
    """

    spec: SensitivitySpec
    indices: pd.DataFrame
    samples: pd.DataFrame
    second_order: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    out_dir: Path | None = None

    def __repr__(self) -> str:
        s = self.spec
        design = f"sobol N={s.samples}" if s.method == "sobol" else f"morris r={s.trajectories} p={s.levels}"
        wall = self.timings.get("simulate_s")
        t = f", {wall:.1f} s" if wall is not None else ""
        return (f"SensitivityResult({s.name!r}, {design}, {len(s.parameters)} parameters x {len(s.outputs)} outputs, "
                f"{len(self.samples):,} model runs{t})")

    def to_frame(self) -> pd.DataFrame:
        """The tidy indices table (a copy)."""
        return self.indices.copy()

    def plot(self, ax=None, output: str | None = None):
        """Bars per parameter for one output (default the first): S1 and ST (sobol) or mu* and sigma
        (morris), with the confidence intervals as error bars; returns the axes."""
        from ..plotting import colour, grid, new_axes

        output = output or self.spec.output_names[0]
        if output not in self.spec.output_names:
            raise KeyError(f"output {output!r}: one of {', '.join(map(repr, self.spec.output_names))}")
        ax = new_axes(ax)
        df = self.indices[self.indices["output"] == output]
        sobol = self.spec.method == "sobol"
        bars = ([("S1", "S1_conf", "first order S1"), ("ST", "ST_conf", "total order ST")] if sobol
                else [("mu_star", "mu_star_conf", "mu*"), ("sigma", None, "sigma")])
        x = np.arange(len(df))
        width = 0.8 / len(bars)
        for b, (col, conf, label) in enumerate(bars):
            yerr = df[conf].to_numpy() if conf else None
            ax.bar(x + (b - (len(bars) - 1) / 2) * width, df[col].to_numpy(), width, yerr=yerr, capsize=3,
                   color=colour(b), label=label)
        ax.set_xticks(x)
        ax.set_xticklabels(df["parameter"], rotation=20, ha="right")
        ax.set_ylabel("Sobol' index" if self.spec.method == "sobol" else "elementary effect (per range)")
        ax.set_title(f"{self.spec.name}: {output}")
        ax.axhline(0.0, color="0.3", lw=0.8)
        grid(ax, "y")
        ax.legend(title=f"{100 * self.spec.conf_level:g} % CI")
        return ax

    def _repr_html_(self) -> str:
        from .. import __version__
        from .._html import result_html

        s = self.spec
        design = (f"Sobol' N = {s.samples}" + (", second order" if s.second_order else "") if s.method == "sobol"
                  else f"Morris r = {s.trajectories}, p = {s.levels}")
        top = "ST" if s.method == "sobol" else "mu_star"
        rows: list[tuple[str, Any]] = [("design", f"{design}; {len(self.samples):,} model runs"),
                                       ("parameters", ", ".join(s.names))]
        for out, part in self.indices.groupby("output", sort=False):
            best = part.loc[part[top].idxmax()] if part[top].notna().any() else None
            rows.append((f"{out}: largest {top}", "—" if best is None else f"{best['parameter']} ({best[top]:.3g})"))
        tables = {"indices": self.indices.shape, "samples": self.samples.shape}
        if self.second_order is not None:
            tables["second_order"] = self.second_order.shape
        return result_html("SensitivityResult", s.name, rows, tables=tables, seed=s.seed, version=__version__)

    def to_store(self, folder: str | Path, *, force: bool = False) -> Path:
        """Write the finished-run files (run.json, indices.csv, samples.parquet; no parts) to ``folder``,
        which must be new or empty unless ``force``."""
        from ..errors import RunExistsError

        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()) and not force:
            raise RunExistsError(f"{folder} exists and is not empty; pass force=True to write into it")
        folder.mkdir(parents=True, exist_ok=True)
        meta = _record(self.spec, content_hash(_key_data(self.spec, None)), n_chunks=None)
        _write_outputs(folder, meta, self.samples, self.indices, self.second_order, list(self.notes), self.timings)
        return folder

    @classmethod
    def from_store(cls, folder: str | Path) -> "SensitivityResult":
        """Read a finished run folder (run.json, indices.csv, samples.parquet)."""
        folder = Path(folder)
        meta = json.loads((folder / RUN_FILE).read_text())
        if not meta.get("complete"):
            raise ScenarioError(f"{folder} holds an unfinished sensitivity run; finish it with --resume",
                                field="out", value=str(folder))
        spec = SensitivitySpec.from_dict(meta["spec"])
        second = pd.read_csv(folder / SECOND_ORDER_FILE) if (folder / SECOND_ORDER_FILE).exists() else None
        return cls(spec=spec, indices=pd.read_csv(folder / INDICES_FILE),
                   samples=pd.read_parquet(folder / SAMPLES_FILE), second_order=second,
                   notes=tuple(meta.get("notes", ())), timings=dict(meta.get("timings", {})), out_dir=folder)


def _key_data(sp: SensitivitySpec, model: Any) -> dict[str, Any]:
    """What a run folder's content hash covers: the design (spec without the executor), the SALib
    version (its samplers define the rows) and, for a stand-in model, the function's name."""
    from importlib.metadata import version

    data: dict[str, Any] = {"design": sp.design_key(), "salib": version("SALib")}
    if model is not None and not isinstance(model, RelapseModel):
        data["model"] = f"{getattr(model, '__module__', '')}.{getattr(model, '__qualname__', repr(model))}"
    return data


def _record(sp: SensitivitySpec, key: str, *, n_chunks: int | None) -> dict[str, Any]:
    from importlib.metadata import version

    return run_record(scale="cohort", seed=sp.seed, content_hash=key, kind="sensitivity", spec=sp.to_dict(),
                      salib_version=version("SALib"), n_rows=sp.n_rows(), n_chunks=n_chunks, complete=False)


def _write_outputs(folder: Path, meta: dict[str, Any], samples: pd.DataFrame, indices: pd.DataFrame,
                   second: pd.DataFrame | None, notes: list[str], timings: Mapping[str, float]) -> None:
    """The finished run's files, each written atomically; run.json last, marked complete."""
    write_parquet_atomic(samples, folder / SAMPLES_FILE)
    write_csv_atomic(indices, folder / INDICES_FILE)
    if second is not None:
        write_csv_atomic(second, folder / SECOND_ORDER_FILE)
    meta = dict(meta)
    meta.update({"complete": True, "notes": list(notes), "timings": dict(timings)})
    write_text_atomic(folder / RUN_FILE, json.dumps(meta, indent=2, default=str))


# ----------------------------------------------------------------------------- running
def run_sensitivity(spec: SensitivitySpec | str | Path, *, out: str | Path | None = None, resume: bool = False,
                    force: bool = False, executor: str | None = None, workers: int | None = None,
                    scheduler: str | None = None, chunk_size: int | None = None,
                    model: Callable[[np.ndarray], np.ndarray] | None = None) -> SensitivityResult:
    """Sample the design, evaluate every row in chunks on the executor, analyse with SALib.

    ``spec``: a :class:`SensitivitySpec` or a spec file. ``executor``/``workers``/``scheduler``/
    ``chunk_size`` override the spec's (the result does not depend on them). ``out``: a run folder
    (``run.json``, ``parts/`` with each finished chunk, then ``samples.parquet`` and ``indices.csv``);
    ``resume=True`` keeps its finished chunks and computes the rest; ``force=True`` replaces what it
    holds. ``model``: a picklable callable ``model(X) -> Y`` (rows of parameter values in, a column per
    output out) in place of the relapse-time engine.
    """
    from ..execute import make_executor
    from .trial import part_path, prepare_run_dir

    sp = spec if isinstance(spec, SensitivitySpec) else load_sensitivity(spec)
    sp = sp.with_options(executor=executor, workers=workers, scheduler=scheduler, chunk_size=chunk_size)
    if model is None:
        if sp.scenario is None:
            raise ScenarioError("sensitivity.scenario: missing (or pass model= for a stand-in model)",
                                field="sensitivity.scenario", value=None)
        model = RelapseModel(sp.scenario, tuple(sp.names), sp.outputs)
    xs, x = sp.sample()
    n_chunks = -(-len(x) // sp.chunk_size)
    bounds = [(c * sp.chunk_size, min((c + 1) * sp.chunk_size, len(x))) for c in range(n_chunks)]
    onames = sp.output_names
    y = np.full((len(x), len(onames)), np.nan)
    todo = list(range(n_chunks))
    out_dir = Path(out) if out is not None else None
    t0 = time.perf_counter()
    if out_dir is not None:
        key = content_hash(_key_data(sp, model))
        todo = prepare_run_dir(out_dir, meta_file=RUN_FILE, key=key, n_chunks=n_chunks, resume=resume, force=force,
                               what="sensitivity run", record=lambda: _record(sp, key, n_chunks=n_chunks))
        for c in range(n_chunks):
            if c in todo:
                continue
            part = pd.read_parquet(part_path(out_dir, c))
            lo, hi = bounds[c]
            if not np.array_equal(part[sp.names].to_numpy(), x[lo:hi]):
                raise ScenarioError(f"{part_path(out_dir, c)}: its rows are not this spec's design; pass --force "
                                    "to start again", field="out", value=str(out_dir))
            y[lo:hi] = part[onames].to_numpy()
    if todo:
        kind = sp.executor
        n_workers = 1 if kind == "local" and sp.workers is None and len(todo) == 1 else sp.workers
        ex = make_executor(kind, workers=n_workers, scheduler=sp.scheduler)
        try:
            tasks = [(model, c, x[bounds[c][0]:bounds[c][1]]) for c in todo]
            for task, yc in ex.run(evaluate_chunk, tasks):
                c = task[1]
                lo, hi = bounds[c]
                y[lo:hi] = yc
                if out_dir is not None:
                    part = pd.DataFrame(x[lo:hi], columns=sp.names)
                    part.insert(0, "row", np.arange(lo, hi))
                    for k, name in enumerate(onames):
                        part[name] = yc[:, k]
                    write_parquet_atomic(part, part_path(out_dir, c))
        finally:
            ex.close()
    elapsed = time.perf_counter() - t0
    indices, second, notes = analyse(sp, xs, y)
    samples = pd.DataFrame(x, columns=sp.names)
    samples.insert(0, "row", np.arange(len(x)))
    for k, name in enumerate(onames):
        samples[name] = y[:, k]
    timings = {"simulate_s": elapsed, "ms_per_row": 1e3 * elapsed / max(len(x), 1), "rows_computed":
               float(sum(bounds[c][1] - bounds[c][0] for c in todo))}
    result = SensitivityResult(spec=sp, indices=indices, samples=samples, second_order=second, notes=tuple(notes),
                               timings=timings, out_dir=out_dir)
    if out_dir is not None:
        meta = json.loads((out_dir / RUN_FILE).read_text())
        _write_outputs(out_dir, meta, samples, indices, second, notes, timings)
    return result


__all__ = ["SensitivitySpec", "SensitivityResult", "ParameterRange", "OutputSpec", "RelapseModel", "load_sensitivity",
           "run_sensitivity", "evaluate_chunk", "analyse"]
