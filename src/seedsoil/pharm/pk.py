"""Linear pharmacokinetics: compartment models declared by their constants, closed forms.

A model is a small frozen dataclass (:class:`OneCompartment`, :class:`TwoCompartment`)
that declares its *disposition*: the plasma concentration after a unit IV bolus,
a sum of exponentials ``Σ A_i e^{-λ_i s}`` (``A_i`` in 1/L, ``λ_i`` in 1/day).
Everything else is shared and follows from linearity:

* the route (:class:`FirstOrderAbsorption` from a depot, or straight into plasma),
  and a zero-order input of the dose over ``infusion_days`` (an IV infusion, or an
  infusion into the depot when an absorption is given);
* a whole schedule by superposition of single doses (:func:`superpose`);
* steady state as the sum over all past doses (:func:`steady_state_profile`).

Units: time in days, volumes in L, clearances in L/day, doses in mg,
concentrations in mg/L here (:func:`mg_per_L_to_nM` converts with the molecular
weight; the drug presets return nM).

Closed forms (s = time since the start of a dose, D the dose, F the bioavailability):

* IV bolus: ``C = D Σ A_i e^{-λ_i s}``
* first-order absorption (rate ka): ``C = F D ka Σ A_i (e^{-λ_i s} − e^{-ka s})/(ka − λ_i)``,
  which tends to ``F D ka A_i s e^{-ka s}`` as ka → λ_i (used within a relative
  distance of 1e-5, where the two forms agree to ~1e-11)
* zero-order input over T: the response above averaged over the input window,
  ``(1/T) ∫_{max(0, s−T)}^{s} C_bolus(x) dx`` (integrated in closed form per term).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ScenarioError

FloatArray = NDArray[np.float64]

#: Relative distance |ka − λ| / max(ka, λ) under which the degenerate closed form is used.
DEGENERATE_RTOL = 1e-5
#: Doses older than this many slowest time constants contribute < e^-50 and are skipped.
HORIZON_TIME_CONSTANTS = 50.0
#: Points of the grid on which steady-state extremes are searched before refinement.
EXTREMUM_GRID = 2001


def _positive(name: str, value: float, unit: str) -> float:
    x = float(value)
    if not (math.isfinite(x) and x > 0):
        raise ScenarioError(f"{name} = {value!r}: out of range; allowed (0, inf) {unit}".rstrip(),
                            field=name, value=value)
    return x


@dataclass(frozen=True)
class FirstOrderAbsorption:
    """Absorption from a depot (gut, subcutis, or a parent drug forming a metabolite).

    ``rate_per_day`` is ka (1/day), ``bioavailability`` F (fraction of the dose that
    reaches plasma) and ``lag_days`` a delay before absorption starts (days).
    """

    rate_per_day: float
    bioavailability: float = 1.0
    lag_days: float = 0.0

    def __post_init__(self) -> None:
        _positive("absorption.rate_per_day", self.rate_per_day, "1/day")
        f = float(self.bioavailability)
        if not (0.0 < f <= 1.0):
            raise ScenarioError(f"absorption.bioavailability = {self.bioavailability!r}: out of range; "
                                "allowed (0, 1]", field="absorption.bioavailability", value=self.bioavailability)
        lag = float(self.lag_days)
        if not (math.isfinite(lag) and lag >= 0.0):
            raise ScenarioError(f"absorption.lag_days = {self.lag_days!r}: out of range; allowed [0, inf) day",
                                field="absorption.lag_days", value=self.lag_days)


class LinearPK(Protocol):
    """What a compartment model declares; the closed forms below do the rest."""

    @property
    def clearance_L_per_day(self) -> float: ...

    def disposition(self) -> tuple[FloatArray, FloatArray]:
        """(A_i in 1/L, λ_i in 1/day) of the unit IV-bolus response Σ A_i e^{-λ_i s}."""
        ...


class _Shared:
    """Methods every model gets from its disposition (mixin; the maths is in functions)."""

    def half_life(self) -> float:
        """Terminal (slowest) elimination half-life (days)."""
        return math.log(2.0) / float(np.min(self.disposition()[1]))  # type: ignore[attr-defined]

    def accumulation_ratio(self, interval_days: float) -> float:
        """1 / (1 − e^{-λ_z τ}) with λ_z the terminal rate (τ in days). For a one-compartment
        IV bolus it is exactly the ratio of any concentration at steady state to the one at
        the same time after the first dose; for other inputs it is that ratio once absorption
        and distribution are over (e.g. troughs when ka·τ is large)."""
        lam = float(np.min(self.disposition()[1]))  # type: ignore[attr-defined]
        return 1.0 / -math.expm1(-lam * _positive("interval_days", interval_days, "day"))

    def steady_state_cavg(self, dose_mg: float, interval_days: float, bioavailability: float = 1.0) -> float:
        """Average concentration over a dosing interval at steady state, F·D/(CL·τ) (mg/L)."""
        return bioavailability * dose_mg / (self.clearance_L_per_day * interval_days)  # type: ignore[attr-defined]

    def steady_state_cmax(self, dose_mg: float, interval_days: float, *,
                          absorption: FirstOrderAbsorption | None = None, infusion_days: float = 0.0) -> float:
        """Peak concentration over a dosing interval at steady state (mg/L)."""
        return steady_state_extremes(self, dose_mg, interval_days, absorption=absorption,  # type: ignore[arg-type]
                                     infusion_days=infusion_days)[1]

    def steady_state_cmin(self, dose_mg: float, interval_days: float, *,
                          absorption: FirstOrderAbsorption | None = None, infusion_days: float = 0.0) -> float:
        """Trough concentration over a dosing interval at steady state (mg/L)."""
        return steady_state_extremes(self, dose_mg, interval_days, absorption=absorption,  # type: ignore[arg-type]
                                     infusion_days=infusion_days)[0]

    def tmax(self, absorption: FirstOrderAbsorption) -> float:
        """Time of the peak after a single dose through ``absorption`` (days), found numerically."""
        return single_dose_peak(self, absorption)[0]  # type: ignore[arg-type]

    def unit_response(self, s: ArrayLike, *, absorption: FirstOrderAbsorption | None = None,
                      infusion_days: float = 0.0) -> FloatArray:
        """Concentration (mg/L) per mg dosed, ``s`` days after the dose starts."""
        return unit_response(self, s, absorption=absorption, infusion_days=infusion_days)  # type: ignore[arg-type]


@dataclass(frozen=True)
class OneCompartment(_Shared):
    """One well-mixed compartment: volume V (L), clearance CL (L/day); k = CL/V."""

    volume_L: float
    clearance_L_per_day: float

    def __post_init__(self) -> None:
        _positive("volume_L", self.volume_L, "L")
        _positive("clearance_L_per_day", self.clearance_L_per_day, "L/day")

    @classmethod
    def from_half_life(cls, volume_L: float, half_life_days: float) -> "OneCompartment":
        """The model with elimination half-life ``half_life_days``: CL = V ln2 / t½."""
        return cls(volume_L, volume_L * math.log(2.0) / _positive("half_life_days", half_life_days, "day"))

    @property
    def elimination_rate_per_day(self) -> float:
        return self.clearance_L_per_day / self.volume_L

    def disposition(self) -> tuple[FloatArray, FloatArray]:
        return np.array([1.0 / self.volume_L]), np.array([self.elimination_rate_per_day])

    def tmax(self, absorption: FirstOrderAbsorption) -> float:
        """ln(ka/k)/(ka − k) + lag (days); 1/k + lag when ka = k."""
        ka, k = absorption.rate_per_day, self.elimination_rate_per_day
        if abs(ka - k) <= DEGENERATE_RTOL * max(ka, k):
            return 1.0 / k + absorption.lag_days
        return math.log(ka / k) / (ka - k) + absorption.lag_days


@dataclass(frozen=True)
class TwoCompartment(_Shared):
    """Central (V1) and peripheral (V2) compartments (L), clearance CL and
    intercompartmental clearance Q (L/day).

    Micro-constants k10 = CL/V1, k12 = Q/V1, k21 = Q/V2; the hybrid rates α > β are
    the roots of λ² − (k10 + k12 + k21) λ + k10 k21 = 0, and the unit bolus response is
    A e^{-αs} + B e^{-βs} with A = (α − k21)/(V1 (α − β)), B = (k21 − β)/(V1 (α − β)).
    """

    central_volume_L: float
    peripheral_volume_L: float
    clearance_L_per_day: float
    intercompartmental_clearance_L_per_day: float

    def __post_init__(self) -> None:
        _positive("central_volume_L", self.central_volume_L, "L")
        _positive("peripheral_volume_L", self.peripheral_volume_L, "L")
        _positive("clearance_L_per_day", self.clearance_L_per_day, "L/day")
        _positive("intercompartmental_clearance_L_per_day", self.intercompartmental_clearance_L_per_day, "L/day")

    def micro_constants(self) -> tuple[float, float, float]:
        """(k10, k12, k21) in 1/day."""
        v1, v2 = self.central_volume_L, self.peripheral_volume_L
        q = self.intercompartmental_clearance_L_per_day
        return self.clearance_L_per_day / v1, q / v1, q / v2

    def hybrid_rates(self) -> tuple[float, float]:
        """(α, β) in 1/day, α > β > 0."""
        k10, k12, k21 = self.micro_constants()
        total = k10 + k12 + k21
        alpha = 0.5 * (total + math.sqrt(total * total - 4.0 * k10 * k21))
        # β from the product of the roots: no cancellation when β << α
        return alpha, k10 * k21 / alpha

    def disposition(self) -> tuple[FloatArray, FloatArray]:
        _, _, k21 = self.micro_constants()
        alpha, beta = self.hybrid_rates()
        v1 = self.central_volume_L
        return (np.array([(alpha - k21) / (v1 * (alpha - beta)), (k21 - beta) / (v1 * (alpha - beta))]),
                np.array([alpha, beta]))


# ----------------------------------------------------------------------------- closed forms
def _terms(model: LinearPK, absorption: FirstOrderAbsorption | None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The unit-dose response as Σ c_j s^{p_j} e^{-r_j s}: arrays (c in 1/L, r in 1/day, p in {0, 1})."""
    coef, rate = model.disposition()
    if absorption is None:
        return coef, rate, np.zeros_like(rate)
    ka, f = absorption.rate_per_day, absorption.bioavailability
    cs, rs, ps = [], [], []
    for a_i, lam in zip(coef, rate):
        if abs(ka - lam) <= DEGENERATE_RTOL * max(ka, lam):
            # (e^{-λs} − e^{-ka s})/(ka − λ) = s e^{-m s}(1 + (δs)²/24 + ...), m the midpoint
            cs.append(f * ka * a_i)
            rs.append(0.5 * (ka + lam))
            ps.append(1.0)
        else:
            c = f * ka * a_i / (ka - lam)
            cs += [c, -c]
            rs += [lam, ka]
            ps += [0.0, 0.0]
    return np.array(cs), np.array(rs), np.array(ps)


