"""iqa_jax: image quality assessment in JAX.

Subpackages load on first use (`iqa_jax.fr` never imports TensorFlow
Datasets; `iqa_jax.data` does). In data-flow order:

  iqa_jax.data          datasets (TFDS builders, demo sets) and splits
  iqa_jax.images        decoding, resizing, patches, grey levels
  iqa_jax.distortions   JPEG, JPEG 2000, Gaussian blur, white noise
  iqa_jax.sphere        ERP geometry, gnomonic viewports, cubemaps
  iqa_jax.sampling      samplers by name: ERP / LAT / SP, 2-D samplers
  iqa_jax.embed         patch embeddings (iqa_jax.models: VGG16, ResNet-50)
  iqa_jax.selection     selectors by name: the W/R solver, 000's selectors
  iqa_jax.training      the training core (TrainState, step, loop)
  iqa_jax.regression    the patch regressor of source text 001 on it
  iqa_jax.pooling       patch scores -> image scores
  iqa_jax.fr            full-reference metrics (PSNR, SSIM, SMIC versions)
  iqa_jax.mic           batched maximal information coefficient
  iqa_jax.stats         SRCC/KRCC/PLCC/RMSE, 4PL/5PL fits, aggregation
  iqa_jax.parallel      the mesh and the sharded batch loop
  iqa_jax.results       run work directories: config, tables, plots
  iqa_jax.distill360    the experiment (`iqa-jax demo`, `iqa-jax distill360`)
"""

from __future__ import annotations

import importlib

from iqa_jax._version import __version__

_SUBMODULES = (
    "checkpoint", "data", "distill360", "distortions", "embed", "embed_cache",
    "fr", "images", "mic", "models", "parallel", "paths", "pooling",
    "registry", "regression", "results", "sampling", "score_files", "selection",
    "sphere", "stats", "training", "weights",
)

# iqa_jax.stats's evaluation functions, re-exported (loaded with SciPy on
# first use).
_STATS = ("aggregate", "evaluate", "fit_logistic", "krcc", "plcc", "rmse",
          "srcc")

__all__ = ["__version__", *_STATS, *_SUBMODULES]


def __getattr__(name: str):
  if name in _SUBMODULES:
    return importlib.import_module(f"iqa_jax.{name}")
  if name in _STATS:
    return getattr(importlib.import_module("iqa_jax.stats"), name)
  raise AttributeError(f"module 'iqa_jax' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_SUBMODULES) | set(_STATS))
