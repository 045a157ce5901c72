"""Trial statistics: agreement with lifelines, with hand computations and with closed forms.

Three kinds of check:

* the wrappers equal direct lifelines calls (1e-10) on the Waltons data set;
* lifelines (through the wrappers) equals short independent NumPy implementations
  (product-limit KM and its log(-log) Greenwood band, observed-minus-expected log-rank,
  RMST as a sum of rectangles, Aalen–Johansen with ties);
* estimates on synthetic exponential trials recover known truths (hazard ratio,
  median ln2/λ, RMST (1 - e^{-λτ})/λ, cumulative incidence with competing risks,
  constant hazard).

All randomness comes from fixed-seed ``numpy.random.default_rng`` generators.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from seedsoil.cohort import stats
from seedsoil.cohort.stats import TrialDataError, TrialStatsWarning
from seedsoil.errors import SeedsoilError

lifelines = pytest.importorskip("lifelines")

TIGHT = dict(rtol=0, atol=1e-10)


# --------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def waltons() -> pd.DataFrame:
    """lifelines' Waltons data as a trial table; first-appearing arm is 'miR-137'."""
    from lifelines.datasets import load_waltons

    w = load_waltons()
    return pd.DataFrame({"patient": np.arange(len(w)), "arm": w["group"].to_numpy(),
                         "dmfs_days": w["T"].to_numpy(dtype=float), "dmfs_event": w["E"].to_numpy().astype(bool)})


def exponential_trial(rng: np.random.Generator, n: int, *, relapse_rate: float, death_rate: float,
                      hazard_ratio: float = 1.0, paired: bool = True, censor_max_days: float = 4000.0,
                      post_relapse_rate: float = 1 / 500) -> pd.DataFrame:
    """Two-arm trial with exponential relapse (cause 1) and death-before-relapse (cause 2).

    The treated arm multiplies the relapse hazard by ``hazard_ratio``. ``paired``: the
    same virtual patients (same uniforms) in both arms, as in a seedsoil cohort.
    """
    def draws():
        return {k: rng.random(n) for k in ("relapse", "death", "censor", "post")}

    control = draws()
    treated = control if paired else draws()
    frames = []
    for arm, u, hr in (("control", control, 1.0), ("treated", treated, hazard_ratio)):
        relapse = -np.log(u["relapse"]) / (relapse_rate * hr)
        death = -np.log(u["death"]) / death_rate
        censor = u["censor"] * censor_max_days
        first = np.minimum.reduce([relapse, death, censor])
        status = np.select([first == relapse, first == death], [1, 2], 0)
        death_after_relapse = relapse - np.log(u["post"]) / post_relapse_rate
        os_time = np.where(status == 1, np.minimum(death_after_relapse, censor), first)
        frames.append(pd.DataFrame({
            "patient": np.arange(n), "arm": arm,
            "dmfs_days": first, "dmfs_event": status > 0,
            "os_days": os_time, "os_event": np.where(status == 1, death_after_relapse <= censor, status == 2),
            "relapse_days": first, "relapse_status": status,
        }))
    return pd.concat(frames, ignore_index=True)


def product_limit(durations: np.ndarray, events: np.ndarray):
    """Hand KM: distinct event times, S after each, at-risk n_j, deaths d_j."""
    times = np.unique(durations[events])
    at_risk = np.array([(durations >= t).sum() for t in times], dtype=float)
    deaths = np.array([((durations == t) & events).sum() for t in times], dtype=float)
    return times, np.cumprod(1 - deaths / at_risk), at_risk, deaths


def step_value(times: np.ndarray, values: np.ndarray, t: float, before: float = 1.0) -> float:
    i = np.searchsorted(times, t, side="right")
    return before if i == 0 else float(values[i - 1])


# --------------------------------------------------------------------------- vs lifelines, vs hand
def test_km_equals_lifelines_and_hand_product_limit(waltons):
    from lifelines import KaplanMeierFitter

    curve = stats.km(waltons)
    assert list(curve.columns) == ["arm", "days", "survival", "ci_lower", "ci_upper", "at_risk"]
    assert list(pd.unique(curve["arm"])) == ["miR-137", "control"]
    z = norm.ppf(0.975)
    for arm, rows in waltons.groupby("arm"):
        mine = curve[curve["arm"] == arm]
        kmf = KaplanMeierFitter().fit(rows["dmfs_days"], rows["dmfs_event"])
        np.testing.assert_allclose(mine["days"], kmf.survival_function_.index, **TIGHT)
        np.testing.assert_allclose(mine["survival"], kmf.survival_function_.iloc[:, 0], **TIGHT)
        np.testing.assert_allclose(mine["ci_lower"], kmf.confidence_interval_.iloc[:, 0], **TIGHT)
        np.testing.assert_allclose(mine["ci_upper"], kmf.confidence_interval_.iloc[:, 1], **TIGHT)
        np.testing.assert_array_equal(mine["at_risk"], kmf.event_table["at_risk"])

        times, surv, n_j, d_j = product_limit(rows["dmfs_days"].to_numpy(), rows["dmfs_event"].to_numpy())
        greenwood = np.cumsum(d_j / (n_j * (n_j - d_j)))
        for t in (10.0, 30.0, 45.5, 60.0):
            s = step_value(times, surv, t)
            assert float(mine.loc[mine["days"] <= t, "survival"].iloc[-1]) == pytest.approx(s, abs=1e-12)
            # log(-log) Greenwood band: S^{exp(±z se)}, se = sqrt(V) / |log S|
            if 0 < s < 1:
                se = math.sqrt(step_value(times, greenwood, t, 0.0)) / abs(math.log(s))
                row = mine[mine["days"] <= t].iloc[-1]
                assert row["ci_lower"] == pytest.approx(s ** math.exp(z * se), abs=1e-10)
                assert row["ci_upper"] == pytest.approx(s ** math.exp(-z * se), abs=1e-10)


