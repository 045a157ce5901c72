"""External-validation metrics (seedsoil.cohort.validation_metrics) on real cohorts shipped with
lifelines: GBSG-2 (German Breast Cancer Study Group, recurrence-free survival in days) and the
Rossi recidivism data (weeks). Each metric is checked against a computation that does not go
through the module: lifelines' concordance index and Kaplan–Meier, the IPCW Brier score written
out from its definition (Graf et al. 1999), a Cox fit on pandas' own one-hot encoding, and
models whose C index is known (random scores, a perfect-ordering oracle)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_gbsg2, load_rossi
from lifelines.utils import concordance_index

from seedsoil.cohort.validation_metrics import (DEFAULT_HORIZONS_DAYS, ScoringInputError, fit_cox_baseline,
                                                perfect_calibration_errors, score_predictions)

COVARIATES = ["horTh", "age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
GRID = np.union1d(np.arange(0.0, 2500.0, 5.0), [365.25, 730.5, *DEFAULT_HORIZONS_DAYS])


@pytest.fixture(scope="module")
def split():
    data = load_gbsg2()
    test = np.random.default_rng(13).random(len(data)) < 0.35
    return data[~test].reset_index(drop=True), data[test].reset_index(drop=True)


@pytest.fixture(scope="module")
def cox(split):
    train, test = split
    model = fit_cox_baseline(train, COVARIATES, "time", "cens", penalizer=0.01)
    survival = model.predict_survival(test, GRID)
    scores = score_predictions(survival, GRID, test["time"], test["cens"], train["time"], train["cens"], model="Cox")
    return model, survival, scores


def test_harrell_c_equals_lifelines(split, cox):
    _, test = split
    _, survival, scores = cox
    at = int(np.searchsorted(GRID, scores.risk_horizon))
    assert scores.risk_horizon == DEFAULT_HORIZONS_DAYS[-1]
    # lifelines takes a score that is higher for longer survival: S_i(t*) itself
    expected = concordance_index(test["time"], survival[:, at], test["cens"])
    assert scores.harrell_c == pytest.approx(expected, abs=1e-12)
    assert 0.6 < scores.harrell_c < 0.8  # a Cox model on GBSG-2 discriminates (published C ~ 0.68)


def test_cox_baseline_is_lifelines_on_pandas_dummies(split, cox):
    """The one-hot encoding is pandas' get_dummies(drop_first=True) with the sorted levels."""
    train, test = split
    model, survival, _ = cox
    both = pd.get_dummies(pd.concat([train, test], keys=["train", "test"])[COVARIATES], drop_first=True,
                          dtype=float)
    fitter = CoxPHFitter(penalizer=0.01).fit(pd.concat([both.loc["train"], train[["time", "cens"]]], axis=1),
                                             "time", "cens")
    expected = fitter.predict_survival_function(both.loc["test"], times=GRID).to_numpy().T
    np.testing.assert_allclose(survival, expected, rtol=1e-9, atol=1e-12)
    assert model.levels["tgrade"] == ("I", "II", "III")
    assert model.columns[:3] == ("horTh[yes]", "age", "menostat[Pre]")


def test_calibration_observed_is_kaplan_meier_per_quartile(split, cox):
    _, test = split
    _, survival, scores = cox
    table = scores.calibration
    for h in DEFAULT_HORIZONS_DAYS:
        risk = 1.0 - survival[:, int(np.searchsorted(GRID, h))]
        assert len(np.unique(risk)) == len(risk)  # no ties: quartiles are unambiguous
        quartile = pd.qcut(risk, 4, labels=False) + 1
        rows = table[table["horizon"] == h].set_index("group")
        assert list(rows.index) == [1, 2, 3, 4]
        for q in range(1, 5):
            members = quartile == q
            kmf = KaplanMeierFitter(alpha=0.05).fit(test["time"][members], test["cens"][members])
            assert rows.loc[q, "n"] == members.sum()
            assert rows.loc[q, "observed"] == pytest.approx(float(kmf.predict(h)), abs=1e-12)
            lower, upper = kmf.confidence_interval_.loc[:h].iloc[-1]
            assert rows.loc[q, "observed_lower"] == pytest.approx(lower, abs=1e-12)
            assert rows.loc[q, "observed_upper"] == pytest.approx(upper, abs=1e-12)
            assert rows.loc[q, "predicted"] == pytest.approx(float(np.mean(1.0 - risk[members])), abs=1e-12)
    k = scores.horizons.index(DEFAULT_HORIZONS_DAYS[1])
    assert scores.calibration_max_error[k] == pytest.approx(
        float((table.loc[table["horizon"] == DEFAULT_HORIZONS_DAYS[1], "abs_error"]).max()), abs=0)


