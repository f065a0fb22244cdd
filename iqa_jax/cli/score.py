"""`iqa-jax score`: full-reference scores of image pairs, written as CSV.

  iqa-jax score --metric METRIC --ref REF_DIR_OR_FILE \\
      --dist DIST_DIR_OR_FILE --out SCORES.csv
  iqa-jax score --metric loda --checkpoint MODEL.npz --dist DIR --out S.csv
  iqa-jax score --metric radn --checkpoint MODEL.npz --ref R --dist D \
      --out S.csv

METRIC: psnr, ssim, lpips_vgg, lpips_alex, dists, deepwsd, the SMIC
versions psnr_smic, ssim_smic, lpips_smic, dists_smic, deepwsd_smic, and
Table II's "w/ MIC" baselines psnr_mic, ssim_mic, lpips_mic, dists_mic,
deepwsd_mic (`--help` gives each one's summary). --maps DIR also draws,
per pair, the distortion map, the attention and their product (Fig. 5).

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
--lower-is-better for the distances: ssim_smic and every deep metric; the
command prints the right line). Scoring is
`iqa_jax.fr.get(METRIC).score_files(pairs)`: from Python the same defaults
give the same numbers. Compiled programs are cached on disk (see
`iqa-jax --help`), so a second run on the same image sizes starts at once.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from iqa_jax import distributed

__all__ = ["add_parser", "find_pairs", "image_mode_notes"]

_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def add_parser(sub) -> None:
  from iqa_jax.fr import registry  # pylint: disable=g-import-not-at-top
  from iqa_jax.fr.smic import DEFAULT_PROJECTION_SEED  # pylint: disable=g-import-not-at-top
  metrics = registry.names()
  p = sub.add_parser("score", help="full-reference scores of image pairs",
                     description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--metric", required=True,
                 choices=metrics + ("loda", "radn"),
                 help="; ".join(f"{m}: {registry.spec(m).summary}"
                                for m in metrics) + "; loda: no reference, "
                 "a trained LoDa (--checkpoint); radn: a trained RADN or "
                 "WResNet (--checkpoint)")
  p.add_argument("--ref", help="reference image or folder (every metric "
                 "but loda)")
  p.add_argument("--checkpoint", metavar="FILE",
                 help="loda: a model written by `iqa-jax loda train` "
                 "(WORKDIR/model_split<k>.npz) or an authors' checkpoint; "
                 "radn: one written by `iqa-jax radn train` "
                 "(WORKDIR/model_<network>_fold<k>.npz) or an authors' "
                 "state dict")
  p.add_argument("--variant", default="", metavar="NAME",
                 help="radn: the network an authors' state dict holds "
                 "(radn, wresnet, radn_deform, radn_attention; default: "
                 "the file's, else radn)")
  p.add_argument("--vit-weights", default="", metavar="FILE",
                 help="loda: the pretrained ViT-B/16 (.safetensors), when "
                 "the checkpoint does not carry its backbones")
  p.add_argument("--cnn-weights", default="", metavar="FILE",
                 help="loda: the pretrained ResNet-50 (.safetensors)")
  p.add_argument("--dist", required=True, help="distorted image or folder")
  p.add_argument("--out", required=True, metavar="SCORES.csv",
                 help="the CSV to write (image,METRIC,ref); an existing file "
                 "is kept unless --overwrite")
  p.add_argument("--resize",
                 choices=("auto", "official", "none", "smic", "dists",
                          "deepwsd"),
                 default="auto",
                 help="auto (default): the metric's own official resize "
                 "(SMIC's prepare_image for the SMIC metrics except "
                 "deepwsd_smic, DISTS' for dists, DeepWSD's for deepwsd and "
                 "deepwsd_smic, none for psnr, ssim and LPIPS); smic (or "
                 "official), dists, deepwsd: that resize for any metric; "
                 "none: score the images as they are")
  p.add_argument("--projections", metavar="FILE.npz",
                 help="SMIC projection weights (see smic.load_projections; "
                 "default: random projections from --seed)")
  p.add_argument("--prefix", help="key prefix inside --projections "
                 "(default: none)")
  p.add_argument("--projection-kind", choices=("xavier", "gaussian"),
                 default="xavier", help="random projections when no "
                 "--projections file is given (default xavier, as the "
                 "official code; gaussian: the paper's description)")
  p.add_argument("--seed", type=int, default=None,
                 help="key of the random projections (default "
                 f"{DEFAULT_PROJECTION_SEED})")
  p.add_argument("--batch-size", type=int, default=8,
                 help="pairs per step, rounded up to a multiple of the "
                 "devices (default 8)")
  p.add_argument("--window", type=int, default=None,
                 help="metric window (default: 7 for the SMIC metrics' maps; "
                 "scikit-image's 11-tap Gaussian for ssim; psnr has none)")
  p.add_argument("--data-range", type=float, default=1.0,
                 help="the images' value range after reading to [0, 1] "
                 "(default 1.0)")
  p.add_argument("--overwrite", action="store_true",
                 help="replace an existing --out file")
  p.add_argument("--skip-bad", action="store_true",
                 help="report a bad pair (sizes differ, unreadable file, "
                 "NaN pixels, below the metric's minimum size) by name and "
                 "score the others; the CSV leaves it out (default: stop "
                 "at the first bad pair)")
  p.add_argument("--maps", metavar="DIR",
                 help="also write, per scored pair, DIR/<distorted name>.png: "
                 "the metric's distortion map, its attention map and their "
                 "product, with colour bars (Fig. 5 of source text 003; "
                 "the SMIC and w/ MIC metrics only)")
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


def image_mode_notes(paths) -> list[str]:
  """One line per image that is not plain RGB, saying how it is scored:
  grey is repeated over R, G, B and an alpha channel dropped, as the
  official codes' PIL `convert("RGB")` does (never silently)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  notes = []
  for p in dict.fromkeys(paths):
    try:
      with Image.open(p) as im:
        mode, transparent = im.mode, "transparency" in im.info
    except OSError:
      continue          # unreadable: reported by the scoring itself
    if mode in ("L", "I;16", "I;16B", "I;16L", "I", "F", "1"):
      notes.append(f"{p} is grey (mode {mode}); scored as RGB with the grey "
                   "value in all three channels, as the official codes read "
                   "it.")
    elif "A" in mode or transparent:
      notes.append(f"{p} has an alpha channel (mode {mode}); it is dropped, "
                   "as the official codes do: transparent pixels score as "
                   "their colour. Flatten the image onto its background "
                   "first if that is wrong.")
  return notes


