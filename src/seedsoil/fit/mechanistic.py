"""The mechanistic relapse model of a cohort: engine solves, the profile likelihood, predictions.

A :class:`MechanisticModel` turns a parameter vector into every patient's distant
cumulative hazard after surgery, through the relapse-time engine
(:func:`seedsoil.body.relapse.relapse_free`), and into the mixture likelihood of
:mod:`seedsoil.fit.likelihood`. Its parameters are of two kinds:

* **solve parameters** change the engine's input and cost new solves: library parameters
  (:class:`FreeParameter`, estimated on a log or logit scale within bounds), the log-sd
  σ_g of a lognormal *growth random effect* (each patient's value of one rate parameter,
  e.g. ``primary.gompertz.rate_constant``, is the population value times e^(σ_g Z_g),
  integrated by Gauss–Hermite quadrature, one solve per node) and the coefficients of
  covariate links on that rate (:class:`SolveLink`, e.g. grade);
* **shedding parameters** cost nothing: the log median shedding multiplier θ0, the log-sd
  of the shedding random effect and the coefficients of links on shedding
  (:class:`ShedLink`, e.g. log(1 + positive nodes)), since the hazard is proportional to
  the shedding rate (:mod:`seedsoil.fit.frailty`).

Patients who share a size at surgery, solve-link covariates, therapies and receptor status
share their solves (a *group*); the solves of one evaluation run as one executor task per
group (in process, local processes or Dask: :mod:`seedsoil.execute`), and the results do not
depend on the executor. The profile likelihood ℓ_p(solve parameters) maximises over the
shedding parameters with the exact gradient, so derivative-free optimisers need only move
the few solve parameters.
"""
from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize

from .likelihood import SHEDDING_NODES, mixture_loglik, mixture_survival, normal_nodes

#: interval to which a recurrence date is known (days): the likelihood's Δ (module likelihood)
DEFAULT_RESOLUTION_DAYS = 30.4375
#: Gauss–Hermite nodes of the growth random effect
GROWTH_NODES = 7
#: bounds of the shedding random effect's log-sd (σ from 0.01 to 5)
LOG_SIGMA_BOUNDS = (math.log(0.01), math.log(5.0))

_TRANSFORMS = ("log", "logit", "identity")


@dataclass(frozen=True)
class FreeParameter:
    """A library parameter estimated on the ``transform`` scale within [low, high] (its unit)."""

    name: str
    low: float
    high: float
    start: float
    transform: str = "log"
    unit: str = ""
    prior: tuple[str, float, float] | None = None  # ("normal", mean, sd) on the transformed scale

    def __post_init__(self):
        if self.transform not in _TRANSFORMS:
            raise ValueError(f"{self.name}: transform {self.transform!r} must be one of {', '.join(_TRANSFORMS)}")
        if not self.low < self.high:
            raise ValueError(f"{self.name}: bounds [{self.low:g}, {self.high:g}] are empty")
        if not self.low <= self.start <= self.high:
            raise ValueError(f"{self.name}: start {self.start:g} outside its bounds [{self.low:g}, {self.high:g}]")
        if self.transform == "log" and self.low <= 0:
            raise ValueError(f"{self.name}: a log-scale parameter needs a positive lower bound (got {self.low:g})")
        if self.transform == "logit" and not (0 <= self.low and self.high <= 1):
            raise ValueError(f"{self.name}: a logit-scale parameter needs bounds within [0, 1]")

    def forward(self, v: float) -> float:
        if self.transform == "log":
            return math.log(v)
        if self.transform == "logit":
            v = min(max(v, 1e-300), 1 - 1e-16)
            return math.log(v / (1 - v))
        return float(v)

    def backward(self, u: float) -> float:
        if self.transform == "log":
            return math.exp(u)
        if self.transform == "logit":
            return 1.0 / (1.0 + math.exp(-u))
        return float(u)

    @property
    def bounds(self) -> tuple[float, float]:
        lo = self.forward(self.low) if not (self.transform == "logit" and self.low == 0) else -30.0
        hi = self.forward(self.high) if not (self.transform == "logit" and self.high == 1) else 30.0
        return lo, hi


