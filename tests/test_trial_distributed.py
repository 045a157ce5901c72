"""Virtual trials on real processes: a Dask cluster on loopback, a lost worker, a killed trial.

No mocks: a ``dask scheduler`` and two ``dask worker`` processes are started
as subprocesses (each in its own session, so a worker and its nanny can be
killed together), and ``seedsoil trial`` runs as a subprocess where it is to be
killed. Every process started here is killed in the fixtures' teardown.
Results are compared bitwise (sorted by patient, arm) with an uninterrupted
in-process run of the same trial.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from seedsoil.cohort.trial import run_trial

pytest.importorskip("distributed")

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO_ROOT / "examples"
EXAMPLE = EXAMPLES_DIR / "trial_il1b.toml"
PATIENTS, CHUNK = 240, 4
N_CHUNKS = PATIENTS // CHUNK  # 60
START_TIMEOUT_S = 120   # scheduler / workers up
RUN_TIMEOUT_S = 600     # one trial (may include a numba compile on the workers)


# --------------------------------------------------------------------------- helpers
def cli_env() -> dict[str, str]:
    """This environment with ``src`` on PYTHONPATH, so subprocesses (workers too) import seedsoil."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                                     else []))
    env["COLUMNS"] = "250"
    return env


def sort_table(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["patient", "arm"], kind="stable").reset_index(drop=True)


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(sort_table(a), sort_table(b), check_exact=True)


def parts(out: Path) -> dict[str, int]:
    folder = out / "parts"
    if not folder.is_dir():
        return {}
    out_ = {}
    for p in folder.glob("chunk-*.parquet"):
        try:
            out_[p.name] = p.stat().st_mtime_ns
        except FileNotFoundError:  # pragma: no cover - parts are only added, never removed
            pass
    return out_


