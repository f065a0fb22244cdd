"""Patch selection: the residual-aware W/R solver of source text 001 and the
selectors of source text 000, each ranking all patches best first.

  r = selection.rank("residual", embeddings=E, h=10)     # a Ranking
  keep = r.take(rate=0.5)
  rs = selection.rank_images("random", key, embeddings=[E1, E2])

  base          Ranking, resolve_k, input checks
  distances     Euclidean, Manhattan, Mahalanobis (Ledoit-Wolf + Woodbury)
  similarity    Gaussian/Laplacian kernels, spectral factor Z (Eq. 4)
  solver        the alternating W/R solver (Eq. 7, 9, 11; Algorithm 1)
  authors_code  the public code's variant, for comparison
  residual      residual_scores(E) and the residual ranking of one image
  batch         many images, vmapped and sharded over devices
  selectors     the registry: residual, random, variance, variance_threshold,
                greedy, farthest
"""

from iqa_jax.selection import (authors_code, base, batch, distances, residual,
                               selectors, similarity, solver)
from iqa_jax.selection.base import Ranking, resolve_k
from iqa_jax.selection.batch import residual_scores_batch, score_images
from iqa_jax.selection.residual import residual_scores
from iqa_jax.selection.selectors import (SELECTORS, get, rank, rank_images,
                                         required_options)
from iqa_jax.selection.solver import SolverResult, solve

__all__ = [
    "authors_code", "base", "batch", "distances", "residual", "selectors",
    "similarity", "solver", "Ranking", "SolverResult", "resolve_k",
    "residual_scores", "residual_scores_batch", "score_images", "solve",
    "SELECTORS", "get", "rank", "rank_images", "required_options",
]
