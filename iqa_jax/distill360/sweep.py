"""Choosing the regressor's settings on training folds only.

  rows = sweep(ps, orders, folds, CANDIDATES, cfg, rates=(0.3, 0.5, 1.0))
  best = choose(rows)

For every outer fold the training images (its train and validation parts;
never its test part) are split again by reference: `heldout` of them score
the candidate, and of the rest `cfg.val_fraction` serve the MLP's early
stopping. Each candidate (a dict of config overrides) is trained on the
inner training part exactly as a distill360 cell (`cells.run_cell`) and
scored by SRCC and 4PL PLCC of the pooled held-out images; `choose` takes
the candidate with the highest mean of the two, averaged over rates and
folds. The test images of the outer folds are never read, so the choice
cannot leak into the reported figures (tests/test_sweep.py poisons them).
"""

from __future__ import annotations

import time

import numpy as np

from iqa_jax import parallel
from iqa_jax.data import splits
from iqa_jax.distill360 import cells

__all__ = ["CANDIDATES", "inner_split", "sweep", "choose"]

# The grid recorded in experiments/README.md: each candidate sets every MLP
# key (so the grid does not move with the config's defaults); "z" =
# standardise_targets, "ES" = the early-stopping figure.
_BASE = {"regressor": "mlp", "hidden": 512, "learning_rate": 1e-3,
         "weight_decay": 0.0, "schedule": "constant",
         "standardise_targets": False, "early_stopping": "plcc",
         "ensemble": 1, "train_batch": 256, "max_epochs": 50, "patience": 5,
         "mlp_init": "random"}
_Z_LOSS = {"standardise_targets": True, "early_stopping": "loss"}


def _mlp(**changes):
  return {**_BASE, **changes}


CANDIDATES = {
    "adam 1e-3, ES plcc (old default)": _mlp(),
    "adam 1e-4, z, ES loss": _mlp(learning_rate=1e-4, **_Z_LOSS),
    "adam 3e-5, z, ES plcc": _mlp(learning_rate=3e-5,
                                  standardise_targets=True),
    "adamw 1e-4 wd 1, z, ES loss": _mlp(learning_rate=1e-4, weight_decay=1.0,
                                        **_Z_LOSS),
    "adamw 1e-4 wd 10, z, ES loss": _mlp(learning_rate=1e-4,
                                         weight_decay=10.0, **_Z_LOSS),
    "adamw 1e-4 wd 30, z, ES loss": _mlp(learning_rate=1e-4,
                                         weight_decay=30.0, **_Z_LOSS),
    "adamw 3e-4 wd 10, batch 1024, z, ES loss": _mlp(
        learning_rate=3e-4, weight_decay=10.0, train_batch=1024, **_Z_LOSS),
    "adamw 1e-4 wd 10, hidden 128, z, ES loss": _mlp(
        learning_rate=1e-4, weight_decay=10.0, hidden=128, **_Z_LOSS),
    "adamw 1e-4 wd 10, hidden 128, z, ES loss, ridge init": _mlp(
        learning_rate=1e-4, weight_decay=10.0, hidden=128, mlp_init="ridge",
        **_Z_LOSS),
    "adamw 1e-4 wd 10, hidden 128, z, ES loss, ridge init (train + val)":
        _mlp(learning_rate=1e-4, weight_decay=10.0, hidden=128,
             mlp_init="ridge_val", **_Z_LOSS),
    "adamw 3e-5 wd 10, hidden 128, z, ES loss, ridge init (train + val)":
        _mlp(learning_rate=3e-5, weight_decay=10.0, hidden=128,
             mlp_init="ridge_val", **_Z_LOSS),
    "adamw 1e-4 wd 10, hidden 128, z, ES loss, ridge init (train + val), "
    "2 seeds": _mlp(learning_rate=1e-4, weight_decay=10.0, hidden=128,
                    mlp_init="ridge_val", ensemble=2, **_Z_LOSS),
    "adam 1e-4, hidden 128, z, ES loss, ridge init": _mlp(
        learning_rate=1e-4, hidden=128, mlp_init="ridge", **_Z_LOSS),
    "adamw 3e-5 wd 10, hidden 128, z, ES loss, ridge init": _mlp(
        learning_rate=3e-5, weight_decay=10.0, hidden=128, mlp_init="ridge",
        **_Z_LOSS),
    "adam 1e-4, cosine 20 epochs, z, no ES": _mlp(
        learning_rate=1e-4, schedule="cosine", max_epochs=20, patience=0,
        standardise_targets=True),
    "ridge probe": {"regressor": "ridge"},
}


