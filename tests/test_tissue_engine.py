"""The tissue engine (``seedsoil.tissue``): determinism, Verlet lists against all pairs, re-ordering,
division / death / escape bookkeeping, the analysis helpers, and tissue-scenario validation.

Units: µm and minutes. Most tests run the kernels on one numba thread (results do not depend on
the thread count, which the determinism test checks; a parallel launch costs more than it saves
for a few hundred agents, and far more on a loaded machine).
"""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from seedsoil.errors import ScenarioError
from seedsoil.tissue import _kernels as K
from seedsoil.tissue import engine as engine_module
from seedsoil.tissue.analysis import (
    fit_furth,
    free_tracks,
    furth_msd,
    msd,
    pair_equilibrium_distance,
    scheme_msd,
    time_averaged_msd,
    velocity_correlation_ratio,
)
from seedsoil.tissue.engine import Agents, Mechanics, TissueEngine
from seedsoil.tissue.model import CellInputs
from seedsoil.tissue.scenario import TissueScenario, default_tissue_scenario
from seedsoil.tissue.simulate import simulate_tissue
from seedsoil.tissue.workload import workload_engine
from seedsoil.validate.cases_tissue import (
    MIXED_ADHESION,
    MIXED_REPULSION,
    random_cluster,
    single_thread,
)

#: Cell-scale inputs given explicitly (no network solve): a mixed population, CAFs untreated.
CELLS = CellInputs({"amoeboid": 0.6, "mesenchymal": 0.3, "hybrid": 0.1}, dividing_fraction=0.8,
                   caf_contractility=1.0)


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


def short_scenario(dims: int, **overrides) -> TissueScenario:
    """The default edge on the population path (the engine under test), short, with fast division
    and death so that they happen in the run."""
    p = {"signalling__path": "population", "domain__dimensions": dims, "simulation__duration": 30.0,
         "simulation__save_every": 10.0,
         "tumour__division_rate": 0.01, "tumour__death_rate": 0.002, "tumour__max_contacts": 100}
    p.update(overrides)
    return default_tissue_scenario().with_parameters(**p)


def assert_same_snapshots(a, b) -> None:
    assert len(a.snapshots) == len(b.snapshots)
    for sa, sb in zip(a.snapshots, b.snapshots):
        for col in sa:
            assert np.array_equal(sa[col], sb[col]), col
    for name in a.matrix:
        assert np.array_equal(a.matrix[name], b.matrix[name]), name


@pytest.fixture
def parallel_kernels(monkeypatch):
    """Make the engine take its parallel kernels however few the agents (it runs serial ones
    below ``engine.PARALLEL_MIN_AGENTS`` agents, when that threshold exists)."""
    monkeypatch.setattr(engine_module, "PARALLEL_MIN_AGENTS", 0, raising=False)


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize("dims", [2, 3])
def test_bitwise_identical_across_thread_counts(dims, parallel_kernels):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread")
    sc = short_scenario(dims, simulation__duration=20.0)
    one = simulate_tissue(sc, cells=CELLS, threads=1)
    two = simulate_tissue(sc, cells=CELLS, threads=2)
    assert one.summary["steps"] == 200
    assert one.summary["tumour_cells_end"] != one.summary["tumour_cells_start"]  # divisions/deaths happened
    assert_same_snapshots(one, two)
    assert one.summary == two.summary


def test_same_seed_same_result_different_seed_different():
    sc = short_scenario(2)
    a = simulate_tissue(sc, cells=CELLS, seed=3)
    b = simulate_tissue(sc, cells=CELLS, seed=3)
    c = simulate_tissue(sc, cells=CELLS, seed=4)
    assert_same_snapshots(a, b)
    assert not np.array_equal(a.snapshots[-1]["pos"][:5], c.snapshots[-1]["pos"][:5])
    assert not np.array_equal(a.snapshots[0]["pos"], c.snapshots[0]["pos"])  # placement is seeded too


