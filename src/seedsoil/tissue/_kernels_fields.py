"""numba kernels of the tissue's diffusing fields: per-agent sources and sinks, and the
locally one-dimensional (LOD) implicit diffusion-decay sweeps (BioFVM's method;
Ghaffarizadeh, Friedman & Macklin 2016, doi:10.1093/bioinformatics/btv730).

Units: µm, minutes; a concentration is any amount per µm³. Kernels take only arrays and
scalars; the driver is :class:`seedsoil.tissue.fields.DiffusionFields`. Fields are one
C-ordered array ``rho[s, x, y, z]`` (a 2-D grid has ``nz = 1``).

One sub-step of length ``dt`` for substrate ``s`` (diffusion D, decay λ, voxel dx, grid of
``dims`` dimensions, ``r = D dt / dx²``, ``a = λ dt / dims``):

1. sources and sinks, agent by agent in storage order, implicit in ρ at the agent's voxel
   (BioFVM's solver): ``ρ ← (ρ + num) / (1 + den)`` with ``num = dt c S ρ* + dt E / V_voxel``
   and ``den = dt c (S + U)``, ``c = V_agent / V_voxel``;
2. for each axis in turn (x, then y, then z) and every grid line along it, the implicit
   1-D problem ``(1 + a) ρᵢ' − r (ρᵢ₋₁' − 2ρᵢ' + ρᵢ₊₁') = ρᵢ`` solved by the Thomas
   algorithm; a missing neighbour at the domain's edge is a zero-flux face (its term is
   dropped, which is the cell-centred ghost ``ρ₋₁ = ρ₀``); a fixed voxel (Dirichlet face
   layer or vessel) is the row ``ρᵢ' = value``, so it holds its value exactly and its
   neighbours see it implicitly.

Summed over a line without fixed voxels the diffusion terms telescope, so each sweep
gives ``Σρ' = Σρ / (1 + a)`` exactly (up to round-off): decay is split evenly over the
``dims`` sweeps. Determinism: lines do not interact and each is solved in a fixed order,
the agents of a voxel are applied in storage order, so results do not depend on the
thread count.

:func:`advance_reference` is this algorithm as written; :func:`advance` (with
:func:`agent_prep` and :func:`agent_exchange`) computes the same with the Thomas
factorisation done once per fixed-voxel layout and each voxel's agents composed into one
affine map per call (equal in exact arithmetic; see the section "prefactored solve").
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._jit import jit, jit_both


@jit
def _thomas_line(u, fix, gv, start, stride, n, r, a, cp, dp):
    """Solve one grid line in place: ``n`` values of ``u`` at ``start + i * stride``.

    Rows: free voxel ``(1 + a + r·k) ρᵢ − r ρᵢ₋₁ − r ρᵢ₊₁ = uᵢ`` (k = number of neighbours
    on the line, 1 or 2; a lone voxel, n = 1, just decays); fixed voxel of group g:
    ``ρᵢ = gv[g]``. The matrix is diagonally dominant, so no pivoting is needed."""
    for i in range(n):
        p = start + i * stride
        g = fix[p]
        if g >= 0:
            lo = 0.0
            up = 0.0
            dg = 1.0
            rhs = gv[g]
        else:
            lo = -r if i > 0 else 0.0
            up = -r if i < n - 1 else 0.0
            dg = 1.0 + a - lo - up
            rhs = u[p]
        if i == 0:
            cp[i] = up / dg
            dp[i] = rhs / dg
        else:
            den = dg - lo * cp[i - 1]
            cp[i] = up / den
            dp[i] = (rhs - lo * dp[i - 1]) / den
    u[start + (n - 1) * stride] = dp[n - 1]
    for i in range(n - 2, -1, -1):
        dp[i] -= cp[i] * dp[i + 1]
        u[start + i * stride] = dp[i]


@jit
def _line_start(axis, line, ny, nz):
    """Flat index of the first voxel of line ``line`` along ``axis`` in a C-ordered (nx, ny, nz) grid."""
    if axis == 0:
        return line  # lines indexed by (j, k): j * nz + k
    if axis == 1:
        return (line // nz) * ny * nz + line % nz  # (i, k)
    return line * nz  # (i, j)


@jit
def sources_sinks(u, fix, vox, num, den, v_voxel, exchanged, s):
    """Step 1 for substrate ``s``: agents in storage order, each implicit in its voxel's ρ.

    ``vox[i]`` is agent i's flat voxel index (−1: none); ``num[i, s]``, ``den[i, s]`` as in the
    module docstring. Agents in a fixed voxel exchange nothing (the value is held).
    ``exchanged[i, s]`` accumulates the amount agent i put into the field (negative: taken up),
    ``V_voxel (ρ_after − ρ_before)``."""
    for i in range(vox.shape[0]):
        p = vox[i]
        if p < 0 or fix[p] >= 0:
            continue
        old = u[p]
        new = (old + num[i, s]) / (1.0 + den[i, s])
        u[p] = new
        exchanged[i, s] += v_voxel * (new - old)


def _advance_reference(rho, fix, gvals, r, a, nx, ny, nz, dims, n_steps, vox, num, den, v_voxel, exchanged):
    """``n_steps`` sub-steps of every substrate: sources and sinks, then the sweeps x, y(, z).

    ``rho`` and ``fix`` are (n_sub, nx·ny·nz), flat per substrate (``fix`` holds a group id,
    or −1 for a free voxel); ``gvals[k, s, g]`` is group g's value at the end of sub-step k
    (implicit: the value at t + dt); ``r[s] = D dt / dx²``, ``a[s] = λ dt / dims``.

    The reference solve: every line's Thomas coefficients are recomputed in every sweep.
    :func:`advance` gives the same result up to round-off, with prefactored coefficients."""
    n_sub = rho.shape[0]
    for k in range(n_steps):
        for s in range(n_sub):
            u = rho[s]
            f = fix[s]
            gv = gvals[k, s]
            sources_sinks(u, f, vox, num, den, v_voxel, exchanged, s)
            for axis in range(dims):
                if axis == 0:
                    n, stride, n_lines = nx, ny * nz, ny * nz
                elif axis == 1:
                    n, stride, n_lines = ny, nz, nx * nz
                else:
                    n, stride, n_lines = nz, 1, nx * ny
                for line in numba.prange(n_lines):
                    cp = np.empty(n)
                    dp = np.empty(n)
                    start = _line_start(axis, np.int64(line), np.int64(ny), np.int64(nz))
                    _thomas_line(u, f, gv, start, np.int64(stride), np.int64(n), r[s], a[s], cp, dp)


# The reference, unfactored solve (kept to test the prefactored one against).
advance_reference = jit(_advance_reference)


# --------------------------------------------------------------------------- prefactored solve
# Each sweep's tridiagonal matrices depend only on r, a and where the fixed voxels are, so
# the Thomas elimination is done once (:func:`factor`): for each voxel of a line, the
# reciprocal pivot ``inv = 1 / (dg − lo c'ᵢ₋₁)``, the forward multiplier ``m = −lo · inv`` and
# the modified upper coefficient ``c' = up · inv``. A sweep is then, along each line,
#
#     ρᵢ ← ρᵢ inv_i + m_i ρᵢ₋₁   (i = 0 … n−1),   then   ρᵢ ← ρᵢ − c'ᵢ ρᵢ₊₁   (i = n−2 … 0)
#
# in place. A fixed voxel's row has inv = 1 and m = c' = 0 and its value is written before
# the sweeps, so it passes through both loops unchanged (ρ·1 + 0·ρ and ρ − 0·ρ are exact
# for finite ρ). A substrate without fixed voxels has the same coefficients on every line
# of an axis (one array of length n per axis); with fixed voxels they are stored per voxel.
#
# Grid lines along an axis are addressed as (A, n, B): A = product of the sizes before the
# axis, B = product of the sizes after it, voxel (a, i, b) at flat ``(a n + i) B + b``. The
# sweep runs over blocks of lines (a block of B-contiguous lines, or of whole lines when
# B = 1), innermost over the lines of the block, which are independent: contiguous (and
# vectorised) for B > 1, interleaved recurrences for B = 1. Every voxel's arithmetic is the
# same whatever the blocking or thread, so results do not depend on the thread count.

#: lines per work item: at most this many contiguous lines (B > 1), or whole lines (B = 1)
BLOCK_CONTIGUOUS = 64
BLOCK_LINES = 8
#: chunks of the occupied-voxel list in the parallel sources step
AGENT_CHUNKS = 16


@jit
def axis_layout(axis, nx, ny, nz):
    """(A, n, B) of ``axis`` in the C-ordered (nx, ny, nz) grid."""
    if axis == 0:
        return 1, nx, ny * nz
    if axis == 1:
        return nx, ny, nz
    return nx * ny, nz, 1


@jit
def _factor_row(lo, up, dg, cprev, first, out, p):
    """One row's Thomas coefficients into ``out[0:3, p]`` (inv, m, c'); returns its c'."""
    den = dg if first else dg - lo * cprev
    inv = 1.0 / den
    out[0, p] = inv
    out[1, p] = -lo * inv
    out[2, p] = up * inv
    return up * inv


