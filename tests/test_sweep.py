"""The regressor sweep chooses on training folds only (issue 15)."""

import numpy as np

from iqa_jax.data import splits
from iqa_jax.distill360 import config, patches, sweep


def _patch_set(seed=0, n_images=40, n=12, d=16):
  rng = np.random.default_rng(seed)
  w = rng.normal(size=d)
  emb, var, scores = [], [], []
  for _ in range(n_images):
    e = rng.normal(size=(n, d)).astype(np.float32)
    emb.append(e)
    var.append(rng.random(n).astype(np.float32))
    scores.append(float(np.mean(e @ w)))
  scores = np.asarray(scores)
  scores = (scores - scores.min()) / np.ptp(scores)
  return patches.PatchSet("grid", tuple(f"i{i}" for i in range(n_images)),
                          np.arange(n_images), scores, emb, var,
                          [np.zeros((n, 2))] * n_images)


def _cfg():
  c = config.get_config("livec")
  c.unlock()
  c.max_epochs, c.train_batch, c.progress = 3, 64, False
  return c


CANDIDATES = {"ridge": {"regressor": "ridge"},
              "mlp": {"learning_rate": 1e-3, "max_epochs": 2}}


def test_poisoned_test_folds_change_nothing():
  ps = _patch_set()
  orders = [np.arange(12)] * len(ps.embeddings)
  folds = splits.kfold(ps.ref_ids, k=4, seed=0, val_fraction=0.125)
  rows = sweep.sweep(ps, orders, folds, CANDIDATES, _cfg(), rates=(0.5,),
                     progress=False)
  # Every image is in exactly one test fold: poison fold 0's test images
  # (NaN embeddings, random scores) and sweep fold 0 again.
  test0 = set(folds[0].test.tolist())
  emb = [np.full_like(e, np.nan) if i in test0 else e
         for i, e in enumerate(ps.embeddings)]
  scores = ps.scores.copy()
  scores[list(test0)] = np.random.default_rng(9).random(len(test0))
  poisoned = ps._replace(embeddings=emb, scores=scores)
  rows_p = sweep.sweep(poisoned, orders, folds[:1], CANDIDATES, _cfg(),
                       rates=(0.5,), progress=False)
  # Fold 0's rows never read fold 0's test images: same numbers.
  for a, b in zip([r for r in rows if r["fold"] == 0], rows_p):
    assert (a["candidate"], a["rate"]) == (b["candidate"], b["rate"])
    np.testing.assert_allclose(a["srcc"], b["srcc"], rtol=1e-6)
    np.testing.assert_allclose(a["plcc"], b["plcc"], rtol=1e-6)
  assert sweep.choose(rows) in CANDIDATES
  assert sweep.choose(rows, among=["mlp"]) == "mlp"


def test_inner_split_is_reference_disjoint_and_ignores_test():
  refs = np.repeat(np.arange(30), 3)
  for split in splits.kfold(refs, k=5, seed=1, val_fraction=0.125):
    inner = sweep.inner_split(split, refs, seed=3)
    seen = np.concatenate(inner)
    assert set(seen.tolist()) == set(split.train.tolist()) | set(
        split.val.tolist())
    sides = [set(refs[s].tolist()) for s in inner]
    assert not (sides[0] & sides[1] or sides[0] & sides[2]
                or sides[1] & sides[2])
    assert len(inner.test) > 0 and len(inner.val) > 0
