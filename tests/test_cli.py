"""The ``seedsoil`` command line: params, run (run directory, --force, reproducibility,
summary.csv), validate --list, help screens and tables in an 80-column terminal, the
mean-field output, which command a TOML file or a folder belongs to, and the seed checks
every scale shares. Commands run as subprocesses (``python -m seedsoil.cli``);
independent ones run concurrently to keep the file quick."""
from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from seedsoil import simulate
from seedsoil.body.covariates import default_links
from seedsoil.params import ALL_SCALES, load_library
from seedsoil.scenario import Scenario, load_scenario
from seedsoil.store import TABLES, input_hash

LIB = load_library(ALL_SCALES)
#: `seedsoil params` lists the library, then the coefficients of the covariate links (--grep: by name)
LINK_ROWS = default_links().table()


def param_rows(grep: str | None = None) -> list[dict]:
    """The rows `seedsoil params [--grep WORD]` shows."""
    return LIB.table(grep=grep) + [r for r in LINK_ROWS if not grep or grep.lower() in r["name"].lower()]
OTHER_SEED = 12345
REPO_ROOT = Path(__file__).resolve().parents[1]
SRC_DIR = REPO_ROOT / "src"


def _no_traceback(res) -> None:
    assert "Traceback" not in res.stderr, res.stderr


# ----------------------------------------------------------------------------- params / validate
@pytest.fixture(scope="module")
def info_runs(cli_many, tmp_path_factory):
    commands = {
        "table": ["params"],
        "grep": ["params", "--grep", "shedding"],
        "json": ["params", "--format", "json"],
        "grep_json": ["params", "--grep", "IL-1beta", "--format", "json"],
        "markdown": ["params", "--format", "markdown"],
        "bad_format": ["params", "--format", "xml"],
        "validate_list": ["validate", "--list"],
    }
    results = cli_many(list(commands.values()), cwd=tmp_path_factory.mktemp("cli_info"))
    return dict(zip(commands, results))


def test_params_table(info_runs):
    res = info_runs["table"]
    _no_traceback(res)
    assert res.returncode == 0, res.stderr
    assert f"{len(param_rows())} parameters" in res.stdout
    for row in param_rows():
        assert row["name"] in res.stdout, row["name"]
    for header in ("name", "value", "unit", "range", "source"):
        assert header in res.stdout


def test_params_grep(info_runs):
    res = info_runs["grep"]
    assert res.returncode == 0, res.stderr
    rows = param_rows(grep="shedding")
    assert 0 < len(rows) < len(LIB)
    assert f"{len(rows)} parameters" in res.stdout
    for row in rows:
        assert row["name"] in res.stdout
    assert "shedding.rate" in res.stdout
    assert "primary.gompertz.rate_constant" not in res.stdout


def test_params_json(info_runs):
    res = info_runs["json"]
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["name"] for r in rows] == [r["name"] for r in param_rows()]
    for r in rows:
        assert isinstance(r["source"], str) and r["source"].strip(), r["name"]
        assert "unit" in r and isinstance(r["unit"], str), r["name"]
        if r["scale"] == "covariate_links":
            continue
        p = LIB[r["name"]]
        assert r["value"] == p.value and r["unit"] == p.unit and r["scale"] == p.scale
        assert r["range"] == (str(p.range) if p.range else " | ".join(p.choices or ()))
        assert set(r) >= {"scale", "name", "value", "unit", "range", "source", "note"}


def test_params_grep_json_matches_the_library_filter(info_runs):
    res = info_runs["grep_json"]
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert rows == json.loads(json.dumps(LIB.table(grep="IL-1beta")))
    assert rows and all("il-1beta" in " ".join((r["name"], r["note"], r["source"], r["unit"])).lower()
                        for r in rows)


