"""Patch selectors with one calling convention, looked up by name.

Every selector is called as

  fn(key=None, *, embeddings=None, patches=None, rate=None, k=None, **opts)

with `embeddings` (n, d), `patches` (n, H, W, 3) in [0, 1], one of `rate` /
`k`, and `key` (first, a `jax.random.key`) for the random ones; each uses what
it needs and says which argument is missing. It returns a
`residual.Selection` (indices best first, the per-patch criterion).

  residual            the W/R solver of source text 001 (`residual.select`)
  random              uniform without replacement (source text 000)
  variance            the k patches of highest grey-level variance (000)
  variance_threshold  every patch whose grey-level variance is >= threshold,
                      highest first (000); k/rate, if given, cap the count
  greedy              the redundancy filter of 000's two-fold protocol: in
                      priority order, keep a patch and drop every remaining
                      patch within `threshold` of it (Euclidean distance, or
                      cosine similarity >= threshold with metric="cosine");
                      k/rate, if given, cap the count
  farthest            farthest-point sampling in embedding space: exactly k

Priority for greedy/farthest: decreasing grey-level variance when `patches`
are given, else the input order.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax.selection import distances, residual
from iqa_jax.selection.residual import Selection, check_embeddings, resolve_k

__all__ = ["SELECTORS", "get", "random", "variance", "variance_threshold",
           "greedy", "farthest", "farthest_orders", "patch_variance"]

_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601


def patch_variance(patches: jax.Array) -> jax.Array:
  """Grey-level (BT.601 luma) variance of each patch, (n, H, W, 3) -> (n,)."""
  grey = jnp.tensordot(jnp.asarray(patches, jnp.float32), jnp.asarray(_LUMA),
                       axes=[[-1], [0]])
  return jnp.var(grey, axis=(-2, -1))


def _need(value, name: str, selector: str):
  if value is None:
    raise ValueError(f"selector {selector!r} needs {name}=.")
  return value


def _n_of(embeddings, patches) -> int:
  for x in (embeddings, patches):
    if x is not None:
      return int(np.shape(x)[0])
  raise ValueError("give embeddings= or patches= (the selector needs n).")


def random(key=None, *, embeddings=None, patches=None, rate=None, k=None,
           **unused) -> Selection:
  """k patches drawn uniformly without replacement (seeded by `key`)."""
  del unused
  key = _need(key, "key", "random")
  n = _n_of(embeddings, patches)
  kk = resolve_k(n, rate=rate, k=k)
  perm = np.asarray(jax.random.permutation(key, n))
  return Selection(perm[:kk], jnp.full((n,), jnp.nan))


def _variance_scores(patches, selector):
  patches = _need(patches, "patches", selector)
  if np.ndim(patches) != 4 or np.shape(patches)[-1] != 3:
    raise ValueError(f"patches must be (n, H, W, 3), got {np.shape(patches)}.")
  return patch_variance(patches)


def variance(key=None, *, embeddings=None, patches=None, rate=None, k=None,
             **unused) -> Selection:
  """The k patches of highest grey-level variance (ties: lower index)."""
  del key, embeddings, unused
  v = _variance_scores(patches, "variance")
  kk = resolve_k(v.shape[0], rate=rate, k=k)
  order = np.argsort(-np.asarray(v), kind="stable")
  return Selection(order[:kk], v)


def variance_threshold(key=None, *, embeddings=None, patches=None, rate=None,
                       k=None, threshold: float | None = None,
                       **unused) -> Selection:
  """Patches with variance >= threshold, highest first (capped by k/rate)."""
  del key, embeddings, unused
  threshold = _need(threshold, "threshold", "variance_threshold")
  v = np.asarray(_variance_scores(patches, "variance_threshold"))
  order = np.argsort(-v, kind="stable")
  keep = order[v[order] >= threshold]
  if rate is not None or k is not None:
    keep = keep[:resolve_k(v.size, rate=rate, k=k)]
  return Selection(keep, jnp.asarray(v))


def _pairwise(e, metric):
  if metric == "euclidean":
    return distances.euclidean(e)
  if metric == "cosine":
    u = e / jnp.maximum(jnp.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return u @ u.T
  raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}.")


@functools.partial(jax.jit, static_argnames=("metric",))
def _greedy_mask(e, order, threshold, *, metric):
  m = _pairwise(e, metric)
  close = m >= threshold if metric == "cosine" else m <= threshold
  n = e.shape[0]

  def body(t, state):
    alive, kept = state
    i = order[t]
    take = alive[i]
    kept = kept.at[t].set(take)
    alive = jnp.where(take, alive & ~close[i], alive)
    return alive, kept
  _, kept = jax.lax.fori_loop(0, n, body, (jnp.ones(n, bool),
                                           jnp.zeros(n, bool)))
  return kept  # in priority order


def _priority(n, patches):
  if patches is None:
    return np.arange(n), jnp.full((n,), jnp.nan)
  v = patch_variance(patches)
  return np.argsort(-np.asarray(v), kind="stable"), v


def greedy(key=None, *, embeddings=None, patches=None, rate=None, k=None,
           threshold: float | None = None, metric: str = "euclidean",
           **unused) -> Selection:
  """Redundancy filter: keep, then drop the neighbours within `threshold`."""
  del key, unused
  n, _ = check_embeddings(embeddings)
  threshold = _need(threshold, "threshold", "greedy")
  order, crit = _priority(n, patches)
  kept = np.asarray(_greedy_mask(jnp.asarray(embeddings, jnp.float32),
                                 jnp.asarray(order), threshold, metric=metric))
  keep = order[kept]
  if rate is not None or k is not None:
    keep = keep[:resolve_k(n, rate=rate, k=k)]
  return Selection(keep, crit)


@functools.partial(jax.jit, static_argnames=("k",))
def _farthest(e, first, *, k):
  m = _pairwise(e, "euclidean")

  def body(t, state):
    idx, mind = state
    nxt = jnp.argmax(mind)  # chosen patches sit at -1, never picked again
    return idx.at[t].set(nxt), jnp.minimum(mind, m[nxt]).at[nxt].set(-1.0)
  idx = jnp.zeros((k,), jnp.int32).at[0].set(first)
  idx, _ = jax.lax.fori_loop(1, k, body, (idx, m[first].at[first].set(-1.0)))
  return idx


@jax.jit
def farthest_orders(embeddings: jax.Array) -> jax.Array:
  """(B, n) farthest-point orders of all n patches of B images (B, n, d),
  each starting at patch 0: `farthest(embeddings=e, k=n)` vmapped."""
  e = jnp.asarray(embeddings, jnp.float32)
  return jax.vmap(lambda x: _farthest(x, 0, k=e.shape[1]))(e)


def farthest(key=None, *, embeddings=None, patches=None, rate=None, k=None,
             **unused) -> Selection:
  """Farthest-point sampling: exactly k patches, spread in embedding space."""
  del key, unused
  n, _ = check_embeddings(embeddings)
  kk = resolve_k(n, rate=rate, k=k)
  order, crit = _priority(n, patches)
  idx = _farthest(jnp.asarray(embeddings, jnp.float32), int(order[0]), k=kk)
  return Selection(np.asarray(idx), crit)


SELECTORS = {
    "residual": residual.select,
    "random": random,
    "variance": variance,
    "variance_threshold": variance_threshold,
    "greedy": greedy,
    "farthest": farthest,
}


def get(name: str):
  """The selector called `name` (see the module docstring)."""
  try:
    return SELECTORS[name]
  except KeyError:
    raise ValueError(f"unknown selector {name!r}; known: "
                     f"{', '.join(sorted(SELECTORS))}.") from None
