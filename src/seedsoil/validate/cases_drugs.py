"""Validation case: a JAK inhibitor changes metastasis with either sign, depending on the regime.

A JAK inhibitor acts twice in the patient (``seedsoil.coupling.effects``): it lowers
the shedding invasion factor (JAK1 → ROCK contractility, fewer cells leave; the
mechanism of Sanz-Moreno 2011), and it lowers NK-cell killing (Bottos 2016).

* **Fewer metastases** (Xin et al. 2011, AZD1480 reduced spontaneous lung
  metastasis): the drug is given while the primary tumour sheds and immune
  control of colonies is weak; the invasion effect wins.
* **More metastases** (Bottos et al. 2016, JAK inhibitors increased experimental
  metastasis after intravenous injection, NK-dependent): the cells are already in
  the blood (no primary, nothing to stop leaving) and NK cells control the
  colonies; the immune effect wins.

Both runs compare the same patient (same seed and random stream) with and without
ruxolitinib at its usual dose (20 mg twice daily), so the sign is not sampling noise;
the second also averages several seeds.
"""
from __future__ import annotations

import numpy as np

from seedsoil.validate import Check, case

XIN = ("Xin H et al. Antiangiogenic and antimetastatic activity of JAK inhibitor AZD1480. Cancer Res "
       "2011;71(21):6601-6610. doi:10.1158/0008-5472.CAN-11-1217")
BOTTOS = ("Bottos A et al. Decreased NK-cell tumour immunosurveillance consequent to JAK inhibition enhances "
          "metastasis in breast cancer models. Nat Commun 2016;7:12258. doi:10.1038/ncomms12258")

RUX = {"kind": "drug", "drug": "ruxolitinib", "dose": "20 mg", "interval": "12 h", "relative_to": "start"}
#: Seeds of the paired injection runs (Bottos regime).
INJECTION_SEEDS = (1, 2, 3, 4, 5)


def shedding_regime(with_drug: bool):
    """Breast primary (resected at 2 cm, ~day 740), drug from the start to 1 year after surgery; no immune
    killing of colonies (weak immune control)."""
    from seedsoil import load_scenario
    from seedsoil.validate.cases_luzzi import examples_dir

    sc = load_scenario(examples_dir() / "breast_surgery.toml")
    sc = sc.with_parameters(immune__kill_law="none")
    therapy = [{**RUX, "start": "0 day", "duration": "5 year"}] if with_drug else []
    return sc.with_settings(therapy=therapy, simulation={"follow_up": "1 year", "engine": "meanfield"},
                            output={"report": False})


def injection_regime(with_drug: bool):
    """Luzzi's intraportal injection (mouse liver, NK-controlled colonies), drug from day 0 for 13 days."""
    from seedsoil.validate.cases_luzzi import load

    sc = load()
    therapy = [{**RUX, "start": "0 day", "duration": "13 day"}] if with_drug else []
    return sc.with_settings(therapy=therapy, output={"report": False})


@case("jak_inhibitor_both_signs", source=f"{XIN}; {BOTTOS}",
      description="ruxolitinib lowers metastasis when it acts on shedding (primary present, weak immune "
                  "control) and raises it when it acts on NK killing (injected cells, NK-controlled colonies)")
def jak_inhibitor_both_signs() -> list[Check]:
    from seedsoil import simulate
    from seedsoil.body import hooks
    from seedsoil.coupling import default_drugs
    from seedsoil.coupling.effects import factors

    ctrl = simulate(shedding_regime(False))
    drug = simulate(shedding_regime(True))
    shed_ratio = drug.timeseries["cells_shed"].iloc[-1] / ctrl.timeseries["cells_shed"].iloc[-1]
    arrived_ratio = drug.timeseries["cells_arrived"].iloc[-1] / ctrl.timeseries["cells_arrived"].iloc[-1]
    burden_ratio = drug.timeseries["metastatic_cells"].iloc[-1] / ctrl.timeseries["metastatic_cells"].iloc[-1]

    macro_ctrl, macro_drug, cells_ctrl, cells_drug = [], [], [], []
    for seed in INJECTION_SEEDS:
        for with_drug, macro, cells in ((False, macro_ctrl, cells_ctrl), (True, macro_drug, cells_drug)):
            r = simulate(injection_regime(with_drug), seed=seed)
            col = r.colonies[r.colonies["state"] != "extinct"]
            macro.append(int((col["size"] >= 1e4).sum()))
            cells.append(float(r.timeseries["metastatic_cells"].iloc[-1]))
    kill = factors(np.array([6.5]), [hooks.Dosing("ruxolitinib", 20.0, 0.5, 0.0, 13.0)], step=1.0,
                   library=default_drugs())
    return [
        Check("primary sheds: drug / control, cells shed", (0.0, 0.9), shed_ratio, kind="range"),
        Check("primary sheds: drug / control, disseminated cells (fewer metastases)", (0.0, 0.9), arrived_ratio,
              kind="range"),
        Check("primary sheds: drug / control, metastatic cells 1 year after surgery", (0.0, 0.9), burden_ratio,
              kind="range"),
        Check("injection: NK killing factor under the drug < 0.9", (0.0, 0.9),
              float(kill["immune_kill_factor"][0]), kind="range"),
        Check("injection: macroscopic metastases, drug / control > 1.2 (more metastases)", (1.2, np.inf),
              sum(macro_drug) / max(sum(macro_ctrl), 1), kind="range"),
        Check("injection: metastatic cells at day 13, drug / control > 1.2", (1.2, np.inf),
              sum(cells_drug) / max(sum(cells_ctrl), 1.0), kind="range"),
    ]
