"""Analysis of tissue-engine tracks: mean squared displacements, the Fürth persistent random walk,
and the pair potential's equilibrium spacing.

Units: µm and minutes, as everywhere in :mod:`seedsoil.tissue`. Tracks are arrays
``positions[track, time, axis]`` (n_tracks × n_times × d, µm) sampled at equal
intervals; lags are given in samples (an integer number of save intervals).

The Fürth persistent random walk (Fürth 1920; docs/tissue.md, Equations as implemented) of speed ``S`` and
persistence time ``P`` has ``MSD(t) = 2 S² P [t − P (1 − e^(−t/P))]`` in any
dimension d (``S²`` is the mean squared speed, split evenly over the axes), so
the long-time diffusion coefficient is ``D = S² P / d``. The engine's two
motility laws both have this MSD in continuous time; :func:`scheme_msd` gives
the exact expectation of the *discrete* scheme the engine steps (velocity
updated once per step, positions by Adams-Bashforth 2), so that a measurement
can be split into discretisation bias (deterministic) and sampling error.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.signal import lfilter

from .engine import LAWS


# ---------------------------------------------------------------- closed forms
def furth_msd(t, speed: float, persistence: float) -> np.ndarray:
    """Fürth MSD (µm²) at lag ``t`` (min) of a persistent random walk with RMS speed ``speed``
    (µm/min) and persistence time ``persistence`` (min): ``2 S² P [t − P (1 − e^(−t/P))]``.

    Independent of the dimension: ballistic ``S² t²`` for t ≪ P, diffusive ``2 S² P t``
    (= 2 d D t with D = S² P / d) for t ≫ P.
    """
    t = np.asarray(t, dtype=float)
    s2, p = float(speed) ** 2, float(persistence)
    return 2.0 * s2 * p * (t + p * np.expm1(-t / p))


def furth_diffusion(speed: float, persistence: float, dims: int) -> float:
    """Long-time diffusion coefficient ``D = S² P / d`` (µm²/min)."""
    return float(speed) ** 2 * float(persistence) / int(dims)


def velocity_correlation_ratio(persistence: float, dt: float, law: str = "ou") -> float:
    """Per-step velocity autocorrelation ``r`` of the engine's motility: ``E[v_s · v_(s+m)] = S² r^m``.

    OU: ``r = e^(−dt/P)`` (the engine's update is the exact OU transition); TURN: a new
    uniform direction with probability ``dt/P`` per step, so ``r = 1 − dt/P``.
    """
    if law == "ou":
        return math.exp(-dt / persistence)
    if law == "turn":
        return 1.0 - dt / persistence
    raise ValueError(f"law = {law!r}: must be 'ou' or 'turn'")


def scheme_msd(lag_steps, speed: float, persistence: float, dt: float, *, law: str = "ou",
               from_origin: bool = False) -> np.ndarray:
    """Exact expected MSD (µm²) of the engine's discrete scheme over ``lag_steps`` steps of ``dt`` min.

    The motility velocity ``v_s`` of step s is stationary with ``E[v_a · v_b] = S² r^|a−b|``
    (:func:`velocity_correlation_ratio`) and positions advance by Adams-Bashforth 2,
    ``x += dt (1.5 v_s − 0.5 v_(s−1))``, forward Euler on step 0. A window of k steps
    starting after step 0 is ``dt (−0.5 v_(j−1) + v_j + … + v_(j+k−2) + 1.5 v_(j+k−1))``;
    from the origin (``from_origin``) it is ``dt (0.5 v_0 + v_1 + … + 1.5 v_(k−1))``.
    Its variance ``dt² S² Σ_ab c_a c_b r^|a−b|`` is summed in O(k).
    """
    r = velocity_correlation_ratio(persistence, dt, law)
    out = []
    for k in np.atleast_1d(np.asarray(lag_steps, dtype=np.int64)):
        k = int(k)
        if k <= 0:
            out.append(0.0)
            continue
        if from_origin:
            c = np.ones(k) if k > 1 else np.ones(1)
            if k > 1:
                c[0], c[-1] = 0.5, 1.5
        else:
            c = np.ones(k + 1)
            c[0], c[-1] = -0.5, 1.5
        y = lfilter([1.0], [1.0, -r], c)  # y_b = Σ_(a<=b) c_a r^(b−a)
        q = 2.0 * float(np.dot(c, y)) - float(np.dot(c, c))
        out.append(dt * dt * float(speed) ** 2 * q)
    return np.array(out)


def pair_equilibrium_distance(contact: float, repulsion: float, adhesion: float, adhesion_range: float) -> float:
    """Centre distance d* (µm) where the engine's pair repulsion balances adhesion.

    With ``R = r_i + r_j`` (``contact``), ``S = adhesion_range · R``, repulsion
    ``c_rep (1 − d/R)²`` and adhesion ``c_adh (1 − d/S)²`` (both µm/min), for d < R:
    ``√c_rep (1 − d/R) = √c_adh (1 − d/S)``, so with ``k = √(c_adh/c_rep)``
    ``d* = R (1 − k) / (1 − k/adhesion_range)``. Needs ``0 < k < 1`` (else no stable spacing).
    """
    k = math.sqrt(adhesion / repulsion)
    if not 0.0 < k < 1.0:
        raise ValueError(f"adhesion/repulsion = {adhesion / repulsion:g}: a stable spacing needs 0 < ratio < 1")
    return float(contact) * (1.0 - k) / (1.0 - k / float(adhesion_range))


# ---------------------------------------------------------------- estimators
def msd(positions: np.ndarray) -> np.ndarray:
    """Ensemble MSD from the first sample (µm²) at each sample time: mean over tracks of
    ``|x(t) − x(0)|²``. ``positions``: n_tracks × n_times × d (µm)."""
    x = np.asarray(positions, dtype=float)
    dx = x - x[:, :1, :]
    return np.mean(np.sum(dx * dx, axis=2), axis=0)


def time_averaged_msd(positions: np.ndarray, lags, *, per_track: bool = False) -> np.ndarray:
    """Time-averaged MSD (µm²) at each lag (in samples): all windows ``x(t + lag) − x(t)`` of all
    tracks pooled (lower variance than :func:`msd` for a stationary walk).

    ``per_track``: return an (n_tracks × n_lags) array of each track's own time average
    instead (tracks are independent, so their spread gives the sampling error of the pool).
    """
    x = np.asarray(positions, dtype=float)
    lags = np.atleast_1d(np.asarray(lags, dtype=np.int64))
    n_times = x.shape[1]
    if np.any(lags < 1) or np.any(lags >= n_times):
        raise ValueError(f"lags must be in [1, {n_times - 1}] samples; got {lags.tolist()}")
    cols = []
    for lag in lags:
        dx = x[:, lag:, :] - x[:, :-lag, :]
        cols.append(np.mean(np.sum(dx * dx, axis=2), axis=1))
    per = np.stack(cols, axis=1)
    return per if per_track else per.mean(axis=0)


def fit_furth(t, msd_values, *, weights=None) -> tuple[float, float]:
    """Speed S (µm/min) and persistence P (min) of the Fürth MSD fitted to ``msd_values`` (µm²)
    at lags ``t`` (min), by least squares on relative residuals (each lag counts alike)."""
    from scipy.optimize import least_squares

    t = np.asarray(t, dtype=float)
    m = np.asarray(msd_values, dtype=float)
    w = np.ones_like(m) if weights is None else np.asarray(weights, dtype=float)
    # start: P from the late slope and intercept (MSD ~ 2 S² P (t − P)), S from it
    slope = (m[-1] - m[-2]) / (t[-1] - t[-2])
    p0 = max(t[-1] - m[-1] / slope, 0.1 * t[0]) if slope > 0 else t[-1]
    s0 = math.sqrt(max(slope, 1e-300) / (2.0 * p0))

    def res(q):
        s, p = np.exp(q)
        return w * (furth_msd(t, s, p) / m - 1.0)

    sol = least_squares(res, np.log([s0, p0]), method="lm", xtol=1e-14, ftol=1e-14)
    s, p = np.exp(sol.x)
    return float(s), float(p)


# ---------------------------------------------------------------- tracks from the engine
def free_tracks(n: int, dims: int, speed: float, persistence: float, *, law: str = "ou", dt: float = 0.1,
                duration: float, save_every: float, seed: int, stationary: bool = True,
                radius: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Tracks of ``n`` free (non-interacting) cells stepped by the real :class:`TissueEngine`.

    Each cell has speed ``speed`` (µm/min) and persistence ``persistence`` (min) under the
    motility ``law`` ("ou" or "turn"); pair repulsion and adhesion are 0 and there are no walls,
    no matrix and no vessel. Cells start on a lattice spaced far wider than any cell moves in
    ``duration``, inside a box whose margin is more than 20 times the root mean squared
    displacement, so the engine's clamping of positions to the box never acts (checked:
    ``RuntimeError`` otherwise) and the neighbour lists stay (almost always) empty.
    ``stationary``: start the OU velocity from its stationary law (N(0, S²/d) per axis), so the
    ensemble MSD from the origin is Fürth's from t = 0 (the TURN law draws a direction at step
    0 anyway). Randomness is keyed by ``seed``.

    Returns ``(times, positions)``: save times (min, from 0) and positions relative to each
    track's start, n × n_times × dims (µm).
    """
    from .engine import Agents, Mechanics, TissueEngine

    if law not in LAWS:
        raise ValueError(f"law = {law!r}: must be 'ou' or 'turn'")
    if dims not in (2, 3):
        raise ValueError(f"dims = {dims!r}: must be 2 or 3")
    steps = round(duration / dt)
    every = max(round(save_every / dt), 1)
    if steps % every:
        raise ValueError(f"duration {duration:g} min is not a whole number of saves of {save_every:g} min")
    rms = math.sqrt(float(furth_msd(steps * dt, speed, persistence))) + speed * dt
    skin = 10.0 * rms  # a rebuild only when a cell moved 5 rms: P(chi2_d > 25 d) per cell
    mech = Mechanics(dt=dt, repulsion=np.zeros((2, 2)), adhesion=np.zeros((2, 2)), motility_law=LAWS[law],
                     walls=False, skin=skin)
    spacing = 2.0 * radius * mech.adhesion_range + skin + 1.0  # > the neighbour reach: no initial neighbours
    side = math.ceil(n ** (1.0 / dims))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * dims, indexing="ij"), axis=-1).reshape(-1, dims)[:n]
    start = grid * spacing
    margin = 25.0 * rms + spacing
    lo = np.full(dims, -margin)
    hi = np.full(dims, (side - 1) * spacing + margin)
    agents = Agents.from_columns(start, radius=radius, speed=speed, persist=persistence)
    if stationary and law == "ou":
        rng = np.random.default_rng([int(seed), 0x7F1E])
        agents.mot[:n] = rng.normal(scale=speed / math.sqrt(dims), size=(n, dims))
    mech = dataclasses.replace(mech, voxel=spacing)
    engine = TissueEngine(agents, lo, hi, mech, seed=seed)
    out = np.empty((n, steps // every + 1, dims))
    out[:, 0] = 0.0
    for k in range(1, steps // every + 1):
        engine.step(every)
        a = engine.agents
        order = np.argsort(a.ids[:a.n])  # rows are re-ordered at rebuilds; ids are 0..n-1
        out[:, k] = a.pos[:a.n][order] - start
        if np.any(a.pos[:a.n] <= lo) or np.any(a.pos[:a.n] >= hi):
            raise RuntimeError("a free track reached the box: its position was clamped")
    times = np.arange(steps // every + 1) * every * dt
    return times, out
