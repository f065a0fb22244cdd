"""The public code's version of the selection step (`variant="authors_code"`).

`sendjasni/patch-selection-360-image-quality/emb_selection.py` departs from
the paper (source text 001) in several places. This module reproduces what it
does, as recorded in the project's notes on the authors' code, so results can
be compared with numbers computed by that code. The differences:

1. "Mahalanobis" passes VI = cov(E) + 1e-10 I to `scipy.cdist`, i.e. the
   covariance itself where the inverse belongs (`distances.authors_mahalanobis`).
2. S = exp(-D^2 / (2 mean(D))), the mean over all n^2 entries.
3. Z = the eigenvectors of the h *smallest* eigenvalues of S (`eigh` is
   ascending), taken after flipping the *rows* (patch order) of V, without
   sqrt(lambda) scaling.
4. W and R start uniform on [0, 1) (unseeded in the original; seeded by `key`
   here), D_W = I_d and D_R = I_n.
5. Each iteration: W <- (E^T E + lam D_W + eps I)^-1 E^T (R^T + Z) and
   R^T <- (I + beta D_R + eps I)^-1 (E W - Z), then the *non-reciprocal*
   weights D_W <- diag(0.5 ||W_i,:||) + eps and D_R <- diag(0.5 ||R_:,j||) +
   eps, where + eps is added to every entry (dense matrices). Large rows get
   more shrinkage, the opposite of l2,1 reweighting.
6. The logged loss uses ||W||_{2,1} over the h *columns* of W.
7. Stop: from iteration 10 on, when loss_t - loss_{t-1} <= 1e-4 (a signed
   difference, so a decreasing loss stops at t = 10, after 11 iterations);
   at most 50 iterations.

The dense D_W + eps I system is solved through the Woodbury identity
(diagonal plus rank n + 1), O(n^2 d) per iteration instead of O(d^3).
Eigenvectors of (nearly) repeated eigenvalues are not unique, so when S has
them (the notes saw S ~ I for Manhattan distances) scores can differ from the
original's by the choice of basis.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from iqa_jax.selection import distances
from iqa_jax.selection.similarity import kernel_matrix

__all__ = ["AuthorsResult", "authors_factor", "authors_solve",
           "authors_scores"]

_HI = jax.lax.Precision.HIGHEST


class AuthorsResult(NamedTuple):
  scores: jax.Array      # (n,) ||R(:, j)||
  w: jax.Array           # (d, h)
  r: jax.Array           # (h, n)
  loss: jax.Array        # (max_iter,) the logged loss, NaN after the stop
  n_iter: jax.Array


def authors_factor(e: jax.Array, *, distance: str, h: int) -> jax.Array:
  """Z (n, h) of embeddings e (n, d) as the code computes it (differences
  1-3 above)."""
  key = {"euc": "euclidean", "man": "manhattan",
         "mah": "mahalanobis"}.get(distance.lower(), distance.lower())
  if key == "mahalanobis":
    d = distances.authors_mahalanobis(e)
  else:
    d = distances.pairwise(e, distance=key)
  s = kernel_matrix(d, kernel="authors_code")
  _, v = jnp.linalg.eigh(s)
  return v[::-1, :][:, :h]


def _solve_dense_diag(e, q, c, lam, eps, b):
  """(E^T E + lam (diag(q) + c 1 1^T) + eps I)^-1 b by Woodbury."""
  n, d = e.shape
  p_inv = 1.0 / (lam * q + eps)                           # (d,)
  u = jnp.concatenate([e, jnp.sqrt(lam * c) * jnp.ones((1, d), e.dtype)])
  pb = p_inv[:, None] * b
  small = jnp.eye(n + 1, dtype=e.dtype) + jnp.matmul(
      u * p_inv[None, :], u.T, precision=_HI)
  corr = jnp.linalg.solve(small, jnp.matmul(u, pb, precision=_HI))
  return pb - p_inv[:, None] * jnp.matmul(u.T, corr, precision=_HI)


def authors_solve(e: jax.Array, z: jax.Array, w0: jax.Array, r0: jax.Array,
                  *, lam: float = 0.1, beta: float = 0.1, eps: float = 1e-3,
                  max_iter: int = 50) -> AuthorsResult:
  """Differences 4-7 above, from given starting W0 (d, h) and R0 (h, n)."""
  n, d = e.shape
  dtype = e.dtype

  def step(c):
    t = c["rt"] + z
    w = _solve_dense_diag(e, c["q"], c["cw"], lam, eps,
                          jnp.matmul(e.T, t, precision=_HI))
    a = jnp.matmul(e, w, precision=_HI) - z
    dr = jnp.diag(c["p"]) + c["cr"] * jnp.ones((n, n), dtype)
    rt = jnp.linalg.solve((1.0 + eps) * jnp.eye(n, dtype=dtype) + beta * dr, a)
    loss = (jnp.sum((jnp.matmul(e, w, precision=_HI) - rt - z) ** 2)
            + lam * jnp.sum(jnp.sqrt(jnp.sum(w * w, axis=0)))
            + beta * jnp.sum(jnp.sqrt(jnp.sum(rt * rt, axis=1))))
    return w, rt, loss

  def cond(c):
    i = c["i"]
    prev = c["loss"][jnp.maximum(i - 2, 0)]
    last = c["loss"][jnp.maximum(i - 1, 0)]
    stopped = (i - 1 >= 10) & (last - prev <= 1e-4)
    return (i < max_iter) & ~stopped

  def body(c):
    w, rt, loss = step(c)
    return dict(
        w=w, rt=rt, i=c["i"] + 1, loss=c["loss"].at[c["i"]].set(loss),
        q=0.5 * jnp.sqrt(jnp.sum(w * w, axis=1)), cw=jnp.asarray(eps, dtype),
        p=0.5 * jnp.sqrt(jnp.sum(rt * rt, axis=1)),
        cr=jnp.asarray(eps, dtype))

  c = jax.lax.while_loop(cond, body, dict(
      w=w0, rt=r0.T, i=jnp.asarray(0, jnp.int32),
      loss=jnp.full((max_iter,), jnp.nan, dtype),
      q=jnp.ones((d,), dtype), cw=jnp.asarray(0.0, dtype),
      p=jnp.ones((n,), dtype), cr=jnp.asarray(0.0, dtype)))
  # The initial D_R = I has diagonal 1: p = 1 with c = 0 gives exactly that.
  scores = jnp.sqrt(jnp.sum(c["rt"] * c["rt"], axis=1))
  return AuthorsResult(scores=scores, w=c["w"], r=c["rt"].T, loss=c["loss"],
                       n_iter=c["i"])


def authors_scores(key: jax.Array, e: jax.Array, *, distance: str = "euclidean",
                   h: int = 10, lam: float = 0.1, beta: float = 0.1,
                   eps: float = 1e-3, max_iter: int = 50) -> AuthorsResult:
  """The whole public-code pipeline for one image's e (n, d), seeded by
  `key`."""
  n, d = e.shape
  z = authors_factor(e, distance=distance, h=h)
  kw, kr = jax.random.split(key)
  w0 = jax.random.uniform(kw, (d, h), e.dtype)
  r0 = jax.random.uniform(kr, (h, n), e.dtype)
  return authors_solve(e, z, w0, r0, lam=lam, beta=beta, eps=eps,
                       max_iter=max_iter)
