#!/usr/bin/env python
"""Tissue-scale benchmark: agent-updates per second of ``seedsoil.tissue`` on the PhysiCell
mechanics workload (10k, 50k and 200k agents, 2-D and 3-D), without and with PhysiCell's
diffusing substrate, with every agent's own cell network on top (against libroadrunner
stepped per agent), its peak memory, and a side-by-side run against the same model
written with Mesa.

Prints a table of every figure, then, as its last line, one JSON object::

    {"2d_10k": ..., "2d_50k": ..., "2d_200k": ..., "3d_10k": ..., "3d_50k": ..., "3d_200k": ...,
     "peak_rss_mib_2d_200k": ..., "mesa_ratio": ...,
     "2d_10k_field": ..., "2d_50k_field": ..., "2d_200k_field": ...,
     "3d_10k_field": ..., "3d_50k_field": ..., "3d_200k_field": ...,
     "2d_50k_field_network": ..., "network_vs_roadrunner_ratio": ...}

(agent-updates per second on 2 numba threads; peak RSS in MiB; ``mesa_ratio`` =
seedsoil ÷ Mesa agent-updates per second; ``*_field``: with the substrate on, the
configuration of PhysiCell's published figures; ``2d_50k_field_network``: with the
substrate and every agent's cell network; ``network_vs_roadrunner_ratio``: libroadrunner's
seconds per agent-update of the network ÷ seedsoil's, one core each). Goal: >= 10x
PhysiCell's published throughput at every size, with the field on.

The workload
------------
``seedsoil.tissue.workload.workload_engine`` (the PhysiCell 1.14.2 ``template``
project's mechanics):

- cells placed uniformly at random: 2-D at 400 µm² per cell, 3-D at 5000 µm³ per
  cell (about 50 % volume fraction); no division, no death, constant N;
- radius 8.41 µm (volume 2494 µm³), mechanics step dt = 0.1 min;
- pair forces, with R = r_i + r_j and S = 1.25 R: repulsion ``(1 − d/R)² · 10 µm/min``
  for d < R, adhesion ``−(1 − d/S)² · 0.4 µm/min`` for d < S, velocity += (net / d) ×
  displacement, each pair evaluated from both sides;
- motility: a persistent random walk at 1 µm/min with persistence 5 min (a new
  uniform direction with probability dt/P per step), added to the velocity;
- soft wall repulsion at the domain edge; overdamped Adams-Bashforth-2 positions
  ``x += dt (1.5 v − 0.5 v_prev)``.

PhysiCell also runs one diffusing substrate and zero-rate cell-interaction checks
(together 30-50 % of its loop). The mechanics-only rows leave those out, as the
workload note allows. With its substrate step coarsened to the mechanics step (closest
to mechanics only) PhysiCell does 391k / 181k / 136k agent-updates/s (2-D, 2 threads),
printed for reference.

The field rows put the substrate back (``workload.workload_fields``): one substrate on
20 µm voxels (BioFVM's default) covering the workload box (2-D: a slab one voxel thick),
no-flux faces, advanced after every 0.1 min mechanics step in 10 sub-steps of 0.01 min
(PhysiCell's ``diffusion_dt``) by ``tissue.chemistry.FieldCoupling``, every agent
exchanging with its voxel: D = 1e5 µm²/min, decay 0.1/min, secretion S = 10/min towards
ρ* = 1, uptake U = 1/min, from 0 (rates of the template's order; the cost does not
depend on them). 2-D: about one voxel per agent (400 µm² per cell, 20 µm voxels);
3-D: 0.625 voxels per agent. The sweeps run serially (``DiffusionFields``' default,
faster than its parallel sweeps on the shared 2 cores), the mechanics on 2 threads.
The PhysiCell figures the field rows are compared with are the table's: 270k / 142k /
116k (2-D) and 161k / 77k / 53k (3-D), which are PhysiCell with its substrate on. The
``field`` column is the share of the loop's wall time in the field's ``after_step``
(the coupling's Python and the serial kernel); a field row expects about
``2 (1 − share) + share`` cores.

The field and every agent's network: the 2-D workload at 50k agents with the substrate
(named IL6, in nM) and every agent carrying the built-in network
(``seedsoil.cell.builtin_network``: 10 species, 21 reactions, time in days), each with
its own parameters (``cell_parameters`` with ``default_variability``) and started from the
untreated dish state of those parameters (``population.pretreatment_days``), as
``tissue.model.attach_chemistry`` prepares agents; all of that untimed. Every 6 min
(every 60 mechanics steps) ``tissue.signalling.AgentSignalling`` integrates every agent's
network over 6 min in one batched call of the stiff solver, IL6 read from the field at
the agent, other inputs at the network's defaults, rtol 1e-6, atol 1e-9, no phenotype
map (states only). Timed: ``--network-steps`` (120: two updates of every agent)
mechanics steps after the warm-up, everything included, as agents × mechanics steps /
wall seconds; the field's and the network's ``after_step`` are timed apart (the rest is
mechanics), and the network's cost per update of every agent is printed against the 60
mechanics+field steps between two updates.

The network peer: libroadrunner as PhysiCell's intracellular add-on (RoadRunner
intracellular) steps it: one RoadRunner instance per agent, built from
``seedsoil.cell.sbml.to_sbml`` of the same network with the agent's parameters and
state (untimed); then, per update and agent, set its IL6 input to what the field holds
at the agent, ``simulate(t, t + 6 min, 2)`` and read the species back (as
``bench_cell.peer_run_abm`` steps it; same tolerances). Timed on ``--rr-agents`` (100)
agents spread over the population, ``--rr-updates`` (3) updates each, one core; their
start states and IL6 are those of seedsoil's last timed update, whose results they are
checked against (max relative difference printed). seedsoil's side:
``AgentSignalling.update`` alone for every agent (best of ``--repeats``), on 1 thread
and on 2. ``network_vs_roadrunner_ratio`` = roadrunner's seconds per agent-update ÷
seedsoil's on 1 thread (one core each); the 2-thread ratio is printed beside. PhysiCell's neighbour search uses 30 µm voxels (about 20
candidates per cell in 2-D, 120 in 3-D); seedsoil uses Verlet lists (interaction
reach 21.0 µm + 3 µm skin) rebuilt, after re-ordering the agents by voxel, whenever
an agent has moved more than half the skin. PhysiCell's figures were measured on
this kind of machine (2 vCPUs, AMD EPYC Zen 4 class) with a stock build (-O3
-march=native, OpenMP); the machine is noisy (±25 % between reruns).

How it is measured
------------------
Throughput = agents × mechanics steps / wall seconds of the stepping loop
(``engine.step(k)``) alone. Each size and configuration builds a fresh engine
(same seed, so every repeat does the same work, from random placement as
PhysiCell's runs do), steps it a few steps untimed (warm-up), then times ``k``
steps, with k = ``--agent-steps`` / N (50 million agent-steps by default: 5,000
steps at 10k, 1,000 at 50k, 250 at 200k, so each timing takes several seconds;
with the field ``--field-agent-steps``, 10 million: 1,000 / 200 / 50 steps);
best of ``--repeats`` (3). numba's compilation or on-disk cache load happens
once, before anything is timed (an engine of 10k agents, then one of 200, each without
and with the field, in 2-D
and 3-D: the engine runs serial kernels below a few thousand agents), and is
printed apart. Threads: 2 numba threads (all cores of the 2-core machine) for the
headline figures and the JSON line; 2-D is also timed on 1 thread, since
PhysiCell publishes 1-thread 2-D figures.

The table also shows µs per agent-step, the neighbour-list rebuild interval
(steps per rebuild), the CPU cores the timed loop got (CPU ÷ wall time) and the
cores other processes used meanwhile (from /proc/stat). A row that got clearly
fewer cores than threads (below 0.9 ×) is one of two things, told apart by the
per-thread CPU time (/proc/self/task): if the worker threads did part of the work,
other processes took our cores (an OpenMP loop whose thread is descheduled waits
for it); the row is marked * and timed up to ``--retries`` (3) more times. If one
thread did all the work, the parallel kernels did not run in parallel; the row is
marked ! and the script warns.

Peak memory: a fresh child process (this script with ``--child-rss``) imports
numpy, numba and seedsoil, builds the 2-D workload and steps it 50 steps on 2
threads; its peak RSS, including the interpreter, the imports, numba/LLVM and the
compiled kernels, is the figure. Done at 10k, 50k and 200k, and with 100 agents
for the fixed cost (the RSS right after the imports is printed too). PhysiCell:
57 / 263 / 1035 MiB. The child reads its peak from ``VmHWM`` in /proc/self/status,
not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux keeps ``ru_maxrss`` across
``execve`` from the forked copy of the parent, so a child of this (by then large)
benchmark process would report at least the parent's RSS.

The peer (Mesa)
---------------
The same model written here with Mesa's continuous space (``mesa.space.ContinuousSpace``,
2-D only): agents are ``mesa.Agent`` objects, the model a ``mesa.Model`` subclass
whose step calls ``agents.do("compute_velocity")`` and then ``agents.do("move")``
(synchronous update: all velocities first, then all moves). Neighbours come from
``space.get_neighbors(pos, 21.025)`` (the adhesion reach S), forces, walk, soft
wall and Adams-Bashforth-2 update as above, positions clamped to the box. Mesa is
timed at 1,000 agents (2-D, same density, from the same placement as
``workload_engine(1000, seed=0)``), one core (it is pure Python). Its cost per
agent grows with N (``get_neighbors`` scans every agent: the table shows Mesa at
10,000 agents too), so timing it at 1,000 is generous to Mesa. ``mesa_ratio`` =
seedsoil's 2-D 2-thread agent-updates/s at 10k ÷ Mesa's at 1,000; the ratios at
the same N (1,000, and 10,000) are printed too.

Same model check: both codes start from the same 400 positions with motility off
(speed 0) and take 20 steps; the largest difference in any coordinate is printed
(rounding only: it should be below 1e-9 µm).

Run:  PYTHONPATH=src python benchmarks/bench_tissue.py [--quick]
A full run takes about 6 minutes on the quiet 2-core machine (longer when timings
are retried). ``--quick`` (5 million agent-steps per mechanics-only timing, 1 million
with the field, 1 repeat, 60 steps of the network run, 20 roadrunner agents, a short
Mesa run) is a smoke test of about a minute.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
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

from seedsoil.tissue import _kernels as K
from seedsoil.tissue import workload as W
from seedsoil.tissue.engine import Agents, Mechanics, TissueEngine, set_threads

SIZES = (10_000, 50_000, 200_000)
SEED = 0
THREADS = 2
C_REP, C_ADH, ADH_RANGE = 10.0, 0.4, 1.25  # µm/min, µm/min, S / R (as in workload_engine)

# PhysiCell 1.14.2 (template project) measured on this kind of 2-core machine, as given in the
# project's benchmark brief for this workload
# (agent-updates per second; peak memory in MiB).
PHYSICELL = {
    ("2d", 2): {10_000: 270e3, 50_000: 142e3, 200_000: 116e3},
    ("2d", 1): {10_000: 126e3, 50_000: 70e3, 200_000: 58e3},
    ("3d", 2): {10_000: 161e3, 50_000: 77e3, 200_000: 53e3},
}
PHYSICELL_MECH_ONLY_2D = {10_000: 391e3, 50_000: 181e3, 200_000: 136e3}  # substrate step = mechanics step
PHYSICELL_RSS_MIB = {10_000: 57, 50_000: 263, 200_000: 1035}
GOAL = 10.0  # x PhysiCell


def label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


# --------------------------------------------------------------------------- seedsoil
def busy_seconds() -> float:
    """CPU seconds all processes on the machine have used so far (/proc/stat; NaN off Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return math.nan
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def thread_ticks() -> dict[int, int]:
    """CPU clock ticks used so far by each thread of this process (/proc/self/task; empty off Linux)."""
    out = {}
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError, IndexError):
        return {}
    return out


