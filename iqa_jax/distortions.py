"""Synthetic distortions, deterministic for the same arguments (and key).

Images are (H, W, 3) float in [0, 1]. The codecs (JPEG, JPEG 2000) run on the
host through Pillow (libjpeg, OpenJPEG) on the 8-bit rounding of the image and
return the decoded result; blur and noise are pure JAX.

  jpeg(image, quality=10)                      libjpeg, 4:2:0 chroma subsampling
  jpeg2000(image, ratio=64)                    OpenJPEG, one layer at ratio:1
  gaussian_blur(image, sigma=2.0)              separable, reflected borders
  gaussian_noise(key, image, sigma=0.05)       additive white, clipped to [0, 1]
"""

from __future__ import annotations

import io
import math

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from iqa_jax import images as images_lib

__all__ = ["jpeg", "jpeg2000", "gaussian_blur", "gaussian_noise"]


def _codec_round_trip(image, fmt: str, **options) -> np.ndarray:
  a = np.asarray(image)
  if a.ndim != 3 or a.shape[-1] != 3:
    raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}.")
  buf = io.BytesIO()
  Image.fromarray(images_lib.to_uint8(a)).save(buf, format=fmt, **options)
  return images_lib.decode(buf.getvalue(), name=f"<{fmt} round trip>")


def jpeg(image, *, quality: int) -> np.ndarray:
  """JPEG compression at `quality` (1-95, libjpeg's scale), decoded back."""
  if not 1 <= int(quality) <= 100:
    raise ValueError(f"quality must be in [1, 100], got {quality}.")
  return _codec_round_trip(image, "JPEG", quality=int(quality),
                           subsampling="4:2:0", optimize=False)


def jpeg2000(image, *, ratio: float) -> np.ndarray:
  """JPEG 2000 compression at `ratio`:1 (one quality layer), decoded back."""
  if not ratio > 1:
    raise ValueError(f"ratio must be > 1, got {ratio}.")
  return _codec_round_trip(image, "JPEG2000", quality_mode="rates",
                           quality_layers=[float(ratio)], irreversible=True)


def gaussian_blur(image: jax.Array, *, sigma: float,
                  truncate: float = 4.0) -> jax.Array:
  """Gaussian blur of an (H, W, C) or (N, H, W, C) image.

  Equals `scipy.ndimage.gaussian_filter(image, (sigma, sigma, 0),
  mode="reflect", truncate=truncate)` per image; `sigma` is static.
  """
  if sigma <= 0:
    raise ValueError(f"sigma must be > 0, got {sigma}.")
  k = jnp.asarray(images_lib.gaussian_kernel(sigma, truncate=truncate),
                  jnp.float32)
  r = (k.shape[0] - 1) // 2
  x = jnp.asarray(image, jnp.float32)
  batched = x.ndim == 4
  if not batched:
    x = x[None]
  n, h, w, c = x.shape
  if r >= min(h, w):
    raise ValueError(f"sigma={sigma} needs a kernel radius of {r} pixels, "
                     f"too large for a {h} x {w} image.")
  x = jnp.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="symmetric")
  # Depthwise separable convolution: channels become batch entries.
  x = jnp.transpose(x, (0, 3, 1, 2)).reshape(n * c, 1, h + 2 * r, w + 2 * r)
  dn = ("NCHW", "OIHW", "NCHW")
  hp = jax.lax.Precision.HIGHEST
  x = jax.lax.conv_general_dilated(x, k[None, None, :, None], (1, 1), "VALID",
                                   dimension_numbers=dn, precision=hp)
  x = jax.lax.conv_general_dilated(x, k[None, None, None, :], (1, 1), "VALID",
                                   dimension_numbers=dn, precision=hp)
  x = jnp.transpose(x.reshape(n, c, h, w), (0, 2, 3, 1))
  return x if batched else x[0]


def gaussian_noise(key: jax.Array, image: jax.Array, *,
                   sigma: float) -> jax.Array:
  """Additive white Gaussian noise of std `sigma`, then clipped to [0, 1].

  The clip is part of the distortion: a stored 8-bit image cannot leave the
  range either. The same key gives the same noise.
  """
  if not sigma >= 0 or math.isinf(sigma):
    raise ValueError(f"sigma must be a finite number >= 0, got {sigma}.")
  image = jnp.asarray(image, jnp.float32)
  noise = sigma * jax.random.normal(key, image.shape, jnp.float32)
  return jnp.clip(image + noise, 0.0, 1.0)
