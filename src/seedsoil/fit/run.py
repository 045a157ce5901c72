"""``seedsoil fit FIT.toml``: run a fit file end to end into a run directory, resumably.

The run directory holds

* ``fit.json``: the fit file, its content hash, the seedsoil version, the data's checksum,
  the results (estimates, intervals, mortality, figures), written when the fit ends;
* ``evaluations.jsonl``: every profile-likelihood evaluation as it is made (a rerun
  replays it: an interrupted fit resumes and ends where an uninterrupted one would);
* ``bootstrap/rep_<index>.json`` (index zero-padded to 4 digits): each finished bootstrap replicate (skipped on a rerun);
* ``chain.npz``: the emcee chain, checkpointed every few steps (continued on a rerun);
* ``estimates.csv``: estimates and intervals, estimation scale and natural units;
* ``population.json``: the fitted population (:mod:`seedsoil.fit.fitted`) a prediction or a
  trial can name, with its provenance.

A directory that holds another fit (a different content hash) is refused.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from . import calibrate as calibrate_mod
from ..cohort.validation_metrics import censoring_sampler
from .estimate import (EvaluationLog, MLEstimate, fit_mle, profile_interval, sample_posterior,
                       simulate_cohort)
from .fitted import FittedPopulation, natural_table
from .mechanistic import CohortLikelihood
from .mortality import GompertzMortality, fit_gompertz
from .spec import FitSpec, load_fit


#: the least effective sample size at which importance-resampled draws are kept for the bands
MIN_ESS = 30.0


def cohort_table(data_set: str, subset: str, sample: int = 0, seed: int = 0) -> pd.DataFrame:
    """The tidy table a fit uses (:mod:`seedsoil.data`); ``sample`` > 0: that many patients drawn
    without replacement (seeded), in their original order."""
    from .. import data

    if data_set == "rotterdam":
        df = data.load_rotterdam()
        df = data.rotterdam_untreated(df) if subset == "untreated" else df.reset_index(drop=True)
    elif data_set == "gbsg":
        df = data.load_gbsg().reset_index(drop=True)
    else:
        raise ScenarioError(f"data.set = {data_set!r}: rotterdam or gbsg", field="data.set", value=data_set)
    if sample:
        if sample > len(df):
            raise ScenarioError(f"data.sample = {sample}: the data set has {len(df)} patients", field="data.sample",
                                value=sample)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
        df = df.iloc[np.sort(rng.choice(len(df), size=sample, replace=False))].reset_index(drop=True)
    return df


def event_columns(df: pd.DataFrame, endpoint: str, other_cause_death: bool) -> tuple[str, str]:
    """The time and event columns of the mechanistic (recurrence) part: recurrence when the data
    record it (deaths without recurrence then censor, and are modelled apart when
    ``other_cause_death``), else recurrence-free survival."""
    if "recurrence_days" in df and (endpoint == "recurrence" or other_cause_death):
        return "recurrence_days", "recurrence_event"
    return "rfs_days", "rfs_event"


def fit_other_cause(df: pd.DataFrame) -> GompertzMortality:
    """Gompertz other-cause mortality from the deaths without recurrence (censored at recurrence)."""
    if "recurrence_event" not in df:
        raise ScenarioError("model.other_cause_death: the data set records no recurrence apart from death",
                            field="model.other_cause_death", value=True)
    oc = df["rfs_event"].astype(bool) & ~df["recurrence_event"].astype(bool)
    return fit_gompertz(df["age"].to_numpy(float), df["rfs_days"].to_numpy(float), oc.to_numpy(bool))


def _bootstrap_task(raw: dict, theta: list, seed: int, max_evaluations: int, time_col: str, event_col: str) -> list:
    """One parametric bootstrap replicate (an executor task): simulate from ``theta`` a cohort
    with the fit's patients and censoring distribution, refit from ``theta``."""
    spec = FitSpec.from_dict(raw)
    df = cohort_table(spec.data_set, spec.subset, spec.sample, spec.seed)
    draw = censoring_sampler(df[time_col].to_numpy(float), df[event_col].to_numpy(bool))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    sim = simulate_cohort(spec.model, np.asarray(theta), df, draw(rng, len(df)), seed)
    lik = CohortLikelihood(spec.model, sim, "time", "event")
    est = fit_mle(lik, start=np.asarray(theta)[:spec.model.n_solve], max_evaluations=max_evaluations)
    return est.theta.tolist()