def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None, interval: float = 0.01):
    """Poll ``cond()`` until it returns a truthy value; fail after ``timeout`` s or if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited (rc {proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Procs:
    """Subprocesses started by a test, each the leader of its own process group."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, cmd: list[str], cwd: Path) -> subprocess.Popen:
        out = open(self.logdir / f"{name}.out", "w")
        err = open(self.logdir / f"{name}.err", "w")
        try:
            p = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=cli_env(), stdout=out, stderr=err,
                                 start_new_session=True)
        finally:
            out.close()
            err.close()
        self.procs[name] = p
        return p

    def log(self, name: str) -> str:
        return "".join((self.logdir / f"{name}.{s}").read_text() for s in ("out", "err"))

    def kill_group(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs[name]
        try:
            os.killpg(p.pid, sig)  # the group we created: the process and its children
        except ProcessLookupError:
            pass

    def close(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is None:
                self.kill_group(name, signal.SIGTERM)
        for name, p in self.procs.items():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            # also children that outlived their leader (a nanny's worker, a pool process)
            self.kill_group(name, signal.SIGKILL)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass


@pytest.fixture
def procs(tmp_path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    ps = Procs(logdir)
    try:
        yield ps
    finally:
        ps.close()


def cli_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "seedsoil.cli", *map(str, args)]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def trial_file(tmp_path_factory) -> Path:
    text = EXAMPLE.read_text().replace('scenario = "breast_surgery.toml"',
                                       f'scenario = "{(EXAMPLES_DIR / "breast_surgery.toml").as_posix()}"')
    for old, new in (("patients = 2000", f"patients = {PATIENTS}"), ("chunk_size = 250", f"chunk_size = {CHUNK}"),
                     ("seed = 2018", "seed = 4242")):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path_factory.mktemp("dist_trial") / "trial.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def reference(trial_file, tmp_path_factory) -> pd.DataFrame:
    """The trial run uninterrupted, in this process."""
    out = tmp_path_factory.mktemp("dist_ref") / "trial"
    res = run_trial(trial_file, workers=1, out=out, report=False)
    assert len(res.patients) == PATIENTS * 3
    assert len(parts(out)) == N_CHUNKS
    return pd.read_parquet(out / "patients.parquet")


@pytest.fixture
def cluster(procs, tmp_path):
    """A scheduler and two single-threaded workers (w1, w2) on 127.0.0.1, as subprocesses."""
    from distributed import Client

    sched_file = tmp_path / "scheduler.json"
    procs.start("scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                              "--port", "0", "--scheduler-file", sched_file, "--no-dashboard"], cwd=tmp_path)
    wait_for(lambda: sched_file.exists() and sched_file.stat().st_size > 0, START_TIMEOUT_S, "the scheduler file",
             procs.procs["scheduler"], interval=0.1)
    address = json.loads(sched_file.read_text())["address"]
    for name in ("w1", "w2"):
        procs.start(name, [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", sched_file,
                           "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--name", name,
                           "--host", "127.0.0.1", "--death-timeout", "60",
                           "--local-directory", tmp_path / f"scratch-{name}"], cwd=tmp_path)
    client = Client(address, timeout=START_TIMEOUT_S)
    try:
        client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield address, client
    finally:
        client.close(timeout=30)


def workers_by_name(client) -> dict[str, str]:
    return {w["name"]: addr for addr, w in client.scheduler_info(n_workers=-1)["workers"].items()}


# --------------------------------------------------------------------------- tests
def test_dask_cluster_gives_the_local_table(cluster, trial_file, reference, tmp_path):
    address, client = cluster
    assert set(workers_by_name(client)) == {"w1", "w2"}
    out = tmp_path / "dask"
    res = run_trial(trial_file, executor="dask", scheduler=address, out=out, report=False)
    assert not res.cache_hit
    assert len(parts(out)) == N_CHUNKS
    assert_same_table(pd.read_parquet(out / "patients.parquet"), reference)
    assert_same_table(res.patients, reference)
    # the chunks ran on the remote workers (both imported seedsoil), not in this process
    ran = client.run(lambda: "seedsoil.cohort.trial" in sys.modules)
    assert ran and all(ran.values()), ran


def test_dask_worker_killed_mid_trial(cluster, procs, trial_file, reference, tmp_path):
    address, client = cluster
    names = workers_by_name(client)
    w1 = names["w1"]
    out = tmp_path / "dask_kill"
    run = procs.start("trial", cli_cmd("trial", trial_file, "--executor", "dask", "--scheduler", address,
                                       "--out", out, "--no-report"), cwd=tmp_path)

    def w1_busy_and_some_parts_done():
        return len(parts(out)) >= 3 and client.processing(workers=[w1]).get(w1)

    wait_for(w1_busy_and_some_parts_done, RUN_TIMEOUT_S, "parts written while w1 holds tasks", run)
    procs.kill_group("w1")  # the worker and its nanny: w1 is gone for good
    done_at_kill = len(parts(out))
    procs.procs["w1"].wait(timeout=30)
    assert done_at_kill < N_CHUNKS, "the trial finished before the worker was killed: enlarge it"

    try:
        rc = run.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"trial did not finish after losing a worker:\n{procs.log('trial')}") from None
    assert rc == 0, procs.log("trial")
    assert procs.procs["w2"].poll() is None, "the surviving worker died"
    wait_for(lambda: set(workers_by_name(client)) == {"w2"}, 60, "the scheduler to drop w1")
    assert len(parts(out)) == N_CHUNKS
    assert json.loads((out / "trial.json").read_text())["complete"] is True
    assert_same_table(pd.read_parquet(out / "patients.parquet"), reference)


def test_killed_trial_resumes_without_recomputing_finished_parts(procs, trial_file, reference, tmp_path):
    out = tmp_path / "killed"
    run = procs.start("trial", cli_cmd("trial", trial_file, "--workers", "2", "--out", out, "--no-report"),
                      cwd=tmp_path)
    wait_for(lambda: len(parts(out)) >= 3, RUN_TIMEOUT_S, "a few part files", run)
    procs.kill_group("trial")  # the CLI and its pool processes, all at once
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL
    before = parts(out)
    assert 3 <= len(before) < N_CHUNKS, len(before)
    meta = json.loads((out / "trial.json").read_text())
    assert meta["complete"] is False
    assert not (out / "patients.parquet").exists()

    # an unfinished folder is not silently restarted or continued
    refused = subprocess.run(cli_cmd("trial", trial_file, "--out", out, "--no-report"), cwd=tmp_path, env=cli_env(),
                             capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unfinished" in lines[0] and "--resume" in lines[0], refused.stderr
    assert parts(out) == before

    resumed = subprocess.run(cli_cmd("trial", trial_file, "--workers", "2", "--out", out, "--resume", "--no-report"),
                             cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert resumed.returncode == 0, resumed.stderr
    after = parts(out)
    assert len(after) == N_CHUNKS
    assert {k: after[k] for k in before} == before  # finished parts were not recomputed
    assert json.loads((out / "trial.json").read_text())["complete"] is True
    assert_same_table(pd.read_parquet(out / "patients.parquet"), reference)


def test_invasion_map_on_the_dask_cluster_equals_the_in_process_map(cluster, tmp_path, monkeypatch):
    """The tissue → body map through the same executors: remote workers give the same table."""
    from seedsoil.cohort.execute import InProcess
    from seedsoil.tissue import default_tissue_scenario
    from seedsoil.tissue import invasion

    monkeypatch.setattr(invasion, "_cache_dir", lambda: tmp_path)
    address, client = cluster
    sc = default_tissue_scenario().with_parameters(domain__height=150.0, domain__width=250.0,
                                                   vessel__position=200.0, simulation__duration=120.0)
    grid = {"ROCKi": [1000.0]}
    local = invasion.invasion_map(sc, grid, replicates=2, executor=InProcess(), cache=False)
    remote = invasion.invasion_map(sc, grid, replicates=2, executor="dask", scheduler=address, cache=False)
    pd.testing.assert_frame_equal(local.table, remote.table, check_exact=True)
    ran = client.run(lambda: "seedsoil.tissue.simulate" in sys.modules)
    assert ran and all(ran.values()), ran


def test_user_drug_runs_on_the_dask_cluster(cluster, tmp_path):
    """A drug defined here, in this process, is known to the remote workers: the library travels with
    the tasks (it was a process-wide registry the workers never saw)."""
    from seedsoil.cohort.trial import trial_from_dict
    from seedsoil.coupling import default_drugs
    from seedsoil.pharm import Drug, FirstOrderAbsorption, HillInhibition, OneCompartment

    jakinib = Drug(name="jakinib", pk=OneCompartment.from_half_life(60.0, 0.15), molecular_weight_g_per_mol=400.0,
                   unbound_fraction=0.2, routes={"oral": FirstOrderAbsorption(12.0, 0.7)}, default_route="oral",
                   targets={"JAK1": HillInhibition("JAK1", 15.0)})
    tr = trial_from_dict({
        "trial": {"name": "dask user drug", "patients": 6, "seed": 5, "chunk_size": 2},
        "surgery": {"primary_diameter": "2 cm"}, "simulation": {"follow_up": "2 y"},
        "arm": [{"name": "control"},
                {"name": "jakinib", "therapy": [{"kind": "drug", "drug": "jakinib", "dose": "20 mg",
                                                 "interval": "12 h", "start": "0 day", "duration": "1 y"}]}],
    }, drugs=default_drugs().with_drug(jakinib))
    address, client = cluster
    here = run_trial(tr, workers=1, out=tmp_path / "here", report=False)
    there = run_trial(tr, executor="dask", scheduler=address, out=tmp_path / "dask", report=False)
    assert (there.patients["status"] != "not_simulated").all(), there.patients["note"].tolist()
    assert_same_table(there.patients, here.patients)
    ran = client.run(lambda: "seedsoil.coupling.effects" in sys.modules)
    assert ran and all(ran.values()), ran


def test_relapse_distributions_on_the_dask_cluster(cluster, tmp_path):
    """The relapse-time engine over a trial's patients on real Dask workers equals the in-process run,
    bit for bit (nothing is sampled; chunks are pure functions)."""
    import numpy as np

    from seedsoil.cohort.relapse import relapse_distributions
    from seedsoil.cohort.trial import trial_from_dict

    tr = trial_from_dict({
        "trial": {"name": "dask relapse", "patients": 8, "seed": 9, "chunk_size": 3},
        "surgery": {"primary_diameter": "1.5 cm"}, "simulation": {"follow_up": "3 y"},
        "population": {"parameters": {"shedding.rate": {"distribution": "lognormal", "median": "0.05 / day",
                                                        "sigma": 0.5, "truncate": ["0 / day", "1 / day"]}}},
        "arm": [{"name": "control"}],
    })
    address, client = cluster
    days = [365.25, 730.5, 1000.0]
    here = relapse_distributions(tr, days, workers=1)
    there = relapse_distributions(tr, days, executor="dask", scheduler=address, out=tmp_path / "rel")
    np.testing.assert_array_equal(there.survival, here.survival)
    np.testing.assert_array_equal(there.hazard, here.hazard)
    ran = client.run(lambda: "seedsoil.body.relapse" in sys.modules)
    assert ran and all(ran.values()), ran
