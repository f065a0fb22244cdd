"""`iqa-jax evaluate`: SRCC/KRCC/PLCC/RMSE of predictions against MOS files.

  iqa-jax evaluate --pred P.csv --mos M.csv [--fit 4pl|5pl|none]
                   [--lower-is-better] [--name-column NAME]
                   [--pred-column COL] [--mos-column COL] [--inner-join]
                   [--json]
  iqa-jax evaluate --example     # the bundled synthetic example

Both files are CSV with a header row, joined on the image name (the first
column unless --name-column says otherwise; the score is the second column
unless --pred-column / --mos-column name it).

Infinite predictions (`iqa-jax score` writes PSNR = inf for identical
images) are kept in the ranking: inf ranks above every finite prediction
(ties among themselves) and -inf below. For the correlations they are
replaced by max + (max - min) of the finite predictions (min - (max - min)
for -inf), which leaves SRCC and KRCC exactly those of the ranks and gives
the fits a point at the saturated end; the output says how many were
replaced (`stats.place_infinite`). NaN is refused.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from importlib import resources

from iqa_jax import results, stats
from iqa_jax.score_files import ScoreFileError, join_scores, read_scores

_ROWS = (("SRCC", "srcc"), ("KRCC", "krcc"), ("PLCC (raw)", "plcc"))


def add_parser(sub) -> None:
  p = sub.add_parser(
      "evaluate", help="correlations of predictions with subjective scores",
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--pred", metavar="P.csv", help="predictions (CSV)")
  p.add_argument("--mos", metavar="M.csv", help="subjective scores (CSV)")
  p.add_argument("--example", action="store_true",
                 help="evaluate the bundled synthetic example files")
  p.add_argument("--fit", choices=("4pl", "5pl", "none"), default="4pl",
                 help="logistic fit before the fitted PLCC/RMSE (default 4pl)")
  p.add_argument("--lower-is-better", action="store_true",
                 help="predictions are distances (lower = better quality)")
  p.add_argument("--name-column", help="image-name column (default: first)")
  p.add_argument("--pred-column", help="score column of --pred (default: "
                 "second)")
  p.add_argument("--mos-column", help="score column of --mos (default: "
                 "second)")
  p.add_argument("--inner-join", action="store_true",
                 help="evaluate on the images in both files and report the "
                 "rest (default: refuse when the name sets differ)")
  p.add_argument("--json", action="store_true", help="print JSON")
  p.set_defaults(run=run)


def example_paths():
  """The bundled example's prediction and MOS files."""
  root = resources.files("iqa_jax") / "examples"
  return root / "example_pred.csv", root / "example_mos.csv"


def _fmt(v: float) -> str:
  return "undefined" if math.isnan(v) else f"{v:.4f}"


def format_table(ev: stats.Evaluation, header: list[str]) -> str:
  """The human-readable table `iqa-jax evaluate` prints."""
  rows = [(label, _fmt(getattr(ev, key))) for label, key in _ROWS]
  if ev.fit is not None:
    tag = ev.fit.upper()
    if ev.fitted:
      rows += [(f"PLCC ({tag})", _fmt(ev.plcc_fitted)),
               (f"RMSE ({tag})", f"{ev.rmse_fitted:.4g}"),
               (f"{tag} params", ", ".join(
                   f"b{i + 1}={p:.6g}" for i, p in enumerate(ev.fit_params)))]
    else:
      rows += [(f"PLCC ({tag})", "unfitted"), (f"RMSE ({tag})", "unfitted")]
  width = max(len(r[0]) for r in rows)
  lines = header + [""] + [f"{k:<{width}}  {v}" for k, v in rows]
  if ev.notes:
    lines += [""] + [f"note: {n}" for n in ev.notes]
  return "\n".join(lines)


def run(args, parser) -> int:
  if args.example:
    if args.pred or args.mos:
      parser.error("--example takes no --pred/--mos")
    pred_path, mos_path = example_paths()
  elif not (args.pred and args.mos):
    parser.error("give --pred and --mos (or --example)")
  else:
    pred_path, mos_path = args.pred, args.mos
  fit = None if args.fit == "none" else args.fit
  try:
    pred = read_scores(pred_path, name_column=args.name_column,
                       score_column=args.pred_column, flag="--pred-column",
                       allow_infinite=True)
    mos = read_scores(mos_path, name_column=args.name_column,
                      score_column=args.mos_column, flag="--mos-column")
    names, p, m, dropped = join_scores(pred, mos, inner=args.inner_join)
    p, n_inf = stats.place_infinite(p)
  except (ScoreFileError, ValueError) as e:
    print(f"iqa-jax evaluate: error: {e}", file=sys.stderr)
    return 2
  with warnings.catch_warnings():
    # The reasons land in ev.notes, which are printed; no duplicate warning.
    warnings.simplefilter("ignore", stats.UndefinedStatisticWarning)
    ev = stats.evaluate(p, m, fit=fit, lower_is_better=args.lower_is_better)

  dropped_notes = [
      f"--inner-join left out {len(v)} image(s) of {path} missing from the "
      f"other file: {', '.join(sorted(v)[:10])}{' ...' if len(v) > 10 else ''}"
      for path, v in dropped.items() if v]
  if n_inf:
    dropped_notes.append(
        f"{n_inf} infinite prediction(s) (e.g. PSNR of identical images) "
        "ranked beyond every finite one and placed at max + (max - min) of "
        "the finite predictions for the correlations")
  if args.json:
    out = {"pred_file": str(pred.path), "pred_column": pred.score_column,
           "mos_file": str(mos.path), "mos_column": mos.score_column,
           **ev.as_dict(), "infinite_predictions": n_inf,
           "dropped": {k: sorted(v) for k, v in dropped.items()}}
    print(json.dumps(results.to_jsonable(out), indent=2))
  else:
    header = [f"iqa-jax evaluate: {ev.n} images",
              f"  pred: {pred.path} (column {pred.score_column!r}"
              f"{', lower is better' if ev.lower_is_better else ''})",
              f"  mos:  {mos.path} (column {mos.score_column!r})"]
    print(format_table(ev, header))
    for n in dropped_notes:
      print(f"note: {n}")
  return 0
