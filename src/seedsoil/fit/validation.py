"""External validation of a fitted population, side by side with a Cox model on the same split.

The fitted population predicts each test patient's recurrence-free probability without
refitting (her own size at surgery, her therapies through the adjuvant mechanisms, other-cause
death by the fitted Gompertz law). A Cox proportional-hazards model (lifelines) is fitted on
the same training patients and covariates and predicts the same test patients. Both are
scored by :func:`seedsoil.cohort.validation_metrics.score_predictions`: Harrell's and Uno's C,
time-dependent AUC and Brier score at the horizons, the integrated Brier score, and
calibration by risk quartile (predicted vs Kaplan–Meier event-free probability) with the
Greenwood–Nam–D'Agostino test. To tell a calibration miss from the test cohort's sampling
noise, each model's largest quartile error is set against the distribution of the largest error
a perfectly calibrated model would show on the same patients, risks and censoring
(:func:`~seedsoil.cohort.validation_metrics.perfect_calibration_errors`).

The Cox model's covariates are the clinical record both data sets share: age, menopausal
status, size category (1, 2, 3: Rotterdam records no size in mm), grade, log(1 + positive
nodes), log(1 + ER) and log(1 + PR) levels (numeric, since the test set may have a grade
the training set lacks: GBSG has grade 1, Rotterdam only 2 and 3). The Cox model is therefore
given information (receptor levels, age, menopause) the mechanistic model does not use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

YEAR = 365.25
COX_COVARIATES = ("age", "post", "size_cat", "grade", "log1p_nodes", "log1p_er", "log1p_pr")


def cox_design(df: pd.DataFrame, time_col: str, event_col: str) -> pd.DataFrame:
    """The Cox model's design (module docstring) with the outcome columns ``time`` and ``event``."""
    return pd.DataFrame({
        "age": df["age"].astype(float), "post": (df["menopause"].astype(str) == "post").astype(float),
        "size_cat": df["size_category"].astype(str).map({"T1": 1.0, "T2": 2.0, "T3": 3.0}).astype(float),
        "grade": df["grade"].astype(float), "log1p_nodes": np.log1p(df["positive_nodes"].astype(float)),
        "log1p_er": np.log1p(df["er_level"].astype(float)), "log1p_pr": np.log1p(df["pr_level"].astype(float)),
        "time": df[time_col].astype(float), "event": df[event_col].astype(int)})


@dataclass
class ExternalValidation:
    """Scores of the fitted population and of the Cox model on the test set, and the predictions."""

    model: Any  # PredictionScores
    cox: Any  # PredictionScores
    grid: np.ndarray
    survival: np.ndarray
    cox_survival: np.ndarray
    train: str
    test: str
    #: (model name, horizon in days) -> largest quartile error of each perfectly calibrated
    #: simulated cohort (empty without simulations)
    null_errors: dict = field(default_factory=dict)

    def calibration_test(self) -> pd.DataFrame:
        """The Greenwood–Nam–D'Agostino test per model and horizon, with the perfectly calibrated
        model's largest error (median, 95th percentile) and the share of simulated cohorts
        where it reaches the observed one (``null_p``)."""
        rows = []
        for sc in (self.model, self.cox):
            t = sc.calibration_test()
            for r, h in zip(t.itertuples(), sc.horizons):
                e = self.null_errors.get((sc.model, h), np.empty(0))
                obs = sc.calibration_max_error[sc.horizons.index(h)]
                rows.append({**r._asdict(), "max_error": obs,
                             "null_median": float(np.median(e)) if len(e) else np.nan,
                             "null_q95": float(np.quantile(e, 0.95)) if len(e) else np.nan,
                             "null_p": float(np.mean(e >= obs)) if len(e) else np.nan})
        return pd.DataFrame(rows).drop(columns="Index")

    def table(self) -> pd.DataFrame:
        both = pd.concat([self.model.to_frame(), self.cox.to_frame()])
        return both.pivot_table(index=["metric", "horizon"], columns="model", values="value", sort=False)

    def calibration(self) -> pd.DataFrame:
        a = self.model.calibration.assign(model=self.model.model)
        b = self.cox.calibration.assign(model=self.cox.model)
        return pd.concat([a, b], ignore_index=True)

    def figures(self) -> dict:
        m, c = self.model, self.cox
        return {"c_index_external": m.harrell_c, "cox_c_index_external": c.harrell_c,
                "uno_c_external": m.uno_c, "cox_uno_c_external": c.uno_c,
                **{f"auc{h / YEAR:g}_external": a for h, a in zip(m.horizons, m.auc)},
                **{f"cox_auc{h / YEAR:g}_external": a for h, a in zip(c.horizons, c.auc)},
                "ibs_external": m.ibs, "cox_ibs_external": c.ibs,
                **{f"calibration_max_abs_err_{h / YEAR:g}y": e for h, e in zip(m.horizons, m.calibration_max_error)},
                **{f"cox_calibration_max_abs_err_{h / YEAR:g}y": e
                   for h, e in zip(c.horizons, c.calibration_max_error)},
                **self._test_figures()}

    def _test_figures(self) -> dict:
        out = {}
        for r in self.calibration_test().itertuples():
            pre = "" if r.model == self.model.model else "cox_"
            y = f"{r.horizon / YEAR:g}y"
            out[f"{pre}calibration_gnd_p_{y}"] = r.p_value
            if np.isfinite(r.null_p):
                out[f"{pre}calibration_null_median_{y}"] = r.null_median
                out[f"{pre}calibration_null_p_{y}"] = r.null_p
        return out


