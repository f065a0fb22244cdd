"""Patch selection: the residual-aware W/R solver of source text 001 and the
selectors of source text 000.

  distances     Euclidean, Manhattan, Mahalanobis (Ledoit-Wolf + Woodbury)
  similarity    Gaussian/Laplacian kernels, spectral factor Z (Eq. 4)
  solver        the alternating W/R solver (Eq. 7, 9, 11; Algorithm 1)
  authors_code  the public code's variant, for comparison
  residual      residual_scores(E), select(E, rate=...) for one image
  batch         many images, vmapped and sharded over devices
  selectors     random, variance, greedy, farthest: one calling convention
"""

from iqa_jax.selection import (authors_code, batch, distances, residual,
                               selectors, similarity, solver)
from iqa_jax.selection.batch import residual_scores_batch, score_images
from iqa_jax.selection.residual import Selection, residual_scores, select
from iqa_jax.selection.selectors import SELECTORS, get
from iqa_jax.selection.solver import SolverResult, solve

__all__ = [
    "authors_code", "batch", "distances", "residual", "selectors",
    "similarity", "solver", "Selection", "SolverResult", "residual_scores",
    "residual_scores_batch", "score_images", "select", "solve", "SELECTORS",
    "get",
]
