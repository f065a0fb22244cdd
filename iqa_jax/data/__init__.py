"""Datasets and splits.

  load(name, *, data_dir, manual_dir=None, split="images")  random access
  names(), get(name)                                         the registry
  prepare(name, *, manual_dir, data_dir, allow_missing)      build with TFDS
  kfold, random_splits                                       reference-disjoint

Databases: LIVE, CSIQ, TID2013, TID2008, KADID-10k, PIPAL (FR); LIVEC,
KonIQ-10k, SPAQ, FLIVE (NR); CVIQ, OIQA, MVAQD (360-degree); demo2d and demo360
(built in, with proxy scores).
"""

from iqa_jax.data import splits
from iqa_jax.data.builder import is_prepared, prepare
from iqa_jax.data.layout import LayoutError
from iqa_jax.data.registry import DatasetSpec, get, names, register
from iqa_jax.data.source import Source, load, parse_manual_dirs
from iqa_jax.data.splits import Split, check_disjoint, kfold, random_splits

__all__ = [
    "splits", "load", "Source", "prepare", "is_prepared", "LayoutError",
    "DatasetSpec", "get", "names", "register", "Split", "check_disjoint",
    "kfold", "random_splits", "parse_manual_dirs",
]