def external_validation(population: Any, train: pd.DataFrame, test: pd.DataFrame, *,
                        train_time: str = "rfs_days", train_event: str = "rfs_event", test_time: str = "rfs_days",
                        test_event: str = "rfs_event", horizons_years: Sequence[float] = (3.0, 5.0),
                        grid_points: int = 400, executor: Any = None, train_name: str = "train",
                        test_name: str = "test", calibration_simulations: int = 1000,
                        seed: int = 0) -> ExternalValidation:
    """Predict ``test`` with ``population`` (a FittedPopulation; recurrence-free survival) and with a
    Cox model fitted on ``train``; score both (module docstring). ``calibration_simulations``
    perfectly calibrated cohorts per model and horizon (0: none), seeded by ``seed``."""
    from ..cohort.validation_metrics import fit_cox_baseline, perfect_calibration_errors, score_predictions

    train = train.reset_index(drop=True)
    test = test.reset_index(drop=True)
    horizons = [h * YEAR for h in horizons_years]
    tmax = float(test[test_time].max())
    grid = np.union1d(np.linspace(1.0, tmax, grid_points), horizons)
    surv = population.survival(test, grid, endpoint="rfs", executor=executor)[0]
    surv = np.minimum.accumulate(np.clip(surv, 0.0, 1.0), axis=1)
    cox = fit_cox_baseline(cox_design(train, train_time, train_event), COX_COVARIATES, "time", "event")
    cox_surv = cox.predict_survival(cox_design(test, test_time, test_event), grid)
    kw = dict(times=grid, test_time=test[test_time].to_numpy(float), test_event=test[test_event].to_numpy(bool),
              train_time=train[train_time].to_numpy(float), train_event=train[train_event].to_numpy(bool),
              horizons=horizons, risk_horizon=horizons[-1])
    mech = score_predictions(surv, model=f"seedsoil ({population.name})", **kw)
    ref = score_predictions(cox_surv, model="Cox (lifelines)", **kw)
    null = {}
    if calibration_simulations > 0:
        for k, (sc, S) in enumerate(((mech, surv), (ref, cox_surv))):
            for j, h in enumerate(horizons):
                null[(sc.model, h)] = perfect_calibration_errors(
                    S, grid, kw["test_time"], kw["test_event"], horizon=h, simulations=int(calibration_simulations),
                    seed=int(np.random.SeedSequence(int(seed), spawn_key=(k, j)).generate_state(1)[0]))
    return ExternalValidation(mech, ref, grid, surv, cox_surv, train_name, test_name, null)