# ---------------------------------------------------------------- forces: Verlet lists vs all pairs
def brute_force_velocities(pos, radius, kind, c_rep, c_adh, adh_range, lo=None, hi=None):
    """Pair (and wall) velocities of the engine's potential over all pairs, O(N²) in NumPy."""
    d = pos[:, None, :] - pos[None, :, :]
    r = np.linalg.norm(d, axis=2)
    np.fill_diagonal(r, np.inf)
    big_r = radius[:, None] + radius[None, :]
    x = r / big_r
    tr = np.clip(1.0 - x, 0.0, None)
    ta = np.clip(1.0 - x / adh_range, 0.0, None)
    net = (c_rep[kind[:, None], kind[None, :]] * tr ** 2 - c_adh[kind[:, None], kind[None, :]] * ta ** 2) / r
    v = np.einsum("ij,ijk->ik", net, d)
    if lo is not None:
        cw = c_rep[kind, kind][:, None]
        rr = radius[:, None]
        low = np.where(pos - lo < rr, (1.0 - np.clip(pos - lo, 0.0, None) / rr) ** 2, 0.0)
        high = np.where(hi - pos < rr, (1.0 - np.clip(hi - pos, 0.0, None) / rr) ** 2, 0.0)
        v += cw * (low - high)
    return v


def _by_id(engine, column):
    a = engine.agents
    return getattr(a, column)[:a.n][np.argsort(a.ids[:a.n])]


@pytest.mark.parametrize("dims,walls,threads", [(2, False, 1), (3, False, 1), (2, True, 1), (3, True, 2)])
def test_verlet_forces_equal_all_pairs(dims, walls, threads, parallel_kernels):
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("not enough numba threads")
    numba.set_num_threads(threads)  # the autouse fixture restores the count
    pos, radius, kind = random_cluster(200, dims, seed=11 + dims)
    lo, hi = pos.min(axis=0) - 3.0, pos.max(axis=0) + 3.0  # with walls: some cells touch them
    if not walls:
        lo, hi = lo - 200.0, hi + 200.0
    agents = Agents.from_columns(pos, radius=radius, kind=kind, speed=0.0, persist=5.0)
    mech = Mechanics(repulsion=MIXED_REPULSION, adhesion=MIXED_ADHESION, walls=walls, skin=4.0)
    eng = TissueEngine(agents, lo, hi, mech, seed=0)
    stale = 0
    for _ in range(40):
        before = eng.rebuilds
        p0 = _by_id(eng, "pos").copy()
        eng.step(1)
        expect = brute_force_velocities(p0, radius, kind.astype(np.int64), MIXED_REPULSION, MIXED_ADHESION,
                                        mech.adhesion_range, *((lo, hi) if walls else ()))
        got = _by_id(eng, "vel")
        scale = np.abs(expect).max()
        np.testing.assert_allclose(got, expect, rtol=0, atol=1e-12 * scale)
        stale += eng.rebuilds == before  # the lists of this step were built at an earlier step
    assert scale > 0.1  # real forces were compared
    assert eng.rebuilds > 2 and stale > 5, (eng.rebuilds, stale)


# ---------------------------------------------------------------- re-ordering
@pytest.mark.parametrize("dims", [2, 3])
def test_results_independent_of_skin_and_reordering(dims):
    """Skin 1 vs 5 µm: different rebuild times and row orders, the same trajectories (sums in
    another order: equal to round-off)."""
    runs = []
    for skin in (1.0, 5.0):
        eng = workload_engine(300, dims, seed=5, skin=skin)
        eng.step(300)
        runs.append((_by_id(eng, "pos"), eng.rebuilds))
    (p1, r1), (p5, r5) = runs
    assert r1 > r5 > 1
    np.testing.assert_allclose(p1, p5, rtol=0, atol=1e-9)


