"""Source text 000's protocols end to end on a tiny generated 2-D set."""

import json

import tiny_sets
from iqa_jax import patch_protocols


tiny_sets.register("tiny2d", kind="2d", shape=(96, 96), seed=10,
                   sigma=2.0)


def test_every_strategy_runs_and_keeps_what_it_says(tmp_path):
  c = patch_protocols.get_config("runlocal")
  c.dataset = "tiny2d"
  c.data_dir = str(tmp_path / "data")
  c.cache_dir = str(tmp_path / "cache")
  c.patch_size = 32          # 9 grid patches, 1 at half resolution
  c.n_pool = 3
  c.folds = 3
  c.regressor = "ridge"
  c.progress = False
  out = patch_protocols.run(c, tmp_path / "run")
  rows = {r["strategy"]: r for r in out["table"]}
  assert list(rows) == list(patch_protocols.STRATEGIES)
  for r in rows.values():
    assert -1 <= r["SRCC"] <= 1 and -1 <= r["PLCC"] <= 1
  assert rows["all (single scale)"]["patches per image"] == 9
  assert rows["all (two scales)"]["patches per image"] == 9 + 1
  assert rows["random"]["patches per image"] == 5          # ceil(0.5 * 9)
  assert rows["variance top-k"]["patches per image"] == 5
  # The two-fold pool holds 9 + 3 + 3 candidates; the filter keeps some.
  assert 1 <= rows["two-fold"]["patches per image"] < 15
  assert (tmp_path / "run" / "protocols.png").stat().st_size > 0
  saved = json.loads((tmp_path / "run" / "results.json").read_text())
  assert len(saved["rows"]) == 3 * len(rows)
