"""Shared fixtures: repository paths, a TOML writer and a runner for the ``seedsoil`` CLI.

The CLI is always run as ``[sys.executable, "-m", "seedsoil.cli", ...]`` with ``src``
on ``PYTHONPATH``, so the tests work both from a source tree and from an editable
install.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SRC_DIR = REPO_ROOT / "src"
EXAMPLES_DIR = REPO_ROOT / "examples"

#: generous upper bound for one CLI call (the first run may compile the numba engine)
CLI_TIMEOUT_S = 900


# --------------------------------------------------------------------------- TOML writer
def _toml_key(key: object) -> str:
    return _toml_string(str(key))


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    if isinstance(x, str):
        return _toml_string(x)
    if isinstance(x, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in x) + "]"
    raise TypeError(f"cannot write {type(x).__name__} as TOML")


def toml_dumps(data: dict[str, Any]) -> str:
    """Write a dict as TOML: one line per top-level key, nested tables inline.

    Handles str, int, float (incl. nan / inf), bool, lists and dicts, which is all a
    scenario holds; every key is quoted, so any string is a valid key.
    """
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in data.items())


# --------------------------------------------------------------------------- CLI runner
@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(SRC_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["COLUMNS"] = "250"  # rich: wide tables, parameter names are not folded
    env.pop("FORCE_COLOR", None)
    return env


def run_cli_many(arg_lists: Sequence[Sequence[str]], cwd: Path | str | None = None) -> list[CliResult]:
    """Run several ``seedsoil`` commands concurrently (each pays ~seconds of imports)."""
    env = cli_env()
    procs = []
    for args in arg_lists:
        cmd = [sys.executable, "-m", "seedsoil.cli", *map(str, args)]
        procs.append((cmd, subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)))
    results = []
    for cmd, p in procs:
        try:
            out, err = p.communicate(timeout=CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError(f"{cmd} did not finish in {CLI_TIMEOUT_S} s; stderr:\n{err}") from None
        results.append(CliResult(cmd, p.returncode, out, err))
    return results


def run_cli(*args: str, cwd: Path | str | None = None) -> CliResult:
    return run_cli_many([args], cwd=cwd)[0]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    assert EXAMPLES_DIR.is_dir(), EXAMPLES_DIR
    return EXAMPLES_DIR


@pytest.fixture(scope="session")
def breast_example(examples_dir) -> Path:
    path = examples_dir / "breast_surgery.toml"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def write_toml() -> Callable[[dict[str, Any]], str]:
    """``toml_dumps``: dict -> TOML text (session-scoped, usable inside hypothesis tests)."""
    return toml_dumps


@pytest.fixture(scope="session")
def cli() -> Callable[..., CliResult]:
    """``cli(*args, cwd=None)`` runs ``python -m seedsoil.cli *args`` and returns a CliResult."""
    return run_cli


@pytest.fixture(scope="session")
def cli_many() -> Callable[..., list[CliResult]]:
    """``cli_many([args, ...], cwd=None)``: several CLI calls run concurrently."""
    return run_cli_many