def test_params_markdown(info_runs):
    res = info_runs["markdown"]
    assert res.returncode == 0, res.stderr
    lines = res.stdout.rstrip("\n").split("\n")
    assert lines[0] == "| parameter | value | unit | allowed | source | meaning |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert len(lines) == len(param_rows()) + 2
    for line, name in zip(lines[2:], [r["name"] for r in param_rows()]):
        assert line.startswith(f"| {name} | ") and line.endswith(" |")
        cells = re.split(r"(?<!\\)\|", line)[1:-1]  # split on unescaped pipes
        assert len(cells) == 6, line


def test_params_bad_format_is_a_one_line_error(info_runs):
    res = info_runs["bad_format"]
    _no_traceback(res)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "--format" in res.stderr


def test_validate_list(info_runs):
    from seedsoil.validate import all_cases

    res = info_runs["validate_list"]
    _no_traceback(res)
    assert res.returncode == 0, res.stderr
    cases = all_cases()
    assert cases
    for name in cases:
        assert name in res.stdout, name
    assert "checks," not in res.stdout  # listed, not run (a run ends with "N cases, M checks, K failed")


# ----------------------------------------------------------------------------- run
def short_scenario_text(example: Path) -> str:
    text = example.read_text(encoding="utf-8")
    new, n = re.subn(r'(?m)^follow_up\s*=\s*"[^"]*"', 'follow_up = "400 day"', text)
    assert n == 1, "the example no longer sets simulation.follow_up on its own line"
    return new


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(cli, cli_many, breast_example, tmp_path_factory):
    work = tmp_path_factory.mktemp("cli_run")
    scenario = work / "short.toml"
    scenario.write_text(short_scenario_text(breast_example), encoding="utf-8")
    first = cli("run", "short.toml", "--out", "runA", "--no-report", cwd=work)  # may compile the engine
    assert first.returncode == 0, first.stderr
    before = snapshot(work / "runA")
    shutil.copytree(work / "runA", work / "runC")
    again, same_seed, forced = cli_many([
        ["run", "short.toml", "--out", "runA", "--no-report"],
        ["run", "short.toml", "--out", "runB", "--no-report"],
        ["run", "short.toml", "--out", "runC", "--no-report", "--force", "--seed", str(OTHER_SEED)],
    ], cwd=work)
    return {"work": work, "scenario": scenario, "first": first, "before": before, "again": again,
            "same_seed": same_seed, "forced": forced}


def read_tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}


def test_run_writes_a_run_directory(runs):
    res, work = runs["first"], runs["work"]
    _no_traceback(res)
    out = work / "runA"
    sc = load_scenario(runs["scenario"])
    seed = sc.simulation.seed
    assert seed is not None and seed != OTHER_SEED
    meta = json.loads((out / "run.json").read_text())
    assert {"scenario", "seed", "seedsoil_version", "content_hash", "engine", "summary"} <= set(meta)
    assert meta["seed"] == seed and meta["engine"] == "stochastic" and meta["variant"] is None
    assert re.fullmatch(r"[0-9a-f]{64}", meta["content_hash"])
    assert isinstance(meta["seedsoil_version"], str) and meta["seedsoil_version"]
    assert Scenario.from_dict(meta["scenario"]) == sc
    assert meta["content_hash"] == input_hash(sc, seed, "stochastic")
    assert meta["scenario"]["simulation"]["follow_up"] == 400.0
    tables = read_tables(out)
    ts = tables["timeseries"]
    assert len(ts) > 10 and ts["day"].iloc[-1] == pytest.approx(meta["summary"]["end_day"])
    assert {"day", "cells_shed", "cells_arrived", "colonies_started"} <= set(ts.columns)
    assert len(tables["colonies"]) == ts["colonies_started"].iloc[-1]
    assert "end" in set(tables["events"]["event"])
    assert (out / "summary.csv").is_file()
    assert not (out / "report.html").exists()  # --no-report
    # one folder per variant, with its own run.json and tables
    assert sc.variant_names()
    vdirs = [d for d in (out / "variants").iterdir() if d.is_dir()]
    assert len(vdirs) == len(sc.variant_names())
    for vdir in vdirs:
        vmeta = json.loads((vdir / "run.json").read_text())
        assert vmeta["variant"] in sc.variant_names() and vmeta["seed"] == seed
        assert Scenario.from_dict(vmeta["scenario"]) == sc.variant(vmeta["variant"])
        read_tables(vdir)
    # no temporary folders left next to the runs (atomic write: .<name>.tmp-* / .<name>.old-*)
    assert not [p.name for p in work.iterdir() if p.name.startswith(".")]


