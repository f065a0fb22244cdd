"""iqa_jax: image quality assessment in JAX.

Public API (explicit; submodules are importable on their own):

  iqa_jax.stats         SRCC/KRCC/PLCC/RMSE, 4PL/5PL logistic fits, aggregation
  iqa_jax.data          datasets (TFDS builders, demo sets) and splits
  iqa_jax.results       run work directories: config, versions, tables, plots
  iqa_jax.score_files   per-image score CSV files

  iqa_jax.images        decoding, resizing, patch extraction
  iqa_jax.distortions   JPEG, JPEG 2000, Gaussian blur, white noise
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
