"""Virtual populations: parameter distributions joined by a Gaussian copula.

A population declares, for some model parameters and for covariates, a marginal
distribution (lognormal, normal, uniform, categorical, empirical, fixed, each
optionally truncated) and pairwise rank correlations. Patient ``i`` of a trial
with root seed ``s`` is drawn from its own stream ``(s, i, POPULATION)``, so it
is the same patient whatever the cohort size, chunking or number of workers.

Covariates (e.g. inflammatory vs non-inflammatory primary, menopausal status)
are recorded for every patient (``cov_<name>`` columns). A covariate named like a
field of the clinical record (``tumour_size``, ``positive_nodes``, ``grade``, ``er``,
``pr``, ``menopause``, ``age``; :data:`seedsoil.body.covariates.RECORD_FIELDS`) is
the patient's ``[patient]`` field: it is given in that field's unit and range and
acts through the covariate links (``params/covariate_links.toml``, or the scenario's
own). Any covariate may also set, per category, library parameters and
any other scenario field: ``surgery.*`` (e.g. ``surgery.primary_diameter`` or
``surgery.primary_cells``), ``simulation.*``, ``output.*``, ``therapy.<field>`` (every
therapy with that field) or ``therapy.<kind>.<field>`` (see
:meth:`seedsoil.scenario.Scenario.with_overrides`).

A population may be *fitted* (``fitted = "NAME or path.json"``, issue 13): a fitted
population of :mod:`seedsoil.fit.fitted` (a library name under
``seedsoil/params/populations/`` or a ``population.json`` a fit wrote) is expanded by
:func:`fitted_population_spec` into plain data the trial carries in its spec: the fit's
base settings and free-parameter values (scenario overrides for every arm), a lognormal
shedding rate and a lognormal growth rate per patient (the fit's random effects, as sampled
parameters) and a links table in which the fit's link coefficients replace the package's
(the record's other links neutral), so a trial patient is a patient of the fitted model.
The expansion reads the population file's documented content (``natural``, ``fit.model``,
``fit.parameter``, ``provenance``) and needs nothing of :mod:`seedsoil.fit` (which imports
the cohort layer).
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from scipy import stats

from ..body.covariates import COVARIATES, RECORD_FIELDS
from ..errors import ScenarioError, did_you_mean
from ..params import ParameterLibrary, load_library
from ..rng import PATIENT_POPULATION, stream
from ..tree import column_name
from ..units import parse_quantity

#: purpose key of the population stream (the body engine uses 0)
STREAM_POPULATION = PATIENT_POPULATION

#: dotted names of scenario fields (not library parameters) a covariate may set
FIELD_PREFIXES = ("surgery.", "simulation.", "output.", "therapy.")


@dataclass(frozen=True)
class Distribution:
    """A marginal distribution given by its quantile function on (0, 1)."""

    kind: str = "fixed"
    truncate: tuple[float, float] | None = None

    def _frozen(self):  # scipy frozen distribution for continuous kinds
        raise TypeError("not continuous")

    def support(self) -> tuple[float, float]:
        lo, hi = self._support()
        if self.truncate is not None:
            lo, hi = max(lo, self.truncate[0]), min(hi, self.truncate[1])
        return lo, hi

    def _support(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        if self.truncate is not None:
            d = self._frozen()
            lo, hi = d.cdf(self.truncate[0]), d.cdf(self.truncate[1])
            u = lo + u * (hi - lo)
        return self._ppf(u)

    def _ppf(self, u: np.ndarray) -> np.ndarray:
        return self._frozen().ppf(u)

    def values(self) -> tuple | None:
        """The finite set of values (discrete kinds), else None."""
        return None


@dataclass(frozen=True)
class LogNormal(Distribution):
    """ln X ~ N(ln median, sigma²)."""

    median: float = 1.0
    sigma: float = 1.0

    def _frozen(self):
        return stats.lognorm(s=self.sigma, scale=self.median)

    def _support(self):
        return (0.0, math.inf)


@dataclass(frozen=True)
class Normal(Distribution):
    mean: float = 0.0
    sd: float = 1.0

    def _frozen(self):
        return stats.norm(loc=self.mean, scale=self.sd)


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float = 0.0
    high: float = 1.0

    def _frozen(self):
        return stats.uniform(loc=self.low, scale=self.high - self.low)

    def _support(self):
        return (self.low, self.high)


@dataclass(frozen=True)
class Categorical(Distribution):
    """Finite values with probabilities (in declared order)."""

    choices: tuple = ()
    probabilities: tuple[float, ...] = ()

    def _ppf(self, u):
        cum = np.cumsum(self.probabilities)
        idx = np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(self.choices) - 1)
        return np.asarray(self.choices, dtype=object)[idx]

    def ppf(self, u):
        return self._ppf(np.asarray(u, dtype=float))

    def values(self):
        return self.choices

    def _support(self):
        nums = [c for c in self.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
        return (min(nums), max(nums)) if len(nums) == len(self.choices) else (math.nan, math.nan)


@dataclass(frozen=True)
class Empirical(Distribution):
    """Equally likely observed values (e.g. measured patient values)."""

    observed: tuple = ()

    def ppf(self, u):
        u = np.asarray(u, dtype=float)
        idx = np.minimum((u * len(self.observed)).astype(np.int64), len(self.observed) - 1)
        return np.asarray(self.observed, dtype=object if isinstance(self.observed[0], str) else float)[idx]

    def values(self):
        return tuple(sorted(set(self.observed), key=str))

    def _support(self):
        if isinstance(self.observed[0], str):
            return (math.nan, math.nan)
        return (min(self.observed), max(self.observed))


@dataclass(frozen=True)
class Fixed(Distribution):
    value: Any = 0.0

    def ppf(self, u):
        return np.full(np.shape(u), self.value, dtype=object if isinstance(self.value, str) else float)

    def values(self):
        return (self.value,)

    def _support(self):
        return (self.value, self.value) if not isinstance(self.value, str) else (math.nan, math.nan)


@dataclass(frozen=True)
class NegativeBinomial(Distribution):
    """Counts 0, 1, 2, ... with mean ``mean`` and dispersion ``size`` (variance mean + mean²/size);
    truncated to whole numbers in [low, high]."""

    mean: float = 1.0
    size: float = 1.0

    def _frozen(self):
        return stats.nbinom(n=self.size, p=self.size / (self.size + self.mean))

    def _support(self):
        return (0.0, math.inf)

    def ppf(self, u):
        u = np.asarray(u, dtype=float)
        d = self._frozen()
        lo, hi = self.support()
        lo, hi = math.ceil(lo), math.floor(hi)
        a = d.cdf(lo - 1) if lo > 0 else 0.0
        b = d.cdf(hi) if math.isfinite(hi) else 1.0
        return np.clip(d.ppf(a + u * (b - a)), lo, hi)


KINDS = {"lognormal": (LogNormal, {"median": True, "sigma": False}),
         "normal": (Normal, {"mean": True, "sd": True}),
         "uniform": (Uniform, {"low": True, "high": True}),
         "categorical": (Categorical, {"values": None, "probabilities": None}),
         "empirical": (Empirical, {"values": None}),
         "fixed": (Fixed, {"value": None}),
         "negative_binomial": (NegativeBinomial, {"mean": True, "size": False})}


@dataclass(frozen=True)
class Variable:
    """One sampled quantity: a model parameter (``parameter`` set) or a covariate."""

    name: str
    distribution: Distribution
    parameter: str | None = None
    #: covariate category -> {parameter: value} applied to the patient
    overrides: Mapping[Any, Mapping[str, Any]] = field(default_factory=dict)
    #: the parameter's unit (internal units; "" for a covariate)
    unit: str = ""
    #: a field of the clinical record (``[patient]``): acts through the covariate links
    record: bool = False

    @property
    def column(self) -> str:
        """Its column in a trial's patients table: ``param_shedding_rate_per_day`` for the
        sampled parameter ``shedding.rate`` (1/day), ``cov_<name>`` for a covariate."""
        return column_name("param_" if self.parameter is not None else "cov_", self.name, self.unit)


@dataclass(frozen=True)
class Population:
    variables: tuple[Variable, ...] = ()
    correlation: np.ndarray | None = None  # in the order of ``variables``
    #: the expanded fitted population (:func:`fitted_population_spec`), or None
    fitted: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    #: the covariate links of a fitted population (a CovariateLinks), or None: the scenario's
    links: Any = field(default=None, compare=False, repr=False)

    @property
    def fitted_label(self) -> str | None:
        """Which fitted population drives this population (its label with provenance), or None."""
        return None if self.fitted is None else str(self.fitted["label"])

    @property
    def fitted_overrides(self) -> dict[str, Any]:
        """The fitted population's scenario overrides (base settings, free parameters), or {}."""
        return {} if self.fitted is None else dict(self.fitted["overrides"])

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def _cholesky(self) -> np.ndarray:
        k = len(self.variables)
        return np.linalg.cholesky(self.correlation) if self.correlation is not None else np.eye(k)

    def draw(self, seed: int, patients: np.ndarray) -> dict[str, np.ndarray]:
        """Values of every variable for the given patient indices (one stream per patient)."""
        k = len(self.variables)
        if k == 0:
            return {}
        chol = self._cholesky()
        z = np.empty((len(patients), k))
        for row, i in enumerate(patients):
            z[row] = stream(seed, int(i), STREAM_POPULATION).standard_normal(k)
        u = stats.norm.cdf(z @ chol.T)
        u = np.clip(u, 1e-15, 1 - 1e-15)
        return {v.name: v.distribution.ppf(u[:, j]) for j, v in enumerate(self.variables)}

    @property
    def record_fields(self) -> list[str]:
        """The clinical-record fields this population draws (they act through the links)."""
        return [v.name for v in self.variables if v.record]

    def check_against(self, scenarios: Any) -> None:
        """Apply every covariate category's field overrides to each scenario (a trial's arms), and
        every value (discrete) or end of the range (continuous) of a clinical-record covariate
        through the arms' links, so that a bad value fails when the trial is loaded, naming the
        covariate entry."""
        for v in self.variables:
            if v.record:
                vals = v.distribution.values()
                if vals is None:
                    lo, hi = v.distribution.support()
                    vals = tuple(x for x in (lo, hi) if math.isfinite(x) and x > 0)
                for x in vals:
                    for sc in scenarios:
                        sc.with_patient({v.name: x}, where=f"population.covariates.{v.name}: ")
        for v in self.variables:
            for cat, ov in v.overrides.items():
                fields = {k: x for k, x in ov.items() if k.startswith(FIELD_PREFIXES)}
                if not fields:
                    continue
                where = f"population.covariates.{v.name}.overrides.{cat}: "
                for sc in scenarios:  # values are checked in every arm; a therapy field needs one arm with it
                    sc.with_overrides(fields, where=where, strict=False)
                errors = []
                for sc in scenarios:
                    try:
                        sc.with_overrides(fields, where=where)
                        break
                    except ScenarioError as exc:
                        errors.append(exc)
                else:
                    if errors:
                        raise errors[0]

    def patient_parameters(self, draws: Mapping[str, np.ndarray], row: int) -> dict[str, Any]:
        """The parameter overrides of one patient (sampled parameters and covariate effects)."""
        out: dict[str, Any] = {}
        for v in self.variables:
            x = draws[v.name][row]
            if v.parameter is not None:
                out[v.parameter] = x.item() if hasattr(x, "item") else x
                continue
            if v.record:
                out[f"patient.{v.name}"] = COVARIATES[v.name].coerce(x, where="population.covariates.")
            if v.overrides:
                out.update(v.overrides.get(x.item() if hasattr(x, "item") else x, {}))
        return out


