"""Parameter recovery and identifiability of the mechanistic cohort model (issue 13).

**Recovery.** A parameter vector θ* (the *truth*, on the estimation scale of
:class:`~seedsoil.fit.mechanistic.MechanisticModel`: solve parameters then shedding parameters)
is fixed; replicate r

1. draws each patient's censoring time C_i from the censoring distribution of the real data,
   i.e. the reverse Kaplan–Meier estimate Ĝ(t) = P(C > t) with the roles of event and censoring
   swapped (:func:`~seedsoil.cohort.validation_metrics.censoring_sampler`), so the synthetic cohort has the
   real cohort's size, covariates and follow-up pattern;
2. simulates her relapse time T_i from the model at θ* (growth effect Z_g and shedding effect
   Z_s drawn, T_i = Λ_i⁻¹(E_i), E_i ~ Exp(1)) and observes (min(T_i, C_i), 1{T_i ≤ C_i})
   (:func:`~seedsoil.fit.estimate.simulate_cohort`);
3. refits the model by maximum likelihood (:func:`~seedsoil.fit.estimate.fit_mle`: Nelder–Mead
   on the profile likelihood, Wald covariance V̂ = (−∇²ℓ(θ̂))⁻¹ from the central-difference
   Hessian) and records θ̂_j, SE_j = √V̂_jj, the Wald interval θ̂_j ± z_{(1+level)/2} SE_j and
   whether it covers θ*_j.

The fit starts, by default, from the truth's solve part (``start="truth"``): a recovery study
asks about the *estimator* — the sampling distribution of the maximum near θ* — and starting
elsewhere would mix in the optimiser's global search (a replicate stopped by its evaluation
budget far from the maximum would count as "bias"). ``start="model"`` starts from the model's
own start values instead, which tests the whole pipeline as a real fit runs it. Either way,
replicates that did not converge or ended at a bound are flagged in the table.

Each replicate's seed is derived from (``seed``, replicate index) by
:class:`numpy.random.SeedSequence` (``spawn_key=(index,)``), and a replicate is a pure function
of its inputs and that seed, so the results do not depend on the executor, the number of
workers or the order in which replicates finish.

Over R replicates, per parameter j: mean estimate θ̄_j, bias θ̄_j − θ*_j, empirical SD
s_j = sd(θ̂_j) (ddof 1) against the mean Wald SE (their ratio s_j / mean SE_j should be near 1
when the Wald approximation holds), and coverage k_j / R with its exact binomial
(Clopper–Pearson) interval [B(α/2; k, R−k+1), B(1−α/2; k+1, R−k)], B the beta quantile.
A non-finite SE counts as not covering. Where the likelihood has a bent ridge (parameters
the data do not separate), the Wald intervals of the parameters correlated with it are too
narrow; the joint likelihood-ratio region (:func:`likelihood_ratio_coverage`) does not rely on
the quadratic approximation and is the coverage statement that holds there.

**Identifiability** (:func:`identifiability`) reads the Wald covariance V of one fit, or equivalently
the observed information I = V⁻¹ = −∇²ℓ(θ̂): per parameter its SE, the width 2 z SE of its
interval on the estimation scale (for log-scale parameters e^{2 z SE} is the factor between
the interval's ends in natural units), its largest absolute correlation with another parameter,
and its share of the flat directions of I (eigen-decomposition I = Σ_k λ_k v_k v_kᵀ; along v_k
the likelihood's curvature gives the SD 1/√λ_k; a direction is *flat* when that SD exceeds
``flat_sd``). The classification (thresholds are arguments, defaults below) is

* **not identified**: SE not finite or zero (a zero SE is what a covariance from a Hessian that
  is not negative definite leaves — no maximum in that direction —, never infinite precision),
  SE > ``se_weak`` (default 2: the 95 % interval spans more
  than a factor e^{±3.9} ≈ 50 either way), or at least half of the parameter's weight
  (Σ v_jk² over flat directions ≥ 0.5) lies in directions the information does not see
  (λ_k ≤ ``singular_tol`` · max λ);
* **pinned**: SE ≤ ``se_pinned`` (default 0.5: within a factor e^{±0.98} ≈ 2.7) and largest
  absolute correlation < ``corr_max`` (default 0.95);
* **weakly identified**: otherwise (a usable but wide interval, or one that the data only
  give in combination with another parameter).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..cohort.validation_metrics import censoring_sampler
from .estimate import UNIDENTIFIED_SE, MLEstimate, fit_mle, EvaluationLog, simulate_cohort
from .mechanistic import CohortLikelihood, MechanisticModel

#: identifiability thresholds (estimation scale: log, logit, log σ, β)
SE_PINNED = 0.5
SE_WEAK = UNIDENTIFIED_SE
CORR_MAX = 0.95
FLAT_SD = 2.0
SINGULAR_TOL = 1e-8


# ----------------------------------------------------------------------------- one replicate
def replicate_seed(seed: int, index: int) -> int:
    """The seed of replicate ``index`` of a study seeded ``seed`` (SeedSequence spawn key)."""
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(index),)).generate_state(1, dtype=np.uint32)[0])


def _start_vector(model: MechanisticModel, truth: np.ndarray, start: str) -> np.ndarray:
    if start == "truth":
        return np.asarray(truth[:model.n_solve], dtype=float).copy()
    if start == "model":
        return model.solve_start()
    raise ValueError(f"start = {start!r}: must be 'truth' or 'model'")


def recovery_replicate(model: MechanisticModel, truth: Sequence[float], data: pd.DataFrame, time_col: str,
                       event_col: str, seed: int, *, max_evaluations: int = 300, level: float = 0.95,
                       start: str = "truth", log_path: str | Path | None = None) -> dict:
    """One replicate (module docstring): censoring from the real data's reverse Kaplan–Meier, a
    cohort simulated from ``truth`` (estimation scale), the maximum-likelihood refit with Wald
    intervals at ``level``. ``log_path``: the fit's evaluation log (a rerun resumes the fit).

    Returns a JSON-ready dict: ``seed``, ``names``, ``truth``, ``estimate``, ``se``, ``lower``,
    ``upper``, ``covers`` (per parameter), ``covariance``, ``loglik`` (at the estimate),
    ``loglik_truth`` (at the truth, on the same synthetic cohort), ``evaluations``,
    ``converged``, ``at_bound``, ``n``, ``events``, ``start`` and ``wall_s`` (the only
    field that is not a function of the inputs and ``seed``)."""
    t_start = time.perf_counter()
    truth = np.asarray(truth, dtype=float)
    if len(truth) != len(model.names):
        raise ValueError(f"truth has {len(truth)} values; the model has {len(model.names)} ({', '.join(model.names)})")
    data = data.reset_index(drop=True)
    ss = np.random.SeedSequence(int(seed))
    s_censor, s_cohort = ss.spawn(2)
    draw = censoring_sampler(data[time_col].to_numpy(float), data[event_col].to_numpy(bool))
    censor = draw(np.random.default_rng(s_censor), len(data))
    cohort_seed = int(s_cohort.generate_state(1, dtype=np.uint32)[0])
    cohort = simulate_cohort(model, truth, data, censor, cohort_seed)
    lik = CohortLikelihood(model, cohort, "time", "event")
    log = EvaluationLog(log_path) if log_path is not None else None
    est = fit_mle(lik, start=_start_vector(model, truth, start), max_evaluations=max_evaluations, log=log)
    ci = est.wald(level)
    se = est.se
    finite = np.isfinite(se) & np.all(np.isfinite(ci), axis=1)
    covers = finite & (ci[:, 0] <= truth) & (truth <= ci[:, 1])
    ll_truth = lik.loglik(truth)

    def num(v: float) -> float | None:
        return float(v) if math.isfinite(float(v)) else None

    return {"seed": int(seed), "names": list(est.names), "truth": [float(v) for v in truth],
            "estimate": [num(v) for v in est.theta], "se": [num(v) for v in se],
            "lower": [num(v) for v in ci[:, 0]], "upper": [num(v) for v in ci[:, 1]],
            "covers": [bool(c) for c in covers], "covariance": [[num(v) for v in row] for row in est.covariance],
            "loglik": num(est.loglik), "loglik_truth": num(ll_truth), "evaluations": int(est.evaluations),
            "converged": bool(est.converged), "at_bound": list(est.at_bound), "n": int(est.n),
            "events": int(est.events), "level": float(level), "start": start,
            "wall_s": time.perf_counter() - t_start}


def _replicate_task(index: int, model: MechanisticModel, truth: list, data: pd.DataFrame, time_col: str,
                    event_col: str, seed: int, max_evaluations: int, level: float, start: str,
                    log_path: str | None) -> dict:
    """One executor task (module-level, so local process pools can pickle it)."""
    rec = recovery_replicate(model, truth, data, time_col, event_col, seed, max_evaluations=max_evaluations,
                             level=level, start=start, log_path=log_path)
    rec["replicate"] = int(index)
    return rec


def estimate_from_record(rec: dict) -> MLEstimate:
    """The :class:`MLEstimate` of one replicate record (for :func:`identifiability`)."""
    nan = float("nan")
    theta = np.asarray([nan if v is None else v for v in rec["estimate"]], float)
    cov = np.asarray([[nan if v is None else v for v in row] for row in rec["covariance"]], float)
    return MLEstimate(list(rec["names"]), theta, cov, nan if rec["loglik"] is None else float(rec["loglik"]),
                      int(rec["evaluations"]), bool(rec["converged"]), list(rec["at_bound"]), int(rec["n"]),
                      int(rec["events"]))


# ----------------------------------------------------------------------------- the study
@dataclass
class Recovery:
    """A recovery study: ``table`` (one row per replicate × parameter), ``summary`` (one row per
    parameter), ``records`` (the replicate dicts, by replicate index) and ``computed`` (the
    replicate indices computed by this call; the others were read back from ``out_dir``)."""

    table: pd.DataFrame
    summary: pd.DataFrame
    records: list[dict]
    computed: list[int] = field(default_factory=list)

    def coverage(self) -> dict[str, float]:
        return {str(r.parameter): float(r.coverage) for r in self.summary.itertuples()}


def _write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for k successes in n trials."""
    if n == 0:
        return math.nan, math.nan
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def recovery_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per replicate × parameter (estimation scale)."""
    rows = []
    for rec in sorted(records, key=lambda r: r["replicate"]):
        for j, name in enumerate(rec["names"]):
            f = (lambda v: math.nan if v is None else float(v))
            rows.append({"replicate": int(rec["replicate"]), "parameter": name, "truth": float(rec["truth"][j]),
                         "estimate": f(rec["estimate"][j]), "se": f(rec["se"][j]), "lower": f(rec["lower"][j]),
                         "upper": f(rec["upper"][j]), "covers": bool(rec["covers"][j]),
                         "at_bound": name in rec["at_bound"], "converged": bool(rec["converged"]),
                         "loglik": f(rec["loglik"]), "loglik_truth": f(rec["loglik_truth"]),
                         "evaluations": int(rec["evaluations"]), "seed": int(rec["seed"])})
    return pd.DataFrame(rows)


def recovery_summary(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per parameter: mean estimate, bias, empirical SD vs mean Wald SE, coverage with its
    Clopper–Pearson interval at ``level`` (module docstring)."""
    rows = []
    for name, g in table.groupby("parameter", sort=False):
        est = g["estimate"].to_numpy(float)
        se = g["se"].to_numpy(float)
        k, n = int(g["covers"].sum()), len(g)
        sd = float(np.nanstd(est, ddof=1)) if np.sum(np.isfinite(est)) > 1 else math.nan
        mse = float(np.nanmean(se)) if np.any(np.isfinite(se)) else math.nan
        lo, hi = clopper_pearson(k, n, level)
        rows.append({"parameter": name, "truth": float(g["truth"].iloc[0]), "mean_estimate": float(np.nanmean(est)),
                     "bias": float(np.nanmean(est) - g["truth"].iloc[0]), "sd_estimate": sd, "mean_se": mse,
                     "sd_over_se": sd / mse if mse and math.isfinite(mse) else math.nan,
                     "coverage": k / n, "coverage_low": lo, "coverage_high": hi, "replicates": n,
                     "at_bound": int(g["at_bound"].sum()), "converged": int(g["converged"].sum())})
    return pd.DataFrame(rows)


