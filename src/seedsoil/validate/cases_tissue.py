"""Validation cases for the tissue scale (``seedsoil.tissue``): the motility laws against the Fürth
persistent random walk, mode speeds against Friedl & Wolf, the mechanics (equilibrium spacing,
equal and opposite pair forces), and the directions of effect of JAK1/ROCK inhibition and of
CAF tracks on invasion (Sanz-Moreno et al. 2011).

Units: µm and minutes (the tissue scale's own). The motility and mechanics cases run the real
:class:`~seedsoil.tissue.engine.TissueEngine` on purpose-built configurations; the invasion cases
run :func:`~seedsoil.tissue.simulate.simulate_tissue` on the default scenario over several seeds
(statistics pooled over seeds; escape events are rare, so their rates are compared by an exact
conditional test of two Poisson rates).
"""
from __future__ import annotations

import contextlib
import itertools
import math

import numpy as np

from . import Check, case

FURTH = ("Fürth R. Die Brownsche Bewegung bei Berücksichtigung einer Persistenz der Bewegungsrichtung. "
         "Z Phys 1920;2:244-256, doi:10.1007/BF01328731 (DOI not verified); the persistent random walk "
         "MSD(t) = 2 S² P (t − P (1 − e^(−t/P))) of docs/tissue.md, as fitted to cell tracks in Wu PH et al. "
         "PNAS 2014;111(11):3949-3954, doi:10.1073/pnas.1318967111")
FRIEDL_WOLF = ("Friedl P, Wolf K. Plasticity of cell migration: a multiscale tuning model. J Cell Biol "
               "2010;188(1):11-19. doi:10.1083/jcb.200909003 (Table I: mesenchymal 0.1-1 µm/min; amoeboid, blebby "
               "< 1 µm/min; amoeboid, pseudopodal ~10 µm/min)")
SANZ_MORENO = ("Sanz-Moreno V et al. ROCK and JAK1 signaling cooperate to control actomyosin contractility in "
               "tumor cells and stroma. Cancer Cell 2011;20(2):229-245. doi:10.1016/j.ccr.2011.06.018")
GAGGIOLI = ("Gaggioli C et al. Fibroblast-led collective invasion of carcinoma cells with differing roles for "
            "RhoGTPases in leading and following cells. Nat Cell Biol 2007;9(12):1392-1400. doi:10.1038/ncb1658; "
            + SANZ_MORENO)
PHYSICELL = ("Ghaffarizadeh A et al. PhysiCell: an open source physics-based cell simulator for 3-D multicellular "
             "systems. PLoS Comput Biol 2018;14(2):e1005991. doi:10.1371/journal.pcbi.1005991 (pair potential: "
             "repulsion c_rep (1 − d/R)², adhesion c_adh (1 − d/S)²; overdamped motion)")

#: Motility-case settings: tracks, duration (min), save interval (min), step (min), seed.
MSD_TRACKS = 5000
MSD_DURATION = 360.0
MSD_LAGS = (1.0, 5.0, 20.0, 60.0)  # min
MSD_TOLERANCE = 0.05
MSD_SEED = 1920
DT = 0.1

#: Invasion cases: seeds pooled per condition; the default scenario (one day, 2-D) otherwise.
INVASION_SEEDS = (0, 1, 2, 3)
#: Inhibitor levels (network units, nM) as multiples of the network's IC50s (ic50_jak1, ic50_rock).
IC50_MULTIPLE = 10.0
#: Inhibitor case: 2 days (escapes are rare on day 1, the front still moving), depth read at 1 day.
INHIBITOR_DURATION = 2880.0
INHIBITOR_DEPTH_AT = 1440.0


