"""Parameter recovery (seedsoil.fit.recovery) on a reduced mechanistic model with real engine solves:
one free solve parameter (the colonies' Gompertz rate constant, which sets when relapses come), lognormal shedding with a link on nodes,
a fixed subsample of Rotterdam untreated (T1/T2, every sixth patient: 321 patients)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seedsoil import data
from seedsoil.execute import LocalProcesses
from seedsoil.fit.estimate import MLEstimate
from seedsoil.fit.mechanistic import FreeParameter, MechanisticModel, ShedLink
from seedsoil.fit.recovery import (clopper_pearson, identifiability, likelihood_ratio_coverage, replicate_seed,
                                   run_recovery)
from seedsoil.scenario import default_scenario

REPLICATES = 3
SEED = 20261206


def _model() -> MechanisticModel:
    base = default_scenario().with_overrides({"colony.law": "gompertz"})
    return MechanisticModel(base, free=(FreeParameter("colony.gompertz.rate_constant", 1e-4, 1e-1, 0.00225),),
                            shed_links=(ShedLink("nodes", "positive_nodes"),), shedding_nodes=8)


def _cohort() -> pd.DataFrame:
    d = data.rotterdam_untreated()
    return d[d["size_category"].isin(["T1", "T2"])].iloc[::6].reset_index(drop=True)


def _truth(m: MechanisticModel) -> np.ndarray:
    # Gompertz rate at the real fit's start, median shedding multiplier e^-2, σ_shed 1.5, β_nodes 1
    return np.concatenate([m.solve_start(), [-2.0, math.log(1.5), 1.0]])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    m = _model()
    out = tmp_path_factory.mktemp("recovery")
    first = run_recovery(m, _truth(m), _cohort(), "recurrence_days", "recurrence_event", replicates=REPLICATES,
                         seed=SEED, out_dir=out, max_evaluations=40)
    return m, out, first


def test_estimates_recover_the_truth(study):
    m, _, rec = study
    tab = rec.table
    assert len(tab) == REPLICATES * len(m.names)
    assert (tab["se"] > 0).all() and np.isfinite(tab["se"]).all()
    # every estimate within 4 Wald SE of the truth
    z = (tab["estimate"] - tab["truth"]).abs() / tab["se"]
    assert z.max() < 4.0, tab[["replicate", "parameter", "truth", "estimate", "se"]]
    # the Wald SE matches the spread of the estimates: pooled over replicates × parameters, the RMS of
    # (estimate − truth) / SE is near 1 (loose: 0.3 to 2.5); per parameter, with 3 replicates the
    # empirical SD is itself uncertain to a factor ~2, so SD / SE only within 0.1 to 5
    assert 0.3 < float(np.sqrt(np.mean(z ** 2))) < 2.5, z
    ratio = rec.summary.set_index("parameter")["sd_over_se"]
    assert ((ratio > 0.1) & (ratio < 5.0)).all(), ratio
    assert set(rec.computed) == set(range(REPLICATES))
    events = [r["events"] for r in rec.records]
    assert min(events) > 50  # enough events that the fit means something


def test_rerun_resumes_without_new_evaluations(study):
    m, out, first = study
    again = run_recovery(m, _truth(m), _cohort(), "recurrence_days", "recurrence_event", replicates=REPLICATES,
                         seed=SEED, out_dir=out, max_evaluations=40)
    assert again.computed == []
    pd.testing.assert_frame_equal(again.table, first.table, check_exact=True)
    with pytest.raises(ValueError, match="different study"):
        run_recovery(m, _truth(m), _cohort(), "recurrence_days", "recurrence_event", replicates=REPLICATES,
                     seed=SEED + 1, out_dir=out, max_evaluations=40)


def test_results_do_not_depend_on_the_executor(study):
    m, _, first = study
    ex = LocalProcesses(2)
    try:
        par = run_recovery(m, _truth(m), _cohort(), "recurrence_days", "recurrence_event", replicates=2,
                           seed=SEED, executor=ex, max_evaluations=40)
    finally:
        ex.close()
    pd.testing.assert_frame_equal(par.table, first.table[first.table["replicate"] < 2].reset_index(drop=True),
                                  check_exact=True)
    assert replicate_seed(SEED, 0) != replicate_seed(SEED, 1)


def test_identifiability_finds_a_flat_direction():
    # information: θ0 + θ1 is not seen at all (eigenvalue 1e-6), θ0 − θ1 and θ2 are well determined
    v = np.array([[1, 1, 0], [1, -1, 0], [0, 0, math.sqrt(2)]], float).T / math.sqrt(2)
    info = v @ np.diag([1e-6, 50.0, 400.0]) @ v.T
    cov = np.linalg.inv(info)
    est = MLEstimate(["a", "b", "c"], np.zeros(3), cov, 0.0, 1, True)
    tab = identifiability(est).set_index("parameter")
    assert tab.loc["a", "status"] == "not identified" and tab.loc["b", "status"] == "not identified"
    assert tab.loc["c", "status"] == "pinned"
    assert tab.loc["c", "se"] == pytest.approx(0.05)
    assert tab.loc["a", "max_abs_corr"] > 0.99 and tab.loc["a", "most_correlated_with"] == "b"
    eig = tab.attrs["eigen"]
    assert eig["flat"].tolist() == [True, False, False]
    assert "a" in eig["loadings"].iloc[0] and "b" in eig["loadings"].iloc[0] and "c" not in eig["loadings"].iloc[0]
    # a weakly identified parameter: moderate SE
    est2 = MLEstimate(["x"], np.zeros(1), np.array([[1.0]]), 0.0, 1, True)
    assert identifiability(est2)["status"].iloc[0] == "weakly identified"


def test_likelihood_ratio_region(study):
    """On the identified reduced model every fit reaches at least the truth's likelihood, and
    the statistic 2 Δℓ is a plausible χ²_4 draw (each below its 99.9 % quantile, 18.5)."""
    m, _, rec = study
    lr = likelihood_ratio_coverage(rec.records)
    assert lr["k"] == len(m.names) == 4 and lr["replicates"] == REPLICATES
    assert lr["threshold"] == pytest.approx(9.4877, abs=1e-4)  # χ²_4 at 0.95
    assert lr["below_truth"] == 0
    d = [2 * (r["loglik"] - r["loglik_truth"]) for r in rec.records]
    assert max(d) < 18.47
    assert lr["covered"] == sum(x <= lr["threshold"] for x in d)
    # by hand on made-up records: statistics 1, 5, 30 against χ²_2 at 0.9 (4.605)
    fake = [{"names": ["a", "b"], "loglik": v / 2, "loglik_truth": 0.0} for v in (1.0, 5.0, 30.0)]
    out = likelihood_ratio_coverage(fake, level=0.9)
    assert out["covered"] == 1 and out["coverage"] == pytest.approx(1 / 3) and out["mean_statistic"] == 12.0
    assert (out["coverage_low"], out["coverage_high"]) == clopper_pearson(1, 3, 0.9)


def test_clopper_pearson():
    lo, hi = clopper_pearson(19, 20)
    assert lo == pytest.approx(0.7513, abs=1e-4) and hi == pytest.approx(0.9987, abs=1e-4)
    assert clopper_pearson(0, 10)[0] == 0.0 and clopper_pearson(10, 10)[1] == 1.0
