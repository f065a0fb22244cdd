"""iqa_jax: image quality assessment in JAX.

Public API (explicit; submodules are importable on their own):

  iqa_jax.stats         SRCC/KRCC/PLCC/RMSE, 4PL/5PL logistic fits, aggregation
  iqa_jax.data          datasets (TFDS builders, demo sets) and splits
  iqa_jax.results       run work directories: config, versions, tables, plots
  iqa_jax.score_files   per-image score CSV files

  iqa_jax.images        decoding, resizing, patch extraction
  iqa_jax.distortions   JPEG, JPEG 2000, Gaussian blur, white noise

The 360-degree distillation pipeline, in data-flow order (import each as
needed; they load Flax):

  iqa_jax.sphere, iqa_jax.sampling, iqa_jax.sampling2d, iqa_jax.scanpath,
  iqa_jax.saliency      sample patches (ERP / LAT / SP; 2-D)
  iqa_jax.embed, iqa_jax.embed_cache, iqa_jax.models
                        embed them (VGG16, ResNet-50), cached on disk
  iqa_jax.selection     select (the W/R solver and comparison selectors)
  iqa_jax.models.regressor, iqa_jax.train, iqa_jax.checkpoint
                        regress (data-parallel, resumable training)
  iqa_jax.pooling       pool patch scores into image scores
  iqa_jax.distill360    the experiment (`iqa-jax demo`, `iqa-jax distill360`)
"""

from iqa_jax import data, distortions, images, results, score_files, stats
from iqa_jax._version import __version__
from iqa_jax.stats import (aggregate, evaluate, fit_logistic, krcc, plcc, rmse,
                           srcc)

__all__ = [
    "__version__",
    "data",
    "distortions",
    "images",
    "results",
    "score_files",
    "stats",
    "aggregate",
    "evaluate",
    "fit_logistic",
    "krcc",
    "plcc",
    "rmse",
    "srcc",
]
