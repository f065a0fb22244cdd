"""What every selector returns, and the checks they share.

  r = selection.rank("residual", embeddings=E)        # a Ranking
  keep = r.take(rate=0.5)                             # first ceil(0.5 n)

A selector orders all n patches of an image, best first (`Ranking.order`),
with the criterion it ranked by (`Ranking.criterion`). Selecting at a rate
or a count is slicing that order. Selectors with a test of their own (a
variance threshold, the greedy redundancy filter) also say how many patches
pass it (`Ranking.accepted`): `take()` without rate/k returns those, and a
rate or k never returns more than pass.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = ["Ranking", "resolve_k", "check_embeddings", "check_patches"]


class Ranking(NamedTuple):
  """All patches of one image, best first.

  order: (n,) patch indices, best first.
  criterion: (n,) the per-patch value the selector ranked by (NaN where it
    has none: random order, farthest-point order).
  accepted: how many of the first patches pass the selector's own test
    (n when it has none).
  extra: selector-specific results (the residual selector's
    `SolverResult`), or None.
  """

  order: np.ndarray
  criterion: np.ndarray
  accepted: int
  extra: Any = None

  def take(self, *, rate: float | None = None,
           k: int | None = None) -> np.ndarray:
    """The first k, or ceil(rate n), indices of `order`, at most `accepted`;
    without rate and k, the `accepted` ones."""
    if rate is None and k is None:
      return self.order[:self.accepted]
    return self.order[:min(self.accepted,
                           resolve_k(len(self.order), rate=rate, k=k))]


def resolve_k(n: int, *, rate: float | None = None,
              k: int | None = None) -> int:
  """The number of patches to keep: k, or ceil(rate n)."""
  if (rate is None) == (k is None):
    raise ValueError(f"give exactly one of rate= and k= (got rate={rate}, "
                     f"k={k}).")
  if k is not None:
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
      raise ValueError(f"k={k!r} must be an integer in [1, {n}].")
    return int(k)
  if not 0.0 < rate <= 1.0:
    raise ValueError(f"rate={rate} must be in (0, 1].")
  return max(1, min(n, math.ceil(rate * n - 1e-9)))


def check_embeddings(e, *, name: str = "embeddings", h: int | None = None):
  """(n, d) of `e`, with shape and value checks that name the problem
  (values are not checked when traced)."""
  if e is None:
    raise ValueError(f"{name} is required by this selector.")
  shape = np.shape(e)
  if len(shape) != 2:
    raise ValueError(f"{name} must be (n, d), got shape {shape}.")
  n, d = shape
  if n < 2:
    raise ValueError(f"{name} has n={n} patch(es); selection needs n >= 2.")
  if d == 0:
    raise ValueError(f"{name} has d=0 features.")
  if h is not None and not 1 <= h <= n:
    raise ValueError(f"h={h} must be in [1, n] (n={n} patches).")
  if not isinstance(e, jax.core.Tracer):
    bad = ~np.isfinite(np.asarray(e))
    if bad.any():
      i, j = np.argwhere(bad)[0]
      raise ValueError(f"{name} has {int(bad.sum())} NaN/inf value(s), first "
                       f"at [{i}, {j}]; fix the embeddings first.")
  return n, d


def check_patches(patches) -> int:
  """n of `patches` (n, H, W, 3)."""
  shape = np.shape(patches)
  if len(shape) != 4 or shape[-1] != 3:
    raise ValueError(f"patches must be (n, H, W, 3), got {shape}.")
  return shape[0]
