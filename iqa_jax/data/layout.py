"""What a dataset's official layout parses to, and the checks every parser uses.

A parser reads a manual directory (the extracted official archive) and returns
a `Layout`: one `Entry` per scored image, the reference images, and a report
of what was missing. Missing or unusable items go to a `Checker`; its
`finish` raises one `LayoutError` listing them (file, line, fix) unless
`allow_missing` is set, in which case they are left out and recorded in the
dataset's metadata. Malformed score files always raise at once: a half-parsed
score file cannot be trusted.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["LayoutError", "Entry", "Layout", "Checker", "IMAGE_SUFFIXES",
           "DirIndex", "parse_float", "find_one", "read_text_lines",
           "natural_key", "check_unique", "read_xlsx", "Record",
           "match_images", "find_references", "read_csv_columns"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class LayoutError(ValueError):
  """The manual directory does not match the dataset's official layout."""


@dataclasses.dataclass(frozen=True)
class Entry:
  """One scored image of a dataset.

  `name` is the image's path relative to the manual directory, with `/`
  separators; `score` is in the database's native units (`score_std` NaN when
  the database gives none); `dist_level` is the level or parameter of the
  distortion where known, NaN otherwise.
  """

  name: str
  path: Path
  score: float
  ref_id: str
  score_std: float = math.nan
  dist_type: str = ""
  dist_level: float = math.nan


@dataclasses.dataclass
class Layout:
  """A parsed dataset: entries, reference images (id -> path), report."""

  entries: list[Entry]
  references: dict[str, Path] = dataclasses.field(default_factory=dict)
  reference_scores: dict[str, float] = dataclasses.field(default_factory=dict)
  missing: list[str] = dataclasses.field(default_factory=list)
  notes: list[str] = dataclasses.field(default_factory=list)


class Checker:
  """Collects missing or unusable items; `finish` raises unless allowed."""

  def __init__(self, manual_dir: Path, *, allow_missing: bool = False):
    self.root = Path(manual_dir)
    self.allow_missing = allow_missing
    self.missing: list[str] = []
    self._fixes: dict[str, None] = {}

  def rel(self, path: Path) -> str:
    try:
      return Path(path).relative_to(self.root).as_posix()
    except ValueError:
      return str(path)

  def problem(self, message: str, fix: str) -> None:
    """A missing or unusable item, reported by `finish`."""
    self.missing.append(message)
    self._fixes[fix] = None

  def finish(self) -> None:
    """Raises LayoutError listing the problems, unless `allow_missing`."""
    if not self.missing or self.allow_missing:
      return
    shown = "\n  ".join(self.missing[:10])
    more = (f"\n  ... and {len(self.missing) - 10} more"
            if len(self.missing) > 10 else "")
    raise LayoutError(
        f"{self.root}: {len(self.missing)} problem(s):\n  {shown}{more}\n"
        f"{' '.join(f.rstrip('.') + '.' for f in self._fixes)} Or pass "
        "--allow-missing (allow_missing=True in Python) to build what is present and list the rest in the "
        "dataset's metadata. Nothing was written.")

  def require_file(self, path: Path, what: str, layout: str) -> Path:
    """A file the dataset cannot be built without (a score file)."""
    if not path.is_file():
      raise LayoutError(f"{path}: {what} not found. Expected the official "
                        f"layout under {self.root}:\n{layout}")
    return path

  def require_dir(self, path: Path, what: str, layout: str) -> Path:
    if not path.is_dir():
      raise LayoutError(f"{path}: {what} folder not found. Expected the "
                        f"official layout under {self.root}:\n{layout}")
    return path

  def unlisted(self, files: Iterable[Path], listed: set[Path],
               score_file: str) -> None:
    """Images on disk that the score file does not mention."""
    for p in sorted(p for p in files if p not in listed):
      self.problem(f"{self.rel(p)} is on disk but has no score in "
                   f"{score_file}", "Remove unscored images or check that "
                   "the score file is the official one")


class DirIndex:
  """Case-insensitive file lookup in one folder (TID2013 mixes cases)."""

  def __init__(self, folder: Path, suffixes=IMAGE_SUFFIXES):
    self.folder = Path(folder)
    self.files: dict[str, Path] = {}
    if self.folder.is_dir():
      for entry in os.scandir(self.folder):
        if entry.is_file() and (suffixes is None or
                                Path(entry.name).suffix.lower() in suffixes):
          self.files[entry.name.lower()] = Path(entry.path)

  def get(self, name: str) -> Path | None:
    return self.files.get(name.lower())

  def by_stem(self, stem: str) -> Path | None:
    """The image whose name without suffix is `stem` (any image suffix)."""
    for suffix in IMAGE_SUFFIXES:
      p = self.files.get(f"{stem}{suffix}".lower())
      if p is not None:
        return p
    return None

  def all(self) -> list[Path]:
    return list(self.files.values())


