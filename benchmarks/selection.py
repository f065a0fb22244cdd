"""Benchmark: the jitted, batched W/R solver against a plain NumPy Algorithm 1.

  python benchmarks/selection.py            # full grid, about 10 min on 2 cores
  python benchmarks/selection.py --quick    # n = 64 and 180 only

The peer is a direct NumPy transcription of source text 001's Algorithm 1 as
printed: S from Euclidean distances (Gaussian kernel, median bandwidth), Z
from `numpy.linalg.eigh`, then 20 iterations of Eq. 9 with a d x d solve and
Eq. 11, one image at a time (float64, same start as ours: ridge W0 and its
residual). Ours: `selection.residual_scores_batch` (float64, 20 fixed
iterations), a batch of images vmapped through one jitted function on all
devices. For every (n, d) in {64, 180, 512} x {512, 2048}, h = 10, it
reports the time per image of each, their ratio, and how well the rankings
agree (identical rankings, Spearman). It also reports images per second for
a CVIQ-sized job (528 images, n = 512, d = 2048, float32, the default) and
the process's peak memory. The embeddings are synthetic raw-scale
ReLU-like features (non-negative, sparse, a few shared directions).

Figures go to benchmarks/results/selection.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import jax
import numpy as np
import scipy.stats

from iqa_jax import selection

jax.config.update("jax_enable_x64", True)

ALPHA = BETA = 0.1
H = 10
ITERS = 20
EPS = 1e-8


def synthetic_embeddings(rng, b, n, d):
  """Non-negative, sparse, correlated features like GAP'd ReLU maps."""
  basis = rng.normal(size=(8, d))
  mix = rng.gamma(2.0, 1.0, size=(b, n, 8))
  x = mix @ basis + 0.5 * rng.normal(size=(b, n, d))
  return np.maximum(x, 0.0) * 2.0


def numpy_algorithm1(e: np.ndarray) -> np.ndarray:
  """Algorithm 1 written plainly: d x d solves; returns the scores."""
  n, d = e.shape
  sq = np.sum(e * e, axis=1)
  dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * e @ e.T, 0))
  np.fill_diagonal(dist, 0.0)
  sigma = np.median(dist[np.triu_indices(n, 1)])
  s = np.exp(-dist**2 / (2 * sigma**2))
  lam, v = np.linalg.eigh(s)
  z = v[:, ::-1][:, :H] * np.sqrt(np.maximum(lam[::-1][:H], 0))
  ete = e.T @ e
  w = np.linalg.solve(ete + ALPHA * np.eye(d), e.T @ z)
  rt = e @ w - z
  ew = EPS * np.sqrt(np.mean(np.sum(w**2, 1)))
  er = EPS * np.sqrt(np.mean(np.sum(rt**2, 1)))
  for _ in range(ITERS):
    dw = 1.0 / (2.0 * np.sqrt(np.sum(w**2, 1) + ew**2))
    w = np.linalg.solve(ete + ALPHA * np.diag(dw), e.T @ (z + rt))   # Eq. 9
    dr = 1.0 / (2.0 * np.sqrt(np.sum(rt**2, 1) + er**2))
    rt = (e @ w - z) / (1.0 + BETA * dr)[:, None]                     # Eq. 11
  return np.linalg.norm(rt, axis=1)


def ours(e: np.ndarray, **kw):
  res = selection.residual_scores_batch(
      e, h=H, alpha=ALPHA, beta=BETA, max_iter=ITERS, fixed_iterations=True,
      eps=EPS, **kw)
  return jax.block_until_ready(res.scores)


def _best_of(fn, repeats):
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t0)
  return out, float(np.median(times))


def run_cell(rng, n, d, b):
  e = synthetic_embeddings(rng, b, n, d)
  n_ref = 2 if d * n >= 512 * 2048 else b
  ref_scores, ref_t = [], []
  for i in range(n_ref):
    t0 = time.perf_counter()
    ref_scores.append(numpy_algorithm1(e[i]))
    ref_t.append(time.perf_counter() - t0)
  ref_per_image = float(np.median(ref_t))
  ours(e)  # compile
  got, t = _best_of(lambda: ours(e), 3)
  got = np.asarray(got)
  same = [np.array_equal(np.argsort(got[i], kind="stable"),
                         np.argsort(ref_scores[i], kind="stable"))
          for i in range(n_ref)]
  rho = [scipy.stats.spearmanr(got[i], ref_scores[i]).statistic
         for i in range(n_ref)]
  return {
      "n": n, "d": d, "h": H, "iterations": ITERS, "batch": b,
      "numpy_seconds_per_image": ref_per_image,
      "ours_seconds_per_image": t / b,
      "speedup": ref_per_image / (t / b),
      "identical_rankings": f"{sum(same)}/{n_ref}",
      "spearman_min": float(np.min(rho)),
  }


def cviq_job(rng):
  # Generated in groups, stored as float32: 2.2 GB of embeddings in all.
  e = np.concatenate([synthetic_embeddings(rng, 48, 512, 2048).astype(
      np.float32) for _ in range(11)])
  opts = dict(h=H, alpha=ALPHA, beta=BETA, max_iter=ITERS,
              fixed_iterations=True)
  selection.score_images(list(e[:8]), **opts)  # compile
  t0 = time.perf_counter()
  selection.score_images(list(e), chunk=64, **opts)
  seconds = time.perf_counter() - t0
  return {"images": 528, "n": 512, "d": 2048, "dtype": "float32",
          "embeddings_mib": e.nbytes / 2**20, "seconds": seconds,
          "images_per_second": 528 / seconds}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--quick", action="store_true")
  p.add_argument("--tiny", action="store_true",
                 help="n = 16, 48 at d = 64, 2 images (a check, not figures)")
  p.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                      "selection.json"))
  args = p.parse_args(argv)
  rng = np.random.default_rng(0)
  ns = (64, 180) if args.quick else (64, 180, 512)
  ds, b = (512, 2048), 8
  if args.tiny:
    ns, ds, b = (16, 48), (64,), 2
  cells = []
  for d in ds:
    for n in ns:
      cell = run_cell(rng, n, d, b=b)
      cells.append(cell)
      print(f"n={n:4d} d={d:5d}: numpy {cell['numpy_seconds_per_image']:.3f} "
            f"s/image, ours {cell['ours_seconds_per_image']:.4f} s/image, "
            f"speed-up {cell['speedup']:.1f}x, identical rankings "
            f"{cell['identical_rankings']}, Spearman >= "
            f"{cell['spearman_min']:.6f}", flush=True)
  jax.config.update("jax_enable_x64", False)
  job = None if args.quick or args.tiny else cviq_job(rng)
  if job:
    print(f"CVIQ-sized job (528 x 512 x 2048, float32): {job['seconds']:.1f} "
          f"s, {job['images_per_second']:.2f} images/s", flush=True)
  peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f"peak memory (max RSS): {peak_mib:.0f} MiB")
  target = next((c for c in cells if c["n"] == 180 and c["d"] == 2048),
                {"speedup": None})
  out = {
      "benchmark": "selection", "cells": cells, "cviq_job": job,
      "peak_rss_mib": peak_mib,
      "target_speedup_n180_d2048": target["speedup"],
      "target": ">= 30x at n=180, d=2048 with identical rankings",
      "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                  "jax": jax.__version__, "numpy": np.__version__,
                  "devices": [str(x) for x in jax.devices()]},
  }
  Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