def test_greenwood_nam_dagostino_on_uncensored_groups_is_pearson():
    """Without censoring, a group's Kaplan–Meier at h is its event-free proportion p̂ and
    Greenwood's variance is p̂(1 - p̂)/m, so the GND statistic is Σ_g (p̂_g - p̄_g)² m_g / (p̂_g (1 - p̂_g))
    on groups - 1 degrees of freedom (Demler et al. 2015)."""
    from scipy import stats

    rng = np.random.default_rng(5)
    n, h = 400, 100.0
    grid = np.array([1.0, 50.0, h, 200.0])
    p = np.sort(rng.uniform(0.3, 0.9, n))  # predicted S_i(h), all distinct
    surv = np.column_stack([np.ones(n), (1 + p) / 2, p, p * 0.9])
    event = rng.random(n) > p  # the outcome by h: event with probability 1 - p_i (truth = the prediction)
    time = np.where(event, rng.uniform(2.0, h, n), 150.0)
    s = score_predictions(surv, grid, time, event, time, event, horizons=[h], groups=4)
    group = pd.qcut(pd.Series(1.0 - p).rank(method="first"), 4, labels=False).to_numpy() + 1
    chi2 = 0.0
    for g in range(1, 5):
        m = group == g
        ph = 1.0 - event[m].mean()
        row = s.calibration[s.calibration["group"] == g].iloc[0]
        assert row["observed_se"] == pytest.approx(np.sqrt(ph * (1 - ph) / m.sum()), rel=1e-12)
        assert row["events"] == event[m].sum()
        chi2 += (ph - p[m].mean()) ** 2 * m.sum() / (ph * (1 - ph))
    t = s.calibration_test().iloc[0]
    assert t["chi2"] == pytest.approx(chi2, rel=1e-12)
    assert t["df"] == 3 and t["p_value"] == pytest.approx(stats.chi2.sf(chi2, 3), rel=1e-12)
    assert t["min_events"] == min(event[group == g].sum() for g in range(1, 5))


def test_perfect_calibration_errors_match_the_binomial_closed_form():
    """Everyone predicted S(h) = p, no censoring: each quartile's Kaplan–Meier at h is X/m with
    X ~ Binomial(m, p), independent between quartiles, so P(max error <= x) =
    P(|X/m - p| <= x)^4 exactly. 4,000 simulated cohorts agree within 4 binomial SEs."""
    from scipy import stats

    n, p, h = 200, 0.6, 100.0
    m = n // 4
    grid = np.array([1.0, h, 200.0])
    surv = np.tile([1.0, p, p], (n, 1))
    time = np.full(n, 300.0)  # every test patient followed past h: no censoring distribution
    event = np.ones(n, dtype=bool)
    err = perfect_calibration_errors(surv, grid, time, event, horizon=h, simulations=4000, seed=3)
    assert err.shape == (4000,)
    k = np.arange(m + 1)
    for x in (0.03, 0.06, 0.1):
        inside = np.abs(k / m - p) <= x + 1e-12
        exact = float(stats.binom.pmf(k[inside], m, p).sum()) ** 4
        se = np.sqrt(exact * (1 - exact) / len(err))
        assert abs(np.mean(err <= x + 1e-12) - exact) < 4 * se + 1e-3
    again = perfect_calibration_errors(surv, grid, time, event, horizon=h, simulations=4000, seed=3)
    np.testing.assert_array_equal(err, again)


def test_perfect_calibration_error_shrinks_as_the_cohort_grows(split, cox):
    """The perfectly calibrated model's error is sampling noise: quadrupling the cohort (each
    GBSG test patient four times) halves it (the 1/sqrt(n) law) within 15 %."""
    _, test = split
    _, survival, _ = cox
    h = DEFAULT_HORIZONS_DAYS[1]
    one = perfect_calibration_errors(survival, GRID, test["time"], test["cens"], horizon=h, simulations=600, seed=1)
    four = perfect_calibration_errors(np.tile(survival, (4, 1)), GRID, np.tile(test["time"], 4),
                                      np.tile(test["cens"], 4), horizon=h, simulations=600, seed=1)
    assert np.median(one) / np.median(four) == pytest.approx(2.0, rel=0.15)