def parse_float(text, *, where: str) -> float:
  """A finite float, or LayoutError naming `where` (file and line)."""
  try:
    v = float(str(text).strip())
  except ValueError:
    v = math.nan
  if not math.isfinite(v):
    raise LayoutError(f"{where}: {str(text).strip()!r} is not a finite "
                      "number. Fix the value (the official files contain "
                      "none like it).")
  return v


def find_one(root: Path, filename: str) -> Path | None:
  """The file called `filename` at root or anywhere below it (unique)."""
  direct = root / filename
  if direct.is_file():
    return direct
  hits = sorted(root.rglob(filename))
  if len(hits) > 1:
    raise LayoutError(f"{root}: {len(hits)} files called {filename} "
                      f"({', '.join(map(str, hits[:3]))}); keep one.")
  return hits[0] if hits else None


def read_text_lines(path: Path) -> list[tuple[int, str]]:
  """(line number, stripped text) of the non-empty lines of a text file."""
  try:
    text = path.read_text(encoding="utf-8-sig")
  except UnicodeDecodeError:
    text = path.read_text(encoding="latin-1")
  return [(i + 1, line.strip()) for i, line in enumerate(text.splitlines())
          if line.strip()]


def natural_key(name: str):
  """Sorts img2 before img10."""
  return [int(t) if t.isdigit() else t.lower()
          for t in re.split(r"(\d+)", name)]


def check_unique(names_lines: Iterable[tuple[str, str]]) -> None:
  """LayoutError if a name appears twice; items are (name, where)."""
  seen: dict[str, str] = {}
  for name, where in names_lines:
    key = name.lower()
    if key in seen:
      raise LayoutError(f"{where}: {name!r} is listed twice (first at "
                        f"{seen[key]}); names must be unique. Remove the "
                        "duplicate line.")
    seen[key] = where


def read_xlsx(path: Path, *, sheet: str | None = None) -> list[tuple]:
  """All rows of one sheet of an .xlsx file as tuples of cell values."""
  import openpyxl  # pylint: disable=g-import-not-at-top

  try:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
  except Exception as e:  # pylint: disable=broad-except
    raise LayoutError(f"{path}: cannot read the spreadsheet ({e}); "
                      "re-extract it from the official archive.") from e
  try:
    if sheet is not None and sheet not in wb.sheetnames:
      raise LayoutError(f"{path}: no sheet {sheet!r} (sheets: "
                        f"{', '.join(wb.sheetnames)}).")
    ws = wb[sheet] if sheet is not None else wb.worksheets[0]
    return [tuple(r) for r in ws.iter_rows(values_only=True)]
  finally:
    wb.close()


@dataclasses.dataclass(frozen=True)
class Record:
  """A line of a score file, before its image is found on disk."""

  file: str  # the image's file name as the score file lists it
  score: float
  ref_id: str
  where: str  # "score file, line N", for messages
  score_std: float = math.nan
  dist_type: str = ""
  dist_level: float = math.nan


def match_images(checker: Checker, records: list[Record], lookup,
                 *, score_file: str, folder: str) -> list[Entry]:
  """Finds each record's image with `lookup(file) -> Path | None`.

  A record whose image is absent is a problem (see `Checker`); duplicates in
  the score file are an error.
  """
  check_unique((r.file, r.where) for r in records)
  entries = []
  for r in records:
    path = lookup(r.file)
    if path is None:
      checker.problem(f"{r.file} is listed in {r.where} but not found in "
                      f"{folder}", "Restore the image from the official "
                      "archive")
      continue
    entries.append(Entry(name=checker.rel(path), path=path, score=r.score,
                         ref_id=r.ref_id, score_std=r.score_std,
                         dist_type=r.dist_type, dist_level=r.dist_level))
  return entries


def find_references(checker: Checker, ref_ids: Iterable[str], lookup, *,
                    folder: str) -> dict[str, Path]:
  """{ref_id: path} via `lookup(ref_id) -> Path | None`; absences are
  problems (see `Checker`)."""
  out = {}
  for ref in sorted(set(ref_ids), key=natural_key):
    p = lookup(ref)
    if p is None:
      checker.problem(f"reference {ref} not found in {folder}",
                      "Restore it from the official archive")
    else:
      out[ref] = p
  return out


def read_csv_columns(path: Path, required: tuple[str, ...]):
  """(line number, [values of `required`]) per non-empty data row of a CSV."""
  with open(path, encoding="utf-8-sig", newline="") as f:
    rows = list(csv.reader(f))
  if not rows:
    raise LayoutError(f"{path}: the file is empty.")
  header = [c.strip() for c in rows[0]]
  absent = [c for c in required if c not in header]
  if absent:
    raise LayoutError(f"{path}: column(s) {', '.join(absent)} not in the "
                        f"header ({', '.join(header)}); is this the official "
                        "file?")
  idx = [header.index(c) for c in required]
  out = []
  for i, r in enumerate(rows[1:], start=2):
    if not any(c.strip() for c in r):
      continue
    if len(r) <= max(idx):
      raise LayoutError(f"{path}, line {i}: {len(r)} field(s), expected "
                          f"{len(header)}.")
    out.append((i, [r[j].strip() for j in idx]))
  return out
