"""Validation cases for the cell scale (``seedsoil.cell``): published directions of effect,
the hysteresis of the Rac1/RhoA switch, and the IL-1β → ZEB1 dormancy switch.

The rate constants of the built-in network are order-of-magnitude assumptions
(see its TOML file), so these cases check directions and time scales, not
percentages: a change of parameters that breaks one of them breaks the biology.
"""
from __future__ import annotations

import numpy as np

from seedsoil.validate import Check, case

SANZ_MORENO = ("Sanz-Moreno V et al. ROCK and JAK1 signaling cooperate to control actomyosin contractility in "
               "tumor cells and stroma. Cancer Cell 2011;20(2):229-245. doi:10.1016/j.ccr.2011.06.018")
BYRNE = ("Byrne KM et al. Bistability in the Rac1, PAK, and RhoA signaling network drives actin cytoskeleton "
         "dynamics and cell motility switches. Cell Syst 2016;2(1):38-48. doi:10.1016/j.cels.2016.01.003")
CASTANO = ("Castaño Z et al. IL-1β inflammatory response driven by primary breast cancer prevents metastasis-"
           "initiating cell colonization. Nat Cell Biol 2018;20(9):1084-1097. doi:10.1038/s41556-018-0173-5")

#: Cells per population in these cases (mode fractions to about ±1.5 %).
N_CELLS = 1000
#: Drug levels, network units (nM): a saturating JAK1 inhibitor and the usual in-vitro Y-27632 (10 µM).
JAKI_NM = 100.0
ROCKI_NM = 10_000.0
#: IL-1β for the dormancy case: 0.1 nM ≈ 1.7 ng/mL, the order used on cells in vitro.
IL1B_NM = 0.1


@case("sanz_moreno_2011_direction", source=SANZ_MORENO,
      description="JAK1 inhibition lowers pMLC2 and the amoeboid fraction; ROCK inhibition lowers pSTAT3 through the "
           "contractility feedback; cutting the feedback removes that effect")
def sanz_moreno_direction() -> list[Check]:
    from seedsoil.cell import builtin_network
    from seedsoil.cell.phenotype import phenotype_response

    net = builtin_network()
    ctrl = phenotype_response({}, n_cells=N_CELLS)
    jak = phenotype_response({"JAKi": JAKI_NM}, n_cells=N_CELLS)
    rock = phenotype_response({"ROCKi": ROCKI_NM}, n_cells=N_CELLS)
    open_loop = net.with_parameters(a_feedback=0.0)
    rock_ol = phenotype_response({"ROCKi": ROCKI_NM}, network=open_loop, n_cells=N_CELLS)
    ctrl_ol = phenotype_response({}, network=open_loop, n_cells=N_CELLS)
    return [
        Check("untreated population is mostly amoeboid (rounded)", (0.5, 1.0), ctrl.amoeboid_fraction,
              kind="range"),
        Check("JAKi: pMLC2 / control < 0.9", (0.0, 0.9), jak.contractility / ctrl.contractility, kind="range"),
        Check("JAKi: amoeboid fraction falls by > 0.1", (0.1, 1.0),
              ctrl.amoeboid_fraction - jak.amoeboid_fraction, kind="range"),
        Check("ROCKi: pMLC2 / control < 0.5", (0.0, 0.5), rock.contractility / ctrl.contractility, kind="range"),
        Check("ROCKi: pSTAT3 / control < 0.97 (through the loop)", (0.0, 0.97), rock.pstat3 / ctrl.pstat3,
              kind="range"),
        Check("ROCKi without the loop: pSTAT3 unchanged (rel 1e-3)", 1.0, rock_ol.pstat3 / ctrl_ol.pstat3,
              tolerance=1e-3),
    ]


