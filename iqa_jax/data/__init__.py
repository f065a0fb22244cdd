"""Datasets and splits.

`splits`: reference-disjoint k-fold and repeated random splits.
"""

from iqa_jax.data import splits
from iqa_jax.data.splits import Split, check_disjoint, kfold, random_splits

__all__ = ["splits", "Split", "check_disjoint", "kfold", "random_splits"]
