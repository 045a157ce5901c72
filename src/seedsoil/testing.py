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
