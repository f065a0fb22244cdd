"""Training the patch regressor: data-parallel, seeded, early-stopped, resumable.

  res = fit(x, y, val=(x_val, image_of_val_patch, y_val_images),
            config=TrainConfig(), checkpoint_dir=".../ckpt")
  q = predict(res, x_test)                   # (N,) patch scores
  s = pool_patches(q, image_index, n_images, pooling="median_consensus")

Eq. 20 of source text 001: every patch carries its parent image's score and
the MLP of Eq. 19 (`models.regressor`) minimises the mean squared error. The
paper gives no training settings; ours (TrainConfig, overridable) are Adam
with learning rate 1e-3, batches of 256 patches, at most 50 epochs, early
stopping when the validation PLCC (image level, after pooling) has not
improved for 5 epochs, the parameters of the best epoch kept. Features are
standardised with the training patches' mean and standard deviation.

Data parallelism: the batch is sharded over the 1-D mesh of all devices, the
parameters and optimiser state are replicated and the update is one jitted
step, so the result equals a single device's up to summation order. The last
batch of an epoch is padded to full size with zero loss weight (one compiled
shape). The shuffle of epoch t depends only on (seed, t), and after every
epoch the whole state goes to `checkpoint_dir` (orbax), so a killed run
resumes at the next epoch and ends exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from iqa_jax import pooling as pooling_lib
from iqa_jax import stats
from iqa_jax.checkpoint import Checkpointer
from iqa_jax.mesh import data_mesh
from iqa_jax.models.regressor import Regressor

__all__ = ["TrainConfig", "TrainResult", "fit", "predict", "pool_patches"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Training settings (defaults: ours, see the module docstring).

  patience = 0 disables early stopping (the last epoch is kept); max_steps,
  when set, ends training after that many optimiser steps.
  """

  learning_rate: float = 1e-3
  batch_size: int = 256
  max_epochs: int = 50
  patience: int = 5
  hidden: int = 512
  seed: int = 0
  pooling: str = "median_consensus"
  max_steps: int | None = None


class TrainResult(NamedTuple):
  """The trained regressor (best epoch) and its bookkeeping."""

  graphdef: Any
  params: Any
  mean: np.ndarray
  std: np.ndarray
  best_epoch: int
  epochs_run: int
  steps: int
  train_loss: np.ndarray   # (epochs_run,)
  val_plcc: np.ndarray     # (epochs_run,) NaN without validation data


def pool_patches(q, image_index, n_images: int, *,
                 pooling: str = "median_consensus",
                 weights=None) -> np.ndarray:
  """(n_images,) image scores from patch scores q (N,) and each patch's
  image index (N,), padding the ragged groups into one masked array."""
  q = np.asarray(q, np.float32)
  idx = np.asarray(image_index)
  counts = np.bincount(idx, minlength=n_images)
  if np.any(counts == 0):
    raise ValueError(f"{int(np.sum(counts == 0))} image(s) have no patch to "
                     "pool.")
  order = np.argsort(idx, kind="stable")
  slot = np.arange(len(idx)) - np.repeat(np.cumsum(counts) - counts, counts)
  width = int(counts.max())
  grid = np.zeros((n_images, width), np.float32)
  mask = np.zeros((n_images, width), bool)
  grid[idx[order], slot] = q[order]
  mask[idx[order], slot] = True
  w = None
  if weights is not None:
    w = np.zeros((n_images, width), np.float32)
    w[idx[order], slot] = np.asarray(weights, np.float32)[order]
  fn = pooling_lib.get(pooling)
  return np.asarray(fn(jnp.asarray(grid), jnp.asarray(mask),
                       **({} if w is None else {"weights": jnp.asarray(w)})))


@functools.lru_cache(maxsize=8)
def _step_fn(graphdef, learning_rate, mesh):
  """The jitted step, cached per model structure, learning rate and mesh
  (so the cells of an experiment compile it once)."""
  tx = _optimizer(learning_rate)
  repl = NamedSharding(mesh, P())
  data = NamedSharding(mesh, P("data"))

  def loss_fn(params, x, y, w):
    pred = nnx.merge(graphdef, params)(x)
    return jnp.sum(w * (pred - y) ** 2) / jnp.maximum(jnp.sum(w), 1.0)

  def step(params, opt_state, x, y, w):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y, w)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return jax.jit(step, in_shardings=(repl, repl, data, data, data),
                 out_shardings=(repl, repl, repl), donate_argnums=(0, 1))


def _optimizer(learning_rate):
  return optax.adam(learning_rate)


@functools.lru_cache(maxsize=8)
def _forward_fn(graphdef):
  return jax.jit(lambda params, x: nnx.merge(graphdef, params)(x))


def _forward(graphdef, params, x, chunk=65536):
  fn = _forward_fn(graphdef)
  return np.concatenate([np.asarray(fn(params, jnp.asarray(x[s:s + chunk])))
                         for s in range(0, len(x), chunk)]) if len(x) else \
      np.zeros((0,), np.float32)


def predict(result: TrainResult, x) -> np.ndarray:
  """(N,) patch scores of embeddings x (N, d)."""
  z = ((np.asarray(x, np.float32) - result.mean) / result.std).astype(
      np.float32)
  return _forward(result.graphdef, result.params, z)