def _scorer(args):
  """The Scorer the flags describe."""
  from iqa_jax import fr  # pylint: disable=g-import-not-at-top
  from iqa_jax.fr import smic  # pylint: disable=g-import-not-at-top
  spec = fr.registry.spec(args.metric)
  smic_metric = "projections" in spec.weight_names
  options = {}
  if "data_range" in spec.options():
    options["data_range"] = args.data_range
  elif args.data_range != 1.0:
    raise ValueError(f"--data-range does not apply to {args.metric} (its "
                     "networks take images in [0, 1]).")
  if args.window is not None:
    if "window" not in spec.options():
      raise ValueError(f"--window does not apply to {args.metric}.")
    options["window"] = args.window
  if (args.projections or args.seed is not None or
      args.projection_kind != "xavier") and not smic_metric:
    raise ValueError("--projections, --seed and --projection-kind apply to "
                     "the SMIC metrics only.")
  if args.projections:
    options["projections"] = smic.load_projections(args.projections,
                                                   prefix=args.prefix)
  elif smic_metric and (args.seed is not None or
                        args.projection_kind != "xavier"):
    import jax  # pylint: disable=g-import-not-at-top
    seed = smic.DEFAULT_PROJECTION_SEED if args.seed is None else args.seed
    options["projections"] = smic.random_projections(
        jax.random.key(seed), kind=args.projection_kind)
  preprocess = {"auto": "default", "official": "smic",
                "none": None}.get(args.resize, args.resize)
  return fr.get(args.metric, preprocess=preprocess,
                batch_size=args.batch_size, **options)


