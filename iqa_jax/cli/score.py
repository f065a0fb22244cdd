"""`iqa-jax score`: full-reference scores of image pairs, written as CSV.

  iqa-jax score --metric psnr|ssim|psnr_smic|ssim_smic \\
      --ref REF_DIR_OR_FILE --dist DIST_DIR_OR_FILE --out SCORES.csv \\
      [--resize auto|official|none] [--projections FILE.npz [--prefix P]] \\
      [--projection-kind xavier|gaussian] [--seed N] \\
      [--batch-size 8] [--window 7] [--data-range 1.0]

Pairs:
  --ref FILE --dist FILE   one pair
  --ref FILE --dist DIR    every image in DIR against FILE
  --ref DIR  --dist DIR    each distorted image against the reference of the
                           same file name, or else the reference whose name
                           (without suffix, ignoring case) is the longest
                           prefix of the distorted name followed by _ - or .
                           (KADID's I01_01_1.png -> I01.png, TID's
                           i01_01_1.bmp -> I01.BMP). A distorted image with no
                           reference is an error, never skipped.

The CSV has the columns image (the distorted file's name), the metric, and
ref; `iqa-jax evaluate --pred SCORES.csv --mos MOS.csv` reads it (add
--lower-is-better for ssim_smic, a distance).

--resize auto applies the official SMIC preprocessing (`prepare_image`: a
short side above 128 pixels becomes max(floor(short / 48) * 32, 128),
torchvision/PIL bilinear) for the SMIC metrics and nothing for psnr/ssim.
The SMIC metrics use the pretrained VGG16 and, unless --projections is
given, random projections (Xavier-uniform unless --projection-kind gaussian)
from a fixed key (--seed, default iqa_jax.fr.scoring.DEFAULT_PROJECTION_SEED).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["add_parser", "find_pairs", "official_size", "load_image"]

_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def add_parser(sub) -> None:
  from iqa_jax.fr.scoring import METRICS  # pylint: disable=g-import-not-at-top
  p = sub.add_parser("score", help="full-reference scores of image pairs",
                     description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--metric", required=True, choices=METRICS)
  p.add_argument("--ref", required=True, help="reference image or folder")
  p.add_argument("--dist", required=True, help="distorted image or folder")
  p.add_argument("--out", required=True, metavar="SCORES.csv")
  p.add_argument("--resize", choices=("auto", "official", "none"),
                 default="auto")
  p.add_argument("--projections", metavar="FILE.npz",
                 help="SMIC projection weights (see smic.load_projections)")
  p.add_argument("--prefix", help="key prefix inside --projections")
  p.add_argument("--projection-kind", choices=("xavier", "gaussian"),
                 default="xavier", help="random projections when no "
                 "--projections file is given (default xavier, as the "
                 "official code; gaussian: the paper's description)")
  p.add_argument("--seed", type=int, default=None,
                 help="key of the random projections (default "
                 "iqa_jax.fr.scoring.DEFAULT_PROJECTION_SEED)")
  p.add_argument("--batch-size", type=int, default=8)
  p.add_argument("--window", type=int, default=None,
                 help="metric window (default: 7 for the SMIC metrics and "
                 "the MSE map; scikit-image's 11-tap Gaussian for ssim)")
  p.add_argument("--data-range", type=float, default=1.0)
  p.add_argument("--overwrite", action="store_true")
  p.set_defaults(run=run)


def _images_in(folder: Path) -> list[Path]:
  return sorted(p for p in folder.iterdir()
                if p.is_file() and p.suffix.lower() in _SUFFIXES)


def find_pairs(ref: Path, dist: Path) -> list[tuple[Path, Path]]:
  """(reference, distorted) paths by the rules in the module docstring."""
  if not ref.exists():
    raise FileNotFoundError(f"--ref {ref} does not exist.")
  if not dist.exists():
    raise FileNotFoundError(f"--dist {dist} does not exist.")
  if ref.is_file():
    dists = [dist] if dist.is_file() else _images_in(dist)
    if not dists:
      raise ValueError(f"--dist {dist} holds no image ({', '.join(_SUFFIXES)}"
                       ").")
    return [(ref, d) for d in dists]
  if dist.is_file():
    raise ValueError(f"--ref {ref} is a folder but --dist {dist} a file; give "
                     "the reference file, or a folder of distorted images.")
  refs = _images_in(ref)
  if not refs:
    raise ValueError(f"--ref {ref} holds no image.")
  by_name = {r.name.lower(): r for r in refs}
  by_stem = {r.stem.lower(): r for r in refs}
  pairs, missing = [], []
  for d in _images_in(dist):
    r = by_name.get(d.name.lower())
    if r is None:
      stem = d.stem.lower()
      cands = [s for s in by_stem if len(s) < len(stem)
               and stem.startswith(s) and stem[len(s)] in "_-."]
      r = by_stem[max(cands, key=len)] if cands else None
    if r is None:
      missing.append(d.name)
    else:
      pairs.append((r, d))
  if missing:
    listed = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
    raise ValueError(
        f"{len(missing)} image(s) in --dist {dist} have no reference in "
        f"{ref} (same name, or a reference name followed by _ - or .): "
        f"{listed}. Move them out or name them after their reference.")
  if not pairs:
    raise ValueError(f"--dist {dist} holds no image.")
  return pairs


def official_size(height: int, width: int) -> tuple[int, int]:
  """SMIC's `prepare_image`: the (height, width) after resizing."""
  short, long_ = min(height, width), max(height, width)
  if short <= 128:
    return height, width
  new_short = max(short // 48 * 32, 128)
  new_long = int(new_short * long_ / short)
  return (new_short, new_long) if height <= width else (new_long, new_short)


def _raw_size(path: Path) -> tuple[int, int]:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(path) as im:
    w, h = im.size
    if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):   # EXIF rotation
      w, h = h, w
  return h, w


