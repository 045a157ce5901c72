"""Patient covariates (what the clinic records) and how they change a patient's parameters.

Pure maths and declared data; no engine code. Three parts:

* :data:`COVARIATES`: the clinical record a scenario's ``[patient]`` section and a
  population may give (tumour size at surgery, positive lymph nodes, grade, ER and PR
  status, menopausal status, age), each with its unit and allowed values, plus the
  derived T category of the size.
* **Links** (:class:`CovariateLinks`, read from ``params/covariate_links.toml`` or a
  user's file of the same form): per link a covariate, a target (a library parameter
  or ``surgery.<field>``), a form and its coefficients (each with value, unit, range,
  source and note, like the parameter library). The forms
  (docs/model.md, "Patient covariates and their links"):

  ``log_linear``     target × exp(β · (g(x) − g(x_ref))), g = identity, log1p or log
  ``per_category``   target × exp(β_category)
  ``set``            target = x, converted to the target's unit

  :func:`apply_links` applies them: ``set`` links first, then the factors, which
  multiply. A covariate that is not recorded leaves its links out (neutral).
* **The positive-node read-out of dissemination** (:class:`NodeModel`): the number of
  positive lymph nodes is negative binomial with mean κ · S^ω, S the cells the primary
  shed before surgery (:func:`shed_before_surgery`), and dispersion r (variance
  m + m²/r); :func:`positive_nodes_log_likelihood` is its log-probability, so a fit can
  let a patient's own node count inform her shedding rate.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from scipy import stats

from ..errors import ScenarioError, UnitError, did_you_mean
from ..hashing import content_hash
from ..params import Interval, ParameterLibrary
from ..units import parse_quantity

# --------------------------------------------------------------------------- the clinical record
#: ER / PR positivity threshold of the Rotterdam and GBSG tumour banks (ligand-binding assay)
RECEPTOR_THRESHOLD = 10.0  # fmol/mg protein
#: T categories of the size at surgery (AJCC / UICC TNM): T1 <= 20 mm, T2 20-50 mm, T3 > 50 mm
T_STAGE_LIMITS = ((20.0, "T1"), (50.0, "T2"), (math.inf, "T3"))


@dataclass(frozen=True)
class Covariate:
    """One entry of the clinical record: a number in ``unit`` within ``range`` (``whole``:
    a count), or one of ``choices``."""

    name: str
    meaning: str
    unit: str = ""
    range: Interval | None = None
    choices: tuple = ()
    whole: bool = False
    #: derived from another covariate (not given by the user)
    derived_from: str | None = None

    @property
    def categorical(self) -> bool:
        return bool(self.choices)

    def allowed(self) -> str:
        """The allowed values, as error messages state them."""
        if self.categorical:
            text = ", ".join(map(repr, self.choices))
            if self.name in ("er", "pr"):
                text += f", or a level in fmol/mg (positive at >= {RECEPTOR_THRESHOLD:g} fmol/mg)"
            return text
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} in {self.range}" + (f" {self.unit}" if self.unit else "")

    def coerce(self, raw: object, where: str = "patient.") -> Any:
        """The value in internal form (number in ``unit``, int count or category), or a
        ScenarioError naming the field, the value, the unit and the allowed values."""
        fieldname = f"{where}{self.name}"

        def bad(reason: str = "") -> ScenarioError:
            return ScenarioError(f"{fieldname} = {raw!r}: {reason or 'must be ' + self.allowed()}",
                                 field=fieldname, value=raw)

        if self.categorical:
            if isinstance(raw, (np.integer, np.floating)):
                raw = raw.item()
            if isinstance(raw, float) and raw.is_integer() and int(raw) in self.choices:
                return int(raw)
            if not isinstance(raw, bool) and raw in self.choices:
                return raw
            if self.name in ("er", "pr") and not isinstance(raw, bool):
                try:
                    level = parse_quantity(raw, "fmol/mg", field=fieldname)
                except UnitError:
                    raise bad() from None
                if not (math.isfinite(level) and level >= 0):
                    raise bad(f"a receptor level must be >= 0 fmol/mg; must be {self.allowed()}")
                return receptor_status(level)
            raise bad()
        try:
            x = parse_quantity(raw.item() if isinstance(raw, (np.integer, np.floating)) else raw, self.unit,
                               field=fieldname)
        except UnitError as exc:
            raise bad(f"{exc.reason}; must be {self.allowed()}") from None  # type: ignore[attr-defined]
        if x not in self.range:  # type: ignore[operator]
            raise bad(f"out of range; must be {self.allowed()}")
        if self.whole:
            if not float(x).is_integer():
                raise bad()
            return int(x)
        return x


COVARIATES: dict[str, Covariate] = {c.name: c for c in (
    Covariate("tumour_size", "largest diameter of the primary at surgery (pathology)", "mm", Interval.parse("(0, 300]")),
    Covariate("positive_nodes", "number of positive axillary lymph nodes", "", Interval.parse("[0, 100]"),
              whole=True),
    Covariate("grade", "histological grade (Bloom-Richardson / Elston-Ellis)", choices=(1, 2, 3)),
    Covariate("er", "oestrogen receptor status", choices=("negative", "positive")),
    Covariate("pr", "progesterone receptor status", choices=("negative", "positive")),
    Covariate("menopause", "menopausal status at surgery", choices=("pre", "post")),
    Covariate("age", "age at surgery", "year", Interval.parse("[0, 120]")),
    Covariate("t_stage", "T category of tumour_size (T1 <= 20 mm, T2 20-50 mm, T3 > 50 mm)",
              choices=("T1", "T2", "T3"), derived_from="tumour_size"),
)}
#: the fields a scenario's [patient] section and a population may give (in record order)
RECORD_FIELDS = tuple(n for n, c in COVARIATES.items() if c.derived_from is None)


def receptor_status(level: float) -> str:
    """``"positive"`` at or above :data:`RECEPTOR_THRESHOLD` fmol/mg, else ``"negative"``."""
    return "positive" if level >= RECEPTOR_THRESHOLD else "negative"


def t_stage(size_mm: float) -> str:
    """T category of a tumour size in mm (T1 <= 20, T2 <= 50, T3 above)."""
    return next(label for limit, label in T_STAGE_LIMITS if size_mm <= limit)


def with_derived(values: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded values (``None`` = not recorded, dropped) plus the derived ones."""
    out = {k: v for k, v in values.items() if v is not None and k in COVARIATES}
    if "tumour_size" in out:
        out["t_stage"] = t_stage(float(out["tumour_size"]))
    return out


