"""Source text 000's patch-selection protocols (random, variance, two-fold,
variance-weighted pooling, multi-scale) on one footing.

  python experiments/patch_protocols.py --workdir /tmp/pp --config runlocal
  python experiments/patch_protocols.py --workdir /tmp/pp_livec \\
      [--set manual_dir=../shared/data/livec/ChallengeDB_release]

`get_config(arg)` is `iqa_jax.patch_protocols.get_config` (None: LIVEC,
"runlocal": the built-in demo2d); the strategies and keys are documented in
`iqa_jax/patch_protocols.py`.
"""

import argparse
import sys

from iqa_jax import distributed, patch_protocols
from iqa_jax.cli.distill360 import apply_overrides
from iqa_jax.patch_protocols import get_config

__all__ = ["get_config"]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default=None, help="runlocal, or nothing (LIVEC)")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  distributed.add_arguments(p)
  args = p.parse_args(argv)
  distributed.from_args(args)
  cfg = apply_overrides(get_config(args.config), args.set)
  out = patch_protocols.run(cfg, args.workdir)
  print(out["markdown"])
  print(f"scores: {out['score']}; plot {out['plot']}; all in "
        f"{out['workdir']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
