"""SBML Test Suite conformance: run the suite's semantic cases with seedsoil and libroadrunner.

Each case of the SBML Test Suite (``sts_small/NNNNN/``: a model, a settings file, the
expected results as CSV, and tags) is run twice, side by side:

* **seedsoil**: :func:`~seedsoil.cell.sbml.import_sbml` imports the model (a refusal is
  status ``"refused"`` with the error's message as reason); the network is integrated
  by the cell solver's kernels (RODAS4, rtol 1e-10, atol 1e-14 by default, no clipping at
  0: SBML species may go negative) on the case's time grid (from time 0 when the grid
  starts later), and each requested variable is read where the import put it (a state,
  input, parameter, assignment or constant; species as amount or concentration as the
  settings ask, converted with the compartment's size at that time; the time species is
  the output time itself).
* **libroadrunner**: ``RoadRunner(sbml)`` with tight CVODE tolerances,
  ``simulate(start, start + duration, steps + 1, selections)`` where a species asked as
  a concentration is selected as ``[S]`` and as an amount as ``S``.

* **roundtrip**: the network seedsoil imported is exported with :func:`~seedsoil.cell.sbml.to_sbml`
  and the export is simulated by libroadrunner as above (on the grid in days when the model
  declares its time unit); each variable is read from the export where the import put it.
  A case seedsoil refuses is ``"refused"`` here too.

A model using hierarchical composition (``comp``) is flattened by libsbml's converter inside
``import_sbml``. A reaction's flux asked for as a variable is made an output parameter (an
assignment rule reading the reaction id) when the model's own math does not read it.

All three are compared with the suite's rule: at every output time and for every variable,
``|expected - actual| <= absolute + relative * |expected|`` (the case's tolerances) →
``"passed"``, else ``"failed"`` with the worst variable and its error (``nan`` where
the expected value is finite counts as a failure; NaN/inf expected must be matched
exactly). An exception while simulating is ``"error"`` with its message.

Time: a model that declares no time unit is imported as is (seedsoil reads it as days
and the grid is used unchanged, so model time = solver time); a model that declares one
(e.g. seconds) is imported with that ``time_unit`` and the grid is converted to days.

The data are the reduced suite archive ``sbml-semantic-suite-3.3.0.tar.xz`` (LGPL 2.1+,
SBML Team); :func:`suite_dir` finds it (``$SEEDSOIL_SBML_SUITE`` or
a ``shared/data`` folder beside the repository's folder) and extracts it once into a cache folder keyed
by the archive's sha256. "Core" cases are time courses that use no events, algebraic
rules, delays, fast reactions or hierarchical composition (``comp``).
"""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

ARCHIVE_NAME = "sbml-semantic-suite-3.3.0.tar.xz"
ENV_VAR = "SEEDSOIL_SBML_SUITE"
SECONDS_PER_DAY = 86400.0

#: Tags whose cases are outside the "core" (component tags and test tags of the suite).
NON_CORE_TAGS = frozenset({"EventNoDelay", "EventWithDelay", "EventPriority", "AlgebraicRule", "CSymbolDelay",
                           "FastReaction", "MultipleFastReactions", "DelayInTrigger", "DelayInEventAssignment",
                           "RandomEventExecution"})
NON_CORE_PREFIXES = ("comp:", "fbc:")

#: Solver tolerances of the two engines (tight: the suite's tolerances are ~1e-4 relative).
SEEDSOIL_RTOL, SEEDSOIL_ATOL = 1e-10, 1e-14
ROADRUNNER_RTOL, ROADRUNNER_ATOL = 1e-10, 1e-14


class SuiteNotFound(FileNotFoundError):
    """The SBML Test Suite archive is not where it is looked for."""