def _evaluate(terms: tuple[FloatArray, FloatArray, FloatArray], s: FloatArray, infusion_days: float) -> FloatArray:
    """Σ_j of each term at ``s`` (zero for s < 0), averaged over a zero-order input window."""
    coef, rate, power = terms
    s = s[..., None]
    if infusion_days <= 0.0:
        sp = np.clip(s, 0.0, None)
        val = coef * np.where(power > 0, sp, 1.0) * np.exp(-rate * sp)
        return np.where(s >= 0.0, val, 0.0).sum(axis=-1)
    T = infusion_days
    hi = np.clip(s, 0.0, None)
    lo = np.clip(s - T, 0.0, None)
    w = hi - lo
    em = -np.expm1(-rate * w)  # 1 − e^{-r w}, accurate for small r w
    base = np.exp(-rate * lo)
    # ∫_lo^hi e^{-rx} dx = e^{-r lo} (1 − e^{-r w}) / r
    p0 = base * em / rate
    # ∫_lo^hi x e^{-rx} dx = e^{-r lo} [ (lo + 1/r)(1 − e^{-r w}) − w e^{-r w} ] / r
    p1 = base * ((lo + 1.0 / rate) * em - w * np.exp(-rate * w)) / rate
    val = coef * np.where(power > 0, p1, p0) / T
    return np.where(s > 0.0, val, 0.0).sum(axis=-1)


