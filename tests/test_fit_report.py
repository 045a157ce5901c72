"""Posterior predictive checks (seedsoil.fit.report): the science, not only that it runs.

A synthetic cohort with exponential relapse times whose rate depends on the covariates (known
truth) and independent uniform censoring: the true survival functions pass the check, the
same with doubled rates fail it; the predicted hazard of an exponential model is its rate;
the subgroup masks partition the Rotterdam cohort; the report renders in headless Chromium.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seedsoil.fit.report import (COLUMNS, DAYS_PER_YEAR, HAZARD_BANDWIDTH_DAYS, plot_predictive_check,
                                 predictive_check, predictive_summary, smooth_increments, subgroups)
from seedsoil.report.fit import write_fit_report

N = 2000
GRID = np.arange(0.0, 12 * DAYS_PER_YEAR, 30.0)
CHROMIUM_TIMEOUT_S = 120


def cohort(seed: int = 20261206) -> tuple[pd.DataFrame, np.ndarray]:
    """Covariates like Rotterdam's, a per-patient rate (per day) from multiplicative effects,
    exponential event times, uniform censoring over 2–14 years."""
    rng = np.random.default_rng(seed)
    nodes = rng.choice([0, 1, 2, 3, 5, 9], size=N, p=[0.45, 0.15, 0.1, 0.05, 0.15, 0.1])
    data = pd.DataFrame({
        "positive_nodes": nodes,
        "size_category": rng.choice(["T1", "T2", "T3"], size=N, p=[0.45, 0.45, 0.1]),
        "grade": rng.choice([2, 3], size=N, p=[0.3, 0.7]),
        "menopause": rng.choice(["pre", "post"], size=N),
        "er": rng.choice(["negative", "positive"], size=N, p=[0.3, 0.7]),
    })
    rate_per_year = (0.05 * np.where(nodes == 0, 1.0, np.where(nodes <= 3, 2.0, 4.0))
                     * data["size_category"].map({"T1": 1.0, "T2": 1.4, "T3": 2.0}).to_numpy()
                     * np.where(data["grade"] == 3, 1.3, 1.0) * np.where(data["er"] == "negative", 1.2, 1.0))
    rate = rate_per_year / DAYS_PER_YEAR
    relapse = rng.exponential(1.0 / rate)
    censor = rng.uniform(2.0, 14.0, size=N) * DAYS_PER_YEAR
    data["days"] = np.minimum(relapse, censor)
    data["event"] = (relapse <= censor).astype(int)
    return data, rate


def exponential_curves(rate: np.ndarray, draws: int = 30, spread: float = 0.03, seed: int = 7) -> np.ndarray:
    """(draws × patients × times) exp(−k_d rate t): draw 0 the truth, the others the rates scaled
    by a common factor k_d = exp(N(0, spread²)) (parameter uncertainty of a few per cent)."""
    k = np.exp(np.random.default_rng(seed).normal(0.0, spread, size=draws))
    k[0] = 1.0
    return np.exp(-k[:, None, None] * rate[None, :, None] * GRID[None, None, :])


@pytest.fixture(scope="module")
def synthetic():
    data, rate = cohort()
    return data, rate


@pytest.fixture(scope="module")
def true_check(synthetic):
    data, rate = synthetic
    return predictive_check(exponential_curves(rate), "days", "event", data, GRID)


@pytest.fixture(scope="module")
def wrong_check(synthetic):
    data, rate = synthetic
    return predictive_check(exponential_curves(2.0 * rate), "days", "event", data, GRID)


def followed(check: pd.DataFrame) -> pd.DataFrame:
    """Rows past day 0 with at least 20 patients at risk (where the KM estimate means something)."""
    return check[(check["day"] > 0) & (check["at_risk"] >= 20)]


# --------------------------------------------------------------------------- the check itself
def test_table_has_every_subgroup_and_column(true_check, synthetic):
    data, _ = synthetic
    assert list(true_check.columns) == COLUMNS
    groups = subgroups(data)
    assert set(true_check["subgroup"]) == {"all" if v == "all" else f"{v}: {lvl}"
                                           for v, levels in groups.items() for lvl in levels}
    assert set(true_check["variable"]) == {"all", "nodes", "size_category", "grade", "menopause", "er"}
    for (_, lvl), g in true_check.groupby(["variable", "level"]):
        assert np.array_equal(g["day"].to_numpy(), GRID)
        assert (g["predicted_low"] <= g["predicted"] + 1e-12).all() and (g["predicted"] <= g["predicted_high"] + 1e-12).all()
        # the predictive band contains the parameter band (it adds the sampling error)
        assert (g["predictive_low"] <= g["predicted_low"] + 1e-9).all()
        assert (g["predictive_high"] >= g["predicted_high"] - 1e-9).all()
    everyone = true_check[true_check["variable"] == "all"]
    assert everyone["patients"].iloc[0] == N and everyone["events"].iloc[0] == data["event"].sum()


def test_predicted_is_the_population_average_of_the_draws(synthetic):
    """With one draw the prediction is exactly the subgroup mean of the patients' curves (not the
    curve at the mean rate) and the band collapses onto it."""
    data, rate = synthetic
    curves = exponential_curves(rate, draws=1)
    check = predictive_check(curves, data["days"].to_numpy(), data["event"].to_numpy(), data, GRID)
    mask = subgroups(data)["nodes"][">=4"]
    rows = check[check["subgroup"] == "nodes: >=4"]
    np.testing.assert_allclose(rows["predicted"], curves[0, mask].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(rows["predicted_low"], rows["predicted_high"], rtol=1e-12)
    assert not np.allclose(rows["predicted"], np.exp(-rate[mask].mean() * GRID), rtol=1e-3)


def test_true_model_lies_within_the_predictive_band(true_check):
    """The data-generating survival functions: the observed KM falls within the 95 % posterior
    predictive band at most grid points (pointwise 95 %, so not all) in every subgroup."""
    rows = followed(true_check)
    inside = (rows["km"] >= rows["predictive_low"]) & (rows["km"] <= rows["predictive_high"])
    assert inside.mean() > 0.9, inside.mean()
    per_group = inside.groupby(rows["subgroup"]).mean()
    assert per_group.min() > 0.6, per_group.sort_values().head()
    # the KM band (sampling error only) also covers the truth at most points
    truth = (rows["km_low"] <= rows["predicted"]) & (rows["predicted"] <= rows["km_high"])
    assert truth.mean() > 0.9


def test_summary_flags_the_true_model_as_covered(true_check):
    summary = predictive_summary(true_check)
    assert set(summary["years"]) == {2.0, 5.0, 10.0}
    n_groups = true_check["subgroup"].nunique()
    assert n_groups == 13
    assert len(summary) >= 3 * n_groups - 3  # every subgroup at every horizon (a few lack 10-year follow-up)
    assert (np.abs(summary["day"] - summary["years"] * DAYS_PER_YEAR) <= 15.0).all()
    assert summary["covered"].mean() >= 0.9, summary.loc[~summary["covered"], ["subgroup", "years", "km",
                                                                              "predictive_low", "predictive_high"]]
    assert summary.loc[summary["variable"] == "all", "covered"].all()


def test_doubled_rates_are_flagged_as_misfit(wrong_check):
    """The same cohort against survival functions with twice the true rates: the observed KM lies
    above the predictive band nearly everywhere after the first months, and the summary says so."""
    rows = followed(wrong_check)
    rows = rows[rows["day"] >= DAYS_PER_YEAR]
    above = rows["km"] > rows["predictive_high"]
    assert above.mean() > 0.9, above.mean()
    summary = predictive_summary(wrong_check)
    assert summary["covered"].mean() < 0.15
    assert not summary.loc[summary["variable"] == "all", "covered"].any()
    assert (summary["km"] > summary["predicted_high"]).mean() > 0.9


# --------------------------------------------------------------------------- hazards
def test_predicted_hazard_of_an_exponential_model_is_its_rate():
    """S(t) = exp(−λt) for everyone: away from the edges (one bandwidth) the smoothed hazard is λ
    to the kernel's quadrature error; within a bandwidth of day 0 it dips to about λ/2 (no
    boundary correction), as the observed Nelson–Aalen hazard does."""
    rate = 0.1 / DAYS_PER_YEAR
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"positive_nodes": rng.integers(0, 6, size=500),
                         "er": rng.choice(["negative", "positive"], size=500)})
    days = rng.exponential(1 / rate, size=500)
    curves = np.exp(-rate * GRID)[None, None, :].repeat(500, axis=1)
    check = predictive_check(curves, np.minimum(days, GRID[-1]), days < GRID[-1], data, GRID)
    inner = (check["day"] >= HAZARD_BANDWIDTH_DAYS) & (check["day"] <= GRID[-1] - HAZARD_BANDWIDTH_DAYS)
    np.testing.assert_allclose(check.loc[inner, "hazard_predicted"], rate, rtol=5e-3)
    at_zero = check.loc[check["day"] == 0, "hazard_predicted"]
    np.testing.assert_allclose(at_zero, rate / 2, rtol=0.1)


def test_smoothing_equals_lifelines_nelson_aalen(synthetic):
    """The observed hazard is lifelines' smoothed_hazard_ on the grid; smooth_increments is the same sum."""
    from lifelines import NelsonAalenFitter

    data, _ = synthetic
    naf = NelsonAalenFitter().fit(data["days"], data["event"], timeline=GRID)
    expected = naf.smoothed_hazard_(HAZARD_BANDWIDTH_DAYS).to_numpy()[:, 0]
    ours = smooth_increments(naf.cumulative_hazard_.to_numpy()[:, 0], GRID, HAZARD_BANDWIDTH_DAYS)
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-15)


