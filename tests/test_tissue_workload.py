"""The benchmark workload's diffusing substrate (``seedsoil.tissue.workload.workload_fields``):
its grid and rates, the substrate's mass balance with every agent secreting and taking up, and
results that do not depend on the thread count.

Units: µm and minutes; the substrate's concentration in any amount per µm³.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from seedsoil.tissue import engine as engine_module
from seedsoil.tissue import workload as W
from seedsoil.tissue.workload import workload_engine, workload_fields
from seedsoil.validate.cases_tissue import single_thread


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.mark.parametrize("dims", [2, 3])
def test_grid_covers_the_box_with_physicell_defaults(dims):
    eng = workload_engine(500, dims, seed=1)
    c = workload_fields(eng)
    assert eng.couplings == [c]
    f = c.fields
    assert f.dx == W.FIELD_VOXEL == 20.0 and f.dt == W.FIELD_DT == 0.01
    side = W.workload_box(500, dims)
    assert f.shape == (math.ceil(side / 20.0),) * dims
    assert np.array_equal(f.origin, eng.lo)
    sub = f.substrates[0]
    assert (sub.diffusion, sub.decay) == (1e5, 0.1)
    ex = c.exchange
    assert np.all(ex.secretion == 10.0) and np.all(ex.saturation == 1.0) and np.all(ex.uptake == 1.0)


@pytest.mark.parametrize("dims", [2, 3])
def test_without_decay_the_total_changes_by_what_agents_exchanged(dims):
    eng = workload_engine(400, dims, seed=2)
    c = workload_fields(eng, decay=0.0, initial=0.3)  # starts above the uptake-only level
    total0 = c.fields.total("substrate")
    eng.step(15)
    put = c.exchanged.sum()
    assert abs(put) > 1e-3 * total0  # agents changed the amount noticeably
    assert c.fields.total("substrate") - total0 == pytest.approx(put, rel=1e-12, abs=1e-12 * total0)
    assert c.exchanged[1].sum() == 0.0  # no CAFs in the workload


@pytest.mark.parametrize("dims", [2, 3])
def test_with_decay_each_substep_removes_exactly_its_decay(dims):
    """Sub-step by sub-step, agents held: total' = (total + exchanged) / (1 + λ dt / d)^d, the
    exact decay of the solver's split (each of the d sweeps divides the sum by 1 + λ dt / d)."""
    eng = workload_engine(400, dims, seed=3)
    c = workload_fields(eng, initial=0.2)
    eng.step(5)  # some mechanics and field steps first
    lam, dt = c.fields.substrates[0].decay, c.fields.dt
    removed = 0.0
    total0 = total = c.fields.total("substrate")
    put0 = c.exchanged.sum()
    for _ in range(20):
        before = c.exchanged.sum()
        c.advance(eng.agents, dt)
        put = c.exchanged.sum() - before
        after = c.fields.total("substrate")
        expect = (total + put) / (1.0 + lam * dt / dims) ** dims
        assert after == pytest.approx(expect, rel=1e-12)
        removed += total + put - after
        total = after
    assert removed > 0
    # over the 20 sub-steps: change = what agents exchanged minus what decay removed
    assert total - total0 == pytest.approx(c.exchanged.sum() - put0 - removed, rel=1e-10, abs=1e-12 * total0)


@pytest.mark.parametrize("dims", [2, 3])
def test_positions_and_field_do_not_depend_on_the_thread_count(dims, monkeypatch):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread")
    monkeypatch.setattr(engine_module, "PARALLEL_MIN_AGENTS", 0, raising=False)  # parallel kernels at any N
    out = []
    for threads, parallel in ((1, False), (2, False), (2, True)):
        numba.set_num_threads(threads)  # the autouse fixture restores the count
        eng = workload_engine(600, dims, seed=4)
        c = workload_fields(eng, parallel=parallel)
        eng.step(25)
        order = np.argsort(eng.agents.ids[:eng.agents.n])
        out.append((eng.agents.pos[:eng.agents.n][order].copy(), c.fields.fields.copy(), c.exchanged.copy()))
    for pos, field, exchanged in out[1:]:
        assert np.array_equal(pos, out[0][0])
        assert np.array_equal(field, out[0][1])
        assert np.array_equal(exchanged, out[0][2])
    assert out[0][1].max() > 0.01  # the agents secreted something