def _censoring_km(time: np.ndarray, event: np.ndarray):
    """G(t) = P(C > t), Kaplan–Meier of the censoring times; at a tied time the events leave the
    risk set before the censorings (the usual convention: a censored patient was at risk of the event)."""
    grid = np.unique(time)
    g, values = 1.0, []
    for t in grid:
        at_risk_after_events = np.sum(time > t) + np.sum((time == t) & ~event)
        censored = np.sum((time == t) & ~event)
        g *= 1.0 - censored / at_risk_after_events
        values.append(g)
    values = np.asarray(values)
    return lambda s: values[np.searchsorted(grid, s, side="right") - 1]


def _graf_brier(pred_at_t: np.ndarray, t: float, time: np.ndarray, event: np.ndarray, G) -> float:
    """Graf et al. (1999), eq. for the IPCW Brier score at t:
    (1/n) Σ_i [ S_i(t)² 1{T_i <= t, δ_i = 1} / G(T_i) + (1 - S_i(t))² 1{T_i > t} / G(t) ]."""
    total = 0.0
    for s, ti, di in zip(pred_at_t, time, event):
        if ti <= t and di:
            total += s**2 / G(ti)
        elif ti > t:
            total += (1.0 - s) ** 2 / G(t)
    return total / len(time)


def test_brier_of_training_km_equals_graf_by_hand(split):
    train, test = split
    km = KaplanMeierFitter().fit(train["time"], train["cens"])
    survival = np.tile(km.survival_function_at_times(GRID).to_numpy(), (len(test), 1))
    scores = score_predictions(survival, GRID, test["time"], test["cens"], train["time"], train["cens"],
                               ibs_interval=(365.25, DEFAULT_HORIZONS_DAYS[1]), model="training KM")
    G = _censoring_km(train["time"].to_numpy(dtype=float), train["cens"].to_numpy().astype(bool))
    t_test, e_test = test["time"].to_numpy(dtype=float), test["cens"].to_numpy().astype(bool)
    for h, brier in zip(scores.horizons, scores.brier):
        expected = _graf_brier(survival[:, int(np.searchsorted(GRID, h))], h, t_test, e_test, G)
        assert brier == pytest.approx(expected, rel=1e-12)
    inside = (GRID >= 365.25) & (GRID <= DEFAULT_HORIZONS_DAYS[1])
    by_hand = [_graf_brier(survival[:, j], GRID[j], t_test, e_test, G) for j in np.flatnonzero(inside)]
    ibs = np.trapezoid(by_hand, GRID[inside]) / (GRID[inside][-1] - GRID[inside][0])
    assert scores.ibs == pytest.approx(ibs, rel=1e-12)
    assert scores.harrell_c == 0.5  # the same prediction for everyone: every comparable pair is tied


def test_random_scores_have_c_near_one_half():
    data = load_gbsg2()
    rate = np.random.default_rng(2024).lognormal(np.log(1 / 3000), 0.5, len(data))
    survival = np.exp(-np.outer(rate, GRID))
    scores = score_predictions(survival, GRID, data["time"], data["cens"], data["time"], data["cens"])
    # 686 patients, 299 events: the standard error of C under no association is about 0.02
    assert abs(scores.harrell_c - 0.5) < 0.06
    assert abs(scores.uno_c - 0.5) < 0.06
    assert all(abs(a - 0.5) < 0.08 for a in scores.auc)


def test_oracle_has_c_one_on_uncensored_data():
    data = load_gbsg2()
    events = data[data["cens"] == 1].reset_index(drop=True)
    T = events["time"].to_numpy(dtype=float)
    survival = np.exp(-np.outer(1.0 / T, GRID))  # the earlier the event, the higher the predicted risk
    scores = score_predictions(survival, GRID, T, np.ones(len(T), bool), data["time"], data["cens"],
                               horizons=(365.25, 730.5), model="oracle")
    assert scores.harrell_c == 1.0
    assert scores.uno_c == pytest.approx(1.0, abs=1e-12)
    assert scores.auc == pytest.approx((1.0, 1.0), abs=1e-12)