def likelihood_ratio_coverage(records: Sequence[dict], level: float = 0.95) -> dict:
    """Coverage of the joint likelihood-ratio confidence region {θ : 2(ℓ(θ̂) − ℓ(θ)) ≤ χ²_k(level)},
    k the number of parameters, over the replicates (module docstring). The region needs no
    Wald (quadratic) approximation, so it stays valid where a ridge bends. Along directions the
    data do not see at all the statistic is smaller than χ²_k predicts (conservative), but where
    a parameter is identified only away from a ridge's flat end it can be larger (the 24-replicate
    study of docs/fit.md: mean 12.4 for k = 10), so the coverage is measured, not assumed. Returns ``covered``, ``replicates``, ``coverage`` with its
    Clopper–Pearson ``coverage_low``/``coverage_high``, ``threshold`` (χ²_k quantile), ``k``,
    ``mean_statistic`` (k when every direction is identified and the asymptotics hold) and
    ``below_truth`` (replicates whose fit ended below the truth's likelihood: not at the maximum)."""
    d = np.array([2.0 * (float(r["loglik"]) - float(r["loglik_truth"])) for r in records
                  if r["loglik"] is not None and r["loglik_truth"] is not None])
    k = len(records[0]["names"]) if records else 0
    thr = float(stats.chi2.ppf(level, k)) if k else math.nan
    covered = int(np.sum(d <= thr))
    lo, hi = clopper_pearson(covered, len(d), level)
    return {"covered": covered, "replicates": len(d), "coverage": covered / len(d) if len(d) else math.nan,
            "coverage_low": lo, "coverage_high": hi, "threshold": thr, "k": k,
            "mean_statistic": float(d.mean()) if len(d) else math.nan, "below_truth": int(np.sum(d < 0))}


