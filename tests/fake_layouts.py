"""Tiny synthetic copies of the official dataset layouts, for the tests.

Each writer makes a few small images plus score files in the exact official
format (described in the project's dataset notes), including the awkward
details: mixed-case TID2013 names, LIVE's `orgs` reference copies, CSIQ's
header on row 4, KADID's `dmos` column, QADS' two-space separator, CVIQ references at ids divisible by
34. Each returns {image name: native score} of the scored images it wrote.
"""

import csv
import io
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

_RNG = np.random.default_rng(0)


def image_bytes(fmt="PNG", size=(6, 8), seed=None):
  rng = np.random.default_rng(seed) if seed is not None else _RNG
  a = rng.integers(0, 256, size + (3,), dtype=np.uint8)
  buf = io.BytesIO()
  Image.fromarray(a).save(buf, format=fmt)
  return buf.getvalue()


def put(path: Path, fmt=None):
  path.parent.mkdir(parents=True, exist_ok=True)
  fmt = fmt or {".png": "PNG", ".bmp": "BMP", ".jpg": "JPEG",
                ".jpeg": "JPEG"}[path.suffix.lower()]
  path.write_bytes(image_bytes(fmt))
  return path


def _xlsx(path: Path, rows, sheet="Sheet1"):
  import openpyxl  # pylint: disable=g-import-not-at-top

  wb = openpyxl.Workbook()
  ws = wb.active
  ws.title = sheet
  for r in rows:
    ws.append(list(r))
  path.parent.mkdir(parents=True, exist_ok=True)
  wb.save(path)


def live(root: Path):
  base = root / "databaserelease2"
  counts = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174),
            ("fastfading", 174))
  refs = ("bikes", "womanhat", "parrots")
  for r in refs:
    put(base / "refimgs" / f"{r}.bmp")
  dmos, orgs, scores = [], [], {}
  for folder, n in counts:
    lines = []
    for k in range(1, n + 1):
      ref = refs[k % 3]
      put(base / folder / f"img{k}.bmp")
      lines.append(f"{ref}.bmp img{k}.bmp {0.1 * k:.4f}")
      is_copy = k % 50 == 0
      orgs.append(1 if is_copy else 0)
      dmos.append(0.0 if is_copy else float(k % 97))
      if not is_copy:
        scores[f"databaserelease2/{folder}/img{k}.bmp"] = float(k % 97)
    (base / folder / "info.txt").write_text("\n".join(lines) + "\n\n")
  scipy.io.savemat(base / "dmos.mat", {"dmos": np.array([dmos]),
                                       "orgs": np.array([orgs])})
  return scores


def csiq(root: Path):
  tokens = {"noise": ("awgn", "AWGN"), "jpeg": ("jpeg", "JPEG"),
            "jpeg 2000": ("jpeg2000", "jpeg2000"), "fnoise": ("fnoise",
                                                               "fnoise"),
            "blur": ("blur", "BLUR"), "contrast": ("contrast", "contrast")}
  rows = [("CSIQ DMOS",), (), ()]
  rows.append((None, None, None, "image", "dst_idx", "dst_type", "dst_lev",
               "dmos_std", "dmos"))
  scores = {}
  for ref in (1600, "cactus"):
    put(root / "src_imgs" / f"{ref}.png")
    for i, (kind, (folder, token)) in enumerate(tokens.items()):
      for lev in (1, 2):
        name = f"dst_imgs/{folder}/{ref}.{token}.{lev}.png"
        put(root / name)
        dmos = 0.05 * (i + lev)
        scores[name] = dmos
        rows.append((None, None, None, ref, i + 1, kind, lev, 0.01, dmos))
  _xlsx(root / "csiq.DMOS.xlsx", rows, sheet="all_by_image")
  return scores


