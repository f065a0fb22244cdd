"""Tiny generated datasets in demo2d's layout, registered for the tests.

`register(name, kind, shape, seed)` registers (once) a dataset of 6 smooth
random references of `shape` (H, W) with demo2d's four distortions at five
levels (120 images) and a proxy score: real images through the real
builders, small enough for end-to-end tests in seconds.
"""

import numpy as np
from scipy import ndimage

from iqa_jax.data import demo2d, registry


def _refs(shape, seed, sigma):
  def make():
    out = []
    for r in range(6):
      rng = np.random.default_rng(seed + r)
      x = ndimage.gaussian_filter(rng.random((*shape, 3)), (sigma, sigma, 0))
      x = (x - x.min()) / (x.max() - x.min())
      out.append((f"p{r}", (255 * x).astype(np.uint8)))
    return out
  return make


def _score(ref, dist):
  return float(1 - np.clip(np.mean(np.abs(ref / 255.0 - dist / 255.0)) * 5,
                           0, 1))


def register(name: str, *, kind: str, shape, seed: int = 0,
             sigma: float = 3.0) -> str:
  if name not in registry.names():
    refs = _refs(tuple(shape), seed, sigma)
    registry.register(registry.DatasetSpec(
        name=name, kind=kind, title="test set", score_name="proxy_mos",
        higher_is_better=True, scale=(1.0, 5.0), layout=demo2d.LAYOUT,
        parse=demo2d.parse,
        generate=lambda out: demo2d.write_layout(out, refs, _score,
                                                 readme="test")))
  return name
