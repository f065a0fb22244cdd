"""DeepWSD (Liao et al., ACM MM 2022) and its SMIC version (source text 003).

  d = deepwsd(ref, dist)              # (N,) training-free, pretrained VGG16
  s = deepwsd_smic(ref, dist)         # (N,) the official SMIC code

ref, dist: (N, H, W, 3) RGB in [0, 1], as the official code (Buka-Xing/
DeepWSD, MIT) feeds them after its `prepare_image` (a resize to 256 x 256
when 512 < max(H, W) < 1000: `fr.preprocess` "deepwsd", which `fr.get`
applies). Then, inside the metric:

1. Downsampling: f = max(1, round(max(H, W) / 256)) (NumPy's round: halves
   to even); an f x f average pool with stride f; window 16 if f >= 5,
   else 4.
2. Six feature sets: the image itself and relu1_2 ... relu5_3 of VGG16 with
   Hann L2 pooling, fed [0, 1] without ImageNet normalisation.
3. Each (C, h, w) map is zero-padded to round(h / win) win rows (at the
   bottom) and round(w / win) win columns (at the left); Python's round, so
   a negative padding crops.
4. ws_distance: the padded map's memory in (C, h, w) order is read as a
   (win^2, C h w / win^2) table; every column is a distribution over the
   positions 0 ... win^2 - 1 with weights x^2 / (sum(x) + 1e-6) (the sum
   over the whole map). With W = POT's wasserstein_1d(p=2) of a column pair
   (`iqa_jax.wasserstein`) and L2 the squared distance of the two columns,
   the layer adds sum over columns of W + L2 / (sqrt(exp(-1 / (W + 10)))
   (W + 10)^2).
5. s = (sum of the six layers) / 6; DeepWSD = log(s + 1), squared when
   f > 1 (the official output for quality assessment). Lower is better.

DeepWSD-SMIC follows the official SMIC code (KANGX99/SMIC, `DeepWSD_SMIC.py`;
../shared/notes/authors_code.md, s. 1): the input, relu1_2, relu2_2 and
relu5_3 each add log(ws_distance + 1); relu3_3 and relu4_3 are cut, after
their padding, into 4 x 4 windows (stride 4), and each window adds
(1 - MIC_p) ws_p, ws_p the window's ws_distance (its (C, 4, 4) memory read
as a (16, C) table) normalised by the whole layer's sums, MIC_p from the
window of the 32 projected channels (16 values: libmine's only grid is
2 x 2); the windows are summed, not averaged. Then s / 6 -> log(s + 1),
squared when f > 1.

Minimum input: after the downsampling, the relu5_3 map must keep a window:
ceil(side / f / 16) >= 3 with window 4 (33 pixels at f = 1), >= 9 with
window 16. `plan(H, W)` gives f, the window and the check.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import wasserstein
from iqa_jax.fr import smic
from iqa_jax.models.vgg import LAYERS as VGG_LAYERS

__all__ = ["Plan", "plan", "deepwsd", "deepwsd_smic", "deepwsd_mic", "ws_distance",
           "MIN_SIZE"]

MIN_SIZE = 33   # at f = 1
_SMIC_PATCH = 4


class Plan(NamedTuple):
  """The official downsampling of an H x W pair: factor f, window win, and
  the map sides (h, w) of the six layers after it."""
  f: int
  win: int
  sides: tuple


def _pool_side(s):
  return (s - 1) // 2 + 1      # L2 pooling: stride 2, padding 1, kernel 3


def plan(height: int, width: int) -> Plan:
  """The official downsampling rule for an H x W pair; raises ValueError,
  naming the minimum, when a layer would keep no window."""
  f = int(max(1, np.round(max(height, width) / 256)))
  win = 16 if f >= 5 else 4
  h, w = height // f, width // f
  sides = [(h, w), (h, w)]
  for _ in range(4):
    h, w = _pool_side(h), _pool_side(w)
    sides.append((h, w))
  last = sides[-1]
  if min(round(last[0] / win), round(last[1] / win)) < 1:
    need = (win // 2 + 1) * 16 - 15
    raise ValueError(
        f"DeepWSD needs the relu5_3 map of an image, after its downsampling "
        f"by f = {f}, to hold a {win} x {win} window: a {height} x {width} "
        f"pair gives {last[0]} x {last[1]}; the short side must be at least "
        f"{need * f} pixels here ({MIN_SIZE} at f = 1).")
  return Plan(f, win, tuple(sides))


def _downsample(x, f):
  if f == 1:
    return x
  n, h, w, c = x.shape
  ho, wo = h // f, w // f
  x = x[:, :ho * f, :wo * f].reshape(n, ho, f, wo, f, c)
  return jnp.sum(x * (1.0 / (f * f)), axis=(2, 4))


def _pad(x, win):
  """(N, h, w, C) zero-padded (or cropped) to round(h / win) win rows at the
  bottom and round(w / win) win columns at the left."""
  _, h, w, _ = x.shape
  dr, dc = round(h / win) * win - h, round(w / win) * win - w
  x = x[:, :h + dr] if dr < 0 else jnp.pad(x, ((0, 0), (0, dr), (0, 0),
                                               (0, 0)))
  x = x[:, :, -dc:] if dc < 0 else jnp.pad(x, ((0, 0), (0, 0), (dc, 0),
                                               (0, 0)))
  return x


def ws_distance(x: jax.Array, y: jax.Array, *, win: int = 4,
                x_sum: jax.Array | None = None,
                y_sum: jax.Array | None = None) -> jax.Array:
  """(N,) the official `ws_distance` of (N, h, w, C) maps whose sides are
  multiples of `win` (step 4 of the module docstring). x_sum, y_sum: the
  normalisers (default each map's own sum; DeepWSD-SMIC passes the layer's).
  """
  n = x.shape[0]
  x_sum = jnp.sum(x, axis=(1, 2, 3)) if x_sum is None else x_sum
  y_sum = jnp.sum(y, axis=(1, 2, 3)) if y_sum is None else y_sum
  k = win * win
  tx = jnp.transpose(x, (0, 3, 1, 2)).reshape(n, k, -1)
  ty = jnp.transpose(y, (0, 3, 1, 2)).reshape(n, k, -1)
  return _table_distance(tx, ty, x_sum, y_sum)


def _table_distance(tx, ty, x_sum, y_sum):
  """(...,) sum over the columns of (..., k, M) tables of W + L2 w."""
  k = tx.shape[-2]
  extra = (None, None)
  wx = tx * (tx / (x_sum[(...,) + extra] + 1e-6))
  wy = ty * (ty / (y_sum[(...,) + extra] + 1e-6))
  # positions 0 ... k - 1 on axis 0, every other axis a column
  wsd = wasserstein.wasserstein_1d_grid(wx, wy, axis=-2)
  # (a sum over a major axis as a matmul: much faster on XLA:CPU)
  l2 = jnp.einsum("k,...km->...m", jnp.ones((k,), tx.dtype), (tx - ty) ** 2,
                  precision=jax.lax.Precision.HIGHEST)
  w = 1.0 / (jnp.sqrt(jnp.exp(-1.0 / (wsd + 10.0))) * (wsd + 10.0) ** 2)
  return jnp.sum(wsd + l2 * w, axis=-1)


def _features(vgg, ref, dist, f):
  n = ref.shape[0]
  x = _downsample(jnp.concatenate([ref, dist]), f)
  feats = vgg(x, layers=VGG_LAYERS, pool="l2")
  return [(x[:n], x[n:])] + [(feats[k][:n], feats[k][n:]) for k in VGG_LAYERS]


def _finish(s, f):
  out = jnp.log(s + 1.0)
  return out if f == 1 else out ** 2


def deepwsd(ref: jax.Array, dist: jax.Array, *, vgg=None) -> jax.Array:
  """(N,) DeepWSD of (N, H, W, 3) pairs in [0, 1] (module docstring; lower
  is better). vgg: default the pretrained VGG16. Minimum size: `plan`."""
  ref, dist = smic.check_pair(ref, dist)
  p = plan(*ref.shape[1:3])
  vgg = smic.default_vgg() if vgg is None else vgg
  total = 0.0
  for f0, f1 in _features(vgg, ref, dist, p.f):
    total = total + ws_distance(_pad(f0, p.win), _pad(f1, p.win), win=p.win)
  return _finish(total / 6.0, p.f)


def _smic_parts(ref, dist, *, vgg, projections, alpha, c, attention):
  """(the unweighted layers' sum (N,), {layer: (window ws, attention)},
  each (N, gh, gw), the plan) of DeepWSD-SMIC before `_finish`."""
  smic._check_kind(attention)  # pylint: disable=protected-access
  ref, dist = smic.check_pair(ref, dist)
  p = plan(*ref.shape[1:3])
  vgg = smic.default_vgg() if vgg is None else vgg
  if attention == "smic" and projections is None:
    projections = smic.default_projections()
  pixel = (smic.pixel_attention(ref, dist, alpha=alpha, c=c)
           if attention == "mic" else None)
  pairs = _features(vgg, ref, dist, p.f)
  base = 0.0
  for k in (0, 1, 2, 5):
    f0, f1 = pairs[k]
    base = base + jnp.log(ws_distance(_pad(f0, p.win), _pad(f1, p.win),
                                      win=p.win) + 1.0)
  layers = {}
  for i, (k, layer) in enumerate(zip((3, 4), smic.LAYERS)):
    f0, f1 = _pad(pairs[k][0], p.win), _pad(pairs[k][1], p.win)
    a = smic.window_attention(
        f0, f1, None if pixel is not None else projections[i], pixel=pixel,
        patch=_SMIC_PATCH, stride=_SMIC_PATCH, alpha=alpha, c=c)
    q = _SMIC_PATCH * _SMIC_PATCH
    w0 = smic.unfold(f0, patch=_SMIC_PATCH, stride=_SMIC_PATCH)
    w1 = smic.unfold(f1, patch=_SMIC_PATCH, stride=_SMIC_PATCH)
    n, gh, gw, ch, _ = w0.shape
    # a window's (C, 4, 4) memory read as a (16, C) table
    t0, t1 = w0.reshape(n, gh, gw, q, ch), w1.reshape(n, gh, gw, q, ch)
    s0 = jnp.sum(f0, axis=(1, 2, 3))[:, None, None]
    s1 = jnp.sum(f1, axis=(1, 2, 3))[:, None, None]
    ws = _table_distance(t0, t1, jnp.broadcast_to(s0, (n, gh, gw)),
                         jnp.broadcast_to(s1, (n, gh, gw)))
    layers[layer] = (ws, a)
  return base, layers, p


def deepwsd_smic(ref: jax.Array, dist: jax.Array, *, vgg=None,
                 projections: smic.Projections | None = None,
                 alpha: float = 0.5, c: float = 10.0,
                 attention: str = "smic") -> jax.Array:
  """(N,) DeepWSD-SMIC of (N, H, W, 3) pairs in [0, 1], as the official SMIC
  code computes it (module docstring; lower is better); attention="mic":
  Table II's pixel-domain baseline. Minimum size: `plan`.
  `deepwsd_smic.maps` gives {layer: (window ws, attention)}, each
  (N, gh, gw), whose products are summed here."""
  base, layers, p = _smic_parts(ref, dist, vgg=vgg, projections=projections,
                                alpha=alpha, c=c, attention=attention)
  total = base + sum(jnp.sum(a * t, axis=(1, 2)) for t, a in layers.values())
  return _finish(total / 6.0, p.f)


deepwsd_smic.maps = smic.parts_maps(_smic_parts, deepwsd_smic)
deepwsd_mic = smic.with_mic(deepwsd_smic, name="deepwsd_mic")