def test_run_matches_the_library_call(runs):
    sc = load_scenario(runs["scenario"])
    res = simulate(sc, seed=sc.simulation.seed)
    tables = read_tables(runs["work"] / "runA")
    pd.testing.assert_frame_equal(tables["timeseries"], res.timeseries, check_exact=True)
    pd.testing.assert_frame_equal(tables["colonies"], res.colonies, check_exact=True, check_categorical=False)


def test_rerun_without_force_exits_2_and_keeps_the_run(runs):
    res = runs["again"]
    _no_traceback(res)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--force" in lines[0] and "runA" in lines[0]
    assert snapshot(runs["work"] / "runA") == runs["before"]


def test_same_seed_gives_identical_tables(runs):
    assert runs["same_seed"].returncode == 0, runs["same_seed"].stderr
    a, b = runs["work"] / "runA", runs["work"] / "runB"
    for sub in [Path("."), *[p.relative_to(a) for p in (a / "variants").iterdir()]]:
        ta, tb = read_tables(a / sub), read_tables(b / sub)
        for name in TABLES:
            pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True)
    ma, mb = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert ma["content_hash"] == mb["content_hash"] and ma["scenario"] == mb["scenario"]


def test_force_replaces_the_run(runs):
    res = runs["forced"]
    _no_traceback(res)
    assert res.returncode == 0, res.stderr
    c = runs["work"] / "runC"
    meta = json.loads((c / "run.json").read_text())
    assert meta["seed"] == OTHER_SEED
    assert json.loads((c / "variants" / next((c / "variants").iterdir()).name / "run.json").read_text())["seed"] \
        == OTHER_SEED
    old = read_tables(runs["work"] / "runA")["timeseries"]
    assert not read_tables(c)["timeseries"].equals(old)
    assert meta["content_hash"] != json.loads((runs["work"] / "runA" / "run.json").read_text())["content_hash"]


def test_summary_csv_holds_typed_values_one_row_per_run(runs):
    """summary.csv: a row per run label, numbers as numbers (days in *_day / *_days
    columns, counts as integers), the same values as run.json; no formatted strings."""
    work = runs["work"]
    text = (work / "runA" / "summary.csv").read_text()
    assert " d (" not in text and "inf" not in text
    table = pd.read_csv(work / "runA" / "summary.csv")
    sc = load_scenario(runs["scenario"])
    assert list(table["label"]) == ["base", *sc.variant_names()]
    assert list(table.columns[:3]) == ["label", "engine", "seed"]
    assert (table["engine"] == "stochastic").all() and (table["seed"] == sc.simulation.seed).all()
    for col in ("diagnosis_day", "surgery_day", "end_day", "time_to_relapse_days"):
        assert pd.api.types.is_float_dtype(table[col]), col
    for col in ("shed_before_surgery", "colonies_started_before_surgery", "dormant_cells_at_surgery",
                "metastases_detected"):
        assert pd.api.types.is_integer_dtype(table[col]), col
    assert table["relapse"].dtype == bool and table["death"].dtype == bool
    meta = json.loads((work / "runA" / "run.json").read_text())["summary"]
    base = table.iloc[0]
    for key, value in meta.items():
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            assert pd.isna(base[key]), key  # a time that never came is an empty cell
        elif isinstance(value, str):
            assert base[key] == value, key
        else:
            assert base[key] == pytest.approx(value, rel=1e-12), key
    assert bool(base["death"]) == (meta["death_day"] is not None and math.isfinite(meta["death_day"]))


