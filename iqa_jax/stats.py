"""Evaluation statistics for IQA: rank/linear correlations, logistic fits, aggregation.

Host-side and float64 throughout (NumPy + SciPy): these run once per split on a
few thousand scores, where accuracy matters and speed does not.

* `srcc`, `krcc`, `plcc`, `rmse`: Spearman, Kendall (tau-b, tie-corrected),
  Pearson and root-mean-square error. Identical to `scipy.stats.spearmanr`,
  `kendalltau` and `pearsonr`, except that an undefined correlation (a constant
  input) returns NaN with an `UndefinedStatisticWarning` that says why.
* `logistic_4pl`, `logistic_5pl`, `fit_logistic`: the monotone mappings used
  before PLCC/RMSE in IQA papers (VQEG 2000 4-parameter form, as in source text
  002 Eq. 8; the 5-parameter form of Sheikh et al. 2006 as used by DBCNN).
* `evaluate`: every statistic for one set of predictions.
* `aggregate`: median (the papers' statistic), mean and std over splits.

Fitting notes (see ../shared/notes/anchors.md section 6): the fit runs on
z-scored predictions and scores, from sign-aware initial values (b1/b2 from the
range of the scores, b3 = mean of the *predictions*, slope ~ 1/std of the
predictions), with a generous `maxfev`; the parameters are mapped back to the
caller's units. pyiqa initialises the 5PL's b3 with the mean of the MOS, a bug
relative to the DBCNN original; we do not. A failed fit never raises: the
result is marked unfitted and carries the reason.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

__all__ = [
    "UndefinedStatisticWarning",
    "Evaluation",
    "FitResult",
    "srcc",
    "krcc",
    "plcc",
    "rmse",
    "logistic_4pl",
    "logistic_5pl",
    "fit_logistic",
    "evaluate",
    "aggregate",
]

FitName = Literal["4pl", "5pl"]


class UndefinedStatisticWarning(RuntimeWarning):
  """A statistic is undefined for the given data (for example a constant input)."""


# ----------------------------------------------------------------------------
# Input checks.


def _as_pair(x, y, *, names=("x", "y"), min_n=2) -> tuple[np.ndarray, np.ndarray]:
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  for a, name in ((x, names[0]), (y, names[1])):
    if a.ndim != 1:
      raise ValueError(f"{name} must be 1-D, got shape {a.shape}.")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
      raise ValueError(
          f"{name} has {bad.size} non-finite value(s) (first at index "
          f"{bad[0]}: {a[bad[0]]}); remove or fix them before evaluating.")
  if x.shape != y.shape:
    raise ValueError(
        f"{names[0]} and {names[1]} must have the same length, got "
        f"{x.shape[0]} and {y.shape[0]}.")
  if x.shape[0] < min_n:
    raise ValueError(
        f"need at least {min_n} samples, got {x.shape[0]}.")
  return x, y


def _constant_reason(x, y, names) -> str | None:
  for a, name in ((x, names[0]), (y, names[1])):
    if np.all(a == a[0]):
      return (f"{name} is constant (all {a.shape[0]} values equal "
              f"{a[0]:.6g}), so the correlation is undefined")
  return None


def _undefined(stat: str, reason: str) -> float:
  warnings.warn(f"{stat}: {reason}; returning NaN.", UndefinedStatisticWarning,
                stacklevel=4)
  return math.nan


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
  # Centre first (two-pass) for accuracy; clip the rounding excess of |r| > 1.
  xc = x - x.mean()
  yc = y - y.mean()
  # Scale by the largest magnitude so huge or tiny scores cannot overflow.
  xc = xc / np.max(np.abs(xc))
  yc = yc / np.max(np.abs(yc))
  r = np.dot(xc, yc) / math.sqrt(np.dot(xc, xc) * np.dot(yc, yc))
  return float(np.clip(r, -1.0, 1.0))


# ----------------------------------------------------------------------------
# Correlations and errors.


def _correlation(name: str, x, y, fn) -> float:
  x, y = _as_pair(x, y)
  reason = _constant_reason(x, y, ("x", "y"))
  if reason:
    return _undefined(name, reason)
  return fn(x, y)


def plcc(x, y) -> float:
  """Pearson linear correlation coefficient of two 1-D arrays (no fitting).

  Returns NaN with an `UndefinedStatisticWarning` when either input is constant.
  """
  return _correlation("plcc", x, y, _pearson)


def srcc(x, y) -> float:
  """Spearman rank-order correlation: Pearson of the tie-averaged ranks.

  Returns NaN with an `UndefinedStatisticWarning` when either input is constant.
  """
  return _correlation("srcc", x, y, lambda a, b: _pearson(
      scipy.stats.rankdata(a), scipy.stats.rankdata(b)))


def krcc(x, y) -> float:
  """Kendall rank correlation, tau-b (corrected for ties in both inputs).

  Returns NaN with an `UndefinedStatisticWarning` when either input is constant.
  SciPy's O(n log n) tau-b does the work.
  """
  return _correlation("krcc", x, y, lambda a, b: float(
      scipy.stats.kendalltau(a, b, variant="b").statistic))


def rmse(x, y) -> float:
  """Root-mean-square error between two 1-D arrays of the same units."""
  x, y = _as_pair(x, y, min_n=1)
  return float(np.sqrt(np.mean((x - y) ** 2)))


# ----------------------------------------------------------------------------
# Logistic mappings.


def logistic_4pl(x, b1, b2, b3, b4):
  """VQEG 4-parameter logistic: b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|)).

  b1 and b2 are the asymptotes for x -> +inf and x -> -inf (so b1 < b2 gives a
  decreasing curve), b3 the midpoint, |b4| the scale. Source text 002 Eq. 8.
  """
  x = np.asarray(x, dtype=np.float64)
  return b2 + (b1 - b2) * scipy.special.expit((x - b3) / abs(b4))


def logistic_5pl(x, b1, b2, b3, b4, b5):
  """5-parameter logistic: b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5.

  The form of Sheikh, Sabir and Bovik (IEEE TIP 2006) as used by DBCNN's
  `verify_performance.m`; 1 / (1 + exp(z)) is evaluated as expit(-z).
  """
  x = np.asarray(x, dtype=np.float64)
  return b1 * (0.5 - scipy.special.expit(-b2 * (x - b3))) + b4 * x + b5


_LOGISTICS = {"4pl": logistic_4pl, "5pl": logistic_5pl}


@dataclasses.dataclass(frozen=True)
class FitResult:
  """A logistic fit. `params` are in the caller's units; NaN when unfitted."""

  kind: str
  fitted: bool
  params: tuple[float, ...]
  reason: str | None = None

  def __call__(self, x) -> np.ndarray:
    """Maps predictions through the fitted curve."""
    if not self.fitted:
      raise ValueError(f"the {self.kind} fit failed ({self.reason}); "
                       "there is no curve to apply.")
    return _LOGISTICS[self.kind](x, *self.params)