def load_image(path: Path, resize: bool) -> np.ndarray:
  """(H, W, 3) float32 in [0, 1]; with `resize`, `official_size` by PIL
  bilinear on the 8-bit image (what torchvision's resize does to a PIL
  image)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from iqa_jax import images  # pylint: disable=g-import-not-at-top
  x = images.read(path)
  if not resize:
    return x
  h, w = official_size(*x.shape[:2])
  if (h, w) == x.shape[:2]:
    return x
  im = Image.fromarray(images.to_uint8(x)).resize((w, h), Image.BILINEAR)
  return np.asarray(im, np.float32) / 255.0


def run(args, parser) -> int:  # pylint: disable=unused-argument
  from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
  from iqa_jax.fr import scoring, smic  # pylint: disable=g-import-not-at-top
  from iqa_jax.mesh import pad_rows  # pylint: disable=g-import-not-at-top

  out = Path(args.out)
  if out.exists() and not args.overwrite:
    print(f"iqa-jax score: {out} exists; pass --overwrite to replace it.",
          file=sys.stderr)
    return 2
  try:
    pairs = find_pairs(Path(args.ref), Path(args.dist))
    resize = (args.resize == "official" or
              (args.resize == "auto" and args.metric.endswith("_smic")))
    options = {"data_range": args.data_range}
    if args.metric == "psnr":
      if args.window is not None:
        raise ValueError("--window does not apply to psnr (a global MSE).")
    elif args.window is not None or args.metric != "ssim":
      options["window"] = 7 if args.window is None else args.window
    if args.projections and not args.metric.endswith("_smic"):
      raise ValueError("--projections applies to the SMIC metrics only.")
    proj = None
    if args.projections:
      proj = smic.load_projections(args.projections, prefix=args.prefix)
    elif args.metric.endswith("_smic") and (
        args.seed is not None or args.projection_kind != "xavier"):
      import jax  # pylint: disable=g-import-not-at-top
      seed = scoring.DEFAULT_PROJECTION_SEED if args.seed is None else args.seed
      proj = smic.random_projections(jax.random.key(seed),
                                     kind=args.projection_kind)
    scorer = scoring.Scorer(args.metric, projections=proj,
                            batch_size=args.batch_size, **options)
    # Same-size pairs are scored together; sizes come from the headers.
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (r, d) in enumerate(pairs):
      hr, hd = _raw_size(r), _raw_size(d)
      if hr != hd:
        raise ValueError(f"{d} is {hd[0]} x {hd[1]} but its reference {r} "
                         f"is {hr[0]} x {hr[1]}; full-reference metrics need "
                         "equal sizes.")
      groups.setdefault(hr, []).append(i)
  except (OSError, ValueError, KeyError) as e:
    print(f"iqa-jax score: {e}", file=sys.stderr)
    return 2
  scores = np.full(len(pairs), np.nan)
  start = time.time()
  with tqdm(total=len(pairs), desc=args.metric, unit="pair") as bar:
    for (h, w), idx in groups.items():
      for s in range(0, len(idx), scorer.batch_size):
        chunk = idx[s:s + scorer.batch_size]
        ref = np.stack([load_image(pairs[i][0], resize) for i in chunk])
        dist = np.stack([load_image(pairs[i][1], resize) for i in chunk])
        if len(idx) > scorer.batch_size:   # a group's last, short batch:
          # full size, so it reuses the compiled step instead of a new shape
          ref = pad_rows(ref, scorer.batch_size)
          dist = pad_rows(dist, scorer.batch_size)
        try:
          scores[chunk] = scorer(ref, dist)[:len(chunk)]
        except ValueError as e:   # e.g. an image too small for the metric
          print(f"iqa-jax score: {pairs[chunk[0]][1]} ({h} x {w}, scored at "
                f"{ref.shape[1]} x {ref.shape[2]}): {e}", file=sys.stderr)
          return 2
        bar.update(len(chunk))
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = out.with_name(out.name + ".tmp")
  with open(tmp, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["image", args.metric, "ref"])
    for (r, d), v in zip(pairs, scores.tolist()):
      w.writerow([d.name, repr(v), r.name])
  tmp.replace(out)
  hint = " --lower-is-better" if args.metric in scoring.LOWER_IS_BETTER else ""
  print(f"{len(pairs)} pairs scored in {time.time() - start:.1f} s -> {out}\n"
        f"evaluate with: iqa-jax evaluate --pred {out} --mos MOS.csv{hint}")
  return 0
