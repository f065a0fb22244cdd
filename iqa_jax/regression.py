"""Training the patch regressor of source text 001 on the shared core.

  res = fit(x, y, val=(x_val, image_of_val_patch, y_val_images),
            config=TrainConfig(), checkpoint_dir=".../ckpt")
  q = predict(res, x_test)                                   # (N,)
  s = pooling.pool_patches(q, image_index, n_images)         # (n_images,)

Eq. 20: every patch carries its parent image's score and the MLP of Eq. 19
(`models.regressor`) minimises the mean squared error. The paper gives no
training settings; ours (TrainConfig, overridable) won a sweep on LIVEC's
training folds (experiments/regressor_sweep.py; the table is in
experiments/README.md): the MLP starts at the ridge probe's solution on the
training and validation patches (`ridge_init`: linear probe, then
fine-tune), then AdamW at 1e-4 with decoupled weight decay 10, a 128-unit
hidden layer, batches of 256 patches, targets z-scored (the predictions are
mapped back), at most 50 epochs, early stopping when the validation
patches' squared error has not improved for 5 epochs, the parameters of
the best epoch kept, two members averaged. The validation patches then
score a start that has seen them, so early stopping favours early epochs:
the MLP stays near the probe unless training fits the validation patches
better still. The old settings (Adam 1e-3, 512 units, raw targets, random
start, early stopping on the validation images' PLCC) lost to a linear
probe by 0.05-0.1 SRCC. Features are standardised with the training
patches' mean and standard deviation. `ensemble` members train from seeds
seed, seed + 1000, ... (the same start, different shuffles and hidden
units) and their predictions are averaged.

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

from iqa_jax import parallel, pooling, ridge, stats, training
from iqa_jax.models.regressor import Regressor

__all__ = ["TrainConfig", "TrainResult", "INITS", "ridge_init", "fit",
           "predict"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Training settings (defaults: ours, see the module docstring).

  patience = 0 disables early stopping (the last epoch is kept); max_steps,
  when set, ends training after that many optimiser steps; schedule is
  "constant" or "cosine" (to 0 over the run); early_stopping is "loss"
  (validation patches' squared error) or "plcc" (validation images' PLCC
  after pooling).
  """

  learning_rate: float = 1e-4
  batch_size: int = 256
  max_epochs: int = 50
  patience: int = 5
  hidden: int = 128
  seed: int = 0
  pooling: str = "median_consensus"
  max_steps: int | None = None
  weight_decay: float = 10.0
  schedule: str = "constant"
  standardise_targets: bool = True
  ensemble: int = 2
  early_stopping: str = "loss"
  checkpoint_every: int = 1
  init: str = "ridge_val"


INITS = ("random", "ridge", "ridge_val")


def ridge_init(model: Regressor, z, t, *, groups=None, seed: int = 0) -> float:
  """Starts `model` at the ridge solution of z (N, d) -> t (N,).

  The linear probe q(z) = z^T w + c (`iqa_jax.ridge`, penalty by grouped
  inner folds over `groups`) is written into two hidden units, since
  ReLU(s u) / s - ReLU(-s u) / s = u (s balances the two layers' norms);
  the other units keep their random first layer and start with zero output
  weights, so the MLP of Eq. 19 starts out computing the probe's function
  and training starts from there. Returns the chosen penalty.
  """
  if model.hidden.kernel.shape[1] < 2:
    raise ValueError("init='ridge' needs at least 2 hidden units.")
  res = ridge.fit(z, t, groups=groups, seed=seed)
  w = res.w / res.std
  c = res.intercept - float(np.dot(res.mean / res.std, res.w))
  s = float(np.linalg.norm(w)) ** -0.5 if np.any(w) else 1.0
  k = np.array(model.hidden.kernel[...])
  k[:, 0], k[:, 1] = s * w, -s * w
  b = np.array(model.hidden.bias[...])
  b[:2] = 0.0
  out = np.zeros(model.out.kernel.shape, np.float32)
  out[0, 0], out[1, 0] = 1.0 / s, -1.0 / s
  model.hidden.kernel.set_value(jax.numpy.asarray(k, np.float32))
  model.hidden.bias.set_value(jax.numpy.asarray(b, np.float32))
  model.out.kernel.set_value(jax.numpy.asarray(out))
  model.out.bias.set_value(jax.numpy.full(model.out.bias.shape, c,
                                          np.float32))
  return res.lam


