"""Tissue run directories (seedsoil.tissue.output) and ``seedsoil tissue``: contents, round
trip (bitwise), Zarr layout and units, PNGs and the GIF, atomic --force behaviour,
reproducibility, and one-line errors with exit code 2.

Library tests give ``simulate_tissue`` fixed cell-scale inputs (no cell solver) on a
small domain whose vessel is close to the edge, so escapes happen within 90 min. The
CLI tests run the real example (examples/tissue_edge.toml) shortened to 2 h.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seedsoil import __version__
from seedsoil.errors import RunExistsError, ScenarioError
from seedsoil.tissue import TissueScenario, simulate_tissue
from seedsoil.tissue.model import CellInputs
from seedsoil.tissue.output import (AGENTS, GIF, INVASION_PNG, plot_invasion, plot_snapshot, read_tissue_run,
                                    write_tissue_run)
from seedsoil.tissue.simulate import SNAPSHOT_COLUMNS

CELLS = CellInputs({"amoeboid": 0.6, "mesenchymal": 0.2, "hybrid": 0.1, "both_low": 0.1}, 0.5, 1.0)
SMALL = {
    "scenario": {"name": "small edge"},
    "simulation": {"seed": 3, "duration": "90 min", "save_every": "15 min"},
    "domain": {"width": "150 um", "height": "100 um"},
    "tumour": {"edge": "60 um"},
    "vessel": {"position": "90 um", "intravasation_rate": "0.5 / min"},
    "chemotaxis": {"speed": "0.5 um/min"},
    "signalling": {"path": "population"},
}


def _scenario(**changes) -> TissueScenario:
    d = json.loads(json.dumps(SMALL))
    for key, value in changes.items():
        group, leaf = key.split("__")
        d.setdefault(group, {})[leaf] = value
    return TissueScenario.from_dict(d)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """numba's parallel kernels on a few dozen agents crawl when the machine is oversubscribed
    (results do not depend on the thread count); restore the count afterwards."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture(scope="module")
def result():
    return simulate_tissue(_scenario(), cells=CELLS)


@pytest.fixture(scope="module")
def run_dir(result, tmp_path_factory) -> Path:
    return write_tissue_run(result, tmp_path_factory.mktemp("tissue") / "run", animate=True)


def _files(folder: Path, skip=("run.json",)) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in skip}


# ----------------------------------------------------------------------------- library
def test_the_small_run_has_escapes_and_several_snapshots(result):
    assert len(result.escapes) >= 2  # the escapes table is not trivially empty
    assert len(result.snapshots) == len(result.timeseries) == 7


def test_run_directory_contents(run_dir, result):
    names = {p.name for p in run_dir.iterdir()}
    assert names == {"run.json", "timeseries.parquet", "escapes.parquet", AGENTS, INVASION_PNG, GIF,
                     "snapshot_00min.png", "snapshot_45min.png", "snapshot_90min.png"}
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["seedsoil_version"] == __version__
    assert meta["seed"] == result.seed == 3
    assert meta["scenario_name"] == "small edge"
    assert meta["scenario"] == json.loads(json.dumps(result.scenario.to_dict()))
    assert meta["scenario_hash"] == result.scenario.content_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", meta["content_hash"])
    assert meta["cells"]["dividing_fraction"] == 0.5 and meta["cells"]["mode_fractions"]["amoeboid"] == 0.6
    assert meta["summary"]["escape_events"] == len(result.escapes)
    assert set(meta["timings"]) >= {"simulate_s", "write_s"}
    assert sorted(meta["files"]) == sorted(names)


def test_round_trip_is_bitwise(run_dir, result):
    back = read_tissue_run(run_dir)
    pd.testing.assert_frame_equal(back["timeseries"], result.timeseries, check_exact=True)
    pd.testing.assert_frame_equal(back["escapes"], result.escapes, check_exact=True)
    np.testing.assert_array_equal(back["times"], result.snapshot_times)
    assert len(back["snapshots"]) == len(result.snapshots)
    for got, want in zip(back["snapshots"], result.snapshots):
        assert set(got) == set(SNAPSHOT_COLUMNS)
        for c in SNAPSHOT_COLUMNS:
            assert got[c].dtype == want[c].dtype and got[c].shape == want[c].shape, c
            assert got[c].tobytes() == want[c].tobytes(), c
    assert set(back["matrix"]) == set(result.matrix)
    for k in ("rho", "track"):
        assert back["matrix"][k].tobytes() == result.matrix[k].tobytes()
        assert back["matrix"][k].shape == result.matrix[k].shape
    assert back["matrix"]["voxel_um"] == result.matrix["voxel_um"]
    assert back["scenario"] == result.scenario
    assert back["run"]["seed"] == result.seed


