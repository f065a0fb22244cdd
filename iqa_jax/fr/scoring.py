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


@functools.lru_cache(maxsize=64)
def _jitted(name, attr, graphdefs, options):
  """jit of the metric's `attr` ("fn" or "maps") taking (state, ref, dist),
  the modules of `state` rebuilt from their graphdefs."""
  fn = getattr(registry.spec(name), attr)
  graphdefs, opts = dict(graphdefs), dict(options)

  def run(state, ref, dist):
    weights = {k: nnx.merge(graphdefs[k], v) if k in graphdefs else v
               for k, v in state.items()}
    return fn(ref, dist, **weights, **opts)
  run.__name__ = "score" if attr == "fn" else attr   # jit_score in the cache
  return jax.jit(run)


class _Images:
  """Rows of images, preprocessed one batch at a time when sliced."""

  def __init__(self, items, preprocess, load):
    self.items, self.preprocess, self.load = items, preprocess, load

  def __len__(self):
    return len(self.items)

  def __getitem__(self, s):
    return np.stack([self._one(x) for x in self.items[s]])

  def _one(self, x):
    image = self.load(x) if self.load else x
    if self.load and not np.all(np.isfinite(image)):
      raise ValueError(f"{x}: the image holds NaN or infinite pixels; "
                       "replace them (e.g. with numpy.nan_to_num) or the "
                       "file.")
    return preprocess_lib.apply(self.preprocess, image)


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
    # (graphdefs, options): with the name, the key of the compiled programs
    self._key = (tuple(sorted(graphdefs.items(), key=lambda kv: kv[0])),
                 tuple(sorted(self.options.items())))
    self._fn = functools.partial(_jitted(metric, "fn", *self._key),
                                 self._state)

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

  def maps(self, ref, dist) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The factors the metric pools, for SMIC and "w/ MIC" metrics only:
    {name: (distortion (N, h, w), attention (N, h, w))} of N pairs (arrays
    or sequences of one size, preprocessed as for scoring); one entry
    ("map") for PSNR/SSIM, one per weighted VGG layer for the deep ones.
    `fr.maps.figure` draws them (Fig. 5 of source text 003)."""
    if self.spec.maps is None:
      with_maps = [n for n in registry.names() if registry.spec(n).maps]
      raise ValueError(f"{self.name} has no attention map; maps exist for "
                       f"{', '.join(with_maps)}.")
    r = _Images(ref, self.preprocess, None)[:]
    d = _Images(dist, self.preprocess, None)[:]
    out = _jitted(self.name, "maps", *self._key)(self._state, r, d)
    return {k: (np.asarray(m, np.float64), np.asarray(a, np.float64))
            for k, (m, a) in out.items()}

  def preprocessed(self, image) -> np.ndarray:
    """One (H, W, 3) image (or path) as the metric scores it."""
    if not isinstance(image, np.ndarray):
      image = images.read(image)
    return preprocess_lib.apply(self.preprocess, image)

  def _map(self, r, d, progress):
    out = parallel.map_batches(self._fn, r, d, batch_size=self.batch_size,
                               mesh=self.mesh, progress=progress,
                               desc=self.name, unit="pair")
    return np.asarray(out, np.float64)

  def score_files(self, pairs: Sequence[tuple], *, progress: bool = False,
                  errors: list | None = None) -> np.ndarray:
    """(N,) scores of (reference path, distorted path) pairs, read and
    preprocessed one batch at a time; pairs of one size are scored
    together.

    A bad pair (different sizes, an unreadable file, NaN pixels, an image
    below the metric's minimum size) raises ValueError naming the file;
    with `errors` (a list) it is appended there as (index, message), its
    score is NaN and the other pairs are scored.
    """
    sizes, bad = [], {}
    for i, (r, d) in enumerate(pairs):
      try:
        hr, hd = (preprocess_lib.image_size(r),
                  preprocess_lib.image_size(d))
        if hr != hd:
          raise ValueError(
              f"{d} is {hd[0]} x {hd[1]} but its reference {r} is "
              f"{hr[0]} x {hr[1]}; full-reference metrics need equal sizes.")
      except ValueError as e:
        if errors is None:
          raise
        bad[i] = str(e)
        hr = None
      sizes.append(hr)
    good = [i for i in range(len(pairs)) if i not in bad]
    groups = parallel.group_by_shape(good, shape_of=lambda i: sizes[i])
    scores = np.full(len(pairs), np.nan)
    bar = parallel.progress_bar(total=len(pairs), desc=self.name,
                                unit="pair", enabled=progress)
    with bar:
      bar.update(len(bad))
      for (h, w), members in groups.items():
        idx = [good[k] for k in members]
        try:
          scores[idx] = self._score_group(pairs, idx, bar)
        except ValueError as e:
          if errors is None:
            raise self._named(e, pairs[idx[0]], h, w) from None
          for i in idx:      # find the bad pairs of the group one by one
            try:
              scores[i] = self._score_group(pairs, [i], None)[0]
            except ValueError as e1:
              bad[i] = str(self._named(e1, pairs[i], h, w))
    if errors is not None:
      errors.extend(sorted(bad.items()))
    return scores

  def _score_group(self, pairs, idx, bar):
    r = _Images([pairs[i][0] for i in idx], self.preprocess, images.read)
    d = _Images([pairs[i][1] for i in idx], self.preprocess, images.read)
    return self._map(r, d, bar if bar is not None else False)

  def _named(self, e, pair, h, w):
    """e with the pair's name and scored size, unless it names a file."""
    if isinstance(e, images.ImageDecodeError) or str(pair[0]) in str(e) \
        or str(pair[1]) in str(e):
      return e
    hs, ws = preprocess_lib.scored_size(self.preprocess, h, w)
    return ValueError(f"{pair[1]} ({h} x {w}, scored at {hs} x {ws}): {e}")


def get(name: str, **kwargs) -> Scorer:
  """The metric `name` ready to score: `Scorer(name, **kwargs)`."""
  return Scorer(name, **kwargs)