class TrainResult(NamedTuple):
  """The trained regressor(s) (best epoch) and the bookkeeping.

  params holds one parameter tree per ensemble member (predictions are
  their mean); the history fields are the first member's.
  """

  graphdef: Any
  params: tuple
  mean: np.ndarray
  std: np.ndarray
  best_epoch: int
  epochs_run: int
  steps: int
  train_loss: np.ndarray   # (epochs_run,)
  val_score: np.ndarray    # (epochs_run,) the early-stopping figure per
  #                          epoch (PLCC, or minus the validation loss);
  #                          NaN without validation data
  y_mean: float = 0.0
  y_std: float = 1.0


def squared_error(model, batch) -> jax.Array:
  """Eq. 20: the weighted mean of (q(x) - y)^2 over a batch."""
  return training.weighted_mean((model(batch["x"]) - batch["y"]) ** 2,
                                batch["weight"])


SCHEDULES = ("constant", "cosine")


@functools.lru_cache(maxsize=16)
def optimiser(learning_rate: float, weight_decay: float = 0.0,
              schedule: str = "constant",
              total_steps: int = 0) -> optax.GradientTransformation:
  """Adam (AdamW with decoupled `weight_decay` > 0), at a constant rate or
  on a cosine decay to 0 over `total_steps`. Cached: one object per setting,
  so the compiled step is reused."""
  if schedule not in SCHEDULES:
    raise ValueError(f"schedule must be one of {SCHEDULES}, got "
                     f"{schedule!r}.")
  lr = learning_rate
  if schedule == "cosine":
    lr = optax.cosine_decay_schedule(learning_rate, max(1, total_steps))
  if weight_decay > 0:
    return optax.adamw(lr, weight_decay=weight_decay)
  return optax.adam(lr)


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


def _with_val(z, t, groups, val, val_groups, mean, std, y_mean, y_std):
  """Training plus validation patches (standardised) and their groups:
  `groups` and `val_groups`, or (either missing) each validation image a
  group of its own."""
  if val is None:
    return z, t, groups
  xv, iv, yv = val
  iv = np.asarray(iv)
  zv = ((np.asarray(xv, np.float32) - mean) / std).astype(np.float32)
  tv = ((np.asarray(yv, np.float64)[iv] - y_mean) / y_std).astype(np.float32)
  if groups is None or val_groups is None:
    g = (np.arange(len(z)) if groups is None else
         np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1))
    gv = iv + g.max() + 1
  else:
    g, gv = np.asarray(groups), np.asarray(val_groups)
    if gv.shape != iv.shape:
      raise ValueError(f"val_groups must have one entry per validation "
                       f"patch ({iv.shape}), got {gv.shape}.")
  return np.concatenate([z, zv]), np.concatenate([t, tv]), np.concatenate(
      [g, gv])


def _val_score(graphdef, val, mean, std, cfg, y_mean, y_std, mesh):
  """evaluate(model) for the loop, higher is better: the validation
  images' PLCC after pooling (-inf for constant predictions), or minus the
  mean squared error of the validation patches against their image's
  score (early_stopping="loss")."""
  xv, iv, yv = val
  zv = ((np.asarray(xv, np.float32) - mean) / std).astype(np.float32)
  iv, yv = np.asarray(iv), np.asarray(yv, np.float64)
  target = (yv[iv] - y_mean) / y_std

  def evaluate(model):
    q = _forward(graphdef, nnx.state(model, nnx.Param), zv, mesh)
    if cfg.early_stopping == "loss":
      return -float(np.mean((q - target) ** 2))
    pooled = pooling.pool_patches(q, iv, len(yv), pooling=cfg.pooling)
    return stats.plcc(pooled, yv) if np.ptp(pooled) > 0 else -np.inf
  return evaluate


