"""iqa_jax: image quality assessment in JAX.

Public API (explicit; submodules are importable on their own):

  iqa_jax.stats         SRCC/KRCC/PLCC/RMSE, 4PL/5PL logistic fits, aggregation
  iqa_jax.data          reference-disjoint splits (and, later, datasets)
  iqa_jax.results       run work directories: config, versions, tables, plots
  iqa_jax.score_files   per-image score CSV files

Importing the package does not import JAX, so the command-line tools that only
need statistics start fast.
"""

from iqa_jax import data, results, score_files, stats
from iqa_jax._version import __version__
from iqa_jax.stats import (aggregate, evaluate, fit_logistic, krcc, plcc, rmse,
                           srcc)

__all__ = [
    "__version__",
    "data",
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
