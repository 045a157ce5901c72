"""numba kernels of the tissue engine: binning, pair mechanics + motility, position update,
matrix remodelling, division and death.

Units: µm and minutes. Kernels take only arrays and scalars (docs/architecture.md); the
driver is :mod:`seedsoil.tissue.engine`. Agents are columns: ``pos`` (n × d),
``vel`` / ``vel_prev`` / ``mot`` (n × d), and one value per agent for the rest.

Determinism: every parallel loop writes only its own agent's outputs, sums its
neighbours in a fixed order (voxel by voxel, storage order within a voxel) and
draws its random numbers from a counter keyed by the agent's id and the step,
so results do not depend on the number of threads. Pair forces are evaluated
from both sides with a symmetric formula, so they are equal and opposite.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._jit import jit, jit_both
from ._random import normal_pair, uniform

TUMOUR = 0
CAF = 1
ACTIVE = 0
ESCAPED = 1
DEAD = 2
OU = 0
TURN = 1
# draw numbers of the counter RNG (one purpose each)
_D_MOT = 0  # 0..3: motility
_D_ESC = 4
_D_DEATH = 5
_D_DIV = 6
_D_DIR = 7  # 7, 8: daughter direction


@jit
def voxel_of(x, y, z, dims, glo, inv_h, gdim):
    ix = min(max(int((x - glo[0]) * inv_h), 0), gdim[0] - 1)
    iy = min(max(int((y - glo[1]) * inv_h), 0), gdim[1] - 1)
    iz = 0
    if dims == 3:
        iz = min(max(int((z - glo[2]) * inv_h), 0), gdim[2] - 1)
    return ix, iy, iz


def _cell_ids(pos, state, n, glo, inv_h, gdim, out):
    """Voxel index of each active agent (−1 for inactive ones)."""
    dims = pos.shape[1]
    for i in numba.prange(n):
        if state[i] != ACTIVE:
            out[i] = -1
            continue
        z = pos[i, 2] if dims == 3 else 0.0
        ix, iy, iz = voxel_of(pos[i, 0], pos[i, 1], z, dims, glo, inv_h, gdim)
        out[i] = ix + gdim[0] * (iy + gdim[1] * iz)


@jit
def bin_agents(cell, n, n_cells, start, order):
    """Counting sort of agents by voxel: ``order[start[c]:start[c+1]]`` are voxel c's agents,
    in storage order. Returns the number of binned (active) agents."""
    start[:] = 0
    for i in range(n):
        c = cell[i]
        if c >= 0:
            start[c + 1] += 1
    for c in range(n_cells):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    for i in range(n):
        c = cell[i]
        if c >= 0:
            order[fill[c]] = i
            fill[c] += 1
    return start[n_cells]


@jit
def _nearest_on_vessels(x, y, z, dims, vessels):
    """Nearest point on any vessel axis segment: (distance, px, py, pz, vessel index)."""
    best = 1e300
    bx = by = bz = 0.0
    bk = -1
    for k in range(vessels.shape[0]):
        ax, ay, az = vessels[k, 0], vessels[k, 1], vessels[k, 2]
        ex, ey, ez = vessels[k, 3] - ax, vessels[k, 4] - ay, vessels[k, 5] - az
        if dims == 2:
            ez = 0.0
            az = 0.0
        ll = ex * ex + ey * ey + ez * ez
        t = 0.0
        if ll > 0.0:
            t = ((x - ax) * ex + (y - ay) * ey + (z - az) * ez) / ll
            t = min(max(t, 0.0), 1.0)
        px, py, pz = ax + t * ex, ay + t * ey, az + t * ez
        d = math.sqrt((x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2)
        if d < best:
            best, bx, by, bz, bk = d, px, py, pz, k
    return best, bx, by, bz, bk


def _build_neighbours(pos, radius, state, n, start, order, glo, inv_h, gdim, adh_range, skin, nbr, nnb):
    """Verlet neighbour lists: for each active agent, the agents within its interaction reach
    ``adh_range (r_i + r_j)`` plus ``skin`` µm, found through the voxel grid. Rows of
    ``nbr`` hold up to ``nbr.shape[1]`` entries; ``nnb[i]`` is the true count (larger than
    the row means the caller must enlarge ``nbr`` and rebuild). Agents in voxel order,
    the x-neighbouring voxels of a row are one contiguous range of ``order``."""
    dims = pos.shape[1]
    zr = 1 if dims == 3 else 0
    cap = nbr.shape[1]
    for i in numba.prange(n):
        if state[i] != ACTIVE:
            nnb[i] = 0
            continue
        xi = pos[i, 0]
        yi = pos[i, 1]
        zi = pos[i, 2] if dims == 3 else 0.0
        ri = radius[i]
        gx, gy, gz = voxel_of(xi, yi, zi, dims, glo, inv_h, gdim)
        kx0 = max(gx - 1, 0)
        kx1 = min(gx + 1, gdim[0] - 1)
        cnt = 0
        for kz in range(max(gz - zr, 0), min(gz + zr, gdim[2] - 1) + 1):
            for ky in range(max(gy - 1, 0), min(gy + 1, gdim[1] - 1) + 1):
                row = gdim[0] * (ky + gdim[1] * kz)
                for p in range(start[row + kx0], start[row + kx1 + 1]):
                    j = order[p]
                    if j == i:
                        continue
                    ddx = xi - pos[j, 0]
                    ddy = yi - pos[j, 1]
                    ddz = (zi - pos[j, 2]) if dims == 3 else 0.0
                    reach = adh_range * (ri + radius[j]) + skin
                    if ddx * ddx + ddy * ddy + ddz * ddz < reach * reach:
                        if cnt < cap:
                            nbr[i, cnt] = j
                        cnt += 1
        nnb[i] = cnt


def _mechanics(pos, vel, mot, radius, kind, state, ids, speed, persist, hind, n,
              nbr, nnb, c_rep, c_adh, adh_range, wall_lo, wall_hi, walls,
              law, dt, seed, step,
              matrix_on, rho, rho0, axis, m_lo, inv_mh, mdim, track_speed, track_pers, guidance,
              vessels, vessel_radius, chemo_speed, chemo_length, contacts, drift):
    """One mechanics step: update each agent's motility velocity, then its total velocity
    = motility (+ chemotaxis toward the vessels) + ``drift`` (chemotaxis up a diffusing
    field, set by :mod:`seedsoil.tissue.chemistry`; zero otherwise) + pair
    adhesion/repulsion over its neighbour list + wall and vessel repulsion (a vessel is an obstacle; cells that touch it may intravasate in
    :func:`advance`). Track strength = fibre alignment × the cleared share of the voxel's
    initial matrix (``rho0``), so there are no tracks where there was no matrix. Writes
    ``vel``, ``mot`` and ``contacts`` (neighbours closer than the sum of radii)."""
    dims = pos.shape[1]
    for i in numba.prange(n):
        if state[i] != ACTIVE:
            for k in range(dims):
                vel[i, k] = 0.0
            contacts[i] = 0
            continue
        xi = pos[i, 0]
        yi = pos[i, 1]
        zi = pos[i, 2] if dims == 3 else 0.0
        ri = radius[i]
        ki = kind[i]
        # ------------------------------------------------------------ motility
        s_eff = speed[i]
        p_eff = persist[i]
        tau = 0.0
        axx = axy = axz = 0.0
        if matrix_on:
            mx, my, mz = voxel_of(xi, yi, zi, dims, m_lo, inv_mh, mdim)
            m = mx + mdim[0] * (my + mdim[1] * mz)
            r_here = rho[m]
            axx = axis[m, 0]
            axy = axis[m, 1]
            if dims == 3:
                axz = axis[m, 2]
            amag = math.sqrt(axx * axx + axy * axy + axz * axz)
            s_eff *= max(0.0, 1.0 - hind[i] * r_here)
            if ki == TUMOUR and amag > 0.0 and rho0[m] > 0.0:
                tau = amag * (1.0 - r_here / rho0[m])  # a track: matrix aligned and cleared
                s_eff *= 1.0 + track_speed * tau
                p_eff *= 1.0 + track_pers * tau
                axx /= amag
                axy /= amag
                axz /= amag
        if law == OU:
            decay = math.exp(-dt / p_eff)
            sd = s_eff * math.sqrt((1.0 - decay * decay) / dims)
            g0, g1 = normal_pair(seed, ids[i], step, _D_MOT)
            mot[i, 0] = decay * mot[i, 0] + sd * g0
            mot[i, 1] = decay * mot[i, 1] + sd * g1
            if dims == 3:
                g2, _ = normal_pair(seed, ids[i], step, _D_MOT + 2)
                mot[i, 2] = decay * mot[i, 2] + sd * g2
        else:
            if step == 0 or uniform(seed, ids[i], step, _D_MOT) < dt / p_eff:
                u1 = uniform(seed, ids[i], step, _D_MOT + 1)
                u2 = uniform(seed, ids[i], step, _D_MOT + 2)
                if dims == 3:
                    cz = 2.0 * u1 - 1.0
                    sz = math.sqrt(max(0.0, 1.0 - cz * cz))
                    mot[i, 0] = s_eff * sz * math.cos(2.0 * math.pi * u2)
                    mot[i, 1] = s_eff * sz * math.sin(2.0 * math.pi * u2)
                    mot[i, 2] = s_eff * cz
                else:
                    mot[i, 0] = s_eff * math.cos(2.0 * math.pi * u1)
                    mot[i, 1] = s_eff * math.sin(2.0 * math.pi * u1)
            elif matrix_on:
                mag = 0.0
                for k in range(dims):
                    mag += mot[i, k] * mot[i, k]
                mag = math.sqrt(mag)
                if mag > 0.0:
                    for k in range(dims):
                        mot[i, k] *= s_eff / mag
        vx = mot[i, 0]
        vy = mot[i, 1]
        vz = mot[i, 2] if dims == 3 else 0.0
        if tau > 0.0 and guidance > 0.0:
            # contact guidance: damp the part of the motility across the fibre axis
            dot = vx * axx + vy * axy + vz * axz
            w = guidance * tau
            vx -= w * (vx - dot * axx)
            vy -= w * (vy - dot * axy)
            vz -= w * (vz - dot * axz)
        has_vessels = vessels.shape[0] > 0
        d_v = px = py = pz = 0.0
        kv = 0
        if has_vessels:
            d_v, px, py, pz, kv = _nearest_on_vessels(xi, yi, zi, dims, vessels)
        if chemo_speed > 0.0 and has_vessels and d_v > 0.0:
            c = chemo_speed * math.exp(-d_v / chemo_length) / d_v
            vx += c * (px - xi)
            vy += c * (py - yi)
            vz += c * (pz - zi)
        vx += drift[i, 0]
        vy += drift[i, 1]
        if dims == 3:
            vz += drift[i, 2]
        # ------------------------------------------------------------ pair forces
        # branch-free (list entries beyond reach give exactly zero): a mispredicted branch
        # per pair costs more than the arithmetic it would skip
        nc = 0
        inv_range = 1.0 / adh_range
        for q in range(nnb[i]):
            j = nbr[i, q]
            ddx = xi - pos[j, 0]
            ddy = yi - pos[j, 1]
            ddz = (zi - pos[j, 2]) if dims == 3 else 0.0
            d2 = max(ddx * ddx + ddy * ddy + ddz * ddz, 1e-200)  # coincident pair: no direction, no force
            inv_d = 1.0 / math.sqrt(d2)
            x = d2 * inv_d / (ri + radius[j])  # d / R
            kj = kind[j]
            tr = max(0.0, 1.0 - x)  # repulsion for d < R
            ta = max(0.0, 1.0 - x * inv_range)  # adhesion for d < S = adh_range R
            net = (c_rep[ki, kj] * tr * tr - c_adh[ki, kj] * ta * ta) * inv_d
            nc += 1 if x < 1.0 else 0
            vx += net * ddx
            vy += net * ddy
            vz += net * ddz
        # ------------------------------------------------------------ walls
        if walls:
            cw = c_rep[ki, ki]
            for k in range(dims):
                xk = xi if k == 0 else (yi if k == 1 else zi)
                dl = xk - wall_lo[k]
                push = 0.0
                if dl < ri:
                    t = 1.0 - max(dl, 0.0) / ri
                    push += cw * t * t
                dh = wall_hi[k] - xk
                if dh < ri:
                    t = 1.0 - max(dh, 0.0) / ri
                    push -= cw * t * t
                if k == 0:
                    vx += push
                elif k == 1:
                    vy += push
                else:
                    vz += push
        if has_vessels:
            gap = d_v - vessel_radius[kv]
            if gap < ri and d_v > 0.0:
                t = 1.0 - max(gap, 0.0) / ri
                push = c_rep[ki, ki] * t * t / d_v
                vx += push * (xi - px)
                vy += push * (yi - py)
                vz += push * (zi - pz)
        vel[i, 0] = vx
        vel[i, 1] = vy
        if dims == 3:
            vel[i, 2] = vz
        contacts[i] = nc


def _advance(pos, vel, vel_prev, radius, kind, state, ids, escape_step, n, dt, first, wall_lo, wall_hi,
            vessels, vessel_radius, p_intravasate, seed, step, pos_ref, moved):
    """Overdamped position update, second-order Adams-Bashforth
    ``x += dt (1.5 v − 0.5 v_prev)`` (forward Euler on the first step), kept inside the
    domain; then a tumour cell touching a vessel intravasates with probability
    ``p_intravasate`` (per step). ``moved[i]``: squared displacement since ``pos_ref``
    (positions when the neighbour lists were built)."""
    dims = pos.shape[1]
    for i in numba.prange(n):
        if state[i] != ACTIVE:
            moved[i] = 0.0
            continue
        m2 = 0.0
        for k in range(dims):
            v = vel[i, k]
            if first:
                pos[i, k] += dt * v
            else:
                pos[i, k] += dt * (1.5 * v - 0.5 * vel_prev[i, k])
            pos[i, k] = min(max(pos[i, k], wall_lo[k]), wall_hi[k])
            vel_prev[i, k] = v
            dd = pos[i, k] - pos_ref[i, k]
            m2 += dd * dd
        moved[i] = m2
        if kind[i] == TUMOUR and vessels.shape[0] > 0 and p_intravasate > 0.0:
            z = pos[i, 2] if dims == 3 else 0.0
            d, _, _, _, k = _nearest_on_vessels(pos[i, 0], pos[i, 1], z, dims, vessels)
            if d < vessel_radius[k] + radius[i] and uniform(seed, ids[i], step, _D_ESC) < p_intravasate:
                state[i] = ESCAPED
                escape_step[i] = step
                moved[i] = math.inf  # the neighbour lists must drop it


# Each parallel kernel also exists serial: for a few hundred agents the cost of waking
# threads at every step exceeds the work (and on a busy machine it is far worse). Both
# variants do the same arithmetic in the same order per agent, so results are equal.
cell_ids, cell_ids_serial = jit_both(_cell_ids)
build_neighbours, build_neighbours_serial = jit_both(_build_neighbours)
mechanics, mechanics_serial = jit_both(_mechanics)
advance, advance_serial = jit_both(_advance)


@jit
def remodel(pos, vel, state, degrade, align, n, dt, rho, axis, m_lo, inv_mh, mdim):
    """Matrix remodelling by the agents that carry it (serial: agents may share a voxel).

    Density decays at the agent's rate (``rho *= exp(−degrade dt)``); the fibre axis
    relaxes toward the agent's direction of motion at rate ``align``, nematically (a
    fibre has no head or tail)."""
    dims = pos.shape[1]
    for i in range(n):
        if state[i] != ACTIVE or (degrade[i] <= 0.0 and align[i] <= 0.0):
            continue
        z = pos[i, 2] if dims == 3 else 0.0
        mx, my, mz = voxel_of(pos[i, 0], pos[i, 1], z, dims, m_lo, inv_mh, mdim)
        m = mx + mdim[0] * (my + mdim[1] * mz)
        if degrade[i] > 0.0:
            rho[m] *= math.exp(-degrade[i] * dt)
        if align[i] > 0.0:
            sp = 0.0
            for k in range(dims):
                sp += vel[i, k] * vel[i, k]
            sp = math.sqrt(sp)
            if sp > 0.0:
                dot = 0.0
                for k in range(dims):
                    dot += vel[i, k] * axis[m, k]
                sign = -1.0 if dot < 0.0 else 1.0
                w = min(align[i] * dt, 1.0)
                for k in range(dims):
                    axis[m, k] += w * (sign * vel[i, k] / sp - axis[m, k])


@jit
def proliferate(pos, vel, vel_prev, mot, radius, kind, mode, state, ids, speed, persist, hind, degrade, align,
                div_rate, death_rate, contacts, max_contacts, n, capacity, begin, next_id, dt, seed, step,
                wall_lo, wall_hi, stop, species, cellpar):
    """Death and division of tumour cells for one step, in storage order over rows ``[begin, stop)``.

    A cell dies with probability ``death_rate dt`` and, if it has at most
    ``max_contacts`` touching neighbours (contact inhibition), divides with
    probability ``div_rate dt``: the daughter gets a new id and the parent's
    phenotype and its rows of ``species`` and ``cellpar`` (the signalling state and the
    parameters of its own cell network; zero-width when agents carry none), the pair is
    placed half a radius either side of the old centre.
    ``stop`` is the number of agents at the start of the step, so that a call resumed after
    the capacity ran out does not also process the daughters born earlier in the step.
    Returns (new n, next id, index to resume from when capacity ran out or −1, number of
    deaths and divisions).
    """
    dims = pos.shape[1]
    events = 0
    for i in range(begin, stop):
        if state[i] != ACTIVE or kind[i] != TUMOUR:
            continue
        if death_rate[i] > 0.0 and uniform(seed, ids[i], step, _D_DEATH) < death_rate[i] * dt:
            state[i] = DEAD
            events += 1
            continue
        if div_rate[i] <= 0.0 or contacts[i] > max_contacts:
            continue
        if uniform(seed, ids[i], step, _D_DIV) >= div_rate[i] * dt:
            continue
        if n >= capacity:
            return n, next_id, i, events
        u1 = uniform(seed, ids[i], step, _D_DIR)
        u2 = uniform(seed, ids[i], step, _D_DIR + 1)
        e = np.zeros(3)
        if dims == 3:
            cz = 2.0 * u1 - 1.0
            sz = math.sqrt(max(0.0, 1.0 - cz * cz))
            e[0] = sz * math.cos(2.0 * math.pi * u2)
            e[1] = sz * math.sin(2.0 * math.pi * u2)
            e[2] = cz
        else:
            e[0] = math.cos(2.0 * math.pi * u1)
            e[1] = math.sin(2.0 * math.pi * u1)
        h = 0.5 * radius[i]
        j = n
        for k in range(dims):
            pos[j, k] = min(max(pos[i, k] + h * e[k], wall_lo[k]), wall_hi[k])
            pos[i, k] = min(max(pos[i, k] - h * e[k], wall_lo[k]), wall_hi[k])
            vel[j, k] = vel[i, k]
            vel_prev[j, k] = vel_prev[i, k]
            mot[j, k] = mot[i, k]
        radius[j] = radius[i]
        kind[j] = kind[i]
        mode[j] = mode[i]
        state[j] = ACTIVE
        ids[j] = next_id
        speed[j] = speed[i]
        persist[j] = persist[i]
        hind[j] = hind[i]
        degrade[j] = degrade[i]
        align[j] = align[i]
        div_rate[j] = div_rate[i]
        death_rate[j] = death_rate[i]
        contacts[j] = contacts[i]
        for k in range(species.shape[1]):
            species[j, k] = species[i, k]
        for k in range(cellpar.shape[1]):
            cellpar[j, k] = cellpar[i, k]
        next_id += 1
        n += 1
        events += 1
    return n, next_id, -1, events