def _write_maps(scorer, pairs, folder: Path) -> int:
  """DIR/<distorted name>.png per pair (`fr.maps.figure`)."""
  from iqa_jax import parallel  # pylint: disable=g-import-not-at-top
  from iqa_jax.fr import maps  # pylint: disable=g-import-not-at-top
  with parallel.progress_bar(total=len(pairs), desc="maps",
                             unit="pair") as bar:
    for r, d in pairs:
      ref, dist = scorer.preprocessed(r), scorer.preprocessed(d)
      rows = maps.pair_rows(scorer.maps(ref[None], dist[None]), 0)
      if distributed.is_main():
        maps.save(maps.figure(ref, dist, rows,
                              title=f"{scorer.name}: {d.name} (reference "
                              f"{r.name})"),
                  folder / f"{d.name}.png")
      bar.update(1)
  return len(pairs)


def _run_loda(args, out: Path, start: float) -> int:
  """No-reference scores of --dist (an image or a folder) by a LoDa."""
  from iqa_jax.loda import score as loda_score  # pylint: disable=g-import-not-at-top
  try:
    if not args.checkpoint:
      raise ValueError("--metric loda needs --checkpoint FILE (a model of "
                       "`iqa-jax loda train`: WORKDIR/model_split0.npz).")
    if args.ref:
      raise ValueError("--metric loda scores images without a reference; "
                       "drop --ref.")
    dist = Path(args.dist)
    if not dist.exists():
      raise FileNotFoundError(f"--dist {dist} does not exist.")
    files = [dist] if dist.is_file() else _images_in(dist)
    if not files:
      raise ValueError(f"--dist {dist} holds no image.")
    model, cfg = loda_score.load(args.checkpoint,
                                 vit_weights=args.vit_weights,
                                 cnn_weights=args.cnn_weights)
    scores = loda_score.score_images(model, cfg, files, progress=True)
  except (OSError, ValueError, KeyError) as e:
    print(f"iqa-jax score: {str(e).strip()}", file=sys.stderr)
    return 2
  for line in image_mode_notes(files)[:10]:
    print(f"iqa-jax score: note: {line}", file=sys.stderr)
  _write_rows(out, ["image", "loda"],
              [[p.name, repr(v)] for p, v in zip(files,
                                                 np.asarray(scores).tolist())])
  print(f"{distributed.prefix()}{len(files)} images scored in "
        f"{time.time() - start:.1f} s -> {out}\nevaluate with: iqa-jax "
        f"evaluate --pred {out} --mos MOS.csv")
  return 0