# ---------------------------------------------------------------- division, death, escape
def test_division_and_death_bookkeeping():
    rng = np.random.default_rng(2)
    n0 = 60
    pos = rng.uniform(0, 300, size=(n0, 2))
    kind = np.where(np.arange(n0) < 50, K.TUMOUR, K.CAF).astype(np.int8)
    agents = Agents.from_columns(pos, radius=8.41, kind=kind, speed=1.0, persist=5.0, div_rate=0.02,
                                 death_rate=0.01)
    eng = TissueEngine(agents, np.zeros(2), np.full(2, 300.0), Mechanics(max_contacts=100), seed=9)
    caf_ids = set(range(50, 60))
    seen = set(range(n0))
    births = deaths = 0
    for _ in range(60):
        next_before = eng.next_id
        ids_before = set(eng.agents.ids[:eng.agents.n].tolist())
        eng.step(5)
        a = eng.agents
        ids = a.ids[:a.n]
        assert len(np.unique(ids)) == a.n  # ids unique
        assert np.all(a.state[:a.n] != K.DEAD)  # the dead are compacted away
        now = set(ids.tolist())
        new = now - ids_before
        gone = ids_before - now
        assert new == set(range(next_before, eng.next_id))  # fresh, consecutive ids
        assert not (new & seen)  # an id is never reused
        assert caf_ids <= now  # CAFs neither divide nor die
        assert np.all(a.kind[:a.n][np.isin(ids, list(new))] == K.TUMOUR)
        seen |= new
        births += len(new)
        deaths += len(gone)
        assert a.n == n0 + births - deaths
    assert births > 20 and deaths > 5, (births, deaths)
    assert eng.next_id == n0 + births


def test_division_independent_of_capacity():
    """Regression: when the divisions of one step outrun the spare rows, the resumed kernel call
    must not also process the daughters born earlier in that step (results depended on the
    initial capacity: 1585 vs 1490 cells here before the fix)."""
    def run(capacity):
        pos = np.random.default_rng(0).uniform(0, 3000, size=(1000, 2))
        agents = Agents.from_columns(pos, capacity=capacity, radius=2.0, speed=0.0, div_rate=5.0)  # p 0.5/step
        eng = TissueEngine(agents, np.zeros(2), np.full(2, 3000.0), Mechanics(max_contacts=1000), seed=1)
        eng.step(3)
        return eng.next_id, _by_id(eng, "pos")

    (n_small, p_small), (n_big, p_big) = run(1200), run(100_000)
    assert n_small == n_big
    assert np.array_equal(p_small, p_big)


def test_escape_only_tumour_cells_touching_the_vessel():
    vessel_x, v_r, r = 100.0, 5.0, 8.41
    xs = np.array([vessel_x - 5.0, vessel_x + 10.0, vessel_x + 12.0, vessel_x - 14.0, vessel_x + 30.0, 20.0])
    touching = np.abs(xs - vessel_x) < v_r + r
    n = len(xs)
    pos = np.stack([np.tile(xs, 2), np.repeat([50.0, 120.0], n)], axis=1)
    kind = np.repeat([K.TUMOUR, K.CAF], n).astype(np.int8)
    agents = Agents.from_columns(pos, radius=r, kind=kind, speed=0.0, persist=5.0)
    mech = Mechanics(repulsion=np.zeros((2, 2)), adhesion=np.zeros((2, 2)), walls=False)
    eng = TissueEngine(agents, np.zeros(2), np.full(2, 200.0), mech, seed=1,
                       vessels=np.array([[vessel_x, 0, 0, vessel_x, 200, 0]]), vessel_radius=v_r,
                       intravasation_rate=10.0)
    eng.step(50)  # p = 1 − e^-1 per step: every touching tumour cell has gone (chance left ~1e-10)
    state = _by_id(eng, "state")
    step = _by_id(eng, "escape_step")
    expected = np.concatenate([touching, np.zeros(n, bool)])
    assert np.array_equal(state == K.ESCAPED, expected)
    assert np.all(step[expected] >= 0) and np.all(step[~expected] == -1)
    assert eng.agents.n == 2 * n  # escaped cells stay in the record
    assert np.all(_by_id(eng, "vel")[expected] == 0.0)  # and feel no forces


