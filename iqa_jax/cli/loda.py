"""`iqa-jax loda train`: LoDa's recipe (source text 002).

  iqa-jax loda train --config runlocal --workdir DIR      # tiny, demo2d
  iqa-jax loda train --workdir DIR --set dataset=livec \\
      --set manual_dir=ARCHIVE --set vit_weights=VIT.safetensors \\
      --set cnn_weights=RESNET50.safetensors

The keys are those of `iqa_jax/loda/config.py` (--set KEY=VALUE; Python
literals or comma-separated names). A work directory holding a run of the
same configuration resumes it: finished splits are kept, the current one
continues from its last epoch's checkpoint.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["add_parser"]


def add_parser(sub) -> None:
  p = sub.add_parser("loda", help="LoDa: train and evaluate (source text "
                     "002)", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
  lsub = p.add_subparsers(dest="loda_command", metavar="ACTION")
  t = lsub.add_parser("train", help="train on random splits, 15-crop test",
                      description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
  t.add_argument("--config", default="paper", help="paper (default) or "
                 "runlocal")
  t.add_argument("--workdir", required=True,
                 help="results, plots, model files and checkpoints; a run "
                 "started again there resumes")
  t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="change one config key (repeatable; the keys are "
                 "documented in iqa_jax/loda/config.py)")
  t.set_defaults(run=_train)
  p.set_defaults(run=lambda args, parser: _missing(p))


def _missing(p) -> int:
  p.print_usage(sys.stderr)
  print("iqa-jax loda: an action is required: train", file=sys.stderr)
  return 2


def _train(args, parser) -> int:  # pylint: disable=unused-argument
  from iqa_jax import loda  # pylint: disable=g-import-not-at-top
  from iqa_jax.cli.distill360 import apply_overrides  # pylint: disable=g-import-not-at-top
  start = time.time()
  try:
    cfg = apply_overrides(loda.get_config(args.config), args.set)
    out = loda.run(cfg, args.workdir)
  except (OSError, ValueError, KeyError) as e:
    print(f"iqa-jax loda: {e}", file=sys.stderr)
    return 2
  print(out["markdown"])
  print(f"median SRCC {out['srcc_median']:.4f}, PLCC (4PL) "
        f"{out['plcc_median']:.4f} over the splits; "
        f"{time.time() - start:.0f} s; all in {out['workdir']}")
  return 0
