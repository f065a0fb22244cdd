"""Choosing the MLP's training settings on training folds only (issue 15).

  python experiments/regressor_sweep.py --workdir /tmp/sweep_livec \\
      [--set manual_dir=../shared/data/livec/ChallengeDB_release]
  python experiments/regressor_sweep.py --config runlocal --workdir /tmp/s

Every candidate of `iqa_jax.distill360.sweep.CANDIDATES` (overrides of the
distill360 config) is trained on the inner training part of each outer fold
and scored on held-out training references (`sweep.inner_split`); the test
parts of the outer folds are never read. Writes sweep.csv / .md (medians per
candidate and rate, and the overall score: the mean of SRCC and PLCC over
rates and folds), cells.csv, and prints the chosen MLP candidate.
"""

import argparse
import sys


from iqa_jax import data, distributed, results
from iqa_jax.cli.distill360 import apply_overrides
from iqa_jax.data import splits
from iqa_jax.distill360 import cells, config, patches, sweep


def get_config(arg=None):
  """The distill360 preset the sweep runs on (livec, or runlocal), with
  `sweep_rates`, `sweep_selector` and `sweep_seed` added."""
  c = config.get_config("livec" if arg in (None, "") else arg)
  c.unlock()
  c.sweep_rates = (0.3, 0.5, 1.0)
  c.sweep_selector = "residual"
  c.sweep_seed = 0
  c.sweep_candidates = ()   # names of sweep.CANDIDATES; (): all of them
  if arg == "runlocal":
    c.sweep_rates = (0.5, 1.0)
    c.max_epochs = 5
  return c


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default=None, help="livec (default) or runlocal")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  distributed.add_arguments(p)
  args = p.parse_args(argv)
  distributed.from_args(args)
  cfg = apply_overrides(get_config(args.config), args.set)
  wd = results.create_workdir(args.workdir, cfg.to_dict())
  src = data.load(cfg.dataset, data_dir=cfg.data_dir or None,
                  manual_dir=cfg.manual_dir or None,
                  allow_missing=cfg.allow_missing)
  encoder, encoder_id = patches.build_encoder(cfg)
  ps = patches.patch_set(cfg, src, cfg.samplers[0], encoder, encoder_id,
                         progress=cfg.progress)
  orders, _ = cells.rankings(ps, cfg.sweep_selector,
                             distance=cfg.distances[0], h=cfg.h, cfg=cfg,
                             seed=cfg.sweep_seed)
  folds = splits.kfold(src.ref_ids, k=cfg.folds, seed=cfg.sweep_seed,
                       val_fraction=cfg.val_fraction)
  unknown = set(cfg.sweep_candidates) - set(sweep.CANDIDATES)
  if unknown:
    p.error(f"unknown sweep_candidates {sorted(unknown)}; known: "
            f"{list(sweep.CANDIDATES)}")
  candidates = {k: v for k, v in sweep.CANDIDATES.items()
                if not cfg.sweep_candidates or k in cfg.sweep_candidates}
  rows = sweep.sweep(ps, orders, folds, candidates, cfg,
                     rates=cfg.sweep_rates, seed=cfg.sweep_seed,
                     progress=cfg.progress)
  wd.write_table("cells", rows)
  md = wd.write_table("sweep", sweep.table(rows), floatfmt=".3f")
  mlp = [n for n, o in candidates.items()
         if o.get("regressor", "mlp") == "mlp"]
  best = sweep.choose(rows, among=mlp)
  wd.write_results({"rows": rows, "chosen": best,
                    "overrides": sweep.CANDIDATES[best]})
  print(md)
  print(f"chosen MLP settings: {best}: {sweep.CANDIDATES[best]}")
  print(f"wrote {wd.root}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
