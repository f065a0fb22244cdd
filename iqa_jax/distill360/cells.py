"""Stages 2-3 of distill360: patch rankings per selector, and training cells.

A selector turns each image's embeddings into a ranking of its patches
(best first); selection at rate r keeps the first ceil(r n) of each image,
for training and test images alike (as the paper does).

  residual   ascending irrelevance score of the W/R solver (Alg. 1), all
             images in one sharded, vmapped call per patch count
             (`selection.batch.score_images`)
  random     a seeded permutation per image
  variance   descending grey-level variance (source text 000)
  farthest   farthest-point order in embedding space

A cell is one (sampler, selector, distance, h, rate, fold, seed): train the
regressor on the selected patches of the training images, pool the test
images' patch predictions, score them against the test images' scores.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from iqa_jax import stats, train
from iqa_jax.selection import batch as selection_batch
from iqa_jax.selection import selectors
from iqa_jax.selection.residual import resolve_k

__all__ = ["rankings", "run_cell", "cell_id"]


def rankings(ps, selector: str, *, distance: str, h: int, cfg, seed: int):
  """(list of (n_i,) rankings, mean normalised objective per iteration or
  None)."""
  if selector == "residual":
    res = selection_batch.score_images(
        ps.embeddings, distance=distance, h=h, alpha=cfg.alpha,
        beta=cfg.beta, progress=cfg.progress)
    orders = [np.argsort(np.asarray(r.scores), kind="stable") for r in res]
    obj = np.stack([np.asarray(r.objective, np.float64) for r in res])
    obj = obj / obj[:, :1]
    with np.errstate(all="ignore"):
      curve = np.nanmean(obj, axis=0)
    return orders, curve
  if selector == "random":
    return [np.random.default_rng((seed, i)).permutation(len(e))
            for i, e in enumerate(ps.embeddings)], None
  if selector == "variance":
    return [np.argsort(-np.asarray(v), kind="stable")
            for v in ps.variance], None
  if selector == "farthest":  # one vmapped call per patch count
    orders = [None] * len(ps.embeddings)
    groups = {}
    for i, e in enumerate(ps.embeddings):
      groups.setdefault(np.shape(e), []).append(i)
    for idx in groups.values():
      out = np.asarray(selectors.farthest_orders(
          np.stack([ps.embeddings[i] for i in idx])))
      for i, o in zip(idx, out):
        orders[i] = o
    return orders, None
  raise ValueError(f"unknown selector {selector!r}.")


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
  tcfg = train.TrainConfig(learning_rate=cfg.learning_rate,
                           batch_size=cfg.train_batch,
                           max_epochs=cfg.max_epochs, patience=cfg.patience,
                           seed=seed, pooling=cfg.pooling)
  t0 = time.perf_counter()
  res = train.fit(x, y, val=val, config=tcfg, checkpoint_dir=checkpoint_dir)
  t_train = time.perf_counter() - t0
  q = train.predict(res, xt)
  weights = None
  if cfg.pooling == "variance_weighted":
    weights = np.concatenate([ps.variance[i][s]
                              for i, s in zip(split.test, sel_t)])
  pred = train.pool_patches(q, it, len(split.test), pooling=cfg.pooling,
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