@dataclass
class FitResult:
    """What :func:`run_fit` returns: the spec, the estimate, intervals, mortality, samples, the
    fitted population and the run directory."""

    spec: FitSpec
    estimate: MLEstimate
    table: pd.DataFrame
    mortality: GompertzMortality | None
    population: FittedPopulation
    samples: np.ndarray | None = None
    out_dir: Path | None = None
    wall_s: float = 0.0
    figures: dict = field(default_factory=dict)
    #: the posterior predictive checks (seedsoil.fit.report) and the report's extra sections (HTML),
    #: when the run made them; seedsoil.runs.run_fit writes them into report.html
    check: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    report_html: str = ""
    #: the fit file's external validation (seedsoil.fit.validation.ExternalValidation), when it was made
    validation: Any = None

    def __repr__(self) -> str:
        return (f"FitResult({self.spec.name!r}: n={self.estimate.n}, events={self.estimate.events}, "
                f"loglik={self.estimate.loglik:.2f}, converged={self.estimate.converged})")


def _executor(spec: FitSpec):
    if spec.executor == "inprocess":
        return None
    from ..execute import make_executor

    return make_executor(spec.executor, workers=spec.workers, scheduler=spec.scheduler)


def run_fit(spec: FitSpec | str | Path, out_dir: str | Path | None = None, *, fit_file: str = "",
            progress: Callable[[str], None] | None = None, report_draws: int = 20) -> FitResult:
    """Run a fit (module docstring). ``out_dir``: the run directory (created; resumed when it
    holds the same fit); ``fit_file``: the path recorded in the provenance; ``report_draws``:
    parameter draws behind the report's bands (0: no report)."""
    from .. import __version__

    if not isinstance(spec, FitSpec):
        fit_file = fit_file or str(spec)
        spec = load_fit(spec)
    say = progress or (lambda s: None)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        marker = out / "fit_hash.txt"
        if marker.is_file() and marker.read_text().strip() != spec.content_hash:
            raise ScenarioError(f"{out}: this directory holds another fit (content hash {marker.read_text().strip()}, "
                                f"this fit {spec.content_hash}); give another --out", field="out", value=str(out))
        if not marker.is_file():
            from ..store import write_text_atomic

            write_text_atomic(marker, spec.content_hash + "\n")
    t_start = time.perf_counter()
    df = cohort_table(spec.data_set, spec.subset, spec.sample, spec.seed)
    time_col, event_col = event_columns(df, spec.endpoint, spec.other_cause_death)
    executor = _executor(spec)
    try:
        lik = CohortLikelihood(spec.model, df, time_col, event_col, executor=executor)
        log = EvaluationLog(out / "evaluations.jsonl" if out is not None else None)
        say(f"fitting {len(spec.model.names)} parameters to {lik.n} patients ({int(lik.event.sum())} events, "
            f"{len(lik.groups)} covariate groups); {len(log.memo)} evaluations on record")

        def tick(n: int, v: float) -> None:
            if n % 25 == 0:
                say(f"  evaluation {n}: profile log-likelihood {v:.3f}")
        est = fit_mle(lik, max_evaluations=spec.max_evaluations, log=log, progress=tick)
        mort = fit_other_cause(df) if spec.other_cause_death else None
        calibrated = []
        for cal in spec.calibrations:
            say(f"calibrating {', '.join(cal.parameters)} to rate ratio {cal.target_rate_ratio:g}")
            model_now = calibrate_mod.apply(spec.model, calibrated)
            calibrated.append(calibrate_mod.calibrate(model_now, est.theta, df, cal))
        if calibrated:
            spec = dataclasses.replace(spec, model=calibrate_mod.apply(spec.model, calibrated))
        samples = None
        method = "wald"
        intervals = est.wald(spec.level)
        if spec.intervals == "profile":
            method = "profile (Wald for the others)"
            for name in spec.profile:
                j = est.names.index(name)
                say(f"profile interval of {name}")
                intervals[j] = profile_interval(lik, est, j, level=spec.level, log=log)
        if spec.bootstrap:
            samples = run_bootstrap(spec, est, out, executor, time_col, event_col, say)
            if spec.intervals == "bootstrap":
                method = "bootstrap percentile"
                intervals = equal_tailed(samples, spec.level)
        sir = None
        if samples is None and spec.method == "mle" and spec.proposals:
            sir_samples, sir = predictive_samples(lik, est, spec, out, say)
            if sir >= MIN_ESS:
                samples = sir_samples
        if spec.method == "emcee":
            say(f"emcee: {spec.walkers} walkers × {spec.steps} steps")
            chain, lp, acc = sample_posterior(lik, est, walkers=spec.walkers, steps=spec.steps, seed=spec.seed,
                                              path=out / "chain.npz" if out is not None else None,
                                              progress=lambda d: say(f"  step {d}") if d % 50 == 0 else None)
            post = chain[spec.burn::spec.thin].reshape(-1, chain.shape[-1])
            samples = post
            intervals = equal_tailed(post, spec.level)
            method = "posterior (emcee) equal-tailed"
    finally:
        if executor is not None:
            executor.close()
    table = natural_table(spec.model, est, intervals, method)
    wall = time.perf_counter() - t_start
    from .. import data as data_mod

    provenance = {
        "data": f"{spec.data_set} ({spec.subset}: {lik.n} patients, {int(lik.event.sum())} events; {time_col})",
        "data_sha256": data_mod.RAW_SHA256.get(spec.data_set, ""),
        "fit_file": fit_file or "(given as a table)", "fit_hash": spec.content_hash,
        "seedsoil_version": __version__, "date": date.today().isoformat(), "method": spec.method,
        "intervals": method, "loglik": est.loglik, "evaluations": est.evaluations, "converged": est.converged,
        "at_bound": est.at_bound, "wall_s": round(wall, 2), "evaluation_s": round(log.seconds, 2),
        "calibrated": calibrated,
        "samples": ("posterior (emcee)" if spec.method == "emcee" else "parametric bootstrap" if spec.bootstrap
                    else f"importance resampling: {len(samples)} draws from {spec.proposals} proposals, effective "
                         f"sample size {sir:.1f}" if samples is not None else
                    "none: bands from the Laplace approximation conditional on the unidentified parameters"
                    + ("" if sir is None else f" (importance resampling reached an effective sample size of only "
                                              f"{sir:.1f} < {MIN_ESS})")),
    }
    pop = FittedPopulation(spec.population or spec.name, spec, est, mort, provenance, samples,
                           spec.description, spec.portable())
    res = FitResult(spec, est, table, mort, pop, samples, out, wall)
    if out is not None:
        write_outputs(res)
        if report_draws:
            say("posterior predictive checks and external validation")
            predictive_outputs(res, df, time_col, event_col, draws=report_draws)
    return res


