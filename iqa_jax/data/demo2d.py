"""`demo2d`: a built-in 2-D FR/NR dataset generated from scikit-image photos.

No subjective data exists for it, so its score is a **proxy**, called
`proxy_mos` everywhere (never MOS): the SSIM of the distorted image against
its reference (luminance Y of BT.601, Gaussian window sigma 1.5, K = (0.01,
0.03), `skimage.metrics.structural_similarity` with
`use_sample_covariance=False`; Wang et al., IEEE TIP 2004), mapped to 1-5 by
proxy_mos = 1 + 4 SSIM. It ranks distortion levels like a full-reference
metric does, not like people do: use it to exercise pipelines, never to
report quality-prediction results.

Content: 10 references of 256 x 256 made from the colour photographs that
scikit-image ships (astronaut, coffee, chelsea, rocket (two crops),
immunohistochemistry, hubble_deep_field (two crops), retina (two crops)),
each area-resized from a square crop; 4 distortions x 5 levels each (JPEG,
JPEG 2000, Gaussian blur, white Gaussian noise), 200 distorted images. The
same bytes every time (fixed crops, levels and noise key).
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import jax
import numpy as np

from iqa_jax import distortions
from iqa_jax import images as images_lib
from iqa_jax.data import layout as L
from iqa_jax.data.registry import DatasetSpec, register

SIZE = 256
SEED = 0
# (reference id, skimage.data function, (y0, x0, side) of the square crop).
REFERENCES = (
    ("astronaut", "astronaut", (0, 0, 512)),
    ("coffee", "coffee", (0, 100, 400)),
    ("chelsea", "chelsea", (0, 75, 300)),
    ("rocket_left", "rocket", (0, 0, 427)),
    ("rocket_right", "rocket", (0, 213, 427)),
    ("immunohistochemistry", "immunohistochemistry", (0, 0, 512)),
    ("hubble_a", "hubble_deep_field", (0, 0, 436)),
    ("hubble_b", "hubble_deep_field", (436, 500, 436)),
    ("retina_a", "retina", (300, 300, 500)),
    ("retina_b", "retina", (700, 500, 500)),
)
# Distortion -> its five parameters, from mild to severe.
LEVELS = {
    "jpeg": (60, 30, 15, 8, 4),                  # quality
    "jpeg2000": (12, 24, 48, 96, 192),           # compression ratio
    "blur": (0.6, 1.2, 2.4, 4.8, 9.6),           # Gaussian sigma (pixels)
    "noise": (0.02, 0.04, 0.08, 0.16, 0.32),     # std on [0, 1]
}
SCORE_FILE = "proxy_mos.csv"
LAYOUT = """\
  refs/<ref>.png                  10 references (256 x 256)
  dist/<ref>_<type>_<level>.png   200 distorted images
  proxy_mos.csv                   image,ref,dist_type,level,param,ssim,proxy_mos"""


def reference(fn: str, crop: tuple[int, int, int]) -> np.ndarray:
  """A SIZE x SIZE uint8 reference: scikit-image's photograph `fn` cut at
  crop = (row, column, side) and area-resized."""
  import skimage.data  # pylint: disable=g-import-not-at-top

  y0, x0, side = crop
  a = getattr(skimage.data, fn)()[y0:y0 + side, x0:x0 + side, :3]
  small = images_lib.resize(a.astype(np.float32) / 255.0, (SIZE, SIZE),
                            method="area")
  return images_lib.to_uint8(small)


def distort(key, ref: np.ndarray, *, kind: str, param) -> np.ndarray:
  """uint8 `ref` with distortion `kind` (a key of LEVELS) at `param`; `key`
  seeds the noise."""
  x = ref.astype(np.float32) / 255.0
  if kind == "jpeg":
    out = distortions.jpeg(x, quality=param)
  elif kind == "jpeg2000":
    out = distortions.jpeg2000(x, ratio=param)
  elif kind == "blur":
    out = distortions.gaussian_blur(x, sigma=param)
  else:
    out = distortions.gaussian_noise(key, x, sigma=param)
  return images_lib.to_uint8(out)


def ssim_y(ref: np.ndarray, dist: np.ndarray) -> float:
  """SSIM of the BT.601 luminance of two uint8 RGB images (data range 1)."""
  from skimage.metrics import structural_similarity  # pylint: disable=g-import-not-at-top

  y_ref = images_lib.grey(ref.astype(np.float64)) / 255.0
  y_dist = images_lib.grey(dist.astype(np.float64)) / 255.0
  return float(structural_similarity(
      y_ref, y_dist, data_range=1.0, gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False))


def write_layout(out_dir: str | Path, references, score_fn, *,
                 readme: str, seed: int = SEED) -> Path:
  """Writes a built-in FR layout (refs/, dist/, proxy_mos.csv) atomically.

  Args:
    out_dir: the folder; left alone if it already holds a complete layout.
    references: a function returning [(ref_id, (H, W, 3) uint8)], called only
      when the layout has to be written.
    score_fn: (ref uint8, dist uint8) -> a similarity in [0, 1] (1 = same);
      proxy_mos = 1 + 4 score_fn.
    readme: README.txt's text.
    seed: the key of the noise distortion.
  """
  out_dir = Path(out_dir)
  if (out_dir / SCORE_FILE).is_file():
    return out_dir
  out_dir.parent.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=".iqa_demo."))
  try:
    (tmp / "refs").mkdir()
    (tmp / "dist").mkdir()
    rows = []
    # On the CPU everywhere, so an accelerator's float rounding cannot change
    # the bytes.
    with jax.default_device(jax.local_devices(backend="cpu")[0]):
      root_key = jax.random.key(seed)
      for r, (ref_id, ref) in enumerate(references()):
        (tmp / "refs" / f"{ref_id}.png").write_bytes(
            images_lib.encode_png(ref))
        for t, (kind, params) in enumerate(LEVELS.items()):
          for level, param in enumerate(params, start=1):
            key = jax.random.fold_in(root_key, (r * 16 + t) * 16 + level)
            dist = distort(key, ref, kind=kind, param=param)
            name = f"{ref_id}_{kind}_{level}.png"
            (tmp / "dist" / name).write_bytes(images_lib.encode_png(dist))
            s = score_fn(ref, dist)
            rows.append((name, ref_id, kind, level, param, f"{s:.6f}",
                         f"{1 + 4 * s:.6f}"))
    with open(tmp / SCORE_FILE, "w", newline="") as f:
      w = csv.writer(f, lineterminator="\n")
      w.writerow(("image", "ref", "dist_type", "level", "param", "ssim",
                  "proxy_mos"))
      w.writerows(rows)
    (tmp / "README.txt").write_text(readme)
    if out_dir.exists():
      shutil.rmtree(out_dir)
    tmp.rename(out_dir)
  finally:
    if tmp.exists():
      shutil.rmtree(tmp)
  return out_dir


def generate(out_dir: str | Path) -> Path:
  """Writes the demo2d layout into `out_dir` (skipped if already complete)."""
  return write_layout(
      out_dir, lambda: [(ref_id, reference(fn, crop))
                        for ref_id, fn, crop in REFERENCES],
      ssim_y, readme=__doc__)


def parse(root: Path, checker: L.Checker) -> L.Layout:
  score_file = checker.require_file(root / SCORE_FILE, "score file", LAYOUT)
  records = []
  with open(score_file, newline="") as f:
    for n, row in enumerate(csv.DictReader(f), start=2):
      where = f"{SCORE_FILE}, line {n}"
      records.append(L.Record(
          file=row["image"], ref_id=row["ref"], where=where,
          score=L.parse_float(row["proxy_mos"], where=where),
          dist_type=row["dist_type"],
          dist_level=L.parse_float(row["level"], where=where)))
  index = L.DirIndex(root / "dist")
  entries = L.match_images(checker, records, index.get, score_file=SCORE_FILE,
                           folder="dist")
  ref_index = L.DirIndex(root / "refs")
  references = L.find_references(
      checker, (r.ref_id for r in records),
      lambda ref: ref_index.get(f"{ref}.png"), folder="refs")
  checker.unlisted(index.all(), {index.get(r.file) for r in records},
                   SCORE_FILE)
  return L.Layout(entries, references=references, notes=[
      "proxy_mos = 1 + 4 SSIM(Y) against the reference: a full-reference "
      "proxy, not subjective data"])


register(DatasetSpec(
    name="demo2d", kind="fr",
    title="built-in 2-D demo: 10 scikit-image refs x 4 distortions x 5 "
          "levels (proxy_mos)",
    score_name="proxy_mos", higher_is_better=True, scale=(1.0, 5.0),
    layout=LAYOUT, parse=parse, generate=generate))
