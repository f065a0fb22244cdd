"""Patch selectors by name: each ranks all patches of an image, best first.

  r = rank("variance", patches=P)                     # a `Ranking`
  keep = r.take(rate=0.3)
  rs = rank_images("residual", embeddings=[E1, E2])   # many images at once

Each selector is a plain function with a strict signature: its inputs are
named (`embeddings` (n, d), `patches` (n, H, W, 3) in [0, 1], `variances`
(n,) grey-level patch variances, `n`), required where it needs them, `key`
first where it is random, options keyword-only. `rank` and `rank_images`
pass each selector the inputs it names (variances are computed from
`patches` when not given) and refuse an unknown option.

  residual            ascending irrelevance score of the W/R solver (001,
                      `residual.rank`)
  random              a uniform permutation (000)
  variance            descending grey-level variance (000)
  variance_threshold  descending variance; the patches >= threshold pass (000)
  greedy              the redundancy filter of 000's two-fold protocol: in
                      priority order keep a patch and drop every remaining
                      one within `threshold` of it (Euclidean distance, or
                      cosine similarity >= threshold with metric="cosine");
                      the kept ones pass, the dropped follow in priority order
  farthest            farthest-point order in embedding space

Priority for greedy and farthest: decreasing variance when `variances` are
given, else the input order.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import images, parallel, registry
from iqa_jax.selection import batch, distances, residual
from iqa_jax.selection.base import Ranking, check_embeddings, check_patches

__all__ = ["SELECTORS", "get", "required_options", "rank", "rank_images", "random", "variance",
           "variance_threshold", "greedy", "farthest", "farthest_orders"]

_INPUTS = ("embeddings", "patches", "variances", "n")


def random(key: jax.Array, *, n: int) -> Ranking:
  """A uniform permutation of n patches (seeded by `key`)."""
  order = np.asarray(jax.random.permutation(key, int(n)))
  return Ranking(order, np.full(n, np.nan), int(n))


def _variance_order(variances):
  v = np.asarray(variances, np.float64)
  if v.ndim != 1:
    raise ValueError(f"variances must be (n,), got shape {v.shape}.")
  return np.argsort(-v, kind="stable"), v


def variance(variances) -> Ranking:
  """Descending grey-level variance of variances (n,) (ties: lower
  index)."""
  order, v = _variance_order(variances)
  return Ranking(order, v, len(order))


def variance_threshold(variances, *, threshold: float) -> Ranking:
  """Descending variance of variances (n,); the patches with variance
  >= threshold pass."""
  order, v = _variance_order(variances)
  return Ranking(order, v, int(np.sum(v >= threshold)))


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


def _priority(n, variances):
  if variances is None:
    return np.arange(n), np.full(n, np.nan)
  return _variance_order(variances)


def greedy(embeddings, *, threshold: float, metric: str = "euclidean",
           variances=None) -> Ranking:
  """Redundancy filter over embeddings (n, d): keep, then drop the
  neighbours within `threshold` (priority: variances (n,), or index)."""
  n, _ = check_embeddings(embeddings)
  order, crit = _priority(n, variances)
  kept = np.asarray(_greedy_mask(jnp.asarray(embeddings, jnp.float32),
                                 jnp.asarray(order), threshold, metric=metric))
  return Ranking(np.concatenate([order[kept], order[~kept]]), crit,
                 int(kept.sum()))


def _farthest(e, first):
  m = _pairwise(e, "euclidean")
  n = e.shape[0]

  def body(t, state):
    idx, mind = state
    nxt = jnp.argmax(mind)  # chosen patches sit at -1, never picked again
    return idx.at[t].set(nxt), jnp.minimum(mind, m[nxt]).at[nxt].set(-1.0)
  idx = jnp.zeros((n,), jnp.int32).at[0].set(first)
  idx, _ = jax.lax.fori_loop(1, n, body, (idx, m[first].at[first].set(-1.0)))
  return idx


@jax.jit
def farthest_orders(embeddings: jax.Array, first: jax.Array) -> jax.Array:
  """(B, n) farthest-point orders of B images' embeddings (B, n, d), image
  b starting at patch first[b]."""
  e = jnp.asarray(embeddings, jnp.float32)
  return jax.vmap(_farthest)(e, jnp.asarray(first, jnp.int32))


def farthest(embeddings, *, variances=None) -> Ranking:
  """Farthest-point order of embeddings (n, d): each next patch is the
  farthest from those before it (the first: the highest of variances (n,),
  or patch 0)."""
  n, _ = check_embeddings(embeddings)
  order, crit = _priority(n, variances)
  idx = farthest_orders(np.asarray(embeddings)[None], np.asarray([order[0]]))
  return Ranking(np.asarray(idx[0]), crit, n)


SELECTORS = {
    "residual": residual.rank,
    "random": random,
    "variance": variance,
    "variance_threshold": variance_threshold,
    "greedy": greedy,
    "farthest": farthest,
}


def get(name: str):
  """The selector function called `name`."""
  return registry.lookup(SELECTORS, name, family="selector")


def required_options(name: str) -> list[str]:
  """The options selector `name` cannot do without (beyond its inputs)."""
  return registry.required_options(get(name), exclude=_INPUTS)


def _call_args(name, key, inputs, options):
  """(args, kwargs) for selector `name`: the inputs it names, `key` first
  where it takes one; errors name what is missing or unknown."""
  fn = get(name)
  params = dict(inspect.signature(fn).parameters)
  # A selector that forwards **options names where they go (`options_of`).
  if hasattr(fn, "options_of"):
    params.update({k: v for k, v in
                   inspect.signature(fn.options_of).parameters.items()
                   if k not in params and k not in _INPUTS})
    params = {k: v for k, v in params.items()
              if v.kind is not inspect.Parameter.VAR_KEYWORD}
  needs_key = "key" in params and params["key"].kind is not \
      inspect.Parameter.KEYWORD_ONLY
  takes = [p for p in params if p in _INPUTS]
  opts = [p for p in params if p not in _INPUTS and p != "key"]
  unknown = [o for o in options if o not in opts]
  if unknown:
    raise ValueError(f"selector {name!r} has no option(s) {unknown}; its "
                     f"options: {opts or 'none'}.")
  missing = [o for o in opts if o not in options and
             params[o].kind is inspect.Parameter.KEYWORD_ONLY and
             params[o].default is inspect.Parameter.empty]
  if missing:
    raise ValueError(f"selector {name!r} needs " +
                     ", ".join(f"{o}=" for o in missing) + ".")
  kwargs = dict(options)
  for p in takes:
    if inputs.get(p) is not None:
      kwargs[p] = inputs[p]
    elif params[p].default is inspect.Parameter.empty:
      raise ValueError(f"selector {name!r} needs {p}=" + (
          " (or patches=)." if p == "variances" else "."))
  if needs_key:
    if key is None:
      raise ValueError(f"selector {name!r} is random: it needs key= "
                       "(jax.random.key(seed)).")
    return (key,), kwargs
  if "key" in params and key is not None:
    kwargs["key"] = key
  return (), kwargs


def _inputs(embeddings, patches, variances):
  if variances is None and patches is not None:
    check_patches(patches)
    variances = np.asarray(images.patch_variance(patches))
  ns = {np.shape(x)[0] for x in (embeddings, patches, variances)
        if x is not None}
  if len(ns) > 1:
    raise ValueError(f"embeddings, patches and variances disagree on the "
                     f"number of patches: {sorted(ns)}.")
  return {"embeddings": embeddings, "patches": patches,
          "variances": variances, "n": ns.pop() if ns else None}


def rank(name: str, key: jax.Array | None = None, *, embeddings=None,
         patches=None, variances=None, **options) -> Ranking:
  """Ranks one image's patches with the selector `name` (see above):
  embeddings (n, d), patches (n, H, W, 3), variances (n,) as it needs."""
  args, kwargs = _call_args(name, key, _inputs(embeddings, patches,
                                               variances), options)
  return get(name)(*args, **kwargs)


def rank_images(name: str, key: jax.Array | None = None, *, embeddings=None,
                patches=None, variances=None, progress: bool = False,
                **options) -> list[Ranking]:
  """`rank` for many images (lists, ragged by image): image i gets
  `fold_in(key, i)`. The residual selector solves all images in sharded,
  vmapped calls per patch count; farthest and random run vmapped per patch
  count."""
  m = next(len(x) for x in (embeddings, patches, variances) if x is not None)
  per = [_inputs(*(None if x is None else x[i]
                   for x in (embeddings, patches, variances)))
         for i in range(m)]
  if name == "residual":
    _call_args(name, key, per[0], options)   # checks inputs and options
    res = batch.score_images(embeddings, key=key, progress=progress,
                             **options)
    return [Ranking(np.argsort(np.asarray(r.scores), kind="stable"),
                    np.asarray(r.scores), len(r.scores), r) for r in res]
  if name == "farthest":
    _call_args(name, key, per[0], options)
    out = [None] * m
    for idx in parallel.group_by_shape(embeddings).values():
      pri = [_priority(len(embeddings[i]), per[i]["variances"]) for i in idx]
      orders = np.asarray(farthest_orders(
          np.stack([embeddings[i] for i in idx]),
          np.asarray([p[0][0] for p in pri])))
      for i, o, (_, crit) in zip(idx, orders, pri):
        out[i] = Ranking(o, crit, len(o))
    return out
  if name == "random":
    _call_args(name, key, per[0], options)   # checks the key and options
    out = [None] * m
    for (n,), idx in parallel.group_by_shape(
        [p["n"] for p in per], shape_of=lambda n: (n,)).items():
      keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(idx))
      orders = np.asarray(_permutations(keys, n))
      for i, o in zip(idx, orders):
        out[i] = Ranking(o, np.full(n, np.nan), n)
    return out
  return [rank(name, None if key is None else jax.random.fold_in(key, i),
               **{k: v for k, v in per[i].items() if k != "n"}, **options)
          for i in range(m)]


@functools.partial(jax.jit, static_argnums=1)
def _permutations(keys, n):
  """(B, n) `random`'s permutation for each of B keys."""
  return jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
