"""The ridge probe with its penalty chosen by grouped cross-validation."""

import numpy as np
import pytest

from iqa_jax import ridge


def _data(seed=0, n_groups=60, per=8, d=20, noise=0.5):
  rng = np.random.default_rng(seed)
  w = rng.normal(size=d)
  x = rng.normal(size=(n_groups * per, d)) * rng.uniform(0.5, 3, size=d)
  groups = np.repeat(np.arange(n_groups), per)
  y = x @ w + 3.0 + noise * rng.normal(size=len(x))
  return x, y, groups, w


def test_single_penalty_equals_normal_equations():
  x, y, groups, _ = _data()
  res = ridge.fit(x, y, groups=groups, lambdas=(50.0,))
  mu, sd = x.mean(0), x.std(0)
  z = (x - mu) / sd
  w = np.linalg.solve(z.T @ z + 50.0 * np.eye(z.shape[1]), z.T @ (y - y.mean()))
  np.testing.assert_allclose(res.w, w, rtol=1e-5)
  np.testing.assert_allclose(ridge.predict(res, x), z @ w + y.mean(),
                             rtol=1e-4, atol=1e-4)
  assert res.lam == 50.0


def test_cv_prefers_small_penalties_on_clean_data_and_large_on_noise():
  x, y, groups, _ = _data(noise=0.1)
  clean = ridge.fit(x, y, groups=groups)
  rng = np.random.default_rng(5)
  noise = ridge.fit(x, rng.normal(size=len(y)), groups=groups)
  assert clean.lam <= 10.0
  assert noise.lam >= 1e4
  assert clean.cv_error.shape == (len(ridge.DEFAULT_LAMBDAS),)


def test_inner_folds_keep_groups_together():
  # Rows duplicated within groups: a split inside a group would reward no
  # penalty (the copy is in training); grouped folds must not.
  rng = np.random.default_rng(2)
  xg = rng.normal(size=(40, 30))
  yg = rng.normal(size=40)
  x, y = np.repeat(xg, 5, 0), np.repeat(yg, 5)
  grouped = ridge.fit(x, y, groups=np.repeat(np.arange(40), 5))
  rowwise = ridge.fit(x, y, groups=None)
  assert grouped.lam > rowwise.lam


def test_errors():
  x, y, groups, _ = _data()
  with pytest.raises(ValueError, match="NaN"):
    ridge.fit(np.where(x > 2, np.nan, x), y, groups=groups)
  with pytest.raises(ValueError, match="groups must be"):
    ridge.fit(x, y, groups=groups[:-1])
  with pytest.raises(ValueError, match="at least two groups"):
    ridge.fit(x, y, groups=np.zeros(len(y)))
