"""DISTS (Ding et al., TPAMI 2020) and its SMIC version (source text 003).

  d = dists(ref, dist)                # (N,) pretrained VGG16, learned alpha/beta
  s = dists_smic(ref, dist)           # (N,) the official SMIC code

ref, dist: (N, H, W, 3) RGB in [0, 1]. DISTS: six feature sets per image,
the input itself and relu1_2 ... relu5_3 of VGG16 with Hann L2 pooling fed
ImageNet-normalised input (chns 3, 64, 128, 256, 512, 512: 1475 in all).
For every channel, with global means mu, variances s^2 and covariance s_xy
over the map and c1 = c2 = 1e-6,

  S1 = (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1)     (texture)
  S2 = (2 s_xy + c2) / (s_x^2 + s_y^2 + c2)             (structure)

and DISTS = 1 - sum_c (alpha_c S1_c + beta_c S2_c) / (sum alpha + sum beta),
a distance. alpha, beta: the learned weights of the official package
(`weights.load_dists`, shipped inside iqa_jax).

DISTS-SMIC follows the official code (KANGX99/SMIC, `DISTS_SMIC.py`; see
../shared/notes/authors_code.md, s. 1): the same network fed [0, 1] without
ImageNet normalisation; the input, relu1_2, relu2_2 and relu5_3 keep their
global alpha/beta terms (still normalised by the sum over all six layers);
relu3_3 and relu4_3 each add (1 / P) sum_p (1 - MIC_p) (2 - S1_p - S2_p),
S1_p and S2_p computed over each 7 x 7, stride-6 window and averaged
uniformly over channels, MIC_p from that layer's projected window
(`smic.layer_attention`). Lower is better.

Minimum input: 16 x 16 for DISTS (relu5_3 1 x 1), 49 x 49 for DISTS-SMIC
(one 7 x 7 window on relu4_3, whose side is ceil(H / 8) with L2 pooling).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from iqa_jax.fr import smic
from iqa_jax.models.vgg import LAYERS as VGG_LAYERS
from iqa_jax.models.vgg import imagenet_normalise

__all__ = ["DistsWeights", "dists", "dists_smic", "dists_mic", "default_weights",
           "MIN_SIZE", "CHANNELS"]

CHANNELS = (3, 64, 128, 256, 512, 512)
MIN_SIZE = {"dists": 16, "smic": 49}
_C1 = _C2 = 1e-6


class DistsWeights(NamedTuple):
  """The learned (1475,) alpha and beta, in `CHANNELS` order."""
  alpha: jax.Array
  beta: jax.Array


@functools.lru_cache(maxsize=1)
def default_weights() -> DistsWeights:
  """DISTS-pytorch 0.1's alpha and beta (`weights.load_dists`)."""
  from iqa_jax import weights  # pylint: disable=g-import-not-at-top
  w = weights.load_dists()
  return DistsWeights(jnp.asarray(w["alpha"]), jnp.asarray(w["beta"]))


def _features(vgg, ref, dist, *, normalise):
  """[(f_ref, f_dist)] for the input and the five L2-pooled ReLU layers."""
  n = ref.shape[0]
  x = jnp.concatenate([ref, dist])
  feats = vgg(imagenet_normalise(x) if normalise else x, layers=VGG_LAYERS,
              pool="l2")
  return [(ref, dist)] + [(feats[k][:n], feats[k][n:]) for k in VGG_LAYERS]


def _split(w):
  out, start = [], 0
  for c in CHANNELS:
    out.append(w[start:start + c])
    start += c
  return out


def _s1_s2(x, y, axes):
  """(S1, S2) per channel: means, variances, covariance over `axes`."""
  mx, my = jnp.mean(x, axes), jnp.mean(y, axes)
  vx = jnp.mean((x - jnp.expand_dims(mx, axes)) ** 2, axes)
  vy = jnp.mean((y - jnp.expand_dims(my, axes)) ** 2, axes)
  cov = jnp.mean(x * y, axes) - mx * my
  s1 = (2 * mx * my + _C1) / (mx ** 2 + my ** 2 + _C1)
  s2 = (2 * cov + _C2) / (vx + vy + _C2)
  return s1, s2


