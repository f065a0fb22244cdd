"""Patch samplers for ordinary (2-D) images (source text 000).

Each returns `sampling.Patches` whose `centres` are the pixel (row, column)
of each patch centre (`coords == "pixel"`):

* `grid`: size x size patches on a regular grid (non-overlapping by default),
  the usual protocol and the pool the selectors refine.
* `random_positions`: n patches at uniformly random positions (seeded).
* `variance_weighted`: n positions of a stride grid drawn without replacement
  with probability proportional to the patch's grey-level variance
  ("increase sampling density in high-variance regions").
* `saliency_weighted`: the same with the patch's mean spectral-residual
  saliency (`iqa_jax.sampling.saliency`).
* `harris`: patches centred on the n strongest Harris corners (response
  det(M) - k tr(M)^2 of the Gaussian-smoothed structure tensor, sigma 1,
  k 0.05, as scikit-image's `corner_harris`), local maxima at least
  `min_distance` (default size / 2) apart first, then the strongest
  remaining responses; responses within 4 sigma + 2 pixels of the border
  (where the zero padding makes the frame a corner) are ignored and a patch
  whose centre is too near the border is shifted inwards.

Draws without replacement use the Gumbel top-k trick, so everything is a
jittable JAX computation for a fixed n.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import images
from iqa_jax.sampling import saliency
from iqa_jax.sampling.base import Patches

__all__ = ["grid", "random_positions", "variance_weighted",
           "saliency_weighted", "harris", "harris_response"]


def _patches(image, pos, size, params) -> Patches:
  pos = jnp.asarray(pos, jnp.int32)
  patches = images.extract_patches(image, pos, size=size)
  centres = np.asarray(pos, np.float64) + (size - 1) / 2.0
  params = {"size": size, "image_hw": tuple(image.shape[:2]), **params}
  return Patches(patches, centres, np.full(len(centres), np.nan), params,
                 coords="pixel")


def _check(image, size):
  image = jnp.asarray(image, jnp.float32)
  if image.ndim != 3:
    raise ValueError(f"expected an (H, W, C) image, got {image.shape}.")
  h, w = image.shape[:2]
  if size > h or size > w:
    raise ValueError(f"patch size {size} exceeds the image ({h} x {w}).")
  return image


def grid(image, *, size: int = 128, stride: int | None = None) -> Patches:
  """Patches on a grid (row-major) of an (H, W, 3) image; stride defaults
  to size."""
  image = _check(image, size)
  pos = images.grid_positions(*image.shape[:2], size=size, stride=stride)
  return _patches(image, pos, size, {"sampler": "grid",
                                     "stride": stride or size})


def random_positions(key, image, *, n: int, size: int = 128) -> Patches:
  """n patches of an (H, W, 3) image with uniformly random top-left
  corners (with replacement)."""
  image = _check(image, size)
  h, w = image.shape[:2]
  ky, kx = jax.random.split(key)
  pos = jnp.stack([jax.random.randint(ky, (n,), 0, h - size + 1),
                   jax.random.randint(kx, (n,), 0, w - size + 1)], 1)
  return _patches(image, pos, size, {"sampler": "random", "n": n})


def _weighted(key, image, weights_of, *, n, size, stride, name):
  image = _check(image, size)
  pos = images.grid_positions(*image.shape[:2], size=size,
                              stride=stride or max(1, size // 2))
  if n > len(pos):
    raise ValueError(f"n = {n} exceeds the {len(pos)} candidate positions; "
                     "lower n or the stride.")
  w = weights_of(image, pos)
  gumbel = jax.random.gumbel(key, w.shape)
  _, idx = jax.lax.top_k(jnp.log(jnp.maximum(w, 1e-12)) + gumbel, n)
  return _patches(image, jnp.asarray(pos)[idx], size,
                  {"sampler": name, "n": n, "stride": stride or size // 2})


def variance_weighted(key, image, *, n: int, size: int = 128,
                      stride: int | None = None) -> Patches:
  """n distinct grid positions (stride default size / 2) of an (H, W, 3)
  image, p ~ variance."""
  def weights(img, pos):
    g = images.extract_patches(images.grey(jnp.asarray(img, jnp.float32))[..., None], pos, size=size)
    return jnp.var(g, axis=(1, 2, 3))
  return _weighted(key, image, weights, n=n, size=size, stride=stride,
                   name="variance_weighted")


def saliency_weighted(key, image, *, n: int, size: int = 128,
                      stride: int | None = None) -> Patches:
  """n distinct grid positions (stride default size / 2) of an (H, W, 3)
  image, p ~ saliency."""
  def weights(img, pos):
    s = saliency.spectral_residual(img)[..., None]
    return jnp.mean(images.extract_patches(s, pos, size=size), axis=(1, 2, 3))
  return _weighted(key, image, weights, n=n, size=size, stride=stride,
                   name="saliency_weighted")


def harris_response(image, *, sigma: float = 1.0, k: float = 0.05):
  """(H, W) Harris response of the grey image (Sobel gradients)."""
  g = images.grey(jnp.asarray(image, jnp.float32))
  d, s = np.array([1.0, 0.0, -1.0]), np.array([1.0, 2.0, 1.0])
  # Zero borders, as scikit-image's structure tensor.
  filt = lambda x, k, axis: images.filter_axis(x, k, axis=axis,
                                               mode="constant")
  gx = filt(filt(g, d, 1), s, 0)
  gy = filt(filt(g, d, 0), s, 1)
  gauss = images.gaussian_kernel(sigma)
  smooth = lambda a: filt(filt(a, gauss, 0), gauss, 1)
  axx, ayy, axy = smooth(gx * gx), smooth(gy * gy), smooth(gx * gy)
  return axx * ayy - axy ** 2 - k * (axx + ayy) ** 2


def harris(image, *, n: int, size: int = 128, min_distance: int | None = None,
           sigma: float = 1.0, k: float = 0.05) -> Patches:
  """Patches centred on the n strongest Harris corners (deterministic)."""
  image = _check(image, size)
  h, w = image.shape[:2]
  if n > h * w:
    raise ValueError(f"n = {n} exceeds the number of pixels.")
  md = size // 2 if min_distance is None else min_distance
  resp = harris_response(image, sigma=sigma, k=k)
  # The zero padding makes the image frame a strong "corner": ignore a margin.
  m = int(np.ceil(4 * sigma)) + 2
  inner = jnp.zeros((h, w), bool).at[m:h - m, m:w - m].set(True)
  resp = jnp.where(inner, resp, -jnp.inf)
  local_max = jax.lax.reduce_window(resp, -jnp.inf, jax.lax.max,
                                    (2 * md + 1, 2 * md + 1), (1, 1), "SAME")
  peak = (resp >= local_max) & (resp > 0)
  # Peaks first (ranked by response), then the other pixels by response.
  top = jnp.max(jnp.where(inner, jnp.abs(resp), 0.0))
  rank = jnp.where(peak, resp + top + 1.0, resp)
  _, idx = jax.lax.top_k(rank.reshape(-1), n)
  cy, cx = idx // w, idx % w
  pos = jnp.stack([jnp.clip(cy - size // 2, 0, h - size),
                   jnp.clip(cx - size // 2, 0, w - size)], 1)
  return _patches(image, pos, size, {"sampler": "harris", "n": n,
                                     "min_distance": md, "sigma": sigma,
                                     "k": k})
