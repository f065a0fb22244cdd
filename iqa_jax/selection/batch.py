"""Residual scores for many images at once, sharded over all devices.

  res = residual_scores_batch(E)        # E (B, n, d) -> batched SolverResult
  out = score_images([E1, E2, ...])     # ragged: grouped by shape

Images of equal patch count are stacked and `jax.vmap`-ed through one jitted
function per (shape, configuration); the batch is split across the devices
of a 1-D mesh with `jax.shard_map` (each device solves its own images,
nothing is communicated). Padding
patches with a mask would change S, Z and the solution, so ragged sets are
grouped by shape instead (exact), and each group is padded to a multiple of
the device count by repeating its last image (the copies are dropped).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

from iqa_jax import parallel
from iqa_jax.selection import residual
from iqa_jax.selection.solver import SolverResult

__all__ = ["residual_scores_batch", "score_images"]

_STATIC = ("distance", "kernel", "h", "max_iter", "fixed_iterations", "r_step",
           "normalise", "variant")
_DEFAULTS = dict(distance="euclidean", kernel=None, h=10, max_iter=50,
                 fixed_iterations=False, r_step="irls", normalise=None,
                 variant="paper", alpha=0.1, beta=0.1, tol=1e-6, eps=1e-8)


@functools.lru_cache(maxsize=64)
def _batched_fn(mesh, static_items):
  """The solver over the local images of each device, under `shard_map`
  (vmapped; mapped one image at a time on CPU devices, see below).

  Each device runs its own loops on its own shard: the solver's
  data-dependent `while_loop` and the LAPACK custom calls then need no
  cross-device communication (plain jit would all-reduce the loop predicate
  at every iteration, or gather the batch around the decompositions).
  """
  static = dict(static_items)
  inner = functools.partial(residual._scores, **static)  # pylint: disable=protected-access
  if mesh.devices.flat[0].platform == "cpu":
    # One image at a time: jaxlib 0.10's batched LAPACK kernels split a batch
    # over XLA:CPU's thread pool and block on it, which deadlocks when
    # several CPU devices (more than the pool has threads) decompose batches
    # at once; image by image is also no slower on the CPU.
    def local(e, keys, *args):
      return jax.lax.map(lambda a: inner(a[0], a[1], *args), (e, keys))
  else:
    local = jax.vmap(inner, in_axes=(0, 0, None, None, None, None))

  def per_image(e, index, base, alpha, beta, tol, eps):
    keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(index)
    return local(e, keys, alpha, beta, tol, eps)
  # check_vma=False: the loops' fresh carries (counters, flags) are per
  # device by construction.
  fn = jax.shard_map(per_image, mesh=mesh,
                     in_specs=(P("data"), P("data"), P(), P(), P(), P(),
                               P()),
                     out_specs=P("data"), check_vma=False)
  return jax.jit(fn)


def residual_scores_batch(embeddings, *, key: jax.Array | None = None,
                          mesh: jax.sharding.Mesh | None = None,
                          **options) -> SolverResult:
  """`residual.residual_scores` for a stack of images E (B, n, d).

  Options are those of `residual.residual_scores`. With
  `variant="authors_code"` image b uses `fold_in(key, b)`.

  Returns:
    A `SolverResult` whose fields have a leading batch axis B.
  """
  unknown = set(options) - set(_DEFAULTS)
  if unknown:
    raise TypeError(f"unknown option(s) {sorted(unknown)}; known: "
                    f"{sorted(_DEFAULTS)}.")
  opts = {**_DEFAULTS, **options}
  e = np.asarray(embeddings) if not isinstance(embeddings, jax.Array) \
      else embeddings
  if e.ndim != 3:
    raise ValueError(f"embeddings must be (B, n, d), got shape {e.shape}.")
  residual.check_embeddings(e[0], h=opts["h"])
  if not np.all(np.isfinite(np.asarray(e))):
    raise ValueError("embeddings contain NaN/inf; fix them first.")
  if opts["variant"] == "authors_code" and key is None:
    raise ValueError("variant='authors_code' needs key=.")
  mesh = mesh if mesh is not None else parallel.data_mesh()
  b = e.shape[0]
  if not np.issubdtype(e.dtype, np.floating):
    e = e.astype(np.float32)
  base = key if key is not None else jax.random.key(0)
  fn = _batched_fn(mesh, tuple((k, opts[k]) for k in _STATIC))
  base = parallel.replicate(base, mesh)

  def step(e, index):
    return fn(e, index, base, opts["alpha"], opts["beta"], opts["tol"],
              opts["eps"])
  # The whole stack in one step (padded to a multiple of the devices).
  with parallel.lapack_single_thread():
    return parallel.map_batches(step, np.asarray(e),
                                np.arange(b, dtype=np.int32), batch_size=b,
                                mesh=mesh)


def score_images(embeddings: Sequence, *, key: jax.Array | None = None,
                 mesh: jax.sharding.Mesh | None = None, chunk: int = 256,
                 progress: bool = False, **options) -> list[SolverResult]:
  """Residual scores of a ragged list of images (n_i, d), in the input
  order.

  Images are grouped by shape and scored `chunk` at a time (bounding memory);
  `progress` shows a progress bar over images.
  """
  out: list[SolverResult | None] = [None] * len(embeddings)
  bar = parallel.progress_bar(total=len(embeddings), desc="selection",
                              unit="image", enabled=progress)
  for idx in parallel.group_by_shape(embeddings).values():
    for start in range(0, len(idx), chunk):
      part = idx[start:start + chunk]
      sub_key = None if key is None else jax.random.fold_in(key, part[0])
      res = residual_scores_batch(np.stack([embeddings[i] for i in part]),
                                  key=sub_key, mesh=mesh, **options)
      for j, i in enumerate(part):
        out[i] = jax.tree.map(lambda x, j=j: x[j], res)
      bar.update(len(part))
  bar.close()
  return out
