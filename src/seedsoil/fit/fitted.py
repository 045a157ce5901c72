"""Fitted populations: a fit's model, estimates and provenance, as one file a prediction names.

A fitted population is a JSON file (``population.json`` in a fit's run directory; the
library's under ``seedsoil/params/populations/``) holding

* ``fit``: the fit file's content, with its base scenario written out in full, so the model
  is rebuilt exactly (:class:`~seedsoil.fit.spec.FitSpec`);
* ``estimate``: the estimates on the estimation scale, their covariance (Wald), the
  log-likelihood, the number of patients and events;
* ``mortality``: the other-cause mortality law fitted beside it (or null);
* ``samples``: bootstrap replicates or posterior draws, when the fit made them (or null);
* ``provenance``: data set and subset with its checksum, fit file and its hash, seedsoil
  version, date, method and its figures.

Every prediction from it says which population it used (:attr:`FittedPopulation.label`).
"""
from __future__ import annotations

import json

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ScenarioError, did_you_mean
from .estimate import MLEstimate, laplace_draws, unidentified
from .mechanistic import MechanisticModel, predict_survival
from .mortality import GompertzMortality

LIBRARY_PACKAGE = "seedsoil.params.populations"


def library_populations() -> dict[str, str]:
    """The fitted populations shipped with seedsoil: name → description."""
    out = {}
    root = resources.files(LIBRARY_PACKAGE)
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            d = json.loads(entry.read_text(encoding="utf-8"))
            out[entry.name[:-5]] = str(d.get("description", ""))
    return out