def _initial_values(kind: str, xs: np.ndarray, ys: np.ndarray, sign: float):
  """Sign-aware starting points on z-scored data (mean 0, std 1)."""
  lo, hi = float(ys.min()), float(ys.max())
  if kind == "4pl":
    b1, b2 = (hi, lo) if sign >= 0 else (lo, hi)
    # b3 = mean of the predictions (0 after z-scoring), scale ~ std(x) = 1.
    return [(b1, b2, 0.0, 1.0), (b1, b2, 0.0, 0.3), (b1, b2, 0.0, 3.0)]
  # 5PL: b1 = +-range(y), b2 = 1/std(x), b3 = mean(x), linear part 0, offset
  # mean(y).
  b1 = sign * (hi - lo)
  return [(b1, 1.0, 0.0, 0.0, 0.0), (b1, 3.0, 0.0, 0.0, 0.0),
          (b1, 0.3, 0.0, 0.0, 0.0)]


def _to_caller_units(kind, c, mx, sx, my, sy) -> tuple[float, ...]:
  """Maps parameters fitted on (x - mx)/sx -> (y - my)/sy back to x -> y."""
  if kind == "4pl":
    c1, c2, c3, c4 = c
    return (my + sy * c1, my + sy * c2, mx + sx * c3, sx * abs(c4))
  c1, c2, c3, c4, c5 = c
  return (sy * c1, c2 / sx, mx + sx * c3, sy * c4 / sx,
          my + sy * (c5 - c4 * mx / sx))


