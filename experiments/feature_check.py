"""Are the encoder's features about quality? GAP features + ridge, 5-fold CV.

  python experiments/feature_check.py --workdir /tmp/feature_check \
      [--images ../shared/data/livec/ChallengeDB_release/Images \
       --mos ../shared/data/livec/mos.csv] [--runlocal]

Each image is resized (area filter) to `size` x `size`, embedded by the
encoder's `embed` (global average of the last block: VGG16 relu5_3, 512-d)
once with the pretrained weights and once with random weights (the NNX
default initialisation, seeded), and a ridge regressor on standardised
features is scored by SRCC/PLCC under k-fold cross-validation (the ridge
penalty chosen by an inner k-fold on each training part, from a log grid).
Pretrained features should predict quality far better than random ones;
`results.json` and `results.md` hold the per-fold and median figures.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import ml_collections
import numpy as np
from flax import nnx

from iqa_jax import distributed, embed, images, parallel, results, stats
from iqa_jax.data import splits
from iqa_jax.models import vgg

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "livec"


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.images = str(_SHARED / "ChallengeDB_release" / "Images")
  c.mos = str(_SHARED / "mos.csv")
  c.size = 224
  c.folds = 5
  c.seed = 0
  c.batch_size = 16
  c.alphas = [10.0 ** k for k in range(-2, 5)]
  c.limit = 0        # 0: every image in the MOS file
  if arg == "runlocal":
    c.size, c.limit = 64, 60
  return c


def _ridge(x, y, alpha):
  """Ridge weights (with intercept) on standardised x."""
  mu, sd = x.mean(0), x.std(0) + 1e-8
  z = (x - mu) / sd
  ym = y.mean()
  d = z.shape[1]
  w = np.linalg.solve(z.T @ z + alpha * len(z) * np.eye(d) / d, z.T @ (y - ym))
  return lambda q: ((q - mu) / sd) @ w + ym


def _fit(x, y, alphas, folds, seed):
  """Ridge with the penalty picked by inner k-fold SRCC."""
  best, best_score = alphas[0], -np.inf
  for a in alphas:
    score = []
    for tr, _, te in splits.kfold(np.arange(len(y)), k=folds, seed=seed):
      score.append(stats.srcc(_ridge(x[tr], y[tr], a)(x[te]), y[te]))
    if np.mean(score) > best_score:
      best, best_score = a, float(np.mean(score))
  return _ridge(x, y, best), best


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--images")
  p.add_argument("--mos")
  p.add_argument("--runlocal", action="store_true")
  distributed.add_arguments(p)
  args = p.parse_args(argv)
  distributed.from_args(args)
  cfg = get_config("runlocal" if args.runlocal else None)
  cfg.images = args.images or cfg.images
  cfg.mos = args.mos or cfg.mos
  with open(cfg.mos, newline="") as f:
    rows = list(csv.DictReader(f))
  if cfg.limit:
    rows = rows[:cfg.limit]
  names = [r["image"] for r in rows]
  y = np.array([float(r["mos"]) for r in rows])
  wd = results.create_workdir(args.workdir, cfg.to_dict())

  bar = parallel.progress_bar(total=len(names), desc="reading", unit="img")
  x = []
  for n in names:
    x.append(np.asarray(images.resize(images.read(Path(cfg.images) / n),
                                      (cfg.size, cfg.size), method="area")))
    bar.update(1)
  bar.close()
  x = np.stack(x)
  encoders = {"pretrained": vgg.VGG16.pretrained(),
              "random": vgg.VGG16(rngs=nnx.Rngs(cfg.seed))}
  out, table = {"n_images": len(names)}, []
  for label, enc in encoders.items():
    t0 = time.perf_counter()
    feats = embed.embed(enc, x, batch_size=cfg.batch_size, progress=True)
    t_embed = time.perf_counter() - t0
    per_fold = []
    for i, (tr, _, te) in enumerate(splits.kfold(np.arange(len(y)), k=cfg.folds,
                                              seed=cfg.seed)):
      model, alpha = _fit(feats[tr], y[tr], cfg.alphas, cfg.folds,
                          cfg.seed + 1 + i)
      pred = model(feats[te])
      per_fold.append({"fold": i, "alpha": alpha,
                       "srcc": stats.srcc(pred, y[te]),
                       "plcc": stats.plcc(pred, y[te])})
    med = {m: float(np.median([f[m] for f in per_fold]))
           for m in ("srcc", "plcc")}
    out[label] = {"folds": per_fold, "median": med,
                  "embed_seconds": t_embed}
    table.append({"weights": label, "median SRCC": round(med["srcc"], 4),
                  "median PLCC": round(med["plcc"], 4),
                  "embed s": round(t_embed, 1)})
    print(f"{label:>10}: median SRCC {med['srcc']:.4f}, PLCC "
          f"{med['plcc']:.4f} ({cfg.folds} folds, {len(y)} images)")
  wd.write_results(out)
  wd.write_table("results", table)
  print(f"wrote {wd.root}")


if __name__ == "__main__":
  main()
