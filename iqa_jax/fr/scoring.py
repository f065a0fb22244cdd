"""Scoring many image pairs with one registered metric, on all devices.

  scorer = fr.get("psnr_smic")                 # pretrained VGG16, K = 32
  scores = scorer(ref, dist)                   # (N, H, W, 3) x 2 -> (N,)
  scores = scorer.score_files([(ref_path, dist_path), ...])

`fr.get(name)` is `Scorer(name)`: the metric with its default weights
loaded (pass `vgg=`, `projections=`... to replace them), its options, and
its preprocessing, applied by default exactly as `iqa-jax score` applies it
(`preprocess=None` turns it off). Pairs go through `parallel.map_batches`:
batches of `batch_size` split over the devices of a 1-D mesh, the last one
padded so that every batch of an image size compiles once; weights are
replicated. A new image size compiles again (about a minute for the SMIC
metrics on a CPU); `iqa-jax` keeps compiled programs in JAX's persistent
cache (`iqa_jax.paths.enable_compilation_cache`), which a Python session
can turn on too.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence

import jax
import numpy as np
from flax import nnx

from iqa_jax import images, parallel
from iqa_jax.fr import preprocess as preprocess_lib
from iqa_jax.fr import registry

__all__ = ["Scorer", "get"]

_DEFAULT = "default"


@functools.lru_cache(maxsize=32)
def _score_fn(name, graphdefs, options):
  fn = registry.spec(name).fn
  graphdefs, opts = dict(graphdefs), dict(options)

  def score(state, ref, dist):
    weights = {k: nnx.merge(graphdefs[k], v) if k in graphdefs else v
               for k, v in state.items()}
    return fn(ref, dist, **weights, **opts)
  return jax.jit(score)


class _Images:
  """Rows of images, preprocessed one batch at a time when sliced."""

  def __init__(self, items, preprocess, load):
    self.items, self.preprocess, self.load = items, preprocess, load

  def __len__(self):
    return len(self.items)

  def __getitem__(self, s):
    return np.stack([preprocess_lib.apply(
        self.preprocess, self.load(x) if self.load else x)
                     for x in self.items[s]])


class Scorer:
  """A registered metric with its weights, options and preprocessing.

  Args:
    metric: a name of `fr.METRICS`.
    preprocess: "default" (the metric's own official resize, as `iqa-jax
      score` applies it: `MetricSpec.preprocess`; none for psnr/ssim);
      preprocess=None scores the images as they are; or a name of
      `fr.preprocess.PREPROCESSORS`.
    mesh: a 1-D mesh with axis "data" (default: all devices).
    batch_size: pairs per step, rounded up to a multiple of the devices.
    **kwargs: weights (for SMIC: `vgg=`, `projections=`) replacing the
      defaults, and the metric's options (e.g. window=, data_range=); an
      unknown name raises.

  Attributes:
    name, spec (the `MetricSpec`), higher_is_better, preprocess, options.
  """

  def __init__(self, metric: str, *, preprocess: str | None = _DEFAULT,
               mesh: jax.sharding.Mesh | None = None, batch_size: int = 8,
               **kwargs):
    self.spec = registry.spec(metric)
    self.name = metric
    self.higher_is_better = self.spec.higher_is_better
    known = self.spec.options()
    names = set(known) | set(self.spec.weight_names)
    unknown = sorted(set(kwargs) - names)
    if unknown:
      raise ValueError(
          f"metric {metric!r} has no option(s) {unknown}; its options: "
          f"{', '.join(sorted(known)) or 'none'}" + (
              f"; weights: {', '.join(self.spec.weight_names)}"
              if self.spec.weight_names else "") + ".")
    self.preprocess = self.spec.preprocess if preprocess == _DEFAULT \
        else preprocess
    if self.preprocess is not None and \
        self.preprocess not in preprocess_lib.PREPROCESSORS:
      raise ValueError(f"unknown preprocessing {self.preprocess!r}; known: "
                       f"{sorted(preprocess_lib.PREPROCESSORS)} or None.")
    # Every option spelled out (defaults included), so that equal settings
    # share one compiled program however they were given.
    self.options = {k: kwargs.get(k, v) for k, v in known.items()
                    if k in kwargs or v is not inspect.Parameter.empty}
    given = {k: v for k, v in kwargs.items() if k in self.spec.weight_names}
    weights = {**(self.spec.weights() if set(given) != set(
        self.spec.weight_names) else {}), **given}
    self.mesh = mesh if mesh is not None else parallel.data_mesh()
    self.batch_size = parallel.round_up(batch_size, self.mesh)
    graphdefs, state = {}, {}
    for k, v in weights.items():
      if isinstance(v, nnx.Module):
        graphdefs[k], state[k] = nnx.split(v)
      else:
        state[k] = v
    self._state = parallel.replicate(state, self.mesh)
    self._fn = functools.partial(
        _score_fn(metric, tuple(sorted(graphdefs.items(), key=lambda kv:
                                       kv[0])),
                  tuple(sorted(self.options.items()))), self._state)

  def __repr__(self):
    return (f"Scorer({self.name!r}, preprocess={self.preprocess!r}, "
            f"options={self.options}, devices={self.mesh.size})")

  def __call__(self, ref, dist, *, progress=False) -> np.ndarray:
    """(N,) float64 scores of N pairs: (N, H, W, 3) arrays in [0, 1], or
    sequences of (H, W, 3) images of one size."""
    if len(ref) != len(dist):
      raise ValueError(f"ref and dist hold {len(ref)} and {len(dist)} "
                       "images.")
    if len(ref) == 0:
      return np.zeros((0,))
    r = _Images(ref, self.preprocess, None)
    d = _Images(dist, self.preprocess, None)
    first_r, first_d = r[0:1], d[0:1]
    if first_r.shape != first_d.shape or first_r.ndim != 4 or \
        first_r.shape[-1] != 3:
      raise ValueError(f"ref and dist must both be (N, H, W, 3) in [0, 1], "
                       f"got rows {first_r.shape[1:]} and "
                       f"{first_d.shape[1:]}.")
    return self._map(r, d, progress)

  def _map(self, r, d, progress):
    out = parallel.map_batches(self._fn, r, d, batch_size=self.batch_size,
                               mesh=self.mesh, progress=progress,
                               desc=self.name, unit="pair")
    return np.asarray(out, np.float64)

  def score_files(self, pairs: Sequence[tuple], *,
                  progress: bool = False) -> np.ndarray:
    """(N,) scores of (reference path, distorted path) pairs, read and
    preprocessed one batch at a time; pairs of one size are scored
    together. A pair of different sizes, an unreadable file or an image too
    small for the metric raises with the file's name."""
    def pair_size(pair):
      r, d = pair
      hr, hd = preprocess_lib.image_size(r), preprocess_lib.image_size(d)
      if hr != hd:
        raise ValueError(f"{d} is {hd[0]} x {hd[1]} but its reference {r} "
                         f"is {hr[0]} x {hr[1]}; full-reference metrics "
                         "need equal sizes.")
      return hr
    groups = parallel.group_by_shape(pairs, shape_of=pair_size)
    scores = np.full(len(pairs), np.nan)
    bar = parallel.progress_bar(total=len(pairs), desc=self.name,
                                unit="pair", enabled=progress)
    with bar:
      for (h, w), idx in groups.items():
        r = _Images([pairs[i][0] for i in idx], self.preprocess, images.read)
        d = _Images([pairs[i][1] for i in idx], self.preprocess, images.read)
        try:
          scores[idx] = self._map(r, d, bar)
        except ValueError as e:   # e.g. an image too small for the metric
          if isinstance(e, images.ImageDecodeError):
            raise
          hs, ws = preprocess_lib.scored_size(self.preprocess, h, w)
          raise ValueError(f"{pairs[idx[0]][1]} ({h} x {w}, scored at "
                           f"{hs} x {ws}): {e}") from None
    return scores


def get(name: str, **kwargs) -> Scorer:
  """The metric `name` ready to score: `Scorer(name, **kwargs)`."""
  return Scorer(name, **kwargs)
