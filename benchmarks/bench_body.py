#!/usr/bin/env python
"""Body-scale benchmark: stochastic patients per second on one core, the mean-field
solve time, and a side-by-side run against GillesPy2 on a matched reaction network.

Prints a table of every figure, then, as its last line, one JSON object::

    {"patients_per_s_1core": ..., "gillespy2_ratio": ..., "meanfield_solve_s": ...}

Goals: >= 100 stochastic patients/s per core on the default scenario
(``examples/breast_surgery.toml``: primary grown to 2 cm, resected, 10 years of
follow-up), and >= 10x faster than GillesPy2's fastest exact solver at matched
statistics.

The peer (GillesPy2)
--------------------
GillesPy2 1.8 offers two exact SSA solvers, ``NumPySSASolver`` (pure Python/NumPy)
and ``SSACSolver`` (the model compiled to a C++ direct-method SSA that runs as a
subprocess); the others (``TauLeapingSolver``/``TauLeapingCSolver``,
``TauHybridSolver``/``TauHybridCSolver``, ``ODESolver``/``ODECSolver``,
``CLESolver``) are approximate. We use ``SSACSolver``, the fastest exact one. Its
one-time C++ build is timed and reported separately; the ratio uses only its
``run(number_of_trajectories=N)``.

The stochastic core of one patient, written as a linear reaction network::

    0 -> D          alpha * q      seeding of a dormant single cell
    0 -> P + S      alpha * p      seeding of a cell that starts dividing (S counts colonies)
    D -> 0          d              death of a dormant cell
    D -> P + S      a              activation (a new colony)
    P -> P + P      lambda         division
    P -> 0          lambda - r     death (net growth r per cell)

alpha = shedding.rate * N^gamma * arrest * extravasation is the arrival rate from a
primary held at N cells (the CTC half-life is 1.5 h, so arrival is effectively
immediate). The same patient in seedsoil: a logistic primary started at its
carrying capacity (constant), no surgery, no inflammation (h = 0), no immune kill,
exponential colonies with rate r < colony.division_rate, no secondary seeding.
The rates are linear, so P aggregated over colonies is exact for the statistics
compared (mean and SD of S, D and P at day 3650). The exact first and second
moments of the network (moment equations, solved here) are printed as a referee.

seedsoil runs this model twice: at its default thresholds (exact SSA below 64
cells, above that a whole-step leap with the exact linear birth-death transition,
which for these constant per-cell rates is exact in distribution) - the ratio in
the JSON line - and with ``exact_threshold`` raised above any colony size, so that
both codes simulate the same network event by event (printed as a second ratio).

Costs are CPU time (this process and its children, pinned to one core), so that
other jobs on a shared machine do not inflate them; wall-clock is printed beside.
A trajectory's cost is heavy-tailed (rare surviving colonies do most of the
events), so plain means of a few hundred trajectories are noisy. Each code's
workload (division + death events, counted per trajectory: GillesPy2 through an
extra counter species, seedsoil by replaying the same seed with daily records) has
an exactly known mean, so the mean cost is also estimated at that expected
workload by regression (a control variate); the JSON ratio uses those estimates and
the plain-mean ratio is printed beside it.

Run:  PYTHONPATH=src python benchmarks/bench_body.py [--quick]
(``--quick``: small counts, a smoke test of ~10 s). A full run takes 1-2 minutes
on a 2-core machine, plus numba's one-time compilation on a cold cache and
GillesPy2's C++ build (~4 s).
"""
from __future__ import annotations

# One thread everywhere, before numpy / numba are imported.
import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import cpu_model

ROOT = Path(__file__).resolve().parents[1]
try:
    import seedsoil
except ImportError:  # running from a source tree without an install
    sys.path.insert(0, str(ROOT / "src"))
    import seedsoil

from seedsoil import Scenario
from seedsoil.body.simulate import simulate_summary

