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
