"""Per-agent path outputs (seedsoil.tissue.output): the substrate fields and each agent's
network species in ``agents.zarr`` (round trip bitwise, units and dims), the field and
species panels of the snapshot PNGs and of the GIF, and the CLI summary's field levels.

One short agent-path run (1 h, saved every 30 min, a 500 x 150 um edge) serves every test.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from seedsoil.tissue import TissueScenario, simulate_tissue
from seedsoil.tissue.output import (AGENTS, FIELD_UNIT, GIF, PANEL_SPECIES, draw_snapshot, field_panels,
                                    field_ranges, plot_fields, read_agents_zarr, read_tissue_run, snapshot_figure,
                                    write_tissue_run)
from seedsoil.tissue.simulate import TissueResult

SCENARIO = {"signalling": {"path": "agent"}, "simulation": {"duration": "1 h", "save_every": "30 min"},
            "domain": {"height": "150 um"}}


@pytest.fixture(scope="module")
def result():
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)  # a few dozen agents: one thread is fastest on a shared machine
    try:
        yield simulate_tissue(TissueScenario.from_dict(SCENARIO))
    finally:
        numba.set_num_threads(before)


@pytest.fixture(scope="module")
def run_dir(result, tmp_path_factory) -> Path:
    return write_tissue_run(result, tmp_path_factory.mktemp("fields") / "run", animate=True)


def test_the_run_has_fields_and_species(result):
    assert len(result.field_frames) == len(result.snapshots) == 3
    assert result.species_names and PANEL_SPECIES in result.species_names
    assert set(result.field_frames[0]) == {"IL6", "JAKi", "ROCKi", "voxel_um"}
    assert float(np.max(result.field_frames[-1]["IL6"])) > 0  # the CAFs' cytokine: a field worth drawing


def _same(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    assert got.tobytes() == want.tobytes(), what


def test_round_trip_of_fields_and_species_is_bitwise(run_dir, result):
    for back in (read_tissue_run(run_dir), vars(TissueResult.from_store(run_dir))):
        assert back["species_names"] == result.species_names and isinstance(back["species_names"], tuple)
        assert len(back["field_frames"]) == len(result.field_frames)
        for k, (got, want) in enumerate(zip(back["field_frames"], result.field_frames)):
            assert list(got) == list(want)  # substrates in order, then voxel_um
            for name in want:
                _same(got[name], want[name], f"frame {k} {name}")
        for k, (got, want) in enumerate(zip(back["snapshots"], result.snapshots)):
            assert set(got) == set(want) and "species" in got
            for c in want:
                _same(got[c], want[c], f"snapshot {k} {c}")
    # the tables only: no arrays read, the species names still known
    light = TissueResult.from_store(run_dir, agents=False)
    assert light.field_frames == [] and light.snapshots == [] and light.species_names == result.species_names


def test_zarr_fields_group_and_species_column(run_dir, result):
    import zarr

    g = zarr.open_group(str(run_dir / AGENTS), mode="r")
    f = g["fields"]
    assert f.attrs["unit"] == FIELD_UNIT == "nM"
    assert f.attrs["voxel_um"] == 20.0 and f.attrs["origin_um"] == [0.0, 0.0] and f.attrs["axes"] == ["x", "y"]
    assert f.attrs["substrates"] == ["IL6", "JAKi", "ROCKi"]
    for name in f.attrs["substrates"]:
        a = f[name]
        assert a.shape == (3, 25, 8) and a.dtype == np.float64  # 500 x 150 um in 20 um voxels
        assert a.attrs["unit"] == "nM" and tuple(a.metadata.dimension_names) == ("snapshot", "x", "y")
    sp = g["species"]
    assert sp.shape == (g["ids"].shape[0], len(result.species_names))
    assert tuple(sp.metadata.dimension_names) == ("agent_row", "species")
    assert sp.attrs["species_names"] == list(result.species_names) == g.attrs["species_names"]
    assert sp.attrs["unit"] == "1"
    off = g["offsets"][...]
    np.testing.assert_array_equal(sp[off[-2]:off[-1]], result.snapshots[-1]["species"])
    assert read_agents_zarr(run_dir / AGENTS)["species_names"] == result.species_names


def test_population_run_has_no_field_output(tmp_path):
    """The population path writes no fields group, no species column or attribute, and reads
    back with empty field frames and no species."""
    import zarr

    from seedsoil.tissue.model import CellInputs

    cells = CellInputs({"amoeboid": 0.5, "mesenchymal": 0.5, "hybrid": 0.0, "both_low": 0.0}, 0.5, 1.0)
    sc = TissueScenario.from_dict({**SCENARIO, "signalling": {"path": "population"},
                                   "simulation": {"duration": "10 min", "save_every": "10 min"}})
    res = simulate_tissue(sc, cells=cells, threads=1)
    assert field_panels(res) == []
    out = write_tissue_run(res, tmp_path / "pop", png=False)
    g = zarr.open_group(str(out / AGENTS), mode="r")
    assert "fields" not in g and "species" not in g and "species_names" not in g.attrs
    back = TissueResult.from_store(out)
    assert back.field_frames == [] and back.species_names == ()
    assert all("species" not in s for s in back.snapshots)
    assert len(snapshot_figure(sc).axes) == 2


def test_snapshot_figure_has_a_panel_per_substrate_and_species(result):
    panels = field_panels(result)
    assert panels == ["IL6", "JAKi", "ROCKi", PANEL_SPECIES]
    ranges = field_ranges(result)
    assert ranges["IL6"] == (0.0, max(float(f["IL6"].max()) for f in result.field_frames))
    assert ranges["JAKi"] == (0.0, 1.0)  # zero everywhere: a 0-1 nM bar, the title says so
    k = len(result.snapshots) - 1
    fig = draw_snapshot(result, k)
    assert len(fig.axes) == 2 + 2 * len(panels)
    tissue = fig.axes[0]
    for i, name in enumerate(panels):
        ax, cax = fig.axes[2 + 2 * i], fig.axes[3 + 2 * i]
        assert ax.get_position().y1 < tissue.get_position().y0  # under the tissue
        if name == PANEL_SPECIES:
            assert ax.get_label() == f"species:{name}" and "activity" in cax.get_ylabel()
            assert cax.get_ylim() == ranges[name]
            continue
        assert ax.get_label() == f"field:{name}"
        (image,) = ax.images
        np.testing.assert_array_equal(image.get_array(), result.field_frames[k][name].T)
        assert image.get_clim() == ranges[name]
        assert cax.get_ylabel() == f"{name} (nM)"
        voxel = result.field_frames[k]["voxel_um"]
        assert image.get_extent() == [0.0, 25 * voxel, 0.0, 8 * voxel]
        assert ax.get_xlim() == tissue.get_xlim() and ax.get_ylim() == tissue.get_ylim()
    assert "max" in fig.axes[2].get_title() and "0 nM everywhere" in fig.axes[4].get_title()
    # the species panel: tumour cells filled by their own JAK1 activity
    sp = fig.axes[2 + 2 * panels.index(PANEL_SPECIES)]
    snap = result.snapshots[k]
    tumour = (snap["kind"] == 0) & (snap["state"] == 0)
    filled = [c for c in sp.collections if len(c.get_facecolors()) == int(tumour.sum())]
    assert filled, "no collection with one face per active tumour cell"
    from matplotlib import colormaps

    from seedsoil.tissue.output import SPECIES_CMAP

    jak1 = snap["species"][:, list(result.species_names).index(PANEL_SPECIES)][tumour]
    want = colormaps[SPECIES_CMAP]((jak1 - ranges[PANEL_SPECIES][0]) / np.diff(ranges[PANEL_SPECIES])[0])
    np.testing.assert_allclose(filled[0].get_facecolors(), want)


def test_three_dimensional_fields_are_drawn_as_the_mean_over_z(result):
    sc = TissueScenario.from_dict({**SCENARIO, "domain": {"height": "150 um", "dimensions": 3, "depth": "60 um"}})
    frame = {"IL6": np.arange(25 * 8 * 3, dtype=float).reshape(25, 8, 3), "voxel_um": np.float64(20.0)}
    snap = {c: v for c, v in result.snapshots[-1].items()}
    snap["pos"] = np.column_stack([snap["pos"], np.full(len(snap["pos"]), 30.0)])
    fig = snapshot_figure(sc, ["IL6"])
    (ax,) = plot_fields(snap, sc, frame, fig.axes[2:], panels=["IL6"])
    np.testing.assert_array_equal(ax.images[0].get_array(), frame["IL6"].mean(axis=2).T)
    assert "mean over z" in fig.axes[3].get_ylabel()


def test_pngs_and_gif_carry_the_panels(run_dir, result):
    from PIL import Image

    pngs = sorted(run_dir.glob("snapshot_*.png"))
    assert [p.name for p in pngs] == ["snapshot_00min.png", "snapshot_30min.png", "snapshot_60min.png"]
    fig = snapshot_figure(result.scenario, field_panels(result))
    w, h = fig.get_size_inches() * 100
    plain_w, plain_h = snapshot_figure(result.scenario).get_size_inches() * 100
    for p in pngs:
        with Image.open(p) as im:
            assert np.allclose(im.size, (w, h), atol=1) and im.height > plain_h + 300 and w == plain_w, p.name
    # the last PNG is the figure draw_snapshot makes, pixel for pixel
    buf = io.BytesIO()
    draw_snapshot(result, len(result.snapshots) - 1).savefig(buf, format="png", dpi=100)
    with Image.open(buf) as a, Image.open(pngs[-1]) as b:
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    with Image.open(run_dir / GIF) as im:
        assert im.n_frames == len(result.snapshots)
        # the GIF's frames (80 dpi) are the PNG's figure, panels included
        assert np.allclose(im.size, fig.get_size_inches() * 80, atol=1)


def test_cli_summary_shows_field_levels(result, capsys, monkeypatch):
    from seedsoil import cli

    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    cli.print_tissue_summary(result)
    text = capsys.readouterr().out
    assert "field levels at the tumour cells, end (nM)" in text
    assert f"IL6 {result.timeseries['IL6_tumour_nM'].iloc[-1]:.3g}, JAKi 0, ROCKi 0" in text
    assert "JAK1 activity" in text