def test_censor_marks_sit_on_the_curve(waltons):
    marks = stats.censor_marks(waltons)
    assert list(marks.columns) == ["arm", "days", "survival", "n_censored"]
    for arm, rows in waltons.groupby("arm"):
        mine = marks[marks["arm"] == arm]
        assert mine["n_censored"].sum() == (~rows["dmfs_event"]).sum()
        times, surv, *_ = product_limit(rows["dmfs_days"].to_numpy(), rows["dmfs_event"].to_numpy())
        for day, s in zip(mine["days"], mine["survival"]):
            assert s == pytest.approx(step_value(times, surv, day), abs=1e-12)


def test_medians_equal_lifelines_and_first_crossing(waltons):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    table = stats.medians(waltons)
    assert list(table.columns) == ["arm", "n", "events", "median_days", "median_reached", "ci_lower", "ci_upper"]
    assert table["median_reached"].all()
    for arm, rows in waltons.groupby("arm"):
        mine = table[table["arm"] == arm].iloc[0]
        kmf = KaplanMeierFitter().fit(rows["dmfs_days"], rows["dmfs_event"])
        ci = median_survival_times(kmf.confidence_interval_)
        assert mine["median_days"] == kmf.median_survival_time_
        assert mine["ci_lower"] == ci.iloc[0, 0] and mine["ci_upper"] == ci.iloc[0, 1]
        assert (mine["n"], mine["events"]) == (len(rows), rows["dmfs_event"].sum())
        times, surv, *_ = product_limit(rows["dmfs_days"].to_numpy(), rows["dmfs_event"].to_numpy())
        assert mine["median_days"] == times[np.argmax(surv <= 0.5)]
        assert mine["ci_lower"] <= mine["median_days"] <= mine["ci_upper"]


def test_median_not_reached_is_inf():
    table = pd.DataFrame({"patient": range(4), "arm": "a", "dmfs_days": [10.0, 20, 30, 40],
                          "dmfs_event": [True, False, False, False]})
    med = stats.medians(table)
    assert math.isinf(med["median_days"].iloc[0])
    assert med["median_reached"].dtype == bool and not med["median_reached"].iloc[0]


def test_csv_frame_writes_unreached_times_as_empty_numeric_cells(tmp_path):
    """A median not reached is an empty cell in the CSV (read back as NaN in a float
    column), never the string "inf"; the *_reached column says why it is empty."""
    table = pd.DataFrame({"patient": range(8), "arm": ["a"] * 4 + ["b"] * 4,
                          "dmfs_days": [10.0, 20, 30, 40] * 2,
                          "dmfs_event": [True, False, False, False] + [True] * 4})
    med = stats.medians(table)
    assert math.isinf(med["median_days"].iloc[0]) and math.isfinite(med["median_days"].iloc[1])
    out = stats.csv_frame(med)
    assert math.isinf(med["median_days"].iloc[0])  # the input is not changed
    out.to_csv(tmp_path / "medians.csv", index=False)
    text = (tmp_path / "medians.csv").read_text()
    assert "inf" not in text
    back = pd.read_csv(tmp_path / "medians.csv")
    assert list(back.columns) == list(med.columns)
    assert back["median_days"].dtype == float and math.isnan(back["median_days"].iloc[0])
    assert back["median_days"].iloc[1] == med["median_days"].iloc[1]
    assert back["median_reached"].dtype == bool and list(back["median_reached"]) == [False, True]
    assert list(back["n"]) == [4, 4] and back["n"].dtype == np.int64