def equal_tailed(samples: np.ndarray, level: float) -> np.ndarray:
    """Equal-tailed intervals (rows: parameters; low, high) from samples (rows: draws)."""
    q = (1 - level) / 2
    return np.column_stack([np.quantile(samples, q, axis=0), np.quantile(samples, 1 - q, axis=0)])


def validate_externally(res: FitResult, train: pd.DataFrame):
    """The fit file's ``[validate]``: predict the named data set without refitting, beside a Cox
    model fitted on the same training patients (:mod:`seedsoil.fit.validation`)."""
    from .validation import external_validation

    v = res.spec.validate
    test = cohort_table(v["set"], v["subset"])
    return external_validation(res.population, train, test, horizons_years=v["horizons"],
                               train_name=f"{res.spec.data_set} ({res.spec.subset})", test_name=v["set"],
                               calibration_simulations=v.get("calibration_simulations", 1000), seed=res.spec.seed)


def predictive_outputs(res: FitResult, df: pd.DataFrame, time_col: str, event_col: str, *, draws: int = 20,
                       grid_points: int = 60) -> None:
    """The posterior predictive checks on the training patients, by subgroup, with bands from
    ``draws`` parameter draws (predictive_check.csv), the external validation when the fit file
    asks for it (validation.json), and the report's extra sections: kept on ``res`` for the
    report page (:func:`seedsoil.runs.run_fit` writes report.html)."""
    from ..store import _jsonable, write_csv_atomic, write_text_atomic
    from .report import predictive_check, predictive_summary

    out = res.out_dir
    assert out is not None
    grid = np.linspace(0.0, float(df[time_col].max()), grid_points)
    curves = res.population.survival(df, grid, endpoint="distant", draws=draws, seed=res.spec.seed)
    check = predictive_check(curves, df[time_col].to_numpy(float), df[event_col].to_numpy(bool), df, grid,
                             level=res.spec.level)
    summary = predictive_summary(check)
    write_csv_atomic(check, out / "predictive_check.csv")
    extra = [f"<p>Fitted population: {res.population.label}. Bands: {draws} parameter draws "
             f"({res.population.provenance.get('samples')}); training endpoint <code>{time_col}</code>.</p>"]
    cal = res.population.provenance.get("calibrated") or []
    if cal:
        rows = "".join(f"<tr><td>{', '.join(c['parameters'])}</td><td>{c['value']:.4g}</td>"
                       f"<td>{c['target_rate_ratio']:.3g}</td><td>{c['achieved_rate_ratio']:.3g}</td>"
                       f"<td>{c['attainable'][0]:.3g} – {c['attainable'][1]:.3g}</td><td>{c['source']}</td></tr>"
                       for c in cal)
        extra.append("<h3>Therapy effects calibrated to randomised evidence</h3><table><tr><th>parameters</th>"
                     "<th>value</th><th>target rate ratio</th><th>achieved</th><th>attainable</th><th>source</th>"
                     f"</tr>{rows}</table>")
    if res.spec.validate:
        v = res.validation = validate_externally(res, df)
        figures = {k: float(x) for k, x in v.figures().items()}
        write_text_atomic(out / "validation.json", json.dumps(_jsonable({
            "train": v.train, "test": v.test, "figures": figures,
            "table": v.table().reset_index().to_dict(orient="records"),
            "calibration": v.calibration().to_dict(orient="records"),
            "calibration_test": v.calibration_test().to_dict(orient="records"),
            "calibration_null": [{"model": m, "horizon": h, "max_errors": e.tolist()}
                                 for (m, h), e in v.null_errors.items()]}), indent=1) + "\n")
        extra.append(f"<h3>External validation: {v.test}, predicted without refitting</h3>"
                     + v.table().round(4).to_html(border=0)
                     + "<h4>Calibration by risk quartile</h4>"
                     + v.calibration().round(3).to_html(index=False, border=0)
                     + "<h4>Calibration tests</h4><p>Greenwood–Nam–D'Agostino chi-square per model and "
                     "horizon; <i>null</i>: the largest quartile error a perfectly calibrated model shows on "
                     "the same patients, risks and censoring (median, 95th percentile, and the share of "
                     "simulated cohorts reaching the observed error).</p>"
                     + v.calibration_test().round(4).to_html(index=False, border=0))
    res.check, res.summary, res.report_html = check, summary, "".join(extra)