def fit_logistic(x, y, *, kind: FitName = "4pl",
                 maxfev: int = 100_000) -> FitResult:
  """Fits `logistic_4pl` or `logistic_5pl` mapping predictions x to scores y.

  Least squares (`scipy.optimize.curve_fit`, Levenberg-Marquardt) on z-scored
  data from several sign-aware starting points; the best finite fit wins.

  Args:
    x: predictions, shape (n,).
    y: subjective scores, shape (n,).
    kind: "4pl" or "5pl".
    maxfev: the evaluation budget of each start.

  Returns:
    A `FitResult`; `fitted=False` with a `reason` (never an exception) when no
    start converged or the data cannot support the fit.
  """
  if kind not in _LOGISTICS:
    raise ValueError(f"kind must be '4pl' or '5pl', got {kind!r}.")
  x, y = _as_pair(x, y, names=("pred", "mos"))
  n_params = 4 if kind == "4pl" else 5
  nan_params = (math.nan,) * n_params

  def failed(reason):
    return FitResult(kind, False, nan_params, reason)

  if x.shape[0] <= n_params:
    return failed(f"{x.shape[0]} samples cannot determine {n_params} "
                  "parameters")
  constant = _constant_reason(x, y, ("pred", "mos"))
  if constant:
    return failed(constant.replace("so the correlation", "so the curve"))
  mx, sx, my, sy = x.mean(), x.std(), y.mean(), y.std()
  xs, ys = (x - mx) / sx, (y - my) / sy
  sign = 1.0 if _pearson(xs, ys) >= 0 else -1.0
  func = _LOGISTICS[kind]

  best, best_sse, errors = None, math.inf, []
  for p0 in _initial_values(kind, xs, ys, sign):
    try:
      with warnings.catch_warnings():
        # Degenerate covariance estimates are irrelevant: we only use the fit.
        warnings.simplefilter("ignore", scipy.optimize.OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        c, _ = scipy.optimize.curve_fit(func, xs, ys, p0=p0, maxfev=maxfev)
    except (RuntimeError, ValueError, FloatingPointError) as e:
      errors.append(str(e).strip().splitlines()[0])
      continue
    sse = float(np.sum((func(xs, *c) - ys) ** 2))
    if np.all(np.isfinite(c)) and math.isfinite(sse) and sse < best_sse:
      best, best_sse = c, sse
  if best is None:
    detail = errors[0] if errors else "non-finite parameters"
    return failed(f"no starting point converged ({detail})")
  params = _to_caller_units(kind, tuple(float(v) for v in best), mx, sx, my, sy)
  if not np.all(np.isfinite(func(x, *params))):
    return failed("the fitted curve is not finite on the predictions")
  return FitResult(kind, True, params)


def place_infinite(x) -> tuple[np.ndarray, int]:
  """Replaces +-inf predictions by finite stand-ins that keep their ranks.

  +inf (PSNR of identical images) becomes max + (max - min) of the finite
  values and -inf min - (max - min) (a range of 0 counts as 1): above (below)
  every finite prediction and tied with each other, so SRCC and KRCC are
  those of the ranks with inf as the largest value, and the logistic fits
  see a point at the saturated end. Returns (the array, how many replaced).
  NaN is not touched (`evaluate` refuses it).
  """
  x = np.asarray(x, dtype=np.float64).copy()
  inf = np.isinf(x)
  if not inf.any():
    return x, 0
  finite = x[np.isfinite(x)]
  if finite.size == 0:
    raise ValueError("every prediction is infinite; nothing to rank.")
  hi, lo = float(finite.max()), float(finite.min())
  span = hi - lo if hi > lo else 1.0
  x[inf & (x > 0)] = hi + span
  x[inf & (x < 0)] = lo - span
  return x, int(inf.sum())


# ----------------------------------------------------------------------------
# Evaluation of one split.


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """All statistics of one set of predictions against subjective scores.

  `plcc` is the raw (unfitted) Pearson correlation; `plcc_fitted` and
  `rmse_fitted` are computed after the logistic mapping and are NaN when no fit
  was asked for or it failed (then `fitted` is False and `notes` says why).
  `notes` also explains every NaN among the correlations.
  """

  n: int
  srcc: float
  krcc: float
  plcc: float
  plcc_fitted: float
  rmse_fitted: float
  fit: str | None
  fitted: bool
  fit_params: tuple[float, ...] | None
  lower_is_better: bool
  notes: tuple[str, ...] = ()

  def as_dict(self) -> dict:
    d = dataclasses.asdict(self)
    d["fit_params"] = (None if self.fit_params is None else
                       dict(zip(("b1", "b2", "b3", "b4", "b5"), self.fit_params)))
    d["notes"] = list(self.notes)
    return d


def evaluate(pred, mos, *, fit: FitName | None = "4pl",
             lower_is_better: bool = False) -> Evaluation:
  """SRCC, KRCC, raw PLCC, and PLCC/RMSE after a logistic fit.

  Args:
    pred: predicted quality, shape (n,).
    mos: subjective scores, shape (n,), higher = better.
    fit: "4pl", "5pl" or None (no fit; fitted PLCC/RMSE are NaN).
    lower_is_better: the predictions are a distortion measure (lower = better,
      such as LPIPS or DISTS). SRCC, KRCC and raw PLCC are then reported for
      -pred, so a good measure scores positive. The logistic fit is sign-aware
      and runs on pred as given, so its parameters are in pred's units.

  Returns:
    An `Evaluation`. Undefined correlations (constant input) are NaN, with the
    reason in `notes` and an `UndefinedStatisticWarning`.
  """
  if fit is not None and fit not in _LOGISTICS:
    raise ValueError(f"fit must be '4pl', '5pl' or None, got {fit!r}.")
  pred, mos = _as_pair(pred, mos, names=("pred", "mos"))
  signed = -pred if lower_is_better else pred
  notes = []
  reason = _constant_reason(pred, mos, ("pred", "mos"))
  if reason:
    notes.append(f"SRCC, KRCC and PLCC are NaN: {reason}.")
    warnings.warn(notes[-1], UndefinedStatisticWarning, stacklevel=2)
    s = k = p = math.nan
  else:
    s, k, p = srcc(signed, mos), krcc(signed, mos), plcc(signed, mos)

  plcc_fit = rmse_fit = math.nan
  fitted, params = False, None
  if fit is not None:
    result = fit_logistic(pred, mos, kind=fit)
    params = result.params
    if result.fitted:
      fitted = True
      mapped = result(pred)
      rmse_fit = rmse(mapped, mos)
      if np.all(mapped == mapped[0]):
        notes.append(f"fitted PLCC is NaN: the {fit.upper()} curve is flat on "
                     "the predictions.")
      else:
        plcc_fit = _pearson(mapped, mos)
    else:
      notes.append(f"unfitted: the {fit.upper()} fit failed "
                   f"({result.reason}); fitted PLCC/RMSE are NaN, use the "
                   "raw PLCC.")
  return Evaluation(
      n=int(pred.shape[0]), srcc=s, krcc=k, plcc=p, plcc_fitted=plcc_fit,
      rmse_fitted=rmse_fit, fit=fit, fitted=fitted, fit_params=params,
      lower_is_better=lower_is_better, notes=tuple(notes))


# ----------------------------------------------------------------------------
# Aggregation over splits.

_NUMERIC_FIELDS = ("srcc", "krcc", "plcc", "plcc_fitted", "rmse_fitted")


def aggregate(results: Iterable[Evaluation | Mapping[str, float]], *,
              keys: Sequence[str] | None = None,
              ddof: int = 0) -> dict[str, dict[str, float]]:
  """Median, mean and std of each statistic over splits.

  Args:
    results: one `Evaluation` or mapping of statistic -> value per split.
    keys: the statistics to aggregate; by default the numeric fields of
      `Evaluation` (or every key of the first mapping).
    ddof: delta degrees of freedom of the std (0, as `numpy.std` and most IQA
      papers; 1 for the sample std).

  Returns:
    {key: {"median", "mean", "std", "min", "max", "n", "n_undefined"}}. NaN
    values (undefined statistics) are left out of the summary and counted in
    `n_undefined`, with an `UndefinedStatisticWarning`; a key with no finite
    value at all summarises to NaN.
  """
  results = list(results)
  if not results:
    raise ValueError("aggregate() needs at least one result.")
  if keys is None:
    first = results[0]
    keys = (_NUMERIC_FIELDS if isinstance(first, Evaluation) else
            [k for k, v in first.items()
             if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)])
  rows = [r.as_dict() if isinstance(r, Evaluation) else dict(r) for r in results]
  out = {}
  for key in keys:
    missing = [i for i, r in enumerate(rows) if key not in r]
    if missing:
      raise KeyError(f"statistic {key!r} is missing from split(s) {missing}.")
    v = np.array([np.nan if r[key] is None else r[key] for r in rows],
                 dtype=np.float64)
    finite = v[np.isfinite(v)]
    n_undef = int(v.size - finite.size)
    if n_undef:
      warnings.warn(f"aggregate: {key} is undefined in {n_undef} of {v.size} "
                    "splits; summarising the rest.", UndefinedStatisticWarning,
                    stacklevel=2)
    if finite.size:
      std = float(np.std(finite, ddof=ddof)) if finite.size > ddof else math.nan
      out[key] = dict(median=float(np.median(finite)),
                      mean=float(np.mean(finite)), std=std,
                      min=float(finite.min()), max=float(finite.max()),
                      n=int(finite.size), n_undefined=n_undef)
    else:
      out[key] = dict(median=math.nan, mean=math.nan, std=math.nan,
                      min=math.nan, max=math.nan, n=0, n_undefined=n_undef)
  return out
