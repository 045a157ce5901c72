"""The tissue-scale validation cases (``seedsoil.validate.cases_tissue``) pass.

The motility and mechanics cases run in full (seconds each); the invasion cases run many
one-day tissue simulations, so the default suite runs a two-seed variant of the CAF-track case
and the full invasion cases are marked slow.
"""
from __future__ import annotations

import pytest

from seedsoil.validate import all_cases, run_cases
from seedsoil.validate import cases_tissue as T

FAST = ["furth_msd_2d", "furth_msd_3d", "friedl_wolf_mode_speeds", "mechanics_relaxation",
        "pair_forces_momentum_free"]
SLOW = ["tissue_inhibitors_lower_invasion", "caf_tracks_raise_collective_invasion"]


def assert_passed(checks) -> None:
    failed = [(c.name, c.expected, c.got) for c in checks if not c.passed]
    assert not failed, failed


def test_tissue_cases_are_registered_with_sources():
    cases = all_cases()
    for name in FAST + SLOW:
        assert name in cases, name
        assert "doi:" in cases[name].source, name
    assert all(cases[n].slow for n in SLOW) and not any(cases[n].slow for n in FAST)


@pytest.fixture(scope="module")
def fast_results():
    """Each fast case run once for this module."""
    return {r.case.name: r for r in run_cases(FAST)}


@pytest.mark.parametrize("name", FAST)
def test_fast_tissue_case_passes(fast_results, name):
    res = fast_results[name]
    assert res.error is None, res.error
    assert res.checks
    assert_passed(res.checks)


@pytest.mark.parametrize("name", ["furth_msd_2d", "furth_msd_3d"])
def test_furth_cases_compare_both_laws_at_every_lag(fast_results, name):
    names = [c.name for c in fast_results[name].checks]
    for law in ("OU", "TURN"):
        assert sum(n.startswith(law) and "MSD(" in n and "Fürth" in n for n in names) == len(T.MSD_LAGS)
        assert any(n.startswith(law) and "sampling error" in n for n in names)


def test_caf_tracks_two_seed_variant():
    assert_passed(T.caf_track_checks(seeds=(0, 1)))


def test_rate_ratio_p_value():
    assert T.rate_ratio_p_value(0, 1.0, 10, 1.0) == pytest.approx(0.5 ** 10)
    assert T.rate_ratio_p_value(5, 1.0, 5, 1.0) > 0.5
    assert T.rate_ratio_p_value(0, 1.0, 0, 1.0) == 1.0
    # exposure matters: 10 events over 10 cell-days is a lower rate than 10 over 1
    assert T.rate_ratio_p_value(10, 10.0, 10, 1.0) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_slow_tissue_case_passes(name):
    (res,) = run_cases([name])
    assert res.error is None, res.error
    assert_passed(res.checks)