# ----------------------------------------------------------------------------- help screens
def cli_many_at_80_columns(arg_lists, cwd) -> list[SimpleNamespace]:
    """Like the ``cli_many`` fixture, in an 80-column terminal (a new user's default)."""
    env = dict(os.environ, COLUMNS="80")
    env["PYTHONPATH"] = os.pathsep.join([str(SRC_DIR), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env.pop("FORCE_COLOR", None)
    procs = [subprocess.Popen([sys.executable, "-m", "seedsoil.cli", *map(str, args)], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in arg_lists]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=900)
        out.append(SimpleNamespace(returncode=p.returncode, stdout=stdout, stderr=stderr))
    return out


@pytest.fixture(scope="module")
def helps(tmp_path_factory):
    names = ["main", "run", "trial", "validate", "tissue-map", "sensitivity"]
    args = [["--help"], ["run", "--help"], ["trial", "--help"], ["validate", "--help"], ["tissue-map", "--help"],
            ["sensitivity", "--help"]]
    return dict(zip(names, cli_many_at_80_columns(args, tmp_path_factory.mktemp("help"))))


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", ["main", "run", "trial", "validate", "tissue-map", "sensitivity"])
def test_help_has_no_type_junk(helps, name):
    res = helps[name]
    assert res.returncode == 0, res.stderr
    assert "<bool>" not in res.stdout, res.stdout
    assert not re.search(r"\{\w+\}", res.stdout), res.stdout  # typer >= 0.27 writes {argument} in the usage
    assert "--help" in res.stdout and "Show this message and exit." in _words(res.stdout)
    assert all(len(line) <= 80 for line in res.stdout.splitlines()), res.stdout


def test_help_texts_keep_their_brackets(helps):
    trial, run = helps["trial"].stdout, helps["run"].stdout
    assert "trial TOML file ([trial], [population], [[arm]])" in _words(trial), trial
    assert re.search(r"(?m)^Usage: .*trial \[OPTIONS\] TRIAL_FILE$", trial), trial
    for option in ("--patients", "--executor", "--scheduler", "--workers", "--out", "--resume / --no-resume",
                   "--force / --no-force", "--seed", "--chunk-size", "--report / --no-report"):
        assert option in trial, option
    assert "scenario TOML file" in run and "run directory (default: out/<scenario name>)" in _words(run), run
    assert re.search(r"(?m)^Usage: .*run \[OPTIONS\] SCENARIO$", run), run
    assert re.search(r"(?m)^Usage: .*validate \[OPTIONS\] \[CASES\]\.\.\.$", helps["validate"].stdout)
    tissue_map = _words(helps["tissue-map"].stdout)
    assert "for a patient scenario's [tissue] invasion_map" in tissue_map, tissue_map


def test_cli_dependency_pins_cover_the_installed_versions():
    """pyproject pins typer to the releases whose help screens the tests above were run
    against; the environment running them must be one of those."""
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement

    deps = {Requirement(d).name: Requirement(d) for d in
            tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    for name in ("typer", "rich"):
        spec = deps[name].specifier
        assert any(s.operator == "<" for s in spec), f"{name} needs an upper bound: {spec}"
        assert version(name) in spec, f"installed {name} {version(name)} is outside the pinned {spec}"


# ----------------------------------------------------------------------------- tables at 80 columns
def _tokens(text: str) -> set[str]:
    return set(text.split())


def assert_words_whole(text: str, phrases) -> None:
    """Every word of ``phrases`` appears as a whole token of ``text``: nothing was split."""
    tokens = _tokens(text)
    for phrase in phrases:
        for word in str(phrase).split():
            assert word in tokens, (word, phrase, text)


@pytest.fixture(scope="module")
def narrow(runs):
    work = runs["work"]
    names = ["params", "params_grep", "params_one", "meanfield", "run"]
    args = [["params"], ["params", "--grep", "dormancy"], ["params", "--grep", "dormancy.death_rate"],
            ["run", "short.toml", "--engine", "meanfield", "--seed", "5", "--out", "runMF", "--no-report"],
            ["run", "short.toml", "--out", "runN", "--no-report", "--no-variants"]]
    return work, dict(zip(names, cli_many_at_80_columns(args, work)))


@pytest.mark.parametrize("name, grep", [("params", None), ("params_grep", "dormancy"),
                                        ("params_one", "dormancy.death_rate")])
def test_params_names_whole_at_80_columns(narrow, name, grep):
    res = narrow[1][name]
    assert res.returncode == 0, res.stderr
    rows = param_rows(grep=grep)
    lines = res.stdout.splitlines()
    for row in rows:
        assert any(row["name"] in line for line in lines), row["name"]
    assert all(len(line) <= 80 for line in lines)
    count = "1 parameter" if len(rows) == 1 else f"{len(rows)} parameters"
    assert lines[-1].strip() == count
    if len(rows) == 1:
        assert "1 parameters" not in res.stdout
        assert_words_whole(res.stdout, ["name value unit range source", rows[0]["source"]])


def test_meanfield_run_shows_expectations_and_no_seed(narrow):
    work, results = narrow
    res = results["meanfield"]
    _no_traceback(res)
    assert res.returncode == 0, res.stderr
    title = res.stdout.strip().splitlines()[0]
    assert "meanfield" in title and "seed" in title and "no seed" in title and "5" not in title, title
    assert "--seed is not used" in res.stderr
    from seedsoil.patient import load_result

    rows = load_result(work / "runMF")["base"].summary_rows()
    labels = [label for label, _ in rows]
    for label in ("probability of relapse by end (Poisson)", "expected metastases detected after surgery",
                  "time until one metastasis is expected after surgery", "expected detectable metastases (end)"):
        assert label in labels, label
    assert "relapse" not in labels  # no yes/no relapse from expectations
    assert not re.search(r"│ relapse\s+│", res.stdout)
    meta = json.loads((work / "runMF" / "run.json").read_text())
    assert meta["seed"] is None
    summary = pd.read_csv(work / "runMF" / "summary.csv")
    assert summary["seed"].isna().all() and (summary["engine"] == "meanfield").all()
    p = summary["relapse_probability"].iloc[0]
    assert 0.0 <= p <= 1.0
    shown = dict(rows)["probability of relapse by end (Poisson)"]
    assert shown in res.stdout and shown.endswith(" %"), shown
    if shown == "< 0.01 %":
        assert 100 * p < 0.01
    else:
        assert float(shown.split()[-2]) == pytest.approx(100 * p, rel=0.05), (shown, p)
    # counts are expectations: not rounded to integers
    assert not pd.api.types.is_integer_dtype(summary["colonies_started_before_surgery"])
    lines = res.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert_words_whole(res.stdout, labels + [value for _, value in rows])


def test_stochastic_summary_table_at_80_columns(narrow):
    work, results = narrow
    res = results["run"]
    assert res.returncode == 0, res.stderr
    assert "stochastic engine, seed" in res.stdout.splitlines()[0]
    from seedsoil.patient import load_result

    rows = load_result(work / "runN")["base"].summary_rows()
    assert_words_whole(res.stdout, [label for label, _ in rows] + [value for _, value in rows])
    assert all(len(line) <= 80 for line in res.stdout.splitlines())


# ----------------------------------------------------------------------------- trial tables
def _trial_result(design: str) -> SimpleNamespace:
    """A two-arm trial whose treated arm does not reach its median OS, with the tables
    ``seedsoil trial`` prints (statistics of seedsoil.cohort.stats)."""
    from seedsoil.cohort import stats

    rng = np.random.default_rng(7)
    n, control, treated = 60, "surgery only", "IL-1b mimetic 12 months"
    frames = []
    for arm, rate in ((control, 1 / 600), (treated, 1 / 9000)):
        t = -np.log(rng.random(n)) / rate
        event = t < 4000.0
        t = np.minimum(t, 4000.0)
        frames.append(pd.DataFrame({"patient": np.arange(n), "arm": arm, "dmfs_days": t, "dmfs_event": event,
                                    "os_days": t, "os_event": event, "relapse_days": t,
                                    "relapse_status": event.astype(int), "n_mets_at_relapse": 1.0}))
    df = pd.concat(frames, ignore_index=True)
    paired = design == "paired"
    tables = {"endpoints": stats.endpoint_summary(df, 3652.5),
              "hazard_ratios_dmfs": stats.hazard_ratios(df, "dmfs", control=control, paired=paired),
              "logrank_dmfs": stats.logrank(df, "dmfs", control=control)}
    trial = SimpleNamespace(name="t", patients=n, design=design, horizon_days=3652.5, control=control)
    return SimpleNamespace(trial=trial, tables=tables)


def _printed(monkeypatch, *calls) -> str:
    from rich.console import Console

    from seedsoil import cli

    buf = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buf, width=80, color_system=None))
    for fn, *args in calls:
        getattr(cli, fn)(*args)
    return buf.getvalue()


@pytest.mark.parametrize("design", ["paired", "randomized"])
def test_trial_tables_at_80_columns(monkeypatch, design):
    result = _trial_result(design)
    endpoints = result.tables["endpoints"]
    assert not endpoints["median_os_reached"].iloc[1] and math.isinf(endpoints["median_os_days"].iloc[1])
    out = _printed(monkeypatch, ("print_endpoints", result), ("print_comparisons", result, "dmfs"))
    assert "not reached" in out and "inf" not in out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert_words_whole(out, ["median DMFS (days)", "median OS (days)", "DMFS at 10 y", "hazard ratio (95 % CI)",
                             "log-rank χ² (1 df)", "surgery only", "IL-1b mimetic 12 months", "patients",
                             "relapses", "deaths", "restricted mean DMFS to 10 y (days)"])
    note = _words(out)
    if design == "paired":
        assert_words_whole(out, ["Cox p (clustered)", "log-rank p (unpaired)"])
        assert "the log-rank test ignores the pairing" in note
    else:
        assert "pairing" not in note and "unpaired" not in note and "clustered" not in note
        assert_words_whole(out, ["Cox p", "log-rank p"])


def test_fit_widths_splits_no_word_when_the_table_fits():
    from rich.text import Text

    from seedsoil.cli import fit_widths

    headers = [Text("median DMFS (days)"), Text("name")]
    rows = [[Text("not reached"), Text("drug.ruxolitinib.target.pSTAT3_whole_blood.basis")]]
    assert fit_widths(headers, rows, 66, whole=(1,)) == [18, 48]  # everything on one line
    assert fit_widths(headers, rows, 60, whole=(1,)) == [12, 48]  # "median DMFS" / "(days)"
    assert fit_widths(headers, rows, 55, whole=(1,)) == [7, 48]  # down to the longest word, "reached"
    assert fit_widths(headers, rows, 40, whole=(1,)) is None  # the identifier alone is wider
    assert fit_widths(headers, rows, 54, whole=(1,), fold=False) is None  # "reached" would have to fold
    assert fit_widths(headers, rows, 54, whole=(1,)) == [6, 48]  # headers stay whole, values fold


# ----------------------------------------------------------------------------- file kinds
@pytest.mark.parametrize("name, kind", [("breast_surgery", "patient"), ("luzzi_1998", "patient"),
                                        ("drugs_after_surgery", "patient"), ("tissue_edge", "tissue"),
                                        ("trial_il1b", "trial")])
def test_detect_kind_of_the_examples(examples_dir, name, kind):
    from seedsoil.tomlfile import detect_kind, read_toml

    assert detect_kind(read_toml(examples_dir / f"{name}.toml")) == kind


def test_detect_kind_rules():
    from seedsoil.tomlfile import detect_kind, looks_like_patient

    assert detect_kind({}) == "patient" and not looks_like_patient({})
    assert detect_kind({"arm": [{"name": "a"}]}) == "trial"
    assert detect_kind({"trial": {}, "caf": {}}) == "trial"
    assert detect_kind({"simulation": {}, "caf": {"contractility": 0}}) == "tissue"
    assert detect_kind({"exposure": {"JAKi": "1 nM"}}) == "tissue"
    # a patient scenario with a stray tissue section stays a patient scenario (its loader names the section)
    assert detect_kind({"surgery": {}, "caf": {}}) == "patient"
    assert detect_kind({"tissue": {"invasion_map": "m.json"}, "primary": {}}) == "patient"
    assert looks_like_patient({"primary": {}}) and not looks_like_patient({"simulation": {}, "cafs": {}})


def test_kind_sections_match_the_parameter_library():
    """tomlfile cannot import the library (it is core): its section lists are checked here."""
    from seedsoil.params import load_library
    from seedsoil.scenario import STRUCTURAL
    from seedsoil.tomlfile import PATIENT_SECTIONS, TISSUE_SECTIONS

    def groups(scale):
        return {name.split(".")[0] for name in load_library((scale,))}

    assert TISSUE_SECTIONS == (groups("tissue") - {"simulation"}) | {"exposure"}
    assert PATIENT_SECTIONS == (set(STRUCTURAL) - {"scenario", "simulation"}) | groups("body") | groups("pharm")
    assert not PATIENT_SECTIONS & TISSUE_SECTIONS


@pytest.mark.parametrize("module", ["tomlfile", "seeds"])
def test_core_modules_import_only_errors(module):
    import ast

    tree = ast.parse((SRC_DIR / "seedsoil" / f"{module}.py").read_text())
    local = [(node.module, node.level) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             and (node.level or (node.module or "").startswith("seedsoil"))]
    assert local == [("errors", 1)], local


def test_read_toml_errors(tmp_path):
    from seedsoil.errors import ScenarioError
    from seedsoil.tomlfile import read_toml

    (tmp_path / "latin1.toml").write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "bad.toml").write_text("[trial\n")
    cases = {tmp_path / "missing.toml": "missing.toml: no such scenario file",
             tmp_path: "cannot read it as a UTF-8 text file (IsADirectoryError)",
             tmp_path / "latin1.toml": "cannot read it as a UTF-8 text file (UnicodeDecodeError)",
             tmp_path / "bad.toml": "bad.toml: not valid TOML"}
    for path, words in cases.items():
        with pytest.raises(ScenarioError) as exc:
            read_toml(path)
        assert words in str(exc.value) and exc.value.field == "file"
    with pytest.raises(ScenarioError, match="no such trial file"):
        read_toml(tmp_path / "missing.toml", what="trial")
    # the same wording as the patient scenario loader
    for path in (tmp_path / "missing.toml", tmp_path / "bad.toml", tmp_path / "latin1.toml"):
        with pytest.raises(ScenarioError) as a:
            read_toml(path)
        with pytest.raises(ScenarioError) as b:
            load_scenario(path)
        assert str(a.value).split(":")[:2] == str(b.value).split(":")[:2]


