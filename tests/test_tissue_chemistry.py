"""The tissue's chemistry: diffusing fields coupled to agents (seedsoil.tissue.chemistry) and each
agent's own cell network (seedsoil.tissue.signalling), on the real engine and solver."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seedsoil.cell import builtin_network
from seedsoil.cell.solver import cell_parameters, simulate_cells
from seedsoil.errors import ScenarioError
from seedsoil.tissue import _kernels as K
from seedsoil.tissue.chemistry import Chemotaxis, Exchange, FieldCoupling, piecewise_linear, vessel_mask
from seedsoil.tissue.engine import Agents, Mechanics, TissueEngine
from seedsoil.tissue.fields import DiffusionFields, Substrate
from seedsoil.tissue.model import CellInputs
from seedsoil.tissue.scenario import TissueScenario
from seedsoil.tissue.signalling import AgentSignalling
from seedsoil.tissue.simulate import simulate_tissue

CELLS = CellInputs({"amoeboid": 0.5, "mesenchymal": 0.5}, dividing_fraction=1.0, caf_contractility=1.0)


def _engine(n=60, side=200.0, seed=0, **cols):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(10.0, side - 10.0, size=(n, 2))
    kind = np.where(np.arange(n) % 3 == 0, K.CAF, K.TUMOUR)
    agents = Agents.from_columns(pos, radius=8.0, kind=kind, speed=1.0, persist=5.0, **cols)
    return TissueEngine(agents, np.zeros(2), np.full(2, side), Mechanics(), seed=seed)


def test_fields_mass_balance_with_moving_agents():
    """No decay, no fixed voxels: the amount in the domain changes by exactly what the agents
    secreted minus what they took up, step after step while they move."""
    eng = _engine()
    f = DiffusionFields((10, 10), 20.0, [Substrate("c", 500.0, 0.0, initial=0.2)])
    ex = Exchange.build(1, secretion=[[0.0], [2.0]], saturation=[[0.0], [1.5]], uptake=[[0.3], [0.0]],
                        export=[[5.0], [0.0]])
    coupling = FieldCoupling(f, ex)
    eng.couplings.append(coupling)
    before = f.total("c")
    eng.step(50)
    change = f.total("c") - before
    assert coupling.exchanged[K.CAF, 0] > 0 and coupling.exchanged[K.TUMOUR, 0] != 0
    assert change == pytest.approx(coupling.exchanged.sum(), rel=1e-12, abs=1e-9)
    assert math.isclose(f.time, eng.time, rel_tol=1e-12)


def test_decay_removes_what_the_closed_form_says():
    """Agents exchanging nothing, uniform field: the total decays as exp(-λt) up to the scheme's
    first-order error, which halves with the sub-step (LOD implicit Euler: (1 + λdt/d)^-d per step)."""
    eng = _engine()
    lam = 0.05
    f = DiffusionFields((10, 10), 20.0, [Substrate("c", 100.0, lam, initial=1.0)], dt_diffusion=0.05)
    eng.couplings.append(FieldCoupling(f, Exchange.build(1)))
    eng.step(100)  # 10 min
    exact_scheme = (1.0 + lam * 0.05 / 2) ** (-2 * 200)
    assert f.total("c") / (100 * 20.0 ** 3) == pytest.approx(exact_scheme, rel=1e-12)
    assert exact_scheme == pytest.approx(math.exp(-lam * 10.0), rel=5e-3)


def test_chemotaxis_drift_up_a_linear_gradient():
    eng = _engine(n=30)
    f = DiffusionFields((10, 10), 20.0, [Substrate("c", 0.0)])
    x = f.origin[0] + (np.arange(10) + 0.5) * 20.0
    f.field("c")[...] = 0.01 * x[:, None]  # gradient 0.01 per µm along x
    chem = Chemotaxis("c", (2.0, 0.0), gradient_half=0.01)
    coupling = FieldCoupling(f, Exchange.build(1), chemotaxis=chem)
    coupling.update_drift(eng.agents)
    a = eng.agents
    tum = a.kind[:a.n] == K.TUMOUR
    inner = tum & np.all((a.pos[:a.n] > 10.0) & (a.pos[:a.n] < 190.0), axis=1)
    assert inner.any()
    np.testing.assert_allclose(a.drift[:a.n][inner], [[1.0, 0.0]] * int(inner.sum()), atol=1e-12)  # 2 · g/(g + g)
    assert np.all(a.drift[:a.n][~tum] == 0.0)
    before = a.pos[:a.n][tum, 0].mean()
    eng.step(200)  # 20 min at ≥ 1 µm/min of drift: the tumour cells move up the gradient
    assert a.pos[:a.n][a.kind[:a.n] == K.TUMOUR, 0].mean() > before + 5.0


def test_vessel_follows_its_curve_and_mask_covers_the_vessel():
    f = DiffusionFields((20, 10), 10.0, [Substrate("d", 1000.0, 0.1)])
    mask = vessel_mask(f, np.array([[155.0, 0.0, 0.0, 155.0, 100.0, 0.0]]), np.array([3.0]))
    assert mask[15].all() and mask.sum() == 10  # the voxel column the axis runs through, nothing else
    curve = piecewise_linear([0.0, 10.0, 20.0], [0.0, 100.0, 50.0])
    f.add_vessels(mask, {"d": curve})
    f.advance(5.0)
    assert np.all(f.field("d")[mask] == pytest.approx(50.0))
    f.advance(10.0)
    assert np.all(f.field("d")[mask] == pytest.approx(75.0))
    with pytest.raises(ValueError, match="strictly increasing"):
        piecewise_linear([0.0, 0.0], [1.0, 2.0])


def test_daughters_inherit_network_rows():
    eng = _engine(n=40, div_rate=0.05)
    a = eng.agents
    a.carry_network(3, 2)
    a.species[:a.n, 0] = a.ids[:a.n]
    a.cellpar[:a.n, 1] = 2.0 * a.ids[:a.n]
    eng.proliferating = True
    eng.step(100)
    live = a.state[:a.n] == K.ACTIVE
    assert live.sum() > 40  # cells divided
    origin = a.species[:a.n, 0][live]
    assert set(origin) <= set(range(40))
    np.testing.assert_array_equal(a.cellpar[:a.n, 1][live], 2.0 * origin)
    born = a.ids[:a.n][live] >= 40
    assert born.any() and np.all(origin[born] < 40)


def _uniform_signalling(n, inputs, interval):
    net = builtin_network()
    eng = _engine(n=n)
    a = eng.agents
    a.carry_network(len(net.species), len(net.parameters))
    a.cellpar[:n] = cell_parameters(net, n, variability={"k_jak1_act": 0.3, "k_rho_act": 0.3}, seed=4)
    a.species[:n] = net.initial_state
    f = DiffusionFields((10, 10), 20.0, [Substrate("IL6", 0.0, initial=inputs["IL6"]),
                                         Substrate("JAKi", 0.0, initial=inputs["JAKi"])])
    sig = AgentSignalling(net, interval=interval, fields=f, field_inputs={"IL6": "IL6", "JAKi": "JAKi"},
                          fixed_inputs={"ROCKi": inputs["ROCKi"]}, rtol=1e-9, atol=1e-12)
    return net, eng, sig


def test_agent_networks_equal_simulate_cells():
    """Per-agent signalling in tissue, inputs read from (uniform) fields, equals simulate_cells for
    the same cells, parameters and inputs, to solver tolerance."""
    inputs = {"IL6": 0.4, "JAKi": 8.0, "ROCKi": 30.0}
    net, eng, sig = _uniform_signalling(40, inputs, interval=6.0)
    a = eng.agents
    for _ in range(20):  # 2 h in 6-min intervals
        sig.integrate(a, 6.0)
    ds = simulate_cells(net, 40, inputs=inputs, t_span=(0.0, 120.0 / 1440.0), t_eval=2,
                        parameters={p: a.cellpar[:40, k] for k, p in enumerate(net.parameter_names)},
                        rtol=1e-9, atol=1e-12)
    ref = ds.state.isel(time=-1).values
    assert np.max(np.abs(a.species[:40] - ref)) < 1e-6
    assert np.max(np.abs(a.species[:40] - net.initial_state)) > 0.1  # the cells did respond


def test_agent_networks_are_batch_and_thread_invariant():
    import numba

    inputs = {"IL6": 0.5, "JAKi": 3.0, "ROCKi": 0.0}
    runs = []
    for threads, rows in ((1, None), (2, None), (2, "halves")):
        old = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            net, eng, sig = _uniform_signalling(300, inputs, interval=6.0)
            a = eng.agents
            for _ in range(5):
                if rows == "halves":  # the same cells integrated in two batches
                    sig.integrate(a, 6.0, np.arange(0, 150))
                    sig.integrate(a, 6.0, np.arange(150, 300))
                else:
                    sig.integrate(a, 6.0)
            runs.append(a.species[:300].copy())
        finally:
            numba.set_num_threads(old)
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def _agent_scenario(**p):
    base = {"signalling": {"path": "agent"}, "simulation": {"duration": "1 h", "save_every": "30 min"},
            "domain": {"height": "150 um"}}
    sc = TissueScenario.from_dict(base)
    return sc.with_parameters(**p) if p else sc


def test_agent_path_run_is_reproducible_and_thread_invariant():
    sc = _agent_scenario().with_exposure({"JAKi": 50.0})
    one = simulate_tissue(sc, threads=1)
    two = simulate_tissue(sc, threads=2)
    import pandas.testing as pdt

    pdt.assert_frame_equal(one.timeseries, two.timeseries)
    for s1, s2 in zip(one.snapshots, two.snapshots):
        for c in s1:
            np.testing.assert_array_equal(s1[c], s2[c])
    for f1, f2 in zip(one.field_frames, two.field_frames):
        for c in f1:
            np.testing.assert_array_equal(f1[c], f2[c])
    assert one.species_names == tuple(builtin_network().species_names)
    assert one.snapshots[-1]["species"].shape == (len(one.snapshots[-1]["ids"]), len(one.species_names))
    assert one.summary["network_updates"] == 10
    # the drug enters from the vessel: highest there, lower at the tumour
    jaki = one.field_frames[-1]["JAKi"]
    assert jaki.max() == pytest.approx(50.0) and 0 < one.timeseries["JAKi_tumour_nM"].iloc[-1] < 50.0


def test_fibroblast_cytokine_drives_tumour_contractility():
    """Without the CAFs' cytokine the tumour cells' STAT3 loop never ignites: lower pSTAT3 and pMLC2
    (Sanz-Moreno et al. 2011); with it, both are high."""
    with_caf = simulate_tissue(_agent_scenario(), snapshots=False)
    without = simulate_tissue(_agent_scenario(cytokine__caf_export=0.0), snapshots=False)
    a, b = with_caf.timeseries.iloc[0], without.timeseries.iloc[0]
    assert a["IL6_tumour_nM"] > 0.1 and b["IL6_tumour_nM"] == 0.0
    assert a["STAT3_tumour"] > 0.5 > b["STAT3_tumour"]
    assert a["MLC2_tumour"] > b["MLC2_tumour"] + 0.1


@pytest.mark.parametrize("raw, message", [
    ({"signalling": {"interval": "0.25 min"}}, "whole number"),
    ({"fields": {"dt": "0.03 min"}}, "whole number"),
    ({"signalling": {"path": "cells"}}, "must be one of"),
])
def test_bad_chemistry_settings_name_the_field(raw, message):
    data = {"signalling": {"path": "agent"}}
    for k, v in raw.items():
        data.setdefault(k, {}).update(v)
    with pytest.raises(ScenarioError, match=message):
        TissueScenario.from_dict(data)


def test_field_chemotaxis_needs_the_fields():
    with pytest.raises(ScenarioError, match="chemotaxis.substrate"):
        TissueScenario.from_dict({"signalling": {"path": "population"}, "chemotaxis": {"substrate": "IL6"}})
