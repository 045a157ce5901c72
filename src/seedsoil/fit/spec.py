"""The fit file (``seedsoil fit FIT.toml``): what to fit, to which data, how, and where it runs.

Every key is checked; a wrong value raises :class:`~seedsoil.errors.ScenarioError` naming the
field, the value, the unit and the allowed range (the CLI exits with code 2). docs/fit.md
describes the file; ``examples/fit_rotterdam.toml`` is the fit behind the library population
``rotterdam_untreated``.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..tomlfile import check_keys, integer, subtable
from ..errors import ScenarioError, did_you_mean
from .mechanistic import (DEFAULT_RESOLUTION_DAYS, FreeParameter, GrowthEffect, MechanisticModel, ShedLink,
                          SolveLink, TherapyRule)

_TOP = {"fit", "data", "model", "parameter", "method", "executor", "validate", "calibrate"}
_CALIBRATE_KEYS = {"parameters", "range", "therapy", "patients", "window", "target_rate_ratio", "source"}
_FIT_KEYS = {"name", "description", "population", "seed"}
_DATA_KEYS = {"set", "subset", "endpoint", "resolution", "sample"}
_MODEL_KEYS = {"scenario", "settings", "size_diameters", "growth_effect", "shedding_link", "growth_link", "therapy",
               "other_cause_death", "shedding_nodes"}
_GROWTH_KEYS = {"target", "sigma", "sigma_range", "nodes"}
_SHED_KEYS = {"name", "covariate", "transform", "reference"}
_GLINK_KEYS = {"name", "covariate", "transform", "reference", "range"}
_THERAPY_KEYS = {"column"}
_PARAM_KEYS = {"name", "start", "range", "scale", "prior"}
_METHOD_KEYS = {"kind", "max_evaluations", "intervals", "bootstrap", "walkers", "steps", "burn", "thin",
                "level", "profile", "proposals"}
_EXECUTOR_KEYS = {"kind", "workers", "scheduler"}
_VALIDATE_KEYS = {"set", "subset", "endpoint", "horizons", "calibration_simulations"}

#: data subsets by data set (the rows a fit uses)
SUBSETS = {"rotterdam": ("untreated", "all"), "gbsg": ("all",)}
#: endpoints: recurrence (deaths without recurrence censor) or rfs (recurrence or death)
ENDPOINTS = ("recurrence", "rfs")
#: covariates a link may read (columns of seedsoil.data's tidy tables)
LINK_COVARIATES = ("positive_nodes", "grade", "age", "tumour_size", "er_level", "pr_level")
METHODS = ("mle", "emcee")
INTERVALS = ("wald", "profile", "bootstrap")


def _float(value: Any, where: str, unit: str = "", low: float = -math.inf, high: float = math.inf) -> float:
    from ..units import parse_quantity

    try:
        v = float(parse_quantity(value, unit)) if isinstance(value, str) else float(value)
    except Exception:
        raise ScenarioError(f"{where} = {value!r}: a number{(' in ' + unit) if unit else ''}", field=where,
                            value=value) from None
    if isinstance(value, bool) or not math.isfinite(v) or not low <= v <= high:
        raise ScenarioError(f"{where} = {value!r}: out of range; allowed [{low:g}, {high:g}]"
                            f"{(' ' + unit) if unit else ''}", field=where, value=value)
    return v


def _choice(value: Any, where: str, choices) -> str:
    if value not in choices:
        raise ScenarioError(f"{where} = {value!r}: must be one of {', '.join(map(str, choices))}"
                            f"{did_you_mean(str(value), list(choices))}", field=where, value=value)
    return str(value)


@dataclass(frozen=True)
class FitSpec:
    """A parsed, checked fit file."""

    name: str
    model: MechanisticModel
    data_set: str = "rotterdam"
    subset: str = "untreated"
    sample: int = 0  # > 0: a random subsample of that many patients (seeded by fit.seed), for quick fits
    endpoint: str = "recurrence"
    other_cause_death: bool = True
    method: str = "mle"
    max_evaluations: int = 600
    intervals: str = "wald"
    bootstrap: int = 0
    profile: tuple[str, ...] = ()
    level: float = 0.95
    walkers: int = 0
    steps: int = 0
    burn: int = 0
    thin: int = 1
    proposals: int = 0  # > 0: importance-resampling proposals for the predictive draws (0: conditional Laplace)
    seed: int = 0
    executor: str = "inprocess"
    workers: int | None = None
    scheduler: str | None = None
    population: str = ""
    description: str = ""
    validate: dict | None = None
    calibrations: tuple = ()  # seedsoil.fit.calibrate.Calibration, applied in order after the fit
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def content_hash(self) -> str:
        """Hash of what the results depend on (not the executor)."""
        d = dict(self.raw)
        d.pop("executor", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def portable(self) -> dict:
        """The fit file's content with its base scenario written out (settings applied): rebuilds
        the same model anywhere, without the files it named."""
        raw = dict(self.raw)
        model = dict(raw.get("model", {}))
        model["scenario"] = self.model.scenario.to_dict()
        model.pop("settings", None)
        raw["model"] = model
        return raw

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str | Path | None = None) -> "FitSpec":
        check_keys(data, _TOP, "fit file")
        fit, dat, mod, meth, ex = (subtable(data, k) for k in ("fit", "data", "model", "method", "executor"))
        check_keys(fit, _FIT_KEYS, "fit")
        check_keys(dat, _DATA_KEYS, "data")
        check_keys(mod, _MODEL_KEYS, "model")
        check_keys(meth, _METHOD_KEYS, "method")
        check_keys(ex, _EXECUTOR_KEYS, "executor")
        name = str(fit.get("name", "fit"))
        data_set = _choice(dat.get("set", "rotterdam"), "data.set", tuple(SUBSETS))
        subset = _choice(dat.get("subset", SUBSETS[data_set][0]), "data.subset", SUBSETS[data_set])
        endpoint = _choice(dat.get("endpoint", "recurrence"), "data.endpoint", ENDPOINTS)
        if data_set == "gbsg" and endpoint == "recurrence":
            raise ScenarioError("data.endpoint = 'recurrence': gbsg records recurrence-free survival only (rfs)",
                                field="data.endpoint", value=endpoint)
        resolution = _float(dat.get("resolution", f"{DEFAULT_RESOLUTION_DAYS} day"), "data.resolution", "day",
                            0.0, 3650.0)
        scenario = _scenario(mod.get("scenario", "default"), base_dir)
        settings = mod.get("settings", {}) or {}
        if not isinstance(settings, Mapping):
            raise ScenarioError("model.settings: a table of dotted name = value", field="model.settings",
                                value=settings)
        if settings:
            scenario = scenario.with_overrides(dict(settings), where="model.settings.")
        sizes = {"T1": 15.0, "T2": 30.0, "T3": 60.0}
        for cat, v in (mod.get("size_diameters") or {}).items():
            if cat not in sizes:
                raise ScenarioError(f"model.size_diameters.{cat}: categories are T1, T2, T3",
                                    field=f"model.size_diameters.{cat}", value=v)
            sizes[cat] = _float(v, f"model.size_diameters.{cat}", "mm", 1.0, 300.0)
        free = tuple(_parameter(p, i, scenario) for i, p in enumerate(_list(data.get("parameter"), "parameter")))
        names = [p.name for p in free]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ScenarioError(f"parameter: {', '.join(dup)} given more than once", field="parameter", value=dup)
        growth = None
        if "growth_effect" in mod:
            g = subtable(mod, "growth_effect")
            check_keys(g, _GROWTH_KEYS, "model.growth_effect")
            target = _library_number(g.get("target"), "model.growth_effect.target", scenario)
            lo, hi = (_float(v, f"model.growth_effect.sigma_range[{j}]", "", 1e-4, 3.0)
                      for j, v in enumerate(_pair(g.get("sigma_range", [0.01, 1.0]), "model.growth_effect.sigma_range")))
            sig = _float(g.get("sigma", 0.3), "model.growth_effect.sigma", "", lo, hi)
            nodes = integer(g.get("nodes", 7), "model.growth_effect.nodes", 1)
            growth = GrowthEffect(target, sig, (lo, hi), nodes)
        glinks = []
        for i, lk in enumerate(_list(mod.get("growth_link"), "model.growth_link", required=False)):
            where = f"model.growth_link[{i}]"
            check_keys(lk, _GLINK_KEYS, where)
            if growth is None:
                raise ScenarioError(f"{where}: a growth link needs [model.growth_effect] (its target)", field=where,
                                    value=lk)
            lo, hi = (_float(v, f"{where}.range", "", -20, 20) for v in _pair(lk.get("range", [-5, 5]), f"{where}.range"))
            glinks.append(SolveLink(str(lk.get("name", lk.get("covariate"))),
                                    _choice(lk.get("covariate"), f"{where}.covariate", LINK_COVARIATES),
                                    _choice(lk.get("transform", "identity"), f"{where}.transform",
                                            ("identity", "log1p", "log")),
                                    _float(lk.get("reference", 0.0), f"{where}.reference"), (lo, hi)))
        slinks = []
        for i, lk in enumerate(_list(mod.get("shedding_link"), "model.shedding_link", required=False)):
            where = f"model.shedding_link[{i}]"
            check_keys(lk, _SHED_KEYS, where)
            slinks.append(ShedLink(str(lk.get("name", lk.get("covariate"))),
                                   _choice(lk.get("covariate"), f"{where}.covariate", LINK_COVARIATES),
                                   _choice(lk.get("transform", "log1p"), f"{where}.transform",
                                           ("identity", "log1p", "log")),
                                   _float(lk.get("reference", 0.0), f"{where}.reference")))
        therapies = []
        for i, t in enumerate(_list(mod.get("therapy"), "model.therapy", required=False)):
            where = f"model.therapy[{i}]"
            if "column" not in t or t["column"] not in ("chemotherapy", "hormonal_therapy"):
                raise ScenarioError(f"{where}.column: the data column that says who received it (chemotherapy or "
                                    "hormonal_therapy)", field=f"{where}.column", value=t.get("column"))
            table = {k: v for k, v in t.items() if k != "column"}
            try:
                scenario.with_overrides({"surgery.primary_diameter": "20 mm"}).with_settings(therapy=[table])
            except ScenarioError as e:
                raise ScenarioError(f"{where}: {e}", field=where, value=table) from None
            therapies.append(TherapyRule(str(t["column"]), table))
        shed_nodes = integer(mod.get("shedding_nodes", 64), "model.shedding_nodes", 8)
        model = MechanisticModel(scenario, free, growth, tuple(glinks), tuple(slinks), sizes, tuple(therapies),
                                 resolution, shed_nodes)
        method = _choice(meth.get("kind", "mle"), "method.kind", METHODS)
        intervals = _choice(meth.get("intervals", "wald"), "method.intervals", INTERVALS)
        profile = tuple(str(p) for p in (meth.get("profile") or ()))
        for p in profile:
            if p not in model.names:
                raise ScenarioError(f"method.profile: {p!r} is not a fitted parameter ({', '.join(model.names)})"
                                    f"{did_you_mean(p, model.names)}", field="method.profile", value=p)
        kw: dict[str, Any] = dict(
            max_evaluations=integer(meth.get("max_evaluations", 600), "method.max_evaluations", 1),
            bootstrap=integer(meth.get("bootstrap", 0), "method.bootstrap", 0),
            level=_float(meth.get("level", 0.95), "method.level", "", 0.5, 0.999),
            walkers=integer(meth.get("walkers", 2 * len(model.names) + 2), "method.walkers", 2 * len(model.names)),
            steps=integer(meth.get("steps", 0 if method == "mle" else 1000), "method.steps", 0),
            burn=integer(meth.get("burn", 0), "method.burn", 0), thin=integer(meth.get("thin", 1), "method.thin", 1),
            proposals=integer(meth.get("proposals", 0), "method.proposals", 0))
        if intervals == "bootstrap" and kw["bootstrap"] < 2:
            raise ScenarioError("method.bootstrap: bootstrap intervals need at least 2 replicates",
                                field="method.bootstrap", value=kw["bootstrap"])
        if method == "emcee" and kw["burn"] >= kw["steps"]:
            raise ScenarioError(f"method.burn = {kw['burn']}: must be below method.steps = {kw['steps']}",
                                field="method.burn", value=kw["burn"])
        kind = _choice(ex.get("kind", "inprocess"), "executor.kind", ("inprocess", "local", "dask"))
        workers = ex.get("workers")
        validate = None
        if "validate" in data:
            v = subtable(data, "validate")
            check_keys(v, _VALIDATE_KEYS, "validate")
            vset = _choice(v.get("set", "gbsg"), "validate.set", tuple(SUBSETS))
            validate = {"set": vset, "subset": _choice(v.get("subset", SUBSETS[vset][0]), "validate.subset",
                                                       SUBSETS[vset]),
                        "endpoint": _choice(v.get("endpoint", "rfs"), "validate.endpoint", ENDPOINTS),
                        "horizons": [_float(h, "validate.horizons", "year", 0.1, 30) for h in
                                     v.get("horizons", ["3 year", "5 year"])],
                        "calibration_simulations": integer(v.get("calibration_simulations", 1000),
                                                        "validate.calibration_simulations", 0)}
        sample = integer(dat.get("sample", 0), "data.sample", 0)
        calibrations = tuple(_calibration(c, i, scenario) for i, c in
                             enumerate(_list(data.get("calibrate"), "calibrate", required=False)))
        return cls(name=name, model=model, data_set=data_set, subset=subset, sample=sample, endpoint=endpoint,
                   other_cause_death=bool(mod.get("other_cause_death", endpoint == "rfs" or data_set == "rotterdam")),
                   method=method, intervals=intervals, profile=profile,
                   seed=integer(fit.get("seed", 0), "fit.seed", 0), executor=kind,
                   workers=None if workers is None else integer(workers, "executor.workers", 1),
                   scheduler=ex.get("scheduler"), population=str(fit.get("population", "")),
                   description=str(fit.get("description", "")), validate=validate, calibrations=calibrations,
                   raw=_plain(data), **kw)


def load_fit(path: str | Path) -> FitSpec:
    """Read and check a fit file."""
    from ..tomlfile import read_toml

    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such fit file", field="fit", value=str(path))
    return FitSpec.from_dict(read_toml(path, "fit"), base_dir=path.parent)


def _plain(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    return data


def _list(value: Any, where: str, required: bool = True) -> list:
    if value is None:
        if required:
            raise ScenarioError(f"{where}: give at least one [[{where}]] table", field=where, value=value)
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ScenarioError(f"{where}: must be a list of tables ([[{where}]])", field=where, value=value)
    return value


def _pair(value: Any, where: str) -> list:
    if not isinstance(value, list) or len(value) != 2:
        raise ScenarioError(f"{where} = {value!r}: give [low, high]", field=where, value=value)
    return value


def _scenario(value: Any, base_dir: str | Path | None) -> Any:
    from ..scenario import Scenario, default_scenario, load_scenario

    if value == "default":
        return default_scenario()
    if isinstance(value, Scenario):
        return value
    if isinstance(value, Mapping):
        return Scenario.from_dict(value)
    if isinstance(value, str):
        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise ScenarioError(f"model.scenario = {value!r}: no such scenario file ({path})", field="model.scenario",
                                value=value)
        return load_scenario(path)
    raise ScenarioError(f"model.scenario = {value!r}: \"default\" or a scenario file", field="model.scenario",
                        value=value)


def _library_number(name: Any, where: str, scenario: Any):
    from ..params import load_library

    lib = load_library()
    if not isinstance(name, str) or name not in lib:
        raise ScenarioError(f"{where} = {name!r}: not a parameter of the library{did_you_mean(str(name), lib)} "
                            "(see `seedsoil params`)", field=where, value=name)
    if lib[name].kind != "number":
        raise ScenarioError(f"{where} = {name!r}: a {lib[name].kind} parameter; only numbers can be fitted",
                            field=where, value=name)
    from ..params import check_in_use

    check_in_use(name, scenario.parameters, where.rsplit(".", 1)[0] if where.endswith(".name") else where)
    return name


def _parameter(raw: Mapping[str, Any], i: int, scenario: Any) -> FreeParameter:
    from ..params import load_library

    where = f"parameter[{i}]"
    check_keys(raw, _PARAM_KEYS, where)
    name = _library_number(raw.get("name"), f"{where}.name", scenario)
    p = load_library()[name]
    lo, hi = _pair(raw.get("range"), f"{where}.range")
    lo_v, hi_v = (float(p.coerce(v, where=f"{where}.range: ")) for v in (lo, hi))
    scale = _choice(raw.get("scale", "log"), f"{where}.scale", ("log", "logit", "identity"))
    start = float(p.coerce(raw.get("start", scenario.parameters[name]), where=f"{where}.start: "))
    if not lo_v < hi_v:
        raise ScenarioError(f"{where}.range ({name}) = {[lo, hi]!r}: need low < high", field=f"{where}.range",
                            value=[lo, hi])
    if not lo_v <= start <= hi_v:
        raise ScenarioError(f"{where}.start ({name}) = {start:g} {p.unit}: outside its range [{lo_v:g}, {hi_v:g}]",
                            field=f"{where}.start", value=raw.get("start"))
    if scale == "log" and lo_v <= 0:
        raise ScenarioError(f"{where}.range ({name}): a log scale needs a low bound > 0, not {lo_v:g}",
                            field=f"{where}.range", value=[lo, hi])
    if scale == "logit" and not (0 <= lo_v and hi_v <= 1):
        raise ScenarioError(f"{where}.range ({name}): a logit scale needs a range within [0, 1]",
                            field=f"{where}.range", value=[lo, hi])
    prior = None
    if "prior" in raw:
        pr = raw["prior"]
        if not (isinstance(pr, Mapping) and pr.get("distribution") == "normal" and {"mean", "sd"} <= set(pr)):
            raise ScenarioError(f"{where}.prior: {{distribution = \"normal\", mean, sd}} on the {scale} scale",
                                field=f"{where}.prior", value=pr)
        prior = ("normal", _float(pr["mean"], f"{where}.prior.mean"), _float(pr["sd"], f"{where}.prior.sd", "", 1e-6))
    return FreeParameter(name, lo_v, hi_v, start, scale, p.unit, prior)


def _calibration(raw: Mapping[str, Any], i: int, scenario: Any):
    from ..params import load_library
    from .calibrate import Calibration

    where = f"calibrate[{i}]"
    check_keys(raw, _CALIBRATE_KEYS, where)
    names = raw.get("parameters")
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names:
        raise ScenarioError(f"{where}.parameters: one library parameter or a list set to one value", field=f"{where}.parameters",
                            value=names)
    lib = load_library()
    for n in names:
        _library_number(n, f"{where}.parameters", scenario)
    lo, hi = _pair(raw.get("range"), f"{where}.range")
    p = lib[names[0]]
    lo_v, hi_v = (float(p.coerce(v, where=f"{where}.range: ")) for v in (lo, hi))
    if not lo_v < hi_v:
        raise ScenarioError(f"{where}.range = {[lo, hi]!r}: need low < high", field=f"{where}.range", value=[lo, hi])
    therapy = raw.get("therapy")
    if not isinstance(therapy, Mapping):
        raise ScenarioError(f"{where}.therapy: a therapy table (kind, ...)", field=f"{where}.therapy", value=therapy)
    try:
        scenario.with_overrides({"surgery.primary_diameter": "20 mm"}).with_settings(therapy=[dict(therapy)])
    except ScenarioError as e:
        raise ScenarioError(f"{where}.therapy: {e}", field=f"{where}.therapy", value=therapy) from None
    patients = raw.get("patients", {}) or {}
    if not isinstance(patients, Mapping) or any(k not in ("er", "pr", "menopause", "grade", "size_category")
                                                for k in patients):
        raise ScenarioError(f"{where}.patients: a table of record columns (er, pr, menopause, grade, size_category) "
                            "and the value the patients must have", field=f"{where}.patients", value=patients)
    w = _pair(raw.get("window"), f"{where}.window")
    t1, t2 = (_float(v, f"{where}.window", "year", 0.0, 30.0) for v in w)
    if not t1 < t2:
        raise ScenarioError(f"{where}.window = {w!r}: need start < end", field=f"{where}.window", value=w)
    target = _float(raw.get("target_rate_ratio"), f"{where}.target_rate_ratio", "", 1e-3, 10.0)
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ScenarioError(f"{where}.source: say where the rate ratio comes from (a DOI)", field=f"{where}.source",
                            value=source)
    return Calibration(tuple(names), lo_v, hi_v, dict(therapy), target, (t1, t2), source, dict(patients))