@dataclass(frozen=True)
class SolveLink:
    """``target`` of the growth effect × exp(β (g(x) − g(reference))), x the column ``covariate``."""

    name: str
    covariate: str
    transform: str = "identity"  # identity | log1p | log
    reference: float = 0.0
    bounds: tuple[float, float] = (-5.0, 5.0)


@dataclass(frozen=True)
class ShedLink:
    """Shedding × exp(β g(x)), x the column ``covariate`` (no solves)."""

    name: str
    covariate: str
    transform: str = "log1p"
    reference: float = 0.0


def _g(values: np.ndarray, transform: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if transform == "identity":
        return v
    if transform == "log1p":
        return np.log1p(v)
    if transform == "log":
        return np.log(v)
    raise ValueError(f"unknown transform {transform!r} (identity, log1p, log)")


@dataclass(frozen=True)
class GrowthEffect:
    """A lognormal random effect on one rate parameter (``target``) with log-sd σ_g."""

    target: str
    sigma_start: float = 0.3
    sigma_bounds: tuple[float, float] = (0.01, 1.0)
    nodes: int = GROWTH_NODES


@dataclass(frozen=True)
class TherapyRule:
    """When the boolean column ``column`` is true, the patient receives ``therapy`` (a scenario therapy table)."""

    column: str
    therapy: dict


def _solve_group(key: str, scenario: Any, overrides: list[dict], times: np.ndarray) -> np.ndarray:
    """One executor task (group ``key``): the distant cumulative hazard at ``times`` (days after
    surgery) for each set of parameter ``overrides`` (rows)."""
    from ..body.relapse import cumulative_hazard

    out = np.empty((len(overrides), len(times)))
    for k, ov in enumerate(overrides):
        out[k], _ = cumulative_hazard(scenario.with_overrides(ov), times)
    if np.any(np.isnan(out)):
        raise ValueError(f"group {key}: times beyond the scenario's follow-up ({times.max():.0f} days)")
    return out


@dataclass
class MechanisticModel:
    """The model (see module docstring). ``scenario``: the base patient (its surgery, therapies
    and follow-up are replaced per group); ``size_diameters``: mm at surgery by size category,
    used where the data give no ``tumour_size``; ``therapies``: therapy rules by data column."""

    scenario: Any
    free: tuple[FreeParameter, ...] = ()
    growth: GrowthEffect | None = None
    solve_links: tuple[SolveLink, ...] = ()
    shed_links: tuple[ShedLink, ...] = ()
    size_diameters: dict = field(default_factory=lambda: {"T1": 15.0, "T2": 30.0, "T3": 60.0})
    therapies: tuple[TherapyRule, ...] = ()
    resolution_days: float = DEFAULT_RESOLUTION_DAYS
    shedding_nodes: int = SHEDDING_NODES

    # ------------------------------------------------------------------ parameter vector
    @property
    def solve_names(self) -> list[str]:
        out = [p.name for p in self.free]
        if self.growth is not None:
            out.append("log_sigma_growth")
            out += [f"beta_{lk.name}" for lk in self.solve_links]
        return out

    @property
    def shed_names(self) -> list[str]:
        return ["log_shedding_multiplier", "log_sigma_shedding"] + [f"beta_{lk.name}" for lk in self.shed_links]

    @property
    def names(self) -> list[str]:
        return self.solve_names + self.shed_names

    @property
    def n_solve(self) -> int:
        return len(self.solve_names)

    def solve_bounds(self) -> list[tuple[float, float]]:
        b = [p.bounds for p in self.free]
        if self.growth is not None:
            b.append((math.log(self.growth.sigma_bounds[0]), math.log(self.growth.sigma_bounds[1])))
            b += [lk.bounds for lk in self.solve_links]
        return b

    def shed_bounds(self) -> list[tuple[float | None, float | None]]:
        return [(-60.0, 60.0), LOG_SIGMA_BOUNDS] + [(-20.0, 20.0)] * len(self.shed_links)

    def solve_start(self) -> np.ndarray:
        x = [p.forward(p.start) for p in self.free]
        if self.growth is not None:
            x.append(math.log(self.growth.sigma_start))
            x += [0.0] * len(self.solve_links)
        return np.asarray(x, dtype=float)

    def natural(self, theta: np.ndarray) -> dict[str, float]:
        """Parameter values on their natural scales (free parameters in their units; σ's; β's)."""
        theta = np.asarray(theta, dtype=float)
        out: dict[str, float] = {}
        for p, u in zip(self.free, theta):
            out[p.name] = p.backward(u)
        i = len(self.free)
        if self.growth is not None:
            out["sigma_growth"] = math.exp(theta[i])
            i += 1
            for lk in self.solve_links:
                out[f"beta_{lk.name}"] = float(theta[i])
                i += 1
        out["shedding_multiplier"] = math.exp(theta[i])
        out["sigma_shedding"] = math.exp(theta[i + 1])
        for j, lk in enumerate(self.shed_links):
            out[f"beta_{lk.name}"] = float(theta[i + 2 + j])
        return out

    # ------------------------------------------------------------------ patients and groups
    def diameters(self, data: pd.DataFrame) -> np.ndarray:
        if "tumour_size" in data and data["tumour_size"].notna().all():
            return np.maximum(data["tumour_size"].to_numpy(float), 3.0)
        if "size_category" not in data:
            raise ValueError("the data need tumour_size (mm) or size_category (T1, T2, T3)")
        cats = data["size_category"].astype(str)
        missing = sorted(set(cats) - set(self.size_diameters))
        if missing:
            raise ValueError(f"size categories {missing} have no diameter (size_diameters)")
        return cats.map(self.size_diameters).to_numpy(float)

    def group_keys(self, data: pd.DataFrame) -> list[str]:
        diam = self.diameters(data)
        keys = []
        cols = [lk.covariate for lk in self.solve_links] if self.growth is not None else []
        for i, (_, row) in enumerate(data.iterrows()):
            therapy = [r.column for r in self.therapies if bool(row[r.column])]
            endocrine = any(r.therapy.get("kind") == "endocrine" for r in self.therapies if r.column in therapy)
            key = {"d": round(float(diam[i]), 6), "x": [float(row[c]) for c in cols], "therapy": therapy,
                   "er": str(row["er"]) if endocrine and "er" in row else None}
            keys.append(json.dumps(key, sort_keys=True))
        return keys

    def group_scenario(self, key: str, horizon_days: float) -> Any:
        """The scenario of one group, followed for ``horizon_days`` after surgery."""
        k = json.loads(key)
        therapy = [dict(r.therapy) for r in self.therapies if r.column in k["therapy"]]
        years = math.ceil(float(horizon_days) / 365.25 + 0.5)
        sc = self.scenario.with_overrides({"surgery.primary_diameter": f"{k['d']} mm",
                                           "simulation.follow_up": f"{years} year"})
        sc = sc.with_settings(therapy=therapy)
        if k["er"] is not None:
            sc = sc.with_settings(patient={"er": k["er"]})
        return sc

    def overrides(self, theta_solve: np.ndarray, key: str, z: Sequence[float] | None = None) -> list[dict]:
        """The parameter overrides of one group at each growth node (or at the growth effects ``z``)."""
        theta_solve = np.asarray(theta_solve, dtype=float)
        base = {p.name: p.backward(u) for p, u in zip(self.free, theta_solve)}
        if self.growth is None:
            return [base]
        i = len(self.free)
        sigma = math.exp(theta_solve[i])
        k = json.loads(key)
        shift = sum(theta_solve[i + 1 + j] * float(_g(np.array([x]), lk.transform)[0]
                                                   - _g(np.array([lk.reference]), lk.transform)[0])
                    for j, (lk, x) in enumerate(zip(self.solve_links, k["x"])))
        target = self.growth.target
        value = base[target] if target in base else scenario_parameter(self.scenario, target)
        if z is None:
            z, _ = normal_nodes(self.growth.nodes)
        return [{**base, target: float(value * math.exp(shift + sigma * zk))} for zk in z]

    def growth_weights(self) -> np.ndarray:
        if self.growth is None:
            return np.ones(1)
        return normal_nodes(self.growth.nodes)[1]

    def shed_design(self, data: pd.DataFrame) -> np.ndarray:
        if not self.shed_links:
            return np.zeros((len(data), 0))
        return np.column_stack([_g(data[lk.covariate].to_numpy(float), lk.transform)
                                - float(_g(np.array([lk.reference]), lk.transform)[0]) for lk in self.shed_links])


def scenario_parameter(scenario: Any, name: str) -> float:
    """The value of library parameter ``name`` in ``scenario`` (its override, else the library's)."""
    try:
        return float(scenario.parameters[name])
    except KeyError:
        raise ValueError(f"{name!r} is not a library parameter (seedsoil params)") from None


class CohortLikelihood:
    """The likelihood of one cohort under a :class:`MechanisticModel`.

    ``data``: a tidy table (:mod:`seedsoil.data`) with the time and event columns; ``executor``:
    where group solves run (``None``: in this process). Solves are cached by solve vector."""

    def __init__(self, model: MechanisticModel, data: pd.DataFrame, time: str, event: str, *,
                 executor: Any = None, cache_size: int = 64):
        self.model = model
        self.data = data.reset_index(drop=True)
        t = self.data[time].to_numpy(float)
        if np.any(~np.isfinite(t)) or np.any(t < 0):
            raise ValueError(f"{time}: times must be finite and >= 0 days")
        self.t = np.maximum(t, 1.0)
        self.event = self.data[event].to_numpy(bool)
        self.t0 = np.maximum(self.t - model.resolution_days, 0.0)
        self.x = model.shed_design(self.data)
        keys = model.group_keys(self.data)
        self.groups: dict[str, np.ndarray] = {}
        for i, k in enumerate(keys):
            self.groups.setdefault(k, []).append(i)
        self.groups = {k: np.asarray(v) for k, v in self.groups.items()}
        self._scen = {k: model.group_scenario(k, float(self.t.max())) for k in self.groups}
        self._times = {}
        for k, idx in self.groups.items():
            tt = np.unique(np.concatenate([self.t[idx], self.t0[idx][self.event[idx]]]))
            self._times[k] = tt
        self.executor = executor
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = cache_size
        self.solves = 0

    @property
    def n(self) -> int:
        return len(self.t)

    def cumulative(self, theta_solve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Λ at t − Δ, Λ at t): (patients × growth nodes) at the reference shedding rate."""
        key = np.asarray(theta_solve, dtype=float).tobytes()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        m = self.model
        tasks = [(k, self._scen[k], m.overrides(theta_solve, k), self._times[k]) for k in self.groups]
        if self.executor is None:
            results = {task[0]: _solve_group(*task) for task in tasks}
        else:
            results = {task[0]: res for task, res in self.executor.run(_solve_group, tasks)}
        K = len(m.growth_weights())
        c0 = np.zeros((self.n, K))
        c1 = np.zeros((self.n, K))
        for k, idx in self.groups.items():
            res = results[k]
            tt = self._times[k]
            c1[idx] = res[:, np.searchsorted(tt, self.t[idx])].T
            ev = idx[self.event[idx]]
            c0[ev] = res[:, np.searchsorted(tt, self.t0[ev])].T
        self.solves += K * len(self.groups)
        self._cache[key] = (c0, c1)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return c0, c1

    # ------------------------------------------------------------------ likelihood
    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        return theta[:self.model.n_solve], theta[self.model.n_solve:]

    def log_m(self, phi: np.ndarray) -> np.ndarray:
        return phi[0] + self.x @ phi[2:]

    def patient_loglik(self, theta: np.ndarray) -> np.ndarray:
        """Each patient's log-likelihood at the full parameter vector ``theta``."""
        ts, phi = self.split(theta)
        c0, c1 = self.cumulative(ts)
        return mixture_loglik(c0, c1, self.event, self.log_m(phi), math.exp(phi[1]), self.model.growth_weights(),
                              nodes=self.model.shedding_nodes)

    def loglik(self, theta: np.ndarray) -> float:
        v = float(np.sum(self.patient_loglik(theta)))
        return v if math.isfinite(v) else -math.inf

    def _shed_objective(self, c0: np.ndarray, c1: np.ndarray) -> Callable:
        w = self.model.growth_weights()
        nodes = self.model.shedding_nodes

        def f(phi: np.ndarray) -> tuple[float, np.ndarray]:
            sigma = math.exp(phi[1])
            ll, g_m, g_s = mixture_loglik(c0, c1, self.event, self.log_m(phi), sigma, w, nodes=nodes, gradient=True)
            v = float(np.sum(ll))
            if not math.isfinite(v):
                return 1e300, np.zeros_like(phi)
            grad = np.concatenate([[g_m.sum(), g_s.sum() * sigma], g_m @ self.x])
            return -v, -grad
        return f

    def shed_start(self, c1: np.ndarray) -> np.ndarray:
        mid = c1[:, c1.shape[1] // 2]
        tot = float(np.sum(mid[np.isfinite(mid)]))
        phi = np.zeros(2 + self.x.shape[1])
        phi[0] = math.log(max(self.event.sum(), 1) / tot) if 0 < tot < 1e300 else 0.0
        phi[1] = math.log(0.5)
        return phi

    def profile(self, theta_solve: np.ndarray, start: np.ndarray | None = None,
                fixed: dict[int, float] | None = None) -> tuple[float, np.ndarray]:
        """max over the shedding parameters of the log-likelihood at ``theta_solve``: (value, argmax);
        ``fixed``: shedding-parameter index → value held constant."""
        c0, c1 = self.cumulative(theta_solve)
        fun = self._shed_objective(c0, c1)
        bounds = list(self.model.shed_bounds())
        for j, v in (fixed or {}).items():
            bounds[j] = (v, v)
        # two fixed starts (a narrow and a wide shedding spread; the likelihood in σ can have two
        # modes), so the result is a function of theta_solve alone, whatever was evaluated before
        s0 = self.shed_start(c1)
        wide = s0.copy()
        wide[1] = math.log(3.0)
        wide[0] = s0[0] - 0.5 * 9.0  # median multiplier lowered so the mean e^(σ²/2) is near the start's
        starts = [s0, wide] if start is None else [np.asarray(start, dtype=float)]
        best = (math.inf, starts[0])
        for n_start, p0 in enumerate(starts):
            if n_start and best[0] < 1e299 and math.exp(best[1][1]) < 1.5:
                break  # the narrow start found a narrow spread: the wide mode is not in play
            p0 = np.clip(p0, [b[0] for b in bounds], [b[1] for b in bounds])
            # first inside a box of ±3 around the start: L-BFGS-B's first trial step runs to the
            # bounds, where the likelihood is ~e^40 times worse and its line search gives up at once
            box = [(max(lo, a - 3.0), min(hi, a + 3.0)) for (lo, hi), a in zip(bounds, p0)]
            res = optimize.minimize(fun, p0, jac=True, method="L-BFGS-B", bounds=box,
                                    options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-7})
            res = optimize.minimize(fun, res.x, jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-7})
            if res.fun < best[0]:
                best = (float(res.fun), res.x)
        if best[0] < 1e299:
            return -best[0], best[1]
        return -math.inf, best[1]


