"""Ridge regression with its penalty chosen by grouped cross-validation.

  res = fit(x, y, groups=ref_of_each_row)      # RidgeResult
  q = predict(res, x_test)                     # (N,)

The linear probe of distill360 (`regressor="ridge"`) and of the encoder
check: features standardised with the training rows' mean and standard
deviation, then

  w = (Z^T Z + lambda I)^-1 Z^T (y - mean(y)),   q(x) = z(x)^T w + mean(y)

with lambda in units of the sum of squares (lambda = 1000 on 30,000 rows of
512-d VGG16 features is a moderate penalty). lambda is chosen from `lambdas`
by k-fold cross-validation whose folds never split a group (pass the image or
reference id of each row: patches of one image are never on both sides).
Each held-out group is scored by the mean of its rows' predictions against
its rows' mean target, the squared error summed over groups; the penalty
with the least error wins (ties: the larger penalty). One eigendecomposition
of Z^T Z per fold gives the solutions for every lambda at once:
O(k (N d^2 + d^3)) in all, under a second for N = 30,000, d = 512.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["RidgeResult", "DEFAULT_LAMBDAS", "fit", "predict"]

DEFAULT_LAMBDAS = tuple(10.0 ** k for k in range(-1, 7))


class RidgeResult(NamedTuple):
  """A fitted probe: q(x) = ((x - mean) / std) @ w + intercept."""

  w: np.ndarray          # (d,)
  intercept: float
  mean: np.ndarray       # (d,)
  std: np.ndarray        # (d,)
  lam: float             # the chosen penalty
  cv_error: np.ndarray   # (len(lambdas),) inner CV error per penalty
  lambdas: np.ndarray


class _Moments(NamedTuple):
  """Sufficient statistics of a set of rows: count, sums, X^T X, X^T y."""

  n: float
  sx: np.ndarray    # (d,)
  sxx: np.ndarray   # (d, d)
  sxy: np.ndarray   # (d,)
  sy: float

  def __add__(self, o):
    return _Moments(*(a + b for a, b in zip(self, o)))

  def __sub__(self, o):
    return _Moments(*(a - b for a, b in zip(self, o)))


def _moments(x, y) -> _Moments:
  return _Moments(float(len(x)), x.sum(0), x.T @ x, x.T @ y, float(y.sum()))


def _standardised(m: _Moments):
  """(Z^T Z, Z^T (y - mean y), mean, std, mean y) of the rows behind m,
  Z = (x - mean) / std, without revisiting the rows."""
  mean = m.sx / m.n
  ym = m.sy / m.n
  scatter = m.sxx - m.n * np.outer(mean, mean)
  std = np.sqrt(np.maximum(np.diag(scatter), 0.0) / m.n)
  std = np.where(std > 0, std, 1.0)
  g = scatter / np.outer(std, std)
  b = (m.sxy - mean * m.sy) / std
  return g, b, mean, std, ym


def _solve_all(g, b, lambdas) -> np.ndarray:
  """(len(lambdas), d) solutions of (g + lambda I) w = b, one eigh."""
  s, v = np.linalg.eigh(g)
  s = np.maximum(s, 0.0)
  lam = np.asarray(lambdas, np.float64)[:, None]
  return ((v.T @ b)[None, :] / (s[None, :] + lam)) @ v.T


def _group_folds(groups: np.ndarray, k: int, seed: int):
  uniq, inv = np.unique(groups, return_inverse=True)
  perm = np.random.default_rng(seed).permutation(len(uniq))
  fold_of_group = np.empty(len(uniq), np.int64)
  fold_of_group[perm] = np.arange(len(uniq)) % k
  return fold_of_group[inv.reshape(-1)], inv.reshape(-1)


def fit(x, y, *, groups=None, lambdas=DEFAULT_LAMBDAS, folds: int = 5,
        seed: int = 0) -> RidgeResult:
  """Fits the probe on x (N, d), y (N,), lambda by grouped k-fold CV.

  Args:
    groups: (N,) the group (image or reference) of each row; rows of one
      group stay on one side of every inner split. None: every row its own.
    lambdas: candidate penalties (one of them: no cross-validation).
    folds: inner folds (at most the number of groups).
    seed: the inner folds' shuffle.

  Each row is visited once: the inner folds' training statistics are the
  total moments minus the held-out fold's.
  """
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  if x.ndim != 2 or y.shape != (len(x),):
    raise ValueError(f"expected x (N, d) and y (N,), got {x.shape}, "
                     f"{y.shape}.")
  if len(x) < 2:
    raise ValueError("ridge needs at least two training rows.")
  if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
    raise ValueError("ridge: x or y contains NaN or inf.")
  lambdas = np.asarray(sorted(float(v) for v in lambdas), np.float64)
  if lambdas.size == 0 or np.any(lambdas < 0):
    raise ValueError(f"lambdas must be non-empty and >= 0, got {lambdas}.")
  groups = np.arange(len(x)) if groups is None else np.asarray(groups)
  if groups.shape != (len(x),):
    raise ValueError(f"groups must be (N,) = ({len(x)},), got "
                     f"{groups.shape}.")
  cv_error = np.zeros(len(lambdas))
  n_groups = len(np.unique(groups))
  if len(lambdas) > 1:
    k = min(folds, n_groups)
    if k < 2:
      raise ValueError("choosing lambda needs at least two groups; pass one "
                       "lambda.")
    fold_of, gid = _group_folds(groups, k, seed)
    parts = [fold_of == f for f in range(k)]
    moments = [_moments(x[p], y[p]) for p in parts]
    total = moments[0]
    for m in moments[1:]:
      total = total + m
    for te, m in zip(parts, moments):
      g, b, mean, std, ym = _standardised(total - m)
      w = _solve_all(g, b, lambdas)                       # (L, d)
      pred = ((x[te] - mean) / std) @ w.T + ym             # (n_te, L)
      _, gi = np.unique(gid[te], return_inverse=True)
      cnt = np.bincount(gi)
      pred_g = np.stack([np.bincount(gi, pred[:, j]) / cnt
                         for j in range(len(lambdas))], 1)
      y_g = np.bincount(gi, y[te]) / cnt
      cv_error += np.sum((pred_g - y_g[:, None]) ** 2, 0)
    best = len(lambdas) - 1 - int(np.argmin(cv_error[::-1]))
  else:
    total = _moments(x, y)
    best = 0
  g, b, mean, std, ym = _standardised(total)
  lam = lambdas[best]
  w = np.linalg.solve(g + lam * np.eye(len(g)), b)
  return RidgeResult(w.astype(np.float32), float(ym), mean.astype(np.float32),
                     std.astype(np.float32), float(lam), cv_error, lambdas)


def predict(result: RidgeResult, x) -> np.ndarray:
  """(N,) predictions for x (N, d)."""
  x = np.asarray(x, np.float32)
  return ((x - result.mean) / result.std) @ result.w + np.float32(
      result.intercept)