def predictive_samples(lik: CohortLikelihood, est: MLEstimate, spec: FitSpec, out: Path | None,
                       say: Callable[[str], None]) -> tuple[np.ndarray, float]:
    """Posterior draws by importance resampling around the maximum (``estimate.importance_sample``),
    kept in ``sir.npz`` (reused on a rerun of the same fit)."""
    from .estimate import importance_sample

    path = out / "sir.npz" if out is not None else None
    if path is not None and path.is_file():
        ck = np.load(path)
        if np.array_equal(ck["theta"], est.theta) and int(ck["proposals"]) == spec.proposals:
            return ck["samples"], float(ck["ess"])
    say(f"importance resampling: {spec.proposals} proposals")
    samples, ess, _ = importance_sample(lik, est, proposals=spec.proposals, keep=100, seed=spec.seed,
                                        progress=lambda j: say(f"  proposal {j}") if j % 50 == 0 else None)
    if path is not None:
        tmp = path.with_name("sir.partial.npz")
        np.savez(tmp, samples=samples, ess=ess, theta=est.theta, proposals=spec.proposals)
        import os

        os.replace(tmp, path)
    return samples, ess


def run_bootstrap(spec: FitSpec, est: MLEstimate, out: Path | None, executor: Any, time_col: str, event_col: str,
                  say: Callable[[str], None]) -> np.ndarray:
    """Parametric bootstrap: ``spec.bootstrap`` replicates (tasks), each written to
    ``bootstrap/rep_<index>.json`` (index zero-padded to 4 digits) when done and skipped on a rerun."""
    from ..store import write_text_atomic

    seeds = np.random.SeedSequence(spec.seed).spawn(spec.bootstrap)
    results: dict[int, list] = {}
    folder = out / "bootstrap" if out is not None else None
    tasks = []
    for b in range(spec.bootstrap):
        f = folder / f"rep_{b:04d}.json" if folder is not None else None
        if f is not None and f.is_file():
            results[b] = json.loads(f.read_text())["theta"]
            continue
        seed = int(seeds[b].generate_state(1)[0])
        tasks.append((b, (spec.portable(), est.theta.tolist(), seed, spec.max_evaluations, time_col, event_col)))
    say(f"bootstrap: {len(results)} replicates on record, {len(tasks)} to run")
    if executor is None:
        done = ((t, _bootstrap_indexed(*t)) for t in tasks)
    else:
        done = executor.run(_bootstrap_indexed, tasks)
    for (b, _args), theta in done:
        results[b] = theta
        if folder is not None:
            write_text_atomic(folder / f"rep_{b:04d}.json", json.dumps({"replicate": b, "theta": theta}) + "\n")
        say(f"  replicate {b} done")
    return np.asarray([results[b] for b in range(spec.bootstrap)], dtype=float)


def _bootstrap_indexed(b: int, args: tuple) -> list:
    return _bootstrap_task(*args)


def write_outputs(res: FitResult) -> None:
    from ..store import _jsonable, write_csv_atomic, write_text_atomic

    out = res.out_dir
    assert out is not None
    write_csv_atomic(res.table, out / "estimates.csv")
    res.population.save(out / "population.json")
    record = {"seedsoil_version": res.population.provenance["seedsoil_version"], "fit_hash": res.spec.content_hash,
              "name": res.spec.name, "fit": res.spec.raw, "provenance": res.population.provenance,
              "estimate": res.estimate.to_dict(), "estimates": res.table.to_dict(orient="records"),
              "mortality": None if res.mortality is None else res.mortality.to_dict(), "wall_s": res.wall_s,
              "seed": res.spec.seed}
    write_text_atomic(out / "fit.json", json.dumps(_jsonable(record), indent=1) + "\n")