DEFAULT_SCENARIO = ROOT / "examples" / "breast_surgery.toml"
SEED = 20181084
T_END = 3650.0  # days, the matched model's horizon

# Matched model: a primary held at N_PRIMARY cells; colonies divide at LAMBDA and grow at R net.
N_PRIMARY = 3e6
LAMBDA = 0.5
R_NET = 5e-4
Z_MAX = 4.0  # agreement: |difference| within this many standard errors


# --------------------------------------------------------------------------- helpers
def pin_one_core() -> str:
    """Pin this process (and its children, e.g. GillesPy2's solver) to one CPU."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
        return f"pinned to CPU {cpus[-1]} (of {len(cpus)})"
    except (AttributeError, OSError) as exc:  # not Linux
        return f"not pinned ({type(exc).__name__})"


def gxx_version() -> str:
    gxx = shutil.which("g++")
    if gxx is None:
        return "absent"
    try:
        return subprocess.run([gxx, "--version"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def describe(x) -> dict:
    """Mean, SD, standard error of the mean and (bootstrap) standard error of the SD."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    rng = np.random.default_rng(0)
    boot = x[rng.integers(0, n, size=(200, n))].std(axis=1, ddof=1) if n > 1 else np.array([math.nan])
    return {"n": n, "mean": float(x.mean()), "sd": sd, "se_mean": sd / math.sqrt(n), "se_sd": float(boot.std())}


def z(a: float, sa: float, b: float, sb: float) -> float:
    den = math.hypot(sa, sb)
    if den == 0.0:
        return 0.0 if a == b else math.inf
    return abs(a - b) / den


class Clock:
    """Wall-clock and CPU time (this process and its finished children) of a block.

    The figures use CPU time: on a shared machine another job's load inflates
    wall-clock time, not the CPU time our single pinned core spends. Both are printed.
    """

    def __enter__(self):
        self._w, self._c = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._w
        self.cpu = self._cpu() - self._c

    @staticmethod
    def _cpu() -> float:
        t = os.times()
        return time.process_time() + t.children_user + t.children_system


def timed(fn, n: int) -> tuple[Clock, list]:
    out = []
    with Clock() as c:
        for i in range(n):
            out.append(fn(i))
    return c, out


def at_expected_workload(cost, work, work_mean: float, weights=None) -> dict:
    """Cost per trajectory at the network's expected workload (regression cost ~ c0 + c1 * work).

    A trajectory's cost is heavy-tailed: it is dominated by the rare colonies that survive
    and grow. Its workload (division + death events) is counted for each trajectory and its
    exact mean is known, so the regression's value at the mean workload estimates the mean
    cost with far less noise than the plain average (a control variate). Returns that
    value, its standard error and the slope c1 (cost per event).
    """
    y = np.asarray(cost, dtype=float)
    x = np.asarray(work, dtype=float) - work_mean
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    X = np.column_stack([np.ones_like(x), x]) * np.sqrt(w)[:, None]
    yw = y * np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X, yw, rcond=None)
    resid = yw - X @ coef
    cov = np.linalg.pinv(X.T @ X) * float(resid @ resid) / max(len(y) - 2, 1)
    return {"s": float(coef[0]), "se": float(math.sqrt(max(cov[0, 0], 0.0))), "per_event_s": float(coef[1])}


# --------------------------------------------------------------------------- matched model
def matched_scenario(exact: bool) -> Scenario:
    sim = {"dt": 1.0, "follow_up": T_END, "stop_at": "death", "seed": SEED}
    if exact:  # every colony below 1e6 cells event by event, never deterministic
        sim.update(exact_threshold=1e6, stochastic_threshold=1e12)
    return Scenario.from_dict({
        "scenario": {"name": "bench_matched", "description": "linear seeding/dormancy/birth-death core"},
        "primary": {"law": "logistic", "initial_cells": N_PRIMARY, "logistic": {"carrying_capacity": N_PRIMARY}},
        "inflammation": {"strength": 0.0},
        "immune": {"kill_law": "none"},
        "colony": {"law": "exponential", "division_rate": LAMBDA, "exponential": {"rate_constant": R_NET}},
        "shedding": {"from_metastases": False},
        "simulation": sim,
    })


