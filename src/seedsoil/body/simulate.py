"""``simulate``: one patient, one call (DESIGN.md principle 1)."""
from __future__ import annotations

from pathlib import Path

from ..rng import new_seed
from ..scenario import Scenario, load_scenario
from ..seeds import check_seed
from .model import build_inputs
from .result import PatientResult


def simulate(scenario: Scenario | str | Path, *, seed: int | None = None, engine: str | None = None) -> PatientResult:
    """Simulate one patient.

    Parameters
    ----------
    scenario : a :class:`~seedsoil.scenario.Scenario` or a path to a scenario TOML file.
    seed : root seed of the random stream; defaults to the scenario's
        ``simulation.seed``, else fresh entropy (recorded in the result).
    engine : "stochastic" or "meanfield"; defaults to ``simulation.engine``.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    engine = engine or sc.simulation.engine
    if engine not in ("stochastic", "meanfield"):
        raise ValueError(f"engine = {engine!r}: must be 'stochastic' or 'meanfield'")
    inputs = build_inputs(sc)
    if engine == "meanfield":
        from .meanfield import simulate_meanfield

        return simulate_meanfield(inputs)
    if seed is None:
        seed = sc.simulation.seed if sc.simulation.seed is not None else new_seed()
    seed = check_seed(seed)
    from .stochastic import simulate_stochastic

    return simulate_stochastic(inputs, seed)


def simulate_summary(scenario: Scenario | str | Path, *, seed: int, keys: tuple[int, ...] = ()) -> dict:
    """Summary dict of one stochastic patient, without building tables (fast path).

    ``keys`` extend the random stream, e.g. ``(patient_index,)`` in a cohort.
    Equal to ``simulate(...).summary`` when ``keys`` is empty.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    from .stochastic import summarize_stochastic

    seed = check_seed(seed)
    return summarize_stochastic(build_inputs(sc), seed, *keys)

