"""Residual-aware patch selection (source text 001, Sec. III-D/E, Alg. 1).

  scores = residual_scores(E, distance="euclidean", h=10)   # SolverResult
  sel = select(E, rate=0.5)   # the ceil(0.5 n) lowest irrelevance scores

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
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import _threads
from iqa_jax.selection import authors_code
from iqa_jax.selection import similarity as sim
from iqa_jax.selection.solver import SolverResult, solve

__all__ = ["Selection", "residual_scores", "select", "check_embeddings",
           "resolve_k", "normalise_embeddings"]


class Selection(NamedTuple):
  """The result of any selector.

  indices: (k,) the kept patches, best first (for the residual selector: in
    ascending order of irrelevance score).
  scores: (n,) the per-patch criterion the selector ranked by (NaN where a
    selector has none).
  extra: selector-specific results (for the residual selector, its
    `SolverResult`), or None.
  """

  indices: np.ndarray
  scores: jax.Array
  extra: object = None


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_embeddings(e, *, name: str = "embeddings", h: int | None = None):
  """Shape and value checks with clear errors (skipped for traced values)."""
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
  if _is_concrete(e):
    bad = ~np.isfinite(np.asarray(e))
    if bad.any():
      i, j = np.argwhere(bad)[0]
      raise ValueError(f"{name} has {int(bad.sum())} NaN/inf value(s), first "
                       f"at [{i}, {j}]; fix the embeddings first.")
  return n, d


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
  if not _is_concrete(e):  # called under a transformation: just trace
    return run()
  with _threads.lapack_single_thread():
    return jax.block_until_ready(run())


def select(key: jax.Array | None = None, *, embeddings=None, patches=None,
           rate: float | None = None, k: int | None = None,
           **options) -> Selection:
  """Keeps the k (or ceil(rate n)) patches with the lowest irrelevance score.

  The shared selector convention (see `selectors.py`): `patches` is accepted
  and unused. `options` go to `residual_scores`.

  Returns:
    A `Selection`: indices in ascending order of score (ties broken by
    index), the scores, and the `SolverResult` as `extra`.
  """
  del patches
  n, _ = check_embeddings(embeddings, h=options.get("h", 10))
  kk = resolve_k(n, rate=rate, k=k)
  res = residual_scores(embeddings, key=key, **options)
  order = np.argsort(np.asarray(res.scores), kind="stable")
  return Selection(indices=order[:kk], scores=res.scores, extra=res)
