"""Estimation on a :class:`~seedsoil.fit.mechanistic.CohortLikelihood`: maximum likelihood,
Wald and profile intervals, parametric bootstrap, posterior sampling (emcee), and synthetic
cohorts for parameter recovery.

* **Maximum likelihood.** Nelder–Mead (adaptive, bounded; Gao & Han 2012) over the solve
  parameters of the profile likelihood (the shedding parameters are maximised inside, with
  their exact gradient). Every evaluation is appended to a log (one JSON line, flushed);
  a rerun replays the log, so an interrupted fit resumes where it stopped and ends where an
  uninterrupted one would (Nelder–Mead is deterministic).
* **Wald intervals** from the central-difference Hessian of the full log-likelihood at the
  maximum, on the estimation scale (log, logit), mapped back to natural units.
* **Profile intervals** where 2 (ℓ̂ − ℓ_p(θ_j)) = χ²₁(level), every other parameter
  re-maximised at each value of θ_j (root bracketing from the Wald interval).
* **Parametric bootstrap**: cohorts simulated from the estimate (same patients, same
  censoring distribution), refitted; percentile intervals. One replicate is one task.
* **Posterior**: emcee's affine-invariant ensemble sampler (Foreman-Mackey et al. 2013,
  doi:10.1086/670067) on the estimation scale, priors as the fit file gives them (flat within
  the bounds otherwise), walkers started in a small ball around the maximum.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .likelihood import normal_nodes
from .mechanistic import CohortLikelihood, MechanisticModel, _solve_group


# ----------------------------------------------------------------------------- evaluation log
class EvaluationLog:
    """Profile-likelihood evaluations keyed by the exact solve vector, kept in memory and (with a
    path) appended to a JSON-lines file that a rerun reads back (a torn last line is ignored)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.memo: dict[bytes, tuple[float, np.ndarray]] = {}
        self.replayed = 0
        #: seconds the evaluations on record took when they were made (whatever the resumes)
        self.seconds = 0.0
        if self.path is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                x = np.asarray(rec["x"], dtype=float)
                v = -math.inf if rec["v"] is None else float(rec["v"])
                self.seconds += float(rec.get("s", 0.0))
                self.memo[x.tobytes()] = (v, np.asarray(rec["phi"], dtype=float))

    def get(self, x: np.ndarray):
        hit = self.memo.get(np.asarray(x, dtype=float).tobytes())
        if hit is not None:
            self.replayed += 1
        return hit

    def put(self, x: np.ndarray, v: float, phi: np.ndarray, seconds: float = 0.0) -> None:
        x = np.asarray(x, dtype=float)
        self.memo[x.tobytes()] = (v, np.asarray(phi, dtype=float))
        self.seconds += seconds
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            rec = {"x": [float(a) for a in x], "v": v if math.isfinite(v) else None,
                   "phi": [float(a) for a in phi], "s": round(seconds, 4)}
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                os.fsync(fh.fileno())


@dataclass
class MLEstimate:
    """A maximum-likelihood fit: ``theta`` (estimation scale, solve then shedding parameters),
    ``covariance`` (Wald), ``loglik``, evaluations used, whether Nelder–Mead converged, and
    which parameters ended at a bound."""

    names: list[str]
    theta: np.ndarray
    covariance: np.ndarray
    loglik: float
    evaluations: int
    converged: bool
    at_bound: list[str] = field(default_factory=list)
    n: int = 0
    events: int = 0

    @property
    def se(self) -> np.ndarray:
        """Wald standard errors; NaN where the Hessian is not negative definite there (no
        curvature: the estimate is not a proper maximum in that direction, or sits at a bound)."""
        d = np.diag(self.covariance)
        with np.errstate(invalid="ignore"):
            return np.where(d > 0, np.sqrt(np.where(d > 0, d, 0.0)), np.nan)

    def wald(self, level: float = 0.95) -> np.ndarray:
        q = stats.norm.ppf(0.5 + level / 2)
        return np.column_stack([self.theta - q * self.se, self.theta + q * self.se])

    def to_dict(self) -> dict:
        return {"names": self.names, "theta": self.theta.tolist(), "covariance": self.covariance.tolist(),
                "loglik": self.loglik, "evaluations": self.evaluations, "converged": self.converged,
                "at_bound": self.at_bound, "n": self.n, "events": self.events}

    @classmethod
    def from_dict(cls, d: dict) -> "MLEstimate":
        return cls(list(d["names"]), np.asarray(d["theta"], float), np.asarray(d["covariance"], float),
                   float(d["loglik"]), int(d["evaluations"]), bool(d["converged"]), list(d.get("at_bound", [])),
                   int(d.get("n", 0)), int(d.get("events", 0)))