def test_zarr_layout_and_units(run_dir, result):
    import zarr

    g = zarr.open_group(str(run_dir / AGENTS), mode="r")
    assert g.attrs["modes"] == ["amoeboid", "mesenchymal", "hybrid", "both_low"]
    assert g.attrs["dims"] == 2 and g.attrs["domain_hi_um"] == [150.0, 100.0]
    assert g["pos"].attrs["unit"] == "um" and g["times"].attrs["unit"] == "min"
    off = g["offsets"][...]
    assert off[0] == 0 and np.all(np.diff(off) >= 0) and off[-1] == g["ids"].shape[0] == g["pos"].shape[0]
    assert [int(n) for n in np.diff(off)] == [len(s["ids"]) for s in result.snapshots]
    assert g["pos"].shape[1] == 2
    assert g["matrix"].attrs["voxel_um"] == 10.0
    assert g["matrix/rho"].shape == result.matrix["rho"].shape


def test_images_are_valid(run_dir, result):
    from PIL import Image

    for png in sorted(run_dir.glob("*.png")):
        with Image.open(png) as im:
            im.verify()
        with Image.open(png) as im:
            assert im.format == "PNG" and 300 < im.width < 1200 and 200 < im.height < 1000, png.name
    with Image.open(run_dir / GIF) as im:
        assert im.format == "GIF"
        assert im.n_frames == len(result.snapshots)