def helper_share(before: dict[int, int], after: dict[int, int]) -> float:
    """Share of the CPU time between two ``thread_ticks`` that threads other than the busiest
    one used: about (threads - 1) / threads when the parallel kernels run in parallel, ~0 when
    they run serially. NaN when unknown."""
    used = sorted((t - before.get(tid, 0) for tid, t in after.items()), reverse=True)
    total = sum(used)
    return (total - used[0]) / total if total > 0 else math.nan


class Timed:
    """A coupling (``after_step(engine)``) wrapped to add up the wall seconds it takes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.seconds = 0.0

    def after_step(self, engine) -> None:
        t = time.perf_counter()
        self.inner.after_step(engine)
        self.seconds += time.perf_counter() - t


def time_seedsoil(n: int, dims: int, threads: int, steps: int, repeats: int, warmup: int, retries: int = 0,
                  field: bool = False) -> dict:
    """Best of ``repeats`` timings of ``steps`` steps, each on a fresh engine (same seed); up to
    ``retries`` more while the best one did not get its cores because other processes were busy.
    ``field``: with the workload's diffusing substrate (``workload_fields``), its share timed."""
    got = set_threads(threads)
    best = None
    done = 0
    while done < repeats or (done < repeats + retries and contended(best)):
        done += 1
        eng = W.workload_engine(n, dims, seed=SEED)
        timer = None
        if field:
            W.workload_fields(eng)
            timer = Timed(eng.couplings.pop())
            eng.couplings.append(timer)
        eng.step(warmup)
        r0 = eng.rebuilds
        f0 = timer.seconds if timer else 0.0
        k0, b0, c0, t0 = thread_ticks(), busy_seconds(), time.process_time(), time.perf_counter()
        eng.step(steps)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        others = max(busy_seconds() - b0 - cpu, 0.0) / wall
        run = {"wall": wall, "cores": cpu / wall, "others": others, "threads": got, "rebuilds": eng.rebuilds - r0,
               "helpers": helper_share(k0, thread_ticks()),
               "field_share": (timer.seconds - f0) / wall if timer else 0.0}
        # the part of the loop that runs on one thread: the field, unless its sweeps are parallel
        run["serial_share"] = run["field_share"] if field and not timer.inner.fields.parallel else 0.0
        if best is None or wall < best["wall"]:
            best = run
        del eng
    rate = n * steps / best["wall"]
    return {"n": n, "dims": dims, "threads": got, "steps": steps, "wall": best["wall"], "rate": rate,
            "us_per_agent_step": 1e6 / rate, "rebuild_every": steps / max(best["rebuilds"], 1),
            "cores": best["cores"], "others": best["others"], "helpers": best["helpers"], "runs": done,
            "field": field, "field_share": best["field_share"], "serial_share": best["serial_share"]}


