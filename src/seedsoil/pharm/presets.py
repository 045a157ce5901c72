"""Drug presets: a :class:`Drug` bundles a PK model, its routes, binding and targets.

Every number comes from ``params/pharm.toml`` (with its unit and source), read once;
nothing is written twice. ``preset("ruxolitinib")`` builds a drug, ``presets()`` lists
them. :meth:`Drug.exposure` is the exposure model a
:class:`seedsoil.coupling.DrugLibrary` calls, returning unbound nM; a drug of your own
is a value added to a library::

    from seedsoil.coupling import default_drugs
    from seedsoil.pharm import preset
    short = preset("ruxolitinib", {"drug.ruxolitinib.half_life": 0.5})
    drugs = default_drugs().with_drug(short, name="rux-short")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ScenarioError, did_you_mean
from ..params import ParameterLibrary, load_library
from .pd import CompetitiveAntagonist, HillInhibition, TargetModel
from .pk import FirstOrderAbsorption, LinearPK, OneCompartment, TwoCompartment, mg_per_L_to_nM, superpose
from .schedule import ROUTES, Schedule

#: The parameter-library scale holding the presets.
SCALE = "pharm"
_PREFIX = "drug."


@dataclass(frozen=True)
class Drug:
    """A drug: its PK model, how each route brings it into plasma, and what it acts on.

    ``routes`` maps a route name (:data:`~seedsoil.pharm.schedule.ROUTES`) to its input
    kinetics: a :class:`FirstOrderAbsorption` (depot) or None (straight into plasma).
    ``molecular_weight_g_per_mol`` is that of the dosed form (mg → nmol);
    ``unbound_fraction`` scales total to free drug. ``analyte`` names the species whose
    concentration is returned (e.g. a metabolite). ``targets`` maps a target name to
    its PD law. ``usual_dose_mg`` / ``usual_interval_days`` give the usual regimen
    (None for tool compounds).
    """

    name: str
    pk: LinearPK
    molecular_weight_g_per_mol: float
    unbound_fraction: float
    routes: Mapping[str, FirstOrderAbsorption | None]
    default_route: str
    targets: Mapping[str, TargetModel] = field(default_factory=dict)
    analyte: str = ""
    default_infusion_days: float | None = None
    usual_dose_mg: float | None = None
    usual_interval_days: float | None = None
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.default_route not in self.routes:
            raise ValueError(f"{self.name}: default route {self.default_route!r} is not among its routes "
                             f"{sorted(self.routes)}")
        object.__setattr__(self, "routes", MappingProxyType(dict(self.routes)))
        object.__setattr__(self, "targets", MappingProxyType(dict(self.targets)))
        if not self.analyte:
            object.__setattr__(self, "analyte", self.name)

    def __reduce__(self):
        """Pickle (worker processes, Dask) from plain dicts: a mappingproxy does not pickle."""
        from dataclasses import fields

        values = [getattr(self, f.name) for f in fields(self)]
        return (type(self), tuple(dict(v) if isinstance(v, MappingProxyType) else v for v in values))

    # ------------------------------------------------------------------ schedules
    def absorption(self, route: str) -> FirstOrderAbsorption | None:
        """Input kinetics of ``route`` (raises ScenarioError for a route the drug lacks)."""
        if route not in self.routes:
            raise ScenarioError(f"schedule.route = {route!r}: {self.name} has no {route} form; "
                                f"it has {', '.join(sorted(self.routes))}", field="schedule.route", value=route)
        return self.routes[route]

    def usual_schedule(self, *, start_day: float = 0.0, stop_day: float | None = None,
                       n_doses: int | None = None) -> Schedule:
        """The usual regimen from ``start_day`` (days) until ``stop_day`` or for ``n_doses``."""
        if self.usual_dose_mg is None or self.usual_interval_days is None:
            raise ScenarioError(f"{self.name}: no usual regimen (a preclinical compound); build a Schedule",
                                field="drug", value=self.name)
        infusion = self.default_infusion_days if self.default_route == "iv_infusion" else None
        return Schedule(self.usual_dose_mg, self.usual_interval_days, start_day, stop_day, n_doses,
                        self.default_route, infusion)

    def schedule_for(self, dosing: Any) -> Schedule:
        """The schedule of a body-engine :class:`~seedsoil.body.hooks.Dosing` by the default route."""
        infusion = self.default_infusion_days if self.default_route == "iv_infusion" else None
        if infusion is not None:
            infusion = min(infusion, float(dosing.interval_days))
        return Schedule.from_dosing(dosing, route=self.default_route, infusion_days=infusion)

    # ------------------------------------------------------------------ exposure
    def concentration(self, times: ArrayLike, schedule: Schedule, *, unbound: bool = False) -> NDArray[np.float64]:
        """Plasma concentration of the analyte (nM; total, or free with ``unbound=True``)
        at ``times`` (days) under ``schedule``."""
        c = superpose(self.pk, times, schedule.dose_times(), schedule.doses_mg(),
                      absorption=self.absorption(schedule.route), infusion_days=schedule.infusion_days or 0.0)
        c = mg_per_L_to_nM(c, self.molecular_weight_g_per_mol)
        return c * self.unbound_fraction if unbound else c

    def exposure(self, times: np.ndarray, dosing: Any) -> NDArray[np.float64]:
        """Unbound concentration (nM) at ``times`` (days) under a body-engine ``Dosing``
        (the exposure-model signature of :class:`seedsoil.coupling.DrugLibrary`)."""
        return self.concentration(times, self.schedule_for(dosing), unbound=True)

    def activity(self, target: str, concentration_nM: ArrayLike, *, unbound: bool = True) -> NDArray[np.float64]:
        """Remaining activity (0..1) of ``target`` at the given analyte concentration (nM),
        which is unbound (default) or total; converted to the basis the potency refers to."""
        if target not in self.targets:
            hint = did_you_mean(target, self.targets)
            raise KeyError(f"{self.name} has no target {target!r}{hint} (it has {', '.join(self.targets)})")
        law = self.targets[target]
        c = np.asarray(concentration_nM, dtype=float)
        if law.basis == "total" and unbound:
            c = c / self.unbound_fraction
        elif law.basis == "unbound" and not unbound:
            c = c * self.unbound_fraction
        return law.activity(c)


# ----------------------------------------------------------------------------- the library
def _group(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}


def _target(name: str, drug: str, p: Mapping[str, Any], source: str) -> TargetModel:
    if "ic50" in p:
        return HillInhibition(name, float(p["ic50"]), float(p.get("hill", 1.0)), p.get("basis", "unbound"), source)
    if "ki" in p:
        return CompetitiveAntagonist(name, str(p.get("agonist", "agonist")), float(p["agonist_kd"]),
                                     float(p["ki"]), float(p["agonist_concentration"]), p.get("basis", "unbound"),
                                     source)
    raise ValueError(f"params/pharm.toml: drug.{drug}.target.{name} needs ic50 (inhibitor) or ki (antagonist)")


def _pk(drug: str, p: Mapping[str, Any]) -> LinearPK:
    kind = p["pk_model"]
    if kind == "one_compartment":
        if "clearance" in p:
            return OneCompartment(float(p["volume"]), float(p["clearance"]))
        return OneCompartment.from_half_life(float(p["volume"]), float(p["half_life"]))
    if kind == "two_compartment":
        return TwoCompartment(float(p["central_volume"]), float(p["peripheral_volume"]), float(p["clearance"]),
                              float(p["intercompartmental_clearance"]))
    raise ValueError(f"params/pharm.toml: drug.{drug}.pk_model = {kind!r} is not a known model")


def build_drug(name: str, values: Mapping[str, Any], library: ParameterLibrary | None = None) -> Drug:
    """The drug ``name`` from parameter values keyed ``drug.<name>.<...>`` (internal units)."""
    p = _group(values, f"{_PREFIX}{name}.")
    if not p:
        raise KeyError(name)
    routes: dict[str, FirstOrderAbsorption | None] = {}
    for route in ROUTES:
        r = _group(p, f"{route}.")
        if r:
            routes[route] = FirstOrderAbsorption(float(r["absorption_rate"]), float(r.get("bioavailability", 1.0)),
                                                 float(r.get("lag", 0.0)))
    # IV routes enter plasma directly, unless the drug declares a depot for one of them
    # (a parent drug forming the analyte): then both IV routes go through that depot
    iv = next((routes[r] for r in ("iv_infusion", "iv_bolus") if r in routes), None)
    for route in ("iv_bolus", "iv_infusion"):
        routes.setdefault(route, iv)
    targets = {}
    names = sorted({k.split(".")[1] for k in p if k.startswith("target.")})
    for t in names:
        src = ""
        if library is not None:
            src = "; ".join(dict.fromkeys(e.source for k, e in library.entries.items()
                                          if k.startswith(f"{_PREFIX}{name}.target.{t}.")))
        targets[t] = _target(t, name, _group(p, f"target.{t}."), src)
    sources: tuple[str, ...] = ()
    if library is not None:
        sources = tuple(dict.fromkeys(e.source for k, e in library.entries.items() if k.startswith(f"{_PREFIX}{name}.")))
    return Drug(
        name=name,
        pk=_pk(name, p),
        molecular_weight_g_per_mol=float(p["molecular_weight"]),
        unbound_fraction=float(p["unbound_fraction"]),
        routes=routes,
        default_route=str(p["route"]),
        targets=targets,
        analyte=str(p.get("analyte", name)),
        default_infusion_days=float(p["infusion_duration"]) if "infusion_duration" in p else None,
        usual_dose_mg=float(p["usual_dose"]) if "usual_dose" in p else None,
        usual_interval_days=float(p["usual_interval"]) if "usual_interval" in p else None,
        sources=sources,
    )


def pharm_library() -> ParameterLibrary:
    """The drug parameters (``params/pharm.toml``) as a parameter library."""
    return load_library((SCALE,))


def presets() -> list[str]:
    """Names of the drug presets."""
    return sorted({k.split(".")[1] for k in pharm_library() if k.startswith(_PREFIX)})


@lru_cache(maxsize=None)
def _default(name: str) -> Drug:
    lib = pharm_library()
    return build_drug(name, lib.defaults(), lib)


def preset(name: str, parameters: Mapping[str, Any] | None = None) -> Drug:
    """The drug preset ``name``; ``parameters`` (dotted names such as
    ``"drug.ruxolitinib.half_life"``, internal units) override library values."""
    known = presets()
    if name not in known:
        hint = did_you_mean(name.lower(), known, cutoff=0.5)
        raise ScenarioError(f"drug = {name!r}: unknown preset{hint} (known: {', '.join(known)})",
                            field="drug", value=name)
    if not parameters:
        return _default(name)
    lib = pharm_library()
    values = lib.defaults()
    for key, value in parameters.items():
        if key.startswith(f"{_PREFIX}{name}."):
            if key not in lib:
                raise ScenarioError(f"{key}: unknown parameter of {name}", field=key, value=value)
            values[key] = lib[key].coerce(value)
    return build_drug(name, values, lib)