def test_observed_hazard_tracks_the_predicted_hazard_of_the_truth(true_check, wrong_check):
    rows = true_check[(true_check["variable"] == "all") & (true_check["day"] >= DAYS_PER_YEAR)
                      & (true_check["day"] <= 9 * DAYS_PER_YEAR)]
    ratio = rows["hazard_observed"] / rows["hazard_predicted"]
    assert 0.8 < ratio.median() < 1.2 and ratio.between(0.6, 1.5).all()
    wrong = wrong_check.loc[rows.index]
    assert (wrong["hazard_observed"] / wrong["hazard_predicted"]).median() < 0.65


# --------------------------------------------------------------------------- subgroups on Rotterdam
def test_subgroup_masks_partition_rotterdam():
    from seedsoil.data import rotterdam_untreated

    df = rotterdam_untreated()
    groups = subgroups(df)
    n = len(df)
    assert groups["all"]["all"].all() and groups["all"]["all"].sum() == n
    assert set(groups) == {"all", "nodes", "size_category", "grade", "menopause", "er"}
    assert list(groups["nodes"]) == ["0", "1-3", ">=4"]
    assert list(groups["size_category"]) == ["T1", "T2", "T3"]
    assert list(groups["grade"]) == ["2", "3"]  # Rotterdam has grades 2 and 3 only
    assert list(groups["menopause"]) == ["pre", "post"] and list(groups["er"]) == ["negative", "positive"]
    for variable, levels in groups.items():
        masks = np.stack(list(levels.values()))
        assert (masks.sum(axis=0) == 1).all(), f"{variable}: not a partition"
        assert all(m.sum() >= 20 for m in masks)
    nodes = df["positive_nodes"].to_numpy()
    assert groups["nodes"]["0"].sum() == (nodes == 0).sum()
    assert groups["nodes"][">=4"].sum() == (nodes >= 4).sum()


