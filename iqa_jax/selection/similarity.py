"""Similarity matrices from distances, and the spectral factor Z (Eq. 4).

Kernels (positive semi-definite for their distance):
  gaussian    S = exp(-D^2 / (2 sigma^2))   for Euclidean and Mahalanobis
  laplacian   S = exp(-D / sigma)           for Manhattan
with the bandwidth sigma = median of the off-diagonal distances (the median
heuristic), and
  authors_code  S = exp(-D^2 / (2 mean(D)))  the public code's choice, the
                mean over all n^2 entries including the zero diagonal (scale
                dependent: D^2 is divided by a distance).

`spectral_factor` returns Z = V_h sqrt(Lambda_h) from the h largest
eigenpairs of S (source text 001, Eq. 4: S ~ Z Z^T), negative eigenvalues
clipped to zero, each eigenvector's sign fixed so its entry of largest
magnitude is positive (ties: the first such entry).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from iqa_jax.selection import distances

__all__ = ["median_bandwidth", "kernel_matrix", "similarity",
           "spectral_factor", "default_kernel"]


def _kth_smallest(x: jax.Array, k: int) -> jax.Array:
  """The k-th smallest (0-based) of non-negative floats x, exactly.

  Bisection on the float bit patterns (monotone for x >= 0): one compare-and-
  count pass per bit, much cheaper on accelerators and XLA:CPU than a sort.
  The result is gathered from x, so gradients flow to the selected entry.
  """
  ibits = jnp.int64 if x.dtype == jnp.float64 else jnp.int32
  bits = jax.lax.bitcast_convert_type(x, ibits)

  def body(_, lo_hi):
    lo, hi = lo_hi
    mid = lo + (hi - lo) // 2
    enough = jnp.sum(bits <= mid) >= k + 1
    return jnp.where(enough, lo, mid + 1), jnp.where(enough, mid, hi)
  n_bits = 64 if ibits == jnp.int64 else 32
  lo, _ = jax.lax.fori_loop(0, n_bits, body, (jnp.zeros((), ibits),
                                              jnp.max(bits)))
  return x[jnp.argmax(bits == lo)]


def median_bandwidth(d: jax.Array) -> jax.Array:
  """Median of the n (n - 1) / 2 off-diagonal distances (1 if it is 0)."""
  n = d.shape[0]
  iu = jnp.triu_indices(n, k=1)
  x = d[iu]
  m = x.shape[0]
  if m % 2:
    sigma = _kth_smallest(x, m // 2)
  else:
    sigma = 0.5 * (_kth_smallest(x, m // 2 - 1) + _kth_smallest(x, m // 2))
  return jnp.where(sigma > 0, sigma, 1.0)


def kernel_matrix(d: jax.Array, *, kernel: str) -> jax.Array:
  """S from distances D (n, n) with kernel "gaussian", "laplacian" or
  "authors_code"."""
  if kernel == "gaussian":
    sigma = median_bandwidth(d)
    return jnp.exp(-(d * d) / (2.0 * sigma * sigma))
  if kernel == "laplacian":
    return jnp.exp(-d / median_bandwidth(d))
  if kernel == "authors_code":
    mean = jnp.mean(d)
    gamma = jnp.where(mean > 0, 1.0 / (2.0 * jnp.where(mean > 0, mean, 1.0)),
                      0.0)
    return jnp.exp(-gamma * d * d)
  raise ValueError(f"kernel must be 'gaussian', 'laplacian' or "
                   f"'authors_code', got {kernel!r}.")


def default_kernel(distance: str) -> str:
  """Laplacian for Manhattan distances, Gaussian otherwise (both PSD)."""
  return "laplacian" if distance.lower() in ("manhattan", "man") else "gaussian"


def similarity(e: jax.Array, *, distance: str = "euclidean",
               kernel: str | None = None) -> jax.Array:
  """S (n, n) of embeddings E (n, d): `distances.pairwise` then the kernel."""
  d = distances.pairwise(e, distance=distance)
  return kernel_matrix(d, kernel=kernel or default_kernel(distance))


def spectral_factor(s: jax.Array, *, h: int) -> jax.Array:
  """Z (n, h) with Z Z^T the best rank-h PSD approximation of S (Eq. 4)."""
  lam, v = jnp.linalg.eigh(s)                 # ascending
  lam, v = lam[::-1][:h], v[:, ::-1][:, :h]   # h largest
  idx = jnp.argmax(jnp.abs(v), axis=0)
  sign = jnp.sign(v[idx, jnp.arange(v.shape[1])])
  v = v * jnp.where(sign == 0, 1.0, sign)
  return v * jnp.sqrt(jnp.maximum(lam, 0.0))
