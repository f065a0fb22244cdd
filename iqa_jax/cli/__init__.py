"""The `iqa-jax` command line: one module per subcommand.

  iqa-jax --version
  iqa-jax [--no-compilation-cache] COMMAND ...
  iqa-jax demo [--workdir DIR]
  iqa-jax distill360 --config paper|runlocal|livec|FILE.py --workdir DIR
  iqa-jax loda train --config paper|runlocal --workdir DIR [--set KEY=VALUE]
  iqa-jax radn train --config paper|runlocal|ablation --workdir DIR [--set ...]
  iqa-jax score --metric METRIC --ref R --dist D --out S.csv [--maps DIR]
  iqa-jax evaluate --pred P.csv --mos M.csv [--fit 4pl|5pl|none] [--json]
  iqa-jax datasets list
  iqa-jax datasets prepare NAME --manual-dir DIR [--data-dir DIR]

Multi-process runs (one process per host, every process the same command):
  iqa-jax --coordinator HOST:PORT --num-processes N --process-id I COMMAND ...
  iqa-jax --distributed COMMAND ...    # SLURM, Open MPI, TPU pod slices
(the options may also follow the command; see iqa_jax.distributed).
"""

from __future__ import annotations

import argparse
import sys

from iqa_jax import distributed
from iqa_jax._version import __version__
from iqa_jax.cli import datasets, distill360, evaluate, loda, radn, score

__all__ = ["main", "build_parser"]

_SUBCOMMANDS = (distill360, loda, radn, score, evaluate, datasets)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="iqa-jax",
      description="Image quality assessment in JAX (see README.md).")
  parser.add_argument("--version", action="version",
                      version=f"iqa-jax {__version__}")
  parser.add_argument(
      "--no-compilation-cache", action="store_true",
      help="do not keep compiled programs on disk (default: JAX's persistent "
      "compilation cache in $IQA_JAX_HOME/jax_cache, or "
      "$IQA_JAX_COMPILATION_CACHE; set that to 0 to turn it off)")
  distributed.add_arguments(parser)
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  for module in _SUBCOMMANDS:
    module.add_parser(sub)
  return parser


def main(argv: list[str] | None = None) -> int:
  parser = build_parser()
  # The multi-process options are accepted before or after the command.
  pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
  distributed.add_arguments(pre)
  dist, rest = pre.parse_known_args(sys.argv[1:] if argv is None else argv)
  args = parser.parse_args(rest)
  if args.command is None:
    parser.print_usage(sys.stderr)
    print("iqa-jax: error: a command is required (iqa-jax --help lists "
          "them)", file=sys.stderr)
    return 2
  try:
    distributed.from_args(dist)
  except ValueError as e:
    print(f"iqa-jax: error: {e}", file=sys.stderr)
    return 2
  if not args.no_compilation_cache:
    from iqa_jax import paths  # pylint: disable=g-import-not-at-top
    paths.enable_compilation_cache()
  with distributed.guard():
    return args.run(args, parser)


if __name__ == "__main__":
  sys.exit(main())