def _global_terms(pairs, weights, layers):
  """sum over `layers` of sum_c (alpha S1 + beta S2), weights normalised by
  the sum over all six layers."""
  total = jnp.sum(weights.alpha) + jnp.sum(weights.beta)
  alpha, beta = _split(weights.alpha / total), _split(weights.beta / total)
  out = 0.0
  for k in layers:
    s1, s2 = _s1_s2(*pairs[k], axes=(1, 2))               # (N, C)
    out = out + s1 @ alpha[k] + s2 @ beta[k]
  return out


def dists(ref: jax.Array, dist: jax.Array, *, vgg=None,
          weights: DistsWeights | None = None) -> jax.Array:
  """(N,) DISTS of (N, H, W, 3) pairs in [0, 1] (a distance in [0, 1]).
  vgg: default the pretrained VGG16; weights: the official alpha/beta.
  Minimum size 16 x 16."""
  ref, dist = smic.check_pair(ref, dist, min_size=MIN_SIZE["dists"],
                              metric="DISTS")
  vgg = smic.default_vgg() if vgg is None else vgg
  weights = default_weights() if weights is None else weights
  pairs = _features(vgg, ref, dist, normalise=True)
  return 1.0 - _global_terms(pairs, weights, range(6))


def _smic_parts(ref, dist, *, vgg, weights, projections, patch, stride,
                alpha, c, attention):
  """(the unweighted layers' part (N,), {layer: (window term, attention)},
  each (N, gh, gw)) of DISTS-SMIC."""
  smic._check_kind(attention)  # pylint: disable=protected-access
  ref, dist = smic.check_pair(
      ref, dist, min_size=MIN_SIZE["smic"],
      metric="DISTS-SMIC" if attention == "smic" else "DISTS w/ MIC")
  vgg = smic.default_vgg() if vgg is None else vgg
  weights = default_weights() if weights is None else weights
  if attention == "smic" and projections is None:
    projections = smic.default_projections()
  pixel = (smic.pixel_attention(ref, dist, alpha=alpha, c=c)
           if attention == "mic" else None)
  pairs = _features(vgg, ref, dist, normalise=False)
  base = 1.0 - _global_terms(pairs, weights, (0, 1, 2, 5))
  layers = {}
  for i, (k, layer) in enumerate(zip((3, 4), smic.LAYERS)):
    f0, f1 = pairs[k]
    a = smic.window_attention(
        f0, f1, None if pixel is not None else projections[i], pixel=pixel,
        patch=patch, stride=stride, alpha=alpha, c=c)          # (N, gh, gw)
    w0 = smic.unfold(f0, patch=patch, stride=stride)          # (N, gh, gw, C, p^2)
    w1 = smic.unfold(f1, patch=patch, stride=stride)
    s1, s2 = _s1_s2(w0, w1, axes=-1)                           # (N, gh, gw, C)
    layers[layer] = (2.0 - jnp.mean(s1, -1) - jnp.mean(s2, -1), a)
  return base, layers


def dists_smic(ref: jax.Array, dist: jax.Array, *, vgg=None,
               weights: DistsWeights | None = None,
               projections: smic.Projections | None = None, patch: int = 7,
               stride: int = 6, alpha: float = 0.5, c: float = 10.0,
               attention: str = "smic") -> jax.Array:
  """(N,) DISTS-SMIC of (N, H, W, 3) pairs in [0, 1], as the official code
  computes it (module docstring; lower is better). Projections and MIC
  options as `smic.attention` (the official stride here is 6);
  attention="mic": Table II's pixel-domain baseline. Minimum size 49 x 49.
  `dists_smic.maps` gives {layer: (window term, attention)}, each
  (N, gh, gw), as pooled here."""
  base, layers = _smic_parts(ref, dist, vgg=vgg, weights=weights,
                             projections=projections, patch=patch,
                             stride=stride, alpha=alpha, c=c,
                             attention=attention)
  return base + sum(jnp.mean(a * t, axis=(1, 2)) for t, a in layers.values())


dists_smic.maps = smic.parts_maps(_smic_parts, dists_smic)
dists_mic = smic.with_mic(dists_smic, name="dists_mic")
