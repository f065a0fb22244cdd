"""Pairwise distances between the n patch embeddings of one image.

All functions take E of shape (n, d) and return the (n, n) distance matrix D
with an exact zero diagonal; they are pure, jittable and vmappable over
images. Source text 001, Sec. III-D: Euclidean (EUC), Manhattan (MAN) and
Mahalanobis (MAH).

Mahalanobis needs an inverse covariance, but with n < d (the paper has about
180 patches of 2048-d) the sample covariance is singular. We use the
Ledoit-Wolf shrinkage estimate Sigma = (1 - delta) C + delta mu I (C the
sample covariance, mu = tr(C) / d; Ledoit & Wolf, J. Multivariate Anal. 2004,
with the shrinkage formula of scikit-learn's `ledoit_wolf_shrinkage`) and
apply its inverse through the Woodbury identity, so the cost is O(n^2 d) and
no d x d matrix is ever formed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["euclidean", "manhattan", "mahalanobis", "ledoit_wolf_shrinkage",
           "authors_mahalanobis", "pairwise", "DISTANCES"]

_HI = jax.lax.Precision.HIGHEST


def _safe_sqrt(sq: jax.Array) -> jax.Array:
  """sqrt with a zero (not NaN) gradient at 0 and an exact zero diagonal."""
  n = sq.shape[-1]
  sq = jnp.where(jnp.eye(n, dtype=bool), 0.0, jnp.maximum(sq, 0.0))
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _sq_from_gram(g: jax.Array) -> jax.Array:
  diag = jnp.diagonal(g)
  return diag[:, None] + diag[None, :] - 2.0 * g


def euclidean(e: jax.Array) -> jax.Array:
  """(n, n) ||e_i - e_j||_2 of e (n, d), via the Gram matrix of the
  centred embeddings."""
  x = e - jnp.mean(e, axis=0)  # centring keeps the Gram trick accurate
  return _safe_sqrt(_sq_from_gram(jnp.matmul(x, x.T, precision=_HI)))


def manhattan(e: jax.Array) -> jax.Array:
  """(n, n) ||e_i - e_j||_1 of e (n, d) (O(n^2 d); XLA fuses the
  difference into the sum)."""
  d = jax.vmap(lambda row: jnp.sum(jnp.abs(e - row), axis=-1))(e)
  return jnp.where(jnp.eye(e.shape[0], dtype=bool), 0.0, d)


def ledoit_wolf_shrinkage(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(delta, mu) of the Ledoit-Wolf estimate for centred samples x (n, d).

  Every d x d quantity of the published formula is rewritten without a
  d x d matrix: sum((X^T X)^2) = sum((X X^T)^2) and, with X2 = X^2,
  sum(X2^T X2) = sum_k ||x_k||^4.
  """
  n, d = x.shape
  x2 = x * x
  trace = jnp.sum(x2) / n                     # tr(C), C = X^T X / n
  mu = trace / d
  gram = jnp.matmul(x, x.T, precision=_HI)
  delta_ = jnp.sum(gram * gram) / n**2         # ||C||_F^2
  beta_ = jnp.sum(jnp.sum(x2, axis=1) ** 2)    # sum_k ||x_k||^4
  beta = (beta_ / n - delta_) / (d * n)
  delta = (delta_ - 2.0 * mu * trace + d * mu**2) / d
  beta = jnp.minimum(beta, delta)
  shrink = jnp.where(delta > 0, beta / jnp.where(delta > 0, delta, 1.0), 0.0)
  return shrink, mu


def mahalanobis(e: jax.Array) -> jax.Array:
  """(n, n) sqrt((e_i - e_j)^T Sigma^-1 (e_i - e_j)) of e (n, d), Sigma the
  Ledoit-Wolf estimate.

  With Sigma = a I + b X^T X (a = delta mu, b = (1 - delta) / n, X centred),
  Woodbury gives X Sigma^-1 X^T = (K - K (a/b I + K)^-1 K) / a, K = X X^T,
  which holds all pairwise distances (they are invariant to centring). When
  delta = 1 or b = 0 this is K / a; when the data are constant, D = 0.
  """
  n = e.shape[0]
  x = e - jnp.mean(e, axis=0)
  delta, mu = ledoit_wolf_shrinkage(x)
  a = delta * mu
  b = (1.0 - delta) / n
  k = jnp.matmul(x, x.T, precision=_HI)
  tiny = jnp.finfo(e.dtype).tiny
  safe_a = jnp.maximum(a, tiny)
  # a/b large (heavy shrinkage) or b = 0: the correction term vanishes.
  ratio = safe_a / jnp.maximum(b, tiny)
  m = k + ratio * jnp.eye(n, dtype=e.dtype)
  corr = jnp.matmul(k, jnp.linalg.solve(m, k), precision=_HI)
  g = jnp.where(mu > 0, (k - corr) / safe_a, 0.0)
  return _safe_sqrt(_sq_from_gram(g))


def authors_mahalanobis(e: jax.Array) -> jax.Array:
  """The public code's "Mahalanobis": cdist(..., VI=cov(E) + 1e-10 I).

  It passes the covariance itself where SciPy expects the inverse, so this is
  sqrt(d^T (C + 1e-10 I) d) with C the unbiased sample covariance of the
  features (as `np.cov(E.T)`), computed as ||X d||^2 / (n - 1) + 1e-10 ||d||^2.
  """
  n = e.shape[0]
  x = e - jnp.mean(e, axis=0)
  c = jnp.matmul(x, e.T, precision=_HI)  # column j = X e_j
  sq_cov = _sq_from_gram(jnp.matmul(c.T, c, precision=_HI)) / (n - 1)
  sq_eye = _sq_from_gram(jnp.matmul(x, x.T, precision=_HI))
  return _safe_sqrt(sq_cov + 1e-10 * sq_eye)


DISTANCES = {"euclidean": euclidean, "manhattan": manhattan,
             "mahalanobis": mahalanobis}


def pairwise(e: jax.Array, *, distance: str = "euclidean") -> jax.Array:
  """D (n, n) of e (n, d) for `distance` in "euclidean", "manhattan",
  "mahalanobis" (or the paper's short names "EUC", "MAN", "MAH")."""
  key = {"euc": "euclidean", "man": "manhattan",
         "mah": "mahalanobis"}.get(distance.lower(), distance.lower())
  if key not in DISTANCES:
    raise ValueError(f"distance must be one of {sorted(DISTANCES)} (or EUC, "
                     f"MAN, MAH), got {distance!r}.")
  return DISTANCES[key](e)
