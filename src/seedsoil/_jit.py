"""JIT options for every numba kernel, in one place.

``cache=True`` keeps compiled kernels on disk between runs; ``nogil`` lets the
cohort executor run kernels from threads. ``fastmath`` stays off: results must
be bitwise reproducible across machines with the same build.
"""
from __future__ import annotations

import os
import types

import numba

JIT_OPTIONS = {"cache": os.environ.get("SEEDSOIL_NUMBA_CACHE", "1") != "0", "nogil": True, "fastmath": False}


def jit(fn):
    """Compile ``fn`` with the project's numba options."""
    return numba.njit(**JIT_OPTIONS)(fn)


def jit_parallel(fn):
    """Compile ``fn`` with the project's options and ``parallel=True`` (for ``numba.prange`` loops).

    Kernels compiled this way must give the same result for any thread count: each
    iteration writes only its own outputs and sums in a fixed order.
    """
    return numba.njit(parallel=True, **JIT_OPTIONS)(fn)


def jit_both(fn):
    """``(parallel, serial)`` compilations of ``fn``.

    numba's disk cache keys a function by its qualified name and line, not by
    ``parallel=``; compiled twice under one name, whichever variant a process
    built first would be loaded for both. The serial variant is therefore
    compiled from a copy named ``<name>_serial``.
    """
    serial = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                                fn.__closure__)
    serial.__qualname__ = fn.__qualname__ + "_serial"
    serial.__module__ = fn.__module__
    serial.__doc__ = fn.__doc__
    return jit_parallel(fn), jit(serial)
