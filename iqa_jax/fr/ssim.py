"""SSIM with its map (Wang et al., IEEE TIP 2004), batched over image pairs.

  ssim(ref, dist, data_range=1.0)               # (..., H, W, C) -> (...,)
  ssim_map(ref, dist)                           # (..., H, W, C)
  ssim_map(ref, dist, window=7, border="valid") # (..., H - 6, W - 6, C)

The default options are those of `skimage.metrics.structural_similarity(
gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
channel_axis=-1)`: local statistics from a separable Gaussian filter (sigma
1.5, truncated at 3.5 sigma: an 11-tap window; `window` overrides the size)
with symmetric ("reflect") borders, K = (0.01, 0.03) scaled by `data_range`;
the score is the mean of the map over the channels and over the positions at
least (window - 1) / 2 from the border, as scikit-image crops.

`border="valid"` filters without padding, as pytorch-msssim (and SMIC's
official SSIM, which uses it with window 7) does: the map covers only the
positions where the whole window fits, and the score is its plain mean. The
Gaussian weights exp(-x^2 / (2 sigma^2)), normalised, are the same in both.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import images
from iqa_jax.fr.psnr import _pair

__all__ = ["ssim", "ssim_map"]

_BORDERS = {"reflect": "symmetric", "valid": "valid"}


def _kernel(sigma: float, window: int | None) -> np.ndarray:
  if window is not None and (window < 1 or window % 2 == 0):
    raise ValueError(f"window must be odd and positive, got {window}.")
  return images.gaussian_kernel(
      sigma, truncate=3.5, radius=None if window is None else (window - 1) // 2)


def _filter(x, k, mode):
  """The Gaussian over H, W of (..., H, W, C)."""
  return images.filter_axis(images.filter_axis(x, k, axis=-3, mode=mode), k,
                            axis=-2, mode=mode)


def ssim_map(ref, dist, *, data_range: float = 1.0, sigma: float = 1.5,
             window: int | None = None, k1: float = 0.01, k2: float = 0.03,
             border: str = "reflect") -> jax.Array:
  """(..., H, W, C) SSIM map (uncropped), or (..., H - w + 1, W - w + 1, C)
  with border="valid"."""
  if border not in _BORDERS:
    raise ValueError(f"border must be one of {sorted(_BORDERS)}, got "
                     f"{border!r}.")
  x, y = _pair(ref, dist)
  k = _kernel(sigma, window)
  if len(k) > min(x.shape[-3:-1]):
    raise ValueError(f"the {len(k)}-tap window exceeds the image "
                     f"{x.shape[-3:-1]}.")
  mode = _BORDERS[border]
  ux, uy = _filter(x, k, mode), _filter(y, k, mode)
  vx = _filter(x * x, k, mode) - ux * ux
  vy = _filter(y * y, k, mode) - uy * uy
  vxy = _filter(x * y, k, mode) - ux * uy
  c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
  return ((2 * ux * uy + c1) * (2 * vxy + c2)) / (
      (ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(ref, dist, *, data_range: float = 1.0, sigma: float = 1.5,
         window: int | None = None, k1: float = 0.01, k2: float = 0.03,
         border: str = "reflect") -> jax.Array:
  """(...,) mean SSIM: cropped as scikit-image ("reflect"), or the mean of
  the valid map ("valid")."""
  m = ssim_map(ref, dist, data_range=data_range, sigma=sigma, window=window,
               k1=k1, k2=k2, border=border)
  if border == "reflect":
    pad = (len(_kernel(sigma, window)) - 1) // 2
    h, w = m.shape[-3:-1]
    m = m[..., pad:h - pad, pad:w - pad, :]
  return jnp.mean(m, axis=(-3, -2, -1))
