"""360-degree databases: CVIQ, OIQA, MVAQD (equirectangular panoramas).

Score files: the widely used Assessor360 text format for all three (the only
format known for MVAQD), and the official MATLAB files of CVIQ (`CVIQ.mat`)
and OIQA (`360IQA_MOS.mat`) as the project's dataset notes describe them. The
two .mat readers have been tested on files written to that description, not
on the real files, which are not available here.

Grouping by reference (for splits):
* CVIQ: 16 references of 34 ids each; id 34 n is the original, ids 34 (n-1)
  + 1..11 are JPEG, 12..22 AVC, 23..33 HEVC (levels 1..11).
* OIQA: img1..img320, 20 per reference in the order JPEG x5, JPEG 2000 x5,
  Gaussian noise x5, Gaussian blur x5; rows 321..336 of the official MOS are
  the 16 references.
* MVAQD: the label file names each image's reference.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.io

from iqa_jax.data import layout as L
from iqa_jax.data.registry import DatasetSpec, register


def _pairs_from_lines(path: Path, n_fields: int) -> list[tuple[int, list[str]]]:
  out = []
  for n, line in L.read_text_lines(path):
    parts = line.split()
    if len(parts) != n_fields:
      raise L.LayoutError(f"{path}, line {n}: expected {n_fields} fields "
                          f"separated by spaces, got {line!r}.")
    out.append((n, parts))
  return out


def _image_dir(root: Path, candidates: tuple[str, ...], probe: str) -> Path:
  """The first of root/candidate (or root) holding an image named `probe`."""
  for d in [root / c for c in candidates] + [root]:
    if d.is_dir() and L.DirIndex(d).by_stem(probe) is not None:
      return d
  hits = [p.parent for p in root.rglob(f"{probe}.*")
          if p.suffix.lower() in L.IMAGE_SUFFIXES]
  return hits[0] if hits else root / candidates[0]


# ----------------------------------------------------------------------------
# CVIQ.

CVIQ_LAYOUT = """\
  CVIQ/001.png .. 544.png        4096 x 2048 ERP (or the images at the root)
  CVIQ.mat                       cell variable CVIQ: image name, MOS
    or CVIQD_dis_label.txt       Assessor360 lines '001.png 64.67'
       CVIQD_ref_label.txt       (references, optional)"""

_CVIQ_TYPES = ((1, 11, "jpeg"), (12, 22, "avc"), (23, 33, "hevc"))


def _cviq_fields(name: str, where: str):
  m = re.fullmatch(r"(\d+)(\.\w+)?", name)
  if not m:
    raise L.LayoutError(f"{where}: {name!r} is not a CVIQ image name "
                        "(NNN.png).")
  i = int(m.group(1))
  ref = f"{((i - 1) // 34 + 1) * 34:03d}"
  k = (i - 1) % 34 + 1
  for lo, hi, kind in _CVIQ_TYPES:
    if lo <= k <= hi:
      return ref, kind, float(k - lo + 1)
  return ref, "reference", 0.0


def _cviq_mat_pairs(path: Path) -> list[tuple[str, float, str]]:
  """(name, mos, where) from the cell variable CVIQ of CVIQ.mat."""
  try:
    cell = np.asarray(scipy.io.loadmat(path)["CVIQ"], dtype=object)
  except KeyError:
    raise L.LayoutError(f"{path}: no variable 'CVIQ'.") from None
  if cell.ndim == 2 and cell.shape[1] != 2 and cell.shape[0] == 2:
    cell = cell.T
  if cell.ndim != 2 or cell.shape[1] != 2:
    raise L.LayoutError(f"{path}: CVIQ should be an N x 2 cell (name, MOS), "
                        f"got shape {cell.shape}.")
  out = []
  for i, (a, b) in enumerate(cell):
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    where = f"{path.name}, row {i + 1}"
    if a.dtype.kind in "US":
      name, mos = str(a[0]).strip(), b[0]
    else:
      name, mos = str(b[0]).strip(), a[0]
    out.append((name, L.parse_float(mos, where=where), where))
  return out


def read_cviq_labels(root: Path, checker: L.Checker):
  """(distorted records, reference records, score-file name)."""
  mat = L.find_one(root, "CVIQ.mat")
  if mat is not None:
    pairs = _cviq_mat_pairs(mat)
    score_name = mat.name
  else:
    txt = L.find_one(root, "CVIQD_dis_label.txt")
    if txt is None:
      checker.require_file(root / "CVIQ.mat", "score file (CVIQ.mat or "
                           "CVIQD_dis_label.txt)", CVIQ_LAYOUT)
    pairs = [(p[0], L.parse_float(p[1], where=f"{txt.name}, line {n}"),
              f"{txt.name}, line {n}") for n, p in _pairs_from_lines(txt, 2)]
    ref_txt = L.find_one(root, "CVIQD_ref_label.txt")
    if ref_txt is not None:
      pairs += [(p[0], L.parse_float(p[1], where=f"{ref_txt.name}, line {n}"),
                 f"{ref_txt.name}, line {n}")
                for n, p in _pairs_from_lines(ref_txt, 2)]
    score_name = txt.name
  dist, refs = [], []
  for name, mos, where in pairs:
    ref, kind, level = _cviq_fields(name, where)
    rec = L.Record(file=name, score=mos, ref_id=ref, where=where,
                   dist_type=kind, dist_level=level)
    (refs if kind == "reference" else dist).append(rec)
  return dist, refs, score_name


def parse_cviq(root: Path, checker: L.Checker) -> L.Layout:
  dist, refs, score_name = read_cviq_labels(root, checker)
  img_dir = _image_dir(root, ("CVIQ",), Path(dist[0].file).stem)
  index = L.DirIndex(img_dir)

  def lookup(name):
    return index.get(name) or index.by_stem(Path(name).stem)
  entries = L.match_images(checker, dist, lookup, score_file=score_name,
                           folder=checker.rel(img_dir))
  ref_ids = sorted({r.ref_id for r in dist})
  references = L.find_references(checker, ref_ids, index.by_stem,
                                 folder=checker.rel(img_dir))
  listed = {lookup(r.file) for r in dist} | set(references.values())
  checker.unlisted(index.all(), listed, score_name)
  return L.Layout(entries, references=references,
                  reference_scores={r.ref_id: r.score for r in refs})


register(DatasetSpec(
    name="cviq", kind="360", title="CVIQ 360-degree (528 distorted, 16 refs)",
    score_name="mos", higher_is_better=True, scale=(0.0, 100.0),
    layout=CVIQ_LAYOUT, parse=parse_cviq))

# ----------------------------------------------------------------------------
# OIQA.

OIQA_LAYOUT = """\
  distorted_images/img1 .. img320 (.jpg or .png)
  reference_images/               16 references (1..16, img1..img16 or ref1..)
  MOS/360IQA_MOS.mat              MOS 336 x 1: img1..img320, then refs 1..16
    or OIQA_dis_label.txt         Assessor360 lines 'img1 8.55'
       OIQA_ref_label.txt         (references, optional)"""

_OIQA_TYPES = ("jpeg", "jp2k", "noise", "blur")


def _oiqa_record(k: int, mos: float, where: str) -> L.Record:
  return L.Record(file=f"img{k}", score=mos, ref_id=str((k - 1) // 20 + 1),
                  where=where, dist_type=_OIQA_TYPES[((k - 1) % 20) // 5],
                  dist_level=float((k - 1) % 5 + 1))


def read_oiqa_labels(root: Path, checker: L.Checker):
  """(distorted records, {ref id: MOS}, score-file name)."""
  mat = L.find_one(root, "360IQA_MOS.mat")
  if mat is not None:
    m = scipy.io.loadmat(mat)
    if "MOS" not in m:
      raise L.LayoutError(f"{mat}: no variable 'MOS'.")
    mos = np.asarray(m["MOS"], np.float64).reshape(-1)
    if mos.size != 336:
      raise L.LayoutError(f"{mat}: MOS has {mos.size} values, expected 336 "
                          "(320 distorted, then 16 references).")
    dist = [_oiqa_record(k, L.parse_float(mos[k - 1], where=f"{mat.name}, "
                                          f"row {k}"), f"{mat.name}, row {k}")
            for k in range(1, 321)]
    return dist, {str(j): float(mos[319 + j]) for j in range(1, 17)}, mat.name
  txt = L.find_one(root, "OIQA_dis_label.txt")
  if txt is None:
    checker.require_file(root / "MOS" / "360IQA_MOS.mat", "score file "
                         "(360IQA_MOS.mat or OIQA_dis_label.txt)", OIQA_LAYOUT)
  dist = []
  for n, (name, value) in _pairs_from_lines(txt, 2):
    where = f"{txt.name}, line {n}"
    m = re.fullmatch(r"img(\d+)(\.\w+)?", name)
    if not m or not 1 <= int(m.group(1)) <= 320:
      raise L.LayoutError(f"{where}: {name!r} is not an OIQA distorted image "
                          "(img1..img320).")
    dist.append(_oiqa_record(int(m.group(1)), L.parse_float(value,
                                                            where=where), where))
  ref_scores = {}
  ref_txt = L.find_one(root, "OIQA_ref_label.txt")
  if ref_txt is not None:
    ref_scores = {p[0]: L.parse_float(p[1], where=f"{ref_txt.name}, line {n}")
                  for n, p in _pairs_from_lines(ref_txt, 2)}
  return dist, ref_scores, txt.name


def parse_oiqa(root: Path, checker: L.Checker) -> L.Layout:
  dist, ref_scores, score_name = read_oiqa_labels(root, checker)
  img_dir = _image_dir(root, ("distorted_images",), "img1")
  index = L.DirIndex(img_dir)
  entries = L.match_images(checker, dist, index.by_stem,
                           score_file=score_name, folder=checker.rel(img_dir))
  listed = {index.by_stem(r.file) for r in dist}
  checker.unlisted(index.all(), listed, score_name)
  ref_dir = root / "reference_images"
  references, notes = {}, []
  if ref_dir.is_dir():
    ref_index = L.DirIndex(ref_dir)
    references = L.find_references(
        checker, (r.ref_id for r in dist),
        lambda ref: next((p for s in (ref, f"img{ref}", f"ref{ref}")
                          if (p := ref_index.by_stem(s))), None),
        folder="reference_images/")
  else:
    notes.append("no reference_images/ folder: built without references")
  return L.Layout(entries, references=references, reference_scores=ref_scores,
                  notes=notes)


register(DatasetSpec(
    name="oiqa", kind="360", title="OIQA 360-degree (320 distorted, 16 refs)",
    score_name="mos", higher_is_better=True, scale=(1.0, 10.0),
    layout=OIQA_LAYOUT, parse=parse_oiqa))

# ----------------------------------------------------------------------------
# MVAQD.

MVAQD_LAYOUT = """\
  MVAQD_ref_dis_label.txt     Assessor360 lines '<ref> <image> <mos>',
                              e.g. '1.png 16.png 4.3' (5-point MOS)
  the images N.png            beside it, or in one folder below it"""


def read_mvaqd_labels(root: Path, checker: L.Checker):
  txt = L.find_one(root, "MVAQD_ref_dis_label.txt")
  if txt is None:
    checker.require_file(root / "MVAQD_ref_dis_label.txt", "score file",
                         MVAQD_LAYOUT)
  records = [L.Record(file=dis, ref_id=Path(ref).stem, where=f"{txt.name}, "
                      f"line {n}", score=L.parse_float(
                          mos, where=f"{txt.name}, line {n}"))
             for n, (ref, dis, mos) in _pairs_from_lines(txt, 3)]
  return records, txt


def parse_mvaqd(root: Path, checker: L.Checker) -> L.Layout:
  records, txt = read_mvaqd_labels(root, checker)
  img_dir = _image_dir(txt.parent, ("images", "MVAQD"),
                       Path(records[0].file).stem)
  index = L.DirIndex(img_dir)
  lookup = lambda name: index.get(name) or index.by_stem(Path(name).stem)
  entries = L.match_images(checker, records, lookup, score_file=txt.name,
                           folder=checker.rel(img_dir))
  references = L.find_references(checker, (r.ref_id for r in records),
                                 index.by_stem, folder=checker.rel(img_dir))
  listed = {lookup(r.file) for r in records} | set(references.values())
  checker.unlisted(index.all(), listed, txt.name)
  return L.Layout(entries, references=references, notes=[
      "MVAQD's official score file is not known; read from the Assessor360 "
      "label file"])


register(DatasetSpec(
    name="mvaqd", kind="360", title="MVAQD 360-degree (300 distorted, 15 refs)",
    score_name="mos", higher_is_better=True, scale=(1.0, 5.0),
    layout=MVAQD_LAYOUT, parse=parse_mvaqd))