# ---------------------------------------------------------------- analysis helpers
def test_scheme_msd_matches_the_double_sum_and_tends_to_furth():
    s, p, dt = 2.0, 5.0, 0.1
    for law in ("ou", "turn"):
        r = velocity_correlation_ratio(p, dt, law)
        for k, origin in ((1, True), (2, True), (7, True), (1, False), (7, False)):
            c = np.ones(k) if origin else np.ones(k + 1)
            if origin and k > 1:
                c[0], c[-1] = 0.5, 1.5
            if not origin:
                c[0], c[-1] = -0.5, 1.5
            idx = np.arange(len(c))
            direct = dt ** 2 * s ** 2 * c @ (r ** np.abs(idx[:, None] - idx[None, :])) @ c
            assert scheme_msd(k, s, p, dt, law=law, from_origin=origin)[0] == pytest.approx(direct, rel=1e-12)
    # dt -> 0: the scheme's MSD converges to Fürth's, at first order in dt (bias ~dt/P, OU ~dt²)
    t = 20.0
    errs = [abs(scheme_msd(round(t / h), s, p, h, law="turn")[0] / furth_msd(t, s, p) - 1) for h in (0.1, 0.05)]
    assert errs[1] < 0.6 * errs[0] and errs[0] < 0.01
    assert furth_msd(1e-3, s, p) == pytest.approx(s ** 2 * 1e-6, rel=1e-3)  # ballistic
    assert furth_msd(1e4, s, p) / (2 * s ** 2 * p * 1e4) == pytest.approx(1 - p / 1e4, rel=1e-12)  # diffusive


def test_msd_estimators_on_a_known_walk():
    """Straight lines at unit speed: MSD = t² from the origin and over any window."""
    rng = np.random.default_rng(0)
    e = rng.normal(size=(50, 1, 3))
    e /= np.linalg.norm(e, axis=2, keepdims=True)
    x = e * np.arange(11.0)[None, :, None] + rng.normal(size=(50, 1, 3))
    np.testing.assert_allclose(msd(x), np.arange(11.0) ** 2, rtol=1e-12)
    np.testing.assert_allclose(time_averaged_msd(x, [1, 4, 10]), [1.0, 16.0, 100.0], rtol=1e-12)
    assert time_averaged_msd(x, [2], per_track=True).shape == (50, 1)
    with pytest.raises(ValueError):
        time_averaged_msd(x, [11])


@pytest.mark.parametrize("law", ["ou", "turn"])
def test_free_tracks_ensemble_msd_from_the_origin(law):
    """The engine's free tracks from a stationary start: ensemble MSD from t = 0 matches the scheme's
    exact expectation (within 4 standard errors); an OU start at rest lags behind at short times."""
    s, p, n = 2.0, 5.0, 2000
    times, x = free_tracks(n, 2, s, p, law=law, duration=20.0, save_every=1.0, seed=4)
    assert x.shape == (n, 21, 2) and times[-1] == pytest.approx(20.0) and np.all(x[:, 0] == 0)
    sq = np.sum(x ** 2, axis=2)  # per track, from the origin
    for k in (1, 5, 20):
        expect = scheme_msd(10 * k, s, p, 0.1, law=law, from_origin=True)[0]
        se = sq[:, k].std(ddof=1) / math.sqrt(n)
        assert abs(msd(x)[k] - expect) < 4 * se, (k, msd(x)[k], expect, se)
    if law == "ou":
        _, rest = free_tracks(n, 2, s, p, law=law, duration=1.0, save_every=1.0, seed=4, stationary=False)
        assert msd(rest)[1] < 0.5 * furth_msd(1.0, s, p)


def test_fit_furth_recovers_parameters():
    t = np.geomspace(0.5, 100, 30)
    assert fit_furth(t, furth_msd(t, 0.7, 12.0)) == pytest.approx((0.7, 12.0), rel=1e-6)


def test_pair_equilibrium_distance_balances_the_forces():
    big_r, rep, adh, a = 16.82, 10.0, 0.4, 1.25
    d = pair_equilibrium_distance(big_r, rep, adh, a)
    assert 0 < d < big_r
    assert rep * (1 - d / big_r) ** 2 == pytest.approx(adh * (1 - d / (a * big_r)) ** 2, rel=1e-12)
    with pytest.raises(ValueError):
        pair_equilibrium_distance(big_r, 1.0, 2.0, a)