def test_small_subgroups_are_skipped():
    data = pd.DataFrame({"positive_nodes": [0] * 30 + [2] * 19 + [6] * 25, "er": ["positive"] * 74})
    groups = subgroups(data)
    assert list(groups["nodes"]) == ["0", ">=4"]
    assert list(groups["er"]) == ["positive"]


# --------------------------------------------------------------------------- figures and page
def test_plot_writes_a_png(true_check, tmp_path):
    path = plot_predictive_check(true_check, tmp_path / "ppc.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


@pytest.fixture(scope="module")
def report(true_check, tmp_path_factory):
    summary = predictive_summary(true_check)
    estimates = pd.DataFrame({"parameter": ["log rate", "log shedding sd"], "estimate": [-3.0, 0.2],
                              "low": [-3.1, 0.1], "high": [-2.9, 0.3]})
    path = write_fit_report(tmp_path_factory.mktemp("fit-report"), title="Synthetic <cohort>", estimates=estimates,
                            check=true_check, summary=summary, extra_html="<p id='extra'>more</p>")
    return path, path.read_text(encoding="utf-8")


def test_report_is_self_contained(report):
    path, html = report
    assert path.name == "report.html"
    assert "Synthetic &lt;cohort&gt;" in html and "<p id='extra'>more</p>" in html
    assert html.count('src="data:image/svg+xml;base64,') == 2
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html
    assert "log shedding sd" in html and "covered" in html
    assert not list(path.parent.glob(".*.tmp"))


def test_report_renders_in_headless_chromium(report, tmp_path):
    from seedsoil.testing import chromium, render_in_chromium

    if chromium() is None:
        pytest.skip("chromium is not installed (CI installs it in .ci/run; locally: apt-get install chromium)")
    path, _ = report
    page = render_in_chromium(path, tmp_path, timeout_s=CHROMIUM_TIMEOUT_S)
    assert not page.console_errors, "\n".join(page.console_errors)
    pixels = page.pixels
    assert pixels.std() > 0.05, "the screenshot is blank"
    assert page.non_white_fraction > 0.03
    assert not math.isclose(pixels[1000:2000].std(), 0.0)


def test_one_draw_as_a_matrix_and_bad_input(synthetic):
    data, rate = synthetic
    curves = exponential_curves(rate, draws=1)
    two_d = predictive_check(curves[0], "days", "event", data, GRID)
    three_d = predictive_check(curves, "days", "event", data, GRID)
    pd.testing.assert_frame_equal(two_d, three_d)
    with pytest.raises(ValueError, match="shape"):
        predictive_check(curves[:, :10], "days", "event", data, GRID)
    with pytest.raises(ValueError, match="increasing"):
        predictive_check(curves[..., ::-1], "days", "event", data, GRID[::-1])
    with pytest.raises(ValueError, match="level"):
        predictive_check(curves, "days", "event", data, GRID, level=1.5)


def test_followup_beyond_the_data_is_blank_and_not_summarised(synthetic):
    """Past the last observed time the KM and the observed hazard are NaN (not carried forward),
    and no horizon is summarised where fewer than MIN_AT_RISK patients remain."""
    data, rate = synthetic
    short = data.assign(days=np.minimum(data["days"], 6 * DAYS_PER_YEAR))
    short["event"] = np.where(data["days"] > 6 * DAYS_PER_YEAR, 0, data["event"])
    check = predictive_check(exponential_curves(rate, draws=3), "days", "event", short, GRID)
    late = check["day"] > 6 * DAYS_PER_YEAR
    assert check.loc[late, "km"].isna().all() and check.loc[late, "hazard_observed"].isna().all()
    assert check.loc[~late, "km"].notna().all()
    assert set(predictive_summary(check)["years"]) == {2.0, 5.0}
