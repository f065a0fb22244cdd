"""Benchmark: MIC pairs per second, iqa_jax against libmine 1.2.6.

  # The peer, compiled once from minepy's sdist (the Python package no longer
  # builds against numpy 2, its C core does):
  pip install 'setuptools<70' wheel cython
  pip download --no-deps --no-build-isolation minepy==1.2.6 -d /tmp/minepy
  # (or fetch minepy-1.2.6.tar.gz from PyPI's simple index) and
  tar xzf /tmp/minepy/minepy-1.2.6.tar.gz -C /tmp/minepy
  gcc -O2 -shared -fPIC /tmp/minepy/minepy-1.2.6/libmine/mine.c \
      -o /tmp/minepy/libmine.so -lm
  python benchmarks/mic.py --libmine /tmp/minepy/libmine.so

SMIC's setting (alpha 0.5, c 10, MIC_approx) at n = 49 (7 x 7 patches) and
n = 16 (4 x 4 patches): libmine called once per pair through ctypes (what
minepy does for every patch and projection in the official code) against one
jitted `iqa_jax.mic.mic` call over the whole batch, float64 and float32, on
noisy nonlinear pairs. Both score the same pairs and the largest difference
is reported. Median of `repeats` timed passes after a warm-up, the sides
taking turns; float32 runs with x64 off, as users run it. Figures go to
benchmarks/results/mic.json (keys containing "speedup": ours / libmine).

At n = 49 one more float32 entry takes its turn in the same rounds: the
dynamic programme's R_2 table alone (`mic_dp._level2_rowwise`: 30 clumps, two
rows, both orientations of one block), the part of the work whose
logarithms no change to the other steps removes. Its rate bounds what this
formulation can reach ("dp_table_alone" in the results: its pairs/s, that
rate over libmine's, and its share of the time a 30x speed-up allows).
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import jax
import numpy as np
from _libmine import libmine_mic, load_libmine
from _timing import interleaved_times, machine

from iqa_jax import mic, mic_dp


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--libmine", required=True, help="the compiled libmine .so")
  p.add_argument("--pairs", type=int, default=8192)
  p.add_argument("--peer-pairs", type=int, default=2048,
                 help="pairs timed for libmine (its rate is per pair)")
  p.add_argument("--repeats", type=int, default=20)
  p.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                      "mic.json"))
  args = p.parse_args(argv)
  lib = load_libmine(args.libmine)
  rng = np.random.default_rng(0)
  rows = []
  for n in (49, 16):
    x = rng.normal(size=(args.pairs, n))
    y = np.sin(2 * x) + 0.5 * rng.normal(size=x.shape)
    xp, yp = x[:args.peer_pairs], y[:args.peer_pairs]
    ref = libmine_mic(lib, xp, yp, 0.5, 10.0)
    peer = lambda: libmine_mic(lib, xp, yp, 0.5, 10.0)
    runs, got = {}, {}
    for dtype in (np.float64, np.float32):
      with jax.enable_x64(dtype == np.float64):
        xy = jax.device_put((x.astype(dtype), y.astype(dtype)))
      runs[dtype] = functools.partial(_ours, dtype, *xy)
      got[dtype] = np.asarray(runs[dtype]())
    if n == 49:
      dp_pairs, runs["dp_table"] = _dp_table(n, args.pairs)
    # The sides take turns, so a drift in the machine's speed (a shared
    # VM's neighbours) reaches both medians alike.
    times = interleaved_times({"peer": peer, **runs}, args.repeats)
    t_peer = times["peer"] / args.peer_pairs
    for dtype in (np.float64, np.float32):
      t_ours = times[dtype] / args.pairs
      row = {"n": n, "dtype": np.dtype(dtype).name, "pairs": args.pairs,
             "ours_pairs_per_second": 1.0 / t_ours,
             "libmine_pairs_per_second": 1.0 / t_peer,
             "speedup_vs_libmine": t_peer / t_ours,
             "max_abs_difference": float(
                 np.abs(got[dtype][:args.peer_pairs] - ref).max())}
      rows.append(row)
      print(f"n={n:3d} {row['dtype']}: ours {row['ours_pairs_per_second']:9.0f}"
            f" pairs/s, libmine {row['libmine_pairs_per_second']:8.0f}, "
            f"speed-up {row['speedup_vs_libmine']:.1f}x, max |diff| "
            f"{row['max_abs_difference']:.1e}", flush=True)
    if n == 49:
      t_dp = times["dp_table"]
      dp = {"n": n, "dtype": "float32", "pairs": dp_pairs,
            "seconds": t_dp, "pairs_per_second": dp_pairs / t_dp,
            "rate_over_libmine": t_peer * dp_pairs / t_dp,
            "share_of_30x_budget": t_dp / (dp_pairs * t_peer / 30.0)}
      print(f"n= 49 float32, R_2 table alone: {dp['pairs_per_second']:9.0f} "
            f"pairs/s = {dp['rate_over_libmine']:.1f}x libmine; "
            f"{100 * dp['share_of_30x_budget']:.0f}% of the time a 30x "
            "speed-up allows", flush=True)
  out = {"benchmark": "mic", "alpha": 0.5, "c": 10, "est": "mic_approx",
         "rows": rows, "dp_table_alone": dp,
         "machine": machine()}
  Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
  print(f"wrote {args.out}")


def _ours(dtype, x, y):
  """Our MIC of the rows of x, y; float32 with x64 off, as users run it."""
  with jax.enable_x64(dtype == np.float64):
    return mic.mic(x, y, alpha=0.5, c=10).block_until_ready()


def _dp_table(n, count):
  """(pairs, fn): fn() fills the R_2 table of one float32 block, as `mic`
  cuts `count` pairs of n points, both orientations side by side, from
  random clump counts (its cost does not depend on their values)."""
  plan = tuple(mic.grid_plan(n, 0.5, 10))
  rows, _, k_hat = plan[0]                                # 2 rows, 30 clumps
  pm = min(n, k_hat)
  pairs = mic._block_size(count, n, plan)  # pylint: disable=protected-access
  lanes = 2 * pairs
  rng = np.random.default_rng(1)
  p_map = np.sort(rng.integers(0, pm, (n, lanes)), axis=0).astype(np.int32)
  q_a = rng.integers(0, rows, (n, lanes)).astype(np.int32)
  c, cum = jax.jit(mic_dp._counts, static_argnums=(2, 3, 4))(  # pylint: disable=protected-access
      p_map, q_a, rows, pm, np.float32)
  r_1 = jax.jit(mic_dp._neg_cond_entropy)(cum, c)  # pylint: disable=protected-access
  table = jax.jit(mic_dp._level2_rowwise)  # pylint: disable=protected-access
  return pairs, lambda: table(r_1, c, cum).block_until_ready()


if __name__ == "__main__":
  main()