def test_force_and_atomic_replacement(result, tmp_path):
    out = write_tissue_run(result, tmp_path / "r", png=False)
    assert not list(out.glob("*.png")) and not (out / GIF).exists()
    before = (out / "timeseries.parquet").read_bytes()
    with pytest.raises(RunExistsError):
        write_tissue_run(result, out, png=False)
    (out / "stale.txt").write_text("left over from an older run")
    write_tissue_run(result, out, force=True, png=False)
    assert not (out / "stale.txt").exists()  # replaced whole, not merged
    assert (out / "timeseries.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_same_seed_same_files_other_seed_differs(result, run_dir, tmp_path):
    again = write_tissue_run(simulate_tissue(_scenario(), cells=CELLS), tmp_path / "again")
    assert _files(again) == {k: v for k, v in _files(run_dir).items() if k != GIF}  # data and PNGs identical
    other = simulate_tissue(_scenario(), cells=CELLS, seed=4)
    assert other.seed == 4
    assert not other.timeseries.equals(result.timeseries)


def test_run_without_snapshots(tmp_path):
    res = simulate_tissue(_scenario(simulation__duration="30 min"), cells=CELLS, snapshots=False)
    out = write_tissue_run(res, tmp_path / "nosnap", animate=True)
    assert (out / INVASION_PNG).exists() and not list(out.glob("snapshot_*.png")) and not (out / GIF).exists()
    back = read_tissue_run(out)
    assert back["snapshots"] == [] and len(back["times"]) == 0
    pd.testing.assert_frame_equal(back["timeseries"], res.timeseries)


def test_three_dimensional_run(tmp_path):
    sc = _scenario(domain__dimensions=3, domain__depth="30 um", simulation__duration="30 min")
    res = simulate_tissue(sc, cells=CELLS)
    out = write_tissue_run(res, tmp_path / "r3", animate=False)
    back = read_tissue_run(out)
    assert back["snapshots"][-1]["pos"].shape[1] == 3
    assert back["matrix"]["rho"].ndim == 3
    assert back["snapshots"][-1]["pos"].tobytes() == res.snapshots[-1]["pos"].tobytes()
    assert len(list(out.glob("snapshot_*.png"))) == 3


@pytest.mark.parametrize("seed", [-3, 1.5, 2**63, True, "7"])
def test_bad_seed_is_a_scenario_error_before_any_work(seed):
    """Not a NumPy traceback (-3), not a silent truncation (1.5): one message naming the
    value and the allowed range, the same as the patient scale's."""
    with pytest.raises(ScenarioError) as exc:
        simulate_tissue(_scenario(), cells=CELLS, seed=seed)
    assert str(exc.value) == f"seed = {seed!r}: must be an integer in [0, 2^63)"
    assert exc.value.field == "seed"


@pytest.mark.parametrize("threads", [0, -4, 1.5, True, "2"])
def test_bad_thread_count_is_a_scenario_error(threads):
    import numba

    before = numba.get_num_threads()
    with pytest.raises(ScenarioError) as exc:
        simulate_tissue(_scenario(), cells=CELLS, threads=threads)
    assert str(exc.value).startswith(f"threads = {threads!r}: must be an integer >= 1")
    assert exc.value.field == "threads"
    assert numba.get_num_threads() == before


def test_numpy_integer_seed_is_the_same_run(result):
    again = simulate_tissue(_scenario(), cells=CELLS, seed=np.int64(result.seed), snapshots=False, threads=1)
    assert again.seed == result.seed and type(again.seed) is int
    pd.testing.assert_frame_equal(again.timeseries, result.timeseries, check_exact=True)


def test_report_command_names_a_tissue_run_directory(run_dir, cli, tmp_path):
    before = _files(run_dir, skip=())
    res = cli("report", run_dir, cwd=tmp_path)
    line = _one_line_error(res)
    assert "is a tissue run directory" in line and "seedsoil tissue" in line and "unknown section" not in line
    assert _files(run_dir, skip=()) == before


def test_plot_functions_take_and_return_axes(result):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot(121)
    assert plot_snapshot(result.snapshots[-1], result.scenario, result.matrix, ax=ax, time=90.0) is ax
    assert "90 min" in ax.get_title()
    ax2 = fig.add_subplot(122)
    assert plot_invasion(result.timeseries, ax=ax2) is ax2
    assert plot_snapshot(result.snapshots[0], result.scenario).figure is not fig  # a new, unregistered figure


def _gif_colour_tables(data: bytes) -> tuple[int, list[bool]]:
    """(entries of the global colour table, [has a local colour table] per image) of a GIF file."""
    assert data[:6] in (b"GIF87a", b"GIF89a")
    flags, pos = data[10], 13
    size = 2 ** ((flags & 7) + 1) if flags & 0x80 else 0
    pos += 3 * size
    local = []
    while data[pos] != 0x3B:  # trailer
        if data[pos] == 0x21:  # extension: label, then data sub-blocks
            pos += 2
        elif data[pos] == 0x2C:  # image descriptor, optional local table, LZW code size, data sub-blocks
            image_flags = data[pos + 9]
            local.append(bool(image_flags & 0x80))
            pos += 10 + (3 * 2 ** ((image_flags & 7) + 1) if image_flags & 0x80 else 0) + 1
        else:
            raise AssertionError(f"unexpected GIF block 0x{data[pos]:02x} at {pos}")
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return size, local


def test_gif_frames_share_one_palette_and_legend_colours(run_dir, result):
    """One global palette for every frame (no local colour tables): the legend, identical on
    every frame, is decoded to the same pixels, and its colours are exact."""
    from PIL import Image

    from seedsoil.tissue.output import CAF_COLOUR, MODE_COLOURS, VESSEL_COLOUR, snapshot_figure

    size, local = _gif_colour_tables((run_dir / GIF).read_bytes())
    assert size >= 64 and len(local) == len(result.snapshots) and not any(local)
    fig = snapshot_figure(result.scenario)
    right = fig.axes[1].get_position().x1  # the legend is right of the colour bar's axes
    frames = []
    with Image.open(run_dir / GIF) as im:
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB")))
    legend = [f[:, int(f.shape[1] * right) + 30:] for f in frames]
    for k, strip in enumerate(legend[1:], start=1):
        assert np.array_equal(strip, legend[0]), f"the legend of frame {k} differs from frame 0"
    present = {tuple(int(v) for v in c) for c in legend[0].reshape(-1, 3)}
    for hex_colour in (*MODE_COLOURS.values(), CAF_COLOUR, VESSEL_COLOUR):
        assert tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)) in present, hex_colour


def test_snapshot_has_a_density_colour_bar(result):
    from matplotlib.figure import Figure

    from seedsoil.tissue.output import DENSITY_RANGE

    ax = plot_snapshot(result.snapshots[-1], result.scenario, result.matrix, time=90.0)
    bars = [a for a in ax.figure.axes if a is not ax and "matrix density" in a.get_ylabel()]
    assert len(bars) == 1 and "dimensionless" in bars[0].get_ylabel()
    assert bars[0].get_ylim() == DENSITY_RANGE
    # on the caller's axes: the bar takes its room beside them
    ax = Figure().add_subplot()
    plot_snapshot(result.snapshots[-1], result.scenario, result.matrix, ax=ax)
    assert [a.get_ylabel() for a in ax.figure.axes if a is not ax] == [bars[0].get_ylabel()]
    # without a matrix there is no density to show, and the layout stays
    ax = plot_snapshot(result.snapshots[0], result.scenario, None)
    assert len(ax.figure.axes) == 2 and not ax.figure.axes[1].axison


