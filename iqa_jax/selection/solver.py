"""The residual-aware W/R solver of source text 001 (Eq. 7, 9, 11; Alg. 1).

Solves, for one image's embeddings E (n, d) and spectral factor Z (n, h),

  min_{W, R} ||E W - Z - R^T||_F^2 + alpha ||W||_{2,1} + beta ||R||_{2,1}  (7)

with W (d, h) (the l2,1 norm over its d rows) and R (h, n) (over its n
columns, one per patch), by alternating reweighted least squares:

  W <- (E^T E + alpha D_W)^-1 E^T (Z + R^T)                               (9)
  R^T <- (I + beta D_R)^-1 (E W - Z)                                      (11)

with the smoothed weights D_W = diag(1 / (2 sqrt(||w_i||^2 + eps_W^2))) and
D_R = diag(1 / (2 sqrt(||r_j||^2 + eps_R^2))) taken from the previous
iterate, so rows and columns that reach zero stay finite. This is
majorise-minimise on the smoothed objective (Eq. 7 with sqrt(||.||^2 +
eps^2) norms), which therefore never increases (Theorem 1); that objective
is recorded at every iteration, and so is the unsmoothed Eq. 7.

Departures from Algorithm 1 as printed, and why:
* Algorithm 1 starts from R = 0, where D_R is infinite and Eq. 11 keeps R at
  zero for ever. We start from the ridge solution W0 = (E^T E + alpha I)^-1
  E^T Z (D_W = I) and its residual R0^T = E W0 - Z.
* eps_W and eps_R are `eps` times the root-mean-square row norm of W0 and of
  R0^T, so the smoothing is relative to the data's scale (a zero scale falls
  back to 1).
* `r_step="prox"` replaces Eq. 11 by the exact minimiser of the R
  subproblem, group soft-thresholding of the rows of E W - Z at beta / 2,
  which needs no reweighting (the recorded objective then uses the exact
  l2,1 norm of R).

Cost per iteration through the push-through identity
(E^T E + alpha D)^-1 E^T = D^-1 E^T (E D^-1 E^T + alpha I_n)^-1 and a Cholesky
solve of an n x n system: O(n^2 d + n^3 + n d h). When n is close to or above
d the d x d system (E^T E formed once) is cheaper: O(d^3 + n d h) per
iteration; the cheaper of the two is chosen from the shapes. With n << d,
never a d x d system.

The irrelevance score of patch j is ||R(:, j)||_2 (Sec. III-E).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve

__all__ = ["SolverResult", "solve"]

_HI = jax.lax.Precision.HIGHEST


class SolverResult(NamedTuple):
  """The solver's output for one image.

  scores: (n,) irrelevance score ||R(:, j)||_2 of each patch.
  w: (d, h); r: (h, n).
  objective: (max_iter + 1,) the objective each iteration minimises
    (index 0: the starting point); NaN after the last iteration.
  objective_exact: (max_iter + 1,) the unsmoothed Eq. 7, likewise.
  n_iter: the number of iterations run.
  """

  scores: jax.Array
  w: jax.Array
  r: jax.Array
  objective: jax.Array
  objective_exact: jax.Array
  n_iter: jax.Array


def _push_through(n: int, d: int) -> bool:
  """Whether the n x n push-through system is cheaper than the d x d one."""
  return n * n * d + n**3 / 3 < d**3 / 3


def _w_step(e, et, gram, t, dinv, alpha):
  """argmin_W ||E W - T||^2 + alpha tr(W^T D W), D = diag(1 / dinv).

  Returns (W, E W - T). Through the n x n push-through system when that is
  cheaper (`gram` is None): the misfit then comes out without cancellation,
  E W = (K - alpha I) c with K c = T, so E W - T = -alpha c, accurate even
  when E W and T agree to many digits. Otherwise through the d x d system
  with the precomputed `gram` = E^T E.
  """
  n = e.shape[0]
  if gram is None:
    k = jnp.einsum("nd,d,md->nm", e, dinv, e, precision=_HI)
    k = k + alpha * jnp.eye(n, dtype=e.dtype)
    c = cho_solve(cho_factor(k), t)
    return dinv[:, None] * jnp.matmul(et, c, precision=_HI), -alpha * c
  m = gram + jnp.diag(alpha / dinv)
  w = cho_solve(cho_factor(m), jnp.matmul(et, t, precision=_HI))
  return w, jnp.matmul(e, w, precision=_HI) - t


def _row_norms(x):
  return jnp.sqrt(jnp.sum(x * x, axis=-1))


def _smooth(norm_sq, eps):
  return jnp.sqrt(norm_sq + eps * eps)


def _rms_scale(x):
  rms = jnp.sqrt(jnp.mean(jnp.sum(x * x, axis=-1)))
  return jnp.where(rms > 0, rms, 1.0)


def solve(e: jax.Array, z: jax.Array, *, alpha: float = 0.1,
          beta: float = 0.1, max_iter: int = 50, tol: float = 1e-6,
          fixed_iterations: bool = False, r_step: str = "irls",
          eps: float = 1e-8) -> SolverResult:
  """Runs the alternating W/R solver on E (n, d) and Z (n, h).

  Args:
    e: patch embeddings, (n, d).
    z: spectral factor of their similarity matrix, (n, h).
    alpha, beta: the weights of ||W||_{2,1} and ||R||_{2,1} in Eq. 7.
    max_iter: the most iterations (static).
    tol: stop when the recorded objective changes by less than `tol` times
      its previous value (ignored with `fixed_iterations`).
    fixed_iterations: run exactly `max_iter` iterations with `lax.scan`
      (reverse-differentiable) instead of `lax.while_loop`.
    r_step: "irls" (Eq. 11, reweighted) or "prox" (exact group shrinkage).
    eps: the smoothing of the l2,1 norms, relative to the data's scale.

  Returns:
    A `SolverResult`.
  """
  if r_step not in ("irls", "prox"):
    raise ValueError(f"r_step must be 'irls' or 'prox', got {r_step!r}.")
  dtype = e.dtype
  d = e.shape[1]
  # E^T laid out once: XLA's CPU dot is several times faster on a (d, n)
  # operand than on a transposed view of E.
  # (The barrier keeps XLA from folding the transpose back into the dot.)
  et = jax.lax.optimization_barrier(jnp.transpose(e))
  n = e.shape[0]
  gram = (None if _push_through(n, d) else
          jnp.matmul(et, e, precision=_HI))                    # once
  w0, rt0 = _w_step(e, et, gram, z, jnp.ones((d,), dtype), alpha)  # ridge
  # rt0 = E W0 - Z is R0^T (n, h); the misfit of Eq. 7 at the start is 0.
  eps_w = eps * _rms_scale(w0)
  eps_r = eps * _rms_scale(rt0)

  def objectives(w, rt, misfit):
    """(smoothed, exact) Eq. 7; misfit = E W - Z - R^T."""
    fit = jnp.sum(misfit * misfit)
    w_sq = jnp.sum(w * w, axis=1)
    r_sq = jnp.sum(rt * rt, axis=1)
    exact = fit + alpha * jnp.sum(jnp.sqrt(w_sq)) + beta * jnp.sum(
        jnp.sqrt(r_sq))
    r_term = (jnp.sum(_smooth(r_sq, eps_r)) if r_step == "irls" else
              jnp.sum(jnp.sqrt(r_sq)))
    smooth = fit + alpha * jnp.sum(_smooth(w_sq, eps_w)) + beta * r_term
    return smooth, exact

  def step(w, rt):
    dinv = 2.0 * _smooth(jnp.sum(w * w, axis=1), eps_w)   # 1 / D_W
    w, resid = _w_step(e, et, gram, z + rt, dinv, alpha)    # Eq. 9
    a = resid + rt                                          # E W - Z
    if r_step == "irls":
      d_r = 1.0 / (2.0 * _smooth(jnp.sum(rt * rt, axis=1), eps_r))
      rt = a / (1.0 + beta * d_r)[:, None]                  # Eq. 11
    else:
      norm = _row_norms(a)
      shrink = jnp.maximum(0.0, 1.0 - beta / (2.0 * jnp.where(
          norm > 0, norm, 1.0)))
      rt = a * jnp.where(norm > 0, shrink, 0.0)[:, None]
    return w, rt, a - rt

  obj0, exact0 = objectives(w0, rt0, jnp.zeros_like(rt0))
  nan_trace = jnp.full((max_iter + 1,), jnp.nan, dtype)
  if fixed_iterations:
    def body(carry, _):
      w, rt, misfit = step(*carry)
      return (w, rt), objectives(w, rt, misfit)
    (w, rt), (objs, exacts) = jax.lax.scan(body, (w0, rt0), None,
                                           length=max_iter)
    trace = jnp.concatenate([obj0[None], objs])
    trace_exact = jnp.concatenate([exact0[None], exacts])
    n_iter = jnp.asarray(max_iter, jnp.int32)
  else:
    def cond(c):
      return (c["i"] < max_iter) & ~c["done"]

    def body(c):
      w, rt, misfit = step(c["w"], c["rt"])
      obj, exact = objectives(w, rt, misfit)
      i = c["i"] + 1
      prev = c["trace"][c["i"]]
      done = jnp.abs(prev - obj) <= tol * jnp.maximum(jnp.abs(prev),
                                                      jnp.finfo(dtype).tiny)
      return dict(w=w, rt=rt, i=i, done=done,
                  trace=c["trace"].at[i].set(obj),
                  trace_exact=c["trace_exact"].at[i].set(exact))

    c = jax.lax.while_loop(cond, body, dict(
        w=w0, rt=rt0, i=jnp.asarray(0, jnp.int32), done=jnp.asarray(False),
        trace=nan_trace.at[0].set(obj0),
        trace_exact=nan_trace.at[0].set(exact0)))
    w, rt, n_iter = c["w"], c["rt"], c["i"]
    trace, trace_exact = c["trace"], c["trace_exact"]
  return SolverResult(scores=_row_norms(rt), w=w, r=rt.T, objective=trace,
                      objective_exact=trace_exact, n_iter=n_iter)