def test_logrank_equals_lifelines_and_observed_minus_expected(waltons):
    from lifelines.statistics import logrank_test

    table = stats.logrank(waltons, control="control")
    assert list(table.columns) == ["arm", "control", "test_statistic", "p_value"]
    assert table["arm"].tolist() == ["miR-137"]
    a = waltons[waltons["arm"] == "miR-137"]
    b = waltons[waltons["arm"] == "control"]
    direct = logrank_test(a["dmfs_days"], b["dmfs_days"], a["dmfs_event"], b["dmfs_event"])
    assert table["test_statistic"].iloc[0] == pytest.approx(direct.test_statistic, rel=1e-10)
    assert table["p_value"].iloc[0] == pytest.approx(direct.p_value, rel=1e-10)

    # by hand: (O - E)^2 / V with the hypergeometric variance, over distinct event times
    t, e, in_a = (waltons["dmfs_days"].to_numpy(), waltons["dmfs_event"].to_numpy(),
                  (waltons["arm"] == "miR-137").to_numpy())
    observed = expected = variance = 0.0
    for time in np.unique(t[e]):
        n, n_a = (t >= time).sum(), ((t >= time) & in_a).sum()
        d, d_a = ((t == time) & e).sum(), ((t == time) & e & in_a).sum()
        observed += d_a
        expected += d * n_a / n
        variance += d * (n_a / n) * (1 - n_a / n) * (n - d) / (n - 1) if n > 1 else 0.0
    chi2 = (observed - expected) ** 2 / variance
    assert table["test_statistic"].iloc[0] == pytest.approx(chi2, rel=1e-10)


@pytest.mark.parametrize("paired", [False, True])
def test_hazard_ratios_equal_lifelines_cox(waltons, paired):
    from lifelines import CoxPHFitter

    table = stats.hazard_ratios(waltons, control="control", paired=paired)
    assert list(table.columns) == ["arm", "control", "hr", "ci_lower", "ci_upper", "p_value"]
    design = pd.DataFrame({"T": waltons["dmfs_days"], "E": waltons["dmfs_event"],
                           "mir": (waltons["arm"] == "miR-137").astype(float), "id": waltons["patient"]})
    if not paired:
        design = design.drop(columns="id")
    direct = CoxPHFitter().fit(design, "T", "E", cluster_col="id" if paired else None).summary.loc["mir"]
    row = table.iloc[0]
    np.testing.assert_allclose(
        [row["hr"], row["ci_lower"], row["ci_upper"], row["p_value"]],
        [direct["exp(coef)"], direct["exp(coef) lower 95%"], direct["exp(coef) upper 95%"], direct["p"]],
        rtol=1e-10, atol=0)


def test_rmst_equals_lifelines_and_area_under_steps(waltons):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    horizon = 50.0
    table = stats.rmst(waltons, "dmfs", horizon, control="control")
    assert list(table.columns) == ["arm", "rmst_days", "rmst_se_days", "difference_days"]
    by_arm = table.set_index("arm")
    for arm, rows in waltons.groupby("arm"):
        kmf = KaplanMeierFitter().fit(rows["dmfs_days"], rows["dmfs_event"])
        assert by_arm.loc[arm, "rmst_days"] == pytest.approx(restricted_mean_survival_time(kmf, t=horizon), abs=1e-10)
        times, surv, *_ = product_limit(rows["dmfs_days"].to_numpy(), rows["dmfs_event"].to_numpy())
        knots = np.concatenate([[0.0], times[times < horizon], [horizon]])
        heights = np.concatenate([[1.0], surv[times < horizon]])
        assert by_arm.loc[arm, "rmst_days"] == pytest.approx(np.sum(heights * np.diff(knots)), abs=1e-10)
    assert by_arm.loc["control", "difference_days"] == 0.0
    assert by_arm.loc["miR-137", "difference_days"] == pytest.approx(
        by_arm.loc["miR-137", "rmst_days"] - by_arm.loc["control", "rmst_days"], abs=1e-12)


def test_rmst_standard_error_without_censoring_is_that_of_a_mean():
    # no censoring: the KM is the empirical survival function, the RMST the sample mean of
    # min(T, tau) and its Greenwood SE the (ddof=0) standard error of that mean
    rng = np.random.default_rng(11)
    t = rng.exponential(300.0, 600)
    table = pd.DataFrame({"patient": range(600), "arm": "a", "dmfs_days": t, "dmfs_event": True})
    row = stats.rmst(table, "dmfs", 400.0).iloc[0]
    capped = np.minimum(t, 400.0)
    assert row["rmst_days"] == pytest.approx(capped.mean(), rel=1e-12)
    assert row["rmst_se_days"] == pytest.approx(capped.std() / math.sqrt(600), rel=1e-10)