@jit
def factor_uniform(r, a, n, out):
    """Coefficients of a line of ``n`` free voxels into ``out[0:3, :n]`` (inv, m, c')."""
    cprev = 0.0
    for i in range(n):
        lo = -r if i > 0 else 0.0
        up = -r if i < n - 1 else 0.0
        cprev = _factor_row(lo, up, 1.0 + a - lo - up, cprev, i == 0, out, i)


@jit
def factor_voxels(fix, r, a, axis, nx, ny, nz, out):
    """Per-voxel coefficients of ``axis`` into ``out[0:3, p]`` (inv, m, c'), with the fixed
    voxels (``fix[p] ≥ 0``) as identity rows; the same recurrence as :func:`_thomas_line`."""
    A, n, B = axis_layout(axis, nx, ny, nz)
    for al in range(A):
        for b in range(B):
            cprev = 0.0
            for i in range(n):
                p = (al * n + i) * B + b
                if fix[p] >= 0:
                    lo = 0.0
                    up = 0.0
                    dg = 1.0
                else:
                    lo = -r if i > 0 else 0.0
                    up = -r if i < n - 1 else 0.0
                    dg = 1.0 + a - lo - up
                cprev = _factor_row(lo, up, dg, cprev, i == 0, out, p)


@jit
def _sweep_block(u, a0, a1, b0, b1, n, B, co, per_voxel):
    """Forward and back substitution of lines (a, b), a0 ≤ a < a1, b0 ≤ b < b1 (one of the
    two ranges has length 1). ``co[0:3]``: inv, m, c' per voxel (``per_voxel``) or per i.
    Written with row views rather than flat index arithmetic, which numba vectorises."""
    if B > 1:
        # rows of the (A·n, B) view, restricted to columns b0:b1 (loops from 0 vectorise)
        w = b1 - b0
        U = u.reshape((-1, B))
        row0 = a0 * n
        if per_voxel:
            I = co[0].reshape((-1, B))
            M = co[1].reshape((-1, B))
            C = co[2].reshape((-1, B))
            cur = U[row0][b0:b1]
            ci = I[row0][b0:b1]
            for b in range(w):
                cur[b] *= ci[b]
            for i in range(1, n):
                cur = U[row0 + i][b0:b1]
                prev = U[row0 + i - 1][b0:b1]
                ci = I[row0 + i][b0:b1]
                mi = M[row0 + i][b0:b1]
                for b in range(w):
                    cur[b] = cur[b] * ci[b] + mi[b] * prev[b]
            for i in range(n - 2, -1, -1):
                cur = U[row0 + i][b0:b1]
                nxt = U[row0 + i + 1][b0:b1]
                ci = C[row0 + i][b0:b1]
                for b in range(w):
                    cur[b] -= ci[b] * nxt[b]
        else:
            cur = U[row0][b0:b1]
            c = co[0, 0]
            for b in range(w):
                cur[b] *= c
            for i in range(1, n):
                cur = U[row0 + i][b0:b1]
                prev = U[row0 + i - 1][b0:b1]
                c = co[0, i]
                mm = co[1, i]
                for b in range(w):
                    cur[b] = cur[b] * c + mm * prev[b]
            for i in range(n - 2, -1, -1):
                cur = U[row0 + i][b0:b1]
                nxt = U[row0 + i + 1][b0:b1]
                c = co[2, i]
                for b in range(w):
                    cur[b] -= c * nxt[b]
    else:
        V = u.reshape((-1, n))[a0:a1]
        w = a1 - a0
        if per_voxel:
            I = co[0].reshape((-1, n))[a0:a1]
            M = co[1].reshape((-1, n))[a0:a1]
            C = co[2].reshape((-1, n))[a0:a1]
            for l in range(w):
                V[l, 0] *= I[l, 0]
            for i in range(1, n):
                for l in range(w):
                    V[l, i] = V[l, i] * I[l, i] + M[l, i] * V[l, i - 1]
            for i in range(n - 2, -1, -1):
                for l in range(w):
                    V[l, i] -= C[l, i] * V[l, i + 1]
        else:
            for l in range(w):
                V[l, 0] *= co[0, 0]
            for i in range(1, n):
                c = co[0, i]
                mm = co[1, i]
                for l in range(w):
                    V[l, i] = V[l, i] * c + mm * V[l, i - 1]
            for i in range(n - 2, -1, -1):
                c = co[2, i]
                for l in range(w):
                    V[l, i] -= c * V[l, i + 1]


