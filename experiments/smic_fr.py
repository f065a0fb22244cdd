"""SMIC (source text 003): every FR metric with and without SMIC and with
pixel-domain MIC; Tables I-II and Fig. 5.

  python experiments/smic_fr.py --workdir /tmp/smic --config runlocal
  python experiments/smic_fr.py --workdir runs/smic \\
      [--set datasets=live,kadid10k] [--set data_dir=DIR] \\
      [--set manual_dirs=qads=/data/QADS]

`get_config(arg)` is `iqa_jax.smic_fr.get_config` (None: the paper's six
datasets, prepared beforehand with `iqa-jax datasets prepare`; "runlocal":
80 pairs of the built-in demo2d, under 10 minutes on 2 CPU cores). Scores
are cached in WORKDIR/scores/, so a rerun only scores what is missing; the
outputs are listed in `iqa_jax/smic_fr.py`.
"""

import argparse
import sys

from iqa_jax import distributed, paths, smic_fr
from iqa_jax.cli.distill360 import apply_overrides
from iqa_jax.smic_fr import get_config

__all__ = ["get_config"]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default=None, help="runlocal, or nothing (the "
                 "paper's datasets)")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  distributed.add_arguments(p)
  args = p.parse_args(argv)
  distributed.from_args(args)
  cfg = apply_overrides(get_config(args.config), args.set)
  paths.enable_compilation_cache()
  out = smic_fr.run(cfg, args.workdir)
  print("Table I (plain and w/ SMIC):\n" + out["table_1"])
  if out["table_2"]:
    print("\nTable II (w/ MIC and w/ SMIC):\n" + out["table_2"])
  print(f"\nbar plot {out['plot']}; Fig. 5: {', '.join(out['fig5'])}; "
        f"all in {out['workdir']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