# ---------------------------------------------------------------- scenarios
@pytest.mark.parametrize("data,field,words", [
    ({"domain": {"widht": 500}}, "domain.widht", ["did you mean", "domain.width"]),
    ({"domain": {"width": 10}}, "domain.width", ["10", "um", "[50, 100000]"]),
    ({"mechanics": {"dt": "2 h"}}, "mechanics.dt", ["2 h", "min", "(0, 10]"]),
    ({"exposure": {"JAK": 10}}, "exposure.JAK", ["did you mean", "JAKi", "inputs"]),
    ({"exposure": {"JAKi": -1}}, "exposure.JAKi", ["-1", "nM"]),
    ({"tumour": {"edge": 600}}, "tumour.edge", ["600", "domain.width"]),
    ({"domain": {"dimensions": 4}}, "domain.dimensions", ["4", "[2, 3]"]),
    ({"motility": {"law": "levy"}}, "motility.law", ["levy", "ou", "turn"]),
    ({"simulation": {"seed": -1}}, "simulation.seed", ["-1"]),
    ({"scenario": {"nme": "x"}}, "scenario.nme", ["unknown"]),
])
def test_scenario_errors_name_field_value_unit_range(data, field, words):
    with pytest.raises(ScenarioError) as info:
        TissueScenario.from_dict(data)
    assert info.value.field == field
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_scenario_round_trip_units_and_hash():
    sc = TissueScenario.from_dict({"scenario": {"name": "edge"}, "simulation": {"seed": 4, "duration": "2 h"},
                                   "domain": {"width": "0.6 mm", "dimensions": 3}, "exposure": {"JAKi": "0.1 uM"}})
    assert sc["domain.width"] == pytest.approx(600.0) and sc["simulation.duration"] == pytest.approx(120.0)
    assert sc.exposure == {"JAKi": pytest.approx(100.0)} and sc.dims == 3 and sc.seed == 4
    again = TissueScenario.from_dict(sc.to_dict())
    assert dict(again.parameters) == dict(sc.parameters) and dict(again.exposure) == dict(sc.exposure)
    assert (again.name, again.seed) == (sc.name, sc.seed)
    assert again.content_hash() == sc.content_hash()
    assert default_tissue_scenario().content_hash() == default_tissue_scenario().content_hash()
    changed = sc.with_parameters(caf__contractility=0)
    assert changed["caf.contractility"] == 0 and changed.content_hash() != sc.content_hash()
    assert sc.with_exposure({"ROCKi": 1.0}).content_hash() != sc.content_hash()
    assert math.isclose(sc.with_exposure({}).with_exposure({"JAKi": 100.0}).exposure["JAKi"], 100.0)


def test_serial_and_parallel_kernels_are_cached_apart():
    """numba keys its disk cache by name and line, not by parallel=: the two variants of a
    kernel must not share an index file, or one process's build is loaded for the other."""
    from seedsoil.tissue import _kernels as K

    for name in ("cell_ids", "build_neighbours", "mechanics", "advance"):
        par, ser = getattr(K, name), getattr(K, f"{name}_serial")
        assert par.targetoptions.get("parallel") is True and not ser.targetoptions.get("parallel")
        cache_par, cache_ser = getattr(par._cache, "_cache_file", None), getattr(ser._cache, "_cache_file", None)
        if cache_par is None:  # caching switched off (SEEDSOIL_NUMBA_CACHE=0): nothing to collide
            continue
        assert cache_par._index_name != cache_ser._index_name


def test_the_engine_alone_does_not_import_the_heavy_layers():
    """Stepping agents needs numpy and numba only (numba itself loads a little of scipy);
    pandas, sympy and pydantic load with the scenario / run layers (memory: the
    benchmark's fixed cost)."""
    from seedsoil.testing import modules_loaded_by

    for heavy in ("pandas", "sympy", "pydantic", "lifelines"):
        assert modules_loaded_by("import seedsoil.tissue.workload", heavy) == [], heavy