def predict_cumulative(model: MechanisticModel, theta_solve: np.ndarray, data: pd.DataFrame, grid: np.ndarray,
                       executor: Any = None) -> np.ndarray:
    """Each patient's distant cumulative hazard at ``grid`` (days after surgery) at the reference
    shedding rate: (patients × growth nodes × times)."""
    data = data.reset_index(drop=True)
    grid = np.asarray(grid, dtype=float)
    keys = model.group_keys(data)
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    tasks = [(k, model.group_scenario(k, float(grid.max())), model.overrides(theta_solve, k), grid) for k in groups]
    if executor is None:
        results = {t[0]: _solve_group(*t) for t in tasks}
    else:
        results = {t[0]: r for t, r in executor.run(_solve_group, tasks)}
    out = np.empty((len(data), len(model.growth_weights()), len(grid)))
    for k, idx in groups.items():
        out[idx] = results[k][None]
    return out


def predict_survival(model: MechanisticModel, theta: np.ndarray, data: pd.DataFrame, grid: np.ndarray,
                     executor: Any = None) -> np.ndarray:
    """Each patient's marginal distant-relapse-free probability at ``grid``: (patients × times)."""
    theta = np.asarray(theta, dtype=float)
    ts, phi = theta[:model.n_solve], theta[model.n_solve:]
    cum = predict_cumulative(model, ts, data, grid, executor)
    log_m = phi[0] + model.shed_design(data.reset_index(drop=True)) @ phi[2:]
    return mixture_survival(cum, log_m, math.exp(phi[1]), model.growth_weights(), nodes=model.shedding_nodes)