def test_plot_invasion_takes_the_result_or_its_timeseries(result):
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert plot_invasion(result, ax) is ax
    other = plot_invasion(result.timeseries)
    for a, b in zip(ax.lines, other.lines):
        assert np.array_equal(a.get_xdata(), b.get_xdata()) and np.array_equal(a.get_ydata(), b.get_ydata())
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), result.timeseries["depth_top10_um"])
    assert "µm" in ax.get_ylabel() and "µm" in plot_invasion.__doc__ and "cells" in plot_invasion.__doc__


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def example_copy(examples_dir, tmp_path_factory) -> Path:
    """examples/tissue_edge.toml with the duration cut to 2 h (saves at 0, 1, 2 h)."""
    text = (examples_dir / "tissue_edge.toml").read_text()
    short, n = re.subn(r'(?m)^duration = "24 h"', 'duration = "2 h"', text)
    assert n == 1, "examples/tissue_edge.toml no longer sets duration = \"24 h\""
    folder = tmp_path_factory.mktemp("cli_tissue")
    path = folder / "tissue_edge.toml"
    path.write_text(short)
    (folder / "bad_value.toml").write_text(re.sub(r'(?m)^width = "500 um"', 'width = "-5 um"', text))
    (folder / "bad_key.toml").write_text(text.replace("[matrix]\n", "[matrix]\ndensty = 0.5\n"))
    return path


@pytest.fixture(scope="module")
def cli_runs(cli_many, example_copy):
    """All CLI calls at once: the example with --animate into a new folder, and with --force
    --no-png and the same seed (given explicitly) into a folder holding an older run; two bad
    scenarios; a run into an existing folder without --force. One numba thread each: five
    processes share the machine (results do not depend on the thread count)."""
    folder = example_copy.parent
    (folder / "exists").mkdir()
    (folder / "b").mkdir()
    (folder / "b" / "stale.txt").write_text("from an older run")
    labels_args = {
        "a": ["tissue", example_copy, "--animate", "--threads", "1", "--out", folder / "a"],
        "b": ["tissue", example_copy, "--out", folder / "b", "--force", "--no-png", "--seed", "2011",
              "--threads", "1"],
        "bad_value": ["tissue", folder / "bad_value.toml", "--out", folder / "bad"],
        "bad_key": ["tissue", folder / "bad_key.toml", "--out", folder / "bad"],
        "exists": ["tissue", example_copy, "--out", folder / "exists"],
    }
    return dict(zip(labels_args, cli_many(list(labels_args.values()), cwd=folder))), folder


def _one_line_error(res) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_cli_runs_the_example(cli_runs):
    runs, folder = cli_runs
    res = runs["a"]
    assert res.returncode == 0, res.stderr
    for label in ("tumour cells (start → end)", "invading cells", "escape rate", "95 % CI", "track fraction",
                  "wall time"):
        assert label in res.stdout, label
    out = folder / "a"
    meta = json.loads((out / "run.json").read_text())
    assert meta["scenario_name"] == "tissue_edge" and meta["seed"] == 2011
    assert meta["scenario"]["simulation"]["duration"] == 120.0
    assert meta["scenario"]["domain"]["height"] == 400.0
    assert len(list(out.glob("snapshot_*.png"))) == 3 and (out / INVASION_PNG).exists()
    from PIL import Image

    with Image.open(out / GIF) as im:
        assert im.n_frames == 3 == len(read_tissue_run(out)["snapshots"])


def test_cli_force_same_seed_same_data_and_no_png(cli_runs):
    """--force replaces the older run whole; same scenario and seed with other options
    (--animate vs --no-png): identical data."""
    runs, folder = cli_runs
    assert runs["b"].returncode == 0, runs["b"].stderr
    a, b = _files(folder / "a"), _files(folder / "b")
    assert "stale.txt" not in b
    assert not [n for n in b if n.endswith((".png", ".gif"))]
    assert {k: v for k, v in a.items() if not k.endswith((".png", ".gif"))} == b
    m1, m2 = (json.loads((folder / d / "run.json").read_text()) for d in "ab")
    for m in (m1, m2):
        for key in ("created", "timings", "files"):
            m.pop(key)
    assert m1 == m2


def test_cli_bad_value_and_unknown_key(cli_runs):
    runs, folder = cli_runs
    line = _one_line_error(runs["bad_value"])
    assert "domain.width" in line and "-5 um" in line and "um" in line and "[50, 100000]" in line
    line = _one_line_error(runs["bad_key"])
    assert "matrix.densty" in line and "did you mean 'matrix.density'" in line
    assert not (folder / "bad").exists()


def test_cli_existing_directory_needs_force(cli_runs):
    runs, folder = cli_runs
    line = _one_line_error(runs["exists"])
    assert "exists" in line and "--force" in line
    assert list((folder / "exists").iterdir()) == []
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left behind
