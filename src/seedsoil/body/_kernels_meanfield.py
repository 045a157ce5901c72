"""Numba kernel of the mean-field engine: an Iwata-type transport equation.

The expected number of colonies per log-size cell, for proliferating (P) and
dormant (Q) colonies, on a uniform grid in y = ln x (x in cells, x >= 1):

    ∂n_P/∂t + ∂(v n_P)/∂y = − q h n_P + a n_Q,   v(y, t) = g(x)/x − κ(x, E) f_kill
    ∂n_Q/∂t − ∂(d_D n_Q)/∂y = + q h n_P − a n_Q

with new colonies entering P at y = 0 (x = 1 cell) at the boundary flux
F(t) = A p_P (1 − h) + a D (arrivals that divide at once, and dormant single
cells that wake). Finite volumes, first-order upwind, explicit with a CFL
sub-step: conservative by construction, so the colony number changes by
exactly the boundary flux minus what leaves through x = 1 (extinction). The
lowest cell holds colonies of about one cell: when they shrink they leave at
the per-colony hazard of losing that cell (|v|, or the dormant death rate),
not at the continuum rate |v|/Δy, which would kill a single dormant cell in
days instead of years.

The linear compartments (circulating cells C, dormant single cells D) are
advanced with exact exponential integrators for a constant source over a step.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._kernels import (
    P_ACT, P_ARREST_EXTRAV, P_BURDEN_TOTAL, P_CTC_RATE, P_DETECT, P_DORM_DEATH, P_DORMANT, P_DT,
    P_FROM_METS, P_GAMMA, P_LETHAL, P_MU, P_PROLIF, P_REVERT, P_STOP_RELAPSE, P_SURGERY, P_E0,
    effector_step, kill_rate,
)
from .growth import law_rate

# record columns (same meaning as the stochastic engine's, as expectations)
(M_T, M_PRIMARY, M_CTC, M_DORMANT_CELLS, M_COL_PROLIF, M_COL_DORMANT, M_MET_CELLS, M_E,
 M_SHED, M_ARRIVED, M_DIED, M_STARTED, M_DETECTABLE, M_LARGEST, M_EXTINCT, M_DETECT_FLUX,
 M_CTC_DIED, M_INJECTED) = range(18)
N_MREC = 18
# outcome entries
(MO_STATUS, MO_END_T, MO_DEATH_T, MO_RELAPSE_T, MO_NREC, MO_SNAP_STEP, MO_OUTFLOW_RIGHT) = range(7)
N_MOUT = 7


@jit
def _exp_integrate(y0, source, rate, dt):
    """y(dt) for dy/dt = source − rate y, and the amount that left (rate·∫y)."""
    if rate * dt < 1e-12:
        y1 = y0 + source * dt
        return y1, 0.0
    e = math.exp(-rate * dt)
    y1 = y0 * e + source / rate * (1.0 - e)
    left = y0 + source * dt - y1
    return y1, left


@jit
def _tally(n_p, n_q, x_c, j_det):
    """Colony counts (proliferating, dormant), cells, detectable colonies, and the size above
    which one colony is expected."""
    sp = 0.0
    sq = 0.0
    mass = 0.0
    det = 0.0
    for j in range(n_p.shape[0]):
        sp += n_p[j]
        sq += n_q[j]
        mass += (n_p[j] + n_q[j]) * x_c[j]
        if j >= j_det:
            det += n_p[j] + n_q[j]
    acc = 0.0
    largest = 0.0
    for j in range(n_p.shape[0] - 1, -1, -1):
        acc += n_p[j] + n_q[j]
        if acc >= 1.0:
            largest = x_c[j]
            break
    return sp, sq, mass, det, largest


@jit
def _write_record(rec, i, t, primary, c, d, sp, sq, mass, e, shed, arrived, died, started, det, largest,
                  extinct, detect_flux, ctc_died, injected_total):
    if i >= rec.shape[0]:
        grown = np.full((rec.shape[0] * 2, N_MREC), np.nan)
        grown[:i] = rec[:i]
        rec = grown
    rec[i, M_T] = t
    rec[i, M_PRIMARY] = primary
    rec[i, M_CTC] = c
    rec[i, M_DORMANT_CELLS] = d
    rec[i, M_COL_PROLIF] = sp
    rec[i, M_COL_DORMANT] = sq
    rec[i, M_MET_CELLS] = mass
    rec[i, M_E] = e
    rec[i, M_SHED] = shed
    rec[i, M_ARRIVED] = arrived
    rec[i, M_DIED] = died
    rec[i, M_STARTED] = started
    rec[i, M_DETECTABLE] = det
    rec[i, M_LARGEST] = largest
    rec[i, M_EXTINCT] = extinct
    rec[i, M_DETECT_FLUX] = detect_flux
    rec[i, M_CTC_DIED] = ctc_died
    rec[i, M_INJECTED] = injected_total
    return rec


@jit
def run_meanfield(t, shed_primary, injected, suppression, fkill_arr, finv_arr, cyto_arr, fact_arr, primary,
                  par, law, n_cells, y_max, record_stride, cfl):
    """Advance the expected state over the grid ``t``.

    ``law`` is the colony growth law's ``kernel_params()`` (the kernel is compiled once per law).
    ``cyto_arr``, ``fact_arr``: adjuvant therapy's growth inhibition (extra per-cell loss
    c·g(x)) and factor on awakening, per step (body/adjuvant.py).
    Returns (rec, n_p_surgery, n_q_surgery, n_p_end, n_q_end, out).
    """
    K = t.shape[0] - 1
    dt = par[P_DT]
    dy = y_max / n_cells
    y_c = (np.arange(n_cells) + 0.5) * dy
    x_c = np.exp(y_c)
    y_f = np.arange(n_cells + 1) * dy  # faces
    x_f = np.exp(y_f)
    xg = x_c ** par[P_GAMMA]
    j_det = min(int(round(math.log(par[P_DETECT]) / dy)), n_cells)  # face nearest the detection size
    n_p = np.zeros(n_cells)
    n_q = np.zeros(n_cells)
    snap_p = np.zeros(n_cells)
    snap_q = np.zeros(n_cells)
    flux = np.zeros(n_cells + 1)
    v_f = np.zeros(n_cells + 1)
    n_rec = K // record_stride + 2
    rec = np.full((n_rec, N_MREC), np.nan)
    out = np.zeros(N_MOUT)
    out[MO_DEATH_T] = np.nan
    out[MO_RELAPSE_T] = np.nan
    out[MO_SNAP_STEP] = -1.0
    c = 0.0
    d = 0.0
    e = par[P_E0]
    shed = 0.0
    arrived = 0.0
    died = 0.0
    ctc_died = 0.0
    injected_total = 0.0
    started = 0.0
    extinct = 0.0
    detect_flux = 0.0  # expected colonies crossing the detection size after surgery
    outflow_right = 0.0
    kc = par[P_CTC_RATE]
    surgery = par[P_SURGERY]
    status = 0
    k_end = K
    irec = 0
    for k in range(K + 1):
        # ---- record state at t[k]
        if k % record_stride == 0 or k == K:
            sp, sq, mass, det, largest = _tally(n_p, n_q, x_c, j_det)
            rec = _write_record(rec, irec, t[k], primary[k], c, d, sp, sq, mass, e, shed, arrived, died,
                                started, det, largest, extinct, detect_flux, ctc_died, injected_total)
            irec += 1
        if k == K:
            break
        h = suppression[k]
        fkill = fkill_arr[k]
        cyto = cyto_arr[k]
        # ---- circulation over the step (constant source)
        met_xg = 0.0
        if par[P_FROM_METS] > 0.0:
            for j in range(n_cells):
                met_xg += (n_p[j] + n_q[j]) * xg[j]
        src = shed_primary[k] / dt + par[P_MU] * finv_arr[k] * met_xg
        shed += src * dt
        c += injected[k]
        injected_total += injected[k]
        c, left = _exp_integrate(c, src, kc, dt)
        a_in = left * par[P_ARREST_EXTRAV]
        died += left - a_in
        ctc_died += left - a_in
        arrived += a_in
        p_pro = par[P_PROLIF] * (1.0 - h)
        p_dor = par[P_DORMANT] + par[P_PROLIF] * h
        direct = a_in * p_pro
        died += a_in * (1.0 - p_pro - p_dor)
        # ---- dormant single cells
        act = par[P_ACT] * (1.0 - h) * fact_arr[k]
        lam = act + par[P_DORM_DEATH]
        d, left_d = _exp_integrate(d, a_in * p_dor / dt, lam, dt)
        woke = left_d * act / lam if lam > 0.0 else 0.0
        died += left_d - woke
        new_colonies = direct + woke
        started += new_colonies
        # ---- transport of colony densities, CFL sub-steps
        vmax = 1e-300
        for f in range(n_cells + 1):
            xf = x_f[f]
            g = law_rate(law, xf)
            v_f[f] = g - kill_rate(par, xf, e) * fkill - cyto * max(g, 0.0)
            if abs(v_f[f]) > vmax:
                vmax = abs(v_f[f])
        vq = par[P_DORM_DEATH]
        if vq > vmax:
            vmax = vq
        n_sub = max(1, int(math.ceil(dt * vmax / (cfl * dy))))
        h_sub = dt / n_sub
        p_sw = 1.0 - math.exp(-par[P_REVERT] * h * h_sub)
        p_wk = 1.0 - math.exp(-act * h_sub)
        inflow = new_colonies / n_sub
        for _ in range(n_sub):
            n_p[0] += inflow
            # upwind face fluxes (colonies per day) for P
            for f in range(n_cells + 1):
                v = v_f[f]
                if f == 0:
                    # colonies of about one cell: shrinking means losing that cell, a per-colony
                    # hazard |v| (as for a single cell), not the continuum outflow |v| n / dy
                    flux[f] = v * n_p[0] if v < 0.0 else 0.0
                elif f == n_cells:
                    flux[f] = v * n_p[n_cells - 1] / dy if v > 0.0 else 0.0
                else:
                    flux[f] = v * (n_p[f - 1] if v > 0.0 else n_p[f]) / dy
            extinct -= flux[0] * h_sub
            outflow_right += flux[n_cells] * h_sub
            if t[k] >= surgery and flux[j_det] > 0.0:
                detect_flux += flux[j_det] * h_sub
            for j in range(n_cells):
                n_p[j] += h_sub * (flux[j] - flux[j + 1])
            # dormant colonies shrink at the dormant death rate (velocity −vq in y)
            if vq > 0.0:
                # a dormant colony of about one cell dies when that cell dies (hazard vq)
                out0 = vq * n_q[0] * h_sub
                extinct += out0
                n_q[0] += h_sub * (vq * n_q[1] / dy - vq * n_q[0])
                for j in range(1, n_cells - 1):
                    n_q[j] += h_sub * vq * (n_q[j + 1] - n_q[j]) / dy
                n_q[n_cells - 1] -= h_sub * vq * n_q[n_cells - 1] / dy
            # switching between proliferating and dormant colonies
            for j in range(n_cells):
                to_q = n_p[j] * p_sw
                to_p = n_q[j] * p_wk
                n_p[j] += to_p - to_q
                n_q[j] += to_q - to_p
        # ---- effectors
        mass = 0.0
        for j in range(n_cells):
            mass += (n_p[j] + n_q[j]) * x_c[j]
        burden = mass + (primary[k + 1] if par[P_BURDEN_TOTAL] > 0.0 else 0.0)
        e = effector_step(par, e, burden, dt)
        if out[MO_SNAP_STEP] < 0.0 and t[k + 1] >= surgery:
            out[MO_SNAP_STEP] = k + 1
            snap_p[:] = n_p
            snap_q[:] = n_q
        # ---- outcomes: relapse when one detectable colony is expected after surgery
        if np.isnan(out[MO_RELAPSE_T]) and detect_flux >= 1.0:
            out[MO_RELAPSE_T] = t[k + 1]
        if primary[k + 1] + mass >= par[P_LETHAL]:
            status = 1
            out[MO_DEATH_T] = t[k + 1]
            k_end = k + 1
        elif par[P_STOP_RELAPSE] > 0.0 and not np.isnan(out[MO_RELAPSE_T]):
            status = 2
            k_end = k + 1
        if k_end == k + 1:
            # final record at the stopping time
            sp, sq, mass, det, largest = _tally(n_p, n_q, x_c, j_det)
            rec = _write_record(rec, irec, t[k + 1], primary[k + 1], c, d, sp, sq, mass, e, shed, arrived, died,
                                started, det, largest, extinct, detect_flux, ctc_died, injected_total)
            irec += 1
            break
    out[MO_STATUS] = status
    out[MO_END_T] = t[k_end]
    out[MO_NREC] = irec
    out[MO_OUTFLOW_RIGHT] = outflow_right
    return rec[:irec], snap_p, snap_q, n_p, n_q, out
