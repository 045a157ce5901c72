"""The validation cases of the tissue's chemistry (``seedsoil.validate.cases_fields``) pass.

The closed-form and hysteresis cases run in full (seconds); the drug-penetration case runs on a
half-height edge, and the fibroblast-cytokine invasion case (slow: 8 one-day runs) on two seeds for
six hours."""
from __future__ import annotations

import pytest

from seedsoil.validate import all_cases, run_cases
from seedsoil.validate import cases_fields as F

FAST = ["diffusion_closed_forms", "drug_penetration_from_the_vessel", "tissue_switch_hysteresis"]
SLOW = ["fibroblast_cytokine_drives_invasion"]


def assert_passed(checks) -> None:
    failed = [(c.name, c.expected, c.got) for c in checks if not c.passed]
    assert not failed, failed
    assert checks


def test_cases_are_registered_with_sources():
    cases = all_cases()
    for name in FAST + SLOW:
        assert name in cases and "doi:" in cases[name].source, name
    assert all(cases[n].slow for n in SLOW) and not any(cases[n].slow for n in FAST)


@pytest.mark.parametrize("name", ["diffusion_closed_forms", "tissue_switch_hysteresis"])
def test_case_passes(name):
    (res,) = run_cases([name])
    assert res.error is None, res.error
    assert_passed(res.checks)


def test_drug_penetration_on_a_narrower_edge():
    checks = F.penetration_checks(height="300 um")
    assert_passed(checks)
    # the scheme's own steady state is met to round-off, not merely within a tolerance
    exact = [c for c in checks if "scheme's own steady state" in c.name]
    assert len(exact) == 2 and all(c.got < 1e-9 for c in exact)


def test_fibroblast_cytokine_two_seed_short_variant():
    assert_passed(F.cytokine_checks(seeds=(0, 1), duration=360.0))