@pytest.fixture(scope="module")
def kind_errors(cli_many, examples_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("kinds")
    (work / "tissue_run").mkdir()
    (work / "tissue_run" / "run.json").write_text(json.dumps({"scale": "tissue", "seed": 1}))
    (work / "unfinished").mkdir()
    (work / "unfinished" / "trial.json").write_text(json.dumps({"complete": False, "spec": {}}))
    (work / "empty").mkdir()
    ex = {name: examples_dir / f"{name}.toml" for name in ("tissue_edge", "trial_il1b", "breast_surgery")}
    cases = {
        "run_tissue": (["run", ex["tissue_edge"]], ["is a tissue scenario", f"seedsoil tissue {ex['tissue_edge']}"]),
        "run_trial": (["run", ex["trial_il1b"]], ["is a trial file", f"seedsoil trial {ex['trial_il1b']}"]),
        "trial_tissue": (["trial", ex["tissue_edge"]], ["is a tissue scenario", "seedsoil tissue"]),
        "trial_patient": (["trial", ex["breast_surgery"]], ["is a patient scenario", "seedsoil run"]),
        "tissue_patient": (["tissue", ex["breast_surgery"]], ["is a patient scenario", "seedsoil run"]),
        "tissue_map_trial": (["tissue-map", ex["trial_il1b"], "--out", work / "m.json", "--jaki", "10"],
                             ["is a trial file", "seedsoil trial"]),
        "run_missing": (["run", work / "nope.toml"], ["nope.toml: no such scenario file"]),
        "run_negative_seed": (["run", ex["breast_surgery"], "--seed", "-3"], ["--seed = -3", "[0, 2^63)"]),
        "trial_huge_seed": (["trial", ex["trial_il1b"], "--seed", str(2**63)], ["--seed", "[0, 2^63)"]),
        "tissue_zero_threads": (["tissue", ex["tissue_edge"], "--threads", "0"], ["--threads = 0", ">= 1"]),
        "tissue_negative_seed": (["tissue", ex["tissue_edge"], "--seed", "-1"], ["--seed = -1", "[0, 2^63)"]),
        "report_tissue": (["report", work / "tissue_run"], ["is a tissue run directory", "seedsoil tissue"]),
        "report_unfinished_trial": (["report", work / "unfinished"], ["unfinished trial", "--resume"]),
        "report_empty": (["report", work / "empty"], ["not a seedsoil run directory", "seedsoil run",
                                                      "seedsoil trial"]),
        "report_missing": (["report", work / "nope"], ["no such folder"]),
    }
    results = cli_many([args for args, _ in cases.values()], cwd=work)
    return work, {name: (res, words) for (name, (_, words)), res in zip(cases.items(), results)}


KIND_CASES = ["run_tissue", "run_trial", "trial_tissue", "trial_patient", "tissue_patient", "tissue_map_trial",
              "run_missing", "run_negative_seed", "trial_huge_seed", "tissue_zero_threads", "tissue_negative_seed",
              "report_tissue", "report_unfinished_trial", "report_empty", "report_missing"]


@pytest.mark.parametrize("name", KIND_CASES)
def test_wrong_input_is_a_one_line_error(kind_errors, name):
    work, results = kind_errors
    res, words = results[name]
    _no_traceback(res)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    text = _words(lines[0])
    for w in words:
        assert w in text, (w, text)
    assert "did you mean" not in text
    assert not (work / "tissue_run" / "report.html").exists() and not (work / "out").exists()


def test_report_rewrites_a_patient_run(runs, cli):
    work = runs["work"]
    folder = work / "runR"
    shutil.copytree(work / "runA", folder)
    assert not (folder / "report.html").exists()
    res = cli("report", folder, cwd=work)
    assert res.returncode == 0, res.stderr
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "seedsoil report" in html


# ----------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("seed", [0, 1, 2**63 - 1, np.int64(5), np.uint64(2**63 - 1), np.int32(3)])
def test_check_seed_accepts_integers(seed):
    from seedsoil.seeds import check_seed

    value = check_seed(seed)
    assert type(value) is int and value == int(seed)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, 2.0, np.float64(2.0), True, np.True_, "3", None, np.int64(-2)])
def test_check_seed_rejects_the_rest(seed):
    from seedsoil.errors import ScenarioError
    from seedsoil.seeds import check_seed

    with pytest.raises(ScenarioError) as exc:
        check_seed(seed, "trial.seed")
    assert str(exc.value) == f"trial.seed = {seed!r}: must be an integer in [0, 2^63)"
    assert exc.value.field == "trial.seed" and exc.value.value is seed


@pytest.mark.parametrize("seed", [-3, 1.5, True, 2**63])
def test_patient_simulation_checks_the_seed(breast_example, seed):
    from seedsoil.body.simulate import simulate_summary
    from seedsoil.errors import ScenarioError

    sc = load_scenario(breast_example)
    for call in (lambda: simulate(sc, seed=seed), lambda: simulate_summary(sc, seed=seed)):
        with pytest.raises(ScenarioError, match=re.escape(f"seed = {seed!r}: must be an integer in [0, 2^63)")):
            call()
