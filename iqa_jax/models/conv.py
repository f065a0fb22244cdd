"""`apply_conv`: an `nnx.Conv` forward that avoids XLA:CPU's slow cases.

XLA's CPU convolution takes about 100x longer for a 3 x 3 kernel over a 2 x 2
map (stage 4 of ResNet-50 or stage 5 of VGG16 on 32-64 pixel patches) than
the same product written as a matmul (380 ms against 4.6 ms for a batch of
32 at 512 channels; `benchmarks/embed.py`). So: 1 x 1 kernels run as a
matmul over channels, k x k kernels on output maps of at most 4 x 4 as an
explicit im2col matmul, and everything else as the native convolution. The
results equal `conv(x)` to float rounding. Padding is k // 2 (the "same"
padding of torchvision's VGG and ResNet layers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["apply_conv"]

_SMALL_MAP = 16   # output pixels at or below which im2col is used


def apply_conv(conv: nnx.Conv, x: jax.Array) -> jax.Array:
  """`conv(x)` for a square kernel with padding k // 2."""
  k = conv.kernel_size[0]
  s = conv.strides if isinstance(conv.strides, int) else conv.strides[0]
  n, h, w, c = x.shape
  p = k // 2
  ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
  if k > 1 and ho * wo > _SMALL_MAP:
    return conv(x)
  dtype = conv.dtype or x.dtype
  x = x.astype(dtype)
  kernel = conv.kernel[...].astype(dtype)
  if k == 1:  # a 1x1 convolution is a matmul over channels
    y = jnp.einsum("nhwc,cd->nhwd", x[:, ::s, ::s], kernel[0, 0])
  else:
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    cols = [xp[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
            for i in range(k) for j in range(k)]
    y = jnp.einsum("nhwc,cd->nhwd", jnp.concatenate(cols, -1),
                   kernel.reshape(k * k * c, -1))
  if conv.bias is not None:
    y = y + conv.bias[...].astype(dtype)
  return y
