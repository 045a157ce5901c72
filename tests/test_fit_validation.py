"""External validation of the library population (seedsoil.fit.validation): Rotterdam's untreated
patients → GBSG-2, beside the Cox model, with the calibration tests."""
from __future__ import annotations

import numpy as np
import pytest

from seedsoil.fit.fitted import load_population
from seedsoil.fit.run import cohort_table
from seedsoil.fit.validation import external_validation

YEAR = 365.25


@pytest.fixture(scope="module")
def validation():
    pop = load_population("rotterdam_untreated")
    train = cohort_table("rotterdam", "untreated")
    test = cohort_table("gbsg", "all")
    return external_validation(pop, train, test, calibration_simulations=200, seed=7, train_name="rotterdam",
                               test_name="gbsg")


def test_library_population_reproduces_its_recorded_validation(validation):
    """The figures docs/fit.md and benchmarks/bench_fit.py report for the library population
    (Harrell's C 0.673 against Cox's 0.665 on GBSG-2)."""
    f = validation.figures()
    assert f["c_index_external"] == pytest.approx(0.673, abs=0.001)
    assert f["cox_c_index_external"] == pytest.approx(0.6652, abs=0.0005)
    assert f["c_index_external"] >= f["cox_c_index_external"] - 0.01 and f["c_index_external"] >= 0.65


def test_calibration_tests_are_consistent_with_the_tables(validation):
    t = validation.calibration_test()
    assert len(t) == 4 and set(t["df"]) == {3}
    for r in t.itertuples():
        sc = validation.model if r.model == validation.model.model else validation.cox
        e = validation.null_errors[(r.model, r.horizon)]
        assert e.shape == (200,) and np.all(e >= 0)
        assert r.max_error == sc.calibration_max_error[sc.horizons.index(r.horizon)]
        assert r.null_p == pytest.approx(np.mean(e >= r.max_error))
        assert 0 <= r.p_value <= 1 and r.min_events >= 5
    f = validation.figures()
    five = t[(t["model"] == validation.model.model) & np.isclose(t["horizon"], 5 * YEAR)].iloc[0]
    assert f["calibration_gnd_p_5y"] == five["p_value"] and f["calibration_null_p_5y"] == five["null_p"]
    # GBSG's 686 patients cannot resolve 5 points per quartile: a perfectly calibrated model's
    # largest 5-year quartile error is above 0.03 in most simulated cohorts
    assert np.median(validation.null_errors[(validation.model.model, 5 * YEAR)]) > 0.03


def test_null_errors_are_seeded_per_model_and_horizon(validation):
    """Each (model, horizon) has its own stream, spawned from the seed: recomputing one gives the
    same errors bit for bit, and the streams differ."""
    from seedsoil.cohort.validation_metrics import perfect_calibration_errors

    test = cohort_table("gbsg", "all")
    h = 5 * YEAR
    seed = int(np.random.SeedSequence(7, spawn_key=(0, 1)).generate_state(1)[0])
    again = perfect_calibration_errors(validation.survival, validation.grid, test["rfs_days"], test["rfs_event"],
                                       horizon=h, simulations=200, seed=seed)
    np.testing.assert_array_equal(again, validation.null_errors[(validation.model.model, h)])
    assert not np.array_equal(validation.null_errors[(validation.model.model, h)],
                              validation.null_errors[(validation.cox.model, h)])