# =========================================================================== data
def archive_path() -> Path:
    """The suite archive: ``$SEEDSOIL_SBML_SUITE``, else ``<archive>`` in a ``shared/data`` folder
    beside the repository's folder (or beside its parent folder, for worktrees). Raises :class:`SuiteNotFound`."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        if not p.is_file():
            raise SuiteNotFound(f"${ENV_VAR} = {env!r}: no such file")
        return p
    root = Path(__file__).resolve().parents[3]
    # shared/data beside the repository's folder, or beside the folder above it (a git worktree kept in <repo>/../wt/<name>)
    tried = [anc.parent / "shared" / "data" / ARCHIVE_NAME for anc in (root, root.parent)]
    for p in tried:
        if p.is_file():
            return p
    raise SuiteNotFound(f"SBML Test Suite archive not found at {' or '.join(repr(str(p)) for p in tried)}; "
                        f"set ${ENV_VAR} to its path")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def suite_dir(archive: str | Path | None = None) -> Path:
    """The folder holding the case folders (``NNNNN/``), extracted once into
    ``<seedsoil cache>/sbml-suite/<sha256[:16]>/``."""
    from ..store import cache_dir

    arch = Path(archive) if archive is not None else archive_path()
    dest = cache_dir("sbml-suite") / _sha256(arch)[:16]
    if not (dest / ".complete").exists():
        # extract beside, then rename: concurrent runs never see a half-extracted folder
        tmp = dest.parent / f"{dest.name}.tmp-{os.getpid()}"
        with tarfile.open(arch, "r:xz") as tf:
            members = [m for m in tf.getmembers() if m.isfile() and ".." not in Path(m.name).parts
                       and not Path(m.name).is_absolute()]
            tf.extractall(tmp, members=members)
        (tmp / ".complete").write_text(str(arch))
        try:
            os.rename(tmp, dest)
        except OSError:  # another process got there first (or a stale partial folder is in the way)
            if not (dest / ".complete").exists():
                shutil.rmtree(dest, ignore_errors=True)
                os.rename(tmp, dest)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    inner = dest / "sts_small"
    return inner if inner.is_dir() else dest


# =========================================================================== case files
@dataclass(frozen=True)
class Settings:
    """A case's ``NNNNN-settings.txt``: output grid, variables, tolerances, amount/concentration."""

    start: float
    duration: float
    steps: int
    variables: tuple[str, ...]
    absolute: float
    relative: float
    amount: tuple[str, ...] = ()
    concentration: tuple[str, ...] = ()

    @property
    def times(self) -> np.ndarray:
        """The output times: ``steps + 1`` equally spaced points from start to start + duration."""
        return np.linspace(self.start, self.start + self.duration, self.steps + 1)


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def parse_settings(text: str) -> Settings:
    """Settings from the text of a settings file (``key: value`` lines; lists comma-separated)."""
    kv: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            kv[k.strip().lower()] = v.strip()
    try:
        return Settings(start=float(kv["start"]), duration=float(kv["duration"]), steps=int(float(kv["steps"])),
                        variables=_names(kv.get("variables", "")), absolute=float(kv["absolute"]),
                        relative=float(kv["relative"]), amount=_names(kv.get("amount", "")),
                        concentration=_names(kv.get("concentration", "")))
    except KeyError as exc:
        raise ValueError(f"settings file lacks {exc.args[0]!r}") from None


def parse_tags(text: str) -> dict[str, object]:
    """Tags from a tags file: ``component_tags``, ``test_tags`` (tuples), ``test_type``, ``synopsis``."""
    kv: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            kv[k.strip()] = v.strip()
    return {"component_tags": _names(kv.get("componentTags", "")), "test_tags": _names(kv.get("testTags", "")),
            "test_type": kv.get("testType", ""), "synopsis": kv.get("synopsis", "")}


@dataclass(frozen=True)
class Case:
    """One suite case on disk."""

    id: str
    folder: Path

    def _file(self, suffix: str) -> Path:
        return self.folder / f"{self.id}-{suffix}"

    @property
    def model_path(self) -> Path:
        """The model file (one SBML level/version per case in the reduced suite; the highest if several)."""
        found = sorted(self.folder.glob(f"{self.id}-sbml-l*v*.xml"))
        if not found:
            raise FileNotFoundError(f"case {self.id}: no SBML model in {self.folder}")
        return found[-1]

    @property
    def settings(self) -> Settings:
        return parse_settings(self._file("settings.txt").read_text())

    @property
    def tags(self) -> dict[str, object]:
        return parse_tags(self._file("tags.txt").read_text())

    @property
    def all_tags(self) -> tuple[str, ...]:
        t = self.tags
        return (*t["component_tags"], *t["test_tags"])

    @property
    def is_time_course(self) -> bool:
        return self.tags["test_type"] == "TimeCourse"

    @property
    def is_core(self) -> bool:
        """A time course without events, algebraic rules, delays, fast reactions or comp."""
        return self.is_time_course and not any(t in NON_CORE_TAGS or t.startswith(NON_CORE_PREFIXES)
                                               for t in self.all_tags)

    def expected(self) -> tuple[tuple[str, ...], np.ndarray]:
        """The expected results: the column names after the first (time) column, and the values
        (time, column). Read by position, since names may repeat (case 01820: time, Time, TIME)."""
        import csv

        with open(self._file("results.csv"), newline="") as f:
            rows = [r for r in csv.reader(f) if r]
        header = tuple(h.strip() for h in rows[0])
        data = np.array([[float(x) for x in r] for r in rows[1:]], float)
        return header[1:], data[:, 1:]


