"""Numba kernels of the body scale: plain arrays in, plain arrays out.

The stochastic patient kernel (``run_patient``) is an event / tau-leap hybrid on
a fixed step ``dt``:

* compartments (circulating cells, dormant single cells) move with exact
  binomial / Poisson transitions per step;
* each colony is tracked from the moment a cell starts dividing, as a row of the
  ``col`` table: below ``exact_threshold`` cells it is simulated event by event
  (Gillespie) inside the step; up to ``stochastic_threshold`` it leaps a whole
  step with the exact linear birth-death transition for rates frozen over the
  step (``bd_leap``, unbiased in the mean, unlike Poisson tau-leaping); above it
  grows deterministically with its growth law's closed form.

Randomness comes only from the ``rng`` (a NumPy Generator passed in), so a run
is a pure function of its inputs and the generator's seed.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from .growth import law_rate, law_solution
from .vascular import vascular_step

# ---- indices into the parameter vector ``par``
(P_MU, P_GAMMA, P_FROM_METS, P_CTC_RATE, P_ARREST_EXTRAV, P_PROLIF, P_DORMANT,
 P_ACT, P_DORM_DEATH, P_REVERT, P_DIVISION, P_KILL_LAW, P_KILL_N, P_KILL_MAX,
 P_KILL_HALF, P_KILL_EXP, P_EREF, P_E_S, P_E_P, P_E_G, P_E_M, P_E_D, P_E0,
 P_BURDEN_TOTAL, P_DETECT, P_LETHAL, P_EXACT, P_DET, P_SURGERY, P_STOP_RELAPSE,
 P_DT, P_ANGIO, P_SWITCH_SIZE, P_V_K0, P_V_L1, P_V_B, P_V_D, P_V_L2) = range(38)
N_PAR = 38

# ---- colony table columns
(C_SIZE, C_STATE, C_SEEDED, C_ACTIVATED, C_ORIGIN, C_PARENT, C_FROM_POOL,
 C_NSWITCH, C_END, C_DETECTED, C_MAX, C_SIZE_SURGERY, C_STATE_SURGERY, C_VASCULAR, C_SUPPORT) = range(15)
N_COL = 15

# colony states
PROLIFERATING, DORMANT, EXTINCT = 0, 1, 2

# ---- record columns
(R_T, R_PRIMARY, R_CTC, R_DORMANT_CELLS, R_COL_PROLIF, R_COL_DORMANT, R_MET_CELLS,
 R_E, R_SHED, R_ARRIVED, R_DIED, R_STARTED, R_DETECTABLE, R_LARGEST, R_CTC_DIED,
 R_INJECTED) = range(16)
N_REC = 16

# ---- snapshot (at surgery) and outcome entries
(S_SHED, S_ARRIVED, S_STARTED, S_DORMANT_CELLS, S_COL_PROLIF, S_COL_DORMANT,
 S_MET_CELLS, S_DETECTABLE, S_TAKEN) = range(9)
N_SNAP = 9
(O_STATUS, O_END_T, O_DEATH_T, O_RELAPSE_T, O_RELAPSE_COL, O_NCOL, O_NREC, O_E_END,
 O_DETECTABLE_AT_RELAPSE) = range(9)
N_OUT = 9
STATUS_END, STATUS_DEATH, STATUS_RELAPSE = 0, 1, 2

# ---- residual disease at the surgical site (body/local.py): the origin code of its colonies and two
# more outcome entries (first local recurrence day, its colony)
ORIGIN_LOCAL = 2.0
O_LOCAL_T, O_LOCAL_COL = N_OUT, N_OUT + 1
N_OUT += 2


@jit
def kill_rate(par, x, effectors):
    """Per-cell immune kill rate (/day) on a colony of ``x`` cells."""
    law = par[P_KILL_LAW]
    if law == 0.0:
        return 0.0
    if law == 1.0:
        return par[P_KILL_N] * effectors
    half = par[P_KILL_HALF] * effectors / par[P_EREF]
    if half <= 0.0:
        return 0.0
    if par[P_KILL_EXP] == 1.0:  # the default; pow is the kernel's hot spot
        return par[P_KILL_MAX] / (1.0 + x / half)
    return par[P_KILL_MAX] / (1.0 + (x / half) ** par[P_KILL_EXP])


@jit
def effector_step(par, e, burden, dt):
    """Exponential-Euler step of dE/dt = s + p E T/(g+T) - m E T - d E (Kuznetsov 1994)."""
    k = par[P_E_D] + par[P_E_M] * burden - par[P_E_P] * burden / (par[P_E_G] + burden)
    s = par[P_E_S]
    if abs(k) * dt < 1e-12:
        return max(e + (s - k * e) * dt, 0.0)
    estar = s / k
    return max(estar + (e - estar) * math.exp(-k * dt), 0.0)


@jit
def _birth_death_rates(par, law, x, effectors, fkill, cyto):
    """Per-cell birth and death rates of a proliferating colony of ``x`` cells: division, the
    growth law's net rate g, immune kill, and the growth inhibition ``cyto`` of adjuvant
    therapy (extra death cyto·g, Norton–Simon; body/adjuvant.py)."""
    growth = law_rate(law, x)
    birth = max(par[P_DIVISION], growth)
    death = birth - growth + kill_rate(par, x, effectors) * fkill
    if cyto > 0.0:
        death += cyto * max(growth, 0.0)
    if death < 0.0:
        death = 0.0
    return birth, death


@jit
def bd_leap(rng, x, b, d, dt):
    """Size after ``dt`` of a linear birth-death process from ``x`` cells with per-cell rates
    b, d held fixed over the step: exact in distribution (Kendall 1948). Each cell's lineage
    is extinct w.p. alpha, else geometric on {1, 2, ...} with ratio beta."""
    n = np.int64(x)
    if n <= 0:
        return 0.0
    r = b - d
    if abs(r) * dt < 1e-9:
        alpha = d * dt / (1.0 + d * dt)
        beta = b * dt / (1.0 + b * dt)
    else:
        er = math.exp(r * dt)
        denom = b * er - d
        alpha = d * (er - 1.0) / denom
        beta = b * (er - 1.0) / denom
    alpha = min(max(alpha, 0.0), 1.0)
    surv = rng.binomial(n, 1.0 - alpha)
    if surv == 0:
        return 0.0
    if beta <= 0.0:
        return float(surv)
    return float(surv + rng.negative_binomial(surv, 1.0 - beta))


@jit
def _grow_table(col, n):
    new = np.full((col.shape[0] * 2, N_COL), np.nan)
    new[:n] = col[:n]
    return new


@jit
def _new_colony(col, n, t, seeded, origin, parent, from_pool):
    if n >= col.shape[0]:
        col = _grow_table(col, n)
    col[n, C_SIZE] = 1.0
    col[n, C_STATE] = PROLIFERATING
    col[n, C_SEEDED] = seeded
    col[n, C_ACTIVATED] = t
    col[n, C_ORIGIN] = origin
    col[n, C_PARENT] = parent
    col[n, C_FROM_POOL] = from_pool
    col[n, C_NSWITCH] = 0.0
    col[n, C_MAX] = 1.0
    col[n, C_VASCULAR] = np.nan  # the day of its angiogenic switch (nan: avascular)
    col[n, C_SUPPORT] = np.nan  # its vascular support K (cells) once vascular
    return col


@jit
def _push(live, nlive, i):
    """Append colony ``i`` to the live list (doubling its storage when full)."""
    if nlive >= live.shape[0]:
        grown = np.empty(live.shape[0] * 2, dtype=np.int64)
        grown[:nlive] = live[:nlive]
        live = grown
    live[nlive] = i
    return live


@jit
def _seeding_weights(col, live, nlive, gamma):
    """Cumulative x^gamma over live colonies, to pick the parent of a metastasis-borne cell."""
    cum = np.empty(nlive)
    acc = 0.0
    for j in range(nlive):
        acc += col[live[j], C_SIZE] ** gamma
        cum[j] = acc
    return cum


@jit
def _vascular_growth(col, i, par, x, e, fkill, cyto, dti):
    """A vascular colony ``i`` of ``x`` cells over ``dti`` days: the Hahnfeldt law for (x, K) (its K in
    the table), then immune kill and adjuvant growth inhibition. Returns the new size."""
    kv = col[i, C_SUPPORT]
    loss = kill_rate(par, x, e) * fkill
    if cyto > 0.0:
        loss += cyto * max(par[P_V_L1] * math.log(kv / x), 0.0)
    x, kv = vascular_step(x, kv, dti, par[P_V_L1], par[P_V_B], par[P_V_D], par[P_V_L2])
    col[i, C_SUPPORT] = kv
    return x * math.exp(-loss * dti)


@jit
def run_patient(rng, t, shed_primary, injected, suppression, fkill_arr, finv_arr, cyto_arr, fact_arr,
                switch_arr, primary, par, law, record_stride, col_capacity, local_mean, rt_log, local_detect):
    """Simulate one patient. Returns (col, rec, snap, out): the colony table, the records,
    the snapshot at surgery and the outcome vector (indices C_*, R_*, S_*, O_* above).

    ``t`` is the time grid (K+1 points); per-step arrays have K entries and hold
    the value for step k (from t[k] to t[k+1]); ``primary`` has K+1 entries.
    ``cyto_arr``: growth inhibition of adjuvant therapy, ``fact_arr``: factor on awakening
    (body/adjuvant.py). With ``par[P_ANGIO]`` (angiogenic switch), ``law`` is the avascular
    growth towards the plateau, a proliferating avascular colony of at least
    ``par[P_SWITCH_SIZE]`` cells switches at the rate ``switch_arr[k]`` and then grows, with
    its vascular support K from ``par[P_V_K0]``, by the Hahnfeldt law (``par[P_V_L1 … P_V_L2]``,
    body/vascular.py), deterministically; IL-1β does not send a vascular colony back to dormancy.
    ``law`` is the colony growth law's ``kernel_params()``: the kernel is compiled
    once per law.
    ``switch_arr`` is None without the angiogenic switch and ``rt_log`` None without residual
    disease (numba then compiles the kernel without their code).
    ``local_mean``: mean residual cells at the surgical site (a Poisson number of local colonies of
    one cell start at surgery; nothing is drawn when it is 0); ``rt_log``: per step, ln S of the
    radiotherapy fractions given in it, applied to the local colonies (all states) at its start;
    ``local_detect``: size at which a local colony is a local recurrence (body/local.py).
    """
    K = t.shape[0] - 1
    dt = par[P_DT]
    gamma = par[P_GAMMA]
    mu = par[P_MU]
    p_old = 1.0 - math.exp(-par[P_CTC_RATE] * dt)
    p_new = 1.0 - p_old / (par[P_CTC_RATE] * dt)  # leave within the step after a uniform arrival
    n_rec = K // record_stride + 2
    rec = np.full((n_rec, N_REC), np.nan)
    snap = np.zeros(N_SNAP)
    out = np.zeros(N_OUT)
    out[O_RELAPSE_T] = np.nan
    out[O_DEATH_T] = np.nan
    out[O_RELAPSE_COL] = -1.0
    out[O_LOCAL_T] = np.nan
    out[O_LOCAL_COL] = -1.0
    col = np.full((col_capacity, N_COL), np.nan)
    live = np.empty(col_capacity, dtype=np.int64)
    nlive = 0
    ncol = 0
    ctc = np.zeros(2, dtype=np.int64)  # by origin: 0 first site (primary/injection), 1 metastases
    pool = np.zeros(2, dtype=np.int64)  # dormant single cells by origin
    e = par[P_E0]
    arrivals = np.zeros(2, dtype=np.int64)
    seeding_from_mets = par[P_FROM_METS] > 0.0
    shed = 0.0
    arrived = 0.0
    died = 0.0
    ctc_died = 0.0
    injected_total = 0.0
    met_cells = 0.0
    sum_xg = 0.0
    n_detectable = 0
    largest = 0.0
    surgery = par[P_SURGERY]
    status = STATUS_END
    irec = 0
    k_end = K
    # initial record
    rec[0, R_T] = t[0]
    rec[0, R_PRIMARY] = primary[0]
    rec[0, R_CTC] = 0.0
    rec[0, R_DORMANT_CELLS] = 0.0
    rec[0, R_COL_PROLIF] = 0.0
    rec[0, R_COL_DORMANT] = 0.0
    rec[0, R_MET_CELLS] = 0.0
    rec[0, R_E] = e
    rec[0, R_SHED] = 0.0
    rec[0, R_ARRIVED] = 0.0
    rec[0, R_DIED] = 0.0
    rec[0, R_STARTED] = 0.0
    rec[0, R_DETECTABLE] = 0.0
    rec[0, R_LARGEST] = 0.0
    rec[0, R_CTC_DIED] = 0.0
    rec[0, R_INJECTED] = 0.0
    irec = 1
    # switch_arr is None without the angiogenic switch, rt_log None without residual disease: numba
    # compiles a variant without their code (the colony loop is the hot path)
    for k in range(K):
        tk = t[k]
        h = suppression[k]
        fkill = fkill_arr[k]
        cyto = cyto_arr[k]
        # ---- 1. shedding into blood (primary part precomputed; metastases here)
        new0 = rng.poisson(shed_primary[k]) if shed_primary[k] > 0.0 else 0
        new1 = 0
        if par[P_FROM_METS] > 0.0 and sum_xg > 0.0:
            lam_m = mu * finv_arr[k] * sum_xg * dt
            new1 = rng.poisson(lam_m)
        shed += new0 + new1
        inj = np.int64(injected[k])
        injected_total += inj
        # ---- 2. circulation: each CTC leaves at rate kc, arresting + extravasating w.p. pa
        arrivals[0] = 0
        arrivals[1] = 0
        for o in range(2):
            fresh = new0 if o == 0 else new1
            if o == 0:
                ctc[0] += inj  # an injected bolus is there from the start of the step
            leave = 0
            if ctc[o] > 0:
                leave += rng.binomial(ctc[o], p_old)
            if fresh > 0:
                leave += rng.binomial(fresh, p_new)
            ctc[o] += fresh - leave
            if leave > 0:
                a = rng.binomial(leave, par[P_ARREST_EXTRAV])
                arrivals[o] = a
                died += leave - a
                ctc_died += leave - a
        # ---- 3. fate of the arrivals
        p_prolif = par[P_PROLIF] * (1.0 - h)
        p_dorm = par[P_DORMANT] + par[P_PROLIF] * h
        for o in range(2):
            a = arrivals[o]
            if a == 0:
                continue
            arrived += a
            n_pro = rng.binomial(a, p_prolif)
            rest = a - n_pro
            n_dor = 0
            if rest > 0 and p_prolif < 1.0:
                q = min(p_dorm / (1.0 - p_prolif), 1.0)
                n_dor = rng.binomial(rest, q)
            died += rest - n_dor
            pool[o] += n_dor
            nparents = nlive
            cum = _seeding_weights(col, live, nlive, gamma) if (o == 1 and nlive > 0) else np.empty(0)
            for _ in range(n_pro):
                seeded = tk + rng.random() * dt
                parent = -1.0
                if o == 1 and nparents > 0:
                    jp = np.searchsorted(cum, rng.random() * cum[nparents - 1])
                    parent = float(live[min(jp, nparents - 1)])
                col = _new_colony(col, ncol, seeded, seeded, float(o), parent, 0.0)
                live = _push(live, nlive, ncol)
                nlive += 1
                ncol += 1
        # ---- 4. dormant single cells: death or awakening
        act_rate = par[P_ACT] * (1.0 - h) * fact_arr[k]
        out_rate = act_rate + par[P_DORM_DEATH]
        if out_rate > 0.0:
            p_out = 1.0 - math.exp(-out_rate * dt)
            for o in range(2):
                if pool[o] == 0:
                    continue
                n_out = rng.binomial(pool[o], p_out)
                if n_out == 0:
                    continue
                n_act = rng.binomial(n_out, act_rate / out_rate)
                pool[o] -= n_out
                died += n_out - n_act
                for _ in range(n_act):
                    tt = tk + rng.random() * dt
                    col = _new_colony(col, ncol, tt, np.nan, float(o), -1.0, 1.0)
                    live = _push(live, nlive, ncol)
                    nlive += 1
                    ncol += 1
        # ---- 4b. residual disease: local colonies of one cell start at surgery (body/local.py)
        if rt_log is not None and local_mean > 0.0 and tk <= surgery < t[k + 1]:
            for _ in range(rng.poisson(local_mean)):
                col = _new_colony(col, ncol, surgery, surgery, ORIGIN_LOCAL, -1.0, 0.0)
                live = _push(live, nlive, ncol)
                nlive += 1
                ncol += 1
        rt_surv = 1.0
        if rt_log is not None:
            if rt_log[k] < 0.0:
                rt_surv = math.exp(rt_log[k])
        # ---- 5. colonies
        t_next = t[k + 1]
        p_wake = 1.0 - math.exp(-act_rate * dt)
        p_revert = 1.0 - math.exp(-par[P_REVERT] * h * dt)
        p_dorm_die = 1.0 - math.exp(-par[P_DORM_DEATH] * dt)
        met_cells = 0.0
        sum_xg = 0.0
        n_prolif = 0
        n_dormant_col = 0
        dormant_col_cells = 0.0
        largest = 0.0
        j = 0
        while j < nlive:
            i = live[j]
            x = col[i, C_SIZE]
            state = col[i, C_STATE]
            vascular = False
            if switch_arr is not None:
                vascular = not np.isnan(col[i, C_VASCULAR])
            local = False
            if rt_log is not None:
                local = col[i, C_ORIGIN] == ORIGIN_LOCAL
            if local and rt_surv < 1.0:
                # radiotherapy fraction(s): each cell survives w.p. S (LQ), whatever its state
                # (binomial below the stochastic threshold, deterministic above it)
                x = float(rng.binomial(np.int64(x), rt_surv)) if x * rt_surv < par[P_DET] else x * rt_surv
            if state == DORMANT:
                if rng.random() < p_wake:
                    col[i, C_STATE] = PROLIFERATING
                    col[i, C_NSWITCH] += 1.0
                elif x >= 1.0:
                    x -= rng.binomial(np.int64(x), p_dorm_die)
            elif p_revert > 0.0 and not vascular and rng.random() < (
                    p_revert if col[i, C_ACTIVATED] <= tk else
                                                    1.0 - math.exp(-par[P_REVERT] * h * (t_next - col[i, C_ACTIVATED]))):
                # IL-1beta pushes the colony back to a dormant ZEB1-high state
                col[i, C_STATE] = DORMANT
                col[i, C_NSWITCH] += 1.0
            elif vascular:
                # a vascular colony: the Hahnfeldt law, then immune kill and adjuvant therapy
                dti = dt if col[i, C_ACTIVATED] <= tk else t_next - col[i, C_ACTIVATED]
                x = _vascular_growth(col, i, par, x, e, fkill, cyto, dti)
            elif x < par[P_DET]:
                # a colony born in this step grows only for the rest of it
                dti = dt if col[i, C_ACTIVATED] <= tk else t_next - col[i, C_ACTIVATED]
                if x < par[P_EXACT]:
                    # exact event-by-event simulation inside the step
                    s = 0.0
                    while x > 0.0:
                        b, d = _birth_death_rates(par, law, x, e, fkill, cyto)
                        total = (b + d) * x
                        if total <= 0.0:
                            break
                        s += rng.exponential(1.0 / total)
                        if s > dti:
                            break
                        if rng.random() * (b + d) < b:
                            x += 1.0
                        else:
                            x -= 1.0
                        if x >= par[P_EXACT]:
                            # hand over to tau-leaping for the rest of the step
                            b, d = _birth_death_rates(par, law, x, e, fkill, cyto)
                            x = bd_leap(rng, x, b, d, dti - s)
                            break
                else:
                    # leap: rates frozen over the step, exact linear birth-death transition
                    b, d = _birth_death_rates(par, law, x, e, fkill, cyto)
                    x = bd_leap(rng, x, b, d, dti)
            else:
                dti = dt if col[i, C_ACTIVATED] <= tk else t_next - col[i, C_ACTIVATED]
                loss = kill_rate(par, x, e) * fkill
                if cyto > 0.0:
                    loss += cyto * max(law_rate(law, x), 0.0)
                x = law_solution(law, x, dti) * math.exp(-loss * dti)
            if x < 1.0 and x < par[P_DET]:
                x = 0.0
            col[i, C_SIZE] = x
            if x <= 0.0:
                col[i, C_STATE] = EXTINCT
                col[i, C_END] = t_next
                live[j] = live[nlive - 1]
                nlive -= 1
                continue
            if switch_arr is not None:
                if (not vascular and x >= par[P_SWITCH_SIZE] and col[i, C_STATE] == PROLIFERATING
                        and rng.random() < -math.expm1(-switch_arr[k] * dt)):
                    col[i, C_VASCULAR] = t_next  # the angiogenic switch
                    col[i, C_SUPPORT] = par[P_V_K0]
            if x > col[i, C_MAX]:
                col[i, C_MAX] = x
            if local:
                if x >= local_detect and np.isnan(col[i, C_DETECTED]):
                    col[i, C_DETECTED] = t_next
                    if np.isnan(out[O_LOCAL_T]):
                        out[O_LOCAL_T] = t_next
                        out[O_LOCAL_COL] = i
            elif x >= par[P_DETECT] and np.isnan(col[i, C_DETECTED]):
                col[i, C_DETECTED] = t_next
                if t_next > surgery and np.isnan(out[O_RELAPSE_T]):
                    out[O_RELAPSE_T] = t_next
                    out[O_RELAPSE_COL] = i
            if col[i, C_STATE] == DORMANT:
                n_dormant_col += 1
                dormant_col_cells += x
            else:
                n_prolif += 1
            met_cells += x
            if seeding_from_mets:
                sum_xg += x ** gamma
            if x > largest:
                largest = x
            j += 1
        n_detectable = 0
        for jj in range(nlive):
            if col[live[jj], C_SIZE] >= par[P_DETECT] and (rt_log is None or col[live[jj], C_ORIGIN] != ORIGIN_LOCAL):
                n_detectable += 1
        if out[O_RELAPSE_T] == t_next:
            out[O_DETECTABLE_AT_RELAPSE] = n_detectable
        # ---- 6. effector cells
        burden = met_cells + (primary[k + 1] if par[P_BURDEN_TOTAL] > 0.0 else 0.0)
        e = effector_step(par, e, burden, dt)
        # ---- snapshot at surgery (state at the end of the step containing it)
        if snap[S_TAKEN] == 0.0 and t_next >= surgery:
            snap[S_SHED] = shed
            snap[S_ARRIVED] = arrived
            snap[S_STARTED] = ncol
            snap[S_DORMANT_CELLS] = pool[0] + pool[1]
            snap[S_COL_PROLIF] = n_prolif
            snap[S_COL_DORMANT] = n_dormant_col
            snap[S_MET_CELLS] = met_cells
            snap[S_DETECTABLE] = n_detectable
            snap[S_TAKEN] = 1.0
            for jj in range(nlive):
                col[live[jj], C_SIZE_SURGERY] = col[live[jj], C_SIZE]
                col[live[jj], C_STATE_SURGERY] = col[live[jj], C_STATE]
        # ---- outcomes
        dead = primary[k + 1] + met_cells >= par[P_LETHAL]
        stop_relapse = par[P_STOP_RELAPSE] > 0.0 and not np.isnan(out[O_RELAPSE_T])
        last = dead or stop_relapse or k == K - 1
        if (k + 1) % record_stride == 0 or last:
            if irec >= rec.shape[0]:
                rec2 = np.full((rec.shape[0] * 2, N_REC), np.nan)
                rec2[:irec] = rec[:irec]
                rec = rec2
            rec[irec, R_T] = t_next
            rec[irec, R_PRIMARY] = primary[k + 1]
            rec[irec, R_CTC] = ctc[0] + ctc[1]
            rec[irec, R_DORMANT_CELLS] = pool[0] + pool[1]
            rec[irec, R_COL_PROLIF] = n_prolif
            rec[irec, R_COL_DORMANT] = n_dormant_col
            rec[irec, R_MET_CELLS] = met_cells
            rec[irec, R_E] = e
            rec[irec, R_SHED] = shed
            rec[irec, R_ARRIVED] = arrived
            rec[irec, R_DIED] = died
            rec[irec, R_STARTED] = ncol
            rec[irec, R_DETECTABLE] = n_detectable
            rec[irec, R_LARGEST] = largest
            rec[irec, R_CTC_DIED] = ctc_died
            rec[irec, R_INJECTED] = injected_total
            irec += 1
        if dead:
            status = STATUS_DEATH
            out[O_DEATH_T] = t_next
            k_end = k + 1
            break
        if stop_relapse:
            status = STATUS_RELAPSE
            k_end = k + 1
            break
    out[O_STATUS] = status
    out[O_END_T] = t[k_end]
    out[O_NCOL] = ncol
    out[O_NREC] = irec
    out[O_E_END] = e
    return col[:ncol], rec[:irec], snap, out