def hand_aalen_johansen(durations: np.ndarray, status: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Tie-aware AJ: F1(t) = sum over event times t_j <= t of S(t_j-) d1_j / n_j."""
    event_times = np.unique(durations[status > 0])
    s_before, cif, values = 1.0, 0.0, []
    for tj in event_times:
        n = (durations >= tj).sum()
        d_all = ((durations == tj) & (status > 0)).sum()
        d_1 = ((durations == tj) & (status == 1)).sum()
        cif += s_before * d_1 / n
        s_before *= 1 - d_all / n
        values.append(cif)
    values = np.asarray(values)
    return np.array([step_value(event_times, values, t, 0.0) for t in times])


def test_cumulative_incidence_equals_lifelines_and_hand_aalen_johansen():
    from lifelines import AalenJohansenFitter

    trial = exponential_trial(np.random.default_rng(5), 300, relapse_rate=1 / 800, death_rate=1 / 1500,
                              hazard_ratio=0.6, censor_max_days=2500.0)
    table = stats.cumulative_incidence(trial)
    assert list(table.columns) == ["arm", "days", "incidence", "ci_lower", "ci_upper"]
    for arm, rows in trial.groupby("arm"):
        mine = table[table["arm"] == arm]
        ajf = AalenJohansenFitter().fit(rows["relapse_days"], rows["relapse_status"], event_of_interest=1)
        np.testing.assert_allclose(mine["days"], ajf.cumulative_density_.index, **TIGHT)
        np.testing.assert_allclose(mine["incidence"], ajf.cumulative_density_.iloc[:, 0], **TIGHT)
        bounds = np.sort(ajf.confidence_interval_.to_numpy(), axis=1)
        np.testing.assert_allclose(mine[["ci_lower", "ci_upper"]].to_numpy(), bounds, **TIGHT)
        positive = mine["incidence"] > 0
        assert (mine.loc[positive, "ci_lower"] <= mine.loc[positive, "incidence"]).all()
        assert (mine.loc[positive, "incidence"] <= mine.loc[positive, "ci_upper"]).all()
        hand = hand_aalen_johansen(rows["relapse_days"].to_numpy(), rows["relapse_status"].to_numpy(),
                                   mine["days"].to_numpy())
        np.testing.assert_allclose(mine["incidence"], hand, rtol=0, atol=1e-12)


def test_cumulative_incidence_with_tied_event_types_is_exact_and_deterministic():
    # times on a whole-day grid: relapses and deaths share days, which lifelines would jitter
    # randomly after re-seeding NumPy's global generator
    trial = exponential_trial(np.random.default_rng(6), 400, relapse_rate=1 / 300, death_rate=1 / 400)
    trial["relapse_days"] = np.ceil(trial["relapse_days"] / 30.0) * 30.0
    global_state = np.random.get_state()[1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no lifelines jitter warning either
        first = stats.cumulative_incidence(trial)
    second = stats.cumulative_incidence(trial)
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)
    pd.testing.assert_frame_equal(first, second)
    for arm, rows in trial.groupby("arm"):
        mine = first[first["arm"] == arm]
        assert set(mine["days"]) <= set(rows["relapse_days"]) | {0.0}
        hand = hand_aalen_johansen(rows["relapse_days"].to_numpy(), rows["relapse_status"].to_numpy(),
                                   mine["days"].to_numpy())
        np.testing.assert_allclose(mine["incidence"], hand, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- identical arms
def test_identical_paired_arms_give_no_difference():
    one = exponential_trial(np.random.default_rng(2), 500, relapse_rate=1 / 700, death_rate=1 / 2000)
    one = one[one["arm"] == "control"]
    trial = pd.concat([one, one.assign(arm="placebo")], ignore_index=True)
    hr = stats.hazard_ratios(trial, paired=True).iloc[0]
    assert abs(math.log(hr["hr"])) < 1e-8
    assert hr["ci_lower"] <= 1.0 <= hr["ci_upper"]
    assert hr["p_value"] > 0.05
    rank = stats.logrank(trial).iloc[0]
    assert rank["test_statistic"] == pytest.approx(0.0, abs=1e-12)
    assert rank["p_value"] == pytest.approx(1.0, abs=1e-12)
    assert stats.rmst(trial, "dmfs", 1000.0)["difference_days"].abs().max() < 1e-10
    med = stats.medians(trial)
    assert med["median_days"].iloc[0] == med["median_days"].iloc[1]


# --------------------------------------------------------------------------- synthetic truths
@pytest.mark.parametrize("paired", [True, False])
def test_exponential_trial_recovers_hazard_ratio_median_and_rmst(paired):
    relapse_rate, true_hr, n, horizon = math.log(2) / 900, 0.5, 4000, 1000.0
    # death rate ~0 so the DMFS hazard is the relapse hazard and the HR is exact
    trial = exponential_trial(np.random.default_rng(7 if paired else 8), n, relapse_rate=relapse_rate,
                              death_rate=1e-12, hazard_ratio=true_hr, paired=paired, censor_max_days=6000.0)
    hr = stats.hazard_ratios(trial, "dmfs", paired=paired).iloc[0]
    assert hr["arm"] == "treated" and hr["control"] == "control"
    assert hr["ci_lower"] <= true_hr <= hr["ci_upper"]
    assert abs(hr["hr"] / true_hr - 1) < 0.10

    med = stats.medians(trial, "dmfs").set_index("arm")
    table = stats.rmst(trial, "dmfs", horizon).set_index("arm")
    for arm, rate in (("control", relapse_rate), ("treated", relapse_rate * true_hr)):
        true_median = math.log(2) / rate
        sd_median = 1 / (rate * math.sqrt(n))  # 1 / (2 f(m) sqrt(n)), f(m) = rate / 2
        assert abs(med.loc[arm, "median_days"] - true_median) < 4 * sd_median
        assert med.loc[arm, "ci_lower"] <= true_median <= med.loc[arm, "ci_upper"]
        true_rmst = (1 - math.exp(-rate * horizon)) / rate
        assert abs(table.loc[arm, "rmst_days"] - true_rmst) < 4 * table.loc[arm, "rmst_se_days"]
    true_difference = ((1 - math.exp(-relapse_rate * true_hr * horizon)) / (relapse_rate * true_hr)
                       - (1 - math.exp(-relapse_rate * horizon)) / relapse_rate)
    assert table.loc["control", "difference_days"] == 0.0
    assert abs(table.loc["treated", "difference_days"] - true_difference) < 0.1 * true_difference


def test_paired_design_gives_a_narrower_interval_than_independent_arms():
    kwargs = dict(relapse_rate=1 / 900, death_rate=1 / 3000, hazard_ratio=0.7, censor_max_days=3000.0)
    widths = {}
    for paired in (True, False):
        trial = exponential_trial(np.random.default_rng(9), 2000, paired=paired, **kwargs)
        hr = stats.hazard_ratios(trial, "dmfs", paired=paired).iloc[0]
        widths[paired] = math.log(hr["ci_upper"] / hr["ci_lower"])
    assert widths[True] < 0.5 * widths[False]


def test_competing_risks_incidence_matches_closed_form():
    rate_relapse, rate_death, n = 1 / 1000, 1 / 2500, 2000
    trial = exponential_trial(np.random.default_rng(3), n, relapse_rate=rate_relapse, death_rate=rate_death,
                              censor_max_days=1e9)  # (almost) no censoring
    table = stats.cumulative_incidence(trial)
    total = rate_relapse + rate_death
    control = table[table["arm"] == "control"]
    for t in (250.0, 500.0, 1000.0, 2000.0):
        truth = rate_relapse / total * (1 - math.exp(-total * t))
        estimate = float(control.loc[control["days"] <= t, "incidence"].iloc[-1])
        assert abs(estimate - truth) < 4 * math.sqrt(truth * (1 - truth) / n)
    # treating death as censoring (1 - KM of cause-specific relapse) overstates the risk
    naive = stats.km(trial, "relapse")
    naive = naive[naive["arm"] == "control"]
    t = 2000.0
    naive_risk = 1 - float(naive.loc[naive["days"] <= t, "survival"].iloc[-1])
    assert naive_risk == pytest.approx(1 - math.exp(-rate_relapse * t), abs=0.04)
    assert naive_risk > rate_relapse / total * (1 - math.exp(-total * t)) + 0.05


def test_smoothed_hazard_of_exponential_data_is_flat():
    rate = 1 / 600
    trial = exponential_trial(np.random.default_rng(4), 2000, relapse_rate=rate, death_rate=1e-12,
                              censor_max_days=1e9)
    table = stats.smoothed_hazard(trial[trial["arm"] == "control"], "dmfs", bandwidth_days=150.0)
    assert list(table.columns) == ["arm", "days", "hazard_per_year", "lower", "upper"]
    banded = table.dropna()
    assert (banded["lower"] <= banded["hazard_per_year"]).all()
    assert (banded["hazard_per_year"] <= banded["upper"]).all()
    middle = table[(table["days"] > 300) & (table["days"] < 900)]
    truth = rate * stats.DAYS_PER_YEAR
    assert abs(middle["hazard_per_year"].mean() / truth - 1) < 0.05
    assert ((middle["lower"] <= truth) & (truth <= middle["upper"])).mean() > 0.8
    # no boundary correction: at day 0 the kernel sees only half its window
    assert table["hazard_per_year"].iloc[0] == pytest.approx(truth / 2, rel=0.2)


# --------------------------------------------------------------------------- edge cases
def test_arm_without_events_gives_nan_row_and_warning():
    trial = exponential_trial(np.random.default_rng(12), 300, relapse_rate=1 / 500, death_rate=1 / 3000,
                              hazard_ratio=0.5)
    dead = trial[trial["arm"] == "control"].assign(arm="cure", dmfs_event=False)
    table = pd.concat([trial, dead], ignore_index=True)
    with pytest.warns(TrialStatsWarning, match="cure"):
        hr = stats.hazard_ratios(table).set_index("arm")
    assert hr.loc["cure"].drop("control").isna().all()
    expected = stats.hazard_ratios(trial).set_index("arm")
    assert hr.loc["treated", "hr"] == pytest.approx(expected.loc["treated", "hr"], rel=1e-12)

    with pytest.warns(TrialStatsWarning, match="control arm"):
        hr = stats.hazard_ratios(table, control="cure")
    assert hr[["hr", "p_value"]].isna().all().all()


def test_subgroups_find_who_benefits():
    rng = np.random.default_rng(13)
    parts = []
    for level, hr in (("no", 0.5), ("yes", 1.0)):
        part = exponential_trial(rng, 1500, relapse_rate=1 / 800, death_rate=1e-12, hazard_ratio=hr)
        part["patient"] += 0 if level == "no" else 1500
        parts.append(part.assign(cov_inflammatory=level))
    trial = pd.concat(parts, ignore_index=True)
    table = stats.subgroup_hazard_ratios(trial, "dmfs", "inflammatory")
    assert list(table.columns)[:8] == ["subgroup", "level", "arm", "hr", "ci_lower", "ci_upper", "p_value", "n"]
    by_level = table.set_index("level")
    assert (table["subgroup"] == "inflammatory").all() and (table["n"] == 1500).all()
    assert by_level.loc["no", "ci_lower"] <= 0.5 <= by_level.loc["no", "ci_upper"]
    assert by_level.loc["yes", "ci_lower"] <= 1.0 <= by_level.loc["yes", "ci_upper"]
    # same numbers as hazard_ratios on the subset, and the cov_ prefix is optional
    direct = stats.hazard_ratios(trial[trial["cov_inflammatory"] == "no"]).iloc[0]
    assert by_level.loc["no", "hr"] == pytest.approx(direct["hr"], rel=1e-12)
    pd.testing.assert_frame_equal(table, stats.subgroup_hazard_ratios(trial, "dmfs", "cov_inflammatory"))


def test_endpoint_summary_agrees_with_the_parts():
    trial = exponential_trial(np.random.default_rng(14), 400, relapse_rate=1 / 700, death_rate=1 / 2000,
                              hazard_ratio=0.6)
    relapsed = trial["relapse_status"] == 1
    trial["n_mets_at_relapse"] = np.where(relapsed, 1 + trial["patient"] % 3, 0)
    summary = stats.endpoint_summary(trial, 1000.0).set_index("arm")
    assert list(summary.index) == ["control", "treated"]
    med_dmfs = stats.medians(trial, "dmfs").set_index("arm")
    med_os = stats.medians(trial, "os").set_index("arm")
    rm = stats.rmst(trial, "dmfs", 1000.0).set_index("arm")
    curve = stats.km(trial, "dmfs")
    for arm in summary.index:
        rows = trial[trial["arm"] == arm]
        row = summary.loc[arm]
        assert (row["n"], row["relapses"], row["deaths"]) == (
            len(rows), (rows["relapse_status"] == 1).sum(), rows["os_event"].sum())
        assert row["median_dmfs_days"] == med_dmfs.loc[arm, "median_days"]
        assert row["median_os_days"] == med_os.loc[arm, "median_days"]
        assert row["median_dmfs_reached"] == med_dmfs.loc[arm, "median_reached"]
        assert row["median_os_reached"] == med_os.loc[arm, "median_reached"]
        assert row["rmst_dmfs_days"] == pytest.approx(rm.loc[arm, "rmst_days"], abs=1e-10)
        arm_curve = curve[curve["arm"] == arm]
        assert row["dmfs_at_horizon"] == arm_curve.loc[arm_curve["days"] <= 1000.0, "survival"].iloc[-1]
        expected_mets = rows.loc[rows["relapse_status"] == 1, "n_mets_at_relapse"].mean()
        assert row["mean_mets_at_relapse"] == pytest.approx(expected_mets)
    assert "mean_mets_at_relapse" not in stats.endpoint_summary(trial.drop(columns="n_mets_at_relapse"), 1000.0)


def test_horizon_past_follow_up_warns_only_while_the_curve_is_open(small_trial):
    last = small_trial["dmfs_days"].max()
    with pytest.warns(TrialStatsWarning, match="beyond the last follow-up"):
        stats.rmst(small_trial.assign(dmfs_event=small_trial["dmfs_days"] < last), "dmfs", 2 * last)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = stats.rmst(small_trial.assign(dmfs_event=True), "dmfs", 2 * last)
    # curves that reach 0 have RMST = mean time, exactly
    means = small_trial.groupby("arm", sort=False)["dmfs_days"].mean()
    np.testing.assert_allclose(table["rmst_days"], means.to_numpy(), rtol=1e-12)


def test_importing_stats_does_not_import_lifelines():
    from seedsoil.testing import modules_loaded_by

    assert modules_loaded_by("import seedsoil.cohort.stats", "lifelines") == []


# --------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small_trial() -> pd.DataFrame:
    return exponential_trial(np.random.default_rng(15), 50, relapse_rate=1 / 500, death_rate=1 / 2000)


@pytest.mark.parametrize("call, match", [
    (lambda t: stats.km(t.drop(columns="dmfs_event")), "missing column.*dmfs_event"),
    (lambda t: stats.km(t, "pfs"), "unknown endpoint 'pfs'"),
    (lambda t: stats.logrank(t, control="surgery-only"), "control arm 'surgery-only' is not an arm"),
    (lambda t: stats.hazard_ratios(t, control="nope"), "not an arm"),
    (lambda t: stats.km(t.assign(dmfs_days=-1.0)), "finite times >= 0"),
    (lambda t: stats.km(t.assign(dmfs_days=np.nan)), "finite times >= 0"),
    (lambda t: stats.km(t.assign(dmfs_event="yes")), "must be bool"),
    (lambda t: stats.cumulative_incidence(t.assign(relapse_status=3)), "relapse_status"),
    (lambda t: stats.km(pd.concat([t, t.iloc[:1]])), "duplicate"),
    (lambda t: stats.km(t.iloc[:0]), "no rows"),
    (lambda t: stats.km(t.to_dict()), "pandas DataFrame"),
    (lambda t: stats.rmst(t, "dmfs", 0.0), "horizon_days"),
    (lambda t: stats.smoothed_hazard(t, "dmfs", -5), "bandwidth_days"),
    (lambda t: stats.logrank(t[t["arm"] == "control"]), "at least two arms"),
    (lambda t: stats.subgroup_hazard_ratios(t, "dmfs", "er_status"), "no covariate column 'cov_er_status'"),
    (lambda t: stats.subgroup_hazard_ratios(t.assign(cov_age=np.arange(len(t))), "dmfs", "age"), "bin it"),
    (lambda t: stats.medians(t, alpha=1.5), "alpha"),
    (lambda t: stats.km(t.assign(arm=None)), "missing values"),
])
def test_bad_input_raises_a_helpful_error(small_trial, call, match):
    with pytest.raises(TrialDataError, match=match) as info:
        call(small_trial)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SeedsoilError)


def test_integer_events_are_accepted(small_trial):
    as_int = small_trial.assign(dmfs_event=small_trial["dmfs_event"].astype(int))
    pd.testing.assert_frame_equal(stats.km(as_int), stats.km(small_trial))


def test_smoothed_hazard_matches_lifelines_at_its_evaluation_points():
    """The same Ramlau-Hansen estimator as lifelines, evaluated where lifelines evaluates it."""
    from lifelines import NelsonAalenFitter

    from seedsoil.cohort.stats import ramlau_hansen

    rng = np.random.default_rng(21)
    t = rng.exponential(500.0, 300)  # no ties: lifelines' tie-corrected increments equal d/n then
    e = rng.random(300) < 0.8
    naf = NelsonAalenFitter().fit(t, e)
    theirs = naf.smoothed_hazard_(100.0).iloc[:, 0]
    ours, lower, upper = ramlau_hansen(t, e, theirs.index.to_numpy(dtype=float), 100.0, 1.959963984540054)
    np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-10, atol=1e-15)
    band = naf.smoothed_hazard_confidence_intervals_(100.0, hazard_=theirs.to_numpy()).to_numpy(dtype=float)
    ok = np.isfinite(lower)
    np.testing.assert_allclose(lower[ok], np.fmin(band[:, 0], band[:, 1])[ok], rtol=1e-8)
    np.testing.assert_allclose(upper[ok], np.fmax(band[:, 0], band[:, 1])[ok], rtol=1e-8)
    table = pd.DataFrame({"patient": np.arange(300), "arm": "a", "dmfs_days": t, "dmfs_event": e,
                          "os_days": t, "os_event": False, "relapse_days": t, "relapse_status": 0})
    assert len(stats.smoothed_hazard(table, "dmfs", bandwidth_days=100.0, points=51)) == 51


# --------------------------------------------------------------------------- fast implementations vs lifelines
def paired_table_with_ties(n: int, seed: int) -> pd.DataFrame:
    """Three paired arms on a whole-day grid (many tied times, tied across event and censoring)."""
    rng = np.random.default_rng(seed)
    base = rng.exponential(900.0, n)
    frames = []
    for arm, hr in (("control", 1.0), ("half", 0.5), ("more", 1.4)):
        event_days = np.round(base / hr * rng.uniform(0.7, 1.3, n))
        censor_days = np.round(rng.uniform(200.0, 2500.0, n))
        frames.append(pd.DataFrame({"patient": np.arange(n), "arm": arm,
                                    "dmfs_days": np.minimum(event_days, censor_days),
                                    "dmfs_event": event_days <= censor_days}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("paired", [True, False])
def test_cox_equals_lifelines_on_a_paired_table_with_ties(paired):
    """The O(n log n) Cox fit (seedsoil.cohort._cox) gives lifelines' estimates, intervals and p-values,
    cluster-robust on the patient when paired, on a few thousand rows with heavy ties."""
    from lifelines import CoxPHFitter

    table = paired_table_with_ties(1500, seed=31)
    ours = stats.hazard_ratios(table, control="control", paired=paired).set_index("arm")
    design = pd.DataFrame({"T": table["dmfs_days"], "E": table["dmfs_event"],
                           "half": (table["arm"] == "half").astype(float),
                           "more": (table["arm"] == "more").astype(float), "id": table["patient"]})
    if not paired:
        design = design.drop(columns="id")
    direct = CoxPHFitter().fit(design, "T", "E", cluster_col="id" if paired else None).summary
    for arm in ("half", "more"):
        np.testing.assert_allclose(
            ours.loc[arm, ["hr", "ci_lower", "ci_upper", "p_value"]].to_numpy(dtype=float),
            direct.loc[arm, ["exp(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%", "p"]].to_numpy(dtype=float),
            rtol=1e-8, atol=0)


def test_cox_fit_standard_errors_equal_lifelines_and_pairing_narrows_them():
    from lifelines import CoxPHFitter

    from seedsoil.cohort._cox import fit_cox

    table = paired_table_with_ties(1200, seed=32)
    keep = table["arm"].isin(["control", "half"]).to_numpy()
    t, e = table["dmfs_days"].to_numpy()[keep], table["dmfs_event"].to_numpy()[keep]
    x = (table["arm"].to_numpy()[keep] == "half").astype(float)
    ids = table["patient"].to_numpy()[keep]
    robust = fit_cox(t, e, x, ids)
    plain = fit_cox(t, e, x)
    design = pd.DataFrame({"T": t, "E": e, "x": x, "id": ids})
    ref_robust = CoxPHFitter().fit(design, "T", "E", cluster_col="id")
    ref_plain = CoxPHFitter().fit(design.drop(columns="id"), "T", "E")
    np.testing.assert_allclose(robust.coef, ref_robust.params_.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(robust.se, ref_robust.standard_errors_.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(plain.se, ref_plain.standard_errors_.to_numpy(), rtol=1e-10)
    assert robust.log_likelihood == pytest.approx(ref_robust.log_likelihood_, rel=1e-12)
    assert robust.se[0] < plain.se[0]  # the pairing removes between-patient variation


def test_logrank_equals_lifelines_with_ties_and_unequal_arms():
    from lifelines.statistics import logrank_test

    table = paired_table_with_ties(800, seed=33)
    table = table[~((table["arm"] == "more") & (table["patient"] % 3 == 0))]  # unequal arm sizes
    ours = stats.logrank(table, control="control").set_index("arm")
    control = table[table["arm"] == "control"]
    for arm in ("half", "more"):
        rows = table[table["arm"] == arm]
        direct = logrank_test(rows["dmfs_days"], control["dmfs_days"], event_observed_A=rows["dmfs_event"],
                              event_observed_B=control["dmfs_event"])
        assert ours.loc[arm, "test_statistic"] == pytest.approx(direct.test_statistic, rel=1e-10)
        assert ours.loc[arm, "p_value"] == pytest.approx(direct.p_value, rel=1e-8)


def test_cumulative_incidence_band_equals_lifelines_exactly_on_many_times():
    """The vectorized Aalen–Johansen variance is lifelines' loop, operation for operation."""
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(34)
    n = 4000
    durations = np.round(rng.exponential(700.0, n), 1)
    status = rng.choice([0, 1, 2], n, p=[0.3, 0.5, 0.2])
    fit_durations = stats._break_mixed_ties(durations, status)
    direct = AalenJohansenFitter().fit(fit_durations, status, event_of_interest=1)
    fast = AalenJohansenFitter(calculate_variance=False).fit(fit_durations, status, event_of_interest=1)
    bounds = stats._aalen_johansen_bounds(fast, stats._fit_km(fit_durations, status, 0.05), 0.05)
    np.testing.assert_allclose(bounds, direct.confidence_interval_.to_numpy(dtype=float), rtol=1e-13, atol=0)


def test_smoothed_hazard_in_blocks_equals_one_dense_kernel(monkeypatch):
    """Memory-bounded evaluation (blocks of grid points, event times within one bandwidth) changes nothing."""
    from seedsoil.cohort.stats import ramlau_hansen

    rng = np.random.default_rng(35)
    t = rng.exponential(600.0, 5000)
    e = rng.random(5000) < 0.7
    grid = np.linspace(0.0, t[e].max(), 201)
    times, counts = np.unique(t[e], return_counts=True)
    at_risk = len(t) - np.searchsorted(np.sort(t), times, side="left")
    u = (grid[:, None] - times[None, :]) / 120.0
    k = np.where(np.abs(u) < 1.0, 0.75 * (1.0 - u * u), 0.0)
    dense = k @ (counts / at_risk) / 120.0
    monkeypatch.setattr(stats, "KERNEL_BLOCK", 997)  # a few grid points per block
    hazard, lower, upper = ramlau_hansen(t, e, grid, 120.0, 1.96)
    np.testing.assert_allclose(hazard, dense, rtol=1e-12, atol=1e-18)
    assert np.all((lower <= hazard) | np.isnan(lower)) and np.all((hazard <= upper) | np.isnan(upper))
