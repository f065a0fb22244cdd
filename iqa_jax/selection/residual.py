"""Residual-aware patch selection (source text 001, Sec. III-D/E, Alg. 1).

  res = residual_scores(E, distance="euclidean", h=10)   # SolverResult
  keep = rank(E).take(rate=0.5)   # the ceil(0.5 n) lowest scores

Pipeline per image: E (n, d) -> distances -> similarity S (n, n) ->
spectral factor Z (n, h) -> W/R solver -> irrelevance scores ||R(:, j)||.
Everything after the input checks is one jitted function per static
configuration and input shape.

Scale: alpha and beta act relative to the scale of E. The paper applies them
to raw global-average-pooled CNN features, which is the default here
(`normalise=None`); "rows" scales every embedding to unit norm and
"features" standardises every feature (z-score over the patches). With
n < d the W step nearly interpolates Z, so residuals are small and the
ranking rests on small differences between them; the solver keeps them
resolvable in float32 (see `solver.py`).

Defaults follow the paper and the public code: alpha = beta = 0.1, h = 10.
`variant="authors_code"` reproduces the public code instead (see
`authors_code.py`; it needs `key`).
"""

from __future__ import annotations

import functools
import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import parallel
from iqa_jax.selection import authors_code
from iqa_jax.selection import similarity as sim
from iqa_jax.selection.base import Ranking, check_embeddings
from iqa_jax.selection.solver import SolverResult, solve

__all__ = ["residual_scores", "rank", "normalise_embeddings"]


def normalise_embeddings(e: jax.Array, mode: str | None) -> jax.Array:
  """None (raw, the paper), "rows" (unit norm) or "features" (z-score)."""
  if mode is None:
    return e
  if mode == "rows":
    norm = jnp.linalg.norm(e, axis=1, keepdims=True)
    return e / jnp.where(norm > 0, norm, 1.0)
  if mode == "features":
    std = jnp.std(e, axis=0, keepdims=True)
    return (e - jnp.mean(e, axis=0, keepdims=True)) / jnp.where(std > 0, std,
                                                                  1.0)
  raise ValueError(f"normalise must be None, 'rows' or 'features', got "
                   f"{mode!r}.")


@functools.partial(jax.jit, static_argnames=(
    "distance", "kernel", "h", "max_iter", "fixed_iterations", "r_step",
    "normalise", "variant"))
def _scores(e, key, alpha, beta, tol, eps, *, distance, kernel, h, max_iter,
            fixed_iterations, r_step, normalise, variant) -> SolverResult:
  e = normalise_embeddings(e, normalise)
  if variant == "authors_code":
    res = authors_code.authors_scores(key, e, distance=distance, h=h,
                                      lam=alpha, beta=beta, max_iter=max_iter)
    trace = jnp.concatenate([jnp.full((1,), jnp.nan, e.dtype), res.loss])
    return SolverResult(res.scores, res.w, res.r, trace, trace, res.n_iter)
  z = sim.spectral_factor(sim.similarity(e, distance=distance, kernel=kernel),
                          h=h)
  return solve(e, z, alpha=alpha, beta=beta, max_iter=max_iter, tol=tol,
               fixed_iterations=fixed_iterations, r_step=r_step, eps=eps)


def residual_scores(embeddings, *, key: jax.Array | None = None,
                    distance: str = "euclidean", kernel: str | None = None,
                    h: int = 10, alpha: float = 0.1, beta: float = 0.1,
                    max_iter: int = 50, tol: float = 1e-6,
                    fixed_iterations: bool = False, r_step: str = "irls",
                    eps: float = 1e-8, normalise: str | None = None,
                    variant: str = "paper") -> SolverResult:
  """Irrelevance scores of the n patches of one image (lower = keep).

  Args:
    embeddings: E, (n, d) (raw GAP features, as the paper).
    key: only for `variant="authors_code"` (its random start).
    distance: "euclidean", "manhattan", "mahalanobis" (EUC, MAN, MAH).
    kernel: None (Gaussian; Laplacian for Manhattan), or "gaussian",
      "laplacian", "authors_code".
    h: the rank of the spectral factor Z.
    alpha, beta: the l2,1 weights on W and R (Eq. 7).
    max_iter, tol, fixed_iterations, r_step, eps: see `solver.solve`.
    normalise: None, "rows" or "features" (see the module docstring).
    variant: "paper" or "authors_code".

  Returns:
    A `SolverResult` (scores, W, R, objective traces, iterations).
  """
  check_embeddings(embeddings, h=h)
  if variant not in ("paper", "authors_code"):
    raise ValueError(f"variant must be 'paper' or 'authors_code', got "
                     f"{variant!r}.")
  if variant == "authors_code" and key is None:
    raise ValueError("variant='authors_code' starts from random W, R: pass "
                     "key=jax.random.key(seed).")
  for name, v in (("alpha", alpha), ("beta", beta)):
    if not v >= 0:
      raise ValueError(f"{name}={v} must be >= 0.")
  if max_iter < 1:
    raise ValueError(f"max_iter={max_iter} must be >= 1.")
  e = jnp.asarray(embeddings)
  if not jnp.issubdtype(e.dtype, jnp.floating):
    e = e.astype(jnp.float32)
  if key is None:
    key = jax.random.key(0)
  run = functools.partial(
      _scores, e, key, alpha, beta, tol, eps, distance=distance,
      kernel=kernel, h=h, max_iter=max_iter,
      fixed_iterations=fixed_iterations, r_step=r_step, normalise=normalise,
      variant=variant)
  if isinstance(e, jax.core.Tracer):  # called under a transformation: just trace
    return run()
  with parallel.lapack_single_thread():
    return jax.block_until_ready(run())


def rank(embeddings, *, key: jax.Array | None = None,
         **options) -> Ranking:
  """All patches in ascending order of irrelevance score (ties: lower index).

  Args:
    embeddings: E, (n, d).
    key: only for `variant="authors_code"`.
    **options: those of `residual_scores` (an unknown one raises).

  Returns:
    A `Ranking` whose criterion is the scores and whose extra is the
    `SolverResult`.
  """
  res = residual_scores(embeddings, key=key, **options)
  scores = np.asarray(res.scores)
  order = np.argsort(scores, kind="stable")
  return Ranking(order, scores, len(order), res)


rank.options_of = residual_scores