def tid2013(root: Path):
  lines, scores = [], {}
  put(root / "reference_images" / "I01.BMP")
  put(root / "reference_images" / "i25.bmp")
  for ref in ("I01", "i25"):
    for t in (1, 11):
      for lev in (1, 2):
        listed = f"{ref.lower()}_{t:02d}_{lev}.bmp"
        on_disk = (f"{ref}_{t:02d}_{lev}.BMP" if t == 11 else
                   f"{ref}_{t:02d}_{lev}.bmp")
        put(root / "distorted_images" / on_disk)
        mos = 5.5 - lev - 0.1 * t
        lines.append(f"{mos:.5f} {listed}")
        scores[f"distorted_images/{on_disk}"] = round(mos, 5)
  (root / "mos_with_names.txt").write_text("\n".join(lines) + "\n")
  (root / "mos_std.txt").write_text("\n".join(["0.5"] * len(lines)) + "\n")
  return scores


def kadid(root: Path):
  rows, scores = [], {}
  for ref in ("I01", "I02"):
    put(root / "images" / f"{ref}.png")
    for t in (1, 2):
      for lev in (1, 2, 3):
        name = f"{ref}_{t:02d}_{lev:02d}.png"
        put(root / "images" / name)
        mos = 5.0 - lev
        rows.append((name, f"{ref}.png", mos, 0.25))
        scores[f"images/{name}"] = mos
  with open(root / "dmos.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(("dist_img", "ref_img", "dmos", "var"))
    w.writerows(rows)
  return scores


def pipal(root: Path):
  scores = {}
  for ref in ("A0001", "A0002"):
    put(root / "Train_Ref" / f"{ref}.bmp")
    lines = []
    for t in (0, 1):
      for lev in (0, 1):
        name = f"{ref}_{t:02d}_{lev:02d}.bmp"
        put(root / f"Distortion_{t + 1}" / name)
        elo = 1400.0 + 50 * t + 10 * lev + (ref == "A0002")
        lines.append(f"{name},{elo:.4f}")
        scores[f"Distortion_{t + 1}/{name}"] = elo
    (root / "Train_Label").mkdir(parents=True, exist_ok=True)
    (root / "Train_Label" / f"{ref}.txt").write_text("\n".join(lines) + "\n")
  return scores


def qads(root: Path):
  """QADS inside a QADS/ folder, two spaces between MOS and name."""
  base, lines, scores = root / "QADS", [], {}
  for ref in ("img01", "img02"):
    put(base / "source_images" / f"{ref}.bmp")
    for scale in (2, 4):
      for method in (1, 2):
        name = f"{ref}_{scale}_{method:02d}.bmp"
        put(base / "super-resolved_images" / name)
        mos = 0.9 - 0.1 * scale - 0.05 * method + 0.01 * (ref == "img02")
        lines.append(f"{mos:.5f}  {name}")
        scores[f"QADS/super-resolved_images/{name}"] = round(mos, 5)
  (base / "mos_with_names.txt").write_text("\n".join(lines) + "\n")
  return scores


def livec(root: Path):
  base = root / "ChallengeDB_release"
  names = [f"t{i}.bmp" for i in range(1, 8)] + ["10.bmp", "11.JPG", "12.JPG"]
  mos = [50.0] * 7 + [20.5, 70.25, 33.0]
  for n in names[7:]:
    put(base / "Images" / n)
  for n in names[:7]:
    put(base / "Images" / "trainingImages" / n)
  cell = np.empty((len(names), 1), dtype=object)
  for i, n in enumerate(names):
    cell[i, 0] = np.array([n])
  (base / "Data").mkdir(parents=True)
  scipy.io.savemat(base / "Data" / "AllImages_release.mat",
                   {"AllImages_release": cell})
  scipy.io.savemat(base / "Data" / "AllMOS_release.mat",
                   {"AllMOS_release": np.array([mos])})
  scipy.io.savemat(base / "Data" / "AllStdDev_release.mat",
                   {"AllStdDev_release": np.array([[10.0] * len(names)])})
  return {f"ChallengeDB_release/Images/{n}": m
          for n, m in zip(names[7:], mos[7:])}


def koniq(root: Path):
  scores = {}
  root.mkdir(parents=True, exist_ok=True)
  with open(root / "koniq10k_scores_and_distributions.csv", "w",
            newline="") as f:
    w = csv.writer(f)
    w.writerow(("image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS",
                "SD", "MOS_zscore"))
    for i, name in enumerate(("10004473376.jpg", "10007357496.jpg",
                              "10024362466.jpg")):
      put(root / "1024x768" / name)
      mos = 2.0 + 0.5 * i
      w.writerow((name, 1, 2, 3, 4, 5, 15, mos, 0.6, 40 + i))
      scores[f"1024x768/{name}"] = mos
  return scores


def spaq(root: Path):
  rows = [("Image name", "MOS", "Brightness", "Colorfulness", "Contrast",
           "Noisiness", "Sharpness")]
  scores = {}
  for i in range(1, 4):
    name = f"{i:05d}.jpg"
    put(root / "TestImage" / name)
    rows.append((name, 40.0 + i, 1, 2, 3, 4, 5))
    scores[f"TestImage/{name}"] = 40.0 + i
  _xlsx(root / "Annotations" / "MOS and Image attribute scores.xlsx", rows)
  return scores


def flive(root: Path):
  """labels_image.csv with the columns of FLIVE_Database's file."""
  scores = {}
  root.mkdir(parents=True, exist_ok=True)
  with open(root / "labels_image.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(("name", "mos", "width", "height", "is_valid"))
    for i, name in enumerate(("voc_emotic_ava/AVA__149.jpg",
                              "blur_dataset/motion0034.jpg",
                              "EE371R/ee371r_07.jpg")):
      put(root / "database" / name)
      w.writerow((name, 60.5 + 3 * i, 500, 375, "False"))
      scores[f"database/{name}"] = 60.5 + 3 * i
  return scores


def cviq(root: Path, *, mat=False):
  dis, ref_lines, scores = [], [], {}
  for i in range(1, 69):  # two references: 034 and 068
    name = f"{i:03d}.png"
    put(root / "CVIQ" / name)
    mos = 30.0 + (i % 34)
    if i % 34 == 0:
      ref_lines.append(f"{name} {mos}")
    else:
      dis.append(f"{name} {mos}")
      scores[f"CVIQ/{name}"] = mos
  if mat:
    cell = np.empty((68, 2), dtype=object)
    for i in range(1, 69):
      cell[i - 1, 0] = np.array([f"{i:03d}.png"])
      cell[i - 1, 1] = np.array([[30.0 + (i % 34)]])
    scipy.io.savemat(root / "CVIQ.mat", {"CVIQ": cell})
  else:
    (root / "CVIQD_dis_label.txt").write_text("\n".join(dis) + "\n")
    (root / "CVIQD_ref_label.txt").write_text("\n".join(ref_lines) + "\n")
  return scores


def oiqa(root: Path, *, mat=True):
  scores = {}
  mos = np.linspace(1.25, 9.26, 336)
  for k in range(1, 321):
    put(root / "distorted_images" / f"img{k}.jpg")
    scores[f"distorted_images/img{k}.jpg"] = round(float(mos[k - 1]), 6)
  for j in range(1, 17):
    put(root / "reference_images" / f"img{j}.png")
  mos = np.round(mos, 6)
  if mat:
    (root / "MOS").mkdir()
    scipy.io.savemat(root / "MOS" / "360IQA_MOS.mat",
                     {"MOS": mos[:, None], "MOSz": mos[:, None] * 8})
  else:
    (root / "OIQA_dis_label.txt").write_text(
        "\n".join(f"img{k} {mos[k - 1]}" for k in range(1, 321)) + "\n")
  return scores


def mvaqd(root: Path):
  lines, scores = [], {}
  for r in (1, 2):
    put(root / f"{r}.png")
    for j in range(3):
      n = 15 + (r - 1) * 3 + j + 1
      put(root / f"{n}.png")
      lines.append(f"{r}.png {n}.png {1.5 + j}")
      scores[f"{n}.png"] = 1.5 + j
  (root / "MVAQD_ref_dis_label.txt").write_text("\n".join(lines) + "\n")
  return scores


WRITERS = {"live": live, "csiq": csiq, "tid2013": tid2013, "kadid10k": kadid,
           "pipal": pipal, "livec": livec, "koniq10k": koniq, "spaq": spaq,
           "flive": flive,
           "cviq": cviq, "oiqa": oiqa, "mvaqd": mvaqd, "qads": qads}