def unit_response(model: LinearPK, s: ArrayLike, *, absorption: FirstOrderAbsorption | None = None,
                  infusion_days: float = 0.0) -> FloatArray:
    """Concentration (mg/L) per mg dosed at times ``s`` (days) after the dose starts.

    ``absorption`` None means the drug enters plasma directly (IV); ``infusion_days`` > 0
    spreads the dose evenly over that time (into plasma, or into the depot).
    """
    s = np.asarray(s, dtype=float)
    lag = absorption.lag_days if absorption is not None else 0.0
    return _evaluate(_terms(model, absorption), s - lag, float(infusion_days))


def _horizon(model: LinearPK, absorption: FirstOrderAbsorption | None, infusion_days: float) -> float:
    """Time after which a dose's contribution is below e^-50 of its scale (days)."""
    rates = model.disposition()[1]
    slowest = float(np.min(rates)) if absorption is None else min(float(np.min(rates)), absorption.rate_per_day)
    lag = absorption.lag_days if absorption is not None else 0.0
    return HORIZON_TIME_CONSTANTS / slowest + infusion_days + lag


def superpose(model: LinearPK, times: ArrayLike, dose_times: ArrayLike, dose_mg: ArrayLike | float, *,
              absorption: FirstOrderAbsorption | None = None, infusion_days: float = 0.0) -> FloatArray:
    """Concentration (mg/L) at ``times`` (days) for doses ``dose_mg`` given at ``dose_times``.

    Linear PK: the sum of single-dose responses. Vectorized over times; the loop runs
    over the W most recent doses of each time, where W is the most doses that fall within
    the horizon of :data:`HORIZON_TIME_CONSTANTS` slowest time constants (older doses
    contribute < e^-50 of a dose and are skipped), so the cost is O(len(times) · W).
    """
    t = np.asarray(times, dtype=float)
    starts = np.asarray(dose_times, dtype=float).ravel()
    doses = np.broadcast_to(np.asarray(dose_mg, dtype=float), starts.shape)
    out = np.zeros(t.shape)
    if starts.size == 0:
        return out
    order = np.argsort(starts, kind="stable")
    starts, doses = starts[order], doses[order]
    terms = _terms(model, absorption)
    lag = absorption.lag_days if absorption is not None else 0.0
    horizon = _horizon(model, absorption, infusion_days)
    first_in_window = np.searchsorted(starts, starts - horizon, side="left")
    window = int(np.max(np.arange(starts.size) - first_in_window)) + 1
    last = np.searchsorted(starts, t, side="right") - 1  # most recent dose started at or before t
    for j in range(window):
        idx = last - j
        ok = idx >= 0
        if not ok.any():
            break
        k = np.clip(idx, 0, None)
        contrib = doses[k] * _evaluate(terms, t - starts[k] - lag, infusion_days)
        out += np.where(ok, contrib, 0.0)
    return out


