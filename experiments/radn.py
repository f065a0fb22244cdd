"""RADN / WResNet (source text 004): reference-disjoint folds, contrastive
pretraining, L2 regression, Table 3's ablation.

  python experiments/radn.py --workdir /tmp/radn --config runlocal
  python experiments/radn.py --workdir /tmp/radn_t3 --config ablation_runlocal
  python experiments/radn.py --workdir runs/radn_pipal \\
      --set manual_dir=~/data/PIPAL --set contrastive.enabled=True

`get_config(arg)` is `iqa_jax.radn.get_config` (None / "paper": RADN on
PIPAL's training part, 10 folds, test fold 0; "runlocal": a narrow network
of the same structure on demo2d's FR pairs, which checks the pipeline;
"ablation" / "ablation_runlocal": Table 3's five rows). The same as
`iqa-jax radn train`.
"""

import argparse
import sys

from iqa_jax import distributed, paths, radn
from iqa_jax.cli.distill360 import apply_overrides
from iqa_jax.radn import get_config

__all__ = ["get_config"]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default=None,
                 help="paper, runlocal, ablation or ablation_runlocal")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  distributed.add_arguments(p)
  args = p.parse_args(argv)
  distributed.from_args(args)
  cfg = apply_overrides(get_config(args.config), args.set)
  paths.enable_compilation_cache()
  out = radn.run(cfg, args.workdir)
  print(out["markdown"])
  print(f"plots {', '.join(out['plots'])}; all in {out['workdir']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