# --------------------------------------------------------------------------- parsing
def _num(value: object, unit: str, where: str) -> float:
    return parse_quantity(value, unit, field=where)


def _distribution(spec: Mapping[str, Any], unit: str, where: str, *, numeric: bool) -> Distribution:
    if not isinstance(spec, Mapping):
        raise ScenarioError(f"{where}: must be a table with a 'distribution' key", field=where, value=spec)
    kind = spec.get("distribution")
    if kind not in KINDS:
        raise ScenarioError(f"{where}.distribution = {kind!r}: must be one of {', '.join(KINDS)}",
                            field=f"{where}.distribution", value=kind)
    cls, keys = KINDS[kind]
    allowed = set(keys) | {"distribution", "truncate", "overrides"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ScenarioError(f"{where}.{extra[0]}: not a setting of a {kind} distribution "
                            f"(it takes {', '.join(sorted(keys))}, truncate)", field=f"{where}.{extra[0]}",
                            value=spec[extra[0]])
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ScenarioError(f"{where}.{missing[0]}: required for a {kind} distribution", field=f"{where}.{missing[0]}",
                            value=None)
    trunc = None
    if "truncate" in spec:
        t = spec["truncate"]
        if not (isinstance(t, list) and len(t) == 2):
            raise ScenarioError(f"{where}.truncate = {t!r}: write [low, high]", field=f"{where}.truncate", value=t)
        trunc = (_num(t[0], unit, f"{where}.truncate"), _num(t[1], unit, f"{where}.truncate"))
        if not trunc[0] < trunc[1]:
            raise ScenarioError(f"{where}.truncate = {t!r}: low must be below high", field=f"{where}.truncate",
                                value=t)
    if kind == "lognormal":
        med = _num(spec["median"], unit, f"{where}.median")
        sig = _num(spec["sigma"], "", f"{where}.sigma")
        if med <= 0 or sig <= 0:
            raise ScenarioError(f"{where}: lognormal needs median > 0 and sigma > 0", field=where, value=spec)
        dist: Distribution = LogNormal(kind=kind, truncate=trunc, median=med, sigma=sig)
    elif kind == "normal":
        sd = _num(spec["sd"], unit, f"{where}.sd")
        if sd <= 0:
            raise ScenarioError(f"{where}.sd = {spec['sd']!r}: must be > 0", field=f"{where}.sd", value=spec["sd"])
        dist = Normal(kind=kind, truncate=trunc, mean=_num(spec["mean"], unit, f"{where}.mean"), sd=sd)
    elif kind == "uniform":
        lo, hi = _num(spec["low"], unit, f"{where}.low"), _num(spec["high"], unit, f"{where}.high")
        if not lo < hi:
            raise ScenarioError(f"{where}: uniform needs low < high", field=where, value=spec)
        dist = Uniform(kind=kind, truncate=trunc, low=lo, high=hi)
    elif kind == "categorical":
        vals, probs = spec["values"], spec["probabilities"]
        if not (isinstance(vals, list) and isinstance(probs, list) and len(vals) == len(probs) and vals):
            raise ScenarioError(f"{where}: values and probabilities must be lists of equal length",
                                field=where, value=spec)
        p = [_num(x, "", f"{where}.probabilities") for x in probs]
        if any(x < 0 for x in p) or abs(sum(p) - 1.0) > 1e-9:
            raise ScenarioError(f"{where}.probabilities = {probs!r}: must be >= 0 and sum to 1",
                                field=f"{where}.probabilities", value=probs)
        vals = [_num(x, unit, f"{where}.values") for x in vals] if numeric else list(vals)
        dist = Categorical(kind=kind, choices=tuple(vals), probabilities=tuple(p))
    elif kind == "negative_binomial":
        mean, size = _num(spec["mean"], unit, f"{where}.mean"), _num(spec["size"], "", f"{where}.size")
        if not (mean > 0 and size > 0):
            raise ScenarioError(f"{where}: negative_binomial needs mean > 0 and size > 0", field=where, value=spec)
        dist = NegativeBinomial(kind=kind, truncate=trunc, mean=mean, size=size)
    elif kind == "empirical":
        vals = spec["values"]
        if not isinstance(vals, list) or not vals:
            raise ScenarioError(f"{where}.values: a non-empty list", field=f"{where}.values", value=vals)
        vals = [_num(x, unit, f"{where}.values") for x in vals] if numeric else list(vals)
        dist = Empirical(kind=kind, observed=tuple(vals))
    else:
        v = spec["value"]
        dist = Fixed(kind=kind, value=_num(v, unit, f"{where}.value") if numeric else v)
    if trunc is not None and kind not in ("lognormal", "normal", "uniform", "negative_binomial"):
        raise ScenarioError(f"{where}.truncate: only continuous and negative_binomial distributions can be "
                            "truncated",
                            field=f"{where}.truncate", value=spec["truncate"])
    return dist


def _within(dist: Distribution, ival) -> bool:
    """Whether every value the distribution can produce lies in the interval ``ival``."""
    discrete = dist.values()
    if discrete is not None:
        return all(float(x) in ival for x in discrete)
    lo, hi = dist.support()
    lo_open = math.isinf(lo) or (isinstance(dist, LogNormal) and dist.truncate is None)
    hi_open = math.isinf(hi)
    if math.isinf(lo) and not math.isinf(ival.low) or math.isinf(hi) and not math.isinf(ival.high):
        return False
    lo_ok = lo > ival.low or (lo == ival.low and (ival.low_closed or lo_open))
    hi_ok = hi < ival.high or (hi == ival.high and (ival.high_closed or hi_open))
    return lo_ok and hi_ok


def _record_distribution(cov: Any, dspec: Any, where: str) -> Distribution:
    """The distribution of a clinical-record covariate: in its unit, every value allowed."""
    numeric = not cov.categorical
    dist = _distribution(dspec, cov.unit, where, numeric=numeric)
    vals = dist.values()
    if vals is not None:
        for x in vals:
            try:
                cov.coerce(x, where="population.covariates.")
            except ScenarioError as exc:
                raise ScenarioError(f"{where}: a value {exc}", field=where, value=dspec) from None
        return dist
    if cov.categorical or (cov.whole and not isinstance(dist, NegativeBinomial)):
        raise ScenarioError(f"{where}: {cov.name} takes {cov.allowed()}; use a categorical, empirical, fixed"
                            + (" or negative_binomial" if cov.whole else "") + " distribution", field=where,
                            value=dspec)
    if not _within(dist, cov.range):
        lo, hi = dist.support()
        raise ScenarioError(f"{where}: a {dist.kind} distribution takes values in [{lo:g}, {hi:g}] but {cov.name} "
                            f"must be {cov.allowed()}; truncate it (truncate = [low, high])", field=where, value=dspec)
    return dist


def parse_population(spec: Mapping[str, Any] | None, library: ParameterLibrary | None = None) -> Population:
    """Validate a ``[population]`` table (see module docstring and docs/cohort.md)."""
    lib = library or load_library()
    if not spec:
        return Population()
    if not isinstance(spec, Mapping):
        raise ScenarioError("population: must be a table", field="population", value=spec)
    extra = sorted(set(spec) - {"parameters", "covariates", "correlation", "fitted"})
    if extra:
        raise ScenarioError(f"population.{extra[0]}: unknown key (population takes parameters, covariates, "
                            "correlation, fitted)", field=f"population.{extra[0]}", value=spec[extra[0]])
    variables: list[Variable] = []
    fitted = links = None
    parameters = dict(spec.get("parameters") or {})
    if "fitted" in spec:
        fitted = resolve_fitted(spec["fitted"], lib)
        clash = sorted(set(parameters) & set(fitted["parameters"]))
        if clash:
            raise ScenarioError(f"population.parameters.{clash[0]}: drawn by the fitted population "
                                f"{fitted['name']!r} (population.fitted); remove it here",
                                field=f"population.parameters.{clash[0]}", value=parameters[clash[0]])
        parameters = {**fitted["parameters"], **parameters}
        links = fitted_links(fitted, lib)
    # variables in sorted order within each section, whatever order they were written in: a
    # patient's draws follow this order, and a trial's canonical spec (what workers rebuild) sorts
    for name, dspec in sorted(parameters.items()):
        where = f"population.parameters.{name}"
        if name not in lib:
            hint = did_you_mean(name, lib)
            raise ScenarioError(f"{where}: unknown parameter{hint}", field=where, value=dspec)
        p = lib[name]
        numeric = p.kind == "number"
        dist = _distribution(dspec, p.unit, where, numeric=numeric)
        if numeric and p.range is not None and not _within(dist, p.range):
            lo, hi = dist.support()
            raise ScenarioError(
                f"{where}: a {dist.kind} distribution takes values in [{lo:g}, {hi:g}] but the parameter allows "
                f"{p.range} {p.unit}; truncate it (truncate = [low, high]) or choose another distribution",
                field=where, value=dspec)
        elif not numeric:
            vals = dist.values()
            if vals is None or any((p.choices and v not in p.choices) or (p.kind == "bool" and not isinstance(v, bool))
                                   for v in vals):
                raise ScenarioError(f"{where}: values must be among {', '.join(map(str, p.choices or (True, False)))}",
                                    field=where, value=dspec)
        variables.append(Variable(name=name, distribution=dist, parameter=name, unit=p.unit if numeric else ""))
    for name, dspec in sorted((spec.get("covariates") or {}).items()):
        where = f"population.covariates.{name}"
        cov = COVARIATES.get(name) if name in RECORD_FIELDS else None
        if cov is not None:
            dist = _record_distribution(cov, dspec, where)
        else:
            numeric = isinstance(dspec, Mapping) and dspec.get("distribution") in ("lognormal", "normal", "uniform",
                                                                                   "negative_binomial")
            dist = _distribution(dspec, "", where, numeric=numeric)
        overrides: dict[Any, dict[str, Any]] = {}
        for cat, ov in (dspec.get("overrides") or {}).items():
            if dist.values() is None or cat not in [str(v) for v in dist.values()]:
                raise ScenarioError(f"{where}.overrides.{cat}: not a value of this covariate", field=f"{where}.overrides",
                                    value=cat)
            if not isinstance(ov, Mapping):
                raise ScenarioError(f"{where}.overrides.{cat}: must be a table of parameter = value",
                                    field=f"{where}.overrides.{cat}", value=ov)
            coerced = {}
            for pname, pval in ov.items():
                if pname.startswith(FIELD_PREFIXES):
                    coerced[pname] = pval  # a scenario field: checked against the arms (check_against)
                    continue
                if pname not in lib:
                    hint = did_you_mean(pname, list(lib))
                    raise ScenarioError(f"{where}.overrides.{cat}.{pname}: unknown parameter{hint} (or a scenario "
                                        "field: surgery.*, simulation.*, output.*, therapy.*)",
                                        field=f"{where}.overrides.{cat}.{pname}", value=pval)
                coerced[pname] = lib[pname].coerce(pval, where=f"{where}.overrides.{cat}.")
            key = next(v for v in dist.values() if str(v) == cat)
            overrides[key] = coerced
        variables.append(Variable(name=name, distribution=dist, overrides=overrides, record=cov is not None))
    names = [v.name for v in variables]
    corr = None
    pairs = spec.get("correlation") or []
    if pairs:
        corr = np.eye(len(variables))
        for j, pair in enumerate(pairs):
            where = f"population.correlation[{j}]"
            if not (isinstance(pair, list) and len(pair) == 3):
                raise ScenarioError(f"{where} = {pair!r}: write [\"name a\", \"name b\", rho]", field=where, value=pair)
            a, b, rho = pair
            for x in (a, b):
                if x not in names:
                    raise ScenarioError(f"{where}: {x!r} is not a population variable ({', '.join(names)})",
                                        field=where, value=pair)
            rho = _num(rho, "", where)
            if not -1 < rho < 1 or a == b:
                raise ScenarioError(f"{where}: rho = {rho:g} must be in (-1, 1) between two different variables",
                                    field=where, value=pair)
            ia, ib = names.index(a), names.index(b)
            corr[ia, ib] = corr[ib, ia] = rho
        try:
            np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            raise ScenarioError("population.correlation: the correlations are not jointly possible (the matrix is "
                                "not positive definite); weaken some of them", field="population.correlation",
                                value=pairs) from None
    return Population(variables=tuple(variables), correlation=corr, fitted=fitted, links=links)


# --------------------------------------------------------------------------- fitted populations
#: where the library's fitted populations live (JSON files; seedsoil.fit.fitted writes them)
FITTED_LIBRARY = "seedsoil.params.populations"
#: the keys of an expanded fitted population (:func:`fitted_population_spec`)
FITTED_KEYS = ("name", "label", "source", "provenance", "parameters", "overrides", "links")
#: fit link covariates (data columns) -> clinical-record fields of a trial patient
FIT_COVARIATES = {"grade": "grade", "positive_nodes": "positive_nodes", "tumour_size": "tumour_size", "age": "age"}


def fitted_library() -> list[str]:
    """Names of the fitted populations shipped with seedsoil (``params/populations/*.json``)."""
    root = resources.files(FITTED_LIBRARY)
    return sorted(e.name[:-5] for e in root.iterdir() if e.name.endswith(".json"))


def read_fitted(name_or_path: str | Path, where: str = "population.fitted") -> dict[str, Any]:
    """The content of a fitted-population file (as :meth:`seedsoil.fit.fitted.FittedPopulation.save`
    writes it), by library name or path; a ScenarioError naming ``where`` lists what is available."""
    p = Path(str(name_or_path))
    if p.suffix == ".json" or p.is_file():
        if not p.is_file():
            raise ScenarioError(f"{where} = {str(name_or_path)!r}: no such fitted-population file ({p.resolve()}); "
                                f"library populations: {', '.join(fitted_library()) or 'none'}", field=where,
                                value=str(name_or_path))
        return json.loads(p.read_text(encoding="utf-8"))
    names = fitted_library()
    if str(name_or_path) not in names:
        raise ScenarioError(f"{where} = {str(name_or_path)!r}: not a fitted population of the library"
                            f"{did_you_mean(str(name_or_path), names)} (available: {', '.join(names) or 'none'}; "
                            "or the path of a population.json a fit wrote)", field=where, value=str(name_or_path))
    return json.loads(resources.files(FITTED_LIBRARY).joinpath(f"{name_or_path}.json").read_text(encoding="utf-8"))


def _fit_base_scenario(model: Mapping[str, Any]) -> Any:
    from ..scenario import Scenario, default_scenario

    raw = model.get("scenario", "default")
    if isinstance(raw, Mapping):
        sc = Scenario.from_dict(raw)
    elif raw == "default":
        sc = default_scenario()
    else:
        raise ScenarioError(f"population.fitted: the fit's model.scenario = {raw!r} is not written out (a fitted "
                            "population file holds its base scenario in full)", field="population.fitted", value=raw)
    settings = model.get("settings") or {}
    return sc.with_overrides(dict(settings), where="population.fitted: model.settings.") if settings else sc


def _fitted_link(link: Mapping[str, Any], beta: float, target: str, label: str, lib: ParameterLibrary,
                 where: str) -> tuple[str, dict[str, Any]]:
    """(record field, links-file table) of one fitted link: ``target`` × exp(β (g(x) − g(reference)))."""
    from ..body.covariates import TRANSFORMS, _beta_unit

    cov_name = str(link.get("covariate"))
    if cov_name not in FIT_COVARIATES:
        raise ScenarioError(f"{where}: the fitted link {link.get('name')!r} reads {cov_name!r}, which a trial "
                            f"patient's record does not carry (links on {', '.join(FIT_COVARIATES)} carry over)",
                            field=where, value=cov_name)
    cov = COVARIATES[FIT_COVARIATES[cov_name]]
    transform = str(link.get("transform", "identity"))
    ref = float(link.get("reference", 0.0))
    source = f"fitted: {label}"
    note = f"fitted link {link.get('name')!r}: {target} x exp(beta ({transform}(x) - {transform}({ref:g})))"
    if cov.categorical:  # e.g. grade 1, 2, 3: one factor per category, exp(beta (g(k) - g(reference)))
        g = TRANSFORMS[transform]
        betas = {str(k): {"value": beta * (g(float(k)) - g(ref)), "unit": "", "range": "(-inf, inf)",
                          "source": source, "note": f"log factor of {cov.name} {k}"} for k in cov.choices}
        return cov.name, {"covariate": cov.name, "target": target, "form": "per_category", "note": note,
                          "beta": betas}
    table = {"covariate": cov.name, "target": target, "form": "log_linear", "transform": transform,
             "reference": f"{ref} {cov.unit}" if cov.unit else ref, "note": note,
             "beta": {"value": beta, "unit": _beta_unit(cov, transform), "range": "(-inf, inf)", "source": source,
                      "note": "fitted coefficient"}}
    return cov.name, table


def fitted_population_spec(fitted: Any, *, source: str | None = None,
                           library: ParameterLibrary | None = None) -> dict[str, Any]:
    """Expand a fitted population (a :class:`seedsoil.fit.fitted.FittedPopulation`, or the content
    of its JSON file) for a virtual trial, as plain data (the keys :data:`FITTED_KEYS`):

    * ``overrides``: the fit's base-scenario settings (e.g. ``colony.law = "gompertz"``) and
      the estimates of its free parameters (internal units), set in every arm;
    * ``parameters``: a ``[population.parameters]`` table with, per patient, a lognormal
      ``shedding.rate`` (median: the base rate × ``shedding_multiplier``, sigma:
      ``sigma_shedding``) and, with a growth effect, a lognormal growth target (median: its
      fitted value, sigma: ``sigma_growth``), truncated only to the parameter's finite range;
    * ``links``: a links table (the form of ``params/covariate_links.toml``) in which the
      fit's links act on her record (growth links on the growth target, per category for
      grade: exp(β (grade − reference)); shedding links on ``shedding.rate``, e.g.
      exp(β log(1 + nodes))), replacing the package's link of the same covariate and target;
      every other coefficient is neutral (0), the size still sets the size at surgery and the
      node observation model is the package's; so each patient is a patient of the fit;
    * ``name``, ``label`` (name with data, fit file, seedsoil version and date, as
      :attr:`~seedsoil.fit.fitted.FittedPopulation.label`), ``source`` (the name or path it
      was read from) and ``provenance`` (the fit's, with its log-likelihood).
    """
    lib = library or load_library()
    d = fitted.to_dict() if hasattr(fitted, "to_dict") else dict(fitted)
    where = "population.fitted"
    name = str(d.get("name", "fitted"))
    if not isinstance(d.get("natural"), Mapping) or not isinstance(d.get("fit"), Mapping):
        raise ScenarioError(f"{where}: {name!r} is not a fitted-population file (natural and fit missing)",
                            field=where, value=name)
    nat = {k: float(v) for k, v in d["natural"].items()}
    fit = d["fit"]
    model = fit.get("model", {}) or {}
    prov = dict(d.get("provenance", {}) or {})
    est = d.get("estimate", {}) or {}
    prov.setdefault("loglik", est.get("loglik"))
    label = (f"{name} (fitted to {prov.get('data', '?')}, {prov.get('fit_file', '?')}, seedsoil "
             f"{prov.get('seedsoil_version', '?')}, {prov.get('date', '?')})")
    base = _fit_base_scenario(model)
    free = [str(p["name"]) for p in fit.get("parameter", []) or []]
    overrides: dict[str, Any] = dict(base.overrides)
    overrides.update({n: nat[n] for n in free})
    values = {**dict(base.parameters), **{n: nat[n] for n in free}}

    def lognormal(pname: str, median: float, sigma: float) -> dict[str, Any]:
        out: dict[str, Any] = {"distribution": "lognormal", "median": median, "sigma": sigma}
        rng = lib[pname].range
        if rng is not None and math.isfinite(rng.high):
            low = rng.low if rng.low > 0 and rng.low_closed else float(np.nextafter(max(rng.low, 0.0), math.inf))
            out["truncate"] = [low, rng.high]  # the range's ends (P beyond them is negligible)
        return out

    parameters = {"shedding.rate": lognormal("shedding.rate", values["shedding.rate"] * nat["shedding_multiplier"],
                                             nat["sigma_shedding"])}
    links_raw = tomllib.loads(resources.files("seedsoil.params").joinpath("covariate_links.toml")
                              .read_text(encoding="utf-8"))
    neutral = f"neutral: not a link of the fitted population {name}"
    for table in links_raw.get("link", {}).values():  # every coefficient neutral, then the fit's
        if table.get("form") == "log_linear":
            table["beta"].update(value=0.0, source=neutral)
        elif table.get("form") == "per_category":
            for c in table["beta"].values():
                c.update(value=0.0, source=neutral)
    fitted_links_: list[tuple[Mapping[str, Any], str, str]] = []
    growth = model.get("growth_effect")
    if growth:
        target = str(growth["target"])
        parameters[target] = lognormal(target, values[target], nat["sigma_growth"])
        fitted_links_ += [(lk, f"beta_{lk.get('name', lk.get('covariate'))}", target)
                          for lk in model.get("growth_link", []) or []]
    fitted_links_ += [(lk, f"beta_{lk.get('name', lk.get('covariate'))}", "shedding.rate")
                      for lk in model.get("shedding_link", []) or []]
    for lk, key, target in fitted_links_:
        if "transform" not in lk and target == "shedding.rate":
            lk = {**lk, "transform": "log1p"}  # the fit file's default for shedding links
        cov, table = _fitted_link(lk, nat[key], target, label, lib, where)
        same = [n for n, t in links_raw["link"].items()
                if t.get("covariate") == cov and t.get("target") == target and t.get("form") == table["form"]]
        links_raw["link"][same[0] if same else f"fitted_{lk.get('name', cov)}"] = table
    return {"name": name, "label": label, "source": str(source if source is not None else name),
            "provenance": json.loads(json.dumps(prov, default=str)), "parameters": parameters,
            "overrides": json.loads(json.dumps(overrides, default=str)), "links": links_raw}


def resolve_fitted(value: Any, library: ParameterLibrary | None = None) -> dict[str, Any]:
    """``population.fitted``: a library name or path (read and expanded with
    :func:`fitted_population_spec`) or an already expanded table (what a trial's spec holds,
    so workers need not read the file), checked."""
    where = "population.fitted"
    if isinstance(value, (str, Path)):
        return fitted_population_spec(read_fitted(value, where), source=str(value), library=library)
    if isinstance(value, Mapping):
        missing = [k for k in FITTED_KEYS if k not in value]
        if missing:
            raise ScenarioError(f"{where}.{missing[0]}: required in an expanded fitted population (or give a "
                                "name or a path)", field=f"{where}.{missing[0]}", value=dict(value))
        return {k: value[k] for k in FITTED_KEYS}
    raise ScenarioError(f"{where} = {value!r}: the name of a fitted population (available: "
                        f"{', '.join(fitted_library()) or 'none'}) or the path of its JSON file", field=where,
                        value=value)


def fitted_links(fitted: Mapping[str, Any], library: ParameterLibrary | None = None) -> Any:
    """The validated covariate links (:class:`seedsoil.body.covariates.CovariateLinks`) of an
    expanded fitted population."""
    from ..body.covariates import parse_links

    return parse_links(fitted["links"], library or load_library(),
                       where=f"population.fitted ({fitted['name']}): links")
