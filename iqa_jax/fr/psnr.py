"""PSNR and a local mean-squared-error map, batched over image pairs.

  psnr(ref, dist, data_range=1.0)      # (..., H, W, C) -> (...,)
  mse_map(ref, dist, window=7)          # (..., H - w + 1, W - w + 1)

PSNR = 10 log10(data_range^2 / MSE) over all pixels and channels, as
`skimage.metrics.peak_signal_noise_ratio`. The map averages (ref - dist)^2
over the channels and a window x window neighbourhood ("valid" positions
only): the local MSE that SMIC's PSNR variant weights by its attention.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["psnr", "mse_map"]


def _pair(ref, dist):
  ref, dist = jnp.asarray(ref), jnp.asarray(dist)
  if ref.shape != dist.shape or ref.ndim < 3:
    raise ValueError(f"ref and dist must share a shape (..., H, W, C), got "
                     f"{ref.shape} and {dist.shape}.")
  dtype = jnp.result_type(ref.dtype, dist.dtype, jnp.float32)
  return ref.astype(dtype), dist.astype(dtype)


def psnr(ref, dist, *, data_range: float = 1.0) -> jax.Array:
  """(...,) PSNR in dB of (..., H, W, C) image pairs (inf when identical)."""
  ref, dist = _pair(ref, dist)
  mse = jnp.mean((ref - dist) ** 2, axis=(-3, -2, -1))
  return 10.0 * jnp.log10(data_range ** 2 / mse)


def mse_map(ref, dist, *, window: int = 7) -> jax.Array:
  """(..., H - window + 1, W - window + 1) local MSE (box window, valid)."""
  ref, dist = _pair(ref, dist)
  sq = jnp.mean((ref - dist) ** 2, axis=-1)
  if window < 1 or window > min(sq.shape[-2:]):
    raise ValueError(f"window {window} does not fit the image "
                     f"{sq.shape[-2:]}.")
  c = jnp.cumsum(jnp.cumsum(jnp.pad(sq, [(0, 0)] * (sq.ndim - 2)
                                    + [(1, 0), (1, 0)]), -2), -1)
  w = window
  total = c[..., w:, w:] - c[..., :-w, w:] - c[..., w:, :-w] + c[..., :-w, :-w]
  return total / (w * w)
