"""The mixture likelihood of relapse times over two random effects (pure maths, no engine).

A patient's distant cumulative hazard after surgery, at the reference shedding rate, is
Λ(t; g) for a growth random effect g (one engine solve per quadrature node g_k, weight
v_k). Her shedding multiplier is m_i e^(σ z), z ~ N(0, 1) (nodes z_s, weights w_s), and
the hazard is proportional to it (:mod:`seedsoil.fit.frailty`). With r = m_i e^(σ z_s):

* censored at t (relapse-free then):
  S_i(t) = Σ_k Σ_s v_k w_s exp(−r Λ(t; g_k));
* relapse observed at t, known to the interval (t − Δ, t] (recurrence is found at a
  follow-up visit, so a date is known to a visit interval at best; this also keeps the
  likelihood bounded, where a density can grow without limit as σ grows):
  P_i = Σ_k Σ_s v_k w_s exp(−r Λ(t − Δ; g_k)) (1 − exp(−r [Λ(t; g_k) − Λ(t − Δ; g_k)])).

Everything is summed in log space (log-sum-exp; log(1 − e^(−x)) as in Mächler 2012), so
cumulative hazards of 0 or ∞ and multipliers of e^±50 give finite log-likelihoods, and
the gradient with respect to log m_i and σ is exact (:func:`mixture_loglik`; the numba kernel
is :mod:`seedsoil.fit._kernels`).
"""
from __future__ import annotations

import math

import numpy as np

#: Gauss–Hermite nodes for the shedding random effect in the mixture likelihood
SHEDDING_NODES = 24


def normal_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with Σ w g(z) ≈ E[g(Z)], Z ~ N(0, 1) (probabilists' Gauss–Hermite)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / math.sqrt(2.0 * math.pi)


def mixture_loglik(c0: np.ndarray, c1: np.ndarray, event: np.ndarray, log_m: np.ndarray, sigma: float,
                   growth_weights: np.ndarray, *, nodes: int = SHEDDING_NODES,
                   gradient: bool = False):
    """Each patient's log-likelihood (module docstring) and optionally its gradient.

    ``c0``, ``c1``: (patients × growth nodes) Λ at t − Δ and at t (reference shedding rate;
    ``c0`` is ignored for censored patients); ``event``: relapse observed; ``log_m``: each
    patient's log shedding multiplier; ``sigma``: the shedding random effect's log-sd;
    ``growth_weights``: v_k (sum 1). Returns ``ll`` (patients,) or, with ``gradient``,
    ``(ll, dll/dlog_m, dll/dsigma)``."""
    from ._kernels import mixture_kernel

    c1 = np.ascontiguousarray(c1, dtype=float)
    c0 = np.ascontiguousarray(c0, dtype=float) if c0 is not None else np.zeros_like(c1)
    ev = np.ascontiguousarray(event, dtype=np.bool_)
    z, w = normal_nodes(nodes)
    logv = np.log(np.asarray(growth_weights, dtype=float))
    lm = np.ascontiguousarray(np.broadcast_to(np.asarray(log_m, dtype=float), ev.shape))
    n = len(ev)
    ll, g_m, g_s = np.empty(n), np.empty(n), np.empty(n)
    mixture_kernel(c0, c1, ev, lm, float(sigma), logv, z, np.log(w), ll, g_m, g_s)
    if not gradient:
        return ll
    return ll, g_m, g_s


def mixture_survival(cum: np.ndarray, log_m: np.ndarray | float, sigma: float, growth_weights: np.ndarray, *,
                     nodes: int = SHEDDING_NODES) -> np.ndarray:
    """Marginal relapse-free probability: ``cum`` (patients × growth nodes × times) at the
    reference shedding rate → (patients × times), averaged over both random effects."""
    cum = np.asarray(cum, dtype=float)
    z, w = normal_nodes(nodes)
    lm = np.broadcast_to(np.asarray(log_m, dtype=float), cum.shape[:1])
    r = np.exp(lm[:, None] + sigma * z[None, :])  # (n, S)
    with np.errstate(invalid="ignore", over="ignore"):
        a = cum[:, :, :, None] * r[:, None, None, :]
        a = np.where(np.isnan(a), 0.0, a)
        e = np.exp(-a)
    return np.einsum("nkts,k,s->nt", e, np.asarray(growth_weights, dtype=float), w)