def network_rates(sc: Scenario) -> dict[str, float]:
    """Rates of the reaction network, read back from the seedsoil scenario."""
    p = sc.parameters
    alpha = (p["shedding.rate"] * p["primary.initial_cells"] ** p["shedding.exponent"]
             * p["circulation.arrest_probability"] * p["circulation.extravasation_probability"])
    lam = p["colony.division_rate"]
    return {"kD": alpha * p["fate.dormant_probability"], "kP": alpha * p["fate.proliferative_probability"],
            "d": p["dormancy.death_rate"], "a": p["dormancy.activation_rate"],
            "lam": lam, "mu": lam - p["colony.exponential.rate_constant"], "alpha": alpha}


def network(k: dict[str, float]):
    """Stoichiometry (reactions x species D, P, S), constant and linear propensity parts."""
    v = np.array([[1, 0, 0], [0, 1, 1], [-1, 0, 0], [-1, 1, 1], [0, 1, 0], [0, -1, 0]], dtype=float)
    c = np.array([k["kD"], k["kP"], 0, 0, 0, 0], dtype=float)
    L = np.zeros((6, 3))
    L[2, 0], L[3, 0], L[4, 1], L[5, 1] = k["d"], k["a"], k["lam"], k["mu"]
    return v, c, L


def network_moments(k: dict[str, float], t_end: float) -> dict:
    """Exact mean and SD of D, P, S at t_end and the expected number of reaction events
    (moment equations of a network with affine propensities close exactly)."""
    from scipy.integrate import solve_ivp

    v, c, L = network(k)

    def rhs(_t, y):
        m, M = y[:3], y[3:12].reshape(3, 3)
        a = c + L @ m  # mean propensities
        dm = v.T @ a
        Xa = np.outer(m, c) + M @ L.T  # E[X a_j], 3 x 6
        dM = Xa @ v + (Xa @ v).T + (v.T * a) @ v
        return np.concatenate([dm, dM.ravel(), a])  # last 6: integral of each propensity

    sol = solve_ivp(rhs, (0.0, t_end), np.zeros(18), method="LSODA", rtol=1e-10, atol=1e-10)
    y = sol.y[:, -1]
    m, M = y[:3], y[3:12].reshape(3, 3)
    var = np.diag(M) - m * m
    names = ("D", "P", "S")
    return {"mean": dict(zip(names, m)), "sd": dict(zip(names, np.sqrt(np.maximum(var, 0.0)))),
            "events": float(y[12:].sum()), "cell_events": float(y[16] + y[17])}