def rock_sweep(doses: np.ndarray, *, days: float = 3.0):
    """Steady RhoA along a ROCK-inhibitor sweep up (from a rounded cell) and down (from an elongated one)."""
    from seedsoil.cell import builtin_network
    from seedsoil.cell.solver import simulate_cells

    net = builtin_network()
    i_rho, i_rac = net.species_index["RhoA"], net.species_index["Rac1"]
    y = net.initial_state.copy()
    up = []
    for d in doses:
        y = simulate_cells(net, 1, inputs={"ROCKi": d}, t_span=(0, days), t_eval=2, initial=y).state.values[0, -1]
        up.append(y[i_rho])
    y = net.initial_state.copy()
    y[i_rho], y[i_rac] = 0.0, 0.8
    down = []
    for d in doses[::-1]:
        y = simulate_cells(net, 1, inputs={"ROCKi": d}, t_span=(0, days), t_eval=2, initial=y).state.values[0, -1]
        down.append(y[i_rho])
    return np.array(up), np.array(down[::-1])


@case("rac_rho_hysteresis", source=BYRNE,
      description="sweeping a ROCK inhibitor up then down gives two branches of the Rac1/RhoA switch over a window")
def rac_rho_hysteresis() -> list[Check]:
    doses = np.geomspace(0.3, 3e4, 21)
    up, down = rock_sweep(doses)
    differ = (up > 0.5) & (down < 0.5)
    up_switch = doses[np.argmax(up < 0.5)] if np.any(up < 0.5) else np.inf
    down_switch = doses[np.flatnonzero(down > 0.5)[-1]] if np.any(down > 0.5) else 0.0
    return [
        Check("rounded branch at no drug (RhoA > 0.5)", (0.5, 1.0), up[0], kind="range"),
        Check("elongated branch at the top dose (RhoA < 0.5)", (0.0, 0.5), up[-1], kind="range"),
        Check("branches differ at >= 3 doses (a window)", (3, len(doses)), int(differ.sum()), kind="range"),
        Check("switch-up dose / switch-down dose >= 3", (3.0, np.inf),
              up_switch / max(down_switch, 1e-12), kind="range"),
        Check("the cell returns to rounded at low dose (reversible)", (0.5, 1.0), down[0], kind="range"),
    ]


@case("castano_2018_zeb1", source=CASTANO,
      description="IL-1β high → ZEB1 high → non-dividing; IL-1R antagonist prevents it; removing IL-1β lets ZEB1 fall "
           "below the dormancy threshold within a day (the time scale set by ZEB1 turnover, t½ 12 h)")
def castano_zeb1() -> list[Check]:
    from seedsoil.cell import builtin_network
    from seedsoil.cell.phenotype import phenotype_parameters, phenotype_response
    from seedsoil.cell.solver import TimeCourse, simulate_cells

    thr = phenotype_parameters()["phenotype.zeb1_dormant"]
    ctrl = phenotype_response({}, n_cells=N_CELLS)
    il1 = phenotype_response({}, inputs={"IL1B": IL1B_NM}, n_cells=N_CELLS, pretreatment_days=0.0,
                             exposure_days=5.0)
    blocked = phenotype_response({"IL1Ra": 10.0}, inputs={"IL1B": IL1B_NM}, n_cells=N_CELLS,
                                 pretreatment_days=0.0, exposure_days=5.0)
    # withdrawal: 5 days in IL-1β, then none; time from withdrawal to ZEB1 < threshold
    net = builtin_network()
    t = np.linspace(0, 8, 8 * 96 + 1)
    ds = simulate_cells(net, 1, inputs={"IL1B": TimeCourse([0, 5, 5 + 1e-6], [IL1B_NM, IL1B_NM, 0.0])},
                        t_span=(0, 8), t_eval=t, rtol=1e-8, atol=1e-10)
    z = ds.state.sel(species="ZEB1").values[0]
    after = t > 5
    t_cross = t[after][np.argmax(z[after] < thr)] - 5 if np.any(z[after] < thr) else np.inf
    return [
        Check("no IL-1β: cells divide (fraction dividing)", (0.99, 1.0), ctrl.dividing_fraction, kind="range"),
        Check("IL-1β: cells dormant (fraction non-dividing)", (0.9, 1.0), il1.dormant_fraction, kind="range"),
        Check("IL-1β + IL-1R antagonist: cells divide", (0.9, 1.0), blocked.dividing_fraction, kind="range"),
        Check("ZEB1 falls below the threshold 6-36 h after IL-1β is removed (days)", (0.25, 1.5), t_cross,
              kind="range"),
    ]
