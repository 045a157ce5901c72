"""From tissue to body: invasion_map (executor-independent, cached) and the body's use of it."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seedsoil import Scenario, load_scenario
from seedsoil.body import hooks
from seedsoil.coupling import default_drugs
from seedsoil.coupling import effects as drugs
from seedsoil.body.model import build_inputs
from seedsoil.cell import builtin_network
from seedsoil.execute import InProcess, LocalProcesses
from seedsoil.errors import ScenarioError
from seedsoil.pharm import preset
from seedsoil.tissue import default_tissue_scenario
from seedsoil.tissue.invasion import InvasionMap, exposure_grid, invasion_map, rate_ratio_ci
from seedsoil.validate.cases_luzzi import examples_dir


def small_scenario():
    """A short, narrow edge on the population path: a few seconds per run."""
    return default_tissue_scenario().with_parameters(signalling__path="population", domain__height=200.0,
                                                     simulation__duration=360.0,
                                                     simulation__save_every=60.0, vessel__intravasation_rate=0.2,
                                                     vessel__position=200.0, domain__width=300.0)


def handmade_map(tmp_path, levels=(0.0, 10.0, 100.0), rel=(1.0, 0.5, 0.2)):
    table = pd.DataFrame({"JAKi": levels, "relative": rel})
    m = InvasionMap(table=table, scenario={}, replicates=1, seed=0, key="handmade")
    path = tmp_path / "map.json"
    m.save(path)
    return m, path


def test_exposure_grid_is_the_product_plus_the_reference():
    pts = exposure_grid({"JAKi": [10, 100], "ROCKi": [300]})
    assert pts[0] == {"JAKi": 0.0, "ROCKi": 0.0}
    assert len(pts) == 3 * 2
    assert exposure_grid([{"JAKi": 5.0}])[0] == {"JAKi": 0.0}
    with pytest.raises(ScenarioError, match="IL6"):
        exposure_grid({"IL6": [1.0]})
    with pytest.raises(ScenarioError, match="finite"):
        exposure_grid({"JAKi": [-1.0]})


def test_rate_ratio_interval_is_exact_clopper_pearson():
    lo, hi = rate_ratio_ci(10, 1.0, 10, 1.0)
    # p | n = 20 in the Clopper-Pearson interval [0.2720, 0.7280]
    assert lo == pytest.approx(0.2720 / 0.7280, rel=1e-3) and hi == pytest.approx(0.7280 / 0.2720, rel=1e-3)
    lo2, hi2 = rate_ratio_ci(10, 2.0, 10, 1.0)  # twice the exposure: half the ratio
    assert lo2 == pytest.approx(lo / 2) and hi2 == pytest.approx(hi / 2)
    assert rate_ratio_ci(0, 1.0, 5, 1.0)[0] == 0.0


def test_map_factor_is_exact_at_grid_points_and_monotone_between(tmp_path):
    m, path = handmade_map(tmp_path)
    np.testing.assert_allclose(m.factor(JAKi=np.array([0.0, 10.0, 100.0])), [1.0, 0.5, 0.2])
    c = np.geomspace(0.01, 1e4, 200)
    f = m.factor(JAKi=c)
    assert np.all(np.diff(f) <= 1e-12) and f[-1] == pytest.approx(0.2)  # held constant beyond the grid
    back = InvasionMap.load(path)
    pd.testing.assert_frame_equal(back.table, m.table)
    with pytest.raises(KeyError, match="IL6"):
        m.factor(IL6=1.0)


def test_body_reads_shedding_from_the_invasion_map(tmp_path):
    m, path = handmade_map(tmp_path)
    rux = [{"kind": "drug", "drug": "ruxolitinib", "dose": "20 mg", "interval": "12 h", "start": "300 day",
            "duration": "100 day", "relative_to": "start"}]
    base = load_scenario(examples_dir() / "breast_surgery.toml").with_settings(therapy=rux)
    linked = base.with_settings(tissue={"invasion_map": str(path)})
    proxy = build_inputs(base).invasion_factor
    mapped = build_inputs(linked).invasion_factor
    t = build_inputs(base).t[:-1] + 0.5
    on = (t > 310) & (t < 390)
    off = t < 290
    assert np.all(mapped[off] == 1.0) and np.all(proxy[off] == 1.0)
    # on drug: the factor is the map's at the network-equivalent JAK1 level the drug reaches
    dosing = [hooks.Dosing("ruxolitinib", 20.0, 0.5, 300.0, 400.0)]
    fine = drugs.factors(t[on][:3], dosing, step=1.0, library=default_drugs())  # no map: the motility proxy
    np.testing.assert_allclose(fine["invasion_factor"], proxy[on][:3])
    k = 48
    offsets = ((np.arange(k) + 0.5) / k - 0.5)
    sub = (t[on][:3, None] + offsets[None, :]).ravel()
    c = drugs.exposures(sub, dosing, default_drugs())["ruxolitinib"]
    a = preset("ruxolitinib").activity("JAK1", c)
    eq = builtin_network().parameter("ic50_jak1").value * (1.0 / a - 1.0)
    expect = m.factor(JAKi=eq).reshape(3, k).mean(axis=1)
    np.testing.assert_allclose(mapped[on][:3], expect, rtol=1e-12)
    assert not np.allclose(mapped[on], proxy[on])  # the map, not the proxy, decides
    assert drugs.drug_effects(np.array([1.0]), {}, default_drugs(), m)["invasion_factor"][0] == 1.0


def test_scenario_link_resolves_relative_paths_and_fails_at_the_boundary(tmp_path):
    _, path = handmade_map(tmp_path)
    text = (examples_dir() / "breast_surgery.toml").read_text()
    f = tmp_path / "linked.toml"
    f.write_text(text + '\n[tissue]\ninvasion_map = "map.json"\n')
    sc = load_scenario(f)
    assert sc.tissue.invasion_map == str(path.resolve())
    assert Scenario.from_dict(sc.to_dict()).tissue == sc.tissue
    bad = tmp_path / "bad.toml"
    bad.write_text(text + '\n[tissue]\ninvasion_map = "nowhere.json"\n')
    with pytest.raises(ScenarioError, match="tissue.invasion_map"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="invasion_mop|did you mean"):
        Scenario.from_dict({"tissue": {"invasion_mop": "x"}})


def test_invasion_map_does_not_depend_on_the_executor_and_is_cached(tmp_path, monkeypatch):
    from seedsoil.tissue import invasion

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(invasion, "_cache_dir", lambda: cache)
    sc = small_scenario()
    grid = {"ROCKi": [1000.0]}
    a = invasion_map(sc, grid, replicates=2, executor=InProcess(), cache=False)
    ex = LocalProcesses(2)
    try:
        b = invasion_map(sc, grid, replicates=2, executor=ex, cache=False)
    finally:
        ex.close()
    pd.testing.assert_frame_equal(a.table, b.table)
    assert list(a.table["ROCKi"]) == [0.0, 1000.0]
    assert a.table["events"].sum() > 0
    # ROCK inhibition lowers invasion depth (paired replicates)
    assert a.table["depth_um"].iloc[1] < a.table["depth_um"].iloc[0]
    c = invasion_map(sc, grid, replicates=2, executor=InProcess())  # writes the cache
    files = list(cache.glob("invasion_*.json"))
    assert len(files) == 1
    d = invasion_map(sc, grid, replicates=2, executor="nonsense-would-fail-if-run")  # read from the cache
    pd.testing.assert_frame_equal(c.table, d.table, check_dtype=False)
    assert math.isclose(c.table["relative"].iloc[0], 1.0)


def test_tissue_map_cli_feeds_a_patient_run(cli, tmp_path, examples_dir):
    """`seedsoil tissue-map` writes a map; a patient scenario linking it runs with a drug."""
    (tmp_path / "edge.toml").write_text('[scenario]\nname = "tiny edge"\n[domain]\nheight = "150 um"\n'
                                        'width = "250 um"\n[vessel]\nposition = "200 um"\n'
                                        'intravasation_rate = "0.2 / min"\n[simulation]\nduration = "3 h"\n')
    res = cli("tissue-map", "edge.toml", "--jaki", "300", "--replicates", "2", "--workers", "1",
              "--out", "map.json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    m = InvasionMap.load(tmp_path / "map.json")
    assert list(m.table["JAKi"]) == [0.0, 300.0] and "events" in res.stdout
    again = cli("tissue-map", "edge.toml", "--jaki", "300", "--out", "map.json", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    bad = cli("tissue-map", "edge.toml", "--jaki", "ten", "--out", "m2.json", cwd=tmp_path)
    assert bad.returncode == 2 and "--jaki" in bad.stderr and "Traceback" not in bad.stderr
    patient = (examples_dir / "drugs_after_surgery.toml").read_text()
    (tmp_path / "patient.toml").write_text(patient + '\n[tissue]\ninvasion_map = "map.json"\n')
    assert m.table["events"].iloc[0] > 0  # the reference point needs escapes for a relative rate (fixed seed)
    run = cli("run", "patient.toml", "--out", "run", "--no-report", "--no-variants", cwd=tmp_path)
    assert run.returncode == 0, run.stderr


def test_invasion_map_on_the_per_agent_path():
    """path="agent": the exposure is the level held in the vessel, each cell sees what reaches it;
    the map records the path and each point is exactly the per-agent run with that exposure."""
    from seedsoil.rng import TISSUE_MAP_REPLICATE, stream
    from seedsoil.tissue.simulate import simulate_tissue

    sc = small_scenario()
    m = invasion_map(sc, {"JAKi": [300.0]}, replicates=1, workers=1, path="agent", cache=False)
    assert m.scenario["signalling"]["path"] == "agent"
    seed = int(stream(sc.seed, TISSUE_MAP_REPLICATE, 0).integers(2**62))
    run = simulate_tissue(sc.with_parameters(signalling__path="agent").with_exposure({"JAKi": 300.0}), seed=seed,
                          snapshots=False, threads=1)
    row = m.table.set_index("JAKi").loc[300.0]
    assert row["events"] == run.summary["escape_events"]
    assert row["depth_um"] == run.summary["depth_top10_um"]
    assert run.timeseries["JAKi_tumour_nM"].iloc[-1] < 300.0  # what reaches the cells, below the vessel level
    with pytest.raises(ScenarioError, match="path"):
        invasion_map(sc, {"JAKi": [300.0]}, replicates=1, workers=1, path="cells")
