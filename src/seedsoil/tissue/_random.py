"""Counter-based random numbers for numba kernels, keyed by (seed, agent id, step, draw).

A draw depends only on its key, never on which thread computes it or in which
order agents are stored, so a tissue run gives the same trajectories for any
numba thread count and any spatial re-ordering of the agent columns (docs/tissue.md,
Numerics). The mixer is the SplitMix64 finaliser (Steele, Lea &
Flood 2014, doi:10.1145/2714064.2660195), applied twice over the packed key.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit

_C1 = np.uint64(0x9E3779B97F4A7C15)
_C2 = np.uint64(0xBF58476D1CE4E5B9)
_C3 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@jit
def _mix(z):
    z = (z ^ (z >> _S30)) * _C2
    z = (z ^ (z >> _S27)) * _C3
    return z ^ (z >> _S31)


@jit
def uniform(seed, agent, step, draw):
    """A uniform number in (0, 1) for the key (seed, agent, step, draw) (all non-negative ints)."""
    z = _mix(np.uint64(seed) * _C1 + np.uint64(agent))
    z = _mix(z ^ (np.uint64(step) * _C1 + (np.uint64(draw) << _S32)))
    return (np.float64(z >> _S11) + 0.5) * _INV53


@jit
def normal_pair(seed, agent, step, draw):
    """Two independent standard normals (Box-Muller) from draws ``draw`` and ``draw + 1``."""
    u1 = uniform(seed, agent, step, draw)
    u2 = uniform(seed, agent, step, draw + 1)
    r = math.sqrt(-2.0 * math.log(u1))
    return r * math.cos(2.0 * math.pi * u2), r * math.sin(2.0 * math.pi * u2)