def run_recovery(model: MechanisticModel, truth: Sequence[float], data: pd.DataFrame, time_col: str, event_col: str,
                 *, replicates: int, seed: int, out_dir: str | Path | None = None, executor: Any = None,
                 max_evaluations: int = 300, level: float = 0.95, start: str = "truth",
                 progress: Any = None) -> Recovery:
    """``replicates`` recovery replicates (module docstring), one executor task each (``None``: in
    this process). With ``out_dir``, each finished replicate is written atomically to
    ``out_dir/replicates/rep_<index>.json``, index zero-padded to 4 digits (and its fit's evaluations to ``rep_<index>.evals.jsonl``);
    a rerun reads the finished ones back and computes only the others. ``out_dir/study.json``
    records the study's settings, and a rerun with different settings is refused.
    ``progress(record)`` is called as each replicate finishes."""
    truth = [float(v) for v in truth]
    data = data.reset_index(drop=True)
    rep_dir = None
    done: dict[int, dict] = {}
    if out_dir is not None:
        out_dir = Path(out_dir)
        rep_dir = out_dir / "replicates"
        rep_dir.mkdir(parents=True, exist_ok=True)
        study = {"names": model.names, "truth": truth, "seed": int(seed), "max_evaluations": int(max_evaluations),
                 "level": float(level), "start": start, "n": len(data), "time_col": time_col, "event_col": event_col}
        sp = out_dir / "study.json"
        if sp.is_file():
            old = json.loads(sp.read_text(encoding="utf-8"))
            if old != json.loads(json.dumps(study)):
                raise ValueError(f"{out_dir} holds a different study ({sp}); use another out_dir")
        else:
            _write_json_atomic(sp, study)
        for i in range(replicates):
            p = rep_dir / f"rep_{i:04d}.json"
            if p.is_file():
                done[i] = json.loads(p.read_text(encoding="utf-8"))
    tasks = []
    for i in range(replicates):
        if i in done:
            continue
        log_path = str(rep_dir / f"rep_{i:04d}.evals.jsonl") if rep_dir is not None else None
        tasks.append((i, model, truth, data, time_col, event_col, replicate_seed(seed, i), int(max_evaluations),
                      float(level), start, log_path))
    computed = []
    if tasks:
        results = ((t, _replicate_task(*t)) for t in tasks) if executor is None else executor.run(_replicate_task, tasks)
        for task, rec in results:
            i = task[0]
            done[i] = rec
            computed.append(i)
            if rep_dir is not None:
                _write_json_atomic(rep_dir / f"rep_{i:04d}.json", rec)
            if progress is not None:
                progress(rec)
    records = [done[i] for i in range(replicates)]
    table = recovery_table(records)
    return Recovery(table, recovery_summary(table, level), records, sorted(computed))