@jit
def _work_items(A, B):
    """Number of work items of a sweep with layout (A, ·, B): blocks of BLOCK_LINES whole
    lines (B = 1), or for each a, ⌈B / BLOCK_CONTIGUOUS⌉ column blocks of equal width."""
    if B == 1:
        return (A + BLOCK_LINES - 1) // BLOCK_LINES
    return A * ((B + BLOCK_CONTIGUOUS - 1) // BLOCK_CONTIGUOUS)


@jit
def _item_ranges(w, A, B):
    """(a0, a1, b0, b1) of work item ``w``."""
    if B == 1:
        a0 = w * BLOCK_LINES
        return a0, min(a0 + BLOCK_LINES, A), 0, 1
    nb = (B + BLOCK_CONTIGUOUS - 1) // BLOCK_CONTIGUOUS
    width = (B + nb - 1) // nb
    al = w // nb
    b0 = (w % nb) * width
    return al, al + 1, b0, min(b0 + width, B)


@jit
def _sources_chunk(u, occ, ab, seen, s, t0, t1):
    """Step 1 for the occupied voxels ``occ[t0:t1]`` of substrate s: ``ρ ← α ρ + β`` (the
    composition of the voxel's agents' implicit updates, :func:`agent_prep`), and the value
    before it summed into ``seen`` (for the agents' exchange)."""
    for t in range(t0, t1):
        p = occ[t]
        x = u[p]
        seen[t, s] += x
        u[p] = ab[t, 0, s] * x + ab[t, 1, s]


def _advance_factored(rho, fix, fidx, fgrp, foff, gvals, co_uniform, co_voxel, vslot, nx, ny, nz, dims,
                      n_steps, occ, ab, seen):
    """``n_steps`` sub-steps of every substrate with prefactored sweeps.

    ``rho``, ``fix`` as in :func:`_advance_reference`; the fixed voxels of substrate s are
    ``fidx[foff[s]:foff[s+1]]`` with group ids ``fgrp[…]``, set to ``gvals[k, s, g]`` at the
    start of sub-step k (before the sources, which leave them, and the sweeps, which keep
    them). Coefficients: ``co_voxel[vslot[s], axis]`` (3, N) if ``vslot[s] ≥ 0``, else
    ``co_uniform[s, axis]`` (3, n_max). Sources: the voxels ``occ`` (ascending, distinct)
    with their maps ``ab[t, 0:2]`` = (α, β) (m, ·, n_sub), ``seen`` accumulating the value each had
    before its sources (:func:`agent_prep`); voxels are independent, so the chunking over
    threads does not change the result."""
    n_sub = rho.shape[0]
    m = occ.shape[0]
    n_chunks = min(AGENT_CHUNKS, m)
    for k in range(n_steps):
        for s in range(n_sub):
            u = rho[s]
            for j in range(foff[s], foff[s + 1]):
                u[fidx[j]] = gvals[k, s, fgrp[j]]
            for c in numba.prange(n_chunks):
                _sources_chunk(u, occ, ab, seen, s, c * m // n_chunks, (c + 1) * m // n_chunks)
            per_voxel = vslot[s] >= 0
            for axis in range(dims):
                A, n, B = axis_layout(axis, nx, ny, nz)
                co = co_voxel[vslot[s], axis] if per_voxel else co_uniform[s, axis]
                for w in numba.prange(_work_items(A, B)):
                    a0, a1, b0, b1 = _item_ranges(w, A, B)
                    _sweep_block(u, a0, a1, b0, b1, n, B, co, per_voxel)


advance, advance_serial = jit_both(_advance_factored)


@jit
def agent_prep(pos, origin, hi, dx, nx, ny, nz, dims, vol, sec, sat, upt, exp, fix, dt, v_voxel,
               slot_of, slot, occ, ab, gd):
    """The agents' sources and sinks of one :meth:`advance` call as one affine map per
    occupied voxel, or a failed check.

    Agent i's implicit update (module docstring) is ``x ↦ (x + numᵢ) / (1 + denᵢ)``; the
    agents of a voxel, applied in storage order, compose to ``x ↦ α x + β``, built here
    agent by agent (``α ← α / (1 + den)``, ``β ← (β + num) / (1 + den)``): the same sequence
    of implicit updates. Agent i puts ``V_voxel (α' x + β' − α x − β)`` into the field, (α, β)
    its voxel's map before it and (α', β') after, x the voxel's value before the sources:
    ``γᵢ x + δᵢ`` with ``γᵢ = V(α' − α)``, ``δᵢ = V(β' − β)``; over k sub-steps
    ``γᵢ Σx + k δᵢ`` (:func:`agent_exchange`). Agents in a fixed voxel exchange nothing and
    leave it (α = 1, β = 0). Equal to the sequential updates in exact arithmetic.

    Buffers (the caller keeps them between calls, so large arrays are not re-faulted in):
    ``slot_of`` (N) all −1 on entry and on return; ``slot`` (≥ n) gets agent i's voxel's
    place in ``occ`` (≥ n), the m occupied voxels in ascending order; ``ab[t] = (α, β,
    fixed)`` per substrate (≥ m, 3, n_sub; one cache line per voxel); ``gd[i] = (γ, δ)``
    (≥ n, 2, n_sub). Returns ``(ok, m)``, ``ok`` False if a position is outside ``[origin,
    hi]`` (or NaN), a volume negative or NaN, a rate or export not finite, or a secretion or
    uptake negative (the caller then reports which). An absent per-agent array is passed
    with 0 rows (zeros). ``num``, ``den`` in the floating-point order of the numpy
    expression of the reference path."""
    n = pos.shape[0]
    n_sub = fix.shape[0]
    n_vox = nx * ny * nz
    ok = True
    for i in range(n):
        idx = 0
        for d in range(dims):
            x = pos[i, d]
            if not (x >= origin[d] and x <= hi[d]):
                ok = False
                x = origin[d]
            size = nx if d == 0 else (ny if d == 1 else nz)
            c = int(math.floor((x - origin[d]) / dx))
            if c > size - 1:
                c = size - 1
            if c < 0:
                c = 0
            idx = idx * size + c
        if dims == 2:
            idx = idx * nz
        slot[i] = idx
        slot_of[idx] = -2
    m = 0
    for p in range(n_vox):
        if slot_of[p] == -2:
            slot_of[p] = m
            occ[m] = p
            for s in range(n_sub):
                ab[m, 0, s] = 1.0
                ab[m, 1, s] = 0.0
                ab[m, 2, s] = 1.0 if fix[s, p] >= 0 else 0.0
            m += 1
    for i in range(n):
        q = slot_of[slot[i]]
        slot[i] = q
        v = vol[i]
        if not (v >= 0.0):
            ok = False
        cv = v / v_voxel
        for s in range(n_sub):
            S = sec[i, s] if sec.shape[0] else 0.0
            R = sat[i, s] if sat.shape[0] else 0.0
            U = upt[i, s] if upt.shape[0] else 0.0
            E = exp[i, s] if exp.shape[0] else 0.0
            if not (np.isfinite(S) and np.isfinite(R) and np.isfinite(U) and np.isfinite(E)):
                ok = False
            if S < 0.0 or U < 0.0:
                ok = False
            if ab[q, 2, s] != 0.0:
                gd[i, 0, s] = 0.0
                gd[i, 1, s] = 0.0
                continue
            num = dt * cv * S * R + dt * E / v_voxel
            den = dt * cv * (S + U)
            a0 = ab[q, 0, s]
            b0 = ab[q, 1, s]
            a1 = a0 / (1.0 + den)
            b1 = (b0 + num) / (1.0 + den)
            ab[q, 0, s] = a1
            ab[q, 1, s] = b1
            gd[i, 0, s] = v_voxel * (a1 - a0)
            gd[i, 1, s] = v_voxel * (b1 - b0)
    for t in range(m):
        slot_of[occ[t]] = -1
    return ok, m


@jit
def agent_exchange(slot, gd, seen, n_steps, out):
    """Amount each agent put into each field over ``n_steps`` sub-steps, ``γ Σx + k δ``, into ``out`` (n, n_sub)."""
    for i in range(out.shape[0]):
        q = slot[i]
        for s in range(out.shape[1]):
            out[i, s] = gd[i, 0, s] * seen[q, s] + n_steps * gd[i, 1, s]
