"""LoDa (source text 002): train on 10 random 80/20 splits, 15-crop test.

  python experiments/loda.py --workdir /tmp/loda --config runlocal
  python experiments/loda.py --workdir runs/loda_livec \\
      --set manual_dir=../shared/data/livec/ChallengeDB_release \\
      --set vit_weights=vit_b16.safetensors --set cnn_weights=r50.safetensors

`get_config(arg)` is `iqa_jax.loda.get_config` (None / "paper": the
authors' recipe on `dataset`; "runlocal": a tiny LoDa of the same
structure with random backbones on demo2d, which only checks the
pipeline). The same as `iqa-jax loda train`.
"""

import argparse
import sys

from iqa_jax import distributed, loda, paths
from iqa_jax.cli.distill360 import apply_overrides
from iqa_jax.loda import get_config

__all__ = ["get_config"]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default=None, help="runlocal, or paper")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  distributed.add_arguments(p)
  args = p.parse_args(argv)
  distributed.from_args(args)
  cfg = apply_overrides(get_config(args.config), args.set)
  paths.enable_compilation_cache()
  out = loda.run(cfg, args.workdir)
  print(out["markdown"])
  print(f"median SRCC {out['srcc_median']:.4f}, PLCC "
        f"{out['plcc_median']:.4f}; plots {', '.join(out['plots'])}; all in "
        f"{out['workdir']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
