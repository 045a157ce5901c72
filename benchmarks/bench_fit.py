#!/usr/bin/env python
"""Rotterdam → GBSG external validation: the fitted mechanistic model against a Cox model on the
same split, scored the same way.

Runs ``examples/fit_rotterdam.toml`` (``seedsoil fit``; resumable: rerun with the same ``--out``
to continue or to reprint), then prints every figure and, as its last line, one JSON object::

    {"train": ..., "patients_train": ..., "patients_test": ..., "c_index_external": ...,
     "cox_c_index_external": ..., "auc5_external": ..., "cox_auc5_external": ...,
     "calibration_max_abs_err_5y": ..., "cox_calibration_max_abs_err_5y": ...,
     "calibration_gnd_p_5y": ..., "cox_calibration_gnd_p_5y": ..., "calibration_null_p_5y": ...,
     "perfect_model_misses_floor_5y": ..., "fit_wall_s": ...}

``calibration_null_p_5y``: the share of cohorts, simulated from the model's own predictions with
GBSG's patients and censoring, whose largest quartile error reaches the observed one;
``perfect_model_misses_floor_5y``: the share whose largest error exceeds the issue's 5-point
floor (how often a perfectly calibrated model would fail it on 686 patients).

* **Train**: the Rotterdam tumour bank's 2,091 patients without adjuvant therapy (untreated, so
  the model's therapy mechanisms are not confounded with the fit); recurrence (deaths without
  recurrence censor it; other-cause death is a Gompertz law fitted beside it).
* **Model**: examples/fit_rotterdam.toml: dormancy awakening, the proliferative fraction, the
  colonies' Gompertz rate with a lognormal random effect and a grade link, the primary's
  inflammation, the shedding exponent, and a lognormal shedding random effect with a nodes link;
  tamoxifen's and CMF's strengths calibrated to EBCTCG rate ratios on the fitted model.
* **Test**: GBSG-2 (686 node-positive patients, all CMF, part 2 years of tamoxifen), predicted
  without refitting, recurrence-free survival (recurrence or death).
* **Cox**: lifelines on the same training patients (age, menopause, size category, grade,
  log(1 + nodes), log(1 + ER), log(1 + PR)); **scores**: seedsoil.cohort.validation_metrics.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _common import cpu_model  # noqa: E402

YEAR = 365.25


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fit", default=str(HERE.parent / "examples" / "fit_rotterdam.toml"))
    ap.add_argument("--out", default=str(HERE.parent / "runs" / "bench_fit"), help="run folder (resumable)")
    ap.add_argument("--draws", type=int, default=20, help="parameter draws behind the report's bands")
    args = ap.parse_args()

    import numpy as np

    from seedsoil import __version__
    from seedsoil.fit.run import cohort_table, validate_externally
    from seedsoil.runs import run_fit

    print(f"seedsoil {__version__} · {cpu_model()} · {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    res = run_fit(args.fit, args.out, fit_file=os.path.relpath(args.fit, HERE.parent), report_draws=args.draws,
                  progress=lambda m: print("  " + m, flush=True))
    wall = time.perf_counter() - t0
    est = res.estimate
    prov = res.population.provenance
    print(f"\n1. Fit on {prov['data']}: log-likelihood {est.loglik:.3f}, {est.evaluations} evaluations "
          f"({'converged' if est.converged else 'not converged'}); the likelihood evaluations took "
          f"{prov.get('evaluation_s', 0):.1f} s when they were made (fit_wall_s; a rerun replays them), this call "
          f"{wall:.1f} s")
    print(res.table[["natural_name", "natural", "natural_low", "natural_high", "unit", "at_bound"]]
          .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if res.mortality is not None:
        m = res.mortality
        print(f"   other-cause death: Gompertz beta {m.beta:.4f}/year (doubling {m.doubling_years:.1f} y), "
              f"{m.deaths} deaths")
    for c in prov.get("calibrated", []):
        print(f"   calibrated {', '.join(c['parameters'])} = {c['value']:.4g}: rate ratio {c['achieved_rate_ratio']:.3f}"
              f" (target {c['target_rate_ratio']}, attainable {c['attainable'][0]:.3f}-{c['attainable'][1]:.3f}, "
              f"{'reached' if c['reached'] else 'NOT reached'}; {c['source'].split(':')[0]})")
    train = cohort_table(res.spec.data_set, res.spec.subset)
    v = res.validation if res.validation is not None else validate_externally(res, train)
    print(f"\n2. External validation on {v.test} ({v.model.n} patients, {v.model.events} events), trained on {v.train}")
    print(v.table().round(4).to_string())
    print("\n   calibration by risk quartile (predicted vs Kaplan-Meier recurrence-free probability):")
    print(v.calibration().round(3).to_string(index=False))
    print("\n   calibration tests: Greenwood-Nam-D'Agostino chi-square; null = the largest quartile error of a "
          "perfectly calibrated model on the same patients, risks and censoring:")
    print(v.calibration_test().round(4).to_string(index=False))
    floor = 0.05
    miss = float("nan")
    for (model, h), e in v.null_errors.items():
        print(f"   {model}, {h / YEAR:g} y: a perfectly calibrated model misses the {floor:.0%} floor in "
              f"{np.mean(e > floor):.1%} of {len(e)} simulated cohorts")
        if model == v.model.model and abs(h - 5 * YEAR) < 1e-6:
            miss = float(np.mean(e > floor))
    f = v.figures()
    print(json.dumps({"train": f"{res.spec.data_set}_{res.spec.subset}", "patients_train": int(est.n),
                      "patients_test": int(v.model.n), "c_index_external": round(f["c_index_external"], 4),
                      "cox_c_index_external": round(f["cox_c_index_external"], 4),
                      "auc5_external": round(f["auc5_external"], 4), "cox_auc5_external": round(f["cox_auc5_external"], 4),
                      "calibration_max_abs_err_5y": round(f["calibration_max_abs_err_5y"], 4),
                      "cox_calibration_max_abs_err_5y": round(f["cox_calibration_max_abs_err_5y"], 4),
                      "calibration_gnd_p_5y": round(f["calibration_gnd_p_5y"], 4),
                      "cox_calibration_gnd_p_5y": round(f["cox_calibration_gnd_p_5y"], 4),
                      "calibration_null_p_5y": round(f.get("calibration_null_p_5y", float("nan")), 4),
                      "perfect_model_misses_floor_5y": round(miss, 4),
                      "fit_wall_s": prov["evaluation_s"] if prov.get("evaluation_s") else prov["wall_s"]}))


if __name__ == "__main__":
    main()
