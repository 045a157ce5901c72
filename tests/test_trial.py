"""Virtual trials (seedsoil.cohort.trial): validation, determinism, caching, resume, designs, statistics.

Small trials (tens to a couple of hundred patients) built on the example trial
(examples/trial_il1b.toml). "Identical" means bitwise: the per-patient tables
are compared with ``check_exact=True`` after sorting by (patient, arm).
"""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seedsoil.cohort.trial import (
    Trial,
    TrialStateError,
    allocation,
    load_trial,
    run_trial,
    trial_from_dict,
)
from seedsoil.errors import ScenarioError

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE = EXAMPLES_DIR / "trial_il1b.toml"
BASE_SCENARIO = EXAMPLES_DIR / "breast_surgery.toml"
CONTROL, MIMETIC, BLOCKADE = "surgery only", "IL-1b mimetic 12 months", "IL-1R blockade 12 months"


# --------------------------------------------------------------------------- helpers
def example_text(**replace: str) -> str:
    """The example trial with an absolute scenario path (usable from any folder)."""
    text = EXAMPLE.read_text()
    text = text.replace('scenario = "breast_surgery.toml"', f'scenario = "{BASE_SCENARIO.as_posix()}"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def write(folder: Path, text: str, name: str = "trial.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def sort_table(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["patient", "arm"], kind="stable").reset_index(drop=True)


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(sort_table(a), sort_table(b), check_exact=True)


def patients_file(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "patients.parquet")


def mtimes(out: Path) -> dict[str, int]:
    files = sorted((out / "parts").glob("chunk-*.parquet")) + sorted(out.glob("*.csv")) + [out / "patients.parquet"]
    return {f.name: f.stat().st_mtime_ns for f in files}


def one_line_error(res, *words: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error:"), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


# --------------------------------------------------------------------------- loading and validation
def test_load_example_trial():
    tr = load_trial(EXAMPLE)
    assert isinstance(tr, Trial)
    assert tr.name == "il1b_adjuvant"
    assert (tr.patients, tr.seed, tr.design, tr.chunk_size) == (2000, 2018, "paired", 250)
    assert tr.n_chunks == 8
    assert tr.arm_names == [CONTROL, MIMETIC, BLOCKADE]
    assert tr.control == CONTROL
    assert tr.horizon_days == pytest.approx(10 * 365.25, rel=1e-3)
    # sorted within parameters and covariates, as the canonical spec the workers rebuild from
    assert tr.population.names == ["primary.gompertz.rate_constant", "shedding.rate", "inflammatory"]
    # the arms are overlays of the base scenario: the control has no therapy, the others one each
    base = dict(tr.arms)
    assert base[CONTROL].parameters == tr.base.parameters
    assert tr.base.name == "breast_surgery"
    # the same file gives the same content hash; any [trial] change gives another
    assert load_trial(EXAMPLE).content_hash() == tr.content_hash()
    assert tr.with_options(seed=tr.seed).content_hash() == tr.content_hash()
    assert tr.with_options(seed=tr.seed + 1).content_hash() != tr.content_hash()
    assert tr.with_options(patients=10).content_hash() != tr.content_hash()


def test_options_override_the_file():
    tr = load_trial(EXAMPLE).with_options(patients=33, chunk_size=4, seed=5)
    assert (tr.patients, tr.chunk_size, tr.seed, tr.n_chunks) == (33, 4, 5, 9)
    assert tr.arm_names == [CONTROL, MIMETIC, BLOCKADE]


BAD_FILES = {
    "missing_file": (None, ["no such trial file"]),
    "bad_toml": ("[trial\nname = 1\n", ["not valid TOML"]),
    "no_trial_table": ('[[arm]]\nname = "a"\n', ["[trial]"]),
    "unknown_trial_key": (example_text(**{"patients = 2000": "patient = 2000"}), ["trial.patient", "unknown key"]),
    "bad_design": (example_text(**{'design = "paired"': 'design = "crossover"'}), ["trial.design", "crossover"]),
    "bad_patients": (example_text(**{"patients = 2000": "patients = 0"}), ["trial.patients"]),
    "bad_chunk": (example_text(**{"chunk_size = 250": "chunk_size = 2.5"}), ["trial.chunk_size"]),
    "bad_control": (example_text(**{'control = "surgery only"': 'control = "placebo"'}), ["trial.control", "placebo"]),
    "missing_scenario": (example_text().replace(BASE_SCENARIO.as_posix(), "/nonexistent/base.toml"),
                         ["trial.scenario", "no such scenario file"]),
    "duplicate_arm": (example_text(**{'name = "IL-1R blockade 12 months"': 'name = "surgery only"'}),
                      ["duplicate arm name"]),
    "no_arms": (example_text().split("[[arm]]")[0], ["arm"]),
    "unknown_population_parameter": (example_text(**{'"shedding.rate"]': '"shedding.rat"]'}),
                                     ["population.parameters.shedding.rat", "did you mean 'shedding.rate'"]),
    "support_beyond_range": (example_text(**{'truncate = ["0.0008 / day", "0.004 / day"]\n': "\n"}),
                             ["population.parameters.primary.gompertz.rate_constant", "truncate = [low, high]"]),
    "bad_probabilities": (example_text(**{"probabilities = [0.5, 0.5]": "probabilities = [0.5, 0.6]"}),
                          ["population.covariates.inflammatory.probabilities"]),
    "bad_arm_value": (example_text(**{'level = "5.7e-3 nM"': 'level = "5.7e-3 cm"'}), ["level"]),
    "bad_arm_section": (example_text() + '\n[[arm]]\nname = "x"\n[arm.scenario]\nname = "y"\n',
                        ["arm[3].scenario"]),
    "bad_seed": (example_text(**{"seed = 2018": "seed = 20.5"}),
                 ["trial.seed = 20.5: must be an integer in [0, 2^63)"]),
}
BAD_OPTIONS = {
    "zero_patients_option": (["--patients", "0"], ["--patients"]),
    "bad_executor_option": (["--executor", "spark"], ["--executor", "spark"]),
    "negative_seed_option": (["--seed", "-1"], ["--seed = -1: must be an integer in [0, 2^63)"]),
}
#: the cases run through the CLI (each CLI call costs ~3 s of imports); all are checked through load_trial
CLI_FILES = ["missing_file", "bad_toml", "no_trial_table", "bad_design", "unknown_population_parameter",
             "support_beyond_range", "bad_arm_value"]


@pytest.fixture(scope="module")
def bad_cli_results(tmp_path_factory, cli_many):
    """The bad trial files / options through ``seedsoil trial``, run concurrently."""
    root = tmp_path_factory.mktemp("bad_trials")
    good = write(root, example_text(), "good.toml")
    names, arg_lists = [], []
    for name in CLI_FILES:
        text = BAD_FILES[name][0]
        path = root / f"{name}.toml"
        if text is not None:
            path.write_text(text)
        names.append(name)
        arg_lists.append(["trial", path, "--out", root / f"out_{name}", "--no-report"])
    for name, (opts, _) in BAD_OPTIONS.items():
        names.append(name)
        arg_lists.append(["trial", good, *opts, "--out", root / f"out_{name}", "--no-report"])
    results = dict(zip(names, cli_many(arg_lists, cwd=root)))
    return root, results


@pytest.mark.parametrize("name", CLI_FILES + list(BAD_OPTIONS))
def test_cli_rejects_bad_trial_with_one_line(bad_cli_results, name):
    root, results = bad_cli_results
    words = (BAD_FILES.get(name) or BAD_OPTIONS[name])[1]
    one_line_error(results[name], *words)
    assert not (root / f"out_{name}" / "parts").exists()  # nothing simulated


FIELDS = {
    "missing_file": "file", "bad_toml": "file", "no_trial_table": "trial", "unknown_trial_key": "trial.patient",
    "bad_design": "trial.design", "bad_patients": "trial.patients", "bad_chunk": "trial.chunk_size",
    "bad_control": "trial.control", "missing_scenario": "trial.scenario", "duplicate_arm": "arm[2].name",
    "no_arms": "arm", "unknown_population_parameter": "population.parameters.shedding.rat",
    "support_beyond_range": "population.parameters.primary.gompertz.rate_constant",
    "bad_probabilities": "population.covariates.inflammatory.probabilities", "bad_arm_value": None,
    "bad_arm_section": "arm[3].scenario", "bad_seed": "trial.seed",
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_load_trial_errors_name_the_field(tmp_path, name):
    text, words = BAD_FILES[name]
    path = tmp_path / "trial.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ScenarioError) as exc:
        load_trial(path)
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    if FIELDS[name] is not None:
        assert exc.value.field == FIELDS[name], (exc.value.field, msg)
    else:
        assert "level" in exc.value.field, exc.value.field


def test_trial_from_dict_needs_trial_table():
    with pytest.raises(ScenarioError) as exc:
        trial_from_dict({"arm": [{"name": "a"}]})
    assert exc.value.field == "trial"


# --------------------------------------------------------------------------- determinism
@pytest.fixture(scope="module")
def small_trial(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("small"), example_text())


SMALL = dict(patients=60, seed=11)


@pytest.fixture(scope="module")
def reference(small_trial, tmp_path_factory):
    """60 patients x 3 arms, chunks of 50, in this process."""
    out = tmp_path_factory.mktemp("ref") / "trial"
    res = run_trial(small_trial, **SMALL, chunk_size=50, workers=1, out=out, report=False)
    return res, out


def test_result_matches_files_on_disk(reference):
    res, out = reference
    assert not res.cache_hit
    assert len(res.patients) == 60 * 3
    assert_same_table(res.patients, patients_file(out))
    meta = json.loads((out / "trial.json").read_text())
    assert meta["complete"] is True and meta["n_chunks"] == 2 and meta["content_hash"] == res.trial.content_hash()
    for name in res.tables:
        assert (out / f"{name}.csv").is_file(), name
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["chunk-000000.parquet", "chunk-000001.parquet"]
    assert set(res.patients["status"]) - {"not_simulated"}, "every patient failed to simulate"
    assert (res.patients["note"] == "").all(), res.patients["note"].unique()


def test_csv_tables_hold_numbers_not_inf(reference):
    """Every summary CSV reads back with numeric columns; a median not reached is an empty
    cell with its *_reached flag False, never the string "inf"."""
    res, out = reference
    for name, table in res.tables.items():
        text = (out / f"{name}.csv").read_text()
        assert not re.search(r"(?<![A-Za-z])-?inf(?![A-Za-z])", text), name
        back = pd.read_csv(out / f"{name}.csv")
        assert list(back.columns) == list(table.columns), name
        for col in table.columns:
            if pd.api.types.is_float_dtype(table[col]):
                expected = table[col].to_numpy(dtype=float)
                np.testing.assert_allclose(back[col], np.where(np.isinf(expected), np.nan, expected),
                                           rtol=1e-12, err_msg=f"{name}.{col}")
    for name, prefix in (("medians_dmfs", "median"), ("medians_os", "median"), ("endpoints", "median_dmfs"),
                         ("endpoints", "median_os")):
        back = pd.read_csv(out / f"{name}.csv")
        days, reached = back[f"{prefix}_days"], back[f"{prefix}_reached"]
        assert reached.dtype == bool and days.dtype == float
        assert (reached == days.notna()).all()


def test_cli_report_rewrites_the_report_of_a_trial_folder(reference, cli, tmp_path):
    res, out = reference
    folder = tmp_path / "trial"
    shutil.copytree(out, folder)
    assert not (folder / "report.html").exists()  # run with report=False
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    done = cli("report", folder, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and res.trial.name in html
    for arm in res.trial.arm_names:
        assert arm in html, arm
    assert "treats the arms as independent" in html  # the paired design's note on the log-rank test
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != "report.html"} == before


def test_identical_across_chunk_sizes(small_trial, reference, tmp_path):
    res = run_trial(small_trial, **SMALL, chunk_size=7, workers=1, out=tmp_path / "c7", report=False)
    assert len(list((tmp_path / "c7" / "parts").glob("chunk-*.parquet"))) == math.ceil(60 / 7)
    assert_same_table(patients_file(tmp_path / "c7"), patients_file(reference[1]))
    assert_same_table(res.patients, reference[0].patients)


def test_identical_in_process_and_process_pool(small_trial, reference, tmp_path):
    out = tmp_path / "pool"
    run_trial(small_trial, **SMALL, chunk_size=7, executor="local", workers=2, out=out, report=False)
    assert_same_table(patients_file(out), patients_file(reference[1]))


def test_different_seed_gives_different_patients(small_trial, reference, tmp_path):
    res = run_trial(small_trial, patients=60, seed=12, chunk_size=50, workers=1, out=tmp_path / "s12", report=False)
    a = sort_table(res.patients)["param_shedding_rate_per_day"].to_numpy()
    b = sort_table(reference[0].patients)["param_shedding_rate_per_day"].to_numpy()
    assert not np.any(a == b)


def test_prefix_of_a_larger_trial_is_the_smaller_trial(small_trial, reference, tmp_path):
    """Patient i is the same patient whatever the cohort size."""
    res = run_trial(small_trial, patients=25, seed=11, chunk_size=10, workers=1, out=tmp_path / "p25", report=False)
    ref = reference[0].patients
    assert_same_table(res.patients, ref[ref["patient"] < 25])


# --------------------------------------------------------------------------- cache, state, resume
def test_rerun_is_a_cache_hit(small_trial, tmp_path):
    out = tmp_path / "t"
    first = run_trial(small_trial, patients=30, seed=3, chunk_size=8, workers=1, out=out, report=False)
    assert not first.cache_hit
    before = mtimes(out)
    assert len([k for k in before if k.startswith("chunk-")]) == 4
    again = run_trial(small_trial, patients=30, seed=3, chunk_size=8, workers=1, out=out, report=False)
    assert again.cache_hit
    assert mtimes(out) == before  # nothing recomputed, nothing rewritten
    assert_same_table(again.patients, first.patients)
    for name, table in first.tables.items():
        pd.testing.assert_frame_equal(again.tables[name], table, check_exact=True)


def test_changed_input_is_refused_without_force(small_trial, tmp_path):
    out = tmp_path / "t"
    first = run_trial(small_trial, patients=20, seed=3, chunk_size=10, workers=1, out=out, report=False)
    before = mtimes(out)
    with pytest.raises(TrialStateError, match=r"different trial: content hash \w{12}…, this run's \w{12}….*made by "
                                              r"seedsoil \d"):
        run_trial(small_trial, patients=20, seed=4, chunk_size=10, workers=1, out=out, report=False)
    with pytest.raises(TrialStateError, match="different trial"):
        run_trial(small_trial, patients=20, seed=3, chunk_size=5, workers=1, out=out, report=False)
    assert mtimes(out) == before  # the folder is untouched
    forced = run_trial(small_trial, patients=20, seed=4, chunk_size=10, workers=1, out=out, report=False,
                       force=True)
    assert not forced.cache_hit
    assert json.loads((out / "trial.json").read_text())["spec"]["trial"]["seed"] == 4
    assert not np.array_equal(sort_table(forced.patients)["param_shedding_rate_per_day"].to_numpy(),
                              sort_table(first.patients)["param_shedding_rate_per_day"].to_numpy())


def test_folder_that_is_not_a_trial_is_refused(small_trial, tmp_path):
    out = tmp_path / "t"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(TrialStateError):
        run_trial(small_trial, patients=5, seed=3, chunk_size=5, workers=1, out=out, report=False)
    assert (out / "precious.txt").read_text() == "keep me"


def test_cli_cache_hit_and_changed_seed(small_trial, tmp_path, cli):
    out = tmp_path / "t"
    run_trial(small_trial, patients=20, seed=3, chunk_size=10, workers=1, out=out, report=False)
    before = mtimes(out)
    hit = cli("trial", small_trial, "--patients", "20", "--seed", "3", "--chunk-size", "10", "--out", out,
              "--no-report", cwd=tmp_path)
    assert hit.returncode == 0, hit.stderr
    assert "cache hit" in hit.stdout
    assert mtimes(out) == before
    refused = cli("trial", small_trial, "--patients", "20", "--seed", "4", "--chunk-size", "10", "--out", out,
                  "--no-report", cwd=tmp_path)
    one_line_error(refused, "different trial", "--force")
    assert mtimes(out) == before


def test_resume_recomputes_only_missing_parts(small_trial, tmp_path):
    out = tmp_path / "t"
    first = run_trial(small_trial, patients=40, seed=5, chunk_size=6, workers=1, out=out, report=False)
    table = patients_file(out)
    parts = sorted((out / "parts").glob("chunk-*.parquet"))
    assert len(parts) == 7
    deleted = {parts[1].name, parts[4].name, parts[6].name}
    for p in parts:
        if p.name in deleted:
            p.unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in parts if p.name not in deleted}
    res = run_trial(small_trial, patients=40, seed=5, chunk_size=6, workers=1, out=out, report=False, resume=True)
    assert not res.cache_hit
    now = {p.name: p.stat().st_mtime_ns for p in sorted((out / "parts").glob("chunk-*.parquet"))}
    assert set(now) == {p.name for p in parts}
    assert {k: now[k] for k in kept} == kept  # untouched
    assert_same_table(patients_file(out), table)
    assert_same_table(res.patients, first.patients)
    for name, t in first.tables.items():
        pd.testing.assert_frame_equal(res.tables[name], t, check_exact=True)


# --------------------------------------------------------------------------- designs
def test_paired_design_every_patient_in_every_arm(reference):
    df = reference[0].patients
    n = 60
    assert sorted(df["patient"].unique()) == list(range(n))
    counts = df.groupby("patient", observed=True)["arm"].nunique()
    assert (counts == 3).all()
    assert not df.duplicated(["patient", "arm"]).any()
    # common random numbers: the same patient (sampled values, covariates, history before surgery).
    # (colonies_started_before_surgery is not compared: the engine takes the surgery snapshot at the end
    # of the time step containing surgery, when the adjuvant therapy has already begun.)
    pre = ["param_shedding_rate_per_day", "param_primary_gompertz_rate_constant_per_day", "cov_inflammatory", "surgery_day",
           "shed_before_surgery", "arrived_before_surgery"]
    for arm in (MIMETIC, BLOCKADE):
        a = df[df["arm"] == CONTROL].set_index("patient")[pre].sort_index()
        b = df[df["arm"] == arm].set_index("patient")[pre].sort_index()
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # and the arms differ after surgery
    c = df[df["arm"] == CONTROL].set_index("patient").sort_index()["dmfs_days"]
    m = df[df["arm"] == MIMETIC].set_index("patient").sort_index()["dmfs_days"]
    assert (c != m).any()


@pytest.fixture(scope="module")
def randomized_trial(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("rand"), example_text(**{'design = "paired"': 'design = "randomized"'}))


def test_randomized_design_one_arm_per_patient_reproducibly(randomized_trial, tmp_path):
    n = 120
    a = run_trial(randomized_trial, patients=n, seed=21, chunk_size=50, workers=1, out=tmp_path / "a", report=False)
    b = run_trial(randomized_trial, patients=n, seed=21, chunk_size=9, workers=1, out=tmp_path / "b", report=False)
    assert a.trial.design == "randomized"
    for res in (a, b):
        df = res.patients
        assert len(df) == n
        assert sorted(df["patient"]) == list(range(n))
    assert_same_table(a.patients, b.patients)
    # allocation is the trial's own stream, balanced on average
    alloc = allocation(a.trial, np.arange(n))
    got = sort_table(a.patients)["arm"].astype(str).to_numpy()
    assert list(got) == [a.trial.arm_names[k] for k in alloc]
    counts = pd.Series(got).value_counts()
    assert set(counts.index) == set(a.trial.arm_names)
    assert all(abs(c - n / 3) < 4 * math.sqrt(n * 2 / 9) for c in counts)
    # another seed allocates differently
    other = allocation(a.trial.with_options(seed=22), np.arange(n))
    assert not np.array_equal(alloc, other)
    # a randomized patient is the same patient as in the paired design
    paired_file = write(tmp_path, example_text(), "paired.toml")
    paired = run_trial(paired_file, patients=n, seed=21, chunk_size=50, workers=1, out=tmp_path / "p",
                       report=False).patients
    merged = a.patients.merge(paired, on=["patient", "arm"], suffixes=("", "_paired"))
    assert len(merged) == n
    for col in ("dmfs_days", "param_shedding_rate_per_day", "cov_inflammatory"):
        assert (merged[col] == merged[f"{col}_paired"]).all(), col


# --------------------------------------------------------------------------- statistics
TWIN_ARMS = f'''
[trial]
name = "twins"
scenario = "{BASE_SCENARIO.as_posix()}"
patients = 200
seed = 77
design = "{{design}}"
chunk_size = 50
control = "A"
horizon = "10 year"

[population.parameters."shedding.rate"]
distribution = "lognormal"
median = "0.032 / day"
sigma = 1.0
truncate = ["0 / day", "10 / day"]

[[arm]]
name = "A"
[[arm.therapy]]
kind = "il1b_mimetic"
start = "0 day"
duration = "6 month"
level = "1e-3 nM"

[[arm]]
name = "B"
[[arm.therapy]]
kind = "il1b_mimetic"
start = "0 day"
duration = "6 month"
level = "1e-3 nM"
'''


def test_identical_arms_randomized_hr_near_one(tmp_path):
    path = write(tmp_path, TWIN_ARMS.replace("{design}", "randomized"))
    res = run_trial(path, workers=1, out=tmp_path / "out", report=False)
    hr = res.tables["hazard_ratios_dmfs"].set_index("arm").loc["B"]
    assert hr["ci_lower"] < 1 < hr["ci_upper"], hr
    assert 0.6 < hr["hr"] < 1.6
    lr = res.tables["logrank_dmfs"].set_index("arm").loc["B"]
    assert lr["p_value"] > 0.05, lr
    assert len(res.patients) == 200 and res.patients["dmfs_event"].sum() > 50


def test_identical_arms_paired_are_identical(tmp_path):
    path = write(tmp_path, TWIN_ARMS.replace("{design}", "paired").replace("patients = 200", "patients = 80"))
    res = run_trial(path, workers=1, out=tmp_path / "out", report=False)
    df = res.patients
    a = df[df["arm"] == "A"].drop(columns="arm").set_index("patient").sort_index()
    b = df[df["arm"] == "B"].drop(columns="arm").set_index("patient").sort_index()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    lr = res.tables["logrank_dmfs"].set_index("arm").loc["B"]
    assert lr["test_statistic"] == pytest.approx(0, abs=1e-9) and lr["p_value"] == pytest.approx(1)
    hr = res.tables["hazard_ratios_dmfs"].set_index("arm").loc["B"]
    assert hr["hr"] == pytest.approx(1, abs=1e-6)
    assert not hr["ci_lower"] > 1 and not hr["ci_upper"] < 1


def test_example_direction_il1b_mimetic_lowers_dmfs_hazard(tmp_path):
    res = run_trial(EXAMPLE, patients=200, chunk_size=50, workers=2, out=tmp_path / "il1b", report=False)
    assert res.trial.design == "paired"
    hr = res.tables["hazard_ratios_dmfs"].set_index("arm")
    assert hr.loc[MIMETIC, "control"] == CONTROL
    assert hr.loc[MIMETIC, "hr"] < 1 and hr.loc[MIMETIC, "ci_upper"] < 1, hr
    lr = res.tables["logrank_dmfs"].set_index("arm")
    assert lr.loc[MIMETIC, "p_value"] < 0.05, lr
    rmst = res.tables["rmst_dmfs"].set_index("arm")
    assert rmst.loc[MIMETIC, "rmst_days"] > rmst.loc[CONTROL, "rmst_days"]
    assert rmst.loc[CONTROL, "difference_days"] == 0
    # the tables have one row per arm, HR/log-rank one per non-control arm
    assert list(res.tables["endpoints"]["arm"]) == [CONTROL, MIMETIC, BLOCKADE]
    assert sorted(hr.index) == sorted([MIMETIC, BLOCKADE])
    assert "subgroups_dmfs" in res.tables


def test_read_patients_shares_text_values_without_changing_the_table():
    """Part files each bring their own copy of every status / note / covariate string; the
    driver's table keeps one object per distinct value (less memory), values and dtypes as read."""
    from seedsoil.cohort.trial import _share_strings

    texts = [f"level {i % 3}" for i in range(300)]
    df = pd.DataFrame({"status": ["".join(["dea", "th"]) for _ in range(300)],  # 300 equal, distinct objects
                       "level": ["".join(t) for t in texts], "x": np.arange(300.0),
                       "with_none": [None if i % 7 == 0 else "a" for i in range(300)],
                       "mixed": [1 if i % 2 else "1" for i in range(300)],
                       "unique": [f"note {i}" for i in range(300)]})
    before = df.copy(deep=True)
    _share_strings(df)
    pd.testing.assert_frame_equal(df, before, check_exact=True)
    assert len({id(v) for v in df["status"]}) == 1 and len({id(v) for v in df["level"]}) == 3
    assert df["with_none"].isna().sum() == before["with_none"].isna().sum()
    assert list(map(type, df["mixed"])) == list(map(type, before["mixed"]))
