"""`iqa-jax datasets`: list the registered datasets, prepare one.

  iqa-jax datasets list
  iqa-jax datasets prepare NAME --manual-dir DIR [--data-dir DIR]
                           [--allow-missing] [--overwrite]

`prepare` reads the extracted official archive in --manual-dir and writes a
TFDS dataset (array_record) under --data-dir (default $IQA_JAX_HOME/datasets).
It stops at the first problem with the file and the fix, writing nothing;
with --allow-missing it builds what is present and lists the rest in the
dataset's metadata (and here).
"""

from __future__ import annotations

import argparse
import sys

from iqa_jax import data


def add_parser(sub) -> None:
  p = sub.add_parser("datasets", help="list or prepare datasets",
                     description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
  dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION",
                          required=True)
  dsub.add_parser("list", help="the registered datasets")
  prep = dsub.add_parser("prepare", help="build a dataset from its archive")
  prep.add_argument("name", help="a dataset of `iqa-jax datasets list`")
  prep.add_argument("--manual-dir", help="the extracted official archive "
                    "(built-in sets need none)")
  prep.add_argument("--data-dir", help="where prepared datasets live "
                    "(default $IQA_JAX_HOME/datasets)")
  prep.add_argument("--allow-missing", action="store_true",
                    help="build what is present, report the rest")
  prep.add_argument("--overwrite", action="store_true",
                    help="rebuild a dataset that is already prepared")
  p.set_defaults(run=run)


def _list() -> int:
  rows = [(n, (s := data.get(n)).kind, s.score_name,
           "higher" if s.higher_is_better else "lower",
           "built in" if s.generate else "manual", s.title)
          for n in data.names()]
  head = ("name", "kind", "score", "better", "source", "description")
  widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
  for r in [head] + rows:
    print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + r[5])
  return 0


def _prepare(args) -> int:
  try:
    spec = data.get(args.name)
  except KeyError as e:
    print(f"iqa-jax datasets: error: {e.args[0]}", file=sys.stderr)
    return 2
  manual_dir = args.manual_dir
  if manual_dir is None:
    if spec.generate is None:
      print(f"iqa-jax datasets: error: {spec.name} needs --manual-dir (the "
            f"extracted official archive). Expected layout:\n{spec.layout}",
            file=sys.stderr)
      return 2
  try:
    if manual_dir is None:
      src = data.load(spec.name, data_dir=args.data_dir)
      out = src.metadata
    else:
      path = data.prepare(spec.name, manual_dir=manual_dir,
                          data_dir=args.data_dir,
                          allow_missing=args.allow_missing,
                          overwrite=args.overwrite)
      src = data.load(spec.name, data_dir=path.parent.parent)
      out = src.metadata
  except data.LayoutError as e:
    print(f"iqa-jax datasets: error: {e}", file=sys.stderr)
    return 2
  print(f"{spec.name}: {len(src)} images prepared")
  for note in out.get("notes", []):
    print(f"  note: {note}")
  missing = out.get("missing", [])
  if missing:
    print(f"  {len(missing)} item(s) missing or unusable (recorded in the "
          "dataset's metadata.json):")
    for m in missing[:20]:
      print(f"    {m}")
    if len(missing) > 20:
      print(f"    ... and {len(missing) - 20} more")
  return 0


def run(args, parser) -> int:
  del parser
  if args.datasets_command == "list":
    return _list()
  return _prepare(args)