# ----------------------------------------------------------------------------- identifiability
def identifiability(est: MLEstimate, names: Sequence[str] | None = None, *, level: float = 0.95,
                    se_pinned: float = SE_PINNED, se_weak: float = SE_WEAK, corr_max: float = CORR_MAX,
                    flat_sd: float = FLAT_SD, singular_tol: float = SINGULAR_TOL) -> pd.DataFrame:
    """Which parameters one fit pins down (module docstring for the method and thresholds).

    Columns: ``parameter``, ``estimate``, ``se``, ``width`` (2 z SE, estimation scale), ``fold``
    (e^width: the factor between the interval's ends for a log-scale parameter),
    ``max_abs_corr`` and ``most_correlated_with``, ``flat_share`` (Σ v_jk² over the flat
    directions of the information), ``null_share`` (the same over its numerically null
    directions), ``status``. ``attrs["eigen"]``: the information's eigenvalues (ascending,
    flattest first), the SD 1/√λ along each eigenvector, and the parameters loading on it
    (|v_jk| ≥ 0.3, largest first)."""
    names = list(est.names if names is None else names)
    cov = np.asarray(est.covariance, dtype=float)
    k = len(names)
    if cov.shape != (k, k):
        raise ValueError(f"covariance is {cov.shape}; {k} names given")
    z = float(stats.norm.ppf(0.5 + level / 2))
    ok = bool(np.all(np.isfinite(cov)))
    se = np.sqrt(np.maximum(np.diag(cov), 0.0)) if ok else np.full(k, np.nan)
    if ok:
        d = np.where(se > 0, se, np.nan)
        corr = cov / np.outer(d, d)
        info = np.linalg.pinv(0.5 * (cov + cov.T), hermitian=True)
        lam, vec = np.linalg.eigh(0.5 * (info + info.T))
        # directions the covariance holds (near-)infinite variance in: pinv maps them to λ ≈ 0
    else:
        corr = np.full((k, k), np.nan)
        lam, vec = np.full(k, np.nan), np.full((k, k), np.nan)
    lam_max = float(np.nanmax(np.abs(lam))) if ok else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_dir = np.where(lam > 0, 1.0 / np.sqrt(np.maximum(lam, 0.0)), np.inf)
    null = lam <= singular_tol * lam_max if ok else np.zeros(k, bool)
    flat = (sd_dir > flat_sd) | null
    rows = []
    for j, name in enumerate(names):
        if ok and k > 1:
            r = np.abs(corr[j].copy())
            r[j] = -1.0
            r = np.nan_to_num(r, nan=-1.0)
            jj = int(np.argmax(r))
            mac, partner = float(r[jj]) if r[jj] >= 0 else math.nan, names[jj]
        else:
            mac, partner = math.nan, ""
        flat_share = float(np.sum(vec[j, flat] ** 2)) if ok else math.nan
        null_share = float(np.sum(vec[j, null] ** 2)) if ok else math.nan
        s = se[j]
        if not math.isfinite(s) or s <= 0.0 or s > se_weak or (ok and null_share >= 0.5):
            status = "not identified"
        elif s <= se_pinned and (not math.isfinite(mac) or mac < corr_max):
            status = "pinned"
        else:
            status = "weakly identified"
        rows.append({"parameter": name, "estimate": float(est.theta[j]), "se": float(s), "width": 2 * z * float(s),
                     "fold": math.exp(min(2 * z * float(s), 700.0)) if math.isfinite(s) else math.inf,
                     "max_abs_corr": mac, "most_correlated_with": partner, "flat_share": flat_share,
                     "null_share": null_share, "status": status})
    out = pd.DataFrame(rows)
    eig_rows = []
    if ok:
        for m in range(k):
            load = sorted(((abs(vec[j, m]), names[j], float(vec[j, m])) for j in range(k)), reverse=True)
            eig_rows.append({"eigenvalue": float(lam[m]), "sd": float(sd_dir[m]), "flat": bool(flat[m]),
                             "loadings": ", ".join(f"{n} {v:+.2f}" for a, n, v in load if a >= 0.3)})
    out.attrs["eigen"] = pd.DataFrame(eig_rows)
    return out
