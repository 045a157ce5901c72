"""Numba kernel of the relapse-time engine: the expected colony population, solved forward.

Disseminated cells arrive as a Poisson process and, given the deterministic systemic
signals (IL-1β suppression h(t), drug factors, effectors on their expected trajectory),
every cell's descendants evolve independently. The number of colonies that first reach
the detection size in a time window is then Poisson, with mean the integral over the
window of the *expected* detection flux. That expectation solves a linear equation: the
forward (master) equation of one colony's size and state, fed by the expected rate of
colony starts. This kernel integrates it once, from t = 0 to the end, and returns the
cumulative expected first detections Λ(t); P(relapse-free at t) = exp(−(Λ(t) − Λ(t_s))).

State, per channel (channel 0: Poisson-shed cells; channel 1, only with an injection:
the descendants of *one* injected cell, so that a bolus of n cells gives (1 − π)^n):

* scalars: expected circulating cells C and dormant single cells D;
* proliferating (p) and dormant (q) colonies on a size lattice up to its top (the
  stochastic threshold X_T by default): the integers 1 … n_int, then a ladder
  (:func:`ladder`). Jumps between neighbouring nodes match the birth–death process's
  drift (b − d)x and variance (b + d)x (on the integers they *are* its rates; where the
  ladder is too coarse for the variance, they keep the drift, upwind). Extinction (below
  1 cell) and the exit at the top (or at the detection size when it is smaller) are
  absorbing counters;
* colonies above the top on log-size nodes aligned with the reference colony's trajectory
  (:func:`timed_nodes`): at reference conditions each node moves exactly one node per
  macro step (no numerical diffusion), and the reference colony crosses the detection
  size half a step after the last node (no timing bias); other conditions (effectors,
  drugs, short steps) move mass by a fraction of a node, split linearly. Below X_T (a top
  set lower) a move also spreads the mass with the birth–death variance (:func:`_spread`).
  Reaching the last node is the absorbing detection counter.

Time: macro steps (several of the scenario's steps ``dt``); within one, the compartments
C and D are advanced on every fine step exactly as the stochastic engine's expectations,
the colonies by Strang splitting: half a step of the exact two-state switch
(proliferating → dormant at q_rev·h, dormant → proliferating at a(1 − h)), a TR-BDF2 step
(L-stable, second order, exactly conservative) of the birth–death transport of p with the
colony starts as a source at one cell, an explicit Heun step of the dormant pure death
(TR-BDF2 when it is fast for the step), the move of the aligned nodes, and the other half
switch.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._kernels import (
    P_ACT, P_ARREST_EXTRAV, P_BURDEN_TOTAL, P_CTC_RATE, P_DIVISION, P_DORM_DEATH, P_DORMANT, P_DT,
    P_E0, P_FROM_METS, P_GAMMA, P_MU, P_PROLIF, P_REVERT, effector_step, kill_rate,
)
from .growth import law_rate, law_solution

# ---- macro-step record columns: the colonies (expectations; channel 1 counted per injected cell ×
# cells injected, except A_DETECTED_INJ: per injected cell)
(A_T, A_COL_PROLIF, A_COL_DORMANT, A_MET_CELLS, A_E, A_STARTED, A_EXTINCT, A_DETECTED, A_DETECTED_INJ,
 A_LARGEST) = range(10)
N_AREC = 10
# ---- per scenario step (the linear compartments, exact on the fine grid)
(F_SHED, F_ARRIVED, F_DIED, F_CTC_DIED, F_CTC, F_DORMANT_CELLS, F_INJECTED) = range(7)
N_FREC = 7

# TR-BDF2 constants
_G = 2.0 - math.sqrt(2.0)
_W = 0.5 * _G  # = (1 − γ)/(2 − γ) for γ = 2 − √2: both stages share one matrix
_A1 = 1.0 / (_G * (2.0 - _G))
_A0 = (1.0 - _G) ** 2 / (_G * (2.0 - _G))


@jit
def spacing(x, exit_size):
    """Per node: (gap below, gap above, 1/(above·(above+below)), 1/(below·(above+below)))."""
    n = x.shape[0]
    out = np.empty((4, n))
    for i in range(n):
        lo = x[i] - (x[i - 1] if i > 0 else 0.0)
        hi = (x[i + 1] if i < n - 1 else exit_size) - x[i]
        out[0, i] = lo
        out[1, i] = hi
        out[2, i] = 1.0 / (hi * (hi + lo))
        out[3, i] = 1.0 / (lo * (hi + lo))
    return out


@jit
def rates_from_spacing(gaps, mu, var, up, down):
    """Jump rates between neighbouring lattice nodes (spacing from :func:`spacing`; below node 0 is
    extinction, above the last the exit) that match the drift ``mu`` and variance ``var`` (per
    colony, cells/day and cells²/day) at each node; where the spacing is too coarse for the
    variance (a negative rate), the drift alone, upwind. Fills ``up`` and ``down``."""
    for i in range(mu.shape[0]):
        u = (var[i] + mu[i] * gaps[0, i]) * gaps[2, i]
        d = (var[i] - mu[i] * gaps[1, i]) * gaps[3, i]
        if d < 0.0:
            d = 0.0
            u = mu[i] / gaps[1, i]
        elif u < 0.0:
            u = 0.0
            d = -mu[i] / gaps[0, i]
        up[i] = u
        down[i] = d


@jit
def factor(up, down, h, fac):
    """Thomas factors (lower, cp, 1/pivot in fac[0..2]) of I − c·A, c = γh/2, for the birth–death
    generator A of (up, down). With γ = 2 − √2 both TR-BDF2 stages have this matrix
    ((1 − γ)/(2 − γ) = γ/2), so one factorization serves the step."""
    n = up.shape[0]
    c = 0.5 * _G * h
    lo = fac[0]
    cp = fac[1]
    inv = fac[2]
    for i in range(n):
        d = 1.0 + c * (up[i] + down[i])
        lo[i] = -c * up[i - 1] if i > 0 else 0.0
        m = d - lo[i] * cp[i - 1] if i > 0 else d
        inv[i] = 1.0 / m
        cp[i] = (-c * down[i + 1] if i < n - 1 else 0.0) * inv[i]


@jit
def _solve(fac, rhs, out):
    lo = fac[0]
    cp = fac[1]
    inv = fac[2]
    n = rhs.shape[0]
    out[0] = rhs[0] * inv[0]
    for i in range(1, n):
        out[i] = (rhs[i] - lo[i] * out[i - 1]) * inv[i]
    for i in range(n - 2, -1, -1):
        out[i] -= cp[i] * out[i + 1]


@jit
def _apply(up, down, u, c, out):
    """out = u + c · A u for the birth–death generator A of (up, down) (absorbing ends dropped)."""
    n = u.shape[0]
    for i in range(n):
        v = -(up[i] + down[i]) * u[i]
        if i > 0:
            v += up[i - 1] * u[i - 1]
        if i < n - 1:
            v += down[i + 1] * u[i + 1]
        out[i] = u[i] + c * v


@jit
def trbdf2(up, down, fac, u, source, h, rhs, ustar):
    """One TR-BDF2 step of du/dt = A u + source·e0 over ``h``, in place, with the factors
    ``fac`` of :func:`factor` for (up, down, h); returns the amounts absorbed below node 0
    (extinction) and above the last node (exit) during the step."""
    n = u.shape[0]
    c1 = 0.5 * _G * h
    _apply(up, down, u, c1, rhs)
    rhs[0] += _G * h * source
    _solve(fac, rhs, ustar)
    ext_star = c1 * down[0] * (u[0] + ustar[0])
    top_star = c1 * up[n - 1] * (u[n - 1] + ustar[n - 1])
    c2 = _W * h
    for i in range(n):
        rhs[i] = _A1 * ustar[i] - _A0 * u[i]
    rhs[0] += c2 * source
    _solve(fac, rhs, u)
    ext = _A1 * ext_star + c2 * down[0] * u[0]
    top = _A1 * top_star + c2 * up[n - 1] * u[n - 1]
    return ext, top


@jit
def heun(up, down, u, h, a, b):
    """One explicit Heun (second-order) step of du/dt = A u over ``h``, in place, for a generator
    slow enough that h·(up + down) stays well below 1 (the dormant colonies' pure death);
    returns the amounts absorbed below node 0 and above the last node."""
    n = u.shape[0]
    _apply(up, down, u, h, a)  # a = u + h A u
    _apply(up, down, a, h, b)  # b = a + h A a
    ext = 0.5 * h * down[0] * (u[0] + a[0])
    top = 0.5 * h * up[n - 1] * (u[n - 1] + a[n - 1])
    for i in range(n):
        u[i] = 0.5 * (u[i] + b[i])
    return ext, top


@jit
def _switch(p, q, to_dormant, to_prolif, tau):
    """Exact two-state switch over ``tau`` at every node (rates do not depend on size)."""
    r = to_dormant + to_prolif
    if r * tau <= 0.0:
        return
    f = -math.expm1(-r * tau) / r
    for i in range(p.shape[0]):
        flow = (to_dormant * p[i] - to_prolif * q[i]) * f
        p[i] -= flow
        q[i] += flow


@jit
def loss_rate(par, law, x, e, fkill, cyto):
    """Per-cell loss of a proliferating colony of ``x`` cells beyond its growth law: immune kill
    and the growth inhibition of adjuvant therapy (cyto·g(x), Norton–Simon)."""
    k = kill_rate(par, x, e) * fkill
    if cyto > 0.0:
        k += cyto * max(law_rate(law, x), 0.0)
    return k


@jit
def deterministic_move(par, law, x, e, fkill, cyto, h):
    """Size after ``h`` days of a colony of ``x`` cells in the deterministic regime: the growth
    law's closed form with the losses (:func:`loss_rate`) split half before, half after (Strang)."""
    k1 = loss_rate(par, law, x, e, fkill, cyto)
    x1 = x * math.exp(-0.5 * k1 * h)
    x2 = law_solution(law, x1, h)
    if x2 <= 0.0:
        return 0.0  # killed outright (the losses underflowed the size): a law's rate may be singular at 0
    k2 = loss_rate(par, law, x2, e, fkill, cyto)
    return x2 * math.exp(-0.5 * k2 * h)


@jit
def ladder(par, law, e_ref, exit_size, integers, ratio):
    """Stochastic-regime lattice nodes: 1, 2, …, ``integers``, then a ladder growing by ``ratio``
    but never by more than 0.9 (b + d)/|b − d| cells at reference conditions ((b + d)/|b − d| is
    the largest spacing at which the jumps can still match the birth–death variance) unless that
    is below a quarter of the ratio's step, all below ``exit_size``."""
    top = math.ceil(exit_size) - 1.0 if exit_size == math.floor(exit_size) else math.floor(exit_size)
    n_int = max(1, min(integers, int(top)))
    out = np.empty(n_int + 4096)
    n = 0
    for i in range(1, n_int + 1):
        out[n] = float(i)
        n += 1
    x = out[n - 1]
    while True:
        gap = x * (ratio - 1.0)
        g = law_rate(law, x)
        kill = kill_rate(par, x, e_ref)
        net = abs(g - kill)
        if net > 0.0:
            # 0.9: strictly feasible at reference conditions, so that no jump rate sits at its
            # kink (zero) there and the solution stays smooth in the parameters; but never below
            # a quarter of the ratio's gap: fast-growing colonies (drift far above noise) would
            # otherwise need every integer up to the top, and their noise matters little
            gap = max(min(gap, 0.9 * (2.0 * max(par[P_DIVISION], g) - g + kill) / net), 0.25 * gap)
        gap = max(gap, 1.0)
        nxt = x + gap
        if exit_size - nxt < 0.5 * gap:
            break
        if n >= out.shape[0]:
            grown = np.empty(2 * out.shape[0])
            grown[:n] = out[:n]
            out = grown
        out[n] = nxt
        n += 1
        x = nxt
    return out[:n].copy()


@jit
def _spread(arr, y, pos, var, mass, start):
    """Add ``mass`` centred at ``pos`` with variance ``var`` (log-size units) to the nodes ``y``
    (ascending; ``arr`` holds all but the last, which is absorbing). The mass goes to the two
    nodes around ``pos`` (linear split, which itself has variance θ(1 − θ)h²) and, for the
    variance still missing, partly to the next pair out (split so that the mean stays ``pos``):
    mean exact, variance exact unless it exceeds what the outer pair can give (then capped),
    never negative. Returns (below, above): mass under y[0], and mass on the last node."""
    n = y.shape[0]
    if pos < y[0]:
        return mass, 0.0
    if pos >= y[n - 1]:
        return 0.0, mass
    lo = _walk(y, pos, start)
    h = y[lo + 1] - y[lo]
    th = (pos - y[lo]) / h
    v_in = th * (1.0 - th) * h * h
    alpha = 0.0
    if var > v_in:
        lo2 = max(lo - 1, 0)
        hi2 = min(lo + 2, n - 1)
        big = y[hi2] - y[lo2]
        th2 = (pos - y[lo2]) / big
        v_out = th2 * (1.0 - th2) * big * big
        if v_out > v_in:
            alpha = min((var - v_in) / (v_out - v_in), 1.0)
    above = 0.0
    inner = (1.0 - alpha) * mass
    arr[lo] += (1.0 - th) * inner
    if lo + 1 == n - 1:
        above += th * inner
    else:
        arr[lo + 1] += th * inner
    if alpha > 0.0:
        outer = alpha * mass
        arr[lo2] += (1.0 - th2) * outer
        if hi2 == n - 1:
            above += th2 * outer
        else:
            arr[hi2] += th2 * outer
    return 0.0, above


@jit
def timed_nodes(par, law, e_ref, x_a, detect, step, max_nodes, sub):
    """ln sizes of nodes one macro ``step`` apart along the reference colony's trajectory (tumour-free
    effectors, no drug), placed so that the colony crosses the detection size exactly half a step
    after the last node: a colony detected in a step is then detected, on average, at its middle
    (where the piecewise-linear cumulative hazard puts it). The trajectory is followed from ``x_a``
    (the lattice's top) in ``sub`` sub-steps per step and interpolated linearly in time. The first
    node is at most one step before ``x_a`` (extrapolated); the returned ``(nodes, entry)`` hold
    the node log-sizes, ending with the virtual detection node half a step past detection, and
    the mean node index at which a colony leaving the lattice uniformly during a step ends it.
    Empty nodes when the colony stalls or needs more than ``max_nodes`` steps."""
    h = step / sub
    cap = (max_nodes + 2) * sub + 2
    ys = np.empty(cap)
    ys[0] = math.log(x_a)
    x = x_a
    n = 1
    crossed = -1
    while True:
        if n >= cap:
            return np.empty(0), 0.0
        nxt = deterministic_move(par, law, x, e_ref, 1.0, 0.0, h)
        if not nxt > x * (1.0 + 1e-12):
            return np.empty(0), 0.0
        x = nxt
        ys[n] = math.log(x)
        n += 1
        if crossed < 0 and x >= detect:
            crossed = n - 1
        # half a step past detection, plus one sub-step of margin for the interpolation
        if crossed >= 0 and n - 1 >= crossed + sub // 2 + 1:
            break
    yd = math.log(detect)
    i = crossed
    tau_d = (i - 1 + (yd - ys[i - 1]) / (ys[i] - ys[i - 1])) * h if i > 0 else 0.0
    v0 = (ys[1] - ys[0]) / h
    last = tau_d - 0.5 * step  # time of the last real node (may be negative: detection near x_a)
    m = int(math.floor(last / step)) + 1  # nodes at or after time 0 ... plus the one before
    first = last - m * step  # in [-step, 0)
    count = m + 2  # real nodes first ... last, then the virtual detection node
    nodes = np.empty(count)
    for j in range(count):
        tau = first + j * step
        if tau < 0.0:
            nodes[j] = ys[0] + v0 * tau
        else:
            k = min(int(tau / h), n - 2)
            f = tau / h - k
            nodes[j] = ys[k] + f * (ys[k + 1] - ys[k])
    entry = 0.5 - first / step
    return nodes, entry


@jit
def _walk(y, pos, start):
    """Index lo with y[lo] <= pos < y[lo + 1], searching from ``start`` (y[0] <= pos < y[-1])."""
    lo = min(max(start, 0), y.shape[0] - 2)
    while lo > 0 and y[lo] > pos:
        lo -= 1
    while lo < y.shape[0] - 2 and y[lo + 1] <= pos:
        lo += 1
    return lo


@jit
def index_of(y, pos):
    """Fractional index of ``pos`` on the ascending nodes ``y`` (linear between nodes, clamped)."""
    n = y.shape[0]
    if pos <= y[0]:
        return 0.0
    if pos >= y[n - 1]:
        return n - 1.0
    lo = np.searchsorted(y, pos, side="right") - 1
    return lo + (pos - y[lo]) / (y[lo + 1] - y[lo])


@jit
def _value_at(y, idx):
    """``y`` at the fractional index ``idx`` (linear between nodes, clamped)."""
    n = y.shape[0]
    if idx >= n - 1:
        return y[n - 1]
    lo = int(idx)
    th = idx - lo
    return (1.0 - th) * y[lo] + th * y[lo + 1]


@jit
def _deposit(arr, idx, mass, det):
    """Add ``mass`` at the fractional node index ``idx`` (linear split) to ``arr``, whose nodes are
    those below the detection index ``det``; returns the share at or past ``det`` (detected)."""
    if idx >= det:
        return mass
    lo = int(idx)
    th = idx - lo
    arr[lo] += (1.0 - th) * mass
    if lo + 1 < det and lo + 1 < arr.shape[0]:
        arr[lo + 1] += th * mass
        return 0.0
    return th * mass


@jit
def _keep(dist, s, p, q, n_channels):
    """Copy the colony distribution (p, q) of every channel into snapshot ``s`` of ``dist``."""
    for c in range(n_channels):
        for i in range(p.shape[1]):
            dist[s, c, i, 0] = p[c, i]
            dist[s, c, i, 1] = q[c, i]


@jit
def _place(arr, xs, xd, nd, x, mass):
    """Add ``mass`` at size ``x`` to the nodes (xs, then xd[:nd]), split linearly between the two
    nodes around it (the mean size is kept); below node 0 (1 cell) the split is with extinction
    (size 0). Returns the mass sent to extinction."""
    ns = xs.shape[0]
    if x < xs[0]:
        arr[0] += mass * x / xs[0]
        return mass * (1.0 - x / xs[0])
    nn = ns + nd
    lo = 0
    hi = nn - 1
    top = xs[ns - 1] if nd == 0 else xd[nd - 1]
    if x >= top:
        arr[nn - 1] += mass  # (thinning never moves mass up: only reached at x == top)
        return 0.0
    while hi - lo > 1:  # bisection on the ascending node sizes
        mid = (lo + hi) // 2
        xm = xs[mid] if mid < ns else xd[mid - ns]
        if xm <= x:
            lo = mid
        else:
            hi = mid
    a = xs[lo] if lo < ns else xd[lo - ns]
    b = xs[hi] if hi < ns else xd[hi - ns]
    th = (x - a) / (b - a)
    arr[lo] += (1.0 - th) * mass
    arr[hi] += th * mass
    return 0.0


@jit
def thin(u, xs, xd, nd, surv):
    """Binomial thinning of the colonies ``u`` (expected number per node: the lattice xs, then the
    nodes xd[:nd] above it) when each cell survives with probability ``surv``, in place; returns
    the expected colonies that lose every cell. On the integer nodes the binomial law is exact (each
    k placed on its node, or split between the neighbours above the integers); where the binomial
    spread is below a tenth of a cell or the size is above the lattice, the colony moves to x·surv
    (split linearly between the nodes around it). The expected number of cells is multiplied by
    ``surv`` exactly."""
    ns = xs.shape[0]
    nn = ns + nd
    buf = np.zeros(nn)
    gone = 0.0
    for i in range(nn):
        m = u[i]
        if m == 0.0:
            continue
        x = xs[i] if i < ns else xd[i - ns]
        n = int(x + 0.5)
        if i < ns and abs(x - n) < 1e-9 and n <= 4096 and n * surv * (1.0 - surv) > 0.01:
            # exact binomial law over 0 … n (each term from its logarithm: no underflow chain)
            ls = math.log(surv)
            lf = math.log1p(-surv)
            ln = math.lgamma(n + 1.0)
            gone += m * math.exp(n * lf)
            for k in range(1, n + 1):
                lp = ln - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) + k * ls + (n - k) * lf
                if lp > -745.0:
                    gone += _place(buf, xs, xd, nd, float(k), m * math.exp(lp))
        else:
            gone += _place(buf, xs, xd, nd, x * surv, m)
    for i in range(nn):
        u[i] = buf[i]
    return gone


