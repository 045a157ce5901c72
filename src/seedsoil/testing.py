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
