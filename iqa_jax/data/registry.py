"""The dataset registry: one `DatasetSpec` per database, looked up by name.

Official databases are parsed from a manual directory (see `layouts_*.py`);
built-in demo sets (`demo2d`, and `demo360` from the sampling module) also
have a `generate` function that writes their layout into a cache first.
`register` adds a spec; `get` and `names` read the registry.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from iqa_jax.data.layout import Checker, Layout

__all__ = ["DatasetSpec", "register", "get", "names", "normalise"]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """How to read one database.

  Attributes:
    name: registry name (lower case), also the TFDS builder name.
    kind: "fr" (references and distorted images), "nr" (images only) or
      "360" (equirectangular panoramas, used as NR).
    title: one line for `iqa-jax datasets list`.
    score_name: what the native score is ("mos", "dmos", "elo", "proxy_mos").
    higher_is_better: the direction of the native score.
    scale: the nominal (low, high) of the native score, used to normalise to
      [0, 1]; None to use the observed range (recorded in the metadata).
    layout: the expected folder layout, shown when the manual dir is wrong.
    parse: (manual_dir, checker) -> Layout.
    generate: for built-in sets, writes the layout into a folder (no network).
    version: the builder version; bump it when the parsed content changes.
  """

  name: str
  kind: Literal["fr", "nr", "360"]
  title: str
  score_name: str
  higher_is_better: bool
  scale: tuple[float, float] | None
  layout: str
  parse: Callable[[Path, Checker], Layout]
  generate: Callable[[Path], None] | None = None
  version: str = "1.0.0"


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
  if spec.name != spec.name.lower() or not spec.name.isidentifier():
    raise ValueError(f"dataset names are lower-case identifiers, got "
                     f"{spec.name!r}.")
  _REGISTRY[spec.name] = spec
  return spec


def get(name: str) -> DatasetSpec:
  _load_builtin()
  try:
    return _REGISTRY[name.lower()]
  except KeyError:
    raise KeyError(f"unknown dataset {name!r}; known: "
                   f"{', '.join(names())}.") from None


def names() -> list[str]:
  _load_builtin()
  return sorted(_REGISTRY)


def normalise(score: float, *, spec: DatasetSpec,
              observed: tuple[float, float]) -> float:
  """Maps a native score to [0, 1] with higher = better.

  An affine map of the nominal scale (or of the observed range where the
  database has none); a score outside the nominal scale maps outside [0, 1]
  and is not clipped.
  """
  lo, hi = spec.scale if spec.scale is not None else observed
  if hi == lo:
    return math.nan
  t = (score - lo) / (hi - lo)
  return t if spec.higher_is_better else 1.0 - t


def _load_builtin() -> None:
  # Importing the layout modules registers their specs.
  # pylint: disable=g-import-not-at-top,unused-import
  from iqa_jax.data import demo2d, demo360, layouts_360, layouts_fr, layouts_nr
  del demo2d, demo360, layouts_360, layouts_fr, layouts_nr
