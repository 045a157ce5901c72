"""``simulate``: one patient, one call (docs/architecture.md, "One contract per scale").

The body layer's entry point takes a validated scenario object
(:class:`seedsoil.scenario.Scenario`); ``seedsoil.simulate`` also takes a path to
a scenario file (it loads it in the scenario layer, then calls this).
"""
from __future__ import annotations

from os import PathLike
from typing import Any, Callable

from ..rng import new_seed
from ..errors import ScenarioError
from ..seeds import check_seed
from .model import build_inputs
from .result import PatientResult

ENGINES = ("stochastic", "meanfield", "analytic")

#: an engine: ``engine(inputs: BodyInputs, seed: int, *keys: int) -> PatientResult``
Engine = Callable[..., PatientResult]


def simulate(scenario: Any, *, seed: int | None = None, engine: str | Engine | None = None,
             keys: tuple[int, ...] = ()) -> PatientResult:
    """Simulate one patient.

    Parameters
    ----------
    scenario : a :class:`~seedsoil.scenario.Scenario`.
    seed : root seed of the random stream; defaults to the scenario's
        ``simulation.seed``, else fresh entropy (recorded in the result).
    engine : "stochastic" or "meanfield" (default: ``simulation.engine``), or an engine of your
        own: a function ``engine(inputs, seed, *keys) -> PatientResult`` of the body's
        deterministic inputs (:class:`~seedsoil.body.model.BodyInputs`); check it with
        :func:`seedsoil.testing.check_engine`.
    keys : extend the random stream (stochastic engine), e.g. ``(i,)`` for patient
        ``i`` of a trial: ``simulate(arm_scenario, seed=trial.seed, keys=(i,))`` is
        that patient (see :meth:`seedsoil.cohort.TrialResult.patient`).
    """
    if isinstance(scenario, (str, PathLike)):
        raise TypeError("seedsoil.body.simulate.simulate takes a Scenario; seedsoil.simulate(path) loads a file")
    sc = scenario
    engine = engine or sc.simulation.engine
    if not callable(engine) and engine not in ENGINES:
        raise ScenarioError(f"engine = {engine!r}: must be 'stochastic', 'meanfield', 'analytic' or a function "
                            "engine(inputs, seed, *keys) -> PatientResult", field="engine", value=engine)
    keys = tuple(int(k) for k in keys)
    inputs = build_inputs(sc)
    if callable(engine):
        if seed is None:
            seed = sc.simulation.seed if sc.simulation.seed is not None else new_seed()
        seed = check_seed(seed)
        result = engine(inputs, seed, *keys)
        if not isinstance(result, PatientResult):
            raise TypeError(f"engine {getattr(engine, '__name__', engine)!r} returned {type(result).__name__}, "
                            "not a PatientResult")
        return result
    if engine == "meanfield":
        from .meanfield import simulate_meanfield

        return simulate_meanfield(inputs)
    if engine == "analytic":
        from .relapse import simulate_analytic

        return simulate_analytic(inputs)
    if seed is None:
        seed = sc.simulation.seed if sc.simulation.seed is not None else new_seed()
    seed = check_seed(seed)
    from .stochastic import simulate_stochastic

    return simulate_stochastic(inputs, int(seed), *keys)


def simulate_summary(scenario: Any, *, seed: int, keys: tuple[int, ...] = ()) -> dict:
    """Summary dict of one stochastic patient, without building tables (fast path).

    ``keys`` extend the random stream, e.g. ``(patient_index,)`` in a cohort.
    Equal to ``simulate(..., keys=keys).summary``.
    """
    if isinstance(scenario, (str, PathLike)):
        raise TypeError("simulate_summary takes a Scenario (seedsoil.load_scenario(path))")
    from .stochastic import summarize_stochastic

    seed = check_seed(seed)
    return summarize_stochastic(build_inputs(scenario), seed, *keys)

