"""Reading per-image score tables (CSV with a header row) and joining them.

The format every `iqa-jax` command reads and writes: one row per image, a
name column and one or more numeric score columns, for example

  image,mos,mos_std
  533.JPG,73.623529,20.401576

Names are compared exactly, after stripping surrounding spaces. Every problem
raises `ScoreFileError` with the file, the row (1-based, the header is row 1)
and the fix; nothing is dropped silently.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["ScoreFileError", "ScoreTable", "read_scores", "join_scores",
           "write_scores"]


class ScoreFileError(ValueError):
  """A score file is missing, malformed, or does not match its partner."""


@dataclasses.dataclass(frozen=True)
class ScoreTable:
  """Scores read from one file: `names[i]` has `scores[i]`."""

  path: Path
  name_column: str
  score_column: str
  names: tuple[str, ...]
  scores: np.ndarray  # float64, shape (n,)

  def as_dict(self) -> dict[str, float]:
    return dict(zip(self.names, self.scores.tolist()))


def _pick_column(path, header, wanted, position, what, flag):
  if wanted is not None:
    if wanted not in header:
      raise ScoreFileError(
          f"{path}: no {what} column {wanted!r}; the header (row 1) has "
          f"{', '.join(map(repr, header))}. Fix {flag} or the file's header.")
    return header.index(wanted)
  if len(header) <= position:
    hint = ""
    for sep in (";", "\t", "|"):
      if sep in header[0]:
        hint = (f" The header looks {sep!r}-separated; iqa-jax reads "
                "comma-separated files.")
    raise ScoreFileError(
        f"{path}: the header (row 1) has {len(header)} column(s), "
        f"{', '.join(map(repr, header))}; need a name column and a score "
        f"column.{hint}")
  return position


def read_scores(path: str | os.PathLike, *, name_column: str | None = None,
                score_column: str | None = None,
                flag: str = "--score-column",
                allow_infinite: bool = False) -> ScoreTable:
  """Reads one score per image from a CSV file with a header row.

  Args:
    path: the CSV file (UTF-8, optionally with a byte-order mark).
    name_column: the image-name column; the first column by default.
    score_column: the score column; the second column by default.
    flag: how the caller names the score-column option, for messages.
    allow_infinite: accept inf and -inf (PSNR of identical images); NaN is
      refused always.

  Raises:
    ScoreFileError: missing file or column, short row, empty name, a score
      that is not a number (or not finite, unless allowed), or a name that
      appears twice.
  """
  path = Path(path)
  if not path.is_file():
    raise ScoreFileError(f"{path}: no such file.")
  try:
    with open(path, encoding="utf-8-sig", newline="") as f:
      rows = list(csv.reader(f))
  except UnicodeDecodeError as e:
    raise ScoreFileError(f"{path}: not a UTF-8 text file ({e}).") from e
  rows = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
  if not rows:
    raise ScoreFileError(f"{path}: the file is empty; it needs a header row "
                         "and one row per image.")
  header = [c.strip() for c in rows[0][1]]
  ni = _pick_column(path, header, name_column, 0, "name", "--name-column")
  si = _pick_column(path, header, score_column, 1, "score", flag)
  if ni == si:
    raise ScoreFileError(f"{path}: the name and score columns are both "
                         f"{header[ni]!r}.")
  names, scores, first_row = [], [], {}
  for row_no, row in rows[1:]:
    if len(row) <= max(ni, si):
      raise ScoreFileError(
          f"{path}, row {row_no}: {len(row)} field(s), but column "
          f"{header[max(ni, si)]!r} is field {max(ni, si) + 1}.")
    name, text = row[ni].strip(), row[si].strip()
    if not name:
      raise ScoreFileError(f"{path}, row {row_no}: the name column "
                           f"{header[ni]!r} is empty.")
    try:
      value = float(text)
    except ValueError:
      value = None
    if value is None or math.isnan(value) or (
        math.isinf(value) and not allow_infinite):
      raise ScoreFileError(
          f"{path}, row {row_no} ({name!r}): {header[si]!r} is {text!r}, not "
          "a finite number. Fix the value or remove the row.")
    if name in first_row:
      raise ScoreFileError(
          f"{path}: {name!r} appears on rows {first_row[name]} and {row_no}; "
          "names must be unique.")
    first_row[name] = row_no
    names.append(name)
    scores.append(value)
  if not names:
    raise ScoreFileError(f"{path}: only a header row, no scores.")
  return ScoreTable(path, header[ni], header[si], tuple(names),
                    np.asarray(scores, dtype=np.float64))


def _listing(names, limit=10) -> str:
  names = sorted(names)
  shown = ", ".join(map(repr, names[:limit]))
  return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit
                  else "")


def join_scores(a: ScoreTable, b: ScoreTable, *, inner: bool = False,
                min_common: int = 3):
  """Pairs the scores of two tables by image name.

  Args:
    a, b: the tables (for example predictions and MOS).
    inner: keep only the names in both tables instead of refusing when the
      name sets differ; the caller should report `dropped`.
    min_common: the fewest common names accepted.

  Returns:
    (names, a_scores, b_scores, dropped) in the order of `a`, where `dropped`
    maps each file's path to its names missing from the other file.

  Raises:
    ScoreFileError: the names differ (unless `inner`), or fewer than
      `min_common` are shared.
  """
  b_index = {n: i for i, n in enumerate(b.names)}
  a_set = set(a.names)
  only_a = [n for n in a.names if n not in b_index]
  only_b = [n for n in b.names if n not in a_set]
  if (only_a or only_b) and not inner:
    parts = []
    if only_a:
      parts.append(f"{len(only_a)} name(s) in {a.path} are not in {b.path}: "
                   f"{_listing(only_a)}")
    if only_b:
      parts.append(f"{len(only_b)} name(s) in {b.path} are not in {a.path}: "
                   f"{_listing(only_b)}")
    raise ScoreFileError(
        "the two files list different images.\n  " + "\n  ".join(parts)
        + "\nNames are compared exactly (after stripping spaces). Fix the "
        "names, or pass --inner-join to evaluate on the common images only.")
  names = [n for n in a.names if n in b_index]
  if len(names) < min_common:
    raise ScoreFileError(
        f"only {len(names)} image name(s) are in both {a.path} and {b.path}; "
        f"need at least {min_common}.")
  ia = np.arange(len(a.names))[[n in b_index for n in a.names]]
  ib = np.array([b_index[n] for n in names], dtype=np.int64)
  dropped = {str(a.path): only_a, str(b.path): only_b}
  return names, a.scores[ia], b.scores[ib], dropped


def write_scores(path: str | os.PathLike, names, scores, *,
                 name_column: str = "image", score_column: str = "score"):
  """Writes a two-column score CSV that `read_scores` reads back exactly."""
  path = Path(path)
  scores = np.asarray(scores, dtype=np.float64)
  if len(names) != scores.shape[0]:
    raise ValueError(f"{len(names)} names but {scores.shape[0]} scores.")
  with open(path, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow([name_column, score_column])
    for n, s in zip(names, scores.tolist()):
      w.writerow([n, repr(s)])
  return path
