"""Content hashes (core): one algorithm and one length for every spec and run.

``content_hash(obj)`` is the SHA-256 (64 hex digits) of the canonical JSON of
``obj`` (sorted keys, no spaces; non-JSON values by ``str``). Every scale's spec
(:meth:`seedsoil.scenario.Scenario.content_hash`,
:meth:`seedsoil.tissue.scenario.TissueScenario.content_hash`,
:meth:`seedsoil.cohort.trial.Trial.content_hash`) hashes its normalized form with it,
including the content (not the path) of the files it links.
"""
from __future__ import annotations

import hashlib
import json
import types
from pathlib import Path
from typing import Any

HASH_LENGTH = 64


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def content_hash(obj: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def file_hash(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes (a linked file's content, for a spec's hash)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def feed_code(fn: Any, h: Any, seen: set | None = None) -> None:
    """Feed the code of ``fn`` to the hash ``h``: its bytecode, names and constants, the same
    for the plain and jitted functions it calls (recursively), and the numbers and strings it
    reads from its globals. How a growth law's or a drug model's maths enters a hash, so that
    an edited function gets a new one."""
    seen = set() if seen is None else seen
    fn = getattr(fn, "py_func", fn)
    if not isinstance(fn, types.FunctionType) or fn in seen:
        return
    seen.add(fn)

    def code(c: types.CodeType) -> None:
        h.update(c.co_code)
        h.update(repr((c.co_names, c.co_varnames)).encode())
        for k in c.co_consts:
            code(k) if isinstance(k, types.CodeType) else h.update(repr(k).encode())

    code(fn.__code__)
    for name in fn.__code__.co_names:
        value = fn.__globals__.get(name)
        if isinstance(value, (int, float, str, tuple)):
            h.update(f"{name}={value!r}".encode())
        else:
            feed_code(value, h, seen)


def code_hash(fn: Any) -> str:
    """SHA-256 hex digest of :func:`feed_code` of ``fn``."""
    h = hashlib.sha256()
    feed_code(fn, h)
    return h.hexdigest()
