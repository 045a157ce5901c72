#!/usr/bin/env python
"""Rotterdam → GBSG external validation: the mechanistic model (its shedding random effect fitted)
against a Cox model on the same split, scored the same way.

Prints the figures, then, as its last line, one JSON object::

    {"train": ..., "patients_train": ..., "patients_test": ..., "c_index_external": ...,
     "cox_c_index_external": ..., "auc5_external": ..., "cox_auc5_external": ...,
     "calibration_max_abs_err_5y": ..., "fit_wall_s": ...}

What it does (issue 13's validation, as far as the fit goes today)
-----------------------------------------------------------------
* **Train**: the Rotterdam tumour bank's 2,091 patients without adjuvant therapy
  (``seedsoil.data.rotterdam_untreated``; untreated, so that the model's own therapy
  mechanisms are not confounded with the fit), endpoint recurrence-free survival (recurrence
  or death, the data's definition, as GBSG's).
* **Mechanistic model**: the default breast scenario with surgery at the size category's
  diameter (T1 15 mm, T2 30 mm, T3 60 mm: assumption, Rotterdam gives categories only), the
  relapse-time engine's distant curve at the library shedding rate, and
  ``seedsoil.fit.fit_shedding_frailty`` (median shedding, its lognormal spread, and the link
  log(1 + positive nodes) on shedding) — the only parameters fitted so far.
* **Test**: GBSG-2 (686 node-positive patients, all given CMF, part tamoxifen), predicted
  without refitting: each patient's own size at surgery, CMF × 6 from 4 weeks, and 5 years of
  tamoxifen where she had it (her ER status recorded), through the adjuvant mechanisms.
* **Cox**: lifelines' Cox model on the same training patients and covariates (age,
  menopause, size category, grade, log(1 + nodes), log(1 + ER), log(1 + PR) levels; numeric,
  since GBSG has a grade Rotterdam lacks), predicting GBSG.
* **Scores**: ``seedsoil.cohort.validation_metrics.score_predictions`` (Harrell's and Uno's C
  at 5 years, AUC and Brier at 3 and 5 years, integrated Brier, calibration by risk quartile).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _common import cpu_model  # noqa: E402

YEAR = 365.25
DIAMETER_MM = {"T1": 15.0, "T2": 30.0, "T3": 60.0}


def main() -> None:
    import pandas as pd

    from seedsoil import __version__, data
    from seedsoil.cohort.validation_metrics import fit_cox_baseline, score_predictions
    from seedsoil.fit import fit_shedding_frailty, marginal_curves
    from seedsoil.fit.frailty import engine_reference
    from seedsoil.scenario import default_scenario

    print(f"seedsoil {__version__} · {cpu_model()} · {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.2f}")
    train = data.rotterdam_untreated(data.load_rotterdam()).reset_index(drop=True)
    test = data.load_gbsg().reset_index(drop=True)
    base = default_scenario().with_settings(simulation={"follow_up": "20 year"})

    # ---- mechanistic fit on Rotterdam
    t0 = time.perf_counter()
    t_tr = np.maximum(train["rfs_days"].to_numpy(float), 1.0)
    e_tr = train["rfs_event"].to_numpy(bool)
    cum = np.zeros(len(train))
    haz = np.zeros(len(train))
    for cat, mm in DIAMETER_MM.items():
        sel = (train["size_category"] == cat).to_numpy()
        cum[sel], haz[sel] = engine_reference(base.with_settings(surgery={"primary_diameter": f"{mm} mm"}), t_tr[sel])
    x_tr = np.log1p(train["positive_nodes"].to_numpy(float))[:, None]
    fit = fit_shedding_frailty(cum, haz, e_tr, x_tr, ["log1p_nodes"])
    fit_wall = time.perf_counter() - t0
    print(f"\n1. Mechanistic fit on Rotterdam untreated ({len(train)} patients, {int(e_tr.sum())} RFS events): "
          f"{fit_wall:.1f} s")
    print(fit.to_frame().round(4).to_string(index=False))
    if fit.extra.get("sigma_at_bound"):
        print("   sigma at its bound: the shedding random effect alone cannot bend the model's hazard into the data's")

    # ---- predictions for GBSG on a common grid
    grid = np.union1d(np.linspace(1.0, test["rfs_days"].max(), 400), [3 * YEAR, 5 * YEAR])
    t1 = time.perf_counter()
    surv = np.empty((len(test), len(grid)))
    m_te = np.exp(fit.estimates[0] + np.log1p(test["positive_nodes"].to_numpy(float)) * fit.estimates[2])
    for i, row in test.iterrows():
        therapy = [{"kind": "chemotherapy", "regimen": "CMF", "start": "4 week"}]
        if row["hormonal_therapy"]:
            therapy.append({"kind": "endocrine", "agent": "tamoxifen", "start": "6 month"})
        sc = base.with_settings(surgery={"primary_diameter": f"{max(float(row['tumour_size']), 3.0)} mm"},
                                therapy=therapy, patient={"er": str(row["er"])})
        c, h = engine_reference(sc, grid)
        surv[i], _ = marginal_curves(c, h, fit.sigma, m_te[i])
    surv = np.minimum.accumulate(np.clip(surv, 0.0, 1.0), axis=1)
    pred_wall = time.perf_counter() - t1
    print(f"\n2. Predictions for GBSG ({len(test)} patients, each her own engine solve): {pred_wall:.1f} s")

    # ---- Cox on the same split
    cols = ["age", "post", "size_cat", "grade", "log1p_nodes", "log1p_er", "log1p_pr"]

    def design(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "age": df["age"].astype(float), "post": (df["menopause"] == "post").astype(float),
            "size_cat": df["size_category"].map({"T1": 1.0, "T2": 2.0, "T3": 3.0}).astype(float),
            "grade": df["grade"].astype(float), "log1p_nodes": np.log1p(df["positive_nodes"].astype(float)),
            "log1p_er": np.log1p(df["er_level"].astype(float)), "log1p_pr": np.log1p(df["pr_level"].astype(float)),
            "rfs_days": df["rfs_days"].astype(float), "rfs_event": df["rfs_event"].astype(int)})

    cox = fit_cox_baseline(design(train), cols, "rfs_days", "rfs_event")
    cox_surv = cox.predict_survival(design(test), grid)

    # ---- scores
    kw = dict(times=grid, test_time=test["rfs_days"].to_numpy(float), test_event=test["rfs_event"].to_numpy(bool),
              train_time=t_tr, train_event=e_tr, horizons=(3 * YEAR, 5 * YEAR), risk_horizon=5 * YEAR)
    mech = score_predictions(surv, model="seedsoil (shedding frailty)", **kw)
    ref = score_predictions(cox_surv, model="Cox (lifelines)", **kw)
    print("\n3. External validation on GBSG (trained on Rotterdam untreated, RFS)")
    both = pd.concat([mech.to_frame(), ref.to_frame()])
    print(both.pivot_table(index=["metric", "horizon"], columns="model", values="value").round(4).to_string())
    print("\n   calibration at 5 years by risk quartile (predicted vs Kaplan-Meier):")
    cal = mech.calibration
    print(cal[np.isclose(cal["horizon"], 5 * YEAR)].round(3).to_string(index=False))
    cal_err = float(mech.calibration_max_error[1])
    print(json.dumps({"train": "rotterdam_untreated", "patients_train": int(len(train)), "patients_test": int(len(test)),
                      "c_index_external": round(mech.harrell_c, 4), "cox_c_index_external": round(ref.harrell_c, 4),
                      "auc5_external": round(float(mech.auc[1]), 4), "cox_auc5_external": round(float(ref.auc[1]), 4),
                      "calibration_max_abs_err_5y": round(cal_err, 4), "fit_wall_s": round(fit_wall, 2)}))


if __name__ == "__main__":
    main()
