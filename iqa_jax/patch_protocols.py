"""Source text 000's patch-selection protocols compared on one footing.

  python experiments/patch_protocols.py --workdir /tmp/pp --config runlocal
  python experiments/patch_protocols.py --workdir /tmp/pp_livec \\
      --set manual_dir=../shared/data/livec/ChallengeDB_release

Every image is cut into non-overlapping grid patches (`patch_size`); each
strategy picks patches from a pool, a regressor (distill360's, `regressor`)
learns patch -> image score on the training images of reference-disjoint
folds, and the test images' patch predictions are pooled. Strategies
(source text 000's protocols, one row each):

  random                 `keep` x the grid patches, uniformly at random
  variance top-k         the `keep` x n highest-variance grid patches
  variance threshold     grid patches with grey-level variance >= T_var,
                         T_var the (1 - keep) quantile of the training
                         images' patch variances (Protocol 1: chosen on
                         training data; at least one patch per image)
  two-fold               Protocol 2: a candidate pool of the grid, `n_pool`
                         saliency-guided and `n_pool` Harris-centred
                         patches, then the embedding redundancy filter
                         (`selection.greedy`: drop every patch within the
                         image's median nearest-neighbour distance of a kept
                         one, highest variance first)
  ... + variance pooling the same patches pooled by variance-weighted mean
  all (single scale)     every grid patch
  all (two scales)       every grid patch of the image and of the image
                         at half resolution (Q3's multi-scale analysis)

Pooling is the plain mean unless the row says variance-weighted. Writes
table.md / .csv (strategy, SRCC, PLCC median over folds, patches kept per
image, selection and training seconds), cells.csv and a bar plot.
Embeddings are cached per image (EmbeddingCache), so a rerun is quick.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from iqa_jax import (data, embed, embed_cache, images, parallel, paths,
                     pooling, results, sampling, selection, stats)
from iqa_jax.data import registry, splits
from iqa_jax.distill360 import cells, patches
from iqa_jax.distill360 import config as d360_config

__all__ = ["get_config", "run", "STRATEGIES"]

_LIVEC = Path(__file__).resolve().parents[2] / "shared" / "data" / "livec"

# name -> (patch pool, selection, pooling)
STRATEGIES = {
    "random": ("grid", "random", "mean"),
    "variance top-k": ("grid", "variance", "mean"),
    "variance threshold": ("grid", "variance_threshold", "mean"),
    "variance threshold + variance pooling": ("grid", "variance_threshold",
                                              "variance_weighted"),
    "two-fold": ("pool", "greedy", "mean"),
    "two-fold + variance pooling": ("pool", "greedy", "variance_weighted"),
    "all (single scale)": ("grid", "all", "mean"),
    "all (two scales)": ("multi", "all", "mean"),
}


def get_config(arg: str | None = None):
  """distill360's regression keys plus the protocol's own."""
  c = d360_config.get_config("livec")
  c.unlock()
  c.manual_dir = str(_LIVEC / "ChallengeDB_release")
  c.allow_missing = True
  c.keep = 0.5        # fraction of grid patches for random / variance
  c.n_pool = 16       # saliency-guided and Harris-centred extra candidates
  c.strategies = tuple(STRATEGIES)
  if arg == "runlocal":
    c.dataset = "demo2d"
    c.manual_dir = ""
    c.patch_size = 64   # 16 grid patches per 256 x 256 image
    c.n_pool = 6
    c.max_epochs = 20
  elif arg not in (None, ""):
    raise ValueError(f"unknown preset {arg!r}; use runlocal or nothing.")
  return c


def _half(image):
  h, w = image.shape[:2]
  return np.asarray(images.resize(image, (h // 2, w // 2), method="area"))


def _extras(cfg, image, key):
  """{part: (n, H, W, 3) patches} of one image: the grid, and the extra
  candidates (saliency-guided, Harris-centred, half-resolution grid)."""
  grid = np.asarray(sampling.sample("grid", image, size=cfg.patch_size)
                    .patches)
  n = min(cfg.n_pool, len(grid))
  extra = np.concatenate([
      np.asarray(sampling.sample("saliency", image, key=key, n=n,
                                 size=cfg.patch_size).patches),
      np.asarray(sampling.sample("harris", image, n=n,
                                 size=cfg.patch_size).patches)])
  half = _half(image)
  small = (np.asarray(sampling.sample("grid", half, size=cfg.patch_size)
                      .patches) if min(half.shape[:2]) >= cfg.patch_size
           else grid[:0])
  return {"grid": grid, "extra": extra, "half": small}


def _embed_all(cfg, src, encoder, encoder_id):
  """Per image: {pool: (embeddings, variances)} for the pools "grid",
  "pool" (grid + extra candidates) and "multi" (grid + half-resolution
  grid); every patch is embedded once and cached."""
  root = Path(cfg.cache_dir) if cfg.cache_dir else paths.home() / "embeddings"
  cache = embed_cache.EmbeddingCache(root, {
      "protocols": 2, "dataset": src.name,
      "dataset_version": registry.get(src.name).version,
      "patch_size": cfg.patch_size, "n_pool": cfg.n_pool, **encoder_id})
  todo = [i for i, n in enumerate(src.names) if not cache.has(n)]
  bar = parallel.progress_bar(total=len(todo), desc="pools + embeddings",
                              unit="image", enabled=cfg.progress and bool(todo))
  key = jax.random.key(0)
  for i in todo:
    image = images.decode(src.raw(i)["image"], name=src.names[i])
    parts = _extras(cfg, image, jax.random.fold_in(key, i))
    stacked = np.concatenate(list(parts.values()))
    e = embed.embed(encoder, stacked, batch_size=cfg.embed_batch)
    v = np.asarray(images.patch_variance(stacked))
    arrays, start = {}, 0
    for name, p in parts.items():
      arrays[f"{name}_e"] = e[start:start + len(p)]
      arrays[f"{name}_v"] = v[start:start + len(p)]
      start += len(p)
    cache.save(src.names[i], **arrays)
    bar.update(1)
  bar.close()
  out = []
  for n in src.names:
    a = cache.load(n)
    cat = lambda *ps: (np.concatenate([a[f"{p}_e"] for p in ps]),
                       np.concatenate([a[f"{p}_v"] for p in ps]))
    out.append({"grid": cat("grid"), "pool": cat("grid", "extra"),
                "multi": cat("grid", "half")})
  return out


def _select(strategy, per_image, split, cfg, seed):
  """(kept indices per image, seconds per image) for one fold."""
  pool, sel, _ = STRATEGIES[strategy]
  t0 = time.perf_counter()
  key = jax.random.key(seed)
  kept = []
  if sel == "variance_threshold":
    train_v = np.concatenate([per_image[i][pool][1] for i in split.train])
    t_var = float(np.quantile(train_v, 1.0 - cfg.keep))
  embeddings = [im[pool][0] for im in per_image]
  if sel == "greedy":
    thresholds = cells.greedy_thresholds(embeddings)
  if sel == "random":   # vmapped per patch count; image i: fold_in(key, i)
    randoms = selection.rank_images("random", key, embeddings=embeddings)
  for i, im in enumerate(per_image):
    e, v = im[pool]
    if sel == "all":
      k = np.arange(len(e))
    elif sel == "random":
      k = randoms[i].take(rate=cfg.keep)
    elif sel == "variance":
      k = selection.rank("variance", variances=v).take(rate=cfg.keep)
    elif sel == "variance_threshold":
      r = selection.rank("variance_threshold", variances=v, threshold=t_var)
      k = r.order[:max(1, r.accepted)]
    else:   # greedy
      r = selection.rank("greedy", embeddings=e, variances=v,
                         threshold=float(thresholds[i]))
      k = r.order[:r.accepted]
    kept.append(np.asarray(k))
  return kept, (time.perf_counter() - t0) / len(per_image)


def _fold(strategy, per_image, scores, ref_ids, split, cfg, seed):
  pool, _, pool_fn = STRATEGIES[strategy]
  kept, t_sel = _select(strategy, per_image, split, cfg, seed)

  def gather(idx):
    x = np.concatenate([per_image[i][pool][0][kept[i]] for i in idx])
    v = np.concatenate([per_image[i][pool][1][kept[i]] for i in idx])
    img = np.concatenate([np.full(len(kept[i]), j)
                          for j, i in enumerate(idx)])
    return x, v, img
  x, _, it = gather(split.train)
  y = scores[split.train][it]
  groups = ref_ids[split.train][it]
  val = None
  if len(split.val):
    xv, _, iv = gather(split.val)
    val = (xv, iv, scores[split.val], scores[split.val][iv],
           ref_ids[split.val][iv])
  xt, vt, itest = gather(split.test)
  c = cfg.copy_and_resolve_references()
  c.unlock()
  c.pooling = pool_fn if pool_fn != "variance_weighted" else c.pooling
  q, _, _, t_train = cells.fit_predict(x, y, groups, val, xt, c, seed=seed)
  pred = pooling.pool_patches(
      q, itest, len(split.test), pooling=pool_fn,
      weights=vt if pool_fn == "variance_weighted" else None)
  ev = stats.evaluate(pred, scores[split.test], fit="4pl")
  return {"srcc": ev.srcc, "plcc": ev.plcc_fitted if ev.fitted else ev.plcc,
          "patches_per_image": float(np.mean([len(kept[i])
                                              for i in split.test])),
          "select_s_per_image": t_sel, "train_s": t_train}


def run(cfg, workdir) -> dict:
  """Runs every strategy on every fold; writes the table and the plot."""
  for s in cfg.strategies:
    if s not in STRATEGIES:
      raise ValueError(f"unknown strategy {s!r}; use some of "
                       f"{list(STRATEGIES)}.")
  wd = results.create_workdir(workdir, cfg.to_dict(), overwrite=True)
  src = data.load(cfg.dataset, data_dir=cfg.data_dir or None,
                  manual_dir=cfg.manual_dir or None,
                  allow_missing=cfg.allow_missing)
  encoder, encoder_id = patches.build_encoder(cfg)
  per_image = _embed_all(cfg, src, encoder, encoder_id)
  scores = np.asarray(src.score_norm, np.float64)
  ref_ids = np.asarray(src.ref_ids)
  rows = []
  jobs = [(s, seed, f, split) for seed in cfg.seeds
          for f, split in enumerate(splits.kfold(
              ref_ids, k=cfg.folds, seed=seed, val_fraction=cfg.val_fraction))
          for s in cfg.strategies]
  bar = parallel.progress_bar(total=len(jobs), desc="strategies x folds",
                              unit="cell", enabled=cfg.progress)
  for s, seed, f, split in jobs:
    out = _fold(s, per_image, scores, ref_ids, split, cfg, seed)
    rows.append({"strategy": s, "seed": seed, "fold": f, **out})
    bar.update(1)
  bar.close()
  table = []
  for s in cfg.strategies:
    rs = [r for r in rows if r["strategy"] == s]
    table.append({
        "strategy": s, "pooling": STRATEGIES[s][2],
        "SRCC": float(np.median([r["srcc"] for r in rs])),
        "PLCC": float(np.median([r["plcc"] for r in rs])),
        "patches per image": round(float(np.mean(
            [r["patches_per_image"] for r in rs])), 1),
        "selection ms/image": 1e3 * float(np.mean(
            [r["select_s_per_image"] for r in rs])),
        "training s/fold": float(np.mean([r["train_s"] for r in rs]))})
  wd.write_table("cells", rows)
  md = wd.write_table("table", table, floatfmt=".3f")
  plot = _plot(wd, table, cfg)
  spec = registry.get(cfg.dataset)
  summary = {"table": table, "markdown": md, "plot": str(plot),
             "score": spec.score_name, "workdir": str(wd.root)}
  wd.write_results({**summary, "rows": rows})
  return summary


def _plot(wd, table, cfg):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(9, 4))
  ax = fig.add_subplot(1, 1, 1)
  x = np.arange(len(table))
  ax.bar(x - 0.2, [t["SRCC"] for t in table], 0.4, label="SRCC")
  ax.bar(x + 0.2, [t["PLCC"] for t in table], 0.4, label="PLCC")
  ax.set_xticks(x, [t["strategy"].replace(" + ", "\n+ ") for t in table],
                fontsize=7, rotation=20, ha="right")
  lo = min(min(t["SRCC"], t["PLCC"]) for t in table)
  ax.set_ylim(max(0.0, lo - 0.1), 1.0)
  ax.set_ylabel("median over folds")
  ax.grid(alpha=0.3, axis="y")
  ax.legend()
  ax.set_title(f"Source text 000's protocols on {cfg.dataset} "
               f"({cfg.regressor} regressor, {cfg.folds} folds)")
  return wd.save_figure(fig, "protocols")
