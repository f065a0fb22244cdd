"""Stages 2-3 of distill360: patch rankings per selector, and training cells.

A selector of the registry (`selection.rank_images`) turns each image's
embeddings and patch variances into a ranking of its patches (best first);
selection at rate r keeps the first ceil(r n) of each image, for training
and test images alike (as the paper does). The residual selector solves all
images in sharded, vmapped calls per patch count; random draws image i's
order with `fold_in(key(seed), i)`.

A cell is one (sampler, selector, distance, h, rate, fold, seed): train the
regressor (the MLP, or the ridge probe with regressor="ridge") on the
selected patches of the training images, pool the test images' patch
predictions, score them against the test images' scores. Greedy selection
(source text 000's redundancy filter) drops, per image, the neighbours
within `greedy_threshold` (0: the image's median nearest-neighbour
distance).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import parallel, pooling, regression, ridge, stats
from iqa_jax import selection
from iqa_jax.selection import distances
from iqa_jax.selection.base import resolve_k

__all__ = ["rankings", "run_cell", "cell_id", "fit_predict", "train_config",
           "greedy_thresholds"]


def greedy_thresholds(embeddings) -> np.ndarray:
  """(n_images,) each image's median nearest-neighbour distance between
  its patch embeddings (a list of (n_i, d)); greedy's `threshold` when
  greedy_threshold = 0."""
  out = np.zeros(len(embeddings))
  for idx in parallel.group_by_shape(embeddings).values():
    d = np.asarray(_nearest(np.stack([embeddings[i] for i in idx])))
    out[idx] = np.median(d, axis=1)
  return out


@jax.jit
def _nearest(e):
  d = jax.vmap(distances.euclidean)(e)
  n = e.shape[1]
  return jnp.min(jnp.where(jnp.eye(n, dtype=bool), jnp.inf, d), axis=-1)


def rankings(ps, selector: str, *, distance: str, h: int, cfg, seed: int):
  """(list of (n_i,) orders, mean normalised objective per iteration or
  None)."""
  key = jax.random.key(seed)
  if selector == "greedy":
    thr = (np.full(len(ps.embeddings), cfg.greedy_threshold)
           if cfg.greedy_threshold > 0 else greedy_thresholds(ps.embeddings))
    orders = [selection.rank("greedy", embeddings=e, variances=v,
                             threshold=float(t)).order
              for e, v, t in zip(ps.embeddings, ps.variance, thr)]
    return orders, None
  options = {}
  if selector == "residual":
    options = dict(distance=distance, h=h, alpha=cfg.alpha, beta=cfg.beta)
  ranks = selection.rank_images(
      selector, key, embeddings=ps.embeddings,
      variances=ps.variance, progress=cfg.progress and selector == "residual",
      **options)
  orders = [r.order for r in ranks]
  if selector != "residual":
    return orders, None
  obj = np.stack([np.asarray(r.extra.objective, np.float64) for r in ranks])
  obj = obj / obj[:, :1]
  with np.errstate(all="ignore"):
    curve = np.nanmean(obj, axis=0)
  return orders, curve


def cell_id(sampler, selector, distance, h, rate, fold, seed) -> str:
  return (f"{sampler}__{selector}__{distance}__h{h}__r{rate:g}__f{fold}"
          f"__s{seed}")


def _gather(ps, orders, rate, idx):
  """The kept patches of images `idx`: (x, y, image position in idx, kept
  indices per image); ceil(rate n) per image, as `residual.resolve_k`."""
  kept = [orders[i][:resolve_k(len(orders[i]), rate=rate)] for i in idx]
  x = np.concatenate([ps.embeddings[i][k] for i, k in zip(idx, kept)])
  y = np.concatenate([np.full(len(k), ps.scores[i])
                      for i, k in zip(idx, kept)])
  img = np.concatenate([np.full(len(k), j) for j, k in enumerate(kept)])
  return x, y, img, kept


def train_config(cfg, seed: int) -> regression.TrainConfig:
  """The MLP's `regression.TrainConfig` from the experiment's config."""
  return regression.TrainConfig(
      learning_rate=cfg.learning_rate, batch_size=cfg.train_batch,
      max_epochs=cfg.max_epochs, patience=cfg.patience, seed=seed,
      pooling=cfg.pooling, hidden=cfg.hidden, weight_decay=cfg.weight_decay,
      schedule=cfg.schedule, standardise_targets=cfg.standardise_targets,
      ensemble=cfg.ensemble, early_stopping=cfg.early_stopping,
      checkpoint_every=cfg.checkpoint_every, init=cfg.mlp_init)


def fit_predict(x, y, groups, val, x_test, cfg, *, seed: int,
                checkpoint_dir: str | None = None):
  """Trains the configured regressor; (test patch scores, epochs, best
  epoch, seconds).

  x (N, d), y (N,): training patches and their image's score; groups (N,):
  their reference ids. val: None, or (x_val (M, d), image index of each
  validation patch (M,), validation image scores (V,), patch targets (M,),
  patch reference ids (M,)). Ridge trains on training plus validation
  patches (its penalty from inner folds over the reference ids); the MLP
  early-stops on the validation part.
  """
  t0 = time.perf_counter()
  if cfg.regressor == "ridge":
    if val is not None:
      x = np.concatenate([x, val[0]])
      y = np.concatenate([y, val[3]])
      groups = np.concatenate([groups, val[4]])
    res = ridge.fit(x, y, groups=groups, lambdas=cfg.ridge_lambdas,
                    folds=cfg.ridge_folds, seed=seed)
    return ridge.predict(res, x_test), 0, 0, time.perf_counter() - t0
  res = regression.fit(x, y, val=None if val is None else val[:3],
                       groups=groups,
                       val_groups=None if val is None else val[4],
                       config=train_config(cfg, seed),
                       checkpoint_dir=checkpoint_dir)
  seconds = time.perf_counter() - t0
  return (regression.predict(res, x_test), res.epochs_run, res.best_epoch,
          seconds)


def run_cell(ps, orders, rate: float, split, cfg, *, seed: int,
             checkpoint_dir: str | None = None) -> dict:
  """Trains and evaluates one cell; returns its metrics and costs."""
  x, y, ix, _ = _gather(ps, orders, rate, split.train)
  groups = ps.ref_ids[split.train][ix]
  val = None
  if len(split.val):
    xv, yv, iv, _ = _gather(ps, orders, rate, split.val)
    val = (xv, iv, ps.scores[split.val], yv, ps.ref_ids[split.val][iv])
  xt, _, it, sel_t = _gather(ps, orders, rate, split.test)
  q, epochs, best_epoch, t_train = fit_predict(
      x, y, groups, val, xt, cfg, seed=seed, checkpoint_dir=checkpoint_dir)
  weights = None
  if cfg.pooling == "variance_weighted":
    weights = np.concatenate([ps.variance[i][s]
                              for i, s in zip(split.test, sel_t)])
  pred = pooling.pool_patches(q, it, len(split.test), pooling=cfg.pooling,
                            weights=weights)
  ev = stats.evaluate(pred, ps.scores[split.test], fit="4pl")
  plcc = ev.plcc_fitted if ev.fitted else ev.plcc
  return {"srcc": ev.srcc, "plcc": plcc, "plcc_raw": ev.plcc,
          "krcc": ev.krcc, "fitted": ev.fitted,
          "n_train_images": int(len(split.train)),
          "n_test_images": int(len(split.test)),
          "n_train_patches": int(len(x)), "n_test_patches": int(len(xt)),
          "train_seconds": t_train, "epochs": epochs,
          "best_epoch": best_epoch, "devices": jax.device_count()}