def inner_split(split: splits.Split, ref_ids, *, heldout: float = 0.2,
                val_fraction: float = 0.125, seed: int = 0) -> splits.Split:
  """A reference-disjoint Split of split.train + split.val alone: (inner
  train, inner validation, held-out); split.test is not looked at."""
  pool = np.sort(np.concatenate([split.train, split.val]))
  refs = np.asarray(ref_ids)[pool]
  uniq = np.unique(refs)
  rng = np.random.default_rng(seed)
  perm = rng.permutation(uniq)
  n_out = max(1, int(round(heldout * len(uniq))))
  rest = perm[n_out:]
  n_val = int(round(val_fraction * len(rest)))
  if val_fraction > 0:
    n_val = max(n_val, 1)
  if len(rest) - n_val < 1:
    raise ValueError(f"{len(uniq)} training references are too few for an "
                     "inner split; use more data or fewer folds.")
  side = {r: 2 for r in perm[:n_out]}
  side.update({r: 1 for r in rest[:n_val]})
  side.update({r: 0 for r in rest[n_val:]})
  s = np.array([side[r] for r in refs])
  return splits.Split(*(pool[s == k].astype(np.int64) for k in (0, 1, 2)))


def sweep(ps, orders, folds, candidates, cfg, *, rates, seed: int = 0,
          progress: bool = True) -> list[dict]:
  """One row per (candidate, rate, outer fold): held-out SRCC / PLCC.

  Args:
    ps: the `patches.PatchSet`; orders: its per-image rankings.
    folds: the outer `Split`s (their test parts are never used).
    candidates: {name: config overrides}.
    cfg: the distill360 config the overrides apply to.
  """
  jobs = [(name, rate, f) for name in candidates for rate in rates
          for f in range(len(folds))]
  bar = parallel.progress_bar(total=len(jobs), desc="regressor sweep",
                              unit="fit", enabled=progress)
  inner = [inner_split(s, ps.ref_ids, val_fraction=cfg.val_fraction,
                       seed=seed + 100 + f) for f, s in enumerate(folds)]
  rows = []
  for name, rate, f in jobs:
    c = cfg.copy_and_resolve_references()
    c.unlock()
    for k, v in candidates[name].items():
      c[k] = v
    t0 = time.perf_counter()
    out = cells.run_cell(ps, orders, rate, inner[f], c, seed=seed)
    rows.append({"candidate": name, "rate": rate, "fold": f,
                 "srcc": out["srcc"], "plcc": out["plcc"],
                 "epochs": out["epochs"],
                 "seconds": time.perf_counter() - t0})
    bar.update(1)
    bar.set_postfix(last=f"{name} r={rate:g} SRCC={out['srcc']:.3f}")
  bar.close()
  return rows


def table(rows) -> list[dict]:
  """Per candidate and rate: medians over folds, and the candidate's
  overall score (mean of SRCC and PLCC over rates and folds)."""
  out = []
  for name in dict.fromkeys(r["candidate"] for r in rows):
    mine = [r for r in rows if r["candidate"] == name]
    row = {"candidate": name,
           "score": float(np.mean([(r["srcc"] + r["plcc"]) / 2
                                   for r in mine]))}
    for rate in sorted({r["rate"] for r in mine}):
      at = [r for r in mine if r["rate"] == rate]
      row[f"SRCC/PLCC r={rate:g}"] = (
          f"{np.median([r['srcc'] for r in at]):.3f} / "
          f"{np.median([r['plcc'] for r in at]):.3f}")
    row["s per fit"] = float(np.mean([r["seconds"] for r in mine]))
    out.append(row)
  return out


def choose(rows, *, among=None) -> str:
  """The candidate with the best overall score (optionally only among the
  names in `among`)."""
  t = [r for r in table(rows) if among is None or r["candidate"] in among]
  return max(t, key=lambda r: r["score"])["candidate"]
