"""`iqa-jax distill360` and `iqa-jax demo`: the patch-distillation experiment.

  iqa-jax demo [--workdir DIR]          # built-in demo360, a few minutes on CPU
  iqa-jax distill360 --config paper --workdir DIR --set dataset=cviq \
      --set data_dir=DATA [--set manual_dir=ARCHIVE]
  iqa-jax distill360 --config livec --workdir DIR --set manual_dir=LIVEC

--config is a preset (paper, runlocal, livec) or a Python file defining
get_config() (FILE.py[:ARG]); --set KEY=VALUE overrides one key (Python
literals: --set rates='(0.3, 0.5, 1.0)'; a tuple of names also as
--set selectors=residual,random). A work directory that holds a run
of another configuration is refused; the same configuration resumes.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
import time
from pathlib import Path

from iqa_jax import paths

__all__ = ["add_parser", "load_config", "apply_overrides"]


def add_parser(sub) -> None:
  d = sub.add_parser("demo", help="run distill360 on the built-in demo360 set",
                     description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
  d.add_argument("--workdir", help="default $IQA_JAX_HOME/runs/demo")
  d.add_argument("--overwrite", action="store_true",
                 help="delete the work directory's old results first")
  d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="change one key of the runlocal config (repeatable; "
                 "the keys are documented in iqa_jax/distill360/config.py)")
  d.set_defaults(run=_run_demo)
  from iqa_jax.distill360 import config  # pylint: disable=g-import-not-at-top
  p = sub.add_parser(
      "distill360", help="the patch-distillation experiment",
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog="Presets: paper (the default; needs dataset= and its data), "
      "runlocal (built-in demo360, needs nothing: the same as `iqa-jax "
      "demo`), livec (needs manual_dir= the LIVEC archive).\n\nConfig keys "
      "(paper defaults; --set KEY=VALUE):\n" + config.describe())
  p.add_argument("--config", default="paper",
                 help="paper | runlocal | livec | FILE.py[:ARG] (default "
                 "paper: the paper's protocol)")
  p.add_argument("--workdir", required=True,
                 help="where results, tables, plots and checkpoints go; a "
                 "run started again there resumes")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="change one config key (repeatable; the keys are "
                 "documented in iqa_jax/distill360/config.py)")
  p.add_argument("--overwrite", action="store_true",
                 help="delete the work directory's old results first")
  p.set_defaults(run=_run)


def load_config(spec: str):
  """A preset name, or FILE.py[:ARG] whose get_config(ARG) is called."""
  from iqa_jax.distill360 import config  # pylint: disable=g-import-not-at-top
  if spec in config.PRESETS:
    return config.get_config(spec)
  path, _, arg = spec.partition(":")
  if not path.endswith(".py") or not Path(path).is_file():
    raise ValueError(f"--config {spec!r}: not a preset {config.PRESETS} nor "
                     "an existing .py file.")
  module_spec = importlib.util.spec_from_file_location("_user_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"{path} defines no get_config().")
  return module.get_config(arg or None)


def apply_overrides(cfg, items):
  """KEY=VALUE overrides (KEY may be dotted into a nested section, as
  contrastive.epochs); unknown keys are an error naming the known ones."""
  for item in items:
    key, sep, text = item.partition("=")
    if not sep:
      raise ValueError(f"--set {item!r}: expected KEY=VALUE.")
    key = key.strip()
    node, leaf = cfg, key
    for part in key.split(".")[:-1]:
      if part not in node or not hasattr(node[part], "keys"):
        raise ValueError(f"--set {key}: no section {part!r}; known keys: "
                         f"{', '.join(sorted(node.keys()))}.")
      node, leaf = node[part], key.split(".")[-1]
    if leaf not in node:
      raise ValueError(f"--set {key}: no such config key; known keys: "
                       f"{', '.join(sorted(node.keys()))}.")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    old = node[leaf]
    if (isinstance(old, tuple) and isinstance(value, str) and "," in value
        and all(isinstance(v, str) for v in old)):
      value = tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(old, tuple) and isinstance(value, (list, int, float, str)):
      value = tuple(value) if isinstance(value, list) else (value,)
    if isinstance(old, float) and isinstance(value, int):
      value = float(value)
    if isinstance(old, str) and not isinstance(value, str):
      value = text
    if isinstance(old, tuple) and old and isinstance(value, tuple):
      numeric = isinstance(old[0], (int, float)) and not isinstance(
          old[0], bool)
      def wrong(v):
        if numeric:
          return not isinstance(v, (int, float)) or isinstance(v, bool)
        return not isinstance(v, type(old[0]))
      bad = [v for v in value if wrong(v)]
      if bad:
        raise ValueError(
            f"--set {key}={text}: {key} takes a tuple of "
            f"{'numbers' if numeric else type(old[0]).__name__} (now "
            f"{old!r}); {bad[0]!r} is not one.")
    try:
      node[leaf] = value
    except (TypeError, ValueError):
      raise ValueError(
          f"--set {key}={text}: {key} takes a {type(old).__name__} (now "
          f"{old!r}), got {type(value).__name__} {value!r}.") from None
  return cfg


def _print_summary(summary, wd_root, seconds, cfg):
  from iqa_jax import results  # pylint: disable=g-import-not-at-top
  from iqa_jax.data import registry  # pylint: disable=g-import-not-at-top
  rows = summary.get("summary", [])
  table = [{"sampler": s["sampler"], "selector": s["selector"],
            "distance": s["distance"], "h": s["h"], "rate": s["rate"],
            "PLCC": s["plcc"], "PLCC IQR": f"{s['plcc_q25']:.3f}-"
            f"{s['plcc_q75']:.3f}", "SRCC": s["srcc"],
            "SRCC IQR": f"{s['srcc_q25']:.3f}-{s['srcc_q75']:.3f}",
            "train patches": int(round(s["train_patches"]))}
           for s in rows]
  print("\nMedian over folds and its interquartile range (PLCC after a "
        "4-parameter logistic fit):")
  print(results.markdown_table(table))
  print("Peak per selector against the 100 % baseline (Table II):")
  print(summary.get("table2_markdown", ""))
  if summary.get("skipped_h"):
    print("h values skipped (above the patches per image): "
          + ", ".join(str(s["h"]) for s in summary["skipped_h"]))
  print(f"Plots: {', '.join(summary.get('plots', []))}")
  print(f"All tables and cells: {wd_root}  ({seconds:.0f} s)")
  spec = registry.get(cfg.dataset)
  if "proxy" in spec.score_name:
    print(f"These are correlations with {spec.score_name}, a computed proxy "
          f"score of {cfg.dataset}, not with subjective MOS: they show the "
          "pipeline works, not how well quality is predicted.")


def _go(cfg, workdir, overwrite):
  from iqa_jax.distill360 import pipeline  # pylint: disable=g-import-not-at-top
  t0 = time.perf_counter()
  summary = pipeline.run(cfg, workdir, overwrite=overwrite)
  _print_summary(summary, workdir, time.perf_counter() - t0, cfg)
  return 0


def _run(args, parser) -> int:
  try:
    cfg = apply_overrides(load_config(args.config), args.set)
    return _go(cfg, args.workdir, args.overwrite)
  except (ValueError, FileNotFoundError, KeyError) as e:
    print(f"iqa-jax distill360: error: {e}", file=sys.stderr)
    return 2


def _run_demo(args, parser) -> int:
  from iqa_jax.distill360 import config  # pylint: disable=g-import-not-at-top
  workdir = args.workdir or str(paths.home() / "runs" / "demo")
  try:
    cfg = apply_overrides(config.get_config("runlocal"), args.set)
    return _go(cfg, workdir, args.overwrite)
  except (ValueError, FileNotFoundError, KeyError) as e:
    print(f"iqa-jax demo: error: {e}", file=sys.stderr)
    return 2
