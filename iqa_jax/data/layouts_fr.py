"""Full-reference databases: LIVE R2, CSIQ, TID2013/TID2008, KADID-10k, PIPAL,
QADS.

Each parser reads the official release as distributed (see the project's notes
on datasets), including its quirks: LIVE's reference copies marked by `orgs`,
CSIQ's header on row 4 and case-sensitive file tokens, TID2013's mixed-case
names, KADID-10k's `dmos` column that is really a higher-is-better MOS.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import scipy.io

from iqa_jax.data import layout as L
from iqa_jax.data.registry import DatasetSpec, register

# ----------------------------------------------------------------------------
# LIVE Image Quality Assessment Database, Release 2.

LIVE_LAYOUT = """\
  databaserelease2/                 (or point --manual-dir inside it)
    jp2k/ jpeg/ wn/ gblur/ fastfading/   img<k>.bmp and info.txt
                                    (info.txt lines: <ref> <img<k>.bmp> <param>)
    refimgs/*.bmp                   29 references
    dmos_realigned.mat              dmos_new, dmos_std, orgs (preferred)
    dmos.mat                        dmos, orgs (used when the above is absent)"""

# The order of the 982 entries of dmos.mat, and each folder's count.
_LIVE_FOLDERS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174),
                 ("fastfading", 174))


def _live_info(path: Path) -> dict[str, tuple[str, float]]:
  out = {}
  for line_no, line in L.read_text_lines(path):
    parts = line.split()
    if len(parts) < 2:
      raise L.LayoutError(f"{path}, line {line_no}: expected '<ref> <image> "
                          f"<param>', got {line!r}.")
    param = L.parse_float(parts[2], where=f"{path}, line {line_no}") \
        if len(parts) > 2 else math.nan
    out[parts[1].lower()] = (parts[0], param)
  return out


def parse_live(root: Path, checker: L.Checker) -> L.Layout:
  base = root / "databaserelease2" if (root / "databaserelease2").is_dir() \
      else root
  realigned = base / "dmos_realigned.mat"
  if realigned.is_file():
    m = scipy.io.loadmat(realigned)
    dmos, std = m["dmos_new"].reshape(-1), m["dmos_std"].reshape(-1)
    orgs, score_file = m["orgs"].reshape(-1), realigned
  else:
    score_file = checker.require_file(base / "dmos.mat", "dmos.mat",
                                      LIVE_LAYOUT)
    m = scipy.io.loadmat(score_file)
    dmos, orgs = m["dmos"].reshape(-1), m["orgs"].reshape(-1)
    std = np.full(dmos.shape, math.nan)
  total = sum(n for _, n in _LIVE_FOLDERS)
  if dmos.size != total or orgs.size != total:
    raise L.LayoutError(f"{score_file}: expected {total} entries (jp2k, jpeg, "
                        f"wn, gblur, fastfading), found {dmos.size}.")
  refs_dir = checker.require_dir(base / "refimgs", "refimgs", LIVE_LAYOUT)
  ref_index = L.DirIndex(refs_dir)
  records, indices, offset, n_copies = [], {}, 0, 0
  for folder, count in _LIVE_FOLDERS:
    d = checker.require_dir(base / folder, folder, LIVE_LAYOUT)
    info_path = checker.require_file(d / "info.txt", f"{folder}/info.txt",
                                     LIVE_LAYOUT)
    info = _live_info(info_path)
    indices[folder] = L.DirIndex(d)
    for k in range(1, count + 1):
      i = offset + k - 1
      if orgs[i] == 1:  # a copy of the reference, not a distorted image
        n_copies += 1
        continue
      img = f"img{k}.bmp"
      if img not in info:
        raise L.LayoutError(f"{info_path}: no line for {img}, which "
                            f"{score_file.name} scores (entry {i + 1}).")
      ref, param = info[img]
      records.append(L.Record(
          file=f"{folder}/{img}", ref_id=Path(ref).stem.lower(),
          score=L.parse_float(dmos[i], where=f"{score_file.name}, entry "
                              f"{i + 1}"), score_std=float(std[i]),
          dist_type=folder, dist_level=param,
          where=f"{score_file.name}, entry {i + 1}"))
    offset += count

  def lookup(file):
    folder, img = file.split("/")
    return indices[folder].get(img)
  entries = L.match_images(checker, records, lookup,
                           score_file=score_file.name, folder=str(base))
  references = L.find_references(
      checker, (r.ref_id for r in records),
      lambda ref: ref_index.get(f"{ref}.bmp"), folder="refimgs/")
  listed = {lookup(r.file) for r in records}
  copies = {indices[f].get(f"img{k}.bmp") for f, n in _LIVE_FOLDERS
            for k in range(1, n + 1)}
  for folder, _ in _LIVE_FOLDERS:
    checker.unlisted([p for p in indices[folder].all() if p not in copies],
                     listed, score_file.name)
  return L.Layout(entries, references=references, notes=[
      f"scores from {score_file.name} (DMOS, lower is better)",
      f"{n_copies} entries marked by orgs as reference copies are left out"])


register(DatasetSpec(
    name="live", kind="fr", title="LIVE Release 2 (779 distorted, 29 refs)",
    score_name="dmos", higher_is_better=False, scale=None,
    layout=LIVE_LAYOUT, parse=parse_live))

# ----------------------------------------------------------------------------
# CSIQ.

CSIQ_LAYOUT = """\
  src_imgs/<ref>.png                     30 references
  dst_imgs/{awgn,jpeg,jpeg2000,fnoise,blur,contrast}/<ref>.<TOKEN>.<lev>.png
  csiq.DMOS.xlsx, sheet all_by_image     header on row 4: image, dst_idx,
                                         dst_type, dst_lev, dmos_std, dmos"""

# dst_type in the spreadsheet -> (folder, file-name token); case matters.
_CSIQ_TYPES = {"noise": ("awgn", "AWGN"), "jpeg": ("jpeg", "JPEG"),
               "jpeg 2000": ("jpeg2000", "jpeg2000"),
               "fnoise": ("fnoise", "fnoise"), "blur": ("blur", "BLUR"),
               "contrast": ("contrast", "contrast")}


def parse_csiq(root: Path, checker: L.Checker) -> L.Layout:
  score_file = L.find_one(root, "csiq.DMOS.xlsx")
  if score_file is None:
    checker.require_file(root / "csiq.DMOS.xlsx", "score file", CSIQ_LAYOUT)
  base = score_file.parent
  src = checker.require_dir(base / "src_imgs", "src_imgs", CSIQ_LAYOUT)
  dst = checker.require_dir(base / "dst_imgs", "dst_imgs", CSIQ_LAYOUT)
  rows = L.read_xlsx(score_file, sheet="all_by_image")
  header_at = next((i for i, r in enumerate(rows[:10])
                    if r and "dst_type" in [str(c).strip() for c in r]), None)
  if header_at is None:
    raise L.LayoutError(f"{score_file}: no header row with 'dst_type' in the "
                        "first 10 rows of sheet all_by_image.")
  header = [str(c).strip() if c is not None else "" for c in rows[header_at]]
  col = {c: header.index(c) for c in ("image", "dst_type", "dst_lev", "dmos",
                                      "dmos_std") if c in header}
  if len(col) < 5:
    raise L.LayoutError(f"{score_file}, row {header_at + 1}: expected columns "
                        f"image, dst_type, dst_lev, dmos_std, dmos; found "
                        f"{', '.join(h for h in header if h)}.")
  records = []
  for i, r in enumerate(rows[header_at + 1:], start=header_at + 2):
    if r[col["image"]] is None:
      continue
    where = f"{score_file.name}, row {i}"
    image = r[col["image"]]
    ref = str(int(image)) if isinstance(image, float) else str(image).strip()
    kind = str(r[col["dst_type"]]).strip().lower()
    if kind not in _CSIQ_TYPES:
      raise L.LayoutError(f"{where}: unknown dst_type {kind!r} (known: "
                          f"{', '.join(_CSIQ_TYPES)}).")
    folder, token = _CSIQ_TYPES[kind]
    level = int(L.parse_float(r[col["dst_lev"]], where=where))
    records.append(L.Record(
        file=f"{folder}/{ref}.{token}.{level}.png", ref_id=ref,
        score=L.parse_float(r[col["dmos"]], where=where),
        score_std=L.parse_float(r[col["dmos_std"]], where=where),
        dist_type=folder, dist_level=float(level), where=where))
  indices = {f: L.DirIndex(dst / f) for f, _ in _CSIQ_TYPES.values()}
  exact = {f: {p.name: p for p in ix.all()} for f, ix in indices.items()}

  def lookup(file):  # exact case: the tokens differ only by case
    folder, name = file.split("/")
    return exact[folder].get(name)
  entries = L.match_images(checker, records, lookup,
                           score_file=score_file.name, folder="dst_imgs")
  ref_index = L.DirIndex(src)
  references = L.find_references(
      checker, (r.ref_id for r in records),
      lambda ref: ref_index.get(f"{ref}.png"), folder="src_imgs/")
  listed = {lookup(r.file) for r in records}
  checker.unlisted([p for ix in indices.values() for p in ix.all()], listed,
                   score_file.name)
  return L.Layout(entries, references=references)


register(DatasetSpec(
    name="csiq", kind="fr", title="CSIQ (866 distorted, 30 refs)",
    score_name="dmos", higher_is_better=False, scale=(0.0, 1.0),
    layout=CSIQ_LAYOUT, parse=parse_csiq))

# ----------------------------------------------------------------------------
# TID2013 and TID2008.

TID_LAYOUT = """\
  reference_images/I01.BMP .. I24.BMP, i25.bmp   (case is mixed)
  distorted_images/iXX_YY_Z.bmp                  (case is mixed)
  mos_with_names.txt                             lines '<mos> <image>'
  mos_std.txt                                    (optional, same order)"""


def parse_tid(root: Path, checker: L.Checker) -> L.Layout:
  score_file = L.find_one(root, "mos_with_names.txt")
  if score_file is None:
    checker.require_file(root / "mos_with_names.txt", "score file",
                         TID_LAYOUT)
  base = score_file.parent
  dist = checker.require_dir(base / "distorted_images", "distorted_images",
                             TID_LAYOUT)
  refs_dir = checker.require_dir(base / "reference_images", "reference_images",
                                 TID_LAYOUT)
  lines = L.read_text_lines(score_file)
  std_file = base / "mos_std.txt"
  stds = [L.parse_float(t, where=f"{std_file.name}, line {n}")
          for n, t in L.read_text_lines(std_file)] if std_file.is_file() else []
  if stds and len(stds) != len(lines):
    raise L.LayoutError(f"{std_file}: {len(stds)} values for {len(lines)} "
                        f"lines of {score_file.name}.")
  records = []
  for k, (n, line) in enumerate(lines):
    where = f"{score_file.name}, line {n}"
    parts = line.split()
    if len(parts) != 2:
      raise L.LayoutError(f"{where}: expected '<mos> <image>', got {line!r}.")
    stem = Path(parts[1]).stem.lower()
    bits = stem.split("_")
    if len(bits) != 3 or not all(b[-2:].isdigit() for b in bits):
      raise L.LayoutError(f"{where}: {parts[1]!r} is not named iXX_YY_Z.")
    records.append(L.Record(
        file=parts[1], ref_id=bits[0].upper(), where=where,
        score=L.parse_float(parts[0], where=where),
        score_std=stds[k] if stds else math.nan,
        dist_type=f"{int(bits[1]):02d}", dist_level=float(int(bits[2]))))
  index = L.DirIndex(dist)
  entries = L.match_images(checker, records, index.get,
                           score_file=score_file.name,
                           folder="distorted_images")
  ref_index = L.DirIndex(refs_dir)
  references = L.find_references(
      checker, (r.ref_id for r in records),
      lambda ref: ref_index.get(f"{ref}.bmp"), folder="reference_images/")
  checker.unlisted(index.all(), {index.get(r.file) for r in records},
                   score_file.name)
  return L.Layout(entries, references=references)


register(DatasetSpec(
    name="tid2013", kind="fr", title="TID2013 (3000 distorted, 25 refs)",
    score_name="mos", higher_is_better=True, scale=(0.0, 9.0),
    layout=TID_LAYOUT, parse=parse_tid))
register(DatasetSpec(
    name="tid2008", kind="fr", title="TID2008 (1700 distorted, 25 refs)",
    score_name="mos", higher_is_better=True, scale=(0.0, 9.0),
    layout=TID_LAYOUT, parse=parse_tid))

# ----------------------------------------------------------------------------
# KADID-10k.

KADID_LAYOUT = """\
  images/I01.png .. I81.png          references
  images/I01_01_01.png ...           distorted, <ref>_<type>_<level>
  dmos.csv                           dist_img,ref_img,dmos,var (dmos is a
                                     MOS on 1-5, higher is better)"""


def parse_kadid(root: Path, checker: L.Checker) -> L.Layout:
  score_file = L.find_one(root, "dmos.csv")
  if score_file is None:
    checker.require_file(root / "dmos.csv", "score file", KADID_LAYOUT)
  img_dir = checker.require_dir(score_file.parent / "images", "images",
                                KADID_LAYOUT)
  records = []
  for line, (dist_img, ref_img, dmos, var) in L.read_csv_columns(
      score_file, ("dist_img", "ref_img", "dmos", "var")):
    where = f"{score_file.name}, line {line}"
    bits = Path(dist_img).stem.split("_")
    v = L.parse_float(var, where=where)
    records.append(L.Record(
        file=dist_img, ref_id=Path(ref_img).stem, where=where,
        score=L.parse_float(dmos, where=where), score_std=math.sqrt(max(v, 0)),
        dist_type=bits[1] if len(bits) == 3 else "",
        dist_level=float(bits[2]) if len(bits) == 3 else math.nan))
  index = L.DirIndex(img_dir)
  entries = L.match_images(checker, records, index.get,
                           score_file=score_file.name, folder="images")
  references = L.find_references(
      checker, (r.ref_id for r in records),
      lambda ref: index.get(f"{ref}.png"), folder="images/")
  listed = {index.get(r.file) for r in records} | set(references.values())
  checker.unlisted(index.all(), listed, score_file.name)
  return L.Layout(entries, references=references, notes=[
      "the 'dmos' column of dmos.csv is a MOS on 1-5 (higher is better)"])


register(DatasetSpec(
    name="kadid10k", kind="fr", title="KADID-10k (10125 distorted, 81 refs)",
    score_name="mos", higher_is_better=True, scale=(1.0, 5.0),
    layout=KADID_LAYOUT, parse=parse_kadid))

# ----------------------------------------------------------------------------
# PIPAL (training part; val/test labels were not released).

PIPAL_LAYOUT = """\
  Train_Ref/A0001.bmp .. A0200.bmp
  Distortion_1/ .. Distortion_4/ (NTIRE 2021) or Train_Dist/: A0001_XX_YY.bmp
  Train_Label/*.txt              lines 'A0001_00_00.bmp,1520.0648' (Elo)"""


def parse_pipal(root: Path, checker: L.Checker) -> L.Layout:
  label_dir = checker.require_dir(root / "Train_Label", "Train_Label",
                                  PIPAL_LAYOUT)
  label_files = sorted(label_dir.glob("*.txt"))
  if not label_files:
    raise L.LayoutError(f"{label_dir}: no *.txt label files. Expected:\n"
                        f"{PIPAL_LAYOUT}")
  dist_dirs = [d for d in sorted(root.glob("Distortion_*")) if d.is_dir()]
  if (root / "Train_Dist").is_dir():
    dist_dirs.append(root / "Train_Dist")
  if not dist_dirs:
    checker.require_dir(root / "Train_Dist", "distorted-image", PIPAL_LAYOUT)
  refs_dir = checker.require_dir(root / "Train_Ref", "Train_Ref",
                                 PIPAL_LAYOUT)
  records = []
  for lf in label_files:
    for n, line in L.read_text_lines(lf):
      where = f"Train_Label/{lf.name}, line {n}"
      parts = line.split(",")
      if len(parts) != 2:
        raise L.LayoutError(f"{where}: expected '<image>,<elo>', got "
                            f"{line!r}.")
      name = parts[0].strip()
      bits = Path(name).stem.split("_")
      records.append(L.Record(
          file=name, ref_id=bits[0], where=where,
          score=L.parse_float(parts[1], where=where),
          dist_type=bits[1] if len(bits) == 3 else "",
          dist_level=float(bits[2]) if len(bits) == 3 else math.nan))
  indices = [L.DirIndex(d) for d in dist_dirs]

  def lookup(name):
    return next((p for ix in indices if (p := ix.get(name))), None)
  entries = L.match_images(checker, records, lookup,
                           score_file="Train_Label", folder=" or ".join(
                               d.name for d in dist_dirs))
  ref_index = L.DirIndex(refs_dir)
  references = L.find_references(
      checker, (r.ref_id for r in records),
      lambda ref: ref_index.get(f"{ref}.bmp"), folder="Train_Ref/")
  checker.unlisted([p for ix in indices for p in ix.all()],
                   {lookup(r.file) for r in records}, "Train_Label")
  return L.Layout(entries, references=references, notes=[
      "scores are Elo ratings, normalised by their observed range"])


register(DatasetSpec(
    name="pipal", kind="fr", title="PIPAL training part (23200 distorted)",
    score_name="elo", higher_is_better=True, scale=None,
    layout=PIPAL_LAYOUT, parse=parse_pipal))

# ----------------------------------------------------------------------------
# QADS (Zhou et al., IEEE TIP 2019): super-resolved images. The layout is the
# release's as its readers use it: 20 references source_images/img01.bmp ..,
# 980 super-resolved images super-resolved_images/img<NN>_<scale>_<method>.bmp
# (scale 2, 3 or 4; 21 SR methods), mos_with_names.txt lines '<MOS> <name>'.

QADS_LAYOUT = """\
  QADS/                             (or point --manual-dir inside it)
    source_images/img01.bmp .. img20.bmp              20 references
    super-resolved_images/img<NN>_<scale>_<method>.bmp  980 SR images
    mos_with_names.txt                lines '<MOS>  <image name>'"""


def parse_qads(root: Path, checker: L.Checker) -> L.Layout:
  score_file = L.find_one(root, "mos_with_names.txt")
  if score_file is None:
    checker.require_file(root / "mos_with_names.txt", "score file",
                         QADS_LAYOUT)
  base = score_file.parent
  sr_dir = checker.require_dir(base / "super-resolved_images",
                               "super-resolved_images", QADS_LAYOUT)
  refs_dir = checker.require_dir(base / "source_images", "source_images",
                                 QADS_LAYOUT)
  records = []
  for n, line in L.read_text_lines(score_file):
    where = f"{score_file.name}, line {n}"
    parts = line.split()
    if len(parts) != 2:
      raise L.LayoutError(f"{where}: expected '<MOS> <image name>', got "
                          f"{line!r}.")
    name = parts[1]
    bits = Path(name).stem.split("_")
    if len(bits) != 3:
      raise L.LayoutError(f"{where}: {name!r} is not named "
                          "img<NN>_<scale>_<method>.bmp.")
    records.append(L.Record(
        file=name, ref_id=bits[0], where=where,
        score=L.parse_float(parts[0], where=where),
        dist_type=f"method{bits[2]}",
        dist_level=L.parse_float(bits[1], where=where)))
  index = L.DirIndex(sr_dir)
  entries = L.match_images(checker, records, index.get,
                           score_file=score_file.name,
                           folder="super-resolved_images")
  ref_index = L.DirIndex(refs_dir)
  references = L.find_references(
      checker, (r.ref_id for r in records), ref_index.by_stem,
      folder="source_images/")
  checker.unlisted(index.all(), {index.get(r.file) for r in records},
                   score_file.name)
  return L.Layout(entries, references=references, notes=[
      "dist_type is the SR method's index, dist_level the upscaling factor"])


register(DatasetSpec(
    name="qads", kind="fr", title="QADS super-resolved images (980, 20 refs)",
    score_name="mos", higher_is_better=True, scale=None,
    layout=QADS_LAYOUT, parse=parse_qads))
