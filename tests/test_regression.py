"""The patch regressor and pooling (the training core is tested in test_training.py)."""

import jax
import numpy as np
import pytest

from iqa_jax import pooling, regression, stats


def test_median_consensus_weights():
  q = np.array([[1.0, 2.0, 3.0, 10.0, 0.0]])
  mask = np.array([[True, True, True, True, False]])
  # median of (1, 2, 3, 10) = 2.5; w = 1 / (|q - 2.5| + eps).
  w = 1.0 / (np.abs(np.array([1, 2, 3, 10]) - 2.5) + 1e-6)
  want = np.sum(w * np.array([1, 2, 3, 10])) / w.sum()
  got = np.asarray(pooling.median_consensus(q, mask=mask))
  np.testing.assert_allclose(got, [want], rtol=1e-6)
  # An outlier barely moves the consensus, unlike the mean.
  assert abs(got[0] - 2.5) < 0.1 and float(pooling.mean(q, mask=mask)[0]) == 4.0
  np.testing.assert_allclose(pooling.masked_median(q, mask=mask), [2.5])
  odd = np.array([[5.0, 1.0, 3.0]])
  np.testing.assert_allclose(pooling.median_consensus(odd), [3.0], rtol=1e-5)
  v = np.array([[0.0, 1.0, 3.0, 0.0, 9.0]])
  np.testing.assert_allclose(pooling.variance_weighted(q, mask=mask, weights=v),
                             [(2 * 1 + 3 * 3) / 4.0])
  np.testing.assert_allclose(
      pooling.variance_weighted(q, mask=mask, weights=np.zeros_like(v)), [4.0])
  with pytest.raises(ValueError, match="unknown pooling"):
    pooling.get("max")


def test_pool_patches_groups_ragged_images():
  q = np.array([1.0, 5.0, 2.0, 3.0, 4.0])
  img = np.array([1, 0, 1, 1, 0])
  np.testing.assert_allclose(
      pooling.pool_patches(q, img, 2, pooling="mean"), [4.5, 2.0])
  with pytest.raises(ValueError, match="no patch"):
    pooling.pool_patches(q, img, 3)


def _synthetic(n_img=40, per=12, d=16, seed=0):
  direction = np.random.default_rng(123).normal(size=d)  # the same for all
  rng = np.random.default_rng(seed)
  score = rng.uniform(0, 1, n_img)
  x = (0.5 * rng.normal(size=(n_img, per, d))
       + 3 * score[:, None, None] * direction)
  img = np.repeat(np.arange(n_img), per)
  return x.reshape(-1, d).astype(np.float32), np.repeat(score, per), img, score


def test_regressor_learns_a_known_relation():
  x, y, img, score = _synthetic()
  xt, _, it, st = _synthetic(seed=1)
  res = regression.fit(x, y, val=(xt, it, st),
                  config=regression.TrainConfig(batch_size=64, max_epochs=60,
                                           patience=0))
  pooled = pooling.pool_patches(regression.predict(res, xt), it, len(st))
  # Patch features are the score along one direction plus noise: the MLP
  # recovers the scores themselves, not just their order.
  assert stats.srcc(pooled, st) > 0.95
  assert stats.rmse(pooled, st) < 0.1
  assert res.train_loss[-1] < res.train_loss[0]
  assert res.best_epoch == res.epochs_run - 1 == 59   # patience 0: last


def _mesh(n):
  return jax.sharding.Mesh(np.asarray(jax.devices()[:n]), ("data",))


def test_data_parallel_equals_single_device():
  x, y, img, score = _synthetic(n_img=60)
  xt, _, it, st = _synthetic(seed=2)
  cfg = regression.TrainConfig(batch_size=64, max_epochs=100, patience=0,
                          max_steps=50)
  one = regression.fit(x, y, config=cfg, mesh=_mesh(1))
  eight = regression.fit(x, y, config=cfg, mesh=_mesh(8))
  assert one.steps == eight.steps == 50
  for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(eight.params)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4,
                               atol=1e-4 * np.abs(np.asarray(a)).max())
  p1 = pooling.pool_patches(regression.predict(one, xt), it, len(st))
  p8 = pooling.pool_patches(regression.predict(eight, xt), it, len(st))
  assert abs(stats.plcc(p1, st) - stats.plcc(p8, st)) < 1e-3
  assert abs(stats.srcc(p1, st) - stats.srcc(p8, st)) < 1e-3


class _Killed(Exception):
  pass


def test_killed_run_resumes_to_the_same_result(tmp_path):
  x, y, img, score = _synthetic()
  xv, _, iv, sv = _synthetic(seed=3)
  cfg = regression.TrainConfig(batch_size=64, max_epochs=12, patience=3, seed=5)
  full = regression.fit(x, y, val=(xv, iv, sv), config=cfg)

  def kill(epoch, _):
    if epoch == 4:
      raise _Killed
  with pytest.raises(_Killed):
    regression.fit(x, y, val=(xv, iv, sv), config=cfg,
              checkpoint_dir=str(tmp_path / "ck"), on_epoch=kill)
  seen = []
  resumed = regression.fit(x, y, val=(xv, iv, sv), config=cfg,
                      checkpoint_dir=str(tmp_path / "ck"),
                      on_epoch=lambda e, _: seen.append(e))
  assert seen and seen[0] == 5          # continued after the 4th epoch
  assert resumed.epochs_run == full.epochs_run
  assert resumed.best_epoch == full.best_epoch
  np.testing.assert_allclose(resumed.val_plcc, full.val_plcc, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(full.params),
                  jax.tree.leaves(resumed.params)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6,
                               atol=1e-7)
