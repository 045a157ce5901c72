"""Drug libraries: which drugs a scenario may name, as a value rather than global state.

A :class:`DrugLibrary` maps a drug name to its exposure model: a
:class:`seedsoil.pharm.Drug` (PK, routes, targets; its target inhibition then acts on
the patient through :mod:`seedsoil.coupling.effects`) or any picklable callable
``exposure(times, dosing) -> nM`` (its effects then come from the library's own
effect models). It is immutable: :meth:`~DrugLibrary.with_drug` and
:meth:`~DrugLibrary.with_effect` return new libraries. A scenario keeps the library
it was validated with, and the library travels with the scenario (and with a
trial's tasks) to worker processes and Dask workers, so a drug defined in a user's
Python session works there too (docs/architecture.md, "Extension points").

>>> from seedsoil.coupling import default_drugs
>>> from seedsoil.pharm import preset
>>> mine = default_drugs().with_drug(preset("ruxolitinib", {"drug.ruxolitinib.half_life": 0.5}), name="rux-short")
>>> "rux-short" in mine, "rux-short" in default_drugs()
(True, False)
"""
from __future__ import annotations

import hashlib
import types
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from ..errors import ScenarioError, did_you_mean
from ..hashing import code_hash

#: an effect model: ``effect(times, exposures) -> {factor name: array}`` (see :mod:`seedsoil.coupling.effects`)
EffectModel = Callable[[np.ndarray, Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


def _fingerprint(obj: Any) -> str:
    """A stable description of a drug model or effect, for content hashes: the dataclass
    repr of a :class:`~seedsoil.pharm.Drug` (every number, exactly), or a function's qualified
    name and code (:func:`seedsoil.hashing.code_hash`, the functions it calls included)."""
    if isinstance(obj, types.FunctionType) or hasattr(obj, "py_func"):
        body = repr((obj.__module__, obj.__qualname__, code_hash(obj), getattr(obj, "__defaults__", None)))
    elif callable(obj) and not hasattr(obj, "targets"):  # a callable object: its class and state
        body = repr((type(obj).__module__, type(obj).__qualname__, code_hash(type(obj).__call__), repr(obj)))
    else:
        body = repr(obj)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class DrugLibrary:
    """Immutable name → drug model table plus extra effect models.

    ``drugs``: name → :class:`~seedsoil.pharm.Drug` or exposure callable.
    ``effects``: extra effect models applied after the built-in one (for drugs whose
    effects are not target inhibition of JAK1 / ROCK / IL-1R1).
    ``presets``: the names that came from ``params/pharm.toml`` unchanged (their
    definitions are covered by the package version; others by their fingerprint).
    """

    drugs: Mapping[str, Any] = field(default_factory=dict)
    effects: tuple[EffectModel, ...] = ()
    presets: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "drugs", MappingProxyType(dict(self.drugs)))
        object.__setattr__(self, "effects", tuple(self.effects))
        object.__setattr__(self, "presets", frozenset(self.presets) & frozenset(self.drugs))

    # a mappingproxy does not pickle: ship the plain dict and rebuild
    def __reduce__(self):
        return (DrugLibrary, (dict(self.drugs), self.effects, self.presets))

    def __contains__(self, name: object) -> bool:
        return name in self.drugs

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.drugs))

    def __len__(self) -> int:
        return len(self.drugs)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.drugs[name]
        except KeyError:
            raise KeyError(f"drug {name!r} is not in this library{did_you_mean(name, self.drugs)} "
                           f"(known: {', '.join(self)})") from None

    def names(self) -> list[str]:
        return sorted(self.drugs)

    def with_drug(self, drug: Any, *, name: str | None = None) -> "DrugLibrary":
        """A new library with ``drug`` added (or replaced) under ``name`` (default: ``drug.name``).

        ``drug`` is a :class:`~seedsoil.pharm.Drug` or a picklable callable
        ``exposure(times_days, dosing) -> unbound nM`` (``dosing`` has ``drug``,
        ``dose_mg``, ``interval_days``, ``start_day``, ``stop_day`` and ``dose_times()``).
        """
        key = name if name is not None else getattr(drug, "name", None)
        if not isinstance(key, str) or not key:
            raise ValueError("with_drug: give name= for a drug model without a .name")
        if not callable(getattr(drug, "exposure", None)) and not callable(drug):
            raise TypeError(f"with_drug({key!r}): a seedsoil.pharm.Drug or a callable exposure(times, dosing)")
        return DrugLibrary({**self.drugs, key: drug}, self.effects, self.presets - {key})

    def with_effect(self, effect: EffectModel) -> "DrugLibrary":
        """A new library with an extra effect model ``effect(times, exposures) -> {factor: array}``."""
        if not callable(effect):
            raise TypeError("with_effect: an effect model is a callable effect(times, exposures) -> {factor: array}")
        return DrugLibrary(self.drugs, self.effects + (effect,), self.presets)

    def without(self, name: str) -> "DrugLibrary":
        return DrugLibrary({k: v for k, v in self.drugs.items() if k != name}, self.effects, self.presets)

    def exposure(self, name: str, times: np.ndarray, dosing: Any) -> np.ndarray:
        """Unbound concentration (nM) of drug ``name`` at ``times`` (days) under ``dosing``."""
        model = self[name]
        fn = model.exposure if hasattr(model, "exposure") else model
        return np.asarray(fn(times, dosing), dtype=float)

    def check(self, name: str | None, where: str) -> None:
        """Raise :class:`ScenarioError` unless ``name`` is a drug of this library."""
        if not name:
            raise ScenarioError(f"{where}.drug: a drug therapy needs a drug name", field=f"{where}.drug", value=name)
        if name not in self.drugs:
            raise ScenarioError(f"{where}.drug = {name!r}: unknown drug{did_you_mean(name, self.drugs)}; known: "
                                f"{', '.join(self) or 'none'} (add one with DrugLibrary.with_drug)",
                                field=f"{where}.drug", value=name)

    def fingerprint(self, names: Any = None) -> dict[str, Any]:
        """What a content hash needs to know of this library: for the drugs ``names`` (default:
        all) that are not unchanged presets, a fingerprint each; and the extra effects'.
        Empty for a scenario that uses only presets (so its hash is that of its file)."""
        chosen = sorted(self.drugs if names is None else set(names) & set(self.drugs))
        out: dict[str, Any] = {}
        custom = {n: _fingerprint(self.drugs[n]) for n in chosen if n not in self.presets}
        if custom:
            out["drugs"] = custom
        if self.effects:
            out["effects"] = [_fingerprint(e) for e in self.effects]
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DrugLibrary) and self.fingerprint() == other.fingerprint() and \
            self.presets == other.presets

    def __hash__(self) -> int:
        return hash(repr(sorted(self.fingerprint().items())) + repr(sorted(self.presets)))

    def __repr__(self) -> str:
        extra = f", {len(self.effects)} extra effect model(s)" if self.effects else ""
        return f"DrugLibrary({', '.join(self)}{extra})"


@lru_cache(maxsize=1)
def default_drugs() -> DrugLibrary:
    """The presets of ``params/pharm.toml`` (ruxolitinib, fasudil, Y-27632, anakinra, ...)."""
    from ..pharm.presets import preset, presets

    names = presets()
    return DrugLibrary({n: preset(n) for n in names}, (), frozenset(names))
