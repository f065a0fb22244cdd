"""Image scores from patch scores (source text 001 Eq. 21-22; text 000).

Every function takes patch scores q (..., N) and an optional boolean
`mask=` (..., N) of the patches that exist (images with fewer patches are
padded), and returns (...,) image scores; all are jittable. `pool_patches` pools a
flat, ragged list of patch scores (each with its image index) with any of
them.

  median_consensus   w_j = 1 / (|q_j - median(q)| + eps), Q = sum w q / sum w
                     (Eq. 21-22: patches that agree with the consensus count
                     more; eps = 1e-6 by default, our choice)
  mean               the plain average
  variance_weighted  weights proportional to each patch's grey-level variance
                     (source text 000's variance-weighted pooling; pass
                     `weights=` the variances)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import registry

__all__ = ["POOLINGS", "get", "median_consensus", "mean",
           "variance_weighted", "masked_median", "pool_patches"]


def _mask(q, mask):
  return jnp.ones(q.shape, bool) if mask is None else jnp.asarray(mask, bool)


def masked_median(q: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
  """(...,) median of q (..., N) over its masked-in entries (mean of the
  two middle values for an even count, as numpy)."""
  m = _mask(q, mask)
  n = m.sum(-1)
  s = jnp.sort(jnp.where(m, q, jnp.inf), axis=-1)
  lo = jnp.take_along_axis(s, ((n - 1) // 2)[..., None], -1)[..., 0]
  hi = jnp.take_along_axis(s, (n // 2)[..., None], -1)[..., 0]
  return (lo + hi) / 2


def median_consensus(q: jax.Array, *, mask: jax.Array | None = None,
                     eps: float = 1e-6, weights=None) -> jax.Array:
  """(...,) Eq. 21-22 of q (..., N): sum w q / sum w with
  w = 1 / (|q - median(q)| + eps)."""
  del weights
  m = _mask(q, mask)
  med = masked_median(q, mask=m)
  w = jnp.where(m, 1.0 / (jnp.abs(q - med[..., None]) + eps), 0.0)
  return jnp.sum(w * jnp.where(m, q, 0.0), -1) / jnp.sum(w, -1)


def mean(q: jax.Array, *, mask: jax.Array | None = None,
         weights=None) -> jax.Array:
  """(...,) plain mean of q (..., N) over the masked-in entries."""
  del weights
  m = _mask(q, mask)
  return jnp.sum(jnp.where(m, q, 0.0), -1) / jnp.sum(m, -1)


def variance_weighted(q: jax.Array, *, mask: jax.Array | None = None,
                      weights: jax.Array) -> jax.Array:
  """(...,) sum v q / sum v of q (..., N) with v (..., N) the patch
  variances (`weights`); the mean where every variance is zero."""
  m = _mask(q, mask)
  v = jnp.where(m, jnp.maximum(jnp.asarray(weights), 0.0), 0.0)
  total = jnp.sum(v, -1)
  pooled = jnp.sum(v * jnp.where(m, q, 0.0), -1) / jnp.where(total > 0,
                                                              total, 1.0)
  return jnp.where(total > 0, pooled, mean(q, mask=m))


POOLINGS = {"median_consensus": median_consensus, "mean": mean,
            "variance_weighted": variance_weighted}


def get(name: str):
  """The pooling function registered as `name`."""
  return registry.lookup(POOLINGS, name, family="pooling")


def _bucket(n: int, step: int) -> int:
  return max(step, -(-n // step) * step)


def pool_patches(q, image_index, n_images: int, *,
                 pooling: str = "median_consensus",
                 weights=None) -> np.ndarray:
  """(n_images,) image scores from patch scores q (N,) and each patch's
  image index (N,), padding the ragged groups into one masked array (its
  shape rounded up, so that similar calls reuse one compiled pooling)."""
  q = np.asarray(q, np.float32)
  idx = np.asarray(image_index)
  counts = np.bincount(idx, minlength=n_images)
  if np.any(counts == 0):
    raise ValueError(f"{int(np.sum(counts == 0))} image(s) have no patch to "
                     "pool.")
  order = np.argsort(idx, kind="stable")
  slot = np.arange(len(idx)) - np.repeat(np.cumsum(counts) - counts, counts)
  rows, width = _bucket(n_images, 64), _bucket(int(counts.max()), 8)
  grid = np.zeros((rows, width), np.float32)
  mask = np.zeros((rows, width), bool)
  mask[n_images:, 0] = True          # padding rows: one dummy patch each
  grid[idx[order], slot] = q[order]
  mask[idx[order], slot] = True
  w = None
  if weights is not None:
    w = np.zeros((rows, width), np.float32)
    w[idx[order], slot] = np.asarray(weights, np.float32)[order]
  fn = get(pooling)
  out = fn(jnp.asarray(grid), mask=jnp.asarray(mask),
           **({} if w is None else {"weights": jnp.asarray(w)}))
  return np.asarray(out)[:n_images]