def expected_cores(r: dict) -> float:
    """Cores the timed loop should get: its threads, but one during the serial field sweeps."""
    share = r.get("serial_share", 0.0)
    return r["threads"] * (1.0 - share) + min(r["threads"], 1) * share


def short_of_cores(r: dict) -> bool:
    """The timed loop ran on clearly fewer cores than it should have (``expected_cores``)."""
    return r["cores"] < 0.9 * expected_cores(r)


def serial(r: dict) -> bool:
    """Several threads asked for, but (almost) all the work ran on one thread."""
    return r["threads"] > 1 and r["helpers"] < 0.05


def contended(r: dict) -> bool:
    """Short of cores although the kernels ran in parallel: other processes took our cores."""
    return short_of_cores(r) and not serial(r)


# --------------------------------------------------------------------------- field + each agent's network
NETWORK_N = 50_000
NETWORK_INTERVAL = 6.0  # min between network updates (PhysiCell's phenotype step)
RR_RTOL, RR_ATOL = 1e-6, 1e-9  # both codes (AgentSignalling's defaults; as bench_cell)


def network_engine(n: int):
    """(engine, field coupling, AgentSignalling, network, seconds of the untimed preparation): the
    2-D workload with its substrate named IL6 (nM) and every agent carrying the built-in network
    with its own parameters (``default_variability``), started from the untreated dish state of
    those parameters (``population.pretreatment_days``), as ``tissue.model.attach_chemistry`` does;
    IL6 read from the field at each agent, the other inputs at the network's defaults."""
    from seedsoil.cell import builtin_network
    from seedsoil.cell.phenotype import default_variability, phenotype_parameters
    from seedsoil.cell.solver import CellSolverError, cell_parameters, integrate
    from seedsoil.tissue.signalling import AgentSignalling

    t0 = time.perf_counter()
    net = builtin_network()
    eng = W.workload_engine(n, 2, seed=SEED)
    coupling = W.workload_fields(eng, name="IL6")
    a = eng.agents
    a.carry_network(len(net.species), len(net.parameters))
    a.cellpar[:n] = cell_parameters(net, n, variability=default_variability(net), seed=SEED)
    a.species[:n] = net.initial_state
    dish = net.input_defaults[None, None, :].astype(float)
    days = phenotype_parameters()["population.pretreatment_days"]
    out, stats = integrate(net, a.species[:n], a.cellpar[:n], np.zeros(1), dish, np.array([0.0, days]),
                           parallel=n >= 256)
    if stats[:, 2].any():
        raise CellSolverError("agents' networks failed in the untreated dish state")
    a.species[:n] = out[:, -1]
    sig = AgentSignalling(net, interval=NETWORK_INTERVAL, fields=coupling.fields, field_inputs={"IL6": "IL6"},
                          rtol=RR_RTOL, atol=RR_ATOL)
    eng.couplings.append(sig)
    return eng, coupling, sig, net, time.perf_counter() - t0