def fit(x, y, *, val=None, config: TrainConfig = TrainConfig(),
        mesh: jax.sharding.Mesh | None = None,
        checkpoint_dir: str | None = None,
        on_epoch: Callable[[int, dict], None] | None = None,
        progress: bool = False) -> TrainResult:
  """Trains a `Regressor` on patch embeddings x (N, d) and targets y (N,).

  Args:
    val: optional (x_val (M, d), image index of each val patch (M,),
      scores of the val images (V,)) for early stopping on image PLCC.
    mesh: 1-D mesh named "data" (default: all devices).
    checkpoint_dir: saves after every epoch and resumes from it.
    on_epoch: called as on_epoch(epoch, {"loss": .., "val_plcc": ..}) after
      each epoch has been checkpointed (tests use it to interrupt a run).
  """
  x = np.asarray(x, np.float32)
  y = np.asarray(y, np.float32)
  if x.ndim != 2 or y.shape != (x.shape[0],):
    raise ValueError(f"expected x (N, d) and y (N,), got {x.shape}, "
                     f"{y.shape}.")
  if len(x) == 0:
    raise ValueError("no training patches.")
  mesh = mesh if mesh is not None else data_mesh()
  cfg = config
  bs = -(-cfg.batch_size // mesh.size) * mesh.size
  mean = x.mean(0)
  std = x.std(0) + 1e-6
  z = ((x - mean) / std).astype(np.float32)
  model = Regressor(x.shape[1], hidden=cfg.hidden, rngs=nnx.Rngs(cfg.seed))
  graphdef, params = nnx.split(model)
  tx = _optimizer(cfg.learning_rate)
  template = {
      "params": params, "opt_state": tx.init(params),
      "best_params": params, "epoch": np.int64(0), "steps": np.int64(0),
      "best_epoch": np.int64(-1), "best_val": np.float64(-np.inf),
      "bad": np.int64(0),
      "loss": np.full(cfg.max_epochs, np.nan),
      "val": np.full(cfg.max_epochs, np.nan)}
  ckpt = Checkpointer(checkpoint_dir) if checkpoint_dir else None
  state = ckpt.restore(template) if ckpt else None
  state = dict(template if state is None else state)
  state["loss"], state["val"] = np.array(state["loss"]), np.array(state["val"])
  repl = NamedSharding(mesh, P())
  data = NamedSharding(mesh, P("data"))
  params = jax.device_put(state["params"], repl)
  opt_state = jax.device_put(state["opt_state"], repl)
  step = _step_fn(graphdef, float(cfg.learning_rate), mesh)
  zv = None
  if val is not None:
    xv, iv, yv = val
    zv = ((np.asarray(xv, np.float32) - mean) / std).astype(np.float32)
    iv, yv = np.asarray(iv), np.asarray(yv, np.float64)
  n = len(z)
  steps_per_epoch = math.ceil(n / bs)
  epoch, steps = int(state["epoch"]), int(state["steps"])
  stopped = (cfg.patience > 0 and int(state["bad"]) >= cfg.patience) or (
      cfg.max_steps is not None and steps >= cfg.max_steps)
  bar = None
  if progress:
    from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
    bar = tqdm(total=cfg.max_epochs, initial=epoch, desc="training",
               unit="epoch", leave=False)
  while epoch < cfg.max_epochs and not stopped:
    perm = np.random.default_rng((cfg.seed, epoch)).permutation(n)
    losses = []
    for b in range(steps_per_epoch):
      if cfg.max_steps is not None and steps >= cfg.max_steps:
        break
      idx = perm[b * bs:(b + 1) * bs]
      w = np.ones(bs, np.float32)
      if len(idx) < bs:
        w[len(idx):] = 0.0
        idx = np.concatenate([idx, np.zeros(bs - len(idx), idx.dtype)])
      xb, yb, wb = jax.device_put((z[idx], y[idx], w), data)
      params, opt_state, loss = step(params, opt_state, xb, yb, wb)
      losses.append(loss)
      steps += 1
    state["loss"][epoch] = float(np.mean(jax.device_get(losses)))
    if zv is not None:
      qv = _forward(graphdef, params, zv)
      pooled = pool_patches(qv, iv, len(yv), pooling=cfg.pooling)
      v = stats.plcc(pooled, yv) if np.ptp(pooled) > 0 else -np.inf
      state["val"][epoch] = v
    else:
      v = -float(state["loss"][epoch])
    if cfg.patience == 0 or v > float(state["best_val"]):
      # A real copy: on CPU device_get can alias the buffer that the next
      # (donating) step overwrites.
      state.update(best_val=v, best_epoch=epoch, bad=0,
                   best_params=jax.tree.map(lambda a: np.array(a, copy=True),
                                            params))
    else:
      state["bad"] = int(state["bad"]) + 1
    epoch += 1
    state.update(params=params, opt_state=opt_state, epoch=epoch,
                 steps=steps)
    if ckpt:
      ckpt.save(epoch, state)
    stopped = (cfg.patience > 0 and int(state["bad"]) >= cfg.patience) or (
        cfg.max_steps is not None and steps >= cfg.max_steps)
    if bar is not None:
      bar.update(1)
    if on_epoch is not None:
      on_epoch(epoch, {"loss": float(state["loss"][epoch - 1]),
                       "val_plcc": float(state["val"][epoch - 1])})
  if bar is not None:
    bar.close()
  if ckpt:
    ckpt.close()
  best = jax.device_get(state["best_params"])
  return TrainResult(graphdef, best, mean, std, int(state["best_epoch"]),
                     epoch, steps, np.asarray(state["loss"][:epoch]),
                     np.asarray(state["val"][:epoch]))