@jit
def run_relapse(t, bounds, shed_primary, injected, suppression, fkill_arr, finv_arr, cyto_arr, fact_arr, switch_arr,
                primary, par, law, vy, vg, v_entry, v_det, v_step,
                xs, exit_size, yd, aligned, entry, n_noisy, step_ref, e_ref, k_surgery, n_channels, e_tol,
                colony_src, rt_log):
    """Integrate the expected colony population of one patient (module docstring).

    ``cyto_arr`` and ``fact_arr``: adjuvant therapy's growth inhibition and factor on awakening
    per scenario step (body/adjuvant.py; averaged over a macro step, like h and the kill factor).
    Angiogenic switch (``vy`` not empty): the lattice holds the avascular colonies; those at lattice
    node i with ``v_entry[i] >= 0`` switch at ``switch_arr`` (per step, averaged) onto the vascular
    trajectory: nodes ``vy`` (ln V) every ``v_step`` days of the reference colony (Hahnfeldt law,
    no kill, no therapy, body/relapse.py), per-cell growth ``vg`` there; it crosses the detection
    size at the fractional index ``v_det``. A colony switching from node i enters at index
    ``v_entry[i]``, half a macro step on. Each macro step moves a node's mass along the trajectory
    by h/v_step nodes, less its losses (immune kill, therapy) in ln V.
    ``bounds``: macro-step boundaries, indices into the fine grid ``t`` (0 first, K last).
    ``xs``: sizes of the stochastic-regime lattice nodes (x[0] = 1); ``exit_size``: where it
    ends (the stochastic threshold, or the detection size if smaller). ``yd``: log-sizes of
    the deterministic-regime nodes, ``yd[0] = ln X_T``; reaching ``yd[-1]`` is detection
    (empty when the detection size is below the threshold: the lattice's exit is then
    detection); ``aligned``: node j + 1 is where node j's colony is after ``step_ref`` days at
    the reference effector level ``e_ref`` without drug (:func:`timed_nodes`), and a colony that
    leaves the lattice during a step ends it, on average, at node index ``entry``. The first
    ``n_noisy`` of these nodes are
    below the stochastic threshold: there a move also spreads the mass with the birth–death
    variance (b + d)/x per day in log size (and the mean moves by −½ of it, Itô). ``k_surgery``: index of the macro
    boundary at which to take the surgery snapshot (−1: none). Channel 1 (``n_channels`` = 2)
    follows one injected cell. The lattice's rates are refreshed when the effectors have
    moved by more than the fraction ``e_tol`` (or the drug factor or step length changed).

    ``colony_src`` and ``rt_log`` (per scenario step; zeros leave the solution unchanged) serve the
    local channel of residual disease (body/local.py; the engine runs this kernel a second time for
    it, with no shedding): expected colonies of one cell started directly in each step (the
    residual cells at surgery), added to channel 0's source; and ln S of the radiotherapy fractions
    given in each step, applied to every channel's colonies (both states) at the start of the macro
    step that begins with that step (:func:`thin`).

    Returns (rec, dist, fine): rec[i, A_*] at each macro boundary; dist[s, c, node, z] with
    s = 0 at surgery, 1 at the end, z = 0 proliferating / 1 dormant, nodes of xs then yd[:-1];
    fine[k, F_*] the linear compartments at every point of ``t``.
    """
    n_mac = bounds.shape[0] - 1
    ns = xs.shape[0]
    angio = vy.shape[0] > 0
    nv = min(int(math.ceil(v_det)), vy.shape[0]) if angio else 0  # vascular nodes that hold mass
    pv = np.zeros((2, nv))
    newv = np.zeros(nv)
    xv = np.exp(vy)
    nd = max(yd.shape[0] - 1, 0)  # deterministic nodes holding mass (the last is detection)
    n_yd = yd.shape[0]  # nodes with a size (0 without a deterministic regime)
    nn = ns + nd
    dt = par[P_DT]
    kc = par[P_CTC_RATE]
    pa = par[P_ARREST_EXTRAV]
    gamma = par[P_GAMMA]
    dd = par[P_DORM_DEATH]
    e_old = math.exp(-kc * dt)
    stay_new = -math.expm1(-kc * dt) / (kc * dt)  # a cell shed uniformly in a step is still circulating
    rec = np.zeros((n_mac + 1, N_AREC))
    fine = np.zeros((t.shape[0], N_FREC))
    dist = np.zeros((2, 2, nn, 2))
    p = np.zeros((2, nn))
    q = np.zeros((2, nn))
    newp = np.zeros(nd)
    newq = np.zeros(nd)
    ctc = np.zeros(2)
    pool = np.zeros(2)
    src = np.zeros(2)
    up = np.zeros(ns)
    down = np.zeros(ns)
    qup = np.zeros(ns)
    qdown = np.zeros(ns)
    mu = np.zeros(ns)
    var = np.zeros(ns)
    rhs = np.zeros(ns)
    ustar = np.zeros(ns)
    qmax = 0.0
    q_explicit = False
    pfac = np.zeros((3, ns))
    qfac = np.zeros((3, ns))
    g_node = np.zeros(ns)
    b_node = np.zeros(ns)
    for i in range(ns):
        g_node[i] = law_rate(law, xs[i])
        b_node[i] = max(par[P_DIVISION], g_node[i])
    xd = np.exp(yd)
    # deterministic regime at reference conditions: where each node goes in step_ref
    ynext = np.zeros(nd)
    kref = np.zeros(nd + 1)
    kd = np.zeros(nd + 1)
    vd = np.zeros(nd)  # birth–death variance of ln x per day at the noisy nodes
    gd = np.zeros(nd)
    bd = np.zeros(nd)
    g_det = np.zeros(nd + 1)  # growth rate at every deterministic node (adjuvant therapy's kill)
    for j in range(n_yd):
        g_det[j] = max(law_rate(law, xd[j]), 0.0)
    for j in range(min(n_noisy, nd)):
        gd[j] = law_rate(law, xd[j])
        bd[j] = max(par[P_DIVISION], gd[j])
    for j in range(nd):
        x1 = deterministic_move(par, law, xd[j], e_ref, 1.0, 0.0, step_ref)
        ynext[j] = (math.log(x1) if x1 > 0.0 else -math.inf) if not aligned else yd[j + 1]
    for j in range(n_yd):
        kref[j] = kill_rate(par, xd[j], e_ref)
    gaps = spacing(xs, exit_size)
    # dormant colonies: pure death, the same at every step
    for i in range(ns):
        mu[i] = -dd * xs[i]
        var[i] = dd * xs[i]
    rates_from_spacing(gaps, mu, var, qup, qdown)
    for i in range(ns):
        qmax = max(qmax, qup[i] + qdown[i])
    q_h = -1.0
    p_h = -1.0
    p_e = -1.0
    p_f = -1.0
    p_c = -1.0
    e = par[P_E0]
    shed = 0.0
    arrived = 0.0
    died = 0.0
    ctc_died = 0.0
    inj_total = 0.0
    started = np.zeros(2)
    extinct = np.zeros(2)
    detected = np.zeros(2)
    occult = 0.0  # expected cells in undetected colonies (all channels, injected scaled)
    small = 0.0  # the same, in colonies below the stochastic threshold: what drives the effectors
    sum_xg = 0.0
    n_inj = 0.0
    rec[0, A_T] = t[0]
    rec[0, A_E] = e
    for im in range(n_mac):
        k0 = bounds[im]
        k1 = bounds[im + 1]
        hmac = t[k1] - t[k0]
        src[0] = 0.0
        src[1] = 0.0
        h_mean = 0.0
        fk_mean = 0.0
        e_mean = 0.0
        cy_mean = 0.0
        sw_mean = 0.0
        act_sum = 0.0  # sum of (1 − h)·f_a: the colonies' mean awakening when f_a is not 1
        fa_one = True
        # ---- radiotherapy (local channel): binomial thinning by the fractions of this macro step
        ls = 0.0
        for k in range(k0, k1):
            ls += rt_log[k]
        if ls < 0.0:
            for c in range(n_channels):
                extinct[c] += thin(p[c], xs, xd, nd, math.exp(ls))
                extinct[c] += thin(q[c], xs, xd, nd, math.exp(ls))
        for k in range(k0, k1):
            h = suppression[k]
            h_mean += h
            fk_mean += fkill_arr[k]
            cy_mean += cyto_arr[k]
            sw_mean += switch_arr[k]
            act_sum += (1.0 - h) * fact_arr[k]
            if fact_arr[k] != 1.0:
                fa_one = False
            # shedding: the primary (precomputed), metastases from the expected occult burden
            s0 = shed_primary[k]
            if par[P_FROM_METS] > 0.0 and sum_xg > 0.0:
                s0 += par[P_MU] * finv_arr[k] * sum_xg * dt
            shed += s0
            if injected[k] > 0.0 and n_channels > 1:
                n_inj += injected[k]
                inj_total += injected[k]
                ctc[1] += 1.0  # channel 1 is one injected cell
            p_pro = par[P_PROLIF] * (1.0 - h)
            q_dor = min((par[P_DORMANT] + par[P_PROLIF] * h) / (1.0 - p_pro), 1.0) if p_pro < 1.0 else 0.0
            act = par[P_ACT] * (1.0 - h) * fact_arr[k]
            out_rate = act + dd
            p_out = -math.expm1(-out_rate * dt)
            for c in range(n_channels):
                fresh = s0 if c == 0 else 0.0
                left = ctc[c] * (1.0 - e_old) + fresh * (1.0 - stay_new)
                ctc[c] = ctc[c] * e_old + fresh * stay_new
                a = pa * left
                w = 1.0 if c == 0 else n_inj
                ctc_died += w * (left - a)
                died += w * (left - a)
                arrived += w * a
                n_pro = a * p_pro
                n_dor = (a - n_pro) * q_dor
                died += w * (a - n_pro - n_dor)
                pool[c] += n_dor
                woke = 0.0
                if out_rate > 0.0 and pool[c] > 0.0:
                    n_out = pool[c] * p_out
                    woke = n_out * act / out_rate
                    pool[c] -= n_out
                    died += w * (n_out - woke)
                src[c] += n_pro + woke
            src[0] += colony_src[k]  # residual disease: colonies started directly (0 otherwise)
            f = fine[k + 1]
            f[F_SHED] = shed
            f[F_ARRIVED] = arrived
            f[F_DIED] = died
            f[F_CTC_DIED] = ctc_died
            f[F_CTC] = ctc[0] + (n_inj * ctc[1] if n_channels > 1 else 0.0)
            f[F_DORMANT_CELLS] = pool[0] + (n_inj * pool[1] if n_channels > 1 else 0.0)
            f[F_INJECTED] = inj_total
            burden = small + (primary[k + 1] if par[P_BURDEN_TOTAL] > 0.0 else 0.0)
            e_next = effector_step(par, e, burden, dt)
            e_mean += 0.5 * (e + e_next)
            e = e_next
        nk = k1 - k0
        h_mean /= nk
        fk_mean /= nk
        e_mean /= nk
        cy_mean /= nk
        sw_mean /= nk
        # ---- colony lattice rates (refreshed only when the conditions moved)
        if hmac != p_h or fk_mean != p_f or cy_mean != p_c or abs(e_mean - p_e) > e_tol * p_e:
            for i in range(ns):
                x = xs[i]
                kill = kill_rate(par, x, e_mean) * fk_mean + cy_mean * max(g_node[i], 0.0)
                mu[i] = (g_node[i] - kill) * x
                var[i] = (2.0 * b_node[i] - g_node[i] + kill) * x
            rates_from_spacing(gaps, mu, var, up, down)
            factor(up, down, hmac, pfac)
            for j in range(n_yd):
                kd[j] = kill_rate(par, xd[j], e_mean) * fk_mean + cy_mean * g_det[j]
            for j in range(min(n_noisy, nd)):
                vd[j] = (2.0 * bd[j] - gd[j] + kd[j]) / xd[j]
            p_h = hmac
            p_f = fk_mean
            p_c = cy_mean
            p_e = e_mean
        if hmac != q_h:
            # the dormant colonies' slow pure death: explicit when the step resolves it
            q_explicit = hmac * qmax <= 0.25
            if not q_explicit:
                factor(qup, qdown, hmac, qfac)
            q_h = hmac
        # ---- colony lattice, Strang split
        to_dorm = par[P_REVERT] * h_mean
        to_prol = par[P_ACT] * (1.0 - h_mean) if fa_one else par[P_ACT] * act_sum / nk
        exact_ref = hmac == step_ref
        for c in range(n_channels):
            pc = p[c]
            qc = q[c]
            _switch(pc, qc, to_dorm, to_prol, 0.5 * hmac)
            ps = pc[:ns]
            qs = qc[:ns]
            ext_p, top = trbdf2(up, down, pfac, ps, src[c] / hmac, hmac, rhs, ustar)
            if q_explicit:
                ext_q, _unused = heun(qup, qdown, qs, hmac, rhs, ustar)
            else:
                ext_q, _unused = trbdf2(qup, qdown, qfac, qs, 0.0, hmac, rhs, ustar)
            extinct[c] += ext_p + ext_q
            started[c] += src[c]
            if angio:
                # vascular colonies: move along the trajectory, less their losses in ln V
                for j in range(nv):
                    newv[j] = 0.0
                for j in range(nv):
                    m = pv[c, j]
                    if m == 0.0:
                        continue
                    idx = j + hmac / v_step
                    loss = kill_rate(par, xv[j], e_mean) * fk_mean + cy_mean * max(vg[j], 0.0)
                    if loss != 0.0:
                        pos = _value_at(vy, idx) - loss * hmac
                        if pos < vy[0]:
                            # shrunk below the switch size: back on the lattice, at the node below
                            i_back = max(np.searchsorted(xs, math.exp(pos), side="right") - 1, 0)
                            pc[i_back] += m
                            continue
                        idx = index_of(vy, pos)
                    detected[c] += _deposit(newv, idx, m, v_det)
                # the switch: proliferating avascular colonies large enough, uniformly over the step
                f_sw = -math.expm1(-sw_mean * hmac)
                half = 0.5 * hmac / v_step
                for i in range(ns):
                    if v_entry[i] >= 0.0 and f_sw > 0.0:
                        m = pc[i] * f_sw
                        pc[i] -= m
                        detected[c] += _deposit(newv, v_entry[i] + half, m, v_det)
                # (the lattice's top, twice the plateau, is unreachable in practice: switched)
                detected[c] += _deposit(newv, v_entry[ns - 1] + half, top, v_det)
                for j in range(nv):
                    pv[c, j] = newv[j]
            elif nd == 0:
                detected[c] += top
            else:
                # deterministic regime: move every node, then add what left the lattice
                for j in range(nd):
                    newp[j] = 0.0
                    newq[j] = 0.0
                back_p = 0.0
                back_q = 0.0
                for j in range(nd):
                    m = pc[ns + j]
                    if m != 0.0:
                        if exact_ref:
                            # the reference move, corrected for the kill's deviation from it
                            if aligned:
                                dev = 0.5 * (kd[j] - kref[j] + kd[j + 1] - kref[j + 1])
                            else:
                                dev = kd[j] - kref[j]
                            pos = ynext[j] - dev * hmac
                        else:
                            x1 = deterministic_move(par, law, xd[j], e_mean, fk_mean, cy_mean, hmac)
                            pos = math.log(x1) if x1 > 0.0 else -math.inf
                        spread = vd[j] * hmac if j < n_noisy else 0.0
                        below, above = _spread(newp, yd, pos - 0.5 * spread, spread, m, j + 1 if aligned else j)
                        back_p += below
                        detected[c] += above
                    m = qc[ns + j]
                    if m != 0.0:
                        pos = yd[j] - dd * hmac
                        if pos < yd[0]:
                            back_q += m
                        else:
                            lo = _walk(yd, pos, j)
                            th = (pos - yd[lo]) / (yd[lo + 1] - yd[lo])
                            newq[lo] += (1.0 - th) * m
                            newq[lo + 1] += th * m
                # the exit flux entered uniformly over the step: on average at node index ``entry``
                if top != 0.0:
                    if aligned:
                        k_in = min(int(entry), nd - 1)
                        f_in = entry - k_in
                        newp[k_in] += (1.0 - f_in) * top
                        if k_in + 1 < nd:
                            newp[k_in + 1] += f_in * top
                        else:
                            detected[c] += f_in * top
                    else:
                        half = 0.5 * top
                        newp[0] += half
                        if nd > 1:
                            newp[1] += half
                        else:
                            detected[c] += half
                for j in range(nd):
                    pc[ns + j] = newp[j]
                    qc[ns + j] = newq[j]
                # shrinking back under the threshold: to the top of the stochastic lattice
                pc[ns - 1] += back_p
                qc[ns - 1] += back_q
            _switch(pc, qc, to_dorm, to_prol, 0.5 * hmac)
        # ---- tallies
        occult = 0.0
        small = 0.0
        sum_xg = 0.0
        cp = 0.0
        cq = 0.0
        largest = 0.0
        acc = 0.0
        for j in range(nv - 1, -1, -1):
            m0 = pv[0, j]
            m1 = n_inj * pv[1, j] if n_channels > 1 else 0.0
            cp += m0 + m1
            occult += (m0 + m1) * xv[j]
            acc += m0 + m1
            if largest == 0.0 and acc >= 1.0:
                largest = xv[j]
        for i in range(nn - 1, -1, -1):
            x = xs[i] if i < ns else xd[i - ns]
            m0 = p[0, i] + q[0, i]
            m1 = n_inj * (p[1, i] + q[1, i]) if n_channels > 1 else 0.0
            cp += p[0, i] + (n_inj * p[1, i] if n_channels > 1 else 0.0)
            cq += q[0, i] + (n_inj * q[1, i] if n_channels > 1 else 0.0)
            occult += (m0 + m1) * x
            if i < ns:
                small += (m0 + m1) * x
            if par[P_FROM_METS] > 0.0:
                sum_xg += m0 * x ** gamma
            acc += m0 + m1
            if largest == 0.0 and acc >= 1.0:
                largest = x
        r = rec[im + 1]
        r[A_T] = t[k1]
        r[A_COL_PROLIF] = cp
        r[A_COL_DORMANT] = cq
        r[A_MET_CELLS] = occult
        r[A_E] = e
        r[A_STARTED] = started[0] + (n_inj * started[1] if n_channels > 1 else 0.0)
        r[A_EXTINCT] = extinct[0] + (n_inj * extinct[1] if n_channels > 1 else 0.0)
        r[A_DETECTED] = detected[0]
        r[A_DETECTED_INJ] = detected[1] if n_channels > 1 else 0.0
        r[A_LARGEST] = largest
        if im + 1 == k_surgery:
            _keep(dist, 0, p, q, n_channels)
    _keep(dist, 1, p, q, n_channels)
    return rec, dist, fine
