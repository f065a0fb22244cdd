"""Train/validation/test splits grouped by reference content.

IQA databases hold several distorted versions of each reference image; a split
that puts versions of one reference on both sides leaks content and inflates
every correlation. Every splitter here assigns whole references to one side.
For NR databases without references, pass the image names as `ref_ids` (each
image is its own group).

Splits are host-side NumPy, deterministic for a seed (NumPy's PCG64 over the
sorted unique references), and returned as sorted int64 index arrays into the
caller's list of examples.

* `kfold`: k folds of references; each reference is tested exactly once.
* `random_splits`: repeated random train/test splits (for example the 10 x
  80/20 protocol of most IQA papers, or the 5 x 80/20 of source text 001).
* both: an optional validation part carved from the training references.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["Split", "kfold", "random_splits", "check_disjoint", "describe"]


class Split(NamedTuple):
  """Indices (sorted, int64) of the examples on each side of one split."""

  train: np.ndarray
  val: np.ndarray
  test: np.ndarray

  def as_dict(self) -> dict[str, list[int]]:
    return {k: v.tolist() for k, v in self._asdict().items()}


def _unique_refs(ref_ids: Sequence) -> tuple[np.ndarray, np.ndarray]:
  refs = np.asarray(ref_ids)
  if refs.ndim != 1:
    raise ValueError(f"ref_ids must be 1-D (one id per example), got shape "
                     f"{refs.shape}.")
  if refs.size == 0:
    raise ValueError("ref_ids is empty: there is nothing to split.")
  if refs.dtype.kind == "f" and not np.all(np.isfinite(refs)):
    raise ValueError("ref_ids contains NaN or inf; use integer or string ids.")
  uniq, inverse = np.unique(refs, return_inverse=True)
  return uniq, inverse.reshape(-1)


def _check_fraction(name: str, value: float) -> None:
  if not 0.0 <= value < 1.0:
    raise ValueError(f"{name} must be in [0, 1), got {value}.")


def _make_split(inverse: np.ndarray, test_refs: np.ndarray,
                train_refs: np.ndarray, val_fraction: float,
                rng: np.random.Generator) -> Split:
  n_val = int(round(val_fraction * train_refs.size))
  if val_fraction > 0:
    n_val = max(n_val, 1)
  if n_val >= train_refs.size:
    raise ValueError(
        f"val_fraction={val_fraction} leaves no training reference "
        f"({train_refs.size} references before the validation part); lower "
        "it or use more references.")
  shuffled = rng.permutation(train_refs)
  val_refs, train_refs = shuffled[:n_val], shuffled[n_val:]
  side = np.full(inverse.max() + 1, -1, dtype=np.int64)
  side[train_refs], side[val_refs], side[test_refs] = 0, 1, 2
  ex_side = side[inverse]
  return Split(*(np.flatnonzero(ex_side == s).astype(np.int64)
                 for s in (0, 1, 2)))


def kfold(ref_ids: Sequence, *, k: int = 5, seed: int = 0,
          val_fraction: float = 0.0) -> list[Split]:
  """K-fold cross-validation over references.

  The unique references are shuffled with `seed` and dealt into k folds whose
  sizes differ by at most one reference; split i tests fold i and trains on
  the rest (minus a validation part of `val_fraction` of the training
  references, when asked for).

  Args:
    ref_ids: the reference id (int or str) of every example, shape (n,).
    k: the number of folds, 2 <= k <= number of references.
    seed: the seed of the shuffle.
    val_fraction: the share of training references held out for validation.

  Returns:
    k `Split`s; every reference appears in exactly one test fold.
  """
  uniq, inverse = _unique_refs(ref_ids)
  if not isinstance(k, (int, np.integer)) or k < 2:
    raise ValueError(f"k must be an integer >= 2, got {k!r}.")
  if k > uniq.size:
    raise ValueError(f"fewer references ({uniq.size}) than folds (k={k}); "
                     "lower k.")
  _check_fraction("val_fraction", val_fraction)
  rng = np.random.default_rng(seed)
  order = rng.permutation(uniq.size)
  folds = np.array_split(order, k)
  splits = []
  for i, test_refs in enumerate(folds):
    train_refs = np.concatenate([f for j, f in enumerate(folds) if j != i])
    splits.append(_make_split(inverse, test_refs, np.sort(train_refs),
                              val_fraction, rng))
  return splits


def random_splits(ref_ids: Sequence, *, n_splits: int = 10,
                  test_fraction: float = 0.2, seed: int = 0,
                  val_fraction: float = 0.0) -> list[Split]:
  """Repeated random train/test splits over references.

  Each split independently draws round(test_fraction x #references)
  references (at least one) for testing.

  Args:
    ref_ids: the reference id (int or str) of every example, shape (n,).
    n_splits: the number of splits.
    test_fraction: the share of references tested, in (0, 1).
    seed: the seed of the draws.
    val_fraction: the share of training references held out for validation.

  Returns:
    `n_splits` `Split`s.
  """
  uniq, inverse = _unique_refs(ref_ids)
  if not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
    raise ValueError(f"n_splits must be an integer >= 1, got {n_splits!r}.")
  if not 0.0 < test_fraction < 1.0:
    raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
  _check_fraction("val_fraction", val_fraction)
  n_test = max(1, int(round(test_fraction * uniq.size)))
  if n_test >= uniq.size:
    raise ValueError(
        f"test_fraction={test_fraction} of {uniq.size} references leaves none "
        "for training; use more references or a smaller test_fraction.")
  rng = np.random.default_rng(seed)
  splits = []
  for _ in range(n_splits):
    order = rng.permutation(uniq.size)
    splits.append(_make_split(inverse, np.sort(order[:n_test]),
                              np.sort(order[n_test:]), val_fraction, rng))
  return splits


def check_disjoint(split: Split, ref_ids: Sequence) -> None:
  """Raises ValueError if any reference appears on two sides of `split`."""
  refs = np.asarray(ref_ids)
  sides = {name: set(refs[idx].tolist()) for name, idx in split._asdict().items()}
  for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
    shared = sides[a] & sides[b]
    if shared:
      some = sorted(map(str, shared))[:5]
      raise ValueError(f"{len(shared)} reference(s) appear in both {a} and {b}:"
                       f" {', '.join(some)}{' ...' if len(shared) > 5 else ''}.")


def describe(splits: Sequence[Split]) -> str:
  """One line per split with its example counts, for logs."""
  return "\n".join(
      f"split {i}: train {s.train.size}, val {s.val.size}, test {s.test.size}"
      for i, s in enumerate(splits))
