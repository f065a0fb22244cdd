"""The `iqa-jax <model> train` subcommands (loda, radn) share this parser:
--config PRESET, --workdir DIR (resumable), --set KEY=VALUE overrides of
the recipe's `get_config()`."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["add_train_command"]


def add_train_command(sub, name: str, *, help_text: str, doc: str,
                      presets: str, package: str, report) -> None:
  """Adds `iqa-jax NAME train`.

  Args:
    sub: the subparsers of `iqa-jax`.
    name: the subcommand (loda, radn).
    help_text: its one-line help.
    doc: the description (the module docstring of cli/NAME.py).
    presets: the --config help, e.g. "paper (default) or runlocal".
    package: the recipe's package (iqa_jax.NAME), with get_config and run.
    report: report(summary, seconds) -> the lines printed at the end.
  """
  fmt = argparse.RawDescriptionHelpFormatter
  p = sub.add_parser(name, help=help_text, description=doc,
                     formatter_class=fmt)
  actions = p.add_subparsers(dest=f"{name}_command", metavar="ACTION")
  t = actions.add_parser("train", help="train and evaluate the recipe",
                         description=doc, formatter_class=fmt)
  t.add_argument("--config", default="paper", help=presets)
  t.add_argument("--workdir", required=True,
                 help="results, plots, model files and checkpoints; a run "
                 "started again there resumes")
  t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="change one config key (repeatable; nested keys as "
                 f"section.key; the keys are documented in "
                 f"{package.replace('.', '/')}/config.py)")

  def train(args, parser) -> int:  # pylint: disable=unused-argument
    import importlib  # pylint: disable=g-import-not-at-top
    from iqa_jax.cli.distill360 import apply_overrides  # pylint: disable=g-import-not-at-top
    recipe = importlib.import_module(package)
    start = time.time()
    try:
      cfg = apply_overrides(recipe.get_config(args.config), args.set)
      out = recipe.run(cfg, args.workdir)
    except (OSError, ValueError, KeyError) as e:
      print(f"iqa-jax {name}: {e}", file=sys.stderr)
      return 2
    print(out["markdown"])
    print(report(out, time.time() - start))
    return 0

  def missing(args, parser) -> int:  # pylint: disable=unused-argument
    p.print_usage(sys.stderr)
    print(f"iqa-jax {name}: an action is required: train", file=sys.stderr)
    return 2

  t.set_defaults(run=train)
  p.set_defaults(run=missing)
