"""Pictures of what a SMIC metric pools: Fig. 5 of source text 003.

  scorer = fr.get("lpips_smic")
  rows = scorer.maps(ref[None], dist[None])          # {layer: (M, A)}
  fig = maps.figure(ref, dist, {k: (m[0], a[0]) for k, (m, a) in rows.items()})
  maps.save(fig, "pair.png")

One row per map: the distortion map M (the metric's own: the 7 x 7 local MSE
of PSNR, 1 - SSIM, LPIPS' squared feature differences per window, DISTS'
2 - S1 - S2 per window, DeepWSD's Wasserstein term per window; higher =
more distortion), the attention A (SMIC, or the pixel-domain MIC of "w/
MIC"), and the rectified map M * A that the metric averages (or sums). The
first row also shows the reference and the distorted image. Every map has
its own colour bar. `iqa-jax score --maps DIR` writes one such PNG per pair.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

__all__ = ["figure", "save", "pair_rows"]


def pair_rows(maps: Mapping[str, tuple], index: int, *,
              prefix: str = "") -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """{label: (M, A)} of pair `index` from `Scorer.maps` output; labels are
  `prefix` plus the map's name ("map" for PSNR/SSIM, the VGG layer for the
  deep metrics)."""
  out = {}
  for name, (m, a) in maps.items():
    label = f"{prefix} {name}".strip() if name != "map" or not prefix \
        else prefix
    out[label] = (np.asarray(m[index]), np.asarray(a[index]))
  return out


def figure(ref: np.ndarray, dist: np.ndarray,
           rows: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
           title: str | None = None):
  """A matplotlib Figure: reference, distorted, then per row label the
  distortion map M, the attention A and M * A, each (h, w), with colour
  bars."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  if not rows:
    raise ValueError("figure needs at least one row of maps.")
  n = len(rows)
  fig = Figure(figsize=(16, 2.9 * n + 0.4))
  axes = fig.subplots(n, 5, squeeze=False)
  for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
  axes[0, 0].imshow(np.clip(ref, 0, 1))
  axes[0, 0].set_title("reference $I^r$")
  axes[0, 1].imshow(np.clip(dist, 0, 1))
  axes[0, 1].set_title("distorted $I^d$")
  for i in range(1, n):
    axes[i, 0].axis("off")
    axes[i, 1].axis("off")
  for i, (label, (m, a)) in enumerate(rows.items()):
    m, a = np.asarray(m, np.float64), np.asarray(a, np.float64)
    if m.shape != a.shape or m.ndim != 2:
      raise ValueError(f"{label}: the map {m.shape} and the attention "
                       f"{a.shape} must be one (h, w) shape.")
    for j, (img, name, cmap) in enumerate(
        ((m, "distortion $M^d$", "magma"), (a, "attention $M^a$", "viridis"),
         (m * a, "rectified $M^d \\odot M^a$", "magma"))):
      ax = axes[i, 2 + j]
      im = ax.imshow(img, cmap=cmap, interpolation="nearest")
      fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
      ax.set_title(name if i == 0 else "", fontsize=10)
    axes[i, 2].set_ylabel(label, fontsize=10)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  return fig


def save(fig, path: str | os.PathLike, *, dpi: int = 100) -> str:
  """Writes `fig` as PNG (its folder created); returns the path."""
  path = os.fspath(path)
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=dpi)
  return path
