"""NAC saturation curves (source text 001, Sec. IV-C.5, Fig. 6-7).

  python experiments/nac.py --workdir /tmp/nac               # demo360 + LIVEC
  python experiments/nac.py --workdir /tmp/nac --config runlocal   # demo360

`get_config(arg)` is `iqa_jax.distill360.coverage.get_config` (every key is
documented there); --set KEY=VALUE changes one.
"""

import argparse
import sys

from iqa_jax import distributed
from iqa_jax.cli.distill360 import apply_overrides
from iqa_jax.distill360 import coverage
from iqa_jax.distill360.coverage import get_config

__all__ = ["get_config"]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default=None, help="runlocal, or nothing")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  distributed.add_arguments(p)
  args = p.parse_args(argv)
  distributed.from_args(args)
  cfg = apply_overrides(get_config(args.config), args.set)
  out = coverage.run(cfg, args.workdir)
  print(f"wrote {', '.join(out['plots'])} and nac.csv in {out['workdir']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