def test_rossi_in_weeks():
    """Another cohort and time unit (weeks), numeric and 0/1 covariates only."""
    data = load_rossi()
    test = np.random.default_rng(7).random(len(data)) < 0.4
    train, held = data[~test], data[test]
    covs = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    model = fit_cox_baseline(train, covs, "week", "arrest")
    grid = np.arange(0.0, 53.0)
    survival = model.predict_survival(held, grid)
    args = (survival, grid, held["week"], held["arrest"], train["week"], train["arrest"])
    # follow-up ends at week 52 for everyone: the censoring distribution is 0 there
    with pytest.raises(ScoringInputError, match="censoring distribution is 0 at test event time 52"):
        score_predictions(*args, horizons=(20.0, 40.0))
    scores = score_predictions(survival, grid, held["week"], held["arrest"], train["week"], train["arrest"],
                               horizons=(20.0, 40.0), ibs_interval=(5.0, 40.0), censor_test_at=51.0,
                               model="Cox rossi")
    week = np.minimum(held["week"], 51.0)  # administrative censoring at week 51, as censor_test_at does
    expected = concordance_index(week, survival[:, 40], held["arrest"].astype(bool) & (held["week"] <= 51))
    assert scores.harrell_c == pytest.approx(expected, abs=1e-12)
    assert model.levels == {}
    frame = scores.to_frame()
    assert list(frame.columns) == ["model", "metric", "horizon", "value"]
    assert set(frame["metric"]) == {"harrell_c", "uno_c", "auc", "brier", "ibs", "calibration_max_error"}
    assert frame.loc[frame["metric"] == "brier", "horizon"].tolist() == [20.0, 40.0]


def test_plot_and_repr(cox):
    _, _, scores = cox
    ax = scores.plot()
    assert ax.get_xlim() == (0.0, 1.0)
    assert len(ax.containers) == len(scores.horizons)  # one errorbar set per horizon
    assert "Harrell C" in repr(scores) and "Cox" in repr(scores)


# --------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def good(split, cox):
    train, test = split
    return dict(survival=cox[1], times=GRID, test_time=test["time"], test_event=test["cens"],
                train_time=train["time"], train_event=train["cens"])


@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "times": a["times"][::-1].copy()}, "sorted strictly increasing"),
    (lambda a: {**a, "survival": a["survival"][:, :-1]}, "columns but times has"),
    (lambda a: {**a, "survival": a["survival"][:-1]}, "rows but the test set has"),
    (lambda a: {**a, "survival": a["survival"][0]}, "2-D array"),
    (lambda a: {**a, "survival": a["survival"] * 1.5}, r"must lie in \[0, 1\]"),
    (lambda a: {**a, "survival": a["survival"] - 0.9}, r"must lie in \[0, 1\]"),
    (lambda a: {**a, "survival": a["survival"][:, ::-1].copy()}, "increases with time"),
    (lambda a: {**a, "test_event": a["test_event"].to_numpy() * 2}, "events must be bool or 0/1"),
    (lambda a: {**a, "test_time": a["test_time"][:-1]}, "different lengths"),
])
def test_bad_input_raises_value_error(good, change, message):
    with pytest.raises(ValueError, match=message):
        score_predictions(**change(good))


def test_bad_horizons_and_follow_up(good, split):
    with pytest.raises(ScoringInputError, match="not a point of the prediction grid"):
        score_predictions(**good, horizons=(1000.3,))
    with pytest.raises(ScoringInputError, match="within the test follow-up"):
        score_predictions(**good, horizons=(1000.0, 5000.0))
    train, _ = split
    short = train["time"] < 1500
    with pytest.raises(ScoringInputError, match="censor_test_at"):
        score_predictions(**{**good, "train_time": train["time"][short], "train_event": train["cens"][short]})
    censored = score_predictions(**{**good, "train_time": train["time"][short], "train_event": train["cens"][short]},
                                 horizons=(365.25, 1095.75), censor_test_at=1490.0)
    assert censored.risk_horizon == 1095.75


def test_cox_baseline_refuses_missing_values_and_new_levels(split):
    train, test = split
    holes = train.copy()
    holes.loc[holes.index[:3], "tsize"] = np.nan
    with pytest.raises(ValueError, match=r"'tsize' has 3 missing value"):
        fit_cox_baseline(holes, COVARIATES, "time", "cens")
    model = fit_cox_baseline(train, COVARIATES, "time", "cens")
    odd = test.copy()
    odd.loc[odd.index[0], "tgrade"] = "IV"
    with pytest.raises(ValueError, match=r"level\(s\) \['IV'\]"):
        model.predict_survival(odd, GRID)
    with pytest.raises(ValueError, match="no column 'nodes'"):
        fit_cox_baseline(train, ["nodes"], "time", "cens")