def run_seedsoil_matched(sc: Scenario, n: int, work_mean: float | None = None) -> tuple[dict, dict]:
    """N patients of ``sc`` through simulate_summary, each call timed (CPU time).

    With ``work_mean``, each patient is then replayed untimed through ``simulate`` with
    daily records (same seed, hence the same trajectory) to count its workload:
    division + death events = (2 lambda - r) * integral of P dt.
    """
    for i in range(3):  # warm-up (same compiled kernel)
        simulate_summary(sc, seed=SEED - 1 - i)
    rows, times = [], []
    with Clock() as total:
        for i in range(n):
            t0 = time.process_time()
            s = simulate_summary(sc, seed=SEED + i)
            times.append(time.process_time() - t0)
            rows.append((s["colonies_started_total"], s["dormant_cells_end"], s["metastatic_cells_end"], s["status"]))
    S, D, P, status = zip(*rows)
    t = np.asarray(times)
    timing = {"per_traj_s": total.cpu / n, "wall_s": total.wall / n, "se": float(t.std(ddof=1) / math.sqrt(n)),
              "median_s": float(np.median(t)), "adjusted": None}
    if work_mean is not None:
        p = sc.parameters
        per_cell = 2.0 * p["colony.division_rate"] - p["colony.exponential.rate_constant"]
        daily = sc.with_settings(output={"record_every": sc.simulation.dt})
        work = []
        for i in range(n):
            ts = seedsoil.simulate(daily, seed=SEED + i).timeseries
            if ts["colonies_started"].iloc[-1] != S[i]:  # not the same trajectory: no workload figure
                work = None
                break
            x, day = ts["metastatic_cells"].to_numpy(), ts["day"].to_numpy()
            work.append(per_cell * float(np.sum(0.5 * (x[1:] + x[:-1]) * np.diff(day))))
        if work is not None:
            timing["adjusted"] = at_expected_workload(t, work, work_mean)
            timing["work_mean"] = float(np.mean(work))
    return timing, {"S": describe(S), "D": describe(D), "P": describe(P),
                    "died": sum(st == "death" for st in status)}


def gillespy2_model(k: dict[str, float]):
    import gillespy2

    m = gillespy2.Model(name="seedsoil_core")
    m.add_parameter([gillespy2.Parameter(name=n, expression=k[n]) for n in ("kD", "kP", "d", "a", "lam", "mu")])
    # E counts division and death events (the workload); it takes part in no propensity
    m.add_species([gillespy2.Species(name=s, initial_value=0, mode="discrete") for s in ("D", "P", "S", "E")])
    R = gillespy2.Reaction
    m.add_reaction([
        R(name="seed_dormant", reactants={}, products={"D": 1}, rate="kD"),
        R(name="seed_dividing", reactants={}, products={"P": 1, "S": 1}, rate="kP"),
        R(name="dormant_death", reactants={"D": 1}, products={}, rate="d"),
        R(name="activation", reactants={"D": 1}, products={"P": 1, "S": 1}, rate="a"),
        R(name="division", reactants={"P": 1}, products={"P": 2, "E": 1}, rate="lam"),
        R(name="cell_death", reactants={"P": 1}, products={"E": 1}, rate="mu"),
    ])
    m.timespan(gillespy2.TimeSpan.linspace(t=T_END, num_points=11))  # only the end is compared
    return m


