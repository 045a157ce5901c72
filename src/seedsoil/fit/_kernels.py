"""Numba kernel of the mixture likelihood (:mod:`seedsoil.fit.likelihood` states the maths).

One pass per patient over the growth nodes k and shedding nodes s: the terms
t_ks = log v_k + log w_s − r Λ0 + log(1 − e^(−r ΔΛ)) (relapse in the interval) or
log v_k + log w_s − r Λ1 (relapse-free), r = e^(log m + σ z_s), their log-sum-exp, and
the exact derivatives with respect to log m and σ. Each patient writes only her own
outputs, so the result is the same for any thread count.
"""
from __future__ import annotations

import math

import numpy as np
import numba

from .._jit import jit_parallel

_LN2 = math.log(2.0)


@numba.njit(cache=True, nogil=True)
def _log1mexp(x):
    if x <= 0.0:
        return -np.inf
    if x <= _LN2:
        return math.log(-math.expm1(-x))
    return math.log1p(-math.exp(-x))


@numba.njit(cache=True, nogil=True)
def _x_over_expm1(x):
    if x == 0.0:
        return 1.0
    if x > 700.0:
        return 0.0
    return x / math.expm1(x)


@jit_parallel
def mixture_kernel(c0, c1, event, log_m, sigma, logv, z, logw, ll, g_m, g_s):
    n, K = c1.shape
    S = z.shape[0]
    for i in numba.prange(n):
        terms = np.empty(K * S)
        dts = np.empty(K * S)
        mx = -np.inf
        for k in range(K):
            for s in range(S):
                u = log_m[i] + sigma * z[s]
                r = math.exp(u)
                j = k * S + s
                if event[i]:
                    a0 = c0[i, k]
                    dc = c1[i, k] - a0 if math.isfinite(a0) else np.inf
                    if dc < 0.0:
                        dc = 0.0
                    x0 = r * a0 if a0 > 0.0 else 0.0
                    x = r * dc if dc > 0.0 else 0.0
                    t = logv[k] + logw[s] - x0 + _log1mexp(x)
                    d = -x0 + _x_over_expm1(x)
                else:
                    a1 = c1[i, k]
                    x1 = r * a1 if a1 > 0.0 else 0.0
                    t = logv[k] + logw[s] - x1
                    d = -x1
                terms[j] = t
                dts[j] = d
                if t > mx:
                    mx = t
        if not math.isfinite(mx):
            ll[i] = -np.inf
            g_m[i] = 0.0
            g_s[i] = 0.0
            continue
        tot = 0.0
        gm = 0.0
        gs = 0.0
        for k in range(K):
            for s in range(S):
                j = k * S + s
                p = math.exp(terms[j] - mx)
                tot += p
                if p > 0.0 and math.isfinite(dts[j]):
                    gm += p * dts[j]
                    gs += p * dts[j] * z[s]
        ll[i] = mx + math.log(tot)
        g_m[i] = gm / tot
        g_s[i] = gs / tot
