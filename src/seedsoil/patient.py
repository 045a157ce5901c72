"""One patient from a scenario file: ``seedsoil.simulate`` and reading a run directory back.

Scenario layer (docs/architecture.md): loads the file (:func:`seedsoil.scenario.load_scenario`)
and calls the body engine (:func:`seedsoil.body.simulate.simulate`).
"""
from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

from .body.result import PatientResult
from .body.simulate import simulate as _simulate_body
from .coupling.drugs import DrugLibrary
from .scenario import Scenario, load_scenario
from .store import RUN_FILE


def simulate(scenario: Scenario | str | PathLike, *, seed: int | None = None, engine: str | None = None,
             keys: tuple[int, ...] = (), drugs: DrugLibrary | None = None) -> PatientResult:
    """Simulate one patient (see :func:`seedsoil.body.simulate.simulate`).

    ``scenario``: a :class:`~seedsoil.scenario.Scenario` or the path of a scenario file
    (read with ``drugs``, default the presets). ``keys`` extend the random stream:
    ``(i,)`` with the trial's seed and an arm's scenario is patient ``i`` of a trial.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, drugs=drugs)
    return _simulate_body(sc, seed=seed, engine=engine, keys=keys)


def load_result(run_dir: str | Path, *, drugs: DrugLibrary | None = None) -> dict[str, PatientResult]:
    """Rebuild ``{label: PatientResult}`` from a patient run directory (base and variants)."""
    root = Path(run_dir)
    folders = [("base", root)]
    vroot = root / "variants"
    if vroot.is_dir():
        for d in sorted(vroot.iterdir()):
            if (d / RUN_FILE).exists():
                folders.append((d.name, d))
    out = {}
    for label, d in folders:
        result = PatientResult.from_store(d, scenario_from_dict=lambda data: Scenario.from_dict(data, drugs=drugs))
        variant = json.loads((d / RUN_FILE).read_text()).get("variant")
        out[variant or label] = result
    return out


def positive_nodes_log_likelihood(scenario: Scenario, nodes: int | None = None) -> float:
    """log P(her positive node count | her expected shed cells): the node observation model of
    her covariate links (:class:`seedsoil.body.covariates.NodeModel`, docs/model.md) at the cells
    her primary is expected to shed before surgery (the sum of
    :attr:`~seedsoil.body.model.BodyInputs.shed_primary` up to surgery). ``nodes``: the count
    (default: her ``[patient] positive_nodes``). A term a fit adds to a patient's likelihood, so
    her own node count informs her shedding rate."""
    from .body.covariates import default_links, shed_before_surgery
    from .body.model import build_inputs
    from .errors import ScenarioError

    if nodes is None:
        nodes = scenario.patient.positive_nodes if scenario.patient is not None else None
        if nodes is None:
            raise ScenarioError("patient.positive_nodes: the scenario records no node count; pass nodes=",
                                field="patient.positive_nodes", value=None)
    links = scenario.links if scenario.links is not None else default_links()
    return float(links.nodes.log_likelihood(nodes, shed_before_surgery(build_inputs(scenario))))
