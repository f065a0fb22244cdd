"""No-reference databases: LIVEC, KonIQ-10k, SPAQ (official layouts).

Layouts and score formats follow each database's release (see the project's
notes on datasets); every image is its own reference group for splitting.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import scipy.io

from iqa_jax.data import layout as L
from iqa_jax.data.registry import DatasetSpec, register

# ----------------------------------------------------------------------------
# LIVE In the Wild Image Quality Challenge (LIVEC).

LIVEC_LAYOUT = """\
  ChallengeDB_release/            (or point --manual-dir inside it)
    Images/*.JPG, *.bmp           1162 test images (500 x 500)
    Images/trainingImages/        t1.bmp .. t7.bmp (left out, as is usual)
    Data/AllImages_release.mat    names, 1169 entries
    Data/AllMOS_release.mat       MOS 0-100, higher is better
    Data/AllStdDev_release.mat    standard deviations (optional)"""


def _mat_vector(path: Path, key: str) -> np.ndarray:
  try:
    m = scipy.io.loadmat(path)
  except Exception as e:  # pylint: disable=broad-except
    raise L.LayoutError(f"{path}: cannot read the MATLAB file ({e}); "
                        "re-extract it from the official archive.") from e
  if key not in m:
    raise L.LayoutError(f"{path}: no variable {key!r} (found "
                        f"{', '.join(k for k in m if not k.startswith('__'))}"
                        ").")
  return np.asarray(m[key]).reshape(-1)


def _mat_names(values: np.ndarray) -> list[str]:
  return [str(np.asarray(v).reshape(-1)[0]).strip() for v in values]


def parse_livec(root: Path, checker: L.Checker) -> L.Layout:
  base = root / "ChallengeDB_release" if (root / "ChallengeDB_release").is_dir() \
      else root
  data = checker.require_dir(base / "Data", "Data", LIVEC_LAYOUT)
  img_dir = checker.require_dir(base / "Images", "Images", LIVEC_LAYOUT)
  names_file = checker.require_file(data / "AllImages_release.mat",
                                    "image list", LIVEC_LAYOUT)
  mos_file = checker.require_file(data / "AllMOS_release.mat", "MOS file",
                                  LIVEC_LAYOUT)
  names = _mat_names(_mat_vector(names_file, "AllImages_release"))
  mos = _mat_vector(mos_file, "AllMOS_release").astype(np.float64)
  std_file = data / "AllStdDev_release.mat"
  std = (_mat_vector(std_file, "AllStdDev_release").astype(np.float64)
         if std_file.is_file() else np.full(len(names), math.nan))
  if not len(names) == mos.size == std.size:
    raise L.LayoutError(
        f"{data}: AllImages_release ({len(names)}), AllMOS_release "
        f"({mos.size}) and AllStdDev_release ({std.size}) must be aligned.")
  n_train = sum(1 for n in names[:7] if n.lower().startswith("t"))
  records = [
      L.Record(file=n, score=L.parse_float(s, where=f"{mos_file.name}, "
                                           f"entry {i + 1}"),
               ref_id=n, score_std=float(sd),
               where=f"{names_file.name}, entry {i + 1}")
      for i, (n, s, sd) in enumerate(zip(names, mos, std)) if i >= n_train]
  index = L.DirIndex(img_dir)
  entries = L.match_images(checker, records, index.get,
                           score_file=names_file.name,
                           folder=checker.rel(img_dir))
  checker.unlisted(index.all(), {index.get(r.file) for r in records},
                   names_file.name)
  notes = [f"the {n_train} subject-training images (t1..t{n_train}.bmp) are "
           "left out, as is conventional"] if n_train else []
  return L.Layout(entries, notes=notes)


register(DatasetSpec(
    name="livec", kind="nr", title="LIVE In the Wild Challenge (1162 images)",
    score_name="mos", higher_is_better=True, scale=(0.0, 100.0),
    layout=LIVEC_LAYOUT, parse=parse_livec))

# ----------------------------------------------------------------------------
# KonIQ-10k.

KONIQ_LAYOUT = """\
  koniq10k_scores_and_distributions.csv   image_name,...,MOS,SD,MOS_zscore
  1024x768/*.jpg                          (or 512x384/*.jpg)"""


def parse_koniq(root: Path, checker: L.Checker) -> L.Layout:
  score_file = L.find_one(root, "koniq10k_scores_and_distributions.csv")
  if score_file is None:
    checker.require_file(root / "koniq10k_scores_and_distributions.csv",
                         "score file", KONIQ_LAYOUT)
  img_dir = next((score_file.parent / d for d in ("1024x768", "512x384")
                  if (score_file.parent / d).is_dir()), None)
  if img_dir is None:
    checker.require_dir(score_file.parent / "1024x768", "image",
                        KONIQ_LAYOUT)
  records = [L.Record(file=name, ref_id=name, score=L.parse_float(
      mos, where=f"{score_file.name}, line {i}"), score_std=L.parse_float(
          sd, where=f"{score_file.name}, line {i}"),
                      where=f"{score_file.name}, line {i}")
             for i, (name, mos, sd) in L.read_csv_columns(
                 score_file, ("image_name", "MOS", "SD"))]
  index = L.DirIndex(img_dir)
  entries = L.match_images(checker, records, index.get,
                           score_file=score_file.name,
                           folder=checker.rel(img_dir))
  checker.unlisted(index.all(), {index.get(r.file) for r in records},
                   score_file.name)
  return L.Layout(entries, notes=[f"images read from {img_dir.name}/"])


register(DatasetSpec(
    name="koniq10k", kind="nr", title="KonIQ-10k (10073 images)",
    score_name="mos", higher_is_better=True, scale=(1.0, 5.0),
    layout=KONIQ_LAYOUT, parse=parse_koniq))

# ----------------------------------------------------------------------------
# SPAQ.

SPAQ_LAYOUT = """\
  TestImage/00001.jpg .. 11125.jpg
  Annotations/MOS and Image attribute scores.xlsx   Image name, MOS, ..."""

_SPAQ_SCORES = "MOS and Image attribute scores.xlsx"


def parse_spaq(root: Path, checker: L.Checker) -> L.Layout:
  score_file = L.find_one(root, _SPAQ_SCORES)
  if score_file is None:
    checker.require_file(root / "Annotations" / _SPAQ_SCORES, "score file",
                         SPAQ_LAYOUT)
  img_dir = L.find_one(root, "TestImage") if not (root / "TestImage").is_dir() \
      else root / "TestImage"
  if img_dir is None or not img_dir.is_dir():
    checker.require_dir(root / "TestImage", "image", SPAQ_LAYOUT)
  rows = L.read_xlsx(score_file)
  header = [str(c).strip() if c is not None else "" for c in rows[0]]
  for col in ("Image name", "MOS"):
    if col not in header:
      raise L.LayoutError(f"{score_file}: no column {col!r} in the first row "
                          f"({', '.join(header)}).")
  ni, si = header.index("Image name"), header.index("MOS")
  records = []
  for i, r in enumerate(rows[1:], start=2):
    if r[ni] is None or str(r[ni]).strip() == "":
      continue
    name = str(r[ni]).strip()
    records.append(L.Record(file=name, ref_id=name, score=L.parse_float(
        r[si], where=f"{score_file.name}, row {i}"),
                            where=f"{score_file.name}, row {i}"))
  index = L.DirIndex(img_dir)

  def lookup(name):
    return index.get(name) or index.by_stem(Path(name).stem)
  entries = L.match_images(checker, records, lookup,
                           score_file=score_file.name,
                           folder=checker.rel(img_dir))
  checker.unlisted(index.all(), {lookup(r.file) for r in records},
                   score_file.name)
  return L.Layout(entries)


register(DatasetSpec(
    name="spaq", kind="nr", title="SPAQ smartphone photos (11125 images)",
    score_name="mos", higher_is_better=True, scale=(0.0, 100.0),
    layout=SPAQ_LAYOUT, parse=parse_spaq))

# ----------------------------------------------------------------------------
# FLIVE (PaQ-2-PiQ's pictures, Ying et al., CVPR 2020).

FLIVE_LAYOUT = """\
  labels_image.csv        name,mos,... one row per picture (39,810); names
                          are paths such as voc_emotic_ava/AVA__149.jpg
  database/<name>         the pictures (or <name> beside labels_image.csv)"""


def parse_flive(root: Path, checker: L.Checker) -> L.Layout:
  """labels_image.csv as FLIVE_Database (with the PaQ-2-PiQ preparation
  notebook) writes it; only whole pictures, not the patch labels."""
  score_file = L.find_one(root, "labels_image.csv")
  if score_file is None:
    checker.require_file(root / "labels_image.csv", "score file",
                         FLIVE_LAYOUT)
  base = score_file.parent
  folders = [d for d in (base / "database", base) if d.is_dir()]
  records = [L.Record(file=name, ref_id=name, score=L.parse_float(
      mos, where=f"{score_file.name}, line {i}"),
                      where=f"{score_file.name}, line {i}")
             for i, (name, mos) in L.read_csv_columns(score_file,
                                                      ("name", "mos"))]

  def lookup(name):
    return next((d / name for d in folders if (d / name).is_file()), None)
  entries = L.match_images(checker, records, lookup,
                           score_file=score_file.name,
                           folder=checker.rel(folders[0]))
  return L.Layout(entries, notes=[
      "pictures only (the patch labels are not read); files on disk that "
      "labels_image.csv does not list are not looked for"])


register(DatasetSpec(
    name="flive", kind="nr", title="FLIVE / PaQ-2-PiQ pictures (39810 images)",
    score_name="mos", higher_is_better=True, scale=(0.0, 100.0),
    layout=FLIVE_LAYOUT, parse=parse_flive))