# --------------------------------------------------------------------------- links
FORMS = ("log_linear", "per_category", "set")
TRANSFORMS: dict[str, Callable[[float], float]] = {"identity": lambda x: x, "log1p": math.log1p,
                                                   "log": math.log}
#: scenario fields (not library parameters) a link may set
SCENARIO_TARGETS = {"surgery.primary_diameter": "mm", "surgery.primary_cells": "cells"}
NEUTRAL_SOURCE = "assumption: neutral until fitted to a cohort (calibration issue)"
_COEF_KEYS = {"value", "unit", "range", "source", "note"}


@dataclass(frozen=True)
class Coefficient:
    """One declared number: ``value`` in internal units (converted from ``unit``)."""

    name: str
    value: float
    unit: str
    range: Interval
    source: str
    note: str
    declared: float  # as written, in ``unit``


@dataclass(frozen=True)
class Link:
    name: str
    covariate: str
    target: str
    form: str
    note: str
    source: str = ""  # for ``set`` (no coefficient)
    transform: str = "identity"
    reference: float = 0.0  # log_linear: covariate value (its unit) at which the factor is 1
    beta: Coefficient | None = None  # log_linear
    betas: Mapping[Any, Coefficient] = field(default_factory=dict)  # per_category, by category

    def factor(self, x: Any) -> float:
        """The multiplicative factor at covariate value ``x`` (log_linear, per_category)."""
        if self.form == "log_linear":
            g = TRANSFORMS[self.transform]
            return math.exp(self.beta.value * (g(float(x)) - g(self.reference)))  # type: ignore[union-attr]
        if self.form == "per_category":
            return math.exp(self.betas[x].value)
        raise ValueError(f"link {self.name}: a {self.form} link has no factor")

    def coefficients(self) -> list[Coefficient]:
        return ([self.beta] if self.beta is not None else []) + list(self.betas.values())


