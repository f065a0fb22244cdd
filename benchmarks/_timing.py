"""Shared timing and machine description for the benchmark scripts."""

import platform
import sys
import time

import jax
import numpy as np


def median_time(fn, repeats: int, *, slow: float | None = None) -> float:
  """Median wall time of `repeats` calls of fn() after one warm-up call
  (stopping early once a call takes more than `slow` seconds)."""
  fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
    if slow is not None and times[-1] > slow:
      break
  return float(np.median(times))


def interleaved_times(fns: dict, repeats: int) -> dict:
  """Median wall time of each fn() over `repeats` rounds (after one warm-up
  call each), the functions taking turns within every round."""
  for fn in fns.values():
    fn()
  times = {k: [] for k in fns}
  for _ in range(repeats):
    for k, fn in fns.items():
      t0 = time.perf_counter()
      fn()
      times[k].append(time.perf_counter() - t0)
  return {k: float(np.median(v)) for k, v in times.items()}


def machine() -> dict:
  return {"platform": platform.platform(), "python": sys.version.split()[0],
          "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
