"""Training the patch regressor of source text 001 on the shared core.

  res = fit(x, y, val=(x_val, image_of_val_patch, y_val_images),
            config=TrainConfig(), checkpoint_dir=".../ckpt")
  q = predict(res, x_test)                                   # (N,)
  s = pooling.pool_patches(q, image_index, n_images)         # (n_images,)

Eq. 20: every patch carries its parent image's score and the MLP of Eq. 19
(`models.regressor`) minimises the mean squared error. The paper gives no
training settings; ours (TrainConfig, overridable) are Adam with learning
rate 1e-3, batches of 256 patches, at most 50 epochs, early stopping when
the validation PLCC (image level, after pooling) has not improved for 5
epochs, the parameters of the best epoch kept. Features are standardised
with the training patches' mean and standard deviation.

Everything else (data parallelism, the padded last batch, seeded shuffles,
checkpoints after every epoch and exact resume) is `iqa_jax.training`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from flax import nnx

from iqa_jax import parallel, pooling, stats, training
from iqa_jax.models.regressor import Regressor

__all__ = ["TrainConfig", "TrainResult", "fit", "predict"]


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


def squared_error(model, batch) -> jax.Array:
  """Eq. 20: the weighted mean of (q(x) - y)^2 over a batch."""
  return training.weighted_mean((model(batch["x"]) - batch["y"]) ** 2,
                                batch["weight"])


@functools.lru_cache(maxsize=8)
def _adam(learning_rate: float) -> optax.GradientTransformation:
  # One object per learning rate, so the compiled step is reused.
  return optax.adam(learning_rate)


@functools.lru_cache(maxsize=8)
def _forward_fn(graphdef):
  return jax.jit(lambda params, x: nnx.merge(graphdef, params)(x))


def _forward(graphdef, params, z, mesh=None, batch_size: int = 65536):
  if len(z) == 0:
    return np.zeros((0,), np.float32)
  mesh = mesh if mesh is not None else parallel.data_mesh()
  fn = functools.partial(_forward_fn(graphdef),
                         parallel.replicate(params, mesh))
  return parallel.map_batches(fn, z, batch_size=batch_size, mesh=mesh)


def _val_plcc(graphdef, val, mean, std, pooling_name, mesh):
  """evaluate(model) for the loop: the validation images' PLCC after
  pooling (-inf for constant predictions)."""
  xv, iv, yv = val
  zv = ((np.asarray(xv, np.float32) - mean) / std).astype(np.float32)
  iv, yv = np.asarray(iv), np.asarray(yv, np.float64)

  def evaluate(model):
    pooled = pooling.pool_patches(
        _forward(graphdef, nnx.state(model, nnx.Param), zv, mesh), iv,
        len(yv), pooling=pooling_name)
    return stats.plcc(pooled, yv) if np.ptp(pooled) > 0 else -np.inf
  return evaluate


def predict(result: TrainResult, x, *, mesh=None) -> np.ndarray:
  """(N,) patch scores of embeddings x (N, d)."""
  z = ((np.asarray(x, np.float32) - result.mean) / result.std).astype(
      np.float32)
  return _forward(result.graphdef, result.params, z, mesh)


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
  cfg = config
  mean = x.mean(0)
  std = x.std(0) + 1e-6
  z = ((x - mean) / std).astype(np.float32)
  tx = _adam(float(cfg.learning_rate))
  state = training.TrainState.create(
      Regressor(x.shape[1], hidden=cfg.hidden, rngs=nnx.Rngs(cfg.seed)), tx)
  evaluate = None if val is None else _val_plcc(state.graphdef, val, mean,
                                                 std, cfg.pooling, mesh)
  hooks = ()
  if on_epoch is not None:
    hooks = (lambda epoch, logs: on_epoch(
        epoch, {"loss": logs["loss"], "val_plcc": logs["value"]}),)
  res = training.fit(
      state, {"x": z, "y": y}, loss_fn=squared_error, tx=tx,
      config=training.LoopConfig(batch_size=cfg.batch_size,
                                 max_epochs=cfg.max_epochs,
                                 patience=cfg.patience, seed=cfg.seed,
                                 max_steps=cfg.max_steps),
      evaluate=evaluate, mesh=mesh, checkpoint_dir=checkpoint_dir,
      hooks=hooks, progress=progress)
  return TrainResult(state.graphdef, res.best_params, mean, std,
                     res.best_epoch, res.epochs_run, res.steps, res.losses,
                     res.values)