@contextlib.contextmanager
def single_thread():
    """Run the tissue kernels on one numba thread inside the block (results do not depend on the
    thread count; for the few-agent configurations here, launching parallel loops costs more than
    it saves, and much more on a loaded machine)."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _mode(name: str) -> tuple[float, float]:
    """Speed (µm/min) and persistence (min) of a migration mode (params/cell.toml)."""
    from ..cell.phenotype import MODES
    from ..tissue.model import mode_parameters

    mp = mode_parameters()
    k = MODES.index(name)
    return float(mp["speed"][k]), float(mp["persistence"][k])


# ---------------------------------------------------------------- a. Fürth MSD
def furth_checks(dims: int, *, n: int = MSD_TRACKS, duration: float = MSD_DURATION, lags=MSD_LAGS,
                 laws=("ou", "turn"), seed: int = MSD_SEED, tolerance: float = MSD_TOLERANCE) -> list[Check]:
    """Free amoeboid cells under each motility law: time-averaged MSD against Fürth's formula.

    Besides the ±``tolerance`` comparison, the checks report the two parts of the error:
    sampling (relative standard error of the pooled MSD, from the spread of the independent
    per-track averages) and discretisation (the exact expectation of the engine's scheme,
    :func:`~seedsoil.tissue.analysis.scheme_msd`, against Fürth's continuous-time formula);
    the measurement must also agree with the scheme's expectation to within 4 standard errors.
    """
    from ..tissue.analysis import (
        free_tracks,
        furth_diffusion,
        furth_msd,
        scheme_msd,
        time_averaged_msd,
    )

    speed, pers = _mode("amoeboid")
    lags = np.asarray(lags, dtype=float)
    save = 1.0
    idx = np.rint(lags / save).astype(int)
    long_lags = np.rint(np.array([12.0, 24.0]) * pers / save).astype(int)  # 60, 120 min: diffusive regime
    checks: list[Check] = []
    for law in laws:
        with single_thread():
            _, pos = free_tracks(n, dims, speed, pers, law=law, dt=DT, duration=duration, save_every=save,
                                 seed=seed)
        per = time_averaged_msd(pos, np.concatenate([idx, long_lags]), per_track=True)
        m = per.mean(axis=0)
        se = per.std(axis=0, ddof=1) / math.sqrt(n) / m
        expected = furth_msd(lags, speed, pers)
        scheme = scheme_msd(np.rint(lags / DT).astype(int), speed, pers, DT, law=law)
        tag = f"{law.upper()} {dims}-D, S {speed:g} µm/min, P {pers:g} min"
        for k, lag in enumerate(lags):
            checks.append(Check(f"{tag}: MSD({lag:g} min) (µm²) vs Fürth ±{tolerance:.0%}", float(expected[k]),
                                float(m[k]), tolerance))
        # long-time diffusion from the MSD slope between 60 and 120 min: D = S² P / d
        slope = (per[:, -1] - per[:, -2]) / ((long_lags[1] - long_lags[0]) * save)  # per track
        d_meas = float(slope.mean()) / (2 * dims)
        d_se = float(slope.std(ddof=1)) / math.sqrt(n) / (2 * dims) / d_meas
        d_scheme = float(np.diff(scheme_msd(long_lags * round(save / DT), speed, pers, DT, law=law))[0]
                         / ((long_lags[1] - long_lags[0]) * save) / (2 * dims))
        checks.append(Check(f"{tag}: long-time D (µm²/min) from the MSD slope over 60-120 min = S²P/d "
                            f"±{tolerance:.0%}",
                            furth_diffusion(speed, pers, dims), d_meas, tolerance))
        checks.append(Check(f"{tag}: sampling error of those MSDs and D (max rel. SE) <= 1.5 %", (0.0, 0.015),
                            float(max(se[:len(lags)].max(), d_se)), kind="range"))
        bias = np.abs(scheme / expected - 1.0)
        d_bias = abs(d_scheme / furth_diffusion(speed, pers, dims) - 1.0)
        checks.append(Check(f"{tag}: discretisation bias at dt {DT:g} min (max |scheme/Fürth − 1|) <= 2 %",
                            (0.0, 0.02), float(max(bias.max(), d_bias)), kind="range"))
        z = np.abs(m[:len(lags)] / scheme - 1.0) / se[:len(lags)]
        checks.append(Check(f"{tag}: measured MSDs vs the scheme's exact expectation (max |z|) <= 4", (0.0, 4.0),
                            float(z.max()), kind="range"))
    return checks


@case("furth_msd_2d", source=FURTH,
      description="5000 free amoeboid cells (S 2 µm/min, P 5 min, dt 0.1 min) in 2-D under the OU and the TURN "
                  "motility laws: time-averaged MSD at 1-60 min and the long-time diffusion within 5 % of Fürth's "
                  "persistent random walk; sampling error and discretisation bias reported")
def furth_msd_2d() -> list[Check]:
    return furth_checks(2)


@case("furth_msd_3d", source=FURTH,
      description="as furth_msd_2d in 3-D (the MSD does not depend on the dimension; D = S² P / 3)")
def furth_msd_3d() -> list[Check]:
    return furth_checks(3)


# ---------------------------------------------------------------- b. mode speeds
def mode_speed_checks(*, n: int = 1000, seed: int = 2010) -> list[Check]:
    """Fürth fits to free amoeboid and mesenchymal tracks (the scenario's default law)."""
    from ..tissue.analysis import fit_furth, free_tracks, time_averaged_msd
    from ..tissue.scenario import tissue_library

    law = str(tissue_library().defaults()["motility.law"])
    fitted = {}
    frame = {}
    for mode in ("amoeboid", "mesenchymal"):
        speed, pers = _mode(mode)
        duration = 20.0 * pers
        with single_thread():
            _, pos = free_tracks(n, 2, speed, pers, law=law, dt=DT, duration=duration, save_every=1.0, seed=seed)
        lags = np.unique(np.rint(np.geomspace(1.0, 4.0 * pers, 25)).astype(int))
        m = time_averaged_msd(pos, lags)
        fitted[mode] = (speed, pers) + fit_furth(lags * 1.0, m)
        frame[mode] = math.sqrt(float(m[0]))  # µm per 1-min frame
    (s_am, p_am, fs_am, fp_am), (s_me, p_me, fs_me, fp_me) = fitted["amoeboid"], fitted["mesenchymal"]
    tissue = tissue_frame_speeds()
    return [
        Check("mesenchymal: Fürth-fitted speed (µm/min) in Friedl & Wolf's 0.1-1", (0.1, 1.0), fs_me, kind="range"),
        Check("amoeboid: Fürth-fitted speed (µm/min) in Friedl & Wolf's 0.1 (blebby) - 10 (pseudopodal)",
              (0.1, 10.0), fs_am, kind="range"),
        Check("amoeboid faster than mesenchymal (ratio of fitted speeds > 1)", (1.0, math.inf), fs_am / fs_me,
              kind="range"),
        Check("mesenchymal: speed over 1-min frames (µm/min) in 0.1-1", (0.1, 1.0), frame["mesenchymal"],
              kind="range"),
        Check("amoeboid: speed over 1-min frames (µm/min) in 0.1-10", (0.1, 10.0), frame["amoeboid"], kind="range"),
        Check("in the default tissue (beyond the edge, 6-12 h, 1-min frames): mesenchymal speed (µm/min) in 0.1-1",
              (0.1, 1.0), tissue["mesenchymal"], kind="range"),
        Check("in the default tissue: amoeboid speed (µm/min) in 0.1-10", (0.1, 10.0), tissue["amoeboid"],
              kind="range"),
        Check("in the default tissue: amoeboid faster than mesenchymal (ratio > 1)", (1.0, math.inf),
              tissue["amoeboid"] / tissue["mesenchymal"], kind="range"),
        Check(f"amoeboid: fitted speed = params speed.amoeboid {s_am:g} µm/min ±5%", s_am, fs_am, 0.05),
        Check(f"mesenchymal: fitted speed = params speed.mesenchymal {s_me:g} µm/min ±5%", s_me, fs_me, 0.05),
        Check(f"amoeboid: fitted persistence = params {p_am:g} min ±10%", p_am, fp_am, 0.10),
        Check(f"mesenchymal: fitted persistence = params {p_me:g} min ±10%", p_me, fp_me, 0.10),
    ]


def tissue_frame_speeds(*, seed: int = 0, start: float = 360.0, end: float = 720.0) -> dict[str, float]:
    """Mean speed (µm/min) per mode of tumour cells beyond the edge in the default tissue, measured
    like a time-lapse: displacement between consecutive 1-min snapshots from ``start`` to ``end``
    min, cells followed by id. Half amoeboid, half mesenchymal cells; CAFs untreated."""
    from ..cell.phenotype import MODES
    from ..tissue.model import CellInputs
    from ..tissue.scenario import default_tissue_scenario
    from ..tissue.simulate import simulate_tissue

    sc = default_tissue_scenario().with_parameters(simulation__duration=end, simulation__save_every=1.0,
                                                   signalling__path="population")
    cells = CellInputs({"amoeboid": 0.5, "mesenchymal": 0.5}, dividing_fraction=1.0, caf_contractility=1.0)
    with single_thread():
        res = simulate_tissue(sc, cells=cells, seed=seed)
    edge = float(sc["tumour.edge"]) + float(sc["tumour.radius"])
    steps = {k: [] for k in range(len(MODES))}
    snaps = res.snapshots[round(start):]
    for a, b in itertools.pairwise(snaps):
        row = {int(i): k for k, i in enumerate(a["ids"])}
        for k, i in enumerate(b["ids"]):
            j = row.get(int(i))
            if (j is None or b["kind"][k] != 0 or b["state"][k] != 0 or a["state"][j] != 0
                    or a["pos"][j, 0] < edge):
                continue
            steps[int(b["mode"][k])].append(float(np.linalg.norm(b["pos"][k] - a["pos"][j])))
    return {MODES[k]: float(np.mean(v)) if v else float("nan") for k, v in steps.items()}


@case("friedl_wolf_mode_speeds", source=FRIEDL_WOLF,
      description="free amoeboid and mesenchymal cells stepped by the engine with the params/cell.toml mode speeds "
                  "and persistences: Fürth-fitted speeds in Friedl & Wolf's ranges, amoeboid faster, and the "
                  "fit recovers the parameters; time-lapse speeds of invading cells in the default tissue also "
                  "in range")
def friedl_wolf_mode_speeds() -> list[Check]:
    return mode_speed_checks()


# ---------------------------------------------------------------- c, d. invasion (simulate_tissue)
def _invasion_stats(scenario, cells, seeds, *, depth_at: float | None = None) -> dict:
    """Pooled over seeds (one thread: see :func:`single_thread`): escape events and tumour-cell days
    over the whole run; per seed, the mean depth beyond the edge of the 10 deepest tumour cells (µm)
    at ``depth_at`` min (default: the end) and the final track fraction. The population path
    (``cells`` sets the phenotype), whatever the scenario says."""
    from ..tissue.simulate import simulate_tissue

    scenario = scenario.with_parameters(signalling__path="population")
    with single_thread():
        runs = [simulate_tissue(scenario, cells=cells, seed=s, snapshots=False) for s in seeds]
    depths = []
    for r in runs:
        ts = r.timeseries
        row = ts.iloc[-1] if depth_at is None else ts.iloc[int(np.argmin(np.abs(ts["time_min"] - depth_at)))]
        depths.append(float(row["depth_top10_um"]))
    return {
        "escapes": int(sum(r.summary["escape_events"] for r in runs)),
        "cell_days": float(sum(r.summary["tumour_cell_days"] for r in runs)),
        "depths": depths,
        "depth": float(np.mean(depths)),
        "tracks": [float(r.summary["track_fraction"]) for r in runs],
    }


def rate_ratio_p_value(events_a: int, exposure_a: float, events_b: int, exposure_b: float) -> float:
    """One-sided exact p-value that rate a < rate b (two Poisson counts): conditional on the total,
    ``events_a`` is binomial with ``p = exposure_a / (exposure_a + exposure_b)`` under equal rates."""
    from scipy import stats

    total = events_a + events_b
    if total == 0:
        return 1.0
    return float(stats.binom.cdf(events_a, total, exposure_a / (exposure_a + exposure_b)))


def inhibitor_checks(*, seeds=INVASION_SEEDS, duration: float = INHIBITOR_DURATION,
                     depth_at: float = INHIBITOR_DEPTH_AT) -> list[Check]:
    """Untreated vs a JAK1 and a ROCK inhibitor at ``IC50_MULTIPLE`` × the network's IC50 on the
    default edge run for ``duration`` min: depth of the front at ``depth_at`` min (before it reaches
    the vessel and the far wall) and escape rates pooled over the seeds and the whole run."""
    from ..cell import builtin_network
    from ..tissue.model import cell_inputs
    from ..tissue.scenario import default_tissue_scenario
    from ..tissue.simulate import poisson_rate_ci

    net = builtin_network()
    jaki = IC50_MULTIPLE * float(net.parameter("ic50_jak1").value)
    rocki = IC50_MULTIPLE * float(net.parameter("ic50_rock").value)
    base = default_tissue_scenario().with_parameters(simulation__duration=duration)
    conditions = {"untreated": {}, f"JAKi {jaki:g} nM": {"JAKi": jaki}, f"ROCKi {rocki:g} nM": {"ROCKi": rocki}}
    stats = {name: _invasion_stats(base.with_exposure(ex), cell_inputs(ex), seeds, depth_at=depth_at)
             for name, ex in conditions.items()}
    ctrl = stats["untreated"]
    rate_c = ctrl["escapes"] / ctrl["cell_days"]
    lo, hi = poisson_rate_ci(ctrl["escapes"], ctrl["cell_days"])
    checks = [Check(f"untreated: escapes pooled over {len(seeds)} seeds x {duration / 1440:g} d (rate {rate_c:.3g}"
                    f"/cell/day, 95% CI {lo:.3g}-{hi:.3g}) >= 20", (20, math.inf), ctrl["escapes"], kind="range")]
    for name in list(conditions)[1:]:
        s = stats[name]
        lo, hi = poisson_rate_ci(s["escapes"], s["cell_days"])
        checks += [
            Check(f"{name}: depth of the 10 deepest cells at {depth_at / 60:g} h / untreated < 1 (untreated "
                  f"{ctrl['depth']:.0f} µm, treated {s['depth']:.0f} µm)", (0.0, 1.0), s["depth"] / ctrl["depth"],
                  kind="range"),
            Check(f"{name}: escape rate / untreated < 1 ({s['escapes']} vs {ctrl['escapes']} events; treated "
                  f"95% CI {lo:.3g}-{hi:.3g}/cell/day)", (0.0, 1.0), (s["escapes"] / s["cell_days"]) / rate_c,
                  kind="range"),
            Check(f"{name}: one-sided exact p (escape rate lower than untreated) < 0.05", (0.0, 0.05),
                  rate_ratio_p_value(s["escapes"], s["cell_days"], ctrl["escapes"], ctrl["cell_days"]),
                  kind="range"),
        ]
    return checks


@case("tissue_inhibitors_lower_invasion", source=SANZ_MORENO, slow=True,
      description="default invasive edge (2-D) run for 2 days, 4 seeds per condition: a JAK1 and a ROCK inhibitor at "
                  "10x the network IC50 lower the depth of the invasion front at 1 day and the escape rate over 2 days "
                  "(pooled; exact conditional test of two Poisson rates)")
def tissue_inhibitors_lower_invasion() -> list[Check]:
    return inhibitor_checks()


def caf_track_checks(*, seeds=INVASION_SEEDS, duration: float = 1440.0) -> list[Check]:
    """All-mesenchymal tumour cells (they need tracks) with CAFs at default contractility vs none, on
    the default edge run for ``duration`` min."""
    from ..tissue.model import CellInputs
    from ..tissue.scenario import default_tissue_scenario

    base = default_tissue_scenario().with_parameters(simulation__duration=duration)
    cells = CellInputs({"mesenchymal": 1.0}, dividing_fraction=1.0, caf_contractility=1.0)
    with_tracks = _invasion_stats(base, cells, seeds)
    without = _invasion_stats(base.with_parameters(caf__contractility=0.0), cells, seeds)
    return [
        Check("CAFs at default contractility cut tracks (smallest track fraction over seeds > 0.05)",
              (0.05, 1.0), min(with_tracks["tracks"]), kind="range"),
        Check("caf.contractility = 0: no tracks (largest track fraction over seeds)", 0.0, max(without["tracks"]),
              0.0, kind="abs"),
        Check(f"depth of the 10 deepest mesenchymal cells, tracks / no tracks > 1.2 (no tracks "
              f"{without['depth']:.0f} µm)", (1.2, math.inf), with_tracks["depth"] / without["depth"], kind="range"),
        Check("every seed with tracks invades deeper than every seed without", True,
              min(with_tracks["depths"]) > max(without["depths"]), kind="true"),
    ]


@case("caf_tracks_raise_collective_invasion", source=GAGGIOLI, slow=True,
      description="all-mesenchymal tumour cells at the default edge, 4 seeds: CAF contractility cuts matrix tracks "
                  "(none when caf.contractility = 0) and the tracks let the cells invade deeper")
def caf_tracks_raise_collective_invasion() -> list[Check]:
    return caf_track_checks()


# ---------------------------------------------------------------- e, f. mechanics
def static_engine(pos, radius, kind, repulsion, adhesion, *, adhesion_range: float = 1.25, seed: int = 0):
    """A :class:`TissueEngine` of non-motile agents (speed 0) with the given pair coefficients,
    no walls, no matrix, in a box far larger than the cluster (µm)."""
    from ..tissue.engine import Agents, Mechanics, TissueEngine

    pos = np.asarray(pos, dtype=float)
    agents = Agents.from_columns(pos, radius=radius, kind=kind, speed=0.0, persist=5.0)
    mech = Mechanics(dt=DT, repulsion=np.asarray(repulsion, float), adhesion=np.asarray(adhesion, float),
                     adhesion_range=adhesion_range, walls=False)
    span = np.ptp(pos, axis=0).max() + 20.0 * float(np.max(radius))
    centre = pos.mean(axis=0)
    return TissueEngine(agents, centre - span, centre + span, mech, seed=seed)


def _positions_by_id(engine) -> np.ndarray:
    a = engine.agents
    return a.pos[:a.n][np.argsort(a.ids[:a.n])]


def hex_cluster(spacing: float, dims: int) -> np.ndarray:
    """A centre and its nearest lattice neighbours at ``spacing`` µm: a hexagon (2-D, 7 cells) or a
    cuboctahedron (3-D face-centred cubic shell, 13 cells); every neighbouring pair at ``spacing``."""
    if dims == 2:
        ang = np.arange(6) * np.pi / 3.0
        shell = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    else:
        shell = np.array([v for v in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).T.reshape(-1, 3)
                          if np.count_nonzero(v) == 2], dtype=float) / math.sqrt(2.0)
    return np.vstack([np.zeros((1, dims)), spacing * shell])


def _pair_distances(p: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=2)
    return d[np.triu_indices(len(p), 1)]


@case("mechanics_relaxation", source=PHYSICELL,
      description="non-motile cells: a compressed pair relaxes to the closed-form spacing where repulsion equals "
                  "adhesion (rel 1e-6; equal and unequal radii, homo- and heterotypic, 2-D and 3-D); compressed "
                  "hexagonal / cuboctahedral clusters relax to it at every contact and keep their centre of mass")
def mechanics_relaxation() -> list[Check]:
    from ..tissue.analysis import pair_equilibrium_distance

    rep, adh, het, rng_ = 10.0, 0.4, 0.8, 1.25
    c_rep = np.full((2, 2), rep)
    c_adh = np.array([[adh, het], [het, adh]])
    checks: list[Check] = []
    pairs = [("tumour-tumour, r 8.41 + 8.41", (8.41, 8.41), (0, 0), adh),
             ("tumour-CAF, r 8.41 + 6 (heterotypic)", (8.41, 6.0), (0, 1), het),
             ("CAF-CAF, r 5 + 7", (5.0, 7.0), (1, 1), adh)]
    with single_thread():
        for dims in (2, 3):
            # the pairs side by side, 100 µm apart (far beyond reach), in one engine
            pos = np.zeros((2 * len(pairs), dims))
            for k, (_, radii, _, _) in enumerate(pairs):
                pos[2 * k, 0] = pos[2 * k + 1, 0] = 100.0 * k
                pos[2 * k + 1, 0] += 0.6 * sum(radii)
                pos[2 * k + 1, 1] = 0.1 * sum(radii)  # off-axis: each pair relaxes along its own line
            radius = np.concatenate([p[1] for p in pairs])
            kind = np.concatenate([p[2] for p in pairs])
            eng = static_engine(pos, radius, kind, c_rep, c_adh, adhesion_range=rng_)
            eng.step(2000)  # 200 min, ~20 relaxation times
            p = _positions_by_id(eng)
            for k, (label, radii, _, c) in enumerate(pairs):
                d_star = pair_equilibrium_distance(sum(radii), rep, c, rng_)
                a, b = p[2 * k], p[2 * k + 1]
                checks.append(Check(f"{dims}-D pair {label}: distance (µm) = d* {d_star:.6g} (rel 1e-6)", d_star,
                                    float(np.linalg.norm(b - a)), 1e-6))
                checks.append(Check(f"{dims}-D pair {label}: its centre moved (µm) < 1e-9", 0.0,
                                    float(np.linalg.norm(0.5 * (a + b) - 0.5 * (pos[2 * k] + pos[2 * k + 1]))),
                                    1e-9, kind="abs"))
        rng = np.random.default_rng(7)
        for dims in (2, 3):
            d_star = pair_equilibrium_distance(2 * 8.41, rep, adh, rng_)
            shell = hex_cluster(0.85 * d_star, dims)
            pos = shell + rng.normal(scale=0.02 * d_star, size=shell.shape)
            eng = static_engine(pos, 8.41, 0, c_rep, c_adh, adhesion_range=rng_)
            com0 = pos.mean(axis=0)
            eng.step(5000)
            p = _positions_by_id(eng)
            d = _pair_distances(p)
            bonded = d < rng_ * 2 * 8.41
            n_bonds = 12 if dims == 2 else 36
            checks.append(Check(f"{dims}-D compressed cluster of {len(p)}: contacts after relaxation "
                                f"({n_bonds} in the lattice)", n_bonds, int(bonded.sum()), 0.0, kind="abs"))
            checks.append(Check(f"{dims}-D compressed cluster of {len(p)}: every contact at d* {d_star:.4g} µm "
                                "(max |d/d* − 1|)", 0.0, float(np.abs(d[bonded] / d_star - 1.0).max()), 1e-4,
                                kind="abs"))
            checks.append(Check(f"{dims}-D compressed cluster of {len(p)}: centre of mass moved (µm) < 1e-9", 0.0,
                                float(np.linalg.norm(p.mean(axis=0) - com0)), 1e-9, kind="abs"))
    return checks


def random_cluster(n: int, dims: int, *, seed: int = 0):
    """A dense random cluster of tumour cells and CAFs with radii 5-10 µm (overlapping; µm)."""
    rng = np.random.default_rng(seed)
    side = (n * (400.0 if dims == 2 else 5000.0)) ** (1.0 / dims) * 0.8
    pos = rng.uniform(0.0, side, size=(n, dims))
    radius = rng.uniform(5.0, 10.0, size=n)
    kind = (rng.random(n) < 0.3).astype(np.int8)
    return pos, radius, kind


#: Symmetric pair coefficients (µm/min) with distinct homo- and heterotypic values.
MIXED_REPULSION = np.array([[10.0, 12.0], [12.0, 8.0]])
MIXED_ADHESION = np.array([[0.4, 0.8], [0.8, 0.3]])


def _momentum_checks(pos, radius, kind, dims) -> list[Check]:
    eng = static_engine(pos, radius, kind, MIXED_REPULSION, MIXED_ADHESION)
    com0 = pos.mean(axis=0)
    eng.step(1)
    a = eng.agents
    v = a.vel[:a.n]
    scale = float(np.abs(v).sum())
    checks = [Check(f"{dims}-D: |sum of velocities| / sum of |velocities| after one step < 1e-13", 0.0,
                    float(np.linalg.norm(v.sum(axis=0))) / scale, 1e-13, kind="abs")]
    rebuilds = eng.rebuilds
    eng.step(499)
    p = _positions_by_id(eng)
    spread = float(np.linalg.norm(p - p.mean(axis=0), axis=1).mean())
    checks.append(Check(f"{dims}-D: centre of mass moved over 500 steps / mean distance from it < 1e-12", 0.0,
                        float(np.linalg.norm(p.mean(axis=0) - com0)) / spread, 1e-12, kind="abs"))
    checks.append(Check(f"{dims}-D: the neighbour lists were rebuilt (re-ordering exercised)", True,
                        eng.rebuilds > rebuilds, kind="true"))
    return checks


@case("pair_forces_momentum_free", source=PHYSICELL,
      description="non-motile mixed clusters (tumour cells and CAFs, radii 5-10 µm, heterotypic adhesion), 2-D and "
                  "3-D, no walls: velocities (= forces, overdamped) sum to zero to round-off and the centre of mass "
                  "stays put over 500 steps with neighbour-list rebuilds")
def pair_forces_momentum_free() -> list[Check]:
    checks: list[Check] = []
    for dims in (2, 3):
        pos, radius, kind = random_cluster(200, dims, seed=dims)
        with single_thread():
            checks += _momentum_checks(pos, radius, kind, dims)
    return checks
