"""Explicit, counter-based randomness: one stream per (seed, key...).

A patient's stream depends only on the root seed and its keys (e.g. patient
index, purpose), never on how work is split across workers or chunks.
"""
from __future__ import annotations

import numpy as np


def new_seed() -> int:
    """A fresh root seed from OS entropy (recorded so the run can be repeated)."""
    return int(np.random.SeedSequence().entropy % (2**63))


def stream(seed: int, *keys: int) -> np.random.Generator:
    """Philox generator for ``(seed, *keys)``."""
    return np.random.Generator(np.random.Philox(np.random.SeedSequence([int(seed), *map(int, keys)])))
