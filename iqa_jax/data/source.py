"""`load`: random access to a prepared dataset, images decoded on read.

  src = iqa_jax.data.load("livec", data_dir=..., manual_dir=...)
  len(src), src[0]["image"]            # (H, W, 3) float32 in [0, 1]
  folds = splits.kfold(src.ref_ids, k=5, seed=0)

Built-in sets (demo2d, ...) are generated and prepared on first use. An
official database is prepared from `manual_dir` when it has not been yet.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np

from iqa_jax import images as images_lib
from iqa_jax.data import builder as builder_lib
from iqa_jax.data import registry

__all__ = ["Source", "load", "parse_manual_dirs"]

_TEXT = ("name", "format", "ref_id", "dist_type")
_FLOAT = ("score", "score_std", "score_norm", "dist_level")


class Source:
  """A prepared split: `len`, `src[i]` (a dict), and the metadata.

  `src[i]` holds the decoded "image" ((H, W, 3) float32 in [0, 1]), for FR
  databases the decoded "reference", the stored fields (name, ref_id,
  score, score_std, score_norm, dist_type, dist_level, format) and the
  dataset's `higher_is_better` (the direction of `score`). `raw(i)`
  returns the stored record with the encoded bytes, undecoded.
  """

  def __init__(self, name: str, split: str, data_source, refs_source,
               metadata: dict[str, Any]):
    self.name = name
    self.split = split
    self._src = data_source
    self._refs = refs_source
    self.metadata = metadata
    table = metadata["table" if split == "images" else "reference_table"]
    self.names = tuple(table["names"])
    self.ref_ids = np.asarray(table["ref_ids"])
    self.scores = np.array([math.nan if v is None else v
                            for v in table["scores"]], np.float64)
    self.score_norm = np.array([math.nan if v is None else v
                                for v in table["score_norm"]], np.float64)
    # A per-instance cache (a method-level lru_cache would be shared by, and
    # keep alive, every Source).
    self.reference = functools.lru_cache(maxsize=32)(self._reference)
    self._ref_index = ({r: i for i, r in enumerate(
        metadata["reference_table"]["ref_ids"])}
                       if refs_source is not None else {})

  def __len__(self) -> int:
    return len(self._src)

  def raw(self, i: int) -> dict[str, Any]:
    rec = dict(self._src[int(i)])
    for k in _TEXT:
      if isinstance(rec[k], bytes):
        rec[k] = rec[k].decode("utf-8")
    for k in _FLOAT:
      rec[k] = float(rec[k])
    rec["higher_is_better"] = bool(self.metadata["higher_is_better"])
    return rec

  def _reference(self, ref_id: str) -> np.ndarray | None:
    """The decoded reference image of `ref_id` (None if not stored); cached
    per source as `reference`."""
    if ref_id not in self._ref_index:
      return None
    rec = self._refs[self._ref_index[ref_id]]
    return images_lib.decode(rec["image"], name=f"{self.name}:{ref_id}")

  def __getitem__(self, i: int) -> dict[str, Any]:
    rec = self.raw(i)
    rec["image"] = images_lib.decode(rec["image"],
                                     name=f"{self.name}:{rec['name']}")
    if self.split == "images" and self._ref_index:
      rec["reference"] = self.reference(rec["ref_id"])
    return rec

  def __iter__(self):
    for i in range(len(self)):
      yield self[i]

  def __repr__(self) -> str:
    return (f"Source({self.name!r}, split={self.split!r}, n={len(self)}, "
            f"score={self.metadata['score_name']})")


def load(name: str, *, data_dir: str | Path | None = None,
         manual_dir: str | Path | None = None, split: str = "images",
         allow_missing: bool = False) -> Source:
  """Opens dataset `name`, preparing it first when needed.

  Args:
    name: a registered dataset (`iqa-jax datasets list`).
    data_dir: where prepared datasets live (default $IQA_JAX_HOME/datasets).
    manual_dir: the extracted official archive, needed once to prepare an
      official database.
    split: "images" or "references".
    allow_missing: when preparing, build what is present and report the rest.

  Raises:
    FileNotFoundError: not prepared and no `manual_dir` given.
    LayoutError: preparing failed (see `builder.prepare`).
  """
  spec = registry.get(name)
  if split not in builder_lib.SPLITS:
    raise ValueError(f"split must be one of {builder_lib.SPLITS}, got "
                     f"{split!r}.")
  data_dir = Path(data_dir) if data_dir is not None else \
      builder_lib.default_data_dir()
  with builder_lib.quiet_absl():
    b = builder_lib.make_builder(spec.name, data_dir=data_dir)
    prepared = b.is_prepared()
  if not prepared:
    if spec.generate is not None and manual_dir is None:
      manual_dir = data_dir / "_generated" / spec.name
      spec.generate(manual_dir)
    if manual_dir is None:
      raise FileNotFoundError(
          f"{spec.name} is not prepared in {data_dir}. Prepare it once from "
          f"the official archive: data.load({spec.name!r}, manual_dir=DIR) "
          f"in Python, or iqa-jax datasets prepare {spec.name} "
          f"--manual-dir DIR --data-dir {data_dir}")
    builder_lib.prepare(spec.name, manual_dir=manual_dir, data_dir=data_dir,
                        allow_missing=allow_missing)
    b = builder_lib.make_builder(spec.name, data_dir=data_dir)
  if split not in b.info.splits:
    raise ValueError(f"{spec.name} has no {split!r} split (it has "
                     f"{', '.join(b.info.splits)}).")
  metadata = dict(b.info.metadata)
  src = b.as_data_source(split=split)
  refs = (b.as_data_source(split="references")
          if split == "images" and "references" in b.info.splits else None)
  return Source(spec.name, split, src, refs, metadata)


def parse_manual_dirs(items) -> dict[str, str]:
  """{dataset: folder} from "DATASET=DIR" items (experiment configs that
  prepare several datasets); "~" is expanded."""
  import os  # pylint: disable=g-import-not-at-top
  out = {}
  for item in items:
    name, sep, path = str(item).partition("=")
    if not sep:
      raise ValueError(f"manual_dirs item {item!r}: expected DATASET=DIR.")
    out[name.strip()] = os.path.expanduser(path.strip())
  return out
