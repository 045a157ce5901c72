"""Run directories: ``run.json`` + Parquet tables, written atomically.

A run directory holds the normalized scenario, the seed, the package version,
timings and the content hash of the inputs (``run.json``), and the result
tables as Parquet. It is written to a temporary sibling folder and renamed into
place, so a reader never sees a half-written run; an existing run is replaced
only with ``force=True``.
"""
from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from .errors import RunExistsError

RUN_FILE = "run.json"
TABLES = ("timeseries", "colonies", "events")
#: tables a result writes when it has them (attribute name = file stem): the relapse-time
#: engine's relapse-free curve
OPTIONAL_TABLES = ("curve",)


def cache_dir(name: str) -> Path:
    """``$SEEDSOIL_CACHE/<name>`` (default ``~/.cache/seedsoil/<name>``), created if needed:
    where compiled kernels, phenotype responses and invasion maps are kept between runs."""
    root = os.environ.get("SEEDSOIL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "seedsoil")
    d = Path(root) / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return None if not math.isfinite(x) else x
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item"):
        return _jsonable(x.item())
    return x


def nonfinite(values: dict[str, Any]) -> dict[str, str]:
    """``{key: "inf" | "-inf" | "nan"}`` for the non-finite floats of ``values``.

    JSON has no infinity: :func:`_jsonable` writes these as ``null``. ``run.json`` keeps
    this map next to the summary, so :func:`summary_from_json` gives the same numbers back.
    """
    out = {}
    for k, v in values.items():
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            out[str(k)] = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return out


def summary_from_json(summary: dict[str, Any], marks: dict[str, str] | None = None) -> dict[str, Any]:
    """A summary read from ``run.json``: ``null`` back to its non-finite value (``marks`` from
    :func:`nonfinite`; NaN where a run written before the marks has none)."""
    marks = marks or {}
    return {k: float(marks[k]) if k in marks else (math.nan if v is None else v) for k, v in summary.items()}


def run_record(*, scale: str, seed: int | None, content_hash: str, scenario: Any = None, **fields: Any) -> dict[str, Any]:
    """The metadata every run folder records, JSON-ready (the one run-metadata writer):
    package version, creation time, Python version, scale, seed, the content hash of the
    inputs and, given a spec, its name, its own hash and its normalized form; then
    ``fields`` (summary, timings, engine, ...). A ``summary`` comes with ``summary_nonfinite``
    (:func:`nonfinite`), so readers get infinities back."""
    from . import __version__

    out: dict[str, Any] = {
        "seedsoil_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "scale": scale,
        "seed": seed,
        "content_hash": content_hash,
    }
    if scenario is not None:
        out.update({"scenario_name": scenario.name, "scenario_hash": scenario.content_hash(),
                    "scenario": scenario.to_dict()})
    out.update(fields)
    if isinstance(fields.get("summary"), dict):
        out["summary_nonfinite"] = nonfinite(fields["summary"])
    return _jsonable(out)


def run_metadata(result, *, variant: str | None = None) -> dict[str, Any]:
    """``run.json`` of a patient run (:func:`run_record` with the body's fields)."""
    keys = tuple(getattr(result, "keys", ()))
    return run_record(scale="body", seed=result.seed, content_hash=input_hash(result.scenario, result.seed,
                                                                             result.engine, keys),
                      scenario=result.scenario, engine=result.engine, variant=variant, keys=list(keys),
                      summary=result.summary, timings=result.timings)


def input_hash(scenario, seed: int | None, engine: str, keys: tuple[int, ...] = ()) -> str:
    """Content hash of everything that determines a run's result."""
    from . import __version__
    from .hashing import content_hash

    blob = {"scenario": scenario.content_hash(), "seed": seed, "engine": engine, "version": __version__}
    if keys:
        blob["keys"] = list(keys)
    return content_hash(blob)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary sibling and a rename (world-readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; reports and metadata are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_parquet_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` (no index) to ``path`` as Parquet through a temporary sibling and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_csv_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` (no index) to ``path`` as CSV through a temporary sibling and a rename."""
    return write_text_atomic(path, df.to_csv(index=False))


def slug(name: str, default: str = "run") -> str:
    """A folder name from a scenario or trial name: ``"IL-1b trial (v2)"`` → ``"il_1b_trial_v2"``."""
    import re

    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or default


def write_tables(result, folder: Path) -> None:
    for name in TABLES:
        df: pd.DataFrame = getattr(result, name)
        df.to_parquet(folder / f"{name}.parquet", index=False)
    for name in OPTIONAL_TABLES:
        df = getattr(result, name, None)
        if df is not None:
            df.to_parquet(folder / f"{name}.parquet", index=False)


def atomic_dir(out_dir: str | Path, fill: Callable[[Path], None], *, force: bool = False) -> Path:
    """Create ``out_dir`` by filling a temporary sibling and renaming it into place."""
    out = Path(out_dir)
    if out.exists() and not force:
        raise RunExistsError(f"{out} exists; pass --force (force=True) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a run directory is ordinary output
    try:
        fill(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_run(result, out_dir: str | Path, *, force: bool = False, variant: str | None = None,
              extra: Iterable[Callable[[Any, Path], None]] = ()) -> Path:
    """Write one patient run; ``extra`` writers (e.g. the HTML report) run inside the atomic folder."""

    def fill(tmp: Path) -> None:
        write_tables(result, tmp)
        for writer in extra:
            writer(result, tmp)
        (tmp / RUN_FILE).write_text(json.dumps(run_metadata(result, variant=variant), indent=2, sort_keys=True))

    return atomic_dir(out_dir, fill, force=force)


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Metadata and tables of a run directory: ``{"run": dict, "timeseries": DataFrame, ...}``."""
    d = Path(run_dir)
    meta = json.loads((d / RUN_FILE).read_text())
    out: dict[str, Any] = {"run": meta}
    for name in TABLES + OPTIONAL_TABLES:
        path = d / f"{name}.parquet"
        if path.exists():
            out[name] = pd.read_parquet(path)
    return out
