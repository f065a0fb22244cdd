"""Normalised area coverage of a patch selection (source text 001,
Sec. IV-C.5, Fig. 6-7).

  v = tsne(E, seed=0)                      # (n, 2) t-SNE of the embeddings
  nac(v, keep)                             # area(hull(v[keep])) / area(hull(v))
  nac_curve(v, order, rates=(0.1, .., 0.9))  # NAC of the first ceil(r n)

The embeddings E (n, d) of all patches of an image are projected to two
dimensions with t-SNE (scikit-learn's `TSNE`, PCA initialisation, seeded,
so the same seed gives the same map); NAC = A_sel / A_all with A the area of
the convex hull (SciPy's `ConvexHull`, Qhull). NAC is 1 when every patch is
kept and never decreases when patches are added (the hull of a superset
contains the hull of the subset). Fewer than three points, or collinear
ones, span no area: 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from iqa_jax.selection.base import resolve_k

__all__ = ["tsne", "hull_area", "nac", "nac_curve"]


def tsne(embeddings, *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
  """(n, 2) t-SNE map of embeddings (n, d); perplexity is lowered to
  (n - 1) / 3 for small n (t-SNE needs perplexity < n)."""
  from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
  e = np.asarray(embeddings, np.float64)
  if e.ndim != 2 or len(e) < 4:
    raise ValueError(f"t-SNE needs embeddings (n >= 4, d), got {e.shape}.")
  perp = float(min(perplexity, (len(e) - 1) / 3))
  return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed,
              method="exact" if len(e) < 200 else "barnes_hut"
              ).fit_transform(e)


def hull_area(points) -> float:
  """Area of the convex hull of points (m, 2); 0 for fewer than 3 points or
  collinear ones."""
  from scipy.spatial import ConvexHull, QhullError  # pylint: disable=g-import-not-at-top
  p = np.asarray(points, np.float64)
  if p.ndim != 2 or p.shape[1] != 2:
    raise ValueError(f"points must be (m, 2), got {p.shape}.")
  if len(np.unique(p, axis=0)) < 3:
    return 0.0
  try:
    return float(ConvexHull(p).volume)   # in 2-D, "volume" is the area
  except QhullError:                     # collinear points
    return 0.0


def nac(points, selected) -> float:
  """A_sel / A_all for points (n, 2) and `selected` (indices or a boolean
  mask over the n points)."""
  p = np.asarray(points, np.float64)
  total = hull_area(p)
  if total == 0:
    raise ValueError("the points span no area: NAC is undefined.")
  return hull_area(p[np.asarray(selected)]) / total


def nac_curve(points, order, *, rates: Sequence[float]) -> np.ndarray:
  """(len(rates),) NAC of the first ceil(rate n) entries of `order` (a
  ranking of the n points, best first)."""
  order = np.asarray(order)
  return np.array([nac(points, order[:resolve_k(len(order), rate=r)])
                   for r in rates])
