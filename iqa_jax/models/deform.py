"""Deformable convolution v1 (Dai et al., ICCV 2017) as a pure JAX function,
with torchvision's conventions, and its NNX layer.

  y = deform_conv2d(x, offset, kernel, bias, padding=1)   # (N, Ho, Wo, O)
  layer = DeformConv(256, 256, 3, rngs=nnx.Rngs(0)); y = layer(x, offset)

For output position (y, x), kernel tap k = i * kw + j and input channel c of
offset group g = c // (C / G), the sample is taken at

  p_y = y * s_h - pad_h + i * d_h + offset[..., 2 (g K + k)]
  p_x = x * s_w - pad_w + j * d_w + offset[..., 2 (g K + k) + 1]

by bilinear interpolation over the unpadded map with zeros outside it (a
corner outside the map contributes 0; a point at or beyond -1 / H on either
axis is 0), exactly `torchvision.ops.deform_conv2d`'s definition (dy before
dx, offset groups in the channel order). Then
y[o] = bias[o] + sum_{k, c} kernel[i, j, c, o] sample[k, c].

Layouts are ours: x (N, H, W, C) and offset (N, Ho, Wo, 2 G kh kw) channels
last, kernel HWIO (kh, kw, C, O). The function is jittable, differentiable
in x, offset, kernel and bias (the gradient of the bilinear weights in the
offsets is torchvision's), and batches under `vmap`. The samples are
gathered (4 corners, one gather each) into (N, Ho, Wo, K, C) columns and
contracted with the kernel in one matmul; no Python loop over positions.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["deform_conv2d", "DeformConv", "output_size"]


def _pair(v) -> tuple[int, int]:
  return (v, v) if isinstance(v, int) else tuple(v)


def output_size(size: int, k: int, stride: int, padding: int,
                dilation: int) -> int:
  return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _corners(py, px, h: int, w: int):
  """The four bilinear corners of points (py, px) on an h x w map: (flat
  index, weight, inside the map) each, the weight 0 where the point is at
  or beyond -1 / h, w on either axis (torchvision's cut-off)."""
  y0, x0 = jnp.floor(py), jnp.floor(px)
  ly, lx = py - y0, px - x0
  y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)
  inside = (py > -1) & (py < h) & (px > -1) & (px < w)
  for dy, dx, wgt in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx),
                      (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
    yy, xx = y0 + dy, x0 + dx
    ok = inside & (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
    yield yy * w + xx, jnp.where(ok, wgt, 0.0), ok


def _bilinear_gather(x, py, px):
  """Zero-padded bilinear samples of x (N, H, W, G, Cg) at py, px
  (N, P, G): (N, P, G, Cg), one gather per corner."""
  n, h, w, g, cg = x.shape
  flat = x.reshape(n, h * w, g, cg)
  out = 0.0
  for idx, wgt, _ in _corners(py, px, h, w):
    v = jnp.take_along_axis(flat, jnp.clip(idx, 0, h * w - 1)[..., None],
                            axis=1)                           # N P G Cg
    out = out + v * wgt[..., None].astype(v.dtype)
  return out


def _bilinear_dense(x, py, px):
  """The same samples as `_bilinear_gather`, as a product with the (N, P,
  G, H W) interpolation matrix (4 non-zeros per row): for small maps,
  where XLA's gather and its scatter-add gradient are slow on CPU."""
  n, h, w, g, cg = x.shape
  cells = jnp.arange(h * w)
  mat = 0.0
  for idx, wgt, ok in _corners(py, px, h, w):
    hit = (jnp.where(ok, idx, -1)[..., None] == cells)      # N P G HW
    mat = mat + jnp.where(hit, wgt[..., None], 0.0)
  return jnp.einsum("npgq,nqgc->npgc", mat.astype(x.dtype),
                    x.reshape(n, h * w, g, cg))


# Maps of at most this many pixels sample through the dense interpolation
# matrix; larger ones gather.
DENSE_MAX_PIXELS = 256


def deform_conv2d(x: jax.Array, offset: jax.Array, kernel: jax.Array,
                  bias: jax.Array | None = None, *, stride=1, padding=0,
                  dilation=1, method: str = "auto") -> jax.Array:
  """Deformable convolution v1 (module docstring).

  Args:
    x: (N, H, W, C) input.
    offset: (N, Ho, Wo, 2 G kh kw): [dy, dx] per offset group and tap.
    kernel: (kh, kw, C, O).
    bias: (O,) or None.
    stride, padding, dilation: ints or (h, w) pairs, as torch's.
    method: "gather" (4 gathers of the corners), "dense" (a product with
      the interpolation matrix, for small maps: XLA's gather and its
      scatter-add gradient are slow on CPU) or "auto" (dense up to
      `DENSE_MAX_PIXELS` input pixels). Both compute the same function.

  Returns:
    (N, Ho, Wo, O).
  """
  (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
  n, h, w, c = x.shape
  kh, kw, cin, cout = kernel.shape
  if cin != c:
    raise ValueError(f"kernel takes {cin} input channels, x has {c}.")
  ho, wo = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
  k = kh * kw
  if offset.shape[:3] != (n, ho, wo) or offset.shape[3] % (2 * k):
    raise ValueError(f"offset must be (N, Ho, Wo, 2 G kh kw) = ({n}, {ho}, "
                     f"{wo}, 2 G {k}), got {offset.shape}.")
  g = offset.shape[3] // (2 * k)
  if c % g:
    raise ValueError(f"{g} offset groups do not divide {c} channels.")
  off = offset.reshape(n, ho, wo, g, k, 2).astype(jnp.promote_types(
      offset.dtype, jnp.float32))
  ti, tj = jnp.divmod(jnp.arange(k), kw)                  # tap rows, cols
  base_y = (jnp.arange(ho) * sh - ph)[:, None] + ti[None] * dh   # Ho K
  base_x = (jnp.arange(wo) * sw - pw)[:, None] + tj[None] * dw   # Wo K
  py = base_y[None, :, None, None, :] + off[..., 0]      # N Ho Wo G K
  px = base_x[None, None, :, None, :] + off[..., 1]
  p = lambda a: jnp.moveaxis(a, 3, 4).reshape(n, ho * wo * k, g)
  if method == "auto":
    method = "dense" if h * w <= DENSE_MAX_PIXELS else "gather"
  sample = {"gather": _bilinear_gather, "dense": _bilinear_dense}.get(method)
  if sample is None:
    raise ValueError(f"method must be auto, gather or dense, got "
                     f"{method!r}.")
  cols = sample(x.reshape(n, h, w, g, c // g), p(py), p(px))
  cols = cols.reshape(n, ho, wo, k * c)                   # (tap, channel)
  y = cols @ kernel.reshape(k * c, cout).astype(cols.dtype)
  return y if bias is None else y + bias.astype(y.dtype)


class DeformConv(nnx.Module):
  """A deformable convolution layer (torchvision's DeformConv2d): kernel
  and bias initialised as torch's (uniform within 1 / sqrt(fan_in));
  the offsets come from the caller."""

  def __init__(self, cin: int, cout: int, kernel_size: int = 3, *,
               stride: int = 1, padding: int = 1, dilation: int = 1,
               rngs: nnx.Rngs):
    bound = 1 / math.sqrt(cin * kernel_size ** 2)
    self.kernel = nnx.Param(jax.random.uniform(
        rngs.params(), (kernel_size, kernel_size, cin, cout),
        minval=-bound, maxval=bound))
    self.bias = nnx.Param(jax.random.uniform(
        rngs.params(), (cout,), minval=-bound, maxval=bound))
    self.stride, self.padding, self.dilation = stride, padding, dilation

  def __call__(self, x: jax.Array, offset: jax.Array) -> jax.Array:
    return deform_conv2d(x, offset, self.kernel[...], self.bias[...],
                         stride=self.stride, padding=self.padding,
                         dilation=self.dilation)