def steady_state_profile(model: LinearPK, s: ArrayLike, dose_mg: float, interval_days: float, *,
                         absorption: FirstOrderAbsorption | None = None, infusion_days: float = 0.0) -> FloatArray:
    """Concentration (mg/L) ``s`` days (0 ≤ s < τ) after a dose at steady state of
    ``dose_mg`` every ``interval_days``: Σ_{n ≥ 0} C_1(s + nτ), summed to the horizon."""
    tau = _positive("interval_days", interval_days, "day")
    s = np.asarray(s, dtype=float)
    n = int(math.ceil(_horizon(model, absorption, infusion_days) / tau)) + 1
    past = np.arange(n) * tau
    return superpose(model, s, -past[::-1], dose_mg, absorption=absorption, infusion_days=infusion_days)


def _refine(fn, grid: FloatArray, values: FloatArray, i: int, sign: float) -> tuple[float, float]:
    """Bounded scalar refinement of a grid extremum (sign +1 for a minimum, −1 for a maximum)."""
    from scipy.optimize import minimize_scalar

    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if hi <= lo:
        return float(grid[i]), float(values[i])
    res = minimize_scalar(lambda x: sign * float(fn(np.array([x]))[0]), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-12 * max(hi, 1.0)})
    x, v = float(res.x), float(fn(np.array([res.x]))[0])
    return (x, v) if sign * v <= sign * values[i] else (float(grid[i]), float(values[i]))


def steady_state_extremes(model: LinearPK, dose_mg: float, interval_days: float, *,
                          absorption: FirstOrderAbsorption | None = None,
                          infusion_days: float = 0.0) -> tuple[float, float]:
    """(Cmin, Cmax) over one dosing interval at steady state (mg/L)."""
    tau = _positive("interval_days", interval_days, "day")
    # s = 0 counts the new dose (a bolus peak), s = τ does not (the trough just before the next)
    grid = np.linspace(0.0, tau, EXTREMUM_GRID)

    def fn(x: FloatArray) -> FloatArray:
        return steady_state_profile(model, x, dose_mg, tau, absorption=absorption, infusion_days=infusion_days)

    vals = fn(grid)
    cmin = _refine(fn, grid, vals, int(np.argmin(vals)), +1.0)[1]
    cmax = _refine(fn, grid, vals, int(np.argmax(vals)), -1.0)[1]
    return cmin, cmax


def single_dose_peak(model: LinearPK, absorption: FirstOrderAbsorption | None = None,
                     infusion_days: float = 0.0) -> tuple[float, float]:
    """(tmax in days, Cmax in mg/L per mg) of a single dose, found on a grid and refined."""
    rates = model.disposition()[1]
    slowest = float(np.min(rates)) if absorption is None else min(float(np.min(rates)), absorption.rate_per_day)
    lag = absorption.lag_days if absorption is not None else 0.0
    horizon = 10.0 / slowest + infusion_days + lag  # the peak comes well before 10 time constants
    grid = np.linspace(0.0, horizon, 20001)

    def fn(x: FloatArray) -> FloatArray:
        return unit_response(model, x, absorption=absorption, infusion_days=infusion_days)

    vals = fn(grid)
    return _refine(fn, grid, vals, int(np.argmax(vals)), -1.0)


def mg_per_L_to_nM(c_mg_per_L: ArrayLike, molecular_weight_g_per_mol: float) -> FloatArray:
    """mg/L → nM: 1 mg/L = 1e6 / MW nmol/L (MW in g/mol)."""
    return np.asarray(c_mg_per_L, dtype=float) * (1e6 / _positive("molecular_weight", molecular_weight_g_per_mol,
                                                                   "g/mol"))