def all_cases(root: Path | None = None) -> list[Case]:
    """Every case folder under ``root`` (default :func:`suite_dir`), in id order."""
    root = suite_dir() if root is None else Path(root)
    return [Case(p.name, p) for p in sorted(root.iterdir()) if p.is_dir() and p.name.isdigit()]


def sample_cases(cases: Sequence[Case], n: int = 40, seed: int = 20260107) -> list[Case]:
    """A deterministic stratified sample of the time-course cases among ``cases``: half core,
    half the rest; within each half, cases are grouped by their rarest tag (so rare constructs
    are represented) and drawn round-robin over the groups in a fixed shuffled order
    (``random.Random(seed)``). Returned in id order."""
    tc = [c for c in cases if c.is_time_course]
    core = [c for c in tc if c.is_core]
    rest = [c for c in tc if not c.is_core]
    n = min(n, len(tc))
    n_core = min(len(core), max(n - len(rest), (n + 1) // 2))
    rng = random.Random(seed)
    picked = _stratified(core, n_core, rng) + _stratified(rest, n - n_core, rng)
    return sorted(picked, key=lambda c: c.id)


def _stratified(cases: Sequence[Case], n: int, rng: random.Random) -> list[Case]:
    count: dict[str, int] = {}
    for c in cases:
        for t in c.all_tags or ("untagged",):
            count[t] = count.get(t, 0) + 1
    groups: dict[str, list[Case]] = {}
    for c in cases:
        key = min(c.all_tags or ("untagged",), key=lambda t: (count[t], t))
        groups.setdefault(key, []).append(c)
    order = sorted(groups)
    rng.shuffle(order)
    for k in order:
        groups[k].sort(key=lambda c: c.id)
        rng.shuffle(groups[k])
    picked: list[Case] = []
    while len(picked) < n:
        for k in order:
            if groups[k] and len(picked) < n:
                picked.append(groups[k].pop())
    return picked


# =========================================================================== comparison
@dataclass
class Comparison:
    """Outcome of the suite's rule on one engine's results."""

    passed: bool
    worst_variable: str = ""
    worst_error: float = 0.0  # |expected - actual| at the worst point
    worst_excess: float = 0.0  # that error / (absolute + relative * |expected|): > 1 fails

    @property
    def reason(self) -> str:
        if self.passed:
            return ""
        return (f"{self.worst_variable}: |expected - actual| = {self.worst_error:.3g} "
                f"({self.worst_excess:.3g} x the tolerance)")


def compare(expected: np.ndarray, actual: np.ndarray, absolute: float, relative: float,
            variables: Sequence[str]) -> Comparison:
    """The suite's rule on arrays (time, variable): ``|e - a| <= absolute + relative * |e|``
    everywhere. NaN expected must be NaN; an infinite expected value must be matched exactly;
    a NaN actual value where a finite one is expected fails."""
    e = np.asarray(expected, float)
    a = np.asarray(actual, float)
    if e.shape != a.shape:
        raise ValueError(f"expected shape {e.shape} != actual shape {a.shape}")
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(e - a)
        tol = absolute + relative * np.abs(e)
        excess = np.where(np.isfinite(e), err / np.where(tol > 0, tol, np.finfo(float).tiny), 0.0)
    same_special = (np.isnan(e) & np.isnan(a)) | (np.isinf(e) & (e == a))
    excess = np.where(same_special, 0.0, excess)
    excess = np.where(~np.isfinite(e) & ~same_special, np.inf, excess)
    excess = np.where(np.isnan(excess), np.inf, excess)  # finite expected, NaN actual
    if excess.size == 0:
        return Comparison(True)
    i, j = np.unravel_index(int(np.argmax(excess)), excess.shape)
    worst = float(excess[i, j])
    return Comparison(worst <= 1.0, variables[j] if j < len(variables) else str(j), float(err[i, j]), worst)


def _expected_array(case: Case, settings: Settings) -> np.ndarray:
    """The expected values of the settings' variables (time, variable), matched to the CSV header by
    name (first exact match, else case-insensitive), else by position."""
    names, data = case.expected()
    cols = []
    for k, var in enumerate(settings.variables):
        if var in names:
            cols.append(names.index(var))
        elif var.lower() in [n.lower() for n in names]:
            cols.append([n.lower() for n in names].index(var.lower()))
        elif len(names) == len(settings.variables):
            cols.append(k)
        else:
            raise ValueError(f"case {case.id}: results CSV lacks {var!r} (columns {names})")
    if len(names) == len(settings.variables):  # same count: the CSV's order is the settings' order
        cols = list(range(len(names)))
    if data.shape[0] != settings.steps + 1:
        raise ValueError(f"case {case.id}: results CSV has {data.shape[0]} rows for {settings.steps + 1} times")
    return data[:, cols]


# =========================================================================== engines
@dataclass
class EngineResult:
    status: str  # passed | failed | refused | error
    reason: str = ""
    seconds: float = 0.0
    values: np.ndarray | None = field(default=None, repr=False)


def _mode(settings: Settings, var: str) -> str:
    if var in settings.amount:
        return "amount"
    if var in settings.concentration:
        return "concentration"
    return "default"


def run_seedsoil(case: Case, *, rtol: float = SEEDSOIL_RTOL, atol: float = SEEDSOIL_ATOL) -> EngineResult:
    """Import the case's model with ``import_sbml``, integrate it on the case's grid and compare.

    Each requested variable is read where the import put it (:class:`~seedsoil.cell.sbml.SbmlImport`:
    a state, input, parameter, assignment or constant); a species asked as the other of
    amount / concentration is converted with its compartment's size at that time. A case
    starting after time 0 is integrated from 0 (the model's initial values hold at 0)."""
    from ..errors import ScenarioError
    from .solver import cell_parameters, initial_states, input_table, integrate

    settings = case.settings
    t0 = time.perf_counter()
    path = case.model_path
    try:
        imp, seconds_per_unit = _import(path, settings.variables)
    except ScenarioError as exc:
        return EngineResult("refused", str(exc), time.perf_counter() - t0)
    try:
        net = imp.network
        grid = settings.times
        scale = 1.0 if seconds_per_unit is None else seconds_per_unit / SECONDS_PER_DAY
        lead = grid[0] > 0.0  # integrate from the model's time 0
        t_out = np.concatenate([[0.0], grid]) * scale if lead else grid * scale
        P = cell_parameters(net, 1)
        ut, U = input_table(net, 1, None)
        if len(net.species):
            y0 = initial_states(net, 1, None)
            # serial kernel: the same stepping as simulate_cells, without compiling the parallel batch driver;
            # no clipping at 0: SBML species may go negative (the suite's expected results do)
            out, stats = integrate(net, y0, P, ut, U, t_out, rtol=rtol, atol=atol, max_steps=1_000_000,
                                   parallel=False, clip=False)
            if stats[0, 2]:
                why = {1: "max_steps reached", 2: "step size underflow", 3: "singular matrix",
                       4: "too many pending events"}
                raise RuntimeError(f"cell solver failed: {why.get(int(stats[0, 2]), 'error')}")
            state = out[0][1:] if lead else out[0]
            if imp.time is not None:  # the time species, exactly (summed steps drift by rounding)
                state[:, net.species_index[imp.time]] = grid
        else:
            state = np.zeros((len(grid), 0))
        states = state.T  # (species, time)
        cols = []
        for var in settings.variables:
            if var not in imp.values:
                raise KeyError(f"variable {var!r} is not a species, parameter, compartment or reaction of the model")
            col = np.broadcast_to(imp.series(var, states, P[0], U[0, 0]), (len(grid),))
            if var in imp.species:
                comp, only_amount = imp.species[var]
                mode = _mode(settings, var)
                if mode == "amount" and not only_amount:
                    col = col * imp.series(comp, states, P[0], U[0, 0])
                elif mode == "concentration" and only_amount:
                    col = col / imp.series(comp, states, P[0], U[0, 0])
            cols.append(np.asarray(col, float))
        values = np.column_stack(cols) if cols else np.zeros((len(grid), 0))
    except Exception as exc:  # noqa: BLE001 - every simulation failure is reported, not raised
        return EngineResult("error", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    return _judge(case, settings, values, t0)


def _judge(case: Case, settings: Settings, values: np.ndarray, t0: float) -> EngineResult:
    cmp = compare(_expected_array(case, settings), values, settings.absolute, settings.relative,
                  settings.variables)
    return EngineResult("passed" if cmp.passed else "failed", cmp.reason, time.perf_counter() - t0, values)


def run_roadrunner(case: Case, *, rtol: float = ROADRUNNER_RTOL, atol: float = ROADRUNNER_ATOL) -> EngineResult:
    """Simulate the case's model with libroadrunner (CVODE) and compare: species asked as
    concentrations are selected as ``[S]``, as amounts as ``S``; other variables by id."""
    settings = case.settings
    t0 = time.perf_counter()
    try:
        import roadrunner

        r = roadrunner.RoadRunner(str(case.model_path))
        r.integrator.relative_tolerance = rtol
        r.integrator.absolute_tolerance = atol
        r.integrator.maximum_num_steps = 200_000
        floating = set(r.model.getFloatingSpeciesIds()) | set(r.model.getBoundarySpeciesIds())
        sel = ["time"]
        for var in settings.variables:
            sel.append(f"[{var}]" if var in floating and _mode(settings, var) == "concentration" else var)
        s = settings
        if s.start != 0.0:
            r.simulate(0.0, s.start, 2)
        res = np.asarray(r.simulate(s.start, s.start + s.duration, s.steps + 1, sel))
        values = res[:, 1:]
    except Exception as exc:  # noqa: BLE001
        return EngineResult("error", f"{type(exc).__name__}: {exc}".splitlines()[0], time.perf_counter() - t0)
    return _judge(case, settings, values, t0)


def _import(path: Path, variables: Sequence[str] = ()):
    """``import_sbml`` of a case's model, in its declared time unit if it has one: (import, seconds
    per model time unit or None). Raises ScenarioError when seedsoil refuses the model.

    A reaction's flux asked for as a variable (e.g. ``J1``) is in the import only when the
    model's math reads it; otherwise the model is imported again with one output parameter
    set by an assignment rule to each such reaction id (nothing else changes)."""
    from ..errors import ScenarioError
    from .sbml import import_sbml

    def load(source):
        try:
            return import_sbml(source), None
        except ScenarioError as exc:
            if exc.field != "time_unit" or not isinstance(exc.value, float):
                raise
            seconds_per_unit = float(exc.value)  # the model declares its time unit: import in it
            return import_sbml(source, time_unit=seconds_per_unit), seconds_per_unit

    imp, seconds_per_unit = load(path)
    missing = [v for v in variables if v not in imp.values]
    if missing:
        text = _with_flux_outputs(path, missing)
        if text is not None:
            imp, seconds_per_unit = load(text)
    return imp, seconds_per_unit


def _with_flux_outputs(path: Path, names: Sequence[str]) -> str | None:
    """The model (flattened if it uses comp) with a parameter ``<id>_flux_out`` = reaction ``<id>``
    for each of ``names`` that is a reaction; None if none is."""
    from .sbml import _flatten_comp, _libsbml, _read

    lib = _libsbml()
    doc, label = _read(lib, path)
    doc = _flatten_comp(lib, doc, path, f"SBML {label}")
    model = doc.getModel()
    reactions = [n for n in names if model.getReaction(n) is not None]
    if not reactions:
        return None
    for rid in reactions:
        pid = f"{rid}_flux_out"
        while model.getElementBySId(pid) is not None:
            pid += "_"
        par = model.createParameter()
        par.setId(pid)
        par.setConstant(False)
        rule = model.createAssignmentRule()
        rule.setVariable(pid)
        rule.setMath(lib.parseL3Formula(rid))
    return lib.writeSBMLToString(doc)


def run_roundtrip(case: Case, *, rtol: float = ROADRUNNER_RTOL, atol: float = ROADRUNNER_ATOL) -> EngineResult:
    """The round trip: import the case's model, export the network with
    :func:`~seedsoil.cell.sbml.to_sbml`, simulate the export with libroadrunner (as
    :func:`run_roadrunner`, on the grid in days when the model declares its time unit) and
    compare with the expected results. Each requested variable is read from the export where
    the import put it (a species, input, parameter or assignment rule of the network, by its
    network name; a constant as it is); a species asked as the other of amount / concentration
    is converted with its compartment's size as the export computes it. A model seedsoil
    refuses is ``"refused"`` (nothing to export)."""
    from ..errors import ScenarioError
    from .sbml import to_sbml

    settings = case.settings
    t0 = time.perf_counter()
    try:
        imp, seconds_per_unit = _import(case.model_path, settings.variables)
    except ScenarioError as exc:
        return EngineResult("refused", str(exc), time.perf_counter() - t0)
    try:
        import roadrunner

        text = to_sbml(imp.network)
        r = roadrunner.RoadRunner(text)
        r.integrator.relative_tolerance = rtol
        r.integrator.absolute_tolerance = atol
        r.integrator.maximum_num_steps = 200_000
        scale = 1.0 if seconds_per_unit is None else seconds_per_unit / SECONDS_PER_DAY
        needed: list[str] = []
        for var in settings.variables:
            if var not in imp.values:
                raise KeyError(f"variable {var!r} is not a species, parameter, compartment or reaction of the model")
            needed.append(var)
            if var in imp.species:
                needed.append(imp.species[var][0])
        names = sorted({imp.values[v] for v in needed if isinstance(imp.values[v], str)})
        s = settings
        if s.start != 0.0:
            r.simulate(0.0, s.start * scale, 2)
        res = np.asarray(r.simulate(s.start * scale, (s.start + s.duration) * scale, s.steps + 1, ["time", *names]))
        got = dict(zip(names, res[:, 1:].T))

        def series(sid: str) -> np.ndarray:
            v = imp.values[sid]
            return got[v] if isinstance(v, str) else np.full(len(res), float(v))

        cols = []
        for var in settings.variables:
            col = series(var)
            if var in imp.species:
                comp, only_amount = imp.species[var]
                mode = _mode(settings, var)
                if mode == "amount" and not only_amount:
                    col = col * series(comp)
                elif mode == "concentration" and only_amount:
                    col = col / series(comp)
            cols.append(np.asarray(col, float))
        values = np.column_stack(cols) if cols else np.zeros((len(res), 0))
    except Exception as exc:  # noqa: BLE001
        return EngineResult("error", f"{type(exc).__name__}: {exc}".splitlines()[0], time.perf_counter() - t0)
    return _judge(case, settings, values, t0)


#: The engines a suite run can use: seedsoil itself, libroadrunner on the case's model, and
#: libroadrunner on seedsoil's export of what it imported (the round trip).
ENGINES = {"seedsoil": run_seedsoil, "roadrunner": run_roadrunner, "roundtrip": run_roundtrip}


# =========================================================================== suite
def _one(case: Case, engines: tuple[str, ...]) -> dict[str, object]:
    tags = case.tags
    row: dict[str, object] = {"case": case.id, "component_tags": " ".join(tags["component_tags"]),
                              "test_tags": " ".join(tags["test_tags"]), "test_type": tags["test_type"],
                              "core": case.is_core}
    for name in engines:
        fn = ENGINES[name]
        try:
            res = fn(case)
        except Exception as exc:  # noqa: BLE001 - e.g. an unreadable results file
            res = EngineResult("error", f"{type(exc).__name__}: {exc}")
        row[f"{name}_status"] = res.status
        row[f"{name}_reason"] = res.reason
        row[f"{name}_s"] = res.seconds
    return row


#: A worker process is replaced after this many cases: every imported network compiles its
#: own numba kernel, and compiled modules stay loaded (one process reached 8 GB on the suite).
CASES_PER_WORKER = 150


def _journal_rows(path: Path, engines: tuple[str, ...]) -> dict[str, dict[str, object]]:
    """Rows already in a journal (JSON lines) that ran every engine asked for; a torn last
    line (a run stopped while writing it) is ignored."""
    import json

    done: dict[str, dict[str, object]] = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if all(f"{e}_status" in row for e in engines):
            done[str(row["case"])] = row
    return done


def run_suite(cases: Iterable[Case | str] | None = None, sample: int | None = None, seed: int = 20260107,
              workers: int = 1, engines: Sequence[str] = ("seedsoil", "roadrunner", "roundtrip"),
              root: Path | None = None, journal: str | Path | None = None):
    """Run ``cases`` (Case objects or ids; default every time-course case, or a stratified
    ``sample`` of them) with both engines; returns a pandas DataFrame, one row per case in
    case order: ``case, component_tags, test_tags, test_type, core`` and, per engine,
    ``<engine>_status`` (passed / failed / refused / error), ``<engine>_reason``, ``<engine>_s``.

    ``journal``: a JSON-lines file each finished case is appended to (flushed and fsynced)
    as it finishes; cases already there with every engine asked for are not run again, so
    a stopped run resumes where it was. With ``workers > 1`` each worker process is
    replaced after :data:`CASES_PER_WORKER` cases, which bounds its memory."""
    import json

    import pandas as pd

    root = suite_dir() if root is None else Path(root)
    if cases is None:
        chosen = [c for c in all_cases(root) if c.is_time_course]
    else:
        chosen = [c if isinstance(c, Case) else Case(f"{int(c):05d}", root / f"{int(c):05d}") for c in cases]
    if sample is not None:
        chosen = sample_cases(chosen, sample, seed)
    engines = tuple(engines)
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s) {unknown}; known: {', '.join(ENGINES)}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    wanted = {c.id for c in chosen}
    done = {k: v for k, v in _journal_rows(Path(journal), engines).items() if k in wanted} if journal else {}
    pending = [c for c in chosen if c.id not in done]
    sink = open(journal, "a") if journal else None  # noqa: SIM115 - closed below
    if sink is not None and sink.tell() > 0 and not Path(journal).read_bytes().endswith(b"\n"):
        sink.write("\n")  # end a torn last line, so the next row starts a line of its own

    def keep(row: dict[str, object]) -> None:
        done[str(row["case"])] = row
        if sink is not None:
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            os.fsync(sink.fileno())

    try:
        if workers > 1 and pending:
            import multiprocessing as mp
            from concurrent.futures import as_completed

            # a fresh pool per batch of CASES_PER_WORKER cases a worker (``max_tasks_per_child``
            # hangs on Python 3.11 once the first worker retires)
            batch = CASES_PER_WORKER * workers
            for start in range(0, len(pending), batch):
                with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                    futures = [pool.submit(_one, c, engines) for c in pending[start:start + batch]]
                    for fut in as_completed(futures):
                        keep(fut.result())
        else:
            for c in pending:
                keep(_one(c, engines))
    finally:
        if sink is not None:
            sink.close()
    return pd.DataFrame([done[c.id] for c in chosen])


def summary_by_tag(table):
    """Per tag (component and test tags): cases, and per engine the number passed; plus a row
    ``ALL`` and ``CORE``. A case counts under each of its tags."""
    import pandas as pd

    engines = [c[:-7] for c in table.columns if c.endswith("_status")]
    recs = []

    def rec(tag, sub):
        r = {"tag": tag, "cases": len(sub)}
        for e in engines:
            r[f"{e}_pass"] = int((sub[f"{e}_status"] == "passed").sum())
        return r

    recs.append(rec("ALL", table))
    recs.append(rec("CORE", table[table["core"]]))
    tags = sorted({t for col in ("component_tags", "test_tags") for s in table[col] for t in s.split()})
    for t in tags:
        mask = table["component_tags"].str.split().apply(lambda x: t in x) | \
            table["test_tags"].str.split().apply(lambda x: t in x)
        recs.append(rec(t, table[mask]))
    return pd.DataFrame(recs)


def reasons(table, engine: str = "seedsoil", top: int = 15):
    """The most common reasons for not passing (failed / refused / error), with counts; the
    model-specific part of a refusal (file name, element id) is dropped so reasons group."""
    import re

    import pandas as pd

    sub = table[table[f"{engine}_status"] != "passed"]

    def key(row) -> str:
        text = str(row[f"{engine}_reason"])
        text = re.sub(r"^SBML [^:]*: ", "", text)
        text = re.sub(r"'[^']*'", "'…'", text)
        text = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", text)
        return f"{row[f'{engine}_status']}: {text[:110]}"

    if sub.empty:
        return pd.Series(dtype=int)
    return sub.apply(key, axis=1).value_counts().head(top)


__all__ = ["ENGINES", "Case", "Comparison", "EngineResult", "Settings", "SuiteNotFound", "all_cases", "archive_path",
           "compare", "parse_settings", "parse_tags", "reasons", "run_roadrunner", "run_roundtrip", "run_seedsoil",
           "run_suite", "sample_cases", "suite_dir", "summary_by_tag"]
