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


@pytest.mark.parametrize("every,kill_at,first,members",
                         [(1, 4, 5, 1), (3, 5, 4, 2)])
def test_killed_run_resumes_to_the_same_result(tmp_path, every, kill_at,
                                               first, members):
  # every = 3: the last checkpoint before the kill was after epoch 3, so
  # epochs 4-5 are replayed. With two members the kill hits the first; the
  # second then trains from scratch. (A random start: from the ridge
  # solution these data stop early, before the kill.)
  x, y, img, score = _synthetic()
  xv, _, iv, sv = _synthetic(seed=3)
  cfg = regression.TrainConfig(batch_size=64, max_epochs=12, patience=3,
                               seed=5, checkpoint_every=every,
                               ensemble=members, init="random")
  full = regression.fit(x, y, val=(xv, iv, sv), config=cfg)

  def kill(epoch, _):
    if epoch == kill_at:
      raise _Killed
  with pytest.raises(_Killed):
    regression.fit(x, y, val=(xv, iv, sv), config=cfg,
              checkpoint_dir=str(tmp_path / "ck"), on_epoch=kill)
  seen = []
  resumed = regression.fit(x, y, val=(xv, iv, sv), config=cfg,
                      checkpoint_dir=str(tmp_path / "ck"),
                      on_epoch=lambda e, _: seen.append(e))
  assert seen and seen[0] == first
  assert resumed.epochs_run == full.epochs_run
  assert resumed.best_epoch == full.best_epoch
  np.testing.assert_allclose(resumed.val_score, full.val_score, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(full.params),
                  jax.tree.leaves(resumed.params)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6,
                               atol=1e-7)


def test_ensemble_is_the_mean_of_its_members():
  x, y, _, _ = _synthetic(n_img=20)
  base = dict(batch_size=64, max_epochs=3, patience=0, seed=7, ensemble=1)
  both = regression.fit(x, y, config=regression.TrainConfig(
      **{**base, "ensemble": 2}))
  a = regression.fit(x, y, config=regression.TrainConfig(**base))
  b = regression.fit(x, y, config=regression.TrainConfig(
      **{**base, "seed": 1007}))
  assert len(both.params) == 2
  np.testing.assert_allclose(
      regression.predict(both, x),
      (regression.predict(a, x) + regression.predict(b, x)) / 2, rtol=1e-5,
      atol=1e-6)


def test_standardised_targets_come_back_in_the_targets_units():
  x, y, _, _ = _synthetic(n_img=30)
  cfg = regression.TrainConfig(batch_size=64, max_epochs=20, patience=0,
                               learning_rate=1e-3, weight_decay=0.0)
  res = regression.fit(x, 100 * y + 50, config=cfg)
  assert res.y_mean == pytest.approx(float(np.mean(100 * y + 50)), rel=1e-5)
  q = regression.predict(res, x)
  assert abs(np.mean(q) - np.mean(100 * y + 50)) < 5
  assert stats.plcc(q, y) > 0.9


def test_early_stopping_on_the_validation_loss_keeps_the_best_epoch():
  x, y, _, _ = _synthetic()
  xv, _, iv, sv = _synthetic(seed=4)
  res = regression.fit(x, y, val=(xv, iv, sv), config=regression.TrainConfig(
      batch_size=64, max_epochs=30, patience=3, early_stopping="loss"))
  # The loop's value is minus the validation loss; the best epoch has the
  # highest value, and training stopped `patience` epochs after it (or ran
  # out of epochs).
  assert np.all(res.val_score <= 0)
  assert res.best_epoch == int(np.argmax(res.val_score))
  assert res.epochs_run == 30 or res.epochs_run == res.best_epoch + 4
  with pytest.raises(ValueError, match="early_stopping"):
    regression.fit(x, y, config=regression.TrainConfig(early_stopping="srcc"))
  with pytest.raises(ValueError, match="ensemble"):
    regression.fit(x, y, config=regression.TrainConfig(ensemble=0))


def test_cosine_schedule_decays_to_zero():
  tx = regression.optimiser(1e-3, 0.0, "cosine", 10)
  params = {"w": np.ones(3, np.float32)}
  state = tx.init(params)
  grads = {"w": np.ones(3, np.float32)}
  steps = []
  for _ in range(11):
    upd, state = tx.update(grads, state, params)
    steps.append(float(np.abs(upd["w"][0])))
  assert steps[0] > 5e-4 and steps[-1] < 1e-9
  with pytest.raises(ValueError, match="schedule"):
    regression.optimiser(1e-3, 0.0, "step", 10)



def test_ridge_init_starts_the_mlp_at_the_probe():
  from flax import nnx
  from iqa_jax import ridge
  from iqa_jax.models.regressor import Regressor
  rng = np.random.default_rng(0)
  z = rng.normal(size=(400, 12)).astype(np.float32)
  t = (z @ rng.normal(size=12) + 0.5 + 0.3 * rng.normal(size=400)).astype(
      np.float32)
  groups = np.repeat(np.arange(40), 10)
  model = Regressor(12, hidden=6, rngs=nnx.Rngs(0))
  lam = regression.ridge_init(model, z, t, groups=groups)
  probe = ridge.fit(z, t, groups=groups)
  assert lam == probe.lam
  # The MLP computes the probe's function exactly, on new inputs too.
  zn = rng.normal(size=(50, 12)).astype(np.float32) * 3
  np.testing.assert_allclose(np.asarray(model(zn)), ridge.predict(probe, zn),
                             atol=1e-4)
  with pytest.raises(ValueError, match="2 hidden units"):
    regression.ridge_init(Regressor(12, hidden=1, rngs=nnx.Rngs(0)), z, t)


def test_ridge_init_through_fit_predicts_as_the_probe_before_it_moves():
  from iqa_jax import ridge
  x, y, img, _ = _synthetic()
  y = 40 * y + 10                      # targets are z-scored inside fit
  xt, _, _, _ = _synthetic(seed=4)
  # A negligible learning rate: the trained MLP is still the probe, fitted
  # on the standardised features and targets, in the targets' units.
  cfg = regression.TrainConfig(batch_size=64, max_epochs=1, patience=0,
                               learning_rate=1e-12, weight_decay=0.0,
                               init="ridge")
  res = regression.fit(x, y, groups=img, config=cfg)
  zx = (x - x.mean(0)) / (x.std(0) + 1e-6)
  probe = ridge.fit(zx, (y - y.mean()) / y.std(), groups=img)
  zt = (xt - x.mean(0)) / (x.std(0) + 1e-6)
  expected = ridge.predict(probe, zt) * y.std() + y.mean()
  np.testing.assert_allclose(regression.predict(res, xt), expected,
                             rtol=1e-4, atol=1e-3)
  with pytest.raises(ValueError, match="init"):
    regression.fit(x, y, config=regression.TrainConfig(init="zeros"))
