"""`demo360`: a built-in 360-degree dataset generated from scikit-image photos.

12 equirectangular references of 640 x 320 (small, so the set builds in well
under a minute on 2 cores). Each maps six photographs onto the faces of a
cube (160 x 160 per face) and converts the cubemap to ERP
(`sphere.cube_to_erp`); every reference draws its own six photographs, square
crops, flips and quarter turns from a seeded generator, so the contents
differ. Each gets the four distortions of `demo2d` at five levels (240
distorted panoramas).

No subjective data exists for it, so its score is a **proxy**, `proxy_mos`
(never MOS): the spherically weighted SSIM of the distorted panorama against
its reference, i.e. the SSIM map (luminance, Gaussian window sigma 1.5,
`skimage.metrics.structural_similarity`) averaged with the solid angle of
every ERP pixel as weight (as WS-SSIM does), mapped by 1 + 4 WS-SSIM. Use it
to exercise pipelines, never to report quality-prediction results. The same
bytes every time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iqa_jax import images as images_lib
from iqa_jax import sphere
from iqa_jax.data import demo2d
from iqa_jax.data.registry import DatasetSpec, register

HEIGHT, WIDTH, FACE = 320, 640, 160
N_REFERENCES = 12
SEED = 360
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
          "hubble_deep_field", "retina")
LAYOUT = """\
  refs/pano_NN.png                12 ERP references (640 x 320)
  dist/pano_NN_<type>_<level>.png 240 distorted panoramas
  proxy_mos.csv                   image,ref,dist_type,level,param,ssim,proxy_mos"""


def _face(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  h, w = photo.shape[:2]
  side = int(min(h, w) * rng.uniform(0.6, 1.0))
  y0 = int(rng.integers(0, h - side + 1))
  x0 = int(rng.integers(0, w - side + 1))
  crop = photo[y0:y0 + side, x0:x0 + side, :3].astype(np.float32) / 255.0
  crop = np.rot90(crop, k=int(rng.integers(0, 4)))
  if rng.random() < 0.5:
    crop = crop[:, ::-1]
  return np.asarray(images_lib.resize(np.ascontiguousarray(crop),
                                      (FACE, FACE), method="area"))


def references(which=None) -> list[tuple[str, np.ndarray]]:
  """The (ref_id, uint8 ERP) references: all 12, or those of the indices
  `which` (each is generated from its own index alone)."""
  import skimage.data  # pylint: disable=g-import-not-at-top

  photos = [getattr(skimage.data, name)() for name in PHOTOS]
  out = []
  for r in (range(N_REFERENCES) if which is None else which):
    rng = np.random.default_rng([SEED, r])
    pick = rng.choice(len(photos), size=6, replace=False)
    faces = np.stack([_face(photos[i], rng) for i in pick])
    erp = sphere.cube_to_erp(faces, height=HEIGHT, width=WIDTH)
    out.append((f"pano_{r:02d}", images_lib.to_uint8(erp)))
  return out


_WEIGHTS = sphere.solid_angle_weights(HEIGHT, WIDTH)


def ws_ssim(ref: np.ndarray, dist: np.ndarray) -> float:
  """SSIM map of the BT.601 luminance, weighted by pixel solid angle."""
  from skimage.metrics import structural_similarity  # pylint: disable=g-import-not-at-top

  _, smap = structural_similarity(
      images_lib.grey(ref.astype(np.float64)) / 255.0,
      images_lib.grey(dist.astype(np.float64)) / 255.0,
      data_range=1.0, gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False, full=True)
  return float(np.sum(smap * _WEIGHTS) / np.sum(_WEIGHTS))


def generate(out_dir: str | Path) -> Path:
  """Writes the demo360 layout into `out_dir` (skipped if already complete)."""
  return demo2d.write_layout(out_dir, references, ws_ssim, readme=__doc__,
                             seed=SEED)


register(DatasetSpec(
    name="demo360", kind="360",
    title="built-in 360-degree demo: 12 cubemap panoramas x 4 distortions x "
          "5 levels (proxy_mos)",
    score_name="proxy_mos", higher_is_better=True, scale=(1.0, 5.0),
    layout=LAYOUT, parse=demo2d.parse, generate=generate))