def time_network_run(n: int, threads: int, steps: int, warmup: int) -> dict:
    """The 2-D workload with the field and every agent's network: ``steps`` mechanics steps timed
    (everything included), split into mechanics, field and network by timing each coupling."""
    got = set_threads(threads)
    eng, coupling, sig, net, prep = network_engine(n)
    eng.couplings[:] = [Timed(c) for c in eng.couplings]
    field_t, net_t = eng.couplings
    eng.step(warmup)
    f0, s0, u0 = field_t.seconds, net_t.seconds, sig.agent_updates
    k0, c0, t0 = thread_ticks(), time.process_time(), time.perf_counter()
    eng.step(steps)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    updates = sig.agent_updates - u0
    field_s, net_s = field_t.seconds - f0, net_t.seconds - s0
    return {"n": n, "threads": got, "steps": steps, "wall": wall, "rate": n * steps / wall, "prep": prep,
            "field_s": field_s, "network_s": net_s, "mechanics_s": wall - field_s - net_s,
            "agent_updates": updates, "network_per_update": net_s / max(updates, 1), "cores": cpu / wall,
            "helpers": helper_share(k0, thread_ticks()), "eng": eng, "sig": sig, "net": net}


def time_signalling_update(eng, sig, threads: int, repeats: int, sample: np.ndarray) -> dict:
    """``AgentSignalling.update`` alone (every active agent, one interval) on ``threads``: best of
    ``repeats`` seconds per agent-update. Also returns, for the agents ``sample`` (rows), the state
    and IL6 each started the last update from and the state it ended at (for the peer)."""
    set_threads(threads)
    a = eng.agents
    col = sig.network.input_index["IL6"]
    best = math.inf
    for _ in range(repeats):
        start = a.species[sample].copy()
        il6 = sig.input_matrix(a, sample)[:, col]
        t0 = time.perf_counter()
        sig.update(a)
        best = min(best, time.perf_counter() - t0)
    n_active = len(sig.rows(a))
    return {"threads": threads, "per_update": best / n_active, "seconds": best, "agents": n_active,
            "start": start, "il6": il6, "end": a.species[sample].copy()}


def roadrunner_abm(net, species: np.ndarray, cellpar: np.ndarray, il6: np.ndarray, updates: int) -> dict:
    """libroadrunner stepped as PhysiCell's intracellular add-on steps it: one RoadRunner instance
    per agent (built, given the agent's parameters and state, untimed), then per update and agent:
    set its IL6 input from the field, ``simulate(t, t + 6 min)``, read its species back. Timed over
    ``updates`` updates of every sampled agent; returns seconds per agent-update and the states
    after the first update (to compare with seedsoil's from the same start)."""
    import roadrunner

    from seedsoil.cell.sbml import to_sbml

    sbml = to_sbml(net)
    runners = []
    for c in range(len(species)):
        r = roadrunner.RoadRunner(sbml)
        r.integrator.relative_tolerance = RR_RTOL
        r.integrator.absolute_tolerance = RR_ATOL
        if c == 0:
            p_order = [list(net.parameter_names).index(pid) for pid in r.model.getGlobalParameterIds()]
            s_ids = list(r.model.getFloatingSpeciesIds())
            s_order = [list(net.species_names).index(sid) for sid in s_ids]
            back = [s_ids.index(name) for name in net.species_names]
        r.model.setGlobalParameterValues(cellpar[c, p_order])
        r.model.setFloatingSpeciesConcentrations(species[c, s_order])
        r.timeCourseSelections = ["time"]
        runners.append(r)
    dt = NETWORK_INTERVAL / 1440.0  # the SBML's time unit is the day
    first = np.empty_like(species)
    t0 = time.perf_counter()
    for k in range(updates):
        for c, r in enumerate(runners):
            r.setValue("[IL6]", float(il6[c]))
            r.simulate(k * dt, (k + 1) * dt, 2)
            state = r.model.getFloatingSpeciesConcentrations()
            if k == 0:
                first[c] = state[back]
    wall = time.perf_counter() - t0
    return {"agents": len(species), "updates": updates, "seconds": wall,
            "per_update": wall / (len(species) * updates), "first": first, "version": roadrunner.__version__}


def seedsoil_engine_at(pos: np.ndarray, side: float, speed: float) -> TissueEngine:
    """The workload's mechanics with the agents at ``pos`` (as ``workload_engine`` builds it)."""
    dims = pos.shape[1]
    agents = Agents.from_columns(pos, radius=W.RADIUS, kind=K.TUMOUR, speed=speed, persist=W.PERSISTENCE)
    mech = Mechanics(dt=W.DT, repulsion=np.full((2, 2), C_REP), adhesion=np.full((2, 2), C_ADH),
                     adhesion_range=ADH_RANGE, motility_law=K.TURN, walls=True)
    return TissueEngine(agents, np.zeros(dims), np.full(dims, side), mech, seed=SEED)