def predict(result: TrainResult, x, *, mesh=None) -> np.ndarray:
  """(N,) patch scores of embeddings x (N, d): the members' mean."""
  z = ((np.asarray(x, np.float32) - result.mean) / result.std).astype(
      np.float32)
  q = np.mean([_forward(result.graphdef, p, z, mesh) for p in result.params],
              axis=0)
  return (q * result.y_std + result.y_mean).astype(np.float32)


def fit(x, y, *, val=None, groups=None, val_groups=None,
        config: TrainConfig = TrainConfig(),
        mesh: jax.sharding.Mesh | None = None,
        checkpoint_dir: str | None = None,
        on_epoch: Callable[[int, dict], None] | None = None,
        progress: bool = False) -> TrainResult:
  """Trains a `Regressor` on patch embeddings x (N, d) and targets y (N,).

  Args:
    val: optional (x_val (M, d), image index of each val patch (M,),
      scores of the val images (V,)) for early stopping.
    groups: (N,) the image or reference of each patch, for the ridge
      initialisation's inner folds (None: every patch its own group).
    val_groups: (M,) the same for the validation patches (init="ridge_val";
      None: each validation image its own group).
    mesh: 1-D mesh named "data" (default: all devices).
    checkpoint_dir: saves after every epoch and resumes from it.
    on_epoch: called as on_epoch(epoch, {"loss": .., "val_score": ..,
      "member": ..}) after
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
  if cfg.early_stopping not in ("plcc", "loss"):
    raise ValueError(f"early_stopping must be 'plcc' or 'loss', got "
                     f"{cfg.early_stopping!r}.")
  if cfg.ensemble < 1:
    raise ValueError(f"ensemble={cfg.ensemble} must be >= 1.")
  if cfg.init not in INITS:
    raise ValueError(f"init must be one of {INITS}, got {cfg.init!r}.")
  mean = x.mean(0)
  std = x.std(0) + 1e-6
  z = ((x - mean) / std).astype(np.float32)
  y_mean, y_std = 0.0, 1.0
  if cfg.standardise_targets:
    y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
  t = ((y - y_mean) / y_std).astype(np.float32)
  steps_per_epoch = -(-len(z) // cfg.batch_size)
  total = steps_per_epoch * cfg.max_epochs
  if cfg.max_steps:
    total = min(total, cfg.max_steps)
  tx = optimiser(float(cfg.learning_rate), float(cfg.weight_decay),
                 cfg.schedule, int(total))
  members = []
  for m in range(cfg.ensemble):
    seed = cfg.seed + 1000 * m
    model = Regressor(x.shape[1], hidden=cfg.hidden, rngs=nnx.Rngs(seed))
    if cfg.init == "ridge":
      ridge_init(model, z, t, groups=groups, seed=seed)
    elif cfg.init == "ridge_val":
      zi, ti, gi = _with_val(z, t, groups, val, val_groups, mean, std,
                             y_mean, y_std)
      ridge_init(model, zi, ti, groups=gi, seed=seed)
    state = training.TrainState.create(model, tx)
    evaluate = None if val is None else _val_score(
        state.graphdef, val, mean, std, cfg, y_mean, y_std, mesh)
    hooks = ()
    if on_epoch is not None:
      hooks = (lambda epoch, logs, m=m: on_epoch(
          epoch, {"loss": logs["loss"], "val_score": logs["value"],
                  "member": m}),)
    ckpt = checkpoint_dir
    if checkpoint_dir is not None and cfg.ensemble > 1:
      ckpt = f"{checkpoint_dir}/member_{m}"
    members.append(training.fit(
        state, {"x": z, "y": t}, loss_fn=squared_error, tx=tx,
        config=training.LoopConfig(batch_size=cfg.batch_size,
                                   max_epochs=cfg.max_epochs,
                                   patience=cfg.patience, seed=seed,
                                   max_steps=cfg.max_steps,
                                   checkpoint_every=cfg.checkpoint_every),
        evaluate=evaluate, mesh=mesh, checkpoint_dir=ckpt,
        hooks=hooks, progress=progress))
  first = members[0]
  return TrainResult(state.graphdef, tuple(r.best_params for r in members),
                     mean, std, first.best_epoch, first.epochs_run,
                     first.steps, first.losses, first.values, y_mean, y_std)
