"""Stages 2-3 of distill360: patch rankings per selector, and training cells.

A selector of the registry (`selection.rank_images`) turns each image's
embeddings and patch variances into a ranking of its patches (best first);
selection at rate r keeps the first ceil(r n) of each image, for training
and test images alike (as the paper does). The residual selector solves all
images in sharded, vmapped calls per patch count; random draws image i's
order with `fold_in(key(seed), i)`.

A cell is one (sampler, selector, distance, h, rate, fold, seed): train the
regressor on the selected patches of the training images, pool the test
images' patch predictions, score them against the test images' scores.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from iqa_jax import pooling, regression, stats
from iqa_jax import selection
from iqa_jax.selection.base import resolve_k

__all__ = ["rankings", "run_cell", "cell_id"]


def rankings(ps, selector: str, *, distance: str, h: int, cfg, seed: int):
  """(list of (n_i,) orders, mean normalised objective per iteration or
  None)."""
  options = {}
  if selector == "residual":
    options = dict(distance=distance, h=h, alpha=cfg.alpha, beta=cfg.beta)
  ranks = selection.rank_images(
      selector, jax.random.key(seed), embeddings=ps.embeddings,
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


def run_cell(ps, orders, rate: float, split, cfg, *, seed: int,
             checkpoint_dir: str | None = None) -> dict:
  """Trains and evaluates one cell; returns its metrics and costs."""
  x, y, _, _ = _gather(ps, orders, rate, split.train)
  val = None
  if len(split.val):
    xv, _, iv, _ = _gather(ps, orders, rate, split.val)
    val = (xv, iv, ps.scores[split.val])
  xt, _, it, sel_t = _gather(ps, orders, rate, split.test)
  tcfg = regression.TrainConfig(learning_rate=cfg.learning_rate,
                           batch_size=cfg.train_batch,
                           max_epochs=cfg.max_epochs, patience=cfg.patience,
                           seed=seed, pooling=cfg.pooling)
  t0 = time.perf_counter()
  res = regression.fit(x, y, val=val, config=tcfg,
                       checkpoint_dir=checkpoint_dir)
  t_train = time.perf_counter() - t0
  q = regression.predict(res, xt)
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
          "train_seconds": t_train, "epochs": res.epochs_run,
          "best_epoch": res.best_epoch, "devices": jax.device_count()}