@dataclass(frozen=True)
class NodeModel:
    """Positive nodes ~ NegBin(mean κ S^ω, dispersion r); S = cells shed by the primary before surgery."""

    kappa: Coefficient
    exponent: Coefficient
    dispersion: Coefficient

    def mean(self, shed: Any) -> Any:
        return self.kappa.value * np.asarray(shed, dtype=float) ** self.exponent.value

    def log_likelihood(self, nodes: Any, shed: Any) -> Any:
        return positive_nodes_log_likelihood(nodes, shed, self.kappa.value, self.exponent.value,
                                             self.dispersion.value)


@dataclass(frozen=True)
class CovariateLinks:
    """A validated links file: the links in declared order and the node observation model."""

    links: tuple[Link, ...]
    nodes: NodeModel
    #: where it was read from (None: the package's params/covariate_links.toml)
    path: str | None
    #: SHA-256 of the normalized definition (what enters a scenario's content hash)
    sha256: str
    #: the table it was parsed from (the links file's form, JSON-safe): what a scenario writes
    #: inline as ``patient.links`` when its links come from no file (a fitted population's)
    definition: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def by_name(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(f"no link {name!r}; links: {', '.join(l.name for l in self.links)}")

    def table(self) -> list[dict[str, Any]]:
        """Rows for display (like :meth:`seedsoil.params.ParameterLibrary.table`): every coefficient."""
        rows = []
        for c in self.nodes.kappa, self.nodes.exponent, self.nodes.dispersion:
            rows.append(_row(c, "positive nodes ~ negative binomial, mean kappa S^exponent"))
        for link in self.links:
            if link.form == "set":
                rows.append({"scale": "covariate_links", "name": f"link.{link.name}", "value": "covariate",
                             "unit": SCENARIO_TARGETS.get(link.target, ""), "range": "",
                             "source": link.source,
                             "note": f"{link.target} = {link.covariate} (set). {link.note}".strip()})
            for c in link.coefficients():
                rows.append(_row(c, f"{link.form} link of {link.covariate} to {link.target}"))
        return rows


def _row(c: Coefficient, what: str) -> dict[str, Any]:
    return {"scale": "covariate_links", "name": c.name, "value": c.declared, "unit": c.unit, "range": str(c.range),
            "source": c.source, "note": f"{c.note} ({what})" if c.note else what}


def _err(msg: str, where: str, value: Any = None) -> ScenarioError:
    return ScenarioError(msg, field=where, value=value)


def _coefficient(spec: object, name: str, unit: str, where: str) -> Coefficient:
    """A declared number (value, unit, range, source, note), converted to ``unit``."""
    if not isinstance(spec, Mapping) or "value" not in spec:
        raise _err(f"{where}: a table with value, unit, range, source and note", where, spec)
    extra = sorted(set(spec) - _COEF_KEYS)
    if extra:
        raise _err(f"{where}.{extra[0]}: unknown key (a coefficient takes {', '.join(sorted(_COEF_KEYS))})",
                   f"{where}.{extra[0]}", spec[extra[0]])
    if not isinstance(spec.get("source"), str) or not spec["source"].strip():
        raise _err(f"{where}.source: every coefficient needs a source (a DOI / PMID or \"assumption: why\")",
                   f"{where}.source", spec.get("source"))
    given = str(spec.get("unit", ""))
    value = spec["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(f"{where}.value = {value!r}: a number (in unit)", f"{where}.value", value)
    try:
        factor = parse_quantity(f"1 {given}" if given else 1.0, unit, field=f"{where}.unit")
    except UnitError as exc:
        raise _err(f"{where}.unit = {given!r}: {exc.reason}", f"{where}.unit", given) from None  # type: ignore[attr-defined]
    try:
        rng = Interval.parse(str(spec.get("range", "(-inf, inf)")))
    except ValueError as exc:
        raise _err(f"{where}.range: {exc}", f"{where}.range", spec.get("range")) from None
    if float(value) not in rng:
        raise _err(f"{where}.value = {value!r}: out of range; allowed {rng}{' ' + given if given else ''}",
                   f"{where}.value", value)
    return Coefficient(name=name, value=float(value) * factor, unit=given, range=rng, source=spec["source"],
                       note=str(spec.get("note", "")), declared=float(value))


def _beta_unit(cov: Covariate, transform: str) -> str:
    """The internal unit of a log-linear β: per unit of the (transformed) covariate."""
    if transform != "identity" or not cov.unit:
        return ""
    return f"1/{cov.unit}"


def parse_links(data: Mapping[str, Any], library: ParameterLibrary, *, path: str | None = None,
                where: str = "covariate_links") -> CovariateLinks:
    """Validate the parsed TOML of a links file (see ``params/covariate_links.toml``). Errors name
    the entry by its dotted name in the file (``link.<name>.beta``), their messages start with
    ``where`` (the file)."""
    try:
        return _parse_links(data, library, path)
    except ScenarioError as exc:
        raise _err(f"{where}: {exc}", exc.field or where, exc.value) from None


def _parse_links(data: Mapping[str, Any], library: ParameterLibrary, path: str | None) -> CovariateLinks:
    where = "links file"
    if not isinstance(data, Mapping):
        raise _err(f"{where}: must be a table", where, data)
    extra = sorted(set(data) - {"link", "observation"})
    if extra:
        raise _err(f"{extra[0]}: unknown section (a links file has [link.<name>] and "
                   "[observation.positive_nodes])", f"{extra[0]}", data[extra[0]])
    obs = data.get("observation", {}).get("positive_nodes") if isinstance(data.get("observation"), Mapping) else None
    if not isinstance(obs, Mapping):
        raise _err("observation.positive_nodes: the node observation model (kappa, exponent, dispersion) "
                   "is missing", "observation.positive_nodes", obs)
    ow = "observation.positive_nodes"
    extra = sorted(set(obs) - {"kappa", "exponent", "dispersion"})
    if extra:
        raise _err(f"{ow}.{extra[0]}: unknown key (takes kappa, exponent, dispersion)", f"{ow}.{extra[0]}")
    for key in ("kappa", "exponent", "dispersion"):
        if key not in obs:
            raise _err(f"{ow}.{key}: required", f"{ow}.{key}")
    nodes = NodeModel(*(_coefficient(obs[k], f"observation.positive_nodes.{k}", "", f"{ow}.{k}")
                        for k in ("kappa", "exponent", "dispersion")))
    if not (nodes.kappa.value > 0 and nodes.dispersion.value > 0):
        raise _err(f"{ow}: kappa and dispersion must be > 0", ow, obs)
    raw_links = data.get("link", {})
    if not isinstance(raw_links, Mapping):
        raise _err(f"link: write one [link.<name>] table per link", f"link", raw_links)
    links = []
    for name, spec in raw_links.items():
        lw = f"link.{name}"
        if not isinstance(spec, Mapping):
            raise _err(f"{lw}: must be a table", lw, spec)
        form = spec.get("form")
        if form not in FORMS:
            raise _err(f"{lw}.form = {form!r}: must be one of {', '.join(FORMS)}", f"{lw}.form", form)
        allowed = {"covariate", "target", "form", "note"} | {
            "log_linear": {"beta", "transform", "reference"}, "per_category": {"beta"}, "set": {"source"}}[form]
        extra = sorted(set(spec) - allowed)
        if extra:
            raise _err(f"{lw}.{extra[0]}: not a setting of a {form} link (it takes {', '.join(sorted(allowed))})",
                       f"{lw}.{extra[0]}", spec[extra[0]])
        cname = spec.get("covariate")
        if cname not in COVARIATES:
            raise _err(f"{lw}.covariate = {cname!r}: not a covariate{did_you_mean(str(cname), COVARIATES)} "
                       f"(covariates: {', '.join(COVARIATES)})", f"{lw}.covariate", cname)
        cov = COVARIATES[cname]
        target = spec.get("target")
        if target in SCENARIO_TARGETS:
            if form != "set":
                raise _err(f"{lw}.target = {target!r}: a scenario field can only be set (form = \"set\")",
                           f"{lw}.target", target)
        elif target not in library or library[target].kind != "number":
            options = [n for n in library if library[n].kind == "number"] + list(SCENARIO_TARGETS)
            raise _err(f"{lw}.target = {target!r}: not a numeric library parameter or "
                       f"{' / '.join(SCENARIO_TARGETS)}{did_you_mean(str(target), options)}", f"{lw}.target", target)
        note = str(spec.get("note", ""))
        if form == "set":
            if cov.categorical:
                raise _err(f"{lw}: a set link needs a numeric covariate ({cname} is categorical)", lw, spec)
            unit = SCENARIO_TARGETS.get(target) or library[target].unit
            try:
                parse_quantity(f"1 {cov.unit}" if cov.unit else 1.0, unit, field=lw)
            except UnitError:
                raise _err(f"{lw}: {cname} ({cov.unit or 'no unit'}) cannot be converted to {target}'s unit "
                           f"({unit or 'no unit'})", lw, spec) from None
            if not isinstance(spec.get("source"), str) or not spec["source"].strip():
                raise _err(f"{lw}.source: a set link needs a source (why the covariate is the target)",
                           f"{lw}.source", spec.get("source"))
            links.append(Link(name, cname, target, form, note, source=spec["source"]))
        elif form == "log_linear":
            if cov.categorical:
                raise _err(f"{lw}: a log_linear link needs a numeric covariate ({cname} is categorical; use "
                           "per_category)", lw, spec)
            transform = spec.get("transform", "identity")
            if transform not in TRANSFORMS:
                raise _err(f"{lw}.transform = {transform!r}: must be one of {', '.join(TRANSFORMS)}",
                           f"{lw}.transform", transform)
            try:
                ref = parse_quantity(spec.get("reference", 0.0), cov.unit, field=f"{lw}.reference")
            except UnitError as exc:
                raise _err(str(exc), f"{lw}.reference", spec.get("reference")) from None
            try:
                TRANSFORMS[transform](ref)
            except ValueError:
                raise _err(f"{lw}.reference = {spec.get('reference')!r}: outside the domain of {transform}",
                           f"{lw}.reference", spec.get("reference")) from None
            if transform == "log" and cov.range is not None and cov.range.low <= 0 and cov.range.low_closed:
                raise _err(f"{lw}.transform = 'log': {cname} can be 0; use log1p", f"{lw}.transform", transform)
            beta = _coefficient(spec.get("beta"), f"link.{name}.beta", _beta_unit(cov, transform), f"{lw}.beta")
            links.append(Link(name, cname, target, form, note, transform=transform, reference=ref, beta=beta))
        else:
            if not cov.categorical:
                raise _err(f"{lw}: a per_category link needs a categorical covariate ({cname} is a number; use "
                           "log_linear, or t_stage for the size)", lw, spec)
            raw = spec.get("beta")
            if not isinstance(raw, Mapping):
                raise _err(f"{lw}.beta: one coefficient table per category ({', '.join(map(str, cov.choices))})",
                           f"{lw}.beta", raw)
            keys = {str(c): c for c in cov.choices}
            extra = sorted(set(map(str, raw)) - set(keys))
            missing = [k for k in keys if k not in raw]
            if extra or missing:
                which = f"{extra[0]!r} is not a category" if extra else f"category {missing[0]!r} is missing"
                raise _err(f"{lw}.beta: {which} ({cname}: {', '.join(keys)})", f"{lw}.beta", raw)
            betas = {keys[k]: _coefficient(raw[k], f"link.{name}.beta.{k}", "", f"{lw}.beta.{k}") for k in keys}
            links.append(Link(name, cname, target, form, note, betas=betas))
    normal = {"links": [_normal(l) for l in links],
              "observation": {k: getattr(nodes, k).value for k in ("kappa", "exponent", "dispersion")}}
    definition = json.loads(json.dumps(data, default=str))  # a plain copy (TOML dates, if any, as text)
    return CovariateLinks(links=tuple(links), nodes=nodes, path=path, sha256=content_hash(normal),
                          definition=definition)


def _normal(link: Link) -> dict[str, Any]:
    """What a link does, in internal units (its notes and sources do not change results)."""
    out: dict[str, Any] = {"name": link.name, "covariate": link.covariate, "target": link.target, "form": link.form}
    if link.form == "log_linear":
        out.update(transform=link.transform, reference=link.reference, beta=link.beta.value)  # type: ignore[union-attr]
    elif link.form == "per_category":
        out["beta"] = {str(k): c.value for k, c in link.betas.items()}
    return out


_DEFAULT: dict[int, tuple[ParameterLibrary, CovariateLinks]] = {}


def default_links(library: ParameterLibrary | None = None) -> CovariateLinks:
    """The package's links (``params/covariate_links.toml``; read once per library)."""
    from ..params import load_library

    lib = library or load_library()
    hit = _DEFAULT.get(id(lib))
    if hit is None or hit[0] is not lib:
        text = resources.files("seedsoil.params").joinpath("covariate_links.toml").read_text(encoding="utf-8")
        hit = _DEFAULT[id(lib)] = (lib, parse_links(tomllib.loads(text), lib, where="params/covariate_links.toml"))
    return hit[1]


def read_links(path: str | Path, library: ParameterLibrary | None = None, *,
               where: str = "patient.links") -> CovariateLinks:
    """A user's links file (same form as ``params/covariate_links.toml``); errors name ``where``."""
    from ..params import load_library
    from ..tomlfile import read_toml

    try:
        data = read_toml(path, what="covariate links")
    except ScenarioError as exc:
        raise _err(f"{where} = {str(path)!r}: {exc}", where, str(path)) from None
    return parse_links(data, library or load_library(), path=str(path), where=f"{where} = {str(path)!r}")


# --------------------------------------------------------------------------- applying links
def apply_links(links: CovariateLinks, values: Mapping[str, Any], parameters: Mapping[str, Any],
                library: ParameterLibrary, *, where: str = "patient.") -> tuple[dict[str, Any], dict[str, float]]:
    """The patient's parameters and scenario fields after her covariates' links.

    ``values``: the recorded covariates in internal form (``None`` or absent = not
    recorded: its links are left out). ``parameters``: the parameters before the links.
    Returns ``(parameters, fields)``; ``fields`` maps ``surgery.<field>`` to the value a
    ``set`` link gives. ``set`` links come first, then the factors multiply. A result
    outside the target's range raises a ScenarioError naming the covariate and the link.
    """
    vals = with_derived(values)
    out = dict(parameters)
    fields: dict[str, float] = {}
    touched: dict[str, list[Link]] = {}
    for link in sorted(links.links, key=lambda l: l.form != "set"):
        if link.covariate not in vals:
            continue
        x = vals[link.covariate]
        if link.form == "set":
            cov = COVARIATES[link.covariate]
            if link.target in SCENARIO_TARGETS:
                unit = SCENARIO_TARGETS[link.target]
                fields[link.target] = float(x) * parse_quantity(f"1 {cov.unit}" if cov.unit else 1.0, unit)
                continue
            unit = library[link.target].unit
            out[link.target] = float(x) * parse_quantity(f"1 {cov.unit}" if cov.unit else 1.0, unit)
        else:
            out[link.target] = out[link.target] * link.factor(x)
        touched.setdefault(link.target, []).append(link)
    for target, used in touched.items():
        p = library[target]
        if p.range is not None and out[target] not in p.range:
            link = used[-1]
            cov = link.covariate if link.covariate in values else COVARIATES[link.covariate].derived_from
            unit = f" {p.unit}" if p.unit else ""
            raise ScenarioError(
                f"{where}{cov} = {values.get(cov)!r}: with the links {', '.join(l.name for l in used)} "
                f"{target} becomes {out[target]:.6g}{unit}, outside its allowed range {p.range}{unit}",
                field=f"{where}{cov}", value=values.get(cov))
    return out, fields


# --------------------------------------------------------------------------- positive nodes
def shed_before_surgery(inputs: Any) -> float:
    """Expected cells shed by the primary before surgery (S): the sum of
    ``BodyInputs.shed_primary`` over the steps that start before the surgery day (the
    step containing surgery counts up to surgery; the whole run without surgery)."""
    t0 = np.asarray(inputs.t)[:-1]
    return float(np.sum(np.asarray(inputs.shed_primary)[t0 < inputs.schedule.surgery_day]))


def positive_nodes_log_likelihood(nodes: Any, shed: Any, kappa: float, exponent: float, dispersion: float) -> Any:
    """log P(nodes | S) for positive nodes ~ NegBin(mean m = κ S^ω, dispersion r):
    P(n) = Γ(n + r) / (n! Γ(r)) · (r / (r + m))^r · (m / (r + m))^n, variance m + m²/r.
    With S = 0 the mean is 0 and only n = 0 is possible."""
    m = kappa * np.asarray(shed, dtype=float) ** exponent
    n = np.asarray(nodes)
    out = stats.nbinom.logpmf(n, dispersion, dispersion / (dispersion + m))
    return float(out) if np.ndim(out) == 0 else out
