"""SSIM with its map (Wang et al., IEEE TIP 2004), batched over image pairs.

  ssim(ref, dist, data_range=1.0)       # (..., H, W, C) -> (...,)
  ssim_map(ref, dist)                   # (..., H, W, C)

The options of `skimage.metrics.structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, channel_axis=-1)`: local statistics
from a separable Gaussian filter (sigma 1.5, truncated at 3.5 sigma: an
11-tap window; `window` overrides the size) with symmetric ("reflect")
borders, K = (0.01, 0.03) scaled by `data_range`; the score is the mean of
the map over the channels and over the positions at least (window - 1) / 2
from the border, as scikit-image crops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import distortions, images
from iqa_jax.fr.psnr import _pair

__all__ = ["ssim", "ssim_map"]


def _kernel(sigma: float, window: int | None) -> np.ndarray:
  return distortions.gaussian_kernel(
      sigma, truncate=3.5, radius=None if window is None else (window - 1) // 2)


def _filter(x, k):
  """The Gaussian over H, W of (..., H, W, C), scipy's "reflect" borders."""
  return images.filter_axis(images.filter_axis(x, k, axis=-3), k, axis=-2)


def ssim_map(ref, dist, *, data_range: float = 1.0, sigma: float = 1.5,
             window: int | None = None, k1: float = 0.01,
             k2: float = 0.03) -> jax.Array:
  """(..., H, W, C) SSIM map (uncropped)."""
  x, y = _pair(ref, dist)
  k = _kernel(sigma, window)
  if len(k) > min(x.shape[-3:-1]):
    raise ValueError(f"the {len(k)}-tap window exceeds the image "
                     f"{x.shape[-3:-1]}.")
  ux, uy = _filter(x, k), _filter(y, k)
  vx = _filter(x * x, k) - ux * ux
  vy = _filter(y * y, k) - uy * uy
  vxy = _filter(x * y, k) - ux * uy
  c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
  return ((2 * ux * uy + c1) * (2 * vxy + c2)) / (
      (ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(ref, dist, *, data_range: float = 1.0, sigma: float = 1.5,
         window: int | None = None, k1: float = 0.01,
         k2: float = 0.03) -> jax.Array:
  """(...,) mean SSIM, cropped as scikit-image."""
  m = ssim_map(ref, dist, data_range=data_range, sigma=sigma, window=window,
               k1=k1, k2=k2)
  pad = (len(_kernel(sigma, window)) - 1) // 2
  h, w = m.shape[-3:-1]
  return jnp.mean(m[..., pad:h - pad, pad:w - pad, :], axis=(-3, -2, -1))
