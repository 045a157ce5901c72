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
agents are applied serially, so results do not depend on the thread count.
"""
from __future__ import annotations

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


def _advance(rho, fix, gvals, r, a, nx, ny, nz, dims, n_steps, vox, num, den, v_voxel, exchanged):
    """``n_steps`` sub-steps of every substrate: sources and sinks, then the sweeps x, y(, z).

    ``rho`` and ``fix`` are (n_sub, nx·ny·nz), flat per substrate (``fix`` holds a group id,
    or −1 for a free voxel); ``gvals[k, s, g]`` is group g's value at the end of sub-step k
    (implicit: the value at t + dt); ``r[s] = D dt / dx²``, ``a[s] = λ dt / dims``."""
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


# The serial variant runs when a parallel launch per sweep would cost more than the sweep
# (small grids, a loaded machine); both give bitwise the same result.
advance, advance_serial = jit_both(_advance)