def _simplex(x0: np.ndarray, bounds: list[tuple[float, float]], step: float = 0.3) -> np.ndarray:
    """An initial simplex of edge ``step`` (estimation scale) inside the bounds."""
    pts = [x0.copy()]
    for j in range(len(x0)):
        p = x0.copy()
        lo, hi = bounds[j]
        p[j] = x0[j] + step if x0[j] + step <= hi else x0[j] - step
        p[j] = min(max(p[j], lo), hi)
        pts.append(p)
    return np.asarray(pts)


#: Nelder–Mead's convergence tolerance on the simplex's spread of log-likelihood values
FATOL = 1e-3


def maximise(lik: CohortLikelihood, *, start: np.ndarray | None = None, max_evaluations: int = 600,
             log: EvaluationLog | None = None, fixed: dict[int, float] | None = None,
             progress: Callable[[int, float], None] | None = None) -> tuple[np.ndarray, float, np.ndarray, int, bool]:
    """Maximise the profile likelihood over the solve parameters (``fixed``: index of the full
    vector → value, held constant). Returns (solve vector, ℓ, shedding vector, evaluations, converged)."""
    m = lik.model
    fixed = dict(fixed or {})
    ns = m.n_solve
    log = log or EvaluationLog()
    x0 = m.solve_start() if start is None else np.asarray(start, dtype=float).copy()
    bounds = m.solve_bounds()
    free_idx = [j for j in range(ns) if j not in fixed]
    shed_fixed = {j - ns: v for j, v in fixed.items() if j >= ns}
    for j, v in fixed.items():
        if j < ns:
            x0[j] = v
    count = [0]

    def full(y: np.ndarray) -> np.ndarray:
        x = x0.copy()
        x[free_idx] = y
        return x

    def value(x: np.ndarray) -> tuple[float, np.ndarray]:
        # a profile with a shedding parameter held fixed is another function: its key carries the values
        key = x if not shed_fixed else np.concatenate([x, [shed_fixed.get(k, np.nan)
                                                           for k in range(len(m.shed_names))]])
        hit = log.get(key)
        if hit is not None:
            return hit
        count[0] += 1
        t0 = time.perf_counter()
        v, phi = lik.profile(x, fixed=shed_fixed)
        log.put(key, v, phi, time.perf_counter() - t0)
        if progress is not None:
            progress(count[0], v)
        return v, phi

    def f(y: np.ndarray) -> float:
        v, _ = value(full(y))
        return -v if math.isfinite(v) else 1e300

    if free_idx:
        y0 = x0[free_idx]
        fb = [bounds[j] for j in free_idx]
        # converged = the log-likelihood is flat to FATOL over the simplex. No tolerance in x: along
        # a ridge the data do not resolve (docs/fit.md, identifiability) the simplex never shrinks,
        # and a difference of 1e-3 in the log-likelihood means nothing statistically
        res = optimize.minimize(f, y0, method="Nelder-Mead", bounds=fb,
                                options={"maxfev": max_evaluations, "xatol": np.inf, "fatol": FATOL, "adaptive": True,
                                         "initial_simplex": _simplex(y0, fb)})
        x = full(res.x)
        converged = bool(res.success)
        nfev = int(res.nfev)
    else:
        x, converged, nfev = x0, True, 1
    v, phi = value(x)
    return x, v, phi, nfev, converged


def hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``fun`` at ``x`` with per-coordinate ``steps``."""
    k = len(x)
    out = np.empty((k, k))
    f0 = fun(x)
    for i in range(k):
        for j in range(i, k):
            if i == j:
                e = np.zeros(k)
                e[i] = steps[i]
                out[i, i] = (fun(x + e) - 2 * f0 + fun(x - e)) / steps[i] ** 2
                continue

            def g(a, b):
                y = x.copy()
                y[i] += a
                y[j] += b
                return fun(y)
            out[i, j] = out[j, i] = (g(steps[i], steps[j]) - g(steps[i], -steps[j]) - g(-steps[i], steps[j])
                                     + g(-steps[i], -steps[j])) / (4 * steps[i] * steps[j])
    return out


def fit_mle(lik: CohortLikelihood, *, start: np.ndarray | None = None, max_evaluations: int = 600,
            log: EvaluationLog | None = None, hessian_step: float = 0.02,
            progress: Callable[[int, float], None] | None = None) -> MLEstimate:
    """Maximum likelihood with Wald covariance (module docstring)."""
    m = lik.model
    x, v, phi, nfev, conv = maximise(lik, start=start, max_evaluations=max_evaluations, log=log, progress=progress)
    theta = np.concatenate([x, phi])
    bounds = m.solve_bounds() + m.shed_bounds()
    at_bound = [n for n, t, (lo, hi) in zip(m.names, theta, bounds)
                if (lo is not None and abs(t - lo) < 1e-3) or (hi is not None and abs(t - hi) < 1e-3)]
    steps = np.full(len(theta), hessian_step)
    steps[m.n_solve:] = 1e-3  # the shedding parameters are cheap and smooth: a finer step
    hess = hessian(lik.loglik, theta, steps)
    try:
        cov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        cov = np.full_like(hess, np.nan)
    # where the observed information is not positive definite the inverse's diagonal can be
    # negative: those parameters get no Wald interval (NaN), never a zero-width one
    return MLEstimate(m.names, theta, cov, float(v), nfev, conv, at_bound, lik.n, int(lik.event.sum()))


def profile_interval(lik: CohortLikelihood, est: MLEstimate, j: int, *, level: float = 0.95,
                     max_evaluations: int = 300, log: EvaluationLog | None = None) -> tuple[float, float]:
    """Profile-likelihood interval of parameter ``j`` (estimation scale)."""
    m = lik.model
    crit = stats.chi2.ppf(level, 1) / 2
    bounds = m.solve_bounds() + m.shed_bounds()
    lo_b, hi_b = bounds[j]
    lo_b = -60.0 if lo_b is None else lo_b
    hi_b = 60.0 if hi_b is None else hi_b
    se = est.se[j] if np.isfinite(est.se[j]) and est.se[j] > 0 else 0.1
    start = est.theta[:m.n_solve]

    def drop(v: float) -> float:
        _, lv, _, _, _ = maximise(lik, start=start, max_evaluations=max_evaluations, log=log, fixed={j: v})
        return est.loglik - lv - crit

    out = []
    for sign in (-1.0, 1.0):
        edge = hi_b if sign > 0 else lo_b
        a, b = est.theta[j], est.theta[j] + sign * 2 * se
        b = min(max(b, lo_b), hi_b)
        fb = drop(b)
        while fb < 0 and b != edge:
            a, b = b, min(max(b + sign * 2 * se, lo_b), hi_b)
            fb = drop(b)
        if fb < 0:
            out.append(edge)  # the data do not bound it on this side
            continue
        out.append(optimize.brentq(drop, a, b, xtol=1e-3 * max(se, 1e-3)) if a != b else b)
    return out[0], out[1]


# ----------------------------------------------------------------------------- synthetic cohorts
def simulate_cohort(model: MechanisticModel, theta: np.ndarray, data: pd.DataFrame, censor: np.ndarray,
                    seed: int, *, grid_step: float = 7.0, growth: str = "quadrature") -> pd.DataFrame:
    """A cohort like ``data`` (same covariates) with relapse times drawn from the model at ``theta``
    and censored at ``censor`` (days). Each patient's growth effect is drawn, then her shedding
    effect Z_s ~ N(0, 1), then her relapse time by inverting Λ(t) = E / r, E ~ Exp(1),
    r = exp(θ0 + x·β + σ_s Z_s) (Λ linear between grid points ``grid_step`` days apart).

    ``growth = "quadrature"`` (default) draws the growth effect from the likelihood's own
    representation of it, the Gauss–Hermite nodes z_k with probabilities v_k: the cohort then
    comes from exactly the model that is fitted (what parameter recovery needs), and patients
    share one solve per (group, node). ``growth = "continuous"`` draws Z_g ~ N(0, 1), one solve
    per patient: how far the K-node model is from a continuous lognormal. Columns ``time``,
    ``event`` are added."""
    if growth not in ("quadrature", "continuous"):
        raise ValueError(f"growth = {growth!r}: quadrature or continuous")
    rng = np.random.default_rng(seed)
    data = data.reset_index(drop=True)
    theta = np.asarray(theta, dtype=float)
    ns = model.n_solve
    ts, phi = theta[:ns], theta[ns:]
    horizon = float(np.max(censor))
    grid = np.arange(0.0, horizon + grid_step, grid_step)
    keys = model.group_keys(data)
    if model.growth is None:
        zg = np.zeros(len(data))
        node = np.zeros(len(data), dtype=int)
    elif growth == "quadrature":
        z_nodes, w_nodes = normal_nodes(model.growth.nodes)
        node = rng.choice(len(z_nodes), size=len(data), p=w_nodes / w_nodes.sum())
        zg = z_nodes[node]
    else:
        zg = rng.standard_normal(len(data))
        node = np.arange(len(data))  # every patient her own solve
    zs = rng.standard_normal(len(data))
    e = rng.exponential(size=len(data))
    log_m = phi[0] + model.shed_design(data) @ phi[2:] + math.exp(phi[1]) * zs
    t = np.full(len(data), np.inf)
    scen: dict[str, Any] = {}
    cums: dict[tuple, np.ndarray] = {}
    for i, k in enumerate(keys):
        if k not in scen:
            scen[k] = model.group_scenario(k, horizon)
        key = (k, int(node[i]))
        if key not in cums:
            ov = model.overrides(ts, k, z=[zg[i]]) if model.growth is not None else model.overrides(ts, k)
            cums[key] = _solve_group(k, scen[k], ov, grid)[0]
        cum = cums[key]
        target_cum = e[i] / math.exp(log_m[i])
        if cum[-1] >= target_cum:
            j = max(int(np.searchsorted(cum, target_cum)), 1)
            c0, c1 = cum[j - 1], cum[j]
            frac = (target_cum - c0) / (c1 - c0) if c1 > c0 else 1.0
            t[i] = grid[j - 1] + frac * (grid[j] - grid[j - 1])
    out = data.copy()
    obs = np.minimum(t, censor)
    out["time"] = np.maximum(obs, 1.0)
    out["event"] = (t <= censor).astype(int)
    return out


# ----------------------------------------------------------------------------- importance resampling
def importance_sample(lik: CohortLikelihood, est: MLEstimate, *, proposals: int = 400, keep: int = 100,
                      seed: int = 0, df: float = 4.0, rounds: int = 3, cap: float = 1.0,
                      progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """Draws from the posterior (flat priors within the bounds on the estimation scale, or the
    fit file's priors) by adaptive importance sampling (population Monte Carlo, Cappé et al.
    2004, doi:10.1198/106186004X12803) and a final resampling step.

    Round 1 proposes from a multivariate t (``df`` degrees of freedom) centred at the maximum
    with the Wald covariance, its eigenvalues held within [1e-6, ``cap``] (where the data do not
    pin a direction down the Wald variance is huge, and its linear extrapolation runs far past
    where the likelihood falls off a cliff). Each round draws ``proposals`` / ``rounds`` points,
    weights them by w ∝ exp(ℓ(θ) + log prior(θ)) / q(θ), and moves the next round's centre and
    covariance to the weighted mean and covariance. The last round's weighted points are
    resampled (systematic) to ``keep`` draws. Returns (samples, the last round's effective
    sample size (Σw)²/Σw², its log-weights)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    k = len(est.theta)
    cov = est.covariance if np.all(np.isfinite(est.covariance)) else np.eye(k)
    mean = est.theta.copy()
    n = max(proposals // max(rounds, 1), 2)
    done = 0
    th = logw = None
    for _ in range(max(rounds, 1)):
        vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
        vals = np.clip(vals, 1e-6, cap)
        root = vecs * np.sqrt(vals)
        inv = (vecs / vals) @ vecs.T
        z = rng.standard_normal((n, k))
        u = rng.chisquare(df, size=n) / df
        th = mean + (z / np.sqrt(u)[:, None]) @ root.T
        d = th - mean
        maha = np.einsum("ij,jk,ik->i", d, inv, d)
        log_q = -0.5 * (df + k) * np.log1p(maha / df) - 0.5 * float(np.sum(np.log(vals)))
        logw = np.full(n, -np.inf)
        for j in range(n):
            lp = log_prior(lik.model, th[j])
            if math.isfinite(lp):
                ll = lik.loglik(th[j])
                if math.isfinite(ll):
                    logw[j] = ll + lp - log_q[j]
            done += 1
            if progress is not None:
                progress(done)
        if not np.any(np.isfinite(logw)):
            raise ValueError("importance sampling: every proposal has zero likelihood")
        w = np.exp(logw - np.max(logw))
        w /= w.sum()
        mean = w @ th
        dev = th - mean
        cov = (w[:, None] * dev).T @ dev + 1e-6 * np.eye(k)
    w = np.exp(logw - np.max(logw))
    ess = float(w.sum() ** 2 / np.sum(w ** 2))
    cdf = np.cumsum(w / w.sum())
    pos = (rng.uniform() + np.arange(keep)) / keep
    idx = np.minimum(np.searchsorted(cdf, pos), len(th) - 1)
    return th[idx], ess, logw


# ----------------------------------------------------------------------------- posterior
def log_prior(model: MechanisticModel, theta: np.ndarray) -> float:
    """Normal priors given in the fit file (estimation scale), flat within the bounds otherwise."""
    bounds = model.solve_bounds() + model.shed_bounds()
    for t, (lo, hi) in zip(theta, bounds):
        if (lo is not None and t < lo) or (hi is not None and t > hi):
            return -math.inf
    lp = 0.0
    for p, t in zip(model.free, theta):
        if p.prior is not None:
            lp += float(stats.norm.logpdf(t, p.prior[1], p.prior[2]))
    return lp


class _LogPosterior:
    def __init__(self, lik: CohortLikelihood):
        self.lik = lik

    def __call__(self, theta: np.ndarray) -> float:
        lp = log_prior(self.lik.model, theta)
        if not math.isfinite(lp):
            return -math.inf
        return lp + self.lik.loglik(theta)


#: a Wald SE above this (estimation scale) marks a parameter the data do not pin down
#: (the ``se_weak`` threshold of :func:`seedsoil.fit.recovery.identifiability`)
UNIDENTIFIED_SE = 2.0


def unidentified(est: MLEstimate) -> list[int]:
    """Indices of the parameters without a Wald SE or with one above :data:`UNIDENTIFIED_SE`."""
    return [j for j, v in enumerate(est.se) if not np.isfinite(v) or v > UNIDENTIFIED_SE]


def laplace_draws(est: MLEstimate, bounds: Sequence[tuple[float | None, float | None]], n: int,
                  rng: np.random.Generator) -> np.ndarray:
    """``n`` parameter vectors from the Laplace approximation *conditional on the unidentified
    parameters* (:func:`unidentified`, held at their estimates): the others are drawn from the
    normal whose precision is their block of the observed information, then clipped to
    ``bounds``. Along a ridge the data do not resolve, the Wald normal's linear extrapolation
    runs far past where the likelihood falls off; conditioning keeps the draws where it is
    supported. Raises ValueError when the covariance is not finite."""
    k = len(est.theta)
    cov = est.covariance
    if not np.all(np.isfinite(cov)):
        raise ValueError("the covariance is not finite; no Laplace draws")
    skip = set(unidentified(est))
    free = [j for j in range(k) if j not in skip]
    th = np.repeat(np.asarray(est.theta, dtype=float)[None], n, axis=0)
    if free:
        info = np.linalg.pinv(0.5 * (cov + cov.T))
        sub = info[np.ix_(free, free)]
        vals, vecs = np.linalg.eigh(0.5 * (sub + sub.T))
        # a parameter at a bound leaves the information indefinite there: no draws along it
        sd = np.where(vals > 1e-12, 1.0 / np.sqrt(np.where(vals > 1e-12, vals, 1.0)), 0.0)
        th[:, free] += (rng.standard_normal((n, len(free))) * sd) @ vecs.T
    for j, (lo, hi) in enumerate(bounds):
        th[:, j] = np.clip(th[:, j], -np.inf if lo is None else lo, np.inf if hi is None else hi)
    return th


def sample_posterior(lik: CohortLikelihood, est: MLEstimate, *, walkers: int, steps: int, seed: int,
                     path: str | Path | None = None, checkpoint_every: int = 10,
                     progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """emcee chain (steps × walkers × parameters) and log-posterior, resuming from ``path``
    (an ``.npz`` checkpoint written atomically every ``checkpoint_every`` steps). Returns
    (chain, log_prob, mean acceptance fraction)."""
    import emcee

    ndim = len(est.theta)
    rng = np.random.default_rng(seed)
    cov = est.covariance if np.all(np.isfinite(est.covariance)) else np.eye(ndim) * 1e-4
    scale = np.sqrt(np.maximum(np.diag(cov), 1e-8))
    chain = np.empty((0, walkers, ndim))
    lp = np.empty((0, walkers))
    if path is not None and Path(path).is_file():
        ck = np.load(path, allow_pickle=False)
        chain, lp = ck["chain"], ck["log_prob"]
        st = json.loads(str(ck["random_state"]))
        random_state = (st[0], np.asarray(st[1], dtype=np.uint32), int(st[2]), int(st[3]), float(st[4]))
        state = emcee.State(chain[-1], log_prob=lp[-1], random_state=random_state)
    else:
        # walkers start at the Laplace approximation's spread for the parameters the data pin
        # down (a tight ball would spend the chain expanding), in a ball of 0.1 SE along the others
        p0 = est.theta + 0.1 * scale * rng.standard_normal((walkers, ndim))
        bounds = lik.model.solve_bounds() + lik.model.shed_bounds()
        if np.all(np.isfinite(est.covariance)):
            skip = set(unidentified(est))
            pinned = [j for j in range(ndim) if j not in skip]
            p0[:, pinned] = laplace_draws(est, bounds, walkers, rng)[:, pinned]
        for j, (lo, hi) in enumerate(bounds):
            p0[:, j] = np.clip(p0[:, j], -np.inf if lo is None else lo + 1e-9, np.inf if hi is None else hi - 1e-9)
        state = emcee.State(p0, random_state=np.random.RandomState(seed).get_state())
    sampler = emcee.EnsembleSampler(walkers, ndim, _LogPosterior(lik))
    done = chain.shape[0]
    accepted = np.zeros(walkers)
    while done < steps:
        n = min(checkpoint_every, steps - done)
        sampler.reset()
        state = sampler.run_mcmc(state, n, progress=False)
        chain = np.concatenate([chain, sampler.get_chain()])
        lp = np.concatenate([lp, sampler.get_log_prob()])
        accepted += sampler.acceptance_fraction * n
        done += n
        if path is not None:
            st = state.random_state
            rs = json.dumps([st[0], [int(v) for v in st[1]], int(st[2]), int(st[3]), float(st[4])])
            tmp = Path(path).with_name(Path(path).stem + ".partial.npz")
            np.savez(tmp, chain=chain, log_prob=lp, random_state=np.array(rs))
            os.replace(tmp, path)
        if progress is not None:
            progress(done)
    # acceptance over the whole chain: fraction of steps where a walker moved
    moved = np.any(np.diff(chain, axis=0) != 0, axis=2) if len(chain) > 1 else np.zeros((0, walkers))
    acc = float(moved.mean()) if moved.size else math.nan
    return chain, lp, acc
