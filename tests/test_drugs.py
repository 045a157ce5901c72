"""Drug presets in the patient (seedsoil.coupling): exposure → cell phenotype → body factors."""
from __future__ import annotations

import numpy as np
import pytest

from seedsoil import Scenario, load_scenario
from seedsoil.body import hooks
from seedsoil.coupling import default_drugs
from seedsoil.coupling import effects as drugs
from seedsoil.body.model import build_inputs
from seedsoil.pharm import preset
from seedsoil.validate.cases_luzzi import examples_dir


def test_presets_are_usable_in_scenarios_by_name():
    sc = Scenario.from_dict({"therapy": [{"kind": "drug", "drug": "ruxolitinib", "dose": "20 mg", "interval": "12 h",
                                          "start": "0 day", "duration": "4 week", "relative_to": "start"}]})
    assert sc.therapies[0].drug == "ruxolitinib"
    assert "ruxolitinib" in sc.drugs and "anakinra" in default_drugs()


def test_step_average_is_not_aliased_by_the_dosing_interval():
    """q12h dosing on a 1-day step: the factor is the mean over the day, whatever the phase."""
    d = hooks.Dosing("ruxolitinib", 20.0, 0.5, 0.0, 30.0)
    mid = np.arange(5.0, 15.0) + 0.5
    stepped = drugs.factors(mid, [d], step=1.0, library=default_drugs())["immune_kill_factor"]
    fine_t = np.arange(5.0, 15.0, 1 / 2400) + 1 / 4800
    fine = drugs.factors(fine_t, [d], library=default_drugs())["immune_kill_factor"].reshape(10, -1).mean(axis=1)
    np.testing.assert_allclose(stepped, fine, rtol=3e-3)  # midpoint rule on 30-min sub-steps
    # steady state: every day has the same mean; the midpoint value alone would not be the mean
    assert np.ptp(stepped) < 1e-3
    point = drugs.factors(mid, [d], library=default_drugs())["immune_kill_factor"]
    assert abs(point[0] - stepped[0]) > 0.01


def test_jak_inhibitor_lowers_invasion_and_nk_killing_and_wears_off():
    sc = load_scenario(examples_dir() / "breast_surgery.toml").with_settings(
        therapy=[{"kind": "drug", "drug": "ruxolitinib", "dose": "20 mg", "interval": "12 h", "start": "300 day",
                  "duration": "100 day", "relative_to": "start"}])
    inp = build_inputs(sc)
    t = inp.t[:-1]
    on = (t >= 301) & (t < 399)
    off = (t < 299) | (t > 402)
    assert np.all(inp.invasion_factor[on] < 0.95) and np.all(inp.immune_kill_factor[on] < 0.9)
    np.testing.assert_allclose(inp.invasion_factor[off], 1.0, atol=1e-6)
    np.testing.assert_allclose(inp.immune_kill_factor[off], 1.0, atol=1e-6)


def test_higher_dose_acts_more():
    t = np.array([10.5])
    lo = drugs.factors(t, [hooks.Dosing("ruxolitinib", 5.0, 0.5, 0.0, 20.0)], step=1.0, library=default_drugs())
    hi = drugs.factors(t, [hooks.Dosing("ruxolitinib", 100.0, 0.5, 0.0, 20.0)], step=1.0, library=default_drugs())
    assert hi["immune_kill_factor"][0] < lo["immune_kill_factor"][0] < 1.0
    assert hi["invasion_factor"][0] < lo["invasion_factor"][0] < 1.0


def test_il1r_antagonist_removes_the_dormancy_signal():
    f = drugs.factors(np.array([5.5]), [hooks.Dosing("anakinra", 100.0, 1.0, 0.0, 20.0)], step=1.0, library=default_drugs())
    assert f["dormancy_signal_factor"][0] < 0.5
    assert f["invasion_factor"][0] == 1.0 and f["immune_kill_factor"][0] == 1.0


def test_rock_inhibitor_lowers_invasion_only():
    f = drugs.factors(np.array([5.5]), [hooks.Dosing("fasudil", 30.0, 1 / 3, 0.0, 20.0)], step=1.0, library=default_drugs())
    assert f["invasion_factor"][0] < 0.9
    assert f["immune_kill_factor"][0] == 1.0 and f["dormancy_signal_factor"][0] == 1.0


def test_network_equivalent_matches_the_drug_potency():
    """A drug at its own JAK1 IC50 leaves half the activity: the network input at ic50_jak1."""
    rux = preset("ruxolitinib")
    a = rux.activity("JAK1", rux.targets["JAK1"].ic50_nM)
    from seedsoil.cell import builtin_network

    ic50 = builtin_network().parameter("ic50_jak1").value
    assert drugs._network_equivalent(np.asarray(a), ic50) == pytest.approx(ic50)


def test_motility_curve_is_monotone_in_dose():
    grid, mot = drugs.motility_curve("ROCKi")
    assert mot[0] == pytest.approx(1.0)
    assert np.all(np.diff(mot) <= 1e-9)


def test_drugs_after_surgery_example_runs_each_variant():
    """The example's variants load, and in the mean-field patient the JAK inhibitor (NK cost only after
    surgery) and the IL-1R antagonist (wakes dormant cells) both raise the metastatic burden."""
    base = load_scenario(examples_dir() / "drugs_after_surgery.toml").with_settings(
        simulation={"follow_up": "3 year", "engine": "meanfield"}, output={"report": False})
    from seedsoil import simulate

    def burden(sc):
        return float(simulate(sc).timeseries["metastatic_cells"].iloc[-1])

    ctrl = burden(base)
    assert base.variant_names() == ["ruxolitinib 12 months", "anakinra 12 months", "fasudil 12 months"]
    assert burden(base.variant("ruxolitinib 12 months")) > ctrl
    assert burden(base.variant("anakinra 12 months")) > ctrl
    # no primary left to shed: a ROCK inhibitor changes (almost) nothing after surgery; the residue is the
    # step containing surgery, whose shedding before the resection sees the step-averaged drug factor
    assert burden(base.variant("fasudil 12 months")) == pytest.approx(ctrl, rel=1e-3)