@dataclass
class FittedPopulation:
    """A fitted population (module docstring)."""

    name: str
    spec: Any  # seedsoil.fit.spec.FitSpec
    estimate: MLEstimate
    mortality: GompertzMortality | None
    provenance: dict
    samples: np.ndarray | None = None
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def model(self) -> MechanisticModel:
        return self.spec.model

    @property
    def label(self) -> str:
        p = self.provenance
        return (f"{self.name} (fitted to {p.get('data', '?')}, {p.get('fit_file', '?')}, seedsoil "
                f"{p.get('seedsoil_version', '?')}, {p.get('date', '?')})")

    def natural(self) -> dict[str, float]:
        return self.model.natural(self.estimate.theta)

    # ------------------------------------------------------------------ draws and predictions
    def unidentified(self) -> list[int]:
        """Indices of the parameters the data do not pin down: no Wald SE, or one above
        :data:`~seedsoil.fit.estimate.UNIDENTIFIED_SE` on the estimation scale (the threshold of
        :func:`seedsoil.fit.recovery.identifiability`)."""
        return unidentified(self.estimate)

    def draws(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` parameter vectors for uncertainty bands: rows of the stored samples (bootstrap or
        posterior) when there are; else the Laplace approximation *conditional on the
        unidentified parameters* (:meth:`unidentified`, held at their estimates): the others are
        drawn from the normal whose precision is their block of the observed information. Along
        a ridge the data do not resolve, the Wald normal's linear extrapolation runs far past
        where the likelihood falls off, so it would give bands the data do not support."""
        rng = np.random.default_rng(seed)
        k = len(self.estimate.theta)
        if n <= 0:
            return np.empty((0, k))
        if self.samples is not None and len(self.samples):
            idx = rng.choice(len(self.samples), size=n, replace=len(self.samples) < n)
            return self.samples[idx]
        try:
            return laplace_draws(self.estimate, self.model.solve_bounds() + self.model.shed_bounds(), n, rng)
        except ValueError:
            raise ValueError(f"{self.name}: the covariance is not finite; no uncertainty draws") from None

    def survival(self, data: pd.DataFrame, grid: np.ndarray, *, endpoint: str = "rfs", draws: int = 0,
                 seed: int = 0, executor: Any = None) -> np.ndarray:
        """Predicted event-free probability of each row of ``data`` at ``grid`` (days after surgery):
        (1 + draws) × patients × times; row 0 at the estimate, then ``draws`` uncertainty draws.
        ``endpoint``: "distant" (distant relapse) or "rfs" (× other-cause survival, needs ``age``)."""
        if endpoint not in ("distant", "rfs"):
            raise ValueError(f"endpoint {endpoint!r}: distant or rfs")
        thetas = np.vstack([self.estimate.theta[None], self.draws(draws, seed)])
        out = np.stack([predict_survival(self.model, th, data, grid, executor) for th in thetas])
        if endpoint == "rfs" and self.mortality is not None:
            ages = data["age"].to_numpy(float)
            out = out * self.mortality.survival(ages[:, None], np.asarray(grid, dtype=float)[None, :])[None]
        return out

    def trial_population(self, source: str | None = None) -> dict:
        """This population expanded for a virtual trial (``[population] fitted``): the scenario
        overrides, the lognormal shedding and growth draws, the links table with the fitted
        coefficients, its label and provenance, as plain data
        (:func:`seedsoil.cohort.population.fitted_population_spec`)."""
        from ..cohort.population import fitted_population_spec

        return fitted_population_spec(self, source=source)

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "fit": self.raw,
                "estimate": self.estimate.to_dict(), "natural": self.natural(),
                "mortality": None if self.mortality is None else self.mortality.to_dict(),
                "samples": None if self.samples is None else np.asarray(self.samples).tolist(),
                "provenance": self.provenance}

    def save(self, path: str | Path) -> Path:
        from ..store import _jsonable, write_text_atomic

        return write_text_atomic(path, json.dumps(_jsonable(self.to_dict()), indent=1) + "\n")

    @classmethod
    def from_dict(cls, d: dict) -> "FittedPopulation":
        from .spec import FitSpec

        spec = FitSpec.from_dict(d["fit"])
        est = MLEstimate.from_dict(d["estimate"])
        if list(est.names) != list(spec.model.names):
            raise ScenarioError(f"population {d.get('name')}: its estimates ({', '.join(est.names)}) do not match "
                                f"its model's parameters ({', '.join(spec.model.names)})", field="population",
                                value=d.get("name"))
        mort = None if d.get("mortality") is None else GompertzMortality.from_dict(d["mortality"])
        samples = None if d.get("samples") is None else np.asarray(d["samples"], dtype=float)
        return cls(str(d["name"]), spec, est, mort, dict(d.get("provenance", {})), samples,
                   str(d.get("description", "")), d["fit"])


def load_population(name_or_path: str | Path) -> FittedPopulation:
    """A fitted population by library name (:func:`library_populations`) or file path."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.is_file():
        if not p.is_file():
            raise ScenarioError(f"{p}: no such fitted-population file", field="population", value=str(p))
        return FittedPopulation.from_dict(json.loads(p.read_text(encoding="utf-8")))
    names = library_populations()
    if str(name_or_path) not in names:
        raise ScenarioError(f"population {str(name_or_path)!r}: not a fitted population of the library"
                            f"{did_you_mean(str(name_or_path), list(names))} (available: {', '.join(names) or 'none'})",
                            field="population", value=str(name_or_path))
    text = resources.files(LIBRARY_PACKAGE).joinpath(f"{name_or_path}.json").read_text(encoding="utf-8")
    return FittedPopulation.from_dict(json.loads(text))


def natural_table(model: MechanisticModel, est: MLEstimate, intervals: np.ndarray, method: str) -> pd.DataFrame:
    """Estimates and intervals (rows: parameters) on the estimation scale and in natural units."""
    rows = []
    nat = model.natural(est.theta)
    nat_names = list(nat)
    lo_nat = model.natural(intervals[:, 0])
    hi_nat = model.natural(intervals[:, 1])
    units = {p.name: p.unit for p in model.free}
    for j, name in enumerate(est.names):
        key = nat_names[j]
        a, b = lo_nat[key], hi_nat[key]
        rows.append({"parameter": name, "estimate": est.theta[j], "se": est.se[j], "low": intervals[j, 0],
                     "high": intervals[j, 1], "natural_name": key, "natural": nat[key],
                     "natural_low": min(a, b), "natural_high": max(a, b), "unit": units.get(key, ""),
                     "interval": method, "at_bound": name in est.at_bound})
    return pd.DataFrame(rows)


__all__ = ["FittedPopulation", "library_populations", "load_population", "natural_table"]

