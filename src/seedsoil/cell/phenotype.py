"""From signalling state to phenotype: contractility, migration mode, motility, dormancy.

A cell's mode is read from its Rac1/RhoA switch (Sahai & Marshall 2003; Huang et
al. 2014: amoeboid = RhoA-high Rac1-low, mesenchymal = Rac1-high RhoA-low,
hybrid = both high, both-low); its speed and persistence follow from the mode
(Friedl & Wolf 2010; docs/cell.md); it is dormant (non-dividing) when ZEB1 is high (Castaño 2018).

:func:`phenotype_response` is what the tissue and body scales consume: the
population :class:`Phenotype` under given drug exposures, cached by content hash.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import ScenarioError
from ..params import load_library
from .network import Network, builtin_network

MODES = ("amoeboid", "mesenchymal", "hybrid", "both_low")
#: Network species the read-out needs.
READOUT = ("RhoA", "Rac1", "MLC2", "STAT3", "ZEB1")


@lru_cache(maxsize=1)
def phenotype_parameters() -> dict[str, float]:
    """The cell-scale library (params/cell.toml): speeds in µm/min, persistence in min, durations in days."""
    lib = load_library(("cell",))
    return {k: float(v) for k, v in lib.defaults().items()}


@dataclass(frozen=True)
class Phenotype:
    """Population phenotype. Speeds in µm/min, persistence in minutes, diffusion in µm²/min.

    ``mode_fractions``: share of cells per mode (sums to 1). ``dividing_fraction``:
    share with ZEB1 below the dormancy threshold. ``motility``: mean speed relative
    to the untreated population (set by :func:`phenotype_response`; 1 when no
    reference is known). ``diffusion`` is the population mean of S²P/3 (3-D
    persistent random walk, Fürth).
    """

    n_cells: int
    mode_fractions: Mapping[str, float]
    contractility: float
    pstat3: float
    zeb1: float
    dividing_fraction: float
    speed: float
    persistence: float
    diffusion: float
    motility: float = 1.0
    exposure: Mapping[str, float] = field(default_factory=dict)

    @property
    def amoeboid_fraction(self) -> float:
        return self.mode_fractions["amoeboid"]

    @property
    def dormant_fraction(self) -> float:
        return 1.0 - self.dividing_fraction

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mode_fractions"] = dict(self.mode_fractions)
        d["exposure"] = dict(self.exposure)
        return d


def classify(state: np.ndarray, network: Network, params: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """Per-cell phenotype from states (n_cells × n_species) at one time.

    Returns arrays: ``mode`` (index into :data:`MODES`), ``contractility`` (pMLC2),
    ``speed`` (µm/min), ``persistence`` (min), ``dividing`` (bool).
    """
    q = {**phenotype_parameters(), **(params or {})}
    missing = [s for s in READOUT if s not in network.species_index]
    if missing:
        raise ScenarioError(f"network {network.name!r} lacks the species the phenotype read-out needs: "
                            f"{', '.join(missing)}", field="network", value=missing)
    col = {s: state[:, network.species_index[s]] for s in READOUT}
    rho = col["RhoA"] > q["phenotype.rhoa_high"]
    rac = col["Rac1"] > q["phenotype.rac1_high"]
    mode = np.where(rho & ~rac, 0, np.where(rac & ~rho, 1, np.where(rho & rac, 2, 3)))
    # the library keeps speeds in µm/min and persistence in minutes (tissue-scale units)
    speed_by_mode = np.array([q[f"speed.{m}"] for m in MODES])
    pers_by_mode = np.array([q[f"persistence.{m}"] for m in MODES])
    return {
        "mode": mode,
        "contractility": col["MLC2"],
        "pstat3": col["STAT3"],
        "zeb1": col["ZEB1"],
        "speed": speed_by_mode[mode],
        "persistence": pers_by_mode[mode],
        "dividing": col["ZEB1"] < q["phenotype.zeb1_dormant"],
    }


def summarize(cells: Mapping[str, np.ndarray], *, exposure: Mapping[str, float] | None = None,
              reference_speed: float | None = None) -> Phenotype:
    """Population :class:`Phenotype` from :func:`classify` output."""
    n = len(cells["mode"])
    counts = np.bincount(cells["mode"], minlength=len(MODES))
    speed = float(np.mean(cells["speed"]))
    return Phenotype(
        n_cells=n,
        mode_fractions={m: float(c) / n for m, c in zip(MODES, counts)},
        contractility=float(np.mean(cells["contractility"])),
        pstat3=float(np.mean(cells["pstat3"])),
        zeb1=float(np.mean(cells["zeb1"])),
        dividing_fraction=float(np.mean(cells["dividing"])),
        speed=speed,
        persistence=float(np.mean(cells["persistence"])),
        diffusion=float(np.mean(cells["speed"] ** 2 * cells["persistence"]) / 3.0),
        motility=speed / reference_speed if reference_speed else 1.0,
        exposure=dict(exposure or {}),
    )


def default_variability(network: Network, cv: float | None = None) -> dict[str, float]:
    """Log-normal spread on every activation rate constant (names starting ``k_`` and ending ``_act``,
    ``_on``, ``_p`` or ``_rho``/``_jak``), CV from params/cell.toml ``population.variability_cv``."""
    cv = phenotype_parameters()["population.variability_cv"] if cv is None else cv
    keys = [p for p in network.parameter_names if p.startswith("k_") and
            p.endswith(("_act", "_on", "_p", "_rho", "_jak"))]
    return {k: cv for k in keys}


def _cache_file(key: str) -> Path:
    from ._codegen import cache_dir

    d = cache_dir().parent / "phenotype"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{key}.json"


def response_cells() -> int:
    """Cells per population in :func:`phenotype_response` when other scales ask
    (``coupling.response_cells``, params/cell.toml)."""
    return int(load_library(("cell",)).defaults()["coupling.response_cells"])


def phenotype_response(exposure: Mapping[str, float] | None = None, *, network: Network | None = None,
                       inputs: Mapping[str, float] | None = None, n_cells: int | None = None, seed: int = 0,
                       variability: Mapping[str, float] | None = None, pretreatment_days: float | None = None,
                       exposure_days: float | None = None, cache: bool = True) -> Phenotype:
    """Population phenotype after ``exposure_days`` of the given drug inputs (nM, network input names
    such as ``JAKi``, ``ROCKi``, ``IL1Ra``), starting from the untreated steady state.

    The same cells (same seed, same parameters) are used for every exposure, so
    differences between exposures are paired, not sampling noise. ``inputs`` sets
    the other inputs (cytokines) for both phases. Results are cached in memory
    and on disk by the content hash of everything that determines them.
    """
    net = network or builtin_network()
    q = phenotype_parameters()
    n_cells = int(q["population.cells"]) if n_cells is None else int(n_cells)
    pre = q["population.pretreatment_days"] if pretreatment_days is None else float(pretreatment_days)
    days = q["population.exposure_days"] if exposure_days is None else float(exposure_days)
    var = default_variability(net) if variability is None else dict(variability)
    exposure = {k: float(v) for k, v in sorted((exposure or {}).items())}
    inputs = {k: float(v) for k, v in sorted((inputs or {}).items())}
    for k, v in {**exposure, **inputs}.items():
        if k not in net.input_index:
            raise ScenarioError(f"exposure/inputs: {k!r} is not an input of network {net.name!r} "
                                f"(inputs: {', '.join(net.input_names)})", field=k, value=v)
        if not (math.isfinite(v) and v >= 0):
            raise ScenarioError(f"{k} = {v!r} nM: must be finite and >= 0", field=k, value=v)
    key_blob = json.dumps({"net": net.content_hash, "exp": exposure, "inp": inputs, "n": n_cells, "seed": seed,
                           "var": sorted(var.items()), "pre": pre, "days": days, "q": sorted(q.items()),
                           "v": 1}, sort_keys=True)
    key = hashlib.sha256(key_blob.encode()).hexdigest()[:20]
    return _response(key, net, tuple(exposure.items()), tuple(inputs.items()), n_cells, seed,
                     tuple(sorted(var.items())), pre, days, cache)


@lru_cache(maxsize=256)
def _response(key, net, exposure, inputs, n_cells, seed, var, pre, days, cache) -> Phenotype:
    path = _cache_file(key) if cache and os.environ.get("SEEDSOIL_PHENOTYPE_CACHE", "1") != "0" else None
    if path is not None and path.exists():
        d = json.loads(path.read_text())
        return Phenotype(**d)
    from .solver import simulate_cells

    baseline = _baseline(net, inputs, n_cells, seed, var, pre)
    ds = simulate_cells(net, n_cells, inputs={**dict(inputs), **dict(exposure)}, t_span=(0.0, days), t_eval=2,
                        variability=dict(var), seed=seed, initial=baseline)
    cells = classify(ds.state.isel(time=-1).values, net)
    ref = summarize(classify(baseline, net)).speed
    ph = summarize(cells, exposure=dict(exposure), reference_speed=ref)
    if path is not None:
        from ..store import write_text_atomic

        write_text_atomic(path, json.dumps(ph.to_dict()))
    return ph


@lru_cache(maxsize=32)
def _baseline(net, inputs, n_cells, seed, var, pre) -> np.ndarray:
    """Untreated steady state of the population (n_cells × n_species)."""
    from .solver import simulate_cells

    if pre <= 0:
        from .solver import initial_states

        return initial_states(net, n_cells, None)
    ds = simulate_cells(net, n_cells, inputs=dict(inputs), t_span=(0.0, pre), t_eval=2, variability=dict(var),
                        seed=seed)
    return ds.state.isel(time=-1).values
