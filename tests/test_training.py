"""The training core on a toy NNX model that is not the patch regressor:
a custom loss, data parallelism (8 simulated devices equal 1), exact resume,
early stopping, variables updated by the forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from iqa_jax import training


class Toy(nnx.Module):
  """A two-output linear model with a running mean (a non-trained
  variable changed by the forward pass, like BatchNorm's statistics)."""

  def __init__(self, rngs):
    self.dense = nnx.Linear(3, 2, rngs=rngs)
    self.seen = nnx.BatchStat(jnp.zeros(()))

  def __call__(self, x):
    self.seen[...] = self.seen[...] + 1.0
    return self.dense(x)


def huber_loss(model, batch):
  """A custom loss: Huber on the first output, cosine on the second."""
  out = model(batch["x"])
  err = optax.losses.huber_loss(out[:, 0], batch["t"][:, 0])
  cos = 1.0 - jnp.cos(out[:, 1] - batch["t"][:, 1])
  return training.weighted_mean(err + cos, batch["weight"])


def _data(n=203, seed=0):   # 203: the last batch is short and padded
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  w = np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 1.0]], np.float32)
  return {"x": x, "t": (x @ w + 0.01 * rng.normal(size=(n, 2))).astype(
      np.float32)}


def _mesh(n):
  return jax.sharding.Mesh(np.asarray(jax.devices()[:n]), ("data",))


TX = optax.sgd(0.05, momentum=0.9)


def _fit(**kwargs):
  state = training.TrainState.create(Toy(nnx.Rngs(0)), TX)
  return training.fit(state, _data(), loss_fn=huber_loss, tx=TX, **kwargs)


def test_learns_and_tracks_forward_variables():
  res = _fit(config=training.LoopConfig(batch_size=32, max_epochs=15,
                                        patience=0))
  assert res.losses[-1] < 0.05 * res.losses[0]
  assert res.epochs_run == 15 and res.steps == 15 * 7
  assert res.best_epoch == 14
  # The forward pass ran once per step: the running variable followed it.
  assert float(res.state.rest["seen"][...]) == res.steps
  assert int(res.state.step) == res.steps
  w = np.asarray(res.best_model().dense.kernel[...])
  np.testing.assert_allclose(w[:, 0], [1.0, 0.5, -1.0], atol=0.05)


def test_eight_devices_equal_one():
  cfg = training.LoopConfig(batch_size=48, max_epochs=3, patience=0)
  one = _fit(config=cfg, mesh=_mesh(1))
  eight = _fit(config=cfg, mesh=_mesh(8))
  assert one.steps == eight.steps == 3 * 5
  for a, b in zip(jax.tree.leaves(one.best_params),
                  jax.tree.leaves(eight.best_params)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5,
                               atol=1e-6)
  np.testing.assert_allclose(eight.losses, one.losses, rtol=1e-5)


class _Killed(Exception):
  pass


def test_killed_run_resumes_to_identical_parameters(tmp_path):
  cfg = training.LoopConfig(batch_size=32, max_epochs=8, patience=2, seed=3)
  # Early stopping on a validation value that improves, then stalls.
  values = iter([0.1, 0.2, 0.3, 0.3, 0.25, 0.2, 0.1, 0.0] * 3)
  full = _fit(config=cfg, evaluate=lambda model: next(values))

  def kill(epoch, _):
    if epoch == 3:
      raise _Killed
  values = iter([0.1, 0.2, 0.3, 0.3, 0.25, 0.2, 0.1, 0.0])
  with pytest.raises(_Killed):
    _fit(config=cfg, evaluate=lambda model: next(values),
         checkpoint_dir=str(tmp_path / "ck"), hooks=(kill,))
  seen = []
  resumed = _fit(config=cfg, evaluate=lambda model: next(values),
                 checkpoint_dir=str(tmp_path / "ck"),
                 hooks=(lambda e, logs: seen.append(e),))
  assert seen[0] == 4                       # continued after epoch 3
  assert full.epochs_run == resumed.epochs_run == 5   # stopped: patience 2
  assert full.best_epoch == resumed.best_epoch == 2
  for a, b in zip(jax.tree.leaves(full.best_params),
                  jax.tree.leaves(resumed.best_params)):
    np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
  for a, b in zip(jax.tree.leaves(full.state),
                  jax.tree.leaves(resumed.state)):
    np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


def test_train_step_is_pure_and_donates():
  state = training.TrainState.create(Toy(nnx.Rngs(1)), TX)
  batch = {**{k: v[:8] for k, v in _data().items()},
           "weight": np.ones(8, np.float32)}
  a, loss_a = training.train_step(state, batch, loss_fn=huber_loss, tx=TX)
  b, loss_b = training.train_step(state, batch, loss_fn=huber_loss, tx=TX)
  assert float(loss_a) == float(loss_b)
  assert int(a.step) == 1
  zero = {**batch, "weight": np.zeros(8, np.float32)}
  c, loss_c = training.train_step(state, zero, loss_fn=huber_loss, tx=TX)
  assert float(loss_c) == 0.0   # padded rows carry no loss
  for x, y in zip(jax.tree.leaves(c.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