def _status_mib(key: str) -> float | None:
    """``VmHWM`` / ``VmRSS`` of this process from /proc/self/status, in MiB (None off Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def child_rss(n: int, dims: int, steps: int, threads: int) -> int:
    """(Child process) build and step the workload, print its peak RSS as JSON.

    The peak is ``VmHWM`` (this process image's RSS high-water mark). ``ru_maxrss`` is
    only the fallback off Linux: Linux carries it across ``execve`` from the forked copy
    of the parent, so a child started by a big parent reports at least the parent's RSS.
    """
    imports = _status_mib("VmRSS")  # interpreter, numpy, numba, seedsoil (all imported at module level)
    set_threads(threads)
    t0 = time.perf_counter()
    eng = W.workload_engine(n, dims, seed=SEED)
    eng.step(steps)
    peak = _status_mib("VmHWM")
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(json.dumps({"n": n, "dims": dims, "steps": steps, "peak_rss_mib": peak, "imports_rss_mib": imports,
                      "seconds": time.perf_counter() - t0, "threads": set_threads(None)}))
    return 0


def measure_rss(n: int, dims: int, steps: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child-rss", str(n), "--dims", str(dims), "--steps", str(steps),
           "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the Mesa peer
def mesa_model_classes():
    """The workload written with Mesa (imported here, so ``--child-rss`` never loads Mesa)."""
    import mesa
    from mesa.space import ContinuousSpace

    class Cell(mesa.Agent):
        """A cell: persistent random walk plus pair repulsion/adhesion with its neighbours."""

        def __init__(self, model, radius: float, speed: float, persistence: float):
            super().__init__(model)
            self.radius = radius
            self.speed = speed
            self.persistence = persistence
            self.mot = (0.0, 0.0)
            self.vel = (0.0, 0.0)
            self.vel_prev = (0.0, 0.0)

        def compute_velocity(self):
            m = self.model
            # persistent random walk: a new uniform direction with probability dt / persistence
            if self.speed > 0.0 and (m.steps == 1 or self.random.random() < m.dt / self.persistence):
                angle = 2.0 * math.pi * self.random.random()
                self.mot = (self.speed * math.cos(angle), self.speed * math.sin(angle))
            vx, vy = self.mot
            x, y = self.pos
            for other in m.space.get_neighbors(self.pos, m.reach, include_center=True):
                if other is self:
                    continue
                dx = x - other.pos[0]
                dy = y - other.pos[1]
                d = math.sqrt(dx * dx + dy * dy)
                r_sum = self.radius + other.radius
                s = m.adhesion_range * r_sum
                if d == 0.0 or d >= s:
                    continue
                f = -m.c_adh * (1.0 - d / s) ** 2
                if d < r_sum:
                    f += m.c_rep * (1.0 - d / r_sum) ** 2
                vx += f / d * dx
                vy += f / d * dy
            # soft walls: repulsion c_rep (1 - distance / r)^2 within one radius of an edge
            vx += m.wall_push(x, self.radius)
            vy += m.wall_push(y, self.radius)
            self.vel = (vx, vy)

        def move(self):
            m = self.model
            x, y = self.pos
            vx, vy = self.vel
            if m.steps == 1:  # forward Euler on the first step, then Adams-Bashforth 2
                x += m.dt * vx
                y += m.dt * vy
            else:
                px, py = self.vel_prev
                x += m.dt * (1.5 * vx - 0.5 * px)
                y += m.dt * (1.5 * vy - 0.5 * py)
            self.vel_prev = self.vel
            m.space.move_agent(self, (min(max(x, 0.0), m.side), min(max(y, 0.0), m.side)))

    class Tissue(mesa.Model):
        """Cells in a square box [0, side]² with soft walls, synchronous update."""

        def __init__(self, pos, side: float, speed: float, seed: int = 0):
            super().__init__(seed=seed)
            self.side = side
            self.dt = W.DT
            self.c_rep = C_REP
            self.c_adh = C_ADH
            self.adhesion_range = ADH_RANGE
            self.reach = ADH_RANGE * 2.0 * W.RADIUS
            # positions are clamped to [0, side]; Mesa's bounds exclude x_max itself
            edge = float(np.nextafter(side, np.inf))
            self.space = ContinuousSpace(edge, edge, torus=False)
            for p in pos:
                cell = Cell(self, W.RADIUS, speed, W.PERSISTENCE)
                self.space.place_agent(cell, (float(p[0]), float(p[1])))

        def wall_push(self, xk: float, r: float) -> float:
            push = 0.0
            if xk < r:
                push += self.c_rep * (1.0 - max(xk, 0.0) / r) ** 2
            if self.side - xk < r:
                push -= self.c_rep * (1.0 - max(self.side - xk, 0.0) / r) ** 2
            return push

        def step(self):
            self.agents.do("compute_velocity")
            self.agents.do("move")

    return Tissue


def workload_positions(n: int) -> tuple[np.ndarray, float]:
    """The 2-D placement ``workload_engine(n, 2, seed=SEED)`` starts from."""
    side = W.workload_box(n, 2)
    return np.random.default_rng(SEED).uniform(0.0, side, size=(n, 2)), side


def time_mesa(Tissue, n: int, steps: int) -> dict:
    pos, side = workload_positions(n)
    model = Tissue(pos, side, speed=W.SPEED, seed=SEED)
    model.step()  # warm-up (and the first, forward-Euler step)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        model.step()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rate = n * steps / wall
    return {"n": n, "steps": steps, "wall": wall, "rate": rate, "us_per_agent_step": 1e6 / rate,
            "cores": cpu / wall}


def same_model_check(Tissue, n: int, steps: int) -> float:
    """Max |position difference| (µm) after ``steps`` steps from the same start, motility off."""
    pos, side = workload_positions(n)
    eng = seedsoil_engine_at(pos, side, speed=0.0)
    eng.step(steps)
    a = eng.agents
    ours = np.empty((n, 2))
    ours[a.ids[:a.n]] = a.pos[:a.n]
    model = Tissue(pos, side, speed=0.0, seed=SEED)
    for _ in range(steps):
        model.step()
    theirs = np.array([cell.pos for cell in sorted(model.agents, key=lambda c: c.unique_id)])  # = ids 0..n-1
    moved = float(np.abs(ours - pos).max())
    if moved < 1e-3:
        raise RuntimeError("same-model check: the agents did not move")
    return float(np.abs(ours - theirs).max())


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agent-steps", type=float, default=50e6, help="agents x steps per timing (steps = this / N)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--retries", type=int, default=3,
                    help="extra repeats while the best timing did not get its cores (others were busy)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps on each engine before timing")
    ap.add_argument("--threads", type=int, default=THREADS)
    ap.add_argument("--rss-steps", type=int, default=50)
    ap.add_argument("--mesa-n", type=int, default=1_000)
    ap.add_argument("--mesa-steps", type=int, default=100)
    ap.add_argument("--mesa-big-n", type=int, default=10_000, help="Mesa also timed here (0: skip)")
    ap.add_argument("--mesa-big-steps", type=int, default=3)
    ap.add_argument("--field-agent-steps", type=float, default=10e6,
                    help="agents x steps per timing with the field on (steps = this / N)")
    ap.add_argument("--network-n", type=int, default=NETWORK_N, help="agents of the field + network run (2-D)")
    ap.add_argument("--network-steps", type=int, default=120,
                    help="mechanics steps timed in the field + network run (60 per network update)")
    ap.add_argument("--rr-agents", type=int, default=100, help="agents timed with libroadrunner (one instance each)")
    ap.add_argument("--rr-updates", type=int, default=3, help="6-min updates of each roadrunner agent timed")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child-rss", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--dims", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=50, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child_rss is not None:
        return child_rss(a.child_rss, a.dims, a.steps, a.threads)
    if a.quick:
        a.agent_steps, a.repeats, a.retries, a.rss_steps, a.mesa_steps, a.mesa_big_n = 5e6, 1, 0, 10, 10, 0
        a.field_agent_steps, a.network_steps, a.rr_agents, a.rr_updates = 1e6, 60, 20, 2

    import mesa
    import numba

    # numba compilation / cache load, once, before anything is timed
    t0 = time.perf_counter()
    set_threads(a.threads)
    for dims in (2, 3):  # the multi-threaded kernels (at the benchmark's sizes), then the small-N ones
        for n in (SIZES[0], 200):
            W.workload_engine(n, dims, seed=1).step(3)
            eng = W.workload_engine(n, dims, seed=1)
            W.workload_fields(eng)
            eng.step(2)
    compile_s = time.perf_counter() - t0

    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    print("seedsoil tissue benchmark (PhysiCell mechanics workload)")
    print(f"  cpu        : {cpu_model()} ({os.cpu_count()} logical, {ncpu} usable); "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  versions   : seedsoil {seedsoil.__version__}, numba {numba.__version__} "
          f"(threading layer {numba.threading_layer()}), numpy {np.__version__}, mesa {mesa.__version__}")
    print(f"  workload   : radius {W.RADIUS} um, 2-D {W.AREA_PER_CELL:g} um^2/cell, 3-D {W.VOLUME_PER_CELL:g} "
          f"um^3/cell, repulsion {C_REP:g}, adhesion {C_ADH:g} um/min (S = {ADH_RANGE} R), walk {W.SPEED:g} um/min, "
          f"persistence {W.PERSISTENCE:g} min, dt {W.DT} min, soft walls, AB2; no proliferation")
    print(f"  field      : {W.FIELD_VOXEL:g} um voxels, sub-step {W.FIELD_DT:g} min, D {W.FIELD_DIFFUSION:g} um^2/min, "
          f"decay {W.FIELD_DECAY:g}/min, every agent: secretion {W.FIELD_SECRETION:g}/min towards "
          f"{W.FIELD_SATURATION:g}, uptake {W.FIELD_UPTAKE:g}/min; no-flux faces; serial sweeps")
    print(f"  timing     : {a.agent_steps / 1e6:g}M agent-steps per timing ({a.field_agent_steps / 1e6:g}M with the "
          f"field), best of {a.repeats}, fresh engine "
          f"(seed {SEED}) per repeat, {a.warmup} warm-up steps untimed")
    print(f"  compile / cache load: {compile_s:.2f} s (once per machine; then numba's disk cache)")
    if set_threads(a.threads) != a.threads:
        print(f"  WARNING: asked for {a.threads} numba threads, got {set_threads(None)} "
              f"(NUMBA_NUM_THREADS = {numba.config.NUMBA_NUM_THREADS})")

    # ---- throughput
    configs = [("2d", 2, a.threads, False), ("2d", 2, 1, False), ("3d", 3, a.threads, False),
               ("2d", 2, a.threads, True), ("3d", 3, a.threads, True)]
    res = {}
    print(f"\n  {'config':<22}{'agents':>8}{'steps':>7}{'wall s':>8}{'agent-upd/s':>13}{'us/agent-step':>15}"
          f"{'rebuild every':>15}{'cores':>7}{'others':>7}{'field':>7}{'PhysiCell':>11}{'x PC':>8}")
    for key, dims, threads, field in configs:
        for n in SIZES:
            per_timing = a.field_agent_steps if field else a.agent_steps
            steps = max(10, int(round(per_timing / n)))
            r = time_seedsoil(n, dims, threads, steps, a.repeats, a.warmup, a.retries, field=field)
            pc = PHYSICELL[(key, threads)][n] if (key, threads) in PHYSICELL else math.nan
            r["physicell"] = pc
            r["ratio"] = r["rate"] / pc
            res[(key, threads, n, field)] = r
            name = f"{key}{'+field' if field else ''}, {r['threads']} thread{'s' if r['threads'] > 1 else ''}"
            share = f"{100 * r['field_share']:.0f}%" if field else "-"  # wall share of the field's after_step
            print(f"  {name:<22}"
                  f"{n:>8,}{steps:>7}{r['wall']:>8.2f}{r['rate']:>13,.0f}{r['us_per_agent_step']:>15.3f}"
                  f"{r['rebuild_every']:>12.1f} st{r['cores']:>6.2f}{'!' if serial(r) else '*' if contended(r) else ' '}{r['others']:>7.2f}"
                  f"{share:>7}"
                  f"{pc:>11,.0f}"
                  f"{r['ratio']:>7.1f}x", flush=True)
    for n in SIZES:
        r = res[("2d", a.threads, n, False)]
        print(f"  2-D {label(n):>4}, {a.threads} threads vs PhysiCell mechanics-only (substrate step = mechanics "
              f"step, {PHYSICELL_MECH_ONLY_2D[n]:,.0f}/s): {r['rate'] / PHYSICELL_MECH_ONLY_2D[n]:.1f}x")
    if a.threads > 1:
        for n in SIZES:
            one, many = res[("2d", 1, n, False)], res[("2d", a.threads, n, False)]
            print(f"  2-D {label(n):>4}: {a.threads}-thread speed-up {many['rate'] / one['rate']:.2f}x")
    if any(contended(r) for r in res.values()):
        print(f"  * the best of up to {a.repeats + a.retries} runs got fewer cores than it had threads while other "
              f"processes were busy ('others': cores they used; load average {os.getloadavg()[0]:.2f}). An OpenMP "
              "loop whose thread is descheduled waits for it, so such a row understates the throughput. Rerun on "
              "a quiet machine.")
    if any(serial(r) for r in res.values()):
        print("  ! WARNING: in a multi-threaded row all the work ran on one thread: the engine's parallel kernels "
              "did not run in parallel (e.g. a serial build of them loaded from numba's cache).")
    for key in ("2d", "3d"):
        ratios = ", ".join(f"{label(n)} {res[(key, a.threads, n, True)]['ratio']:.1f}x" for n in SIZES)
        print(f"  {key[0]}-D with the field, {a.threads} threads, "
              f"vs PhysiCell with its substrate: {ratios}")
    worst = min(r["ratio"] for r in res.values() if not r["field"])
    print(f"  goal >= {GOAL:g}x PhysiCell at every size and configuration, mechanics only: "
          f"{'met' if worst >= GOAL else 'NOT met'} (lowest ratio {worst:.1f}x)")
    worst_f = min(r["ratio"] for r in res.values() if r["field"])
    print(f"  goal >= {GOAL:g}x PhysiCell at every size, 2-D and 3-D, with the field on (like for like): "
          f"{'met' if worst_f >= GOAL else 'NOT met'} (lowest ratio {worst_f:.1f}x)")

    # ---- the field and every agent's cell network
    net_run = time_network_run(a.network_n, a.threads, a.network_steps, a.warmup)
    eng, sig, net = net_run.pop("eng"), net_run.pop("sig"), net_run.pop("net")
    mech_field = res.get(("2d", a.threads, a.network_n, True))
    w = net_run["wall"]
    print(f"\n  2-D, {label(a.network_n)} agents, the field (named IL6, nM) and every agent's own cell network "
          f"('{net.name}', {len(net.species)} species, {len(net.reactions)} reactions), updated every "
          f"{NETWORK_INTERVAL:g} min (IL6 from the field at the agent, other inputs at their defaults; rtol "
          f"{RR_RTOL:g}, atol {RR_ATOL:g}), {net_run['threads']} threads:")
    print(f"  preparation, untimed: per-agent parameters (CV of default_variability) and the untreated dish "
          f"state: {net_run['prep']:.1f} s")
    print(f"  {net_run['steps']} mechanics steps ({net_run['agent_updates'] // max(a.network_n, 1)} network updates "
          f"of every agent) in {w:.2f} s: {net_run['rate']:,.0f} agent-updates/s (agents x mechanics steps / s, "
          f"everything included); cores {net_run['cores']:.2f}")
    print(f"  where the time goes: mechanics {net_run['mechanics_s']:.2f} s ({100 * net_run['mechanics_s'] / w:.0f}%), "
          f"field {net_run['field_s']:.2f} s ({100 * net_run['field_s'] / w:.0f}%), network "
          f"{net_run['network_s']:.2f} s ({100 * net_run['network_s'] / w:.0f}%)")
    per_step_mf = (net_run["mechanics_s"] + net_run["field_s"]) / net_run["steps"]
    per_interval = per_step_mf * NETWORK_INTERVAL / W.DT
    net_per_interval = net_run["network_s"] / max(net_run["agent_updates"] / a.network_n, 1)
    print(f"  the network costs {net_per_interval:.3f} s per update of every agent, against "
          f"{per_interval:.3f} s for the {NETWORK_INTERVAL / W.DT:.0f} mechanics+field steps between two updates "
          f"({net_per_interval / per_interval:.2f}x; {net_run['network_per_update'] * 1e6:.1f} us per agent-update "
          f"on {net_run['threads']} threads)")
    if mech_field is not None:
        print(f"  vs the field-only row at {label(a.network_n)}: {net_run['rate'] / mech_field['rate']:.2f}x its "
              "agent-updates/s")

    # the network part alone, and libroadrunner stepped per agent on a sample of the same agents
    sample = np.linspace(0, a.network_n - 1, max(a.rr_agents, 1)).astype(np.int64)
    upd2 = time_signalling_update(eng, sig, a.threads, a.repeats, sample)
    upd1 = time_signalling_update(eng, sig, 1, a.repeats, sample)
    rr = roadrunner_abm(net, upd1["start"], eng.agents.cellpar[sample], upd1["il6"], a.rr_updates)
    diff = np.abs(rr["first"] - upd1["end"]) / np.maximum(np.abs(upd1["end"]), 1e-6)
    ratio_net = rr["per_update"] / upd1["per_update"]
    print(f"  AgentSignalling.update alone (every agent, one {NETWORK_INTERVAL:g}-min update, best of {a.repeats}): "
          f"{upd1['per_update'] * 1e6:.2f} us per agent-update on 1 thread, {upd2['per_update'] * 1e6:.2f} on "
          f"{upd2['threads']} ({upd2['seconds']:.3f} s for {upd2['agents']:,} agents)")
    print(f"  libroadrunner {rr['version']} stepped as PhysiCell's intracellular add-on does (one RoadRunner per "
          f"agent, each update: set IL6, simulate(t, t + {NETWORK_INTERVAL:g} min), read the species), "
          f"{rr['agents']} agents x {rr['updates']} updates, 1 core: {rr['per_update'] * 1e6:.1f} us per agent-update")
    print(f"  same start, same IL6, one update: max relative difference seedsoil vs roadrunner {diff.max():.1e} "
          f"(floor 1e-6)")
    print(f"  network_vs_roadrunner_ratio (one core each: roadrunner / seedsoil per agent-update): "
          f"{ratio_net:.1f}x; seedsoil on {upd2['threads']} threads: {rr['per_update'] / upd2['per_update']:.1f}x")

    # ---- peak memory
    print(f"\n  peak RSS of a fresh process (imports + build + {a.rss_steps} steps, 2-D, {a.threads} threads):")
    rss = {}
    base = measure_rss(100, 2, a.rss_steps, a.threads)
    print(f"  {'agents':>8}{'peak RSS MiB':>14}{'PhysiCell MiB':>15}{'PC / us':>8}")
    print(f"  {100:>8,}{base['peak_rss_mib']:>14.1f}{'':>15}{'':>8}   (fixed cost; after the imports alone: "
          f"{base['imports_rss_mib'] or math.nan:.1f} MiB)")
    for n in SIZES:
        r = measure_rss(n, 2, a.rss_steps, a.threads)
        rss[n] = r["peak_rss_mib"]
        per_agent = (rss[n] - base["peak_rss_mib"]) * 1024 * 1024 / n
        print(f"  {n:>8,}{rss[n]:>14.1f}{PHYSICELL_RSS_MIB[n]:>15,}{PHYSICELL_RSS_MIB[n] / rss[n]:>7.2f}x   "
              f"({per_agent:,.0f} bytes per agent above the fixed cost)", flush=True)

    # ---- the Mesa peer
    Tissue = mesa_model_classes()
    diff = same_model_check(Tissue, 400, 20)
    print(f"\n  same-model check (400 agents, 20 steps from the same positions, motility off): "
          f"max |seedsoil - Mesa| = {diff:.1e} um {'(agree)' if diff < 1e-9 else '(DISAGREE)'}")
    m_small = time_mesa(Tissue, a.mesa_n, a.mesa_steps)
    s_small = time_seedsoil(a.mesa_n, 2, a.threads, max(10, int(round(a.agent_steps / 5 / a.mesa_n))), a.repeats,
                            a.warmup)
    s10k = res[("2d", a.threads, SIZES[0], False)]
    mesa_ratio = s10k["rate"] / m_small["rate"]
    print(f"  {'code':<34}{'agents':>8}{'steps':>7}{'wall s':>8}{'agent-upd/s':>13}{'us/agent-step':>15}"
          f"{'cores':>7}")
    rows = [(f"Mesa {mesa.__version__}", m_small)]
    m_big = None
    if a.mesa_big_n:
        m_big = time_mesa(Tissue, a.mesa_big_n, a.mesa_big_steps)
        rows.append((f"Mesa {mesa.__version__}", m_big))
    rows += [(f"seedsoil, {a.threads} threads" + (" (ran serial)" if serial(r) else ""), r) for r in (s_small, s10k)]
    for name, r in rows:
        print(f"  {name:<34}{r['n']:>8,}{r['steps']:>7}{r['wall']:>8.2f}{r['rate']:>13,.0f}"
              f"{r['us_per_agent_step']:>15.3f}{r['cores']:>7.2f}")
    print(f"  mesa_ratio = seedsoil at {label(s10k['n'])} / Mesa at {label(m_small['n'])}: {mesa_ratio:,.0f}x "
          f"(Mesa's cost per agent grows with N, so its smaller N is generous to Mesa)")
    print(f"  same N ({label(m_small['n'])}): {s_small['rate'] / m_small['rate']:,.0f}x")
    if m_big is not None and m_big["n"] == s10k["n"]:
        print(f"  same N ({label(m_big['n'])}): {s10k['rate'] / m_big['rate']:,.0f}x")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")

    out = {f"{key}_{label(n)}": round(res[(key, a.threads, n, False)]["rate"]) for key in ("2d", "3d") for n in SIZES}
    out["peak_rss_mib_2d_200k"] = round(rss[200_000], 1)
    out["mesa_ratio"] = round(mesa_ratio, 1)
    out.update({f"{key}_{label(n)}_field": round(res[(key, a.threads, n, True)]["rate"])
                for key in ("2d", "3d") for n in SIZES})
    out[f"2d_{label(a.network_n)}_field_network"] = round(net_run["rate"])
    out["network_vs_roadrunner_ratio"] = round(ratio_net, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
