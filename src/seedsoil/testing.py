"""Testing helpers shipped with seedsoil (for its own tests and for users' extensions)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0")


@dataclass(frozen=True)
class Rendering:
    """A page rendered by headless Chromium: RGB pixels in [0, 1] and console error lines."""

    pixels: np.ndarray
    console_errors: list[str]

    @property
    def non_white_fraction(self) -> float:
        return float((self.pixels.min(axis=-1) < 0.95).mean())


def chromium() -> str | None:
    """Path of the chromium executable, or None."""
    return shutil.which("chromium")


def render_in_chromium(html: Path, workdir: Path, *, width: int = 1200, height: int = 3000,
                       timeout_s: float = 120.0) -> Rendering:
    """Screenshot ``html`` with headless Chromium (offline, fresh profile) and collect console errors."""
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    png = workdir / "screenshot.png"
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={workdir / 'profile'}", f"--screenshot={png}",
           f"--window-size={width},{height}", Path(html).resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if not png.is_file():
        raise RuntimeError(f"no screenshot (exit {proc.returncode}); stderr:\n{proc.stderr[-3000:]}")
    console = [line for line in proc.stderr.splitlines()
               if ":CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line]
    import matplotlib.image

    pixels = np.asarray(matplotlib.image.imread(png), dtype=float)[..., :3]
    return Rendering(pixels=pixels, console_errors=console)


def modules_loaded_by(imports: str, package: str, *, timeout_s: float = 300.0) -> list[str]:
    """Modules of ``package`` (top-level name) that a fresh interpreter has loaded after
    running ``imports`` (e.g. ``"import seedsoil.report"``): how the tests check that heavy
    dependencies (matplotlib, lifelines) are imported only when used. The interpreter sees
    this seedsoil tree first, installed or not."""
    src = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    code = (f"{imports}\nimport json, sys\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == {package!r})))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"{imports!r} failed in a fresh interpreter:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- conformance checks
def check_drug(drug, *, name: str | None = None, dose_mg: float = 20.0, interval_days: float = 0.5) -> None:
    """Check a drug model before adding it to a :class:`~seedsoil.coupling.DrugLibrary`
    (like scikit-learn's ``check_estimator``). Raises AssertionError naming what failed.

    ``drug`` is a :class:`seedsoil.pharm.Drug` or an exposure function
    ``exposure(times_days, dosing) -> unbound nM``. Checked: one finite, non-negative value
    per time; nothing before the first dose; it washes out (lower long after the last dose
    than at its peak); for a ``Drug``, linear in dose (the PK is linear) and each target's
    remaining activity in [0, 1], falling with concentration; the library with it pickles
    to the same exposure (worker processes, Dask); a scenario validates with it and the
    body's factors under it are finite and >= 0.
    """
    import pickle

    from .body.hooks import FACTORS, Dosing
    from .coupling import default_drugs

    key = name or getattr(drug, "name", None) or getattr(drug, "__name__", "drug")
    lib = default_drugs().with_drug(drug, name=key)
    t = np.linspace(0.0, 30.0, 3001)
    dosing = Dosing(key, dose_mg, interval_days, 5.0, 15.0)
    c = lib.exposure(key, t, dosing)
    assert c.shape == t.shape, f"{key}: exposure returned shape {c.shape} for {t.shape} times"
    assert np.all(np.isfinite(c)) and np.all(c >= 0), f"{key}: exposure must be finite and >= 0 nM"
    assert np.all(c[t < 5.0] == 0.0), f"{key}: exposure before the first dose (day 5) must be 0"
    assert c.max() > 0, f"{key}: no exposure at all under {dose_mg} mg every {interval_days} d"
    assert c[-1] < c.max(), f"{key}: the drug does not wash out after the last dose"
    if hasattr(drug, "targets"):
        double = lib.exposure(key, t, Dosing(key, 2 * dose_mg, interval_days, 5.0, 15.0))
        np.testing.assert_allclose(double, 2 * c, rtol=1e-9, atol=1e-12,
                                   err_msg=f"{key}: a pharm.Drug's PK must be linear in dose")
        levels = np.geomspace(1e-3, 1e5, 50)
        for target in drug.targets:
            a = np.asarray(drug.activity(target, levels), float)
            assert np.all((a >= 0) & (a <= 1)), f"{key}: activity of {target} outside [0, 1]"
            assert np.all(np.diff(a) <= 1e-12), f"{key}: activity of {target} must fall with concentration"
    back = pickle.loads(pickle.dumps(lib))
    np.testing.assert_array_equal(back.exposure(key, t, dosing), c,
                                  err_msg=f"{key}: the library does not pickle to the same exposure")
    assert back.fingerprint() == lib.fingerprint(), f"{key}: its fingerprint changes when pickled"
    from .scenario import Scenario

    sc = Scenario.from_dict({"therapy": [{"kind": "drug", "drug": key, "dose": dose_mg, "interval": interval_days,
                                          "relative_to": "start", "start": 5.0, "duration": 10.0}],
                             "simulation": {"follow_up": 30.0}}, drugs=lib)
    fac = sc.drug_factors(t[:-1] + 0.005, [dosing], step=0.01)
    for f in FACTORS:
        assert np.all(np.isfinite(fac[f])) and np.all(fac[f] >= 0), f"{key}: {f} under the drug not finite >= 0"


def check_engine(engine, *, seed: int = 3) -> None:
    """Check a body engine ``engine(inputs, seed, *keys) -> PatientResult`` (pass it as
    ``seedsoil.simulate(scenario, engine=engine)``). Raises AssertionError naming what failed.

    Checked on a small patient with surgery: it returns a PatientResult with the timeseries
    columns of the built-in engines and a summary with their keys; the same seed and keys
    give the same tables; cumulative counts never fall; arrived <= shed + injected; no
    primary after surgery; summary times are consistent (surgery < end).
    """
    import pandas as pd

    from .body.result import TIMESERIES_COLUMNS, PatientResult
    from .body.simulate import simulate
    from .scenario import Scenario

    sc = Scenario.from_dict({"surgery": {"primary_diameter": "1.5 cm"}, "simulation": {"follow_up": 730.0},
                             "shedding": {"rate": 0.05}})
    a = simulate(sc, seed=seed, engine=engine, keys=(1,))
    assert isinstance(a, PatientResult), f"the engine returned {type(a).__name__}, not a PatientResult"
    missing = [c for c in TIMESERIES_COLUMNS if c not in a.timeseries.columns]
    assert not missing, f"timeseries lacks columns {missing}"
    reference = simulate(sc, seed=seed, engine="stochastic", keys=(1,)).summary
    lost = sorted(set(reference) - set(a.summary) - {"relapse_origin"})
    assert not lost, f"summary lacks keys {lost}"
    b = simulate(sc, seed=seed, engine=engine, keys=(1,))
    for table in ("timeseries", "colonies", "events"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_exact=True,
                                      obj=f"{table} (same seed and keys, run twice)")
    ts = a.timeseries
    for col in ("cells_shed", "cells_arrived", "cells_died", "colonies_started", "cells_injected"):
        assert np.all(np.diff(ts[col].to_numpy()) >= -1e-9 * max(1.0, float(ts[col].abs().max()))), \
            f"cumulative {col} falls"
    assert np.all(ts["cells_arrived"] <= ts["cells_shed"] + ts["cells_injected"] + 1e-6), "more arrived than shed"
    s = a.summary
    assert s["surgery_day"] < s["end_day"], "surgery after the end of the run"
    assert np.all(ts.loc[ts["day"] > s["surgery_day"] + 1e-9, "primary_cells"] == 0), "a primary after surgery"


# --------------------------------------------------------------------------- growth laws
#: sizes (cells) at which ``check_growth_law`` starts the law
GROWTH_CHECK_SIZES = (1.0, 2.0, 10.0, 63.0, 1e3, 1e4, 3.3e6, 1e8, 4.2e8, 1e10, 1e11)
#: times at which it looks, in units of the law's time scale 1/|rate(n0)| at the start
GROWTH_CHECK_TIMES = (0.01, 0.1, 0.5, 1.0, 2.0, 5.0)


def check_growth_law(law, *, sizes=GROWTH_CHECK_SIZES, times=GROWTH_CHECK_TIMES, rtol: float = 1e-6) -> None:
    """Check a growth law of ``seedsoil.body.growth`` (a class, checked on each of its
    ``examples``, or an instance); raise AssertionError naming the law, the check and the
    point where it fails.

    On a grid of initial sizes n0 (``sizes``, cells) and times (``times``, in units of
    the time scale 1/|rate(n0)| of each start) it checks that

    * ``solution(n0, 0) == n0`` (to rounding, 1e-9) and a law started from 0 cells stays at 0;
    * d/dt solution(n0, t) = rate(n)·n at n = solution(n0, t) (central differences,
      relative tolerance ``rtol`` plus the differences' round-off);
    * ``time_to(n0, solution(n0, t)) == t`` (to 1e-9, or within the error a size error of
      1e-12 makes where the curve is flat) wherever the tumour grew, 0 where it did not,
      and ``solution(n0, time_to(n0, n1)) == n1`` where ``time_to`` is finite;
    * monotonicity: solution is monotone in t (in the direction of rate(n0)) and
      non-decreasing in n0; time_to is non-decreasing in n1;
    * NumPy and kernels agree: ``law.rate``/``solution``/``time_to`` against the compiled
      ``kernel_rate``/``kernel_solution``/``kernel_time_to`` to the last bit or 1e-12, and
      the NumPy methods give the same on arrays as element by element;
    * the law round-trips its parameters (``parameters()``, ``make_law``, ``kernel_params()``)
      and names a unit for each.
    """
    import math

    from .body import growth as G

    if isinstance(law, type):
        if not issubclass(law, G.GrowthLaw):
            raise AssertionError(f"{law.__qualname__} is not a growth law (a subclass of GrowthLaw)")
        if not law.examples:
            raise AssertionError(f"growth law {law.name!r}: no examples to check; give the class "
                                 "examples = ({<parameter>: <value>, ...}, ...) or pass an instance")
        for params in law.examples:
            check_growth_law(law(**params), sizes=sizes, times=times, rtol=rtol)
        return
    if not isinstance(law, G.GrowthLaw):
        raise AssertionError(f"{law!r} is not a growth law (an instance of GrowthLaw)")

    def fail(check: str, detail: str) -> None:
        raise AssertionError(f"growth law {law!r}: {check}: {detail}")

    def close(a: float, b: float, tol: float) -> bool:
        return a == b or abs(a - b) <= tol * max(abs(a), abs(b))

    # ---- parameters
    cls = type(law)
    params = law.parameters()
    if list(params) != list(cls.param_names) or set(cls.units) != set(params):
        fail("parameters", f"parameters() {list(params)}, units {list(cls.units)} and the scalar functions' "
                           f"parameters {list(cls.param_names)} must name the same parameters")
    if cls(**params) != law:
        fail("parameters", f"{cls.__name__}(**parameters()) = {cls(**params)!r} is another law")
    if G.LAWS.get(law.name) is cls and G.make_law(law.name, params) != law:
        fail("parameters", f"make_law({law.name!r}, parameters()) = {G.make_law(law.name, params)!r}")
    lp = law.kernel_params()
    if tuple(lp._fields) != tuple(cls.param_names) or tuple(lp) != tuple(params.values()):
        fail("kernel_params", f"{lp!r} does not hold parameters() = {params}")
    read_as = G._LAW_OF_PARAMS.get(type(lp))
    if read_as is None or read_as.name != law.name or read_as.param_names != cls.param_names:
        fail("kernel_params", f"the kernels would read {lp!r} as another law ({read_as})")

    # ---- NumPy side on arrays (elementwise) and against the kernels
    sizes = np.sort(np.asarray(sizes, dtype=float))
    scaled = np.sort(np.asarray(times, dtype=float))
    if sizes[0] <= 0 or scaled[0] <= 0:
        raise ValueError("check_growth_law: sizes and times must be > 0")
    try:
        rates = np.asarray(law.rate(sizes), dtype=float)
    except Exception as exc:  # e.g. an `if` on n
        fail("rate on an array", f"rate_fn must work elementwise on a NumPy array n "
                                 f"(use np.* functions, np.where instead of if): {type(exc).__name__}: {exc}")
    if rates.shape != sizes.shape or not np.all(np.isfinite(rates)):
        fail("rate", f"rate({list(sizes)}) = {rates}: want finite values of the same shape")
    for n, r in zip(sizes, rates):
        one = float(law.rate(float(n)))
        kern = float(G.kernel_rate(lp, float(n)))
        if not close(one, float(r), 1e-12):
            fail("rate on an array", f"rate([... {n:g} ...]) = {r!r} but rate({n:g}) = {one!r}")
        if not close(kern, one, 1e-12):
            fail("kernel rate", f"kernel_rate({n:g}) = {kern!r}, NumPy rate({n:g}) = {one!r}")

    for n0, r0 in zip(sizes, rates):
        n0 = float(n0)
        tau = 1.0 / abs(r0) if r0 != 0.0 else 1.0
        ts = scaled * tau
        where = f"n0 = {n0:g}"
        # ---- start
        x0 = float(law.solution(n0, 0.0))
        if not close(x0, n0, 1e-9):
            fail("solution(n0, 0) == n0", f"{where}: solution = {x0!r}")
        try:
            xs = np.asarray(law.solution(n0, ts), dtype=float)
        except Exception as exc:
            fail("solution on an array", f"solution_fn must work elementwise on a NumPy array t "
                                         f"(branch only on n0 and the parameters): {type(exc).__name__}: {exc}")
        if xs.shape != ts.shape or not np.all(np.isfinite(xs)) or np.any(xs < 0):
            fail("solution", f"{where}: solution(n0, {list(ts)}) = {xs}: want finite sizes >= 0")
        for t, x in zip(ts, xs):
            one = float(law.solution(n0, float(t)))
            kern = float(G.kernel_solution(lp, n0, float(t)))
            if not close(one, float(x), 1e-12):
                fail("solution on an array", f"{where}: solution(n0, [... {t:g} ...]) = {x!r} but "
                                             f"solution(n0, {t:g}) = {one!r}")
            if not close(kern, one, 1e-12):
                fail("kernel solution", f"{where}, t = {t:g}: kernel_solution = {kern!r}, NumPy {one!r}")
        # ---- the ODE: d/dt solution = rate(n) n
        for t, x in zip(ts, xs):
            h = 1e-3 * ts[0]
            deriv = (float(law.solution(n0, t + h)) - float(law.solution(n0, t - h))) / (2.0 * h)
            g = float(law.growth(float(x)))
            roundoff = 100.0 * np.finfo(float).eps * x / h
            if not abs(deriv - g) <= rtol * abs(g) + roundoff:
                fail("d/dt solution == rate(n)·n", f"{where}, t = {t:g}: n = {x:g}, finite difference "
                                                   f"{deriv:.10g} cells/day, rate(n)·n = {g:.10g}")
        # ---- monotonicity in t
        fine = np.linspace(0.0, ts[-1], 201)
        curve = np.asarray(law.solution(n0, fine), dtype=float)
        slack = 1e-13 * np.maximum(np.abs(curve[1:]), np.abs(curve[:-1]))
        step = np.diff(curve) if r0 >= 0 else -np.diff(curve)
        if np.any(step < -slack):
            i = int(np.argmax(step < -slack))
            fail("monotone in t", f"{where}: rate(n0) = {r0:g} but solution goes from {curve[i]!r} to "
                                  f"{curve[i + 1]!r} between t = {fine[i]:g} and {fine[i + 1]:g}")
        # ---- inverse
        if law.time_to(n0, n0) != 0.0:
            fail("time_to(n0, n0) == 0", f"{where}: {law.time_to(n0, n0)!r}")
        for t, x in zip(ts, xs):
            x = float(x)
            back = law.time_to(n0, x)
            kern = float(G.kernel_time_to(lp, n0, x))
            if not (close(kern, back, 1e-12) or (math.isnan(kern) and math.isnan(back))):
                fail("kernel time_to", f"{where}, n1 = {x!r}: kernel_time_to = {kern!r}, NumPy {back!r}")
            if x <= n0:
                if back != 0.0:
                    fail("time_to(n0, n1 <= n0) == 0", f"{where}, n1 = {x!r}: time_to = {back!r}")
                continue
            if math.isinf(back):
                if abs(float(law.rate(x))) * t < 1e-6:
                    continue  # solution(n0, t) rounded onto a plateau
                fail("time_to(n0, solution(n0, t)) == t", f"{where}, t = {t:g}: solution = {x!r}, "
                                                          "time_to says it is never reached")
            flat = 1e-12 * x / abs(float(law.growth(x)))
            if not abs(back - t) <= 1e-9 * t + flat:
                fail("time_to(n0, solution(n0, t)) == t", f"{where}, t = {t:g}: solution = {x!r}, "
                                                          f"time_to = {back!r}")
        targets = n0 * np.array([1.5, 3.0, 10.0, 1e3, 1e6])
        back = [law.time_to(n0, float(n1)) for n1 in targets]
        if any(b2 < b1 for b1, b2 in zip(back, back[1:])):
            fail("time_to monotone in n1", f"{where}: time_to(n0, {list(targets)}) = {back}")
        for n1, b in zip(targets, back):
            if math.isfinite(b) and not close(float(law.solution(n0, b)), float(n1), 1e-9):
                fail("solution(n0, time_to(n0, n1)) == n1", f"{where}, n1 = {n1:g}: time_to = {b!r}, "
                                                            f"solution there = {float(law.solution(n0, b))!r}")
    # ---- order preserving in n0 (solutions of dn/dt = g(n) do not cross)
    tau = 1.0 / max(float(np.max(np.abs(rates))), 1e-300)  # the fastest time scale on the grid
    for t in scaled * tau:
        at = np.array([float(law.solution(float(n0), t)) for n0 in sizes])
        if np.any(np.diff(at) < -1e-13 * at[1:]):
            fail("monotone in n0", f"t = {t:g}: solution(n0, t) for n0 = {list(sizes)} is {list(at)}")
    # ---- no tumour stays no tumour
    zero = np.asarray(law.solution(0.0, np.array([0.0, 10.0, 1e4])), dtype=float)
    if np.any(zero != 0.0) or float(G.kernel_solution(lp, 0.0, 10.0)) != 0.0:
        fail("solution(0, t) == 0", f"NumPy {zero}, kernel {G.kernel_solution(lp, 0.0, 10.0)!r}")
    if law.time_to(0.0, 1e8) != math.inf:
        fail("time_to(0, n1) == inf", f"time_to(0, 1e8) = {law.time_to(0.0, 1e8)!r}")


#: a quick fit file (seedsoil fit): 250 untreated Rotterdam patients (a seeded sample), one free
#: solve parameter (the awakening rate), the shedding random effect with a nodes link, 15
#: likelihood evaluations; ~10 s. For tests of the fit's plumbing and of what uses a fitted
#: population (predictions, trials); its estimates are not a fit to trust.
SMALL_FIT_FILE = """
[fit]
name = "small"
seed = 3
[data]
set = "rotterdam"
subset = "untreated"
sample = 250
[model]
shedding_nodes = 24
[[model.shedding_link]]
name = "nodes"
covariate = "positive_nodes"
[[parameter]]
name = "dormancy.activation_rate"
start = "2e-5 1/day"
range = ["1e-7 1/day", "1e-2 1/day"]
[method]
max_evaluations = 15
"""
