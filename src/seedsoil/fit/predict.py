"""Predictions for the individual patient: her event-free curves under each therapy option.

Given one patient's clinical record and a fitted population (:mod:`seedsoil.fit.fitted`),
:func:`predict_patient` computes, for each therapy option (surgery only, chemotherapy,
endocrine therapy, IL-1 therapies, a perioperative NSAID, a JAK inhibitor, combinations or
the user's own therapy tables):

* her **distant-metastasis-free** probability ("distant"): the population's mechanistic
  model (:func:`seedsoil.fit.mechanistic.predict_survival`, marginal over the growth and
  shedding random effects) with her size at surgery, covariates and the option's therapies;
* her **recurrence-free** probability ("rfs"): the same times her other-cause survival from
  her age (the population's Gompertz mortality law; equal to "distant" when the population
  has none), as :meth:`FittedPopulation.survival` computes it;
* for each, the value at the estimate and the median and the ``level`` band over ``draws``
  parameter draws from the estimate's uncertainty (:meth:`FittedPopulation.draws`: bootstrap
  or posterior samples, else the Wald normal);
* the **absolute benefit** of each option over surgery only at 5 and 10 years (difference of
  event-free probabilities, positive = better), at the estimate and its band over the draws.
  The draws are the same parameter vectors for every option (one call, one seed), so each
  benefit is a paired difference, draw by draw.

The therapy of an option reaches the model through a :class:`TherapyRule` on a column that
is true only in that option's row; the population's own therapy rules (e.g. the cohort's
``chemotherapy`` column) are removed, so no therapy is applied twice.

Endocrine therapy acts through the oestrogen receptor: the model gives it no effect for
ER-negative disease. For an ER-negative patient its tables are left out of an option, so
the option's curve is exactly the one without it (the relapse engine gives the same curve
either way: an inert course does not move its time grid).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..body.covariates import COVARIATES
from ..errors import ScenarioError, did_you_mean
from .fitted import FittedPopulation, load_population
from .mechanistic import TherapyRule

DAYS_PER_YEAR = 365.25
#: the option every benefit is measured against
REFERENCE = "surgery only"
#: the years of the summary table (those within the horizon; the horizon itself if it is shorter)
SUMMARY_YEARS = (5.0, 10.0)

# ----------------------------------------------------------------------------- standard options
_CMF = {"kind": "chemotherapy", "regimen": "CMF", "start": "4 week"}
_AC = {"kind": "chemotherapy", "regimen": "AC", "start": "4 week"}
_TAMOXIFEN = {"kind": "endocrine", "agent": "tamoxifen", "start": "0 day", "duration": "5 year"}
_AI = {"kind": "endocrine", "agent": "aromatase_inhibitor", "start": "0 day", "duration": "5 year"}

#: named standard therapy options → their therapy tables (scenario ``[[therapy]]`` tables)
THERAPY_OPTIONS: dict[str, tuple[dict, ...]] = {
    # the reference: surgery, nothing after it
    REFERENCE: (),
    # CMF x 6 every 28 days (Bonadonna 1976, doi:10.1056/NEJM197602192940801), from 4 weeks
    # after surgery as in examples/adjuvant_patient.toml (assumption: the usual start)
    "chemotherapy (CMF)": (_CMF,),
    # AC x 4 every 21 days (NSABP B-15, Fisher 1990), potency 1.5 x CMF per cycle
    # (seedsoil.body.adjuvant.REGIMENS); same start as CMF (assumption)
    "chemotherapy (AC)": (_AC,),
    # tamoxifen for 5 years from surgery (EBCTCG 2011 doi:10.1016/S0140-6736(11)60993-8:
    # 5 years is the standard course); does nothing for ER-negative disease
    "tamoxifen 5 y": (_TAMOXIFEN,),
    # an aromatase inhibitor for 5 years from surgery (postmenopausal standard; the model
    # does not distinguish menopausal status: assumption)
    "aromatase inhibitor 5 y": (_AI,),
    # an IL-1beta mimetic holding I(t) at the level an inflammatory primary gives, for 12
    # months from surgery (keeps disseminated cells dormant: Castano 2018
    # doi:10.1038/s41556-018-0173-5), as the arm of examples/trial_clinic.toml
    "IL-1β mimetic 12 months": ({"kind": "il1b_mimetic", "start": "0 day", "duration": "12 month",
                                 "level": "5.7e-3 nM"},),
    # anakinra 100 mg daily for 12 months (its licensed dose), as examples/drugs_after_surgery.toml:
    # an IL-1R antagonist, which wakes dormant cells in the model (a safety question)
    "anakinra 12 months": ({"kind": "drug", "drug": "anakinra", "dose": "100 mg", "interval": "1 day",
                            "start": "0 day", "duration": "12 month"},),
    # meloxicam for 7 days from surgery, blunting the systemic response to the wound
    # (Krall 2018 doi:10.1126/scitranslmed.aan3464), as examples/adjuvant_patient.toml
    "perioperative NSAID": ({"kind": "nsaid", "agent": "meloxicam", "start": "0 day"},),
    # ruxolitinib (JAK1/2 inhibitor) 20 mg every 12 h for 12 months (myelofibrosis dose), as
    # examples/drugs_after_surgery.toml
    "ruxolitinib 12 months": ({"kind": "drug", "drug": "ruxolitinib", "dose": "20 mg", "interval": "12 h",
                               "start": "0 day", "duration": "12 month"},),
    # combinations: the adjuvant standard of the 1980s-90s (tamoxifen after chemotherapy would
    # start later; here both start as above: assumption)
    "CMF + tamoxifen": (_CMF, _TAMOXIFEN),
    "AC + aromatase inhibitor": (_AC, _AI),
}

#: the record fields a prediction takes (covariates of seedsoil.body.covariates, plus the T category)
RECORD_KEYS = ("tumour_size", "size_category", "positive_nodes", "grade", "er", "pr", "menopause", "age")


# ----------------------------------------------------------------------------- the record
def check_record(record: Mapping[str, Any], population: FittedPopulation | None = None,
                 needs_er: bool = False) -> dict[str, Any]:
    """The patient's record in internal form (numbers in the covariates' units), or a
    :class:`ScenarioError` naming the field (``patient.<name>``), the value, the unit and the
    allowed values. ``tumour_size`` (mm) or ``size_category`` (T1/T2/T3) is required; the
    covariates the population's model uses (its links), ``age`` when it has a mortality law and
    ``er`` when an option has endocrine therapy are required too."""
    if not isinstance(record, Mapping):
        raise ScenarioError(f"patient: a mapping of field → value expected, got {type(record).__name__}",
                            field="patient", value=record)
    out: dict[str, Any] = {}
    for key, raw in record.items():
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            continue
        if key not in RECORD_KEYS:
            raise ScenarioError(f"patient.{key}: not a field of the record{did_you_mean(str(key), list(RECORD_KEYS))} "
                                f"(fields: {', '.join(RECORD_KEYS)}; therapies are the options, not the record)",
                                field=f"patient.{key}", value=raw)
        if key == "size_category":
            cats = tuple(population.model.size_diameters) if population is not None else ("T1", "T2", "T3")
            if str(raw) not in cats:
                raise ScenarioError(f"patient.size_category = {raw!r}: must be one of {', '.join(map(repr, cats))} "
                                    "(T1 <= 20 mm, T2 20-50 mm, T3 > 50 mm)", field="patient.size_category",
                                    value=raw)
            out[key] = str(raw)
        else:
            out[key] = COVARIATES[key].coerce(raw, "patient.")
    if "tumour_size" not in out and "size_category" not in out:
        raise ScenarioError("patient.tumour_size: the record needs the size at surgery (tumour_size, "
                            f"{COVARIATES['tumour_size'].allowed()}) or its T category (size_category: T1, T2, T3)",
                            field="patient.tumour_size", value=None)
    needed: dict[str, str] = {}
    if population is not None:
        m = population.model
        for lk in m.shed_links:
            needed[lk.covariate] = f"population {population.name} links shedding to it"
        if m.growth is not None:
            for lk in m.solve_links:
                needed[lk.covariate] = f"population {population.name} links growth to it"
        if population.mortality is not None:
            needed.setdefault("age", f"population {population.name}'s other-cause mortality depends on it")
    if needs_er:
        needed.setdefault("er", "endocrine therapy acts only on ER-positive disease")
    for key, why in needed.items():
        if key not in out:
            allowed = COVARIATES[key].allowed() if key in COVARIATES else ""
            raise ScenarioError(f"patient.{key}: required ({why}); must be {allowed}", field=f"patient.{key}",
                                value=None)
    return out


def _check_therapies(therapies: Any) -> dict[str, tuple[dict, ...]]:
    """Options by name: ``None`` → all of :data:`THERAPY_OPTIONS`; a sequence of names; or a
    mapping name → therapy table or tables. Surgery only is always included (the reference)."""
    if therapies is None:
        opts = dict(THERAPY_OPTIONS)
    elif isinstance(therapies, Mapping):
        opts = {}
        for name, tables in therapies.items():
            if isinstance(tables, Mapping):
                tables = (tables,)
            tables = tuple(tables)
            if not all(isinstance(t, Mapping) and "kind" in t for t in tables):
                raise ScenarioError(f"therapy {name!r}: a therapy table (with kind = ...) or a list of them "
                                    "expected", field="therapy", value=name)
            opts[str(name)] = tuple(dict(t) for t in tables)
    else:
        if isinstance(therapies, str):
            therapies = [therapies]
        opts = {}
        for name in therapies:
            if name not in THERAPY_OPTIONS:
                hint = did_you_mean(str(name), list(THERAPY_OPTIONS))
                raise ScenarioError(f"therapy {name!r}: not a standard option{hint}"
                                    f" (options: {', '.join(THERAPY_OPTIONS)})", field="therapy", value=name)
            opts[name] = THERAPY_OPTIONS[name]
    if REFERENCE in opts and opts[REFERENCE]:
        raise ScenarioError(f"therapy {REFERENCE!r}: the reference option takes no therapy", field="therapy",
                            value=REFERENCE)
    return {REFERENCE: (), **{k: v for k, v in opts.items() if k != REFERENCE}}


def _validate_tables(opts: Mapping[str, tuple[dict, ...]], base: Any) -> None:
    """Each option's tables as therapies of the population's base scenario ``base`` (so a bad
    table fails here, naming the option)."""
    base = base.with_overrides({"surgery.primary_diameter": "20 mm"})  # as the model's group scenarios
    for name, tables in opts.items():
        if not tables:
            continue
        try:
            base.with_settings(therapy=[dict(t) for t in tables])
        except ScenarioError as exc:
            raise ScenarioError(f"therapy {name!r}: {exc}", field=f"therapy.{exc.field or ''}".rstrip("."),
                                value=exc.value) from None


# ----------------------------------------------------------------------------- the prediction
@dataclass
class PatientPrediction:
    """The result of :func:`predict_patient`.

    ``curves``: tidy table, one row per therapy × endpoint × day: ``estimate`` (at the
    parameter estimate), ``median``, ``low``, ``high`` (over the draws; the ``level`` band);
    ``summary``: therapy × endpoint × ``years`` (5 and 10): ``probability`` (at the estimate)
    with ``low`` / ``high``, and ``benefit`` (probability minus surgery only's, paired by draw)
    with ``benefit_low`` / ``benefit_high``; ``draws_table``: per draw (0 = estimate) the
    probabilities at the summary years, for checks."""

    record: dict
    population_label: str
    population_name: str
    provenance: dict
    therapies: dict
    horizon_years: float
    draws: int
    level: float
    seed: int
    curves: pd.DataFrame
    summary: pd.DataFrame
    mortality: bool = True
    notes: tuple[str, ...] = ()

    @property
    def options(self) -> list[str]:
        return list(self.therapies)

    def to_dict(self) -> dict:
        """Everything as plain JSON-able values (curves and summary as lists of records)."""
        return {"record": dict(self.record), "population": {"name": self.population_name,
                                                            "label": self.population_label,
                                                            "provenance": self.provenance},
                "therapies": {k: [dict(t) for t in v] for k, v in self.therapies.items()},
                "horizon_years": self.horizon_years, "draws": self.draws, "level": self.level, "seed": self.seed,
                "other_cause_mortality": self.mortality, "notes": list(self.notes),
                "summary": self.summary.to_dict(orient="records"),
                "curves": self.curves.to_dict(orient="records")}


def _population(population: Any) -> FittedPopulation:
    if isinstance(population, FittedPopulation):
        return population
    if isinstance(population, (str, Path)):
        return load_population(population)
    raise ScenarioError(f"population: a name, a path or a FittedPopulation expected, got {type(population).__name__}",
                        field="population", value=population)


def patient_table(record: Mapping[str, Any], options: Sequence[str]) -> pd.DataFrame:
    """One row per option: the record's covariates, the cohort therapy columns false, and a
    boolean column ``option_<i>`` true in row i only."""
    rows = []
    for i in range(len(options)):
        row = {**record, "chemotherapy": False, "hormonal_therapy": False}
        for j in range(len(options)):
            row[f"option_{j}"] = i == j
        rows.append(row)
    return pd.DataFrame(rows)


def option_population(pop: FittedPopulation, opts: Mapping[str, tuple[dict, ...]]) -> FittedPopulation:
    """The population with its therapy rules replaced by one rule per table of each option, on
    column ``option_<i>`` (the population's own rules are dropped: no therapy applies twice)."""
    rules = tuple(TherapyRule(f"option_{i}", dict(t)) for i, tables in enumerate(opts.values()) for t in tables)
    model = dataclasses.replace(pop.model, therapies=rules)
    return dataclasses.replace(pop, spec=dataclasses.replace(pop.spec, model=model))


def _quantiles(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, low, high) over axis 0 (the draws)."""
    a = (1.0 - level) / 2.0
    q = np.quantile(x, [0.5, a, 1.0 - a], axis=0)
    return q[0], q[1], q[2]


def predict_patient(record: Mapping[str, Any], population: Any = "rotterdam_untreated", *,
                    therapies: Any = None, horizon_years: float = 10.0, draws: int = 40, level: float = 0.95,
                    seed: int = 0, executor: Any = None, step_days: float = DAYS_PER_YEAR / 12) -> PatientPrediction:
    """One patient's predicted distant-metastasis-free and recurrence-free curves under each
    therapy option, with uncertainty, and each option's benefit over surgery only (module
    docstring).

    ``record``: her covariates (``tumour_size`` in mm or ``size_category``, ``positive_nodes``,
    ``grade``, ``er``, ``pr``, ``menopause``, ``age`` in years; values as in a scenario's
    ``[patient]`` section, e.g. ``"25 mm"``); ``population``: a library name, a
    ``population.json`` path or a :class:`FittedPopulation`; ``therapies``: ``None`` (every
    option of :data:`THERAPY_OPTIONS`), names of standard options, or a mapping name → therapy
    table(s); ``horizon_years``: the curves' end; ``draws``: parameter draws for the bands
    (the same ``draws`` and ``seed`` give the same draws for every option and call);
    ``level``: the band's coverage; ``step_days``: the curves' grid spacing.
    """
    if not (isinstance(horizon_years, (int, float)) and 0 < horizon_years <= 30):
        raise ScenarioError(f"horizon = {horizon_years!r} year: must be a number in (0, 30] year", field="horizon",
                            value=horizon_years)
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or not 0 <= draws <= 10000:
        raise ScenarioError(f"draws = {draws!r}: must be a whole number in [0, 10000]", field="draws", value=draws)
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ScenarioError(f"level = {level!r}: must be a number in (0, 1)", field="level", value=level)
    pop = _population(population)
    opts = _check_therapies(therapies)
    _validate_tables(opts, pop.model.scenario)
    needs_er = any(t.get("kind") == "endocrine" for tables in opts.values() for t in tables)
    rec = check_record(record, pop, needs_er=needs_er)
    notes = []
    applied = dict(opts)
    if rec.get("er") == "negative" and needs_er:
        applied = {k: tuple(t for t in v if t.get("kind") != "endocrine") for k, v in opts.items()}
        notes.append("ER-negative: endocrine therapy has no effect in the model and is left out of the options")
    names = list(applied)
    data = patient_table(rec, names)
    p = option_population(pop, applied)
    n_steps = max(1, int(math.ceil(horizon_years * DAYS_PER_YEAR / step_days - 1e-9)))
    grid = np.linspace(0.0, horizon_years * DAYS_PER_YEAR, n_steps + 1)
    years = sorted({y for y in SUMMARY_YEARS if y <= horizon_years} or {float(horizon_years)})
    grid = np.unique(np.concatenate([grid, np.asarray(years) * DAYS_PER_YEAR]))
    # one call: row 0 the estimate, rows 1.. the draws, the same parameter vectors for every option
    distant = p.survival(data, grid, endpoint="distant", draws=int(draws), seed=int(seed), executor=executor)
    if pop.mortality is not None:
        # the "rfs" endpoint of FittedPopulation.survival: × other-cause survival at her age
        other = pop.mortality.survival(data["age"].to_numpy(float)[:, None], grid[None, :])[None]
        rfs = distant * other
    else:
        rfs = distant.copy()
    curves, summary = [], []
    ref = names.index(REFERENCE)
    for endpoint, s in (("distant", distant), ("rfs", rfs)):
        draw_part = s[1:] if draws > 0 else s[:1]
        med, lo, hi = _quantiles(draw_part, level)
        benefit = s - s[:, ref:ref + 1, :]
        b_part = benefit[1:] if draws > 0 else benefit[:1]
        _, blo, bhi = _quantiles(b_part, level)
        for i, name in enumerate(names):
            curves.append(pd.DataFrame({"therapy": name, "endpoint": endpoint, "day": grid, "estimate": s[0, i],
                                        "median": med[i], "low": lo[i], "high": hi[i]}))
            for y in years:
                j = int(np.argmin(np.abs(grid - y * DAYS_PER_YEAR)))
                summary.append({"therapy": name, "endpoint": endpoint, "years": y, "probability": s[0, i, j],
                                "median": med[i, j], "low": lo[i, j], "high": hi[i, j],
                                "benefit": benefit[0, i, j], "benefit_low": blo[i, j], "benefit_high": bhi[i, j]})
    return PatientPrediction(record=rec, population_label=pop.label, population_name=pop.name,
                             provenance=dict(pop.provenance), therapies={k: tuple(v) for k, v in opts.items()},
                             horizon_years=float(horizon_years), draws=int(draws), level=float(level), seed=int(seed),
                             curves=pd.concat(curves, ignore_index=True), summary=pd.DataFrame(summary),
                             mortality=pop.mortality is not None, notes=tuple(notes))


__all__ = ["THERAPY_OPTIONS", "REFERENCE", "PatientPrediction", "check_record", "option_population", "patient_table",
           "predict_patient"]
