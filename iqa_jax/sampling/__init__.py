"""Patch samplers by name (source texts 001 and 000).

  p = sampling.sample("lat", image, size=128)            # a `Patches`
  p = sampling.sample("sp", image, key=jax.random.key(0), size=128)

  name       kind  function
  erp        360   erp.erp_grid: non-overlapping patches of the ERP plane
  lat        360   erp.latitude: latitude-adaptive gnomonic viewports (LAT)
  sp         360   scanpath.fixation_viewports: viewports at fixations (SP)
  grid       2d    planar.grid: a regular grid (non-overlapping by default)
  random     2d    planar.random_positions: uniform random positions
  variance   2d    planar.variance_weighted: positions ~ grey-level variance
  saliency   2d    planar.saliency_weighted: positions ~ spectral residual
  harris     2d    planar.harris: centred on Harris corners

`sample` passes `key` to the samplers that draw at random (required there;
the others do not need one) and refuses unknown options. Modules: `erp` (ERP grid, LAT, coverage),
`scanpath` (fixation generator, reader, SP), `planar` (2-D samplers),
`saliency` (spectral residual), `base` (`Patches`).
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

from iqa_jax import registry
from iqa_jax.sampling import base, erp, planar, saliency, scanpath
from iqa_jax.sampling.base import Patches
from iqa_jax.sampling.erp import coverage, erp_grid, latitude, latitude_layout
from iqa_jax.sampling.planar import (grid, harris, harris_response,
                                     random_positions, saliency_weighted,
                                     variance_weighted)
from iqa_jax.sampling.saliency import spectral_residual
from iqa_jax.sampling.scanpath import (Fixations, fixation_viewports,
                                       generate, read_fixations)

__all__ = [
    "SAMPLERS", "Sampler", "get", "sample", "required_options", "Patches",
    "base", "erp",
    "planar", "saliency", "scanpath", "coverage", "erp_grid", "latitude",
    "latitude_layout", "grid", "harris", "harris_response",
    "random_positions", "saliency_weighted", "variance_weighted",
    "spectral_residual", "Fixations", "fixation_viewports", "generate",
    "read_fixations",
]


class Sampler(NamedTuple):
  """A registered sampler: its function and the images it is for."""

  fn: object
  kind: str   # "360" (ERP panoramas) or "2d"


SAMPLERS = {
    "erp": Sampler(erp_grid, "360"),
    "lat": Sampler(latitude, "360"),
    "sp": Sampler(fixation_viewports, "360"),
    "grid": Sampler(grid, "2d"),
    "random": Sampler(random_positions, "2d"),
    "variance": Sampler(variance_weighted, "2d"),
    "saliency": Sampler(saliency_weighted, "2d"),
    "harris": Sampler(harris, "2d"),
}


def get(name: str) -> Sampler:
  """The sampler registered as `name`."""
  return registry.lookup(SAMPLERS, name, family="sampler")


def required_options(name: str) -> list[str]:
  """The keyword options sampler `name` cannot do without."""
  return registry.required_options(get(name).fn)


def sample(name: str, image, *, key=None, **options) -> Patches:
  """Samples `image` (H, W, 3) with the sampler `name`; `key` goes to the
  random samplers (required there), `options` to the sampler."""
  fn = get(name).fn
  params = inspect.signature(fn).parameters
  known = [p for p in params if params[p].kind is inspect.Parameter.KEYWORD_ONLY]
  unknown = [o for o in options if o not in known]
  if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD
                         for p in params.values()):
    raise ValueError(f"sampler {name!r} has no option(s) {unknown}; its "
                     f"options: {known}.")
  if "key" in params:
    if (key is None and params["key"].default is inspect.Parameter.empty
        and options.get("fixations") is None):
      raise ValueError(f"sampler {name!r} is random: pass "
                       "key=jax.random.key(seed).")
    return fn(key, image, **options)
  return fn(image, **options)   # deterministic: `key` is not needed