def _write_rows(out: Path, header, rows) -> None:
  """A CSV of `header` and `rows`, atomically; by process 0 only in a
  multi-process run (every process computed the same scores)."""
  if not distributed.is_main():
    return
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = out.with_name(out.name + ".tmp")
  with open(tmp, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    for row in rows:
      w.writerow(row)
  tmp.replace(out)


def _run_radn(args, out: Path, start: float) -> int:
  """Full-reference scores of the pairs by a trained RADN / WResNet."""
  from iqa_jax.radn import score as radn_score  # pylint: disable=g-import-not-at-top
  try:
    if not args.checkpoint:
      raise ValueError("--metric radn needs --checkpoint FILE (a model of "
                       "`iqa-jax radn train`: WORKDIR/model_radn_fold0.npz).")
    if not args.ref:
      raise ValueError("--metric radn is full-reference: pass --ref.")
    pairs = find_pairs(Path(args.ref), Path(args.dist))
    model, info = radn_score.load(args.checkpoint, variant=args.variant)
    scores = radn_score.score_pairs(model, pairs, progress=True,
                                    batch_size=args.batch_size)
  except (OSError, ValueError, KeyError) as e:
    print(f"iqa-jax score: {str(e).strip()}", file=sys.stderr)
    return 2
  for line in image_mode_notes([p for pair in pairs for p in pair])[:10]:
    print(f"iqa-jax score: note: {line}", file=sys.stderr)
  _write_rows(out, ["image", "radn", "ref"],
              [[d.name, repr(v), r.name] for (r, d), v in
               zip(pairs, np.asarray(scores).tolist())])
  print(f"{distributed.prefix()}{len(pairs)} pairs scored by "
        f"{info['variant']} in "
        f"{time.time() - start:.1f} s -> {out}\nevaluate with: iqa-jax "
        f"evaluate --pred {out} --mos MOS.csv")
  return 0


def run(args, parser) -> int:  # pylint: disable=unused-argument
  out = Path(args.out)
  if out.exists() and not args.overwrite:
    print(f"iqa-jax score: {out} exists; pass --overwrite to replace it.",
          file=sys.stderr)
    return 2
  start = time.time()
  if args.metric == "loda":
    return _run_loda(args, out, start)
  if args.metric == "radn":
    return _run_radn(args, out, start)
  if not args.ref:
    print(f"iqa-jax score: --ref is required for {args.metric} (a "
          "full-reference metric).", file=sys.stderr)
    return 2
  try:
    pairs = find_pairs(Path(args.ref), Path(args.dist))
    scorer = _scorer(args)
    if args.maps and scorer.spec.maps is None:
      raise ValueError(f"--maps draws an attention map, which {args.metric} "
                       "has not; use its SMIC version (e.g. psnr_smic) or "
                       "w/ MIC version (e.g. psnr_mic).")
    errors = [] if args.skip_bad else None
    scores = scorer.score_files(pairs, progress=True, errors=errors)
  except (OSError, ValueError, KeyError) as e:
    hint = ("" if args.skip_bad else " (--skip-bad scores the other "
            "pairs and reports the bad ones)")
    print(f"iqa-jax score: {str(e).strip()}{hint}", file=sys.stderr)
    return 2
  notes = image_mode_notes([p for pair in pairs for p in pair])
  for line in notes[:10]:
    print(f"iqa-jax score: note: {line}", file=sys.stderr)
  if len(notes) > 10:
    print(f"iqa-jax score: note: {len(notes) - 10} more image(s) grey or "
          "with alpha, read the same way.", file=sys.stderr)
  skipped = {i for i, _ in errors or ()}
  for i, message in errors or ():
    print(f"iqa-jax score: skipped {pairs[i][1]} (reference {pairs[i][0]}): "
          f"{message}", file=sys.stderr)
  if skipped and len(skipped) == len(pairs):
    print("iqa-jax score: every pair was bad; nothing written.",
          file=sys.stderr)
    return 2
  _write_rows(out, ["image", args.metric, "ref"],
              [[d.name, repr(v), r.name] for i, ((r, d), v) in enumerate(
                  zip(pairs, np.asarray(scores).tolist())) if i not in skipped])
  if args.maps:
    n = _write_maps(scorer, [p for i, p in enumerate(pairs)
                             if i not in skipped], Path(args.maps))
    print(f"{n} map figure(s) -> {args.maps}")
  hint = "" if scorer.higher_is_better else " --lower-is-better"
  left = f" ({len(skipped)} bad pair(s) skipped, listed above)" \
      if skipped else ""
  print(f"{distributed.prefix()}{len(pairs) - len(skipped)} pairs scored in "
        f"{time.time() - start:.1f} s -> {out}{left}\n"
        f"evaluate with: iqa-jax evaluate --pred {out} --mos MOS.csv{hint}")
  return 0