def run_gillespy2(k: dict[str, float], n: int, work_mean: float, batches: int = 20) -> dict:
    """Build SSACSolver once (timed apart), warm it up, then time N trajectories."""
    import gillespy2

    # GillesPy2 runs SCons as `scons` from PATH or as `<resolved sys.executable> -m SCons`;
    # in a venv whose python is a symlink the latter loses the venv, so put its bin on PATH.
    venv_bin = os.path.dirname(sys.executable)
    if shutil.which("scons") is None and os.path.exists(os.path.join(venv_bin, "scons")):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    model = gillespy2_model(k)
    with Clock() as c:
        solver = gillespy2.SSACSolver(model=model)
    compile_s = c.wall
    solver.run(number_of_trajectories=2, seed=1)  # warm-up: executable and page cache
    # N trajectories in `batches` runs (distinct seeds): the batch times give the spread of the
    # heavy-tailed cost; one run's fixed cost (process start, output decoding) is small here.
    sizes = [n // batches + (1 if b < n % batches else 0) for b in range(batches)]
    end = {s: [] for s in ("S", "D", "P", "E")}
    per_traj, batch_work = [], []
    cpu = wall = 0.0
    for b, size in enumerate(sizes):
        with Clock() as c:  # CPU: the C++ subprocess plus the Python side decoding its output
            res = solver.run(number_of_trajectories=size, seed=(SEED + 7919 * b) % (2**31))
        cpu += c.cpu
        wall += c.wall
        per_traj.append(c.cpu / size)
        for tr in res:
            for s in end:
                end[s].append(float(tr[s][-1]))
        batch_work.append(float(np.mean(end["E"][-size:])))
    se = float(np.std(per_traj, ddof=1) / math.sqrt(len(per_traj))) if len(per_traj) > 1 else math.nan
    return {"compile_s": compile_s, "per_traj_s": cpu / n, "wall_s": wall / n, "se": se,
            "adjusted": at_expected_workload(per_traj, batch_work, work_mean, weights=sizes),
            "work_mean": float(np.mean(end["E"])),
            "solver": type(solver).__name__, "batches": len(sizes), **{s: describe(end[s]) for s in end}}


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=300, help="default-scenario patients timed (summary path)")
    ap.add_argument("--full", type=int, default=100, help="patients timed through simulate() (full tables)")
    ap.add_argument("--trajectories", type=int, default=500,
                    help="matched-model trajectories: GillesPy2, and seedsoil at its default thresholds")
    ap.add_argument("--exact-trajectories", type=int, default=300,
                    help="matched-model patients with seedsoil's exact SSA only (0: skip)")
    ap.add_argument("--meanfield-repeats", type=int, default=5)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    ap.add_argument("--no-gillespy2", action="store_true")
    ap.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    a = ap.parse_args(argv)
    if a.quick:
        a.patients, a.full, a.trajectories, a.exact_trajectories, a.meanfield_repeats = 40, 10, 40, 20, 2
    t_start = time.perf_counter()
    pin = "not pinned" if a.no_pin else pin_one_core()
    warnings: list[str] = []

    import numba
    import scipy

    try:
        import gillespy2
        gp_version = gillespy2.__version__
    except ImportError:
        gp_version = None

    print("seedsoil body benchmark")
    print(f"  cpu        : {cpu_model()} ({os.cpu_count()} logical CPUs; {pin})")
    print(f"  load avg   : {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at start)")
    print(f"  python     : {platform.python_version()} ({platform.python_implementation()})")
    print(f"  versions   : seedsoil {seedsoil.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
          f"scipy {scipy.__version__}, gillespy2 {gp_version or 'not installed'}")
    print(f"  g++        : {gxx_version()}")
    print(f"  threads    : NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}")
    print(flush=True)

    # ---- 1. default scenario: patients per second
    default = seedsoil.load_scenario(DEFAULT_SCENARIO)
    t0 = time.perf_counter()
    simulate_summary(default, seed=SEED, keys=(10**6,))  # numba compile (or cache load)
    warm_first = time.perf_counter() - t0
    seedsoil.simulate(default, seed=SEED)  # warms the table path
    for i in range(5):
        simulate_summary(default, seed=SEED + 1, keys=(i,))
    c_sum, summ = timed(lambda i: simulate_summary(default, seed=SEED, keys=(i,)), a.patients)
    pps = a.patients / c_sum.cpu
    relapse = np.mean([s["relapse"] for s in summ])
    died = np.mean([math.isfinite(s["death_day"]) for s in summ])
    colonies = np.mean([s["colonies_started_total"] for s in summ])
    c_full, _ = timed(lambda i: seedsoil.simulate(default, seed=SEED + i), a.full)
    kernel_pps = None
    try:  # kernel alone (inputs built once): shows what build_inputs costs per patient
        from seedsoil.body.model import build_inputs
        from seedsoil.body.stochastic import run_kernel

        inputs = build_inputs(default)
        c_k, _ = timed(lambda i: run_kernel(inputs, SEED, i), a.patients)
        kernel_pps = a.patients / c_k.cpu
        c_b, _ = timed(lambda i: build_inputs(default), 50)
        build_ms = c_b.cpu / 50 * 1e3
    except Exception as exc:  # internal API moved: skip this line only
        warnings.append(f"kernel-only timing skipped: {type(exc).__name__}: {exc}")
        build_ms = math.nan

    # ---- 2. mean-field solve time
    mf, mf_wall = [], []
    try:
        seedsoil.simulate(default, engine="meanfield")  # warm-up
        for _ in range(a.meanfield_repeats):
            with Clock() as c:
                seedsoil.simulate(default, engine="meanfield")
            mf.append(c.cpu)
            mf_wall.append(c.wall)
    except Exception as exc:  # report it, keep the other figures
        warnings.append(f"mean-field engine failed: {type(exc).__name__}: {str(exc)[:300]}")
    mf_s = statistics.median(mf) if mf else None

    # ---- 3. matched model: seedsoil vs GillesPy2 SSACSolver
    species = ("S", "D", "P")
    sc_default_thr = matched_scenario(exact=False)
    k = network_rates(sc_default_thr)
    theory = network_moments(k, T_END)
    W = theory["cell_events"]
    hy_t, hy = run_seedsoil_matched(sc_default_thr, a.trajectories, W)
    ex_t = ex = None
    if a.exact_trajectories > 0:
        ex_t, ex = run_seedsoil_matched(matched_scenario(exact=True), a.exact_trajectories, W)
    gp = None
    if not a.no_gillespy2:
        if gp_version is None:
            warnings.append("gillespy2 is not installed (pip install -e '.[bench]'): no peer comparison")
        else:
            try:
                gp = run_gillespy2(k, a.trajectories, W)
            except Exception as exc:  # a missing compiler / SCons: report, keep the other figures
                warnings.append(f"GillesPy2 SSACSolver failed: {type(exc).__name__}: {str(exc)[:300]}")

    # ---- agreement. The mean's standard error uses the exact SD of the network: P is
    # heavy-tailed (rare surviving colonies), so a sample SD from a few hundred runs understates it.
    def se_mean(res, s):
        return theory["sd"][s] / math.sqrt(res[s]["n"])

    def theory_z(res, s):
        return z(res[s]["mean"], se_mean(res, s), theory["mean"][s], 0.0)

    def pair_z(r1, r2):
        return {s: (z(r1[s]["mean"], se_mean(r1, s), r2[s]["mean"], se_mean(r2, s)),
                    z(r1[s]["sd"], r1[s]["se_sd"], r2[s]["sd"], r2[s]["se_sd"])) for s in species}

    def agree(zs):
        return all(max(v) <= Z_MAX for v in zs.values())

    zs_hy = pair_z(hy, gp) if gp is not None else None
    zs_ex = pair_z(ex, gp) if gp is not None and ex is not None else None
    if zs_hy is not None and not agree(zs_hy):
        warnings.append("seedsoil (default thresholds) and GillesPy2 statistics DO NOT AGREE on the matched "
                        f"model (some |z| > {Z_MAX:g}): the ratio is not at matched statistics")
    if zs_ex is not None and not agree(zs_ex):
        warnings.append(f"seedsoil (exact SSA only) and GillesPy2 statistics DO NOT AGREE (some |z| > {Z_MAX:g})")
    for label, res in (("seedsoil, default thresholds", hy), ("seedsoil, exact SSA only", ex), ("GillesPy2", gp)):
        if res is not None:
            bad = [s for s in species if theory_z(res, s) > Z_MAX]
            if bad:
                warnings.append(f"{label}: mean of {', '.join(bad)} off the exact network mean by > {Z_MAX:g} SE")

    # ---- ratios of mean cost per trajectory, GillesPy2 over seedsoil; each mean taken at the
    # expected workload when the workload was counted (a lower-variance estimate of the same mean)
    def gp_cost():
        adj = gp["adjusted"]
        return (adj["s"], adj["se"]) if adj is not None else (gp["per_traj_s"], gp["se"])

    def ratio_of(num, num_se, den, den_se):
        r = num / den
        return r, r * math.hypot(num_se / num, den_se / den)

    ratio = ratio_se = ratio_plain = ratio_ex = ratio_ex_se = None
    if gp is not None:
        g, g_se = gp_cost()
        h, h_se = ((hy_t["adjusted"]["s"], hy_t["adjusted"]["se"]) if hy_t["adjusted"] is not None and
                   gp["adjusted"] is not None else (hy_t["per_traj_s"], hy_t["se"]))
        ratio, ratio_se = ratio_of(g, g_se, h, h_se)
        ratio_plain = gp["per_traj_s"] / hy_t["per_traj_s"]
        if ex_t is not None and ex_t["adjusted"] is not None and gp["adjusted"] is not None:
            ratio_ex, ratio_ex_se = ratio_of(g, g_se, ex_t["adjusted"]["s"], ex_t["adjusted"]["se"])

    # ---- report (times are CPU seconds on the one pinned core; wall-clock in brackets)
    line = "-" * 112
    busy = []

    def note_busy(label, cpu, wall):
        if wall > 1.25 * cpu and wall - cpu > 0.05:
            busy.append(f"{label} ({wall / cpu:.1f}x)")

    print(line)
    print("times are CPU seconds of this process and its children on the one pinned core; [wall-clock]")
    print("1. default scenario (examples/breast_surgery.toml: primary resected at 2 cm, 10-year follow-up), 1 core")
    print(f"   first call (numba compile or cache load)    [{warm_first:7.2f} s]")
    print(f"   simulate_summary, {a.patients:4d} patients          {c_sum.cpu:8.2f} s [{c_sum.wall:7.2f}]"
          f"  {pps:7.1f} patients/s  ({c_sum.cpu / a.patients * 1e3:.2f} ms/patient)   goal >= 100/s: "
          f"{'met' if pps >= 100 else 'NOT MET'}")
    note_busy("default patients", c_sum.cpu, c_sum.wall)
    if kernel_pps is not None:
        print(f"   kernel only (inputs built once)            {c_k.cpu:8.2f} s [{c_k.wall:7.2f}]"
              f"  {kernel_pps:7.1f} patients/s  (build_inputs: {build_ms:.2f} ms per call)")
    print(f"   simulate() with tables, {a.full:4d} patients    {c_full.cpu:8.2f} s [{c_full.wall:7.2f}]"
          f"  {a.full / c_full.cpu:7.1f} patients/s  ({c_full.cpu / a.full * 1e3:.2f} ms/patient)")
    print(f"   outcomes: relapse {relapse:.2f}, death {died:.2f}, {colonies:.1f} colonies started per patient")
    print("2. mean-field engine, default scenario")
    if mf_s is not None:
        print(f"   solve time (median of {a.meanfield_repeats})                   {mf_s:8.3f} s "
              f"[{statistics.median(mf_wall):7.3f}]")
    else:
        print("   failed (see WARNING)")
    print("3. matched reaction network, seedsoil vs GillesPy2, 1 core")
    print(f"   rates: alpha = {k['alpha']:.4g}/day (primary held at {N_PRIMARY:g} cells), q = "
          f"{k['kD'] / k['alpha']:.3g}, p = {k['kP'] / k['alpha']:.3g}, d = {k['d']:g}/day, a = {k['a']:g}/day, "
          f"lambda = {k['lam']:g}/day, lambda - r = {k['mu']:g}/day")
    sim = sc_default_thr.simulation
    print(f"   seedsoil default thresholds: exact SSA below {sim.exact_threshold:g} cells, leaps up to "
          f"{sim.stochastic_threshold:g}, deterministic above; dt = {sim.dt:g} day")
    print(f"   at t = {T_END:g} days: mean ± SE (from the exact SD), sample SD")
    hdr = "".join(f"{h:>28s}" for h in ("S colonies started", "D dormant cells", "P dividing cells"))
    print(f"   {'':30s}{hdr}")

    def cell(mean, se, sd):
        return f"{mean:.4g} ± {se:.2g}  sd {sd:.4g}" if se is not None else f"{mean:.4g}  sd {sd:.4g}"

    print(f"   {'exact (moment equations)':30s}" + "".join(
        f"{cell(theory['mean'][s], None, theory['sd'][s]):>28s}" for s in species))
    rows = (("seedsoil, default thresholds", hy), ("seedsoil, exact SSA only", ex), ("GillesPy2 SSACSolver", gp))
    for label, res in rows:
        if res is not None:
            print(f"   {label:30s}" + "".join(
                f"{cell(res[s]['mean'], se_mean(res, s), res[s]['sd']):>28s}" for s in species))
    for label, zs in (("default thresholds", zs_hy), ("exact SSA only", zs_ex)):
        if zs is not None:
            print(f"   |z| seedsoil ({label}) vs GillesPy2, (mean, sd): " + "; ".join(
                f"{s} {zs[s][0]:.1f}, {zs[s][1]:.1f}" for s in species)
                + f"  -> {'AGREE' if agree(zs) else 'DISAGREE'} (limit {Z_MAX:g})")
    counted = ", ".join(f"{lbl} {t['work_mean']:.3g}" for lbl, t in (
        ("seedsoil default thr.", hy_t), ("seedsoil exact SSA", ex_t), ("GillesPy2", gp))
                        if t is not None and t.get("work_mean") is not None)
    print(f"   division + death events per trajectory: expected {W:.4g}" + (f"; counted mean: {counted}" if counted else ""))
    print(f"   {'cost per trajectory (CPU)':46s}{'mean ± SE [wall]':>26s}{'at expected workload':>24s}"
          f"{'per event':>12s}")

    def trow(label, t):
        adj = t.get("adjusted")
        mean = f"{t['per_traj_s'] * 1e3:.2f} ± {t['se'] * 1e3:.2f} [{t['wall_s'] * 1e3:.2f}] ms"
        at = f"{adj['s'] * 1e3:.2f} ± {adj['se'] * 1e3:.2f} ms" if adj else "-"
        per = f"{adj['per_event_s'] * 1e9:.3g} ns" if adj else "-"
        print(f"   {label:46s}{mean:>26s}{at:>24s}{per:>12s}")
        note_busy(label, t["per_traj_s"], t["wall_s"])

    trow(f"seedsoil, default thresholds ({a.trajectories} patients)", hy_t)
    if ex_t is not None:
        trow(f"seedsoil, exact SSA only ({a.exact_trajectories} patients)", ex_t)
    if gp is not None:
        trow(f"GillesPy2 {gp['solver']} ({a.trajectories} traj., {gp['batches']} runs)", gp)
        print(f"   GillesPy2 C++ build (once, not in the ratio)   [{gp['compile_s']:.2f} s]")
        print(f"   ratio GillesPy2 / seedsoil (default thresholds) {ratio:7.1f} x ± {ratio_se:.2f}   goal >= 10x: "
              f"{'met' if ratio >= 10 else 'NOT MET'}   (the JSON figure; plain means: {ratio_plain:.1f} x)")
        if ratio_ex is not None:
            print(f"   ratio GillesPy2 / seedsoil (exact SSA only)     {ratio_ex:7.1f} x ± {ratio_ex_se:.2f}   "
                  "(both event by event, at the expected workload)")
    print(line)
    if busy:
        warnings.append("the machine was busy (wall-clock > CPU time: " + ", ".join(busy)
                        + f"; load average at end {os.getloadavg()[0]:.2f}); wall-clock figures are inflated")
    for w in warnings:
        print(f"WARNING: {w}")
    print(f"total benchmark time {time.perf_counter() - t_start:.1f} s")
    print(json.dumps({"patients_per_s_1core": round(pps, 2),
                      "gillespy2_ratio": round(ratio, 2) if ratio is not None else None,
                      "meanfield_solve_s": round(mf_s, 4) if mf_s is not None else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
