"""Tests of reference-disjoint splits."""

import numpy as np
import pytest

from iqa_jax.data import splits


def _ref_ids(n_refs=20, per_ref=7, seed=0):
  """A CVIQ-like layout: every reference has several distorted versions,
  listed in an interleaved order (as some label files are)."""
  rng = np.random.default_rng(seed)
  refs = np.repeat([f"ref{r:02d}" for r in range(n_refs)], per_ref)
  return refs[rng.permutation(refs.size)]


def _sides(split, refs):
  return {k: set(refs[v].tolist()) for k, v in split._asdict().items()}


@pytest.mark.parametrize("k", [2, 5, 20])
@pytest.mark.parametrize("val_fraction", [0.0, 0.25])
def test_kfold_every_reference_tested_once(k, val_fraction):
  refs = _ref_ids()
  folds = splits.kfold(refs, k=k, seed=3, val_fraction=val_fraction)
  assert len(folds) == k
  tested = [r for f in folds for r in _sides(f, refs)["test"]]
  assert sorted(tested) == sorted(set(refs.tolist()))  # exactly once each
  for f in folds:
    splits.check_disjoint(f, refs)
    # Every example is on exactly one side.
    all_idx = np.concatenate([f.train, f.val, f.test])
    assert np.array_equal(np.sort(all_idx), np.arange(refs.size))
    assert f.train.dtype == np.int64 and np.all(np.diff(f.train) > 0)
    sides = _sides(f, refs)
    if val_fraction:
      n_train_refs = len(sides["train"]) + len(sides["val"])
      assert len(sides["val"]) == max(1, round(val_fraction * n_train_refs))
    else:
      assert f.val.size == 0
  sizes = [len(_sides(f, refs)["test"]) for f in folds]
  assert max(sizes) - min(sizes) <= 1


def test_kfold_deterministic_and_seed_dependent():
  refs = _ref_ids()
  a = splits.kfold(refs, k=5, seed=7, val_fraction=0.2)
  b = splits.kfold(refs, k=5, seed=7, val_fraction=0.2)
  c = splits.kfold(refs, k=5, seed=8, val_fraction=0.2)
  for x, y in zip(a, b):
    for side in ("train", "val", "test"):
      np.testing.assert_array_equal(getattr(x, side), getattr(y, side))
  assert any(not np.array_equal(x.test, y.test) for x, y in zip(a, c))


def test_kfold_independent_of_example_order():
  """Shuffling the examples moves indices but not which references go where."""
  refs = _ref_ids()
  perm = np.random.default_rng(1).permutation(refs.size)
  a = splits.kfold(refs, k=4, seed=0)
  b = splits.kfold(refs[perm], k=4, seed=0)
  for x, y in zip(a, b):
    assert _sides(x, refs)["test"] == _sides(y, refs[perm])["test"]


def test_random_splits():
  refs = _ref_ids(n_refs=30)
  out = splits.random_splits(refs, n_splits=10, test_fraction=0.2, seed=0,
                             val_fraction=0.1)
  assert len(out) == 10
  for s in out:
    splits.check_disjoint(s, refs)
    sides = _sides(s, refs)
    assert len(sides["test"]) == 6
    assert len(sides["val"]) == 2  # round(0.1 * 24)
    assert s.train.size + s.val.size + s.test.size == refs.size
  assert len({tuple(s.test) for s in out}) > 1
  again = splits.random_splits(refs, n_splits=10, test_fraction=0.2, seed=0,
                               val_fraction=0.1)
  assert all(np.array_equal(x.test, y.test) and np.array_equal(x.val, y.val)
             for x, y in zip(out, again))
  other = splits.random_splits(refs, n_splits=10, test_fraction=0.2, seed=1)
  assert any(not np.array_equal(x.test, y.test) for x, y in zip(out, other))


def test_integer_reference_ids_and_nr_datasets():
  refs = np.arange(12)  # NR database: each image is its own reference
  folds = splits.kfold(refs, k=3, seed=0)
  assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(
      range(12))


def test_check_disjoint_detects_leak():
  refs = np.array(["a", "a", "b", "b"])
  leak = splits.Split(train=np.array([0, 2]), val=np.array([], np.int64),
                      test=np.array([1, 3]))
  with pytest.raises(ValueError, match="both train and test"):
    splits.check_disjoint(leak, refs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(k=1), "k must be"),
    (dict(k=6), r"fewer references \(5\) than folds"),
    (dict(k=2, val_fraction=1.0), "val_fraction"),
    (dict(k=5, val_fraction=0.9), "leaves no training reference"),
])
def test_kfold_bad_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    splits.kfold(np.repeat(np.arange(5), 3), **kwargs)


@pytest.mark.parametrize("refs,kwargs,match", [
    ([], {}, "empty"),
    (np.ones((2, 2)), {}, "1-D"),
    ([0, 1, 2], dict(test_fraction=1.0), "test_fraction"),
    ([0, 1], dict(test_fraction=0.9), "leaves none for training"),
    ([0, 1, 2], dict(n_splits=0), "n_splits"),
])
def test_random_splits_bad_arguments(refs, kwargs, match):
  with pytest.raises(ValueError, match=match):
    splits.random_splits(refs, **kwargs)


def test_describe_and_as_dict():
  folds = splits.kfold(np.arange(6), k=3, seed=0)
  assert splits.describe(folds).splitlines()[0] == "split 0: train 4, val 0, test 2"
  d = folds[0].as_dict()
  assert set(d) == {"train", "val", "test"} and len(d["test"]) == 2
