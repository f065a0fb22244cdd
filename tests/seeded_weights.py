"""Weights drawn from a seed in timm's names and torch layouts, and the real
crops the timm parity checks run on (`tests/test_timm_parity.py` and
`tests/data/timm_parity/make_fixture.py` share them, so the fixture's
numbers can be recomputed from the seed without torch).
"""

from pathlib import Path

import numpy as np
from PIL import Image

from iqa_jax.models import resnet, vit

DATA = Path(__file__).parent / "data"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def real_crops() -> np.ndarray:
  """(2, 224, 224, 3) ImageNet-normalised centre crops of two real
  photographs shipped with the tests (the SMIC retina and DISTS' r0)."""
  out = []
  for rel in ("smic_official/retina_ref.png", "dists_example/r0.png"):
    im = np.asarray(Image.open(DATA / rel).convert("RGB"), np.float32) / 255
    h, w, _ = im.shape
    t, l = (h - 224) // 2, (w - 224) // 2
    out.append((im[t:t + 224, l:l + 224] - MEAN) / STD)
  return np.stack(out).astype(np.float32)


def vit_state(seed: int = 0) -> dict[str, np.ndarray]:
  """ViT-B/16 (with its 1000-way head) in timm's names: matrices and
  embeddings N(0, 0.02), biases N(0, 0.02), norm scales 1 + N(0, 0.1)."""
  rng = np.random.default_rng(seed)
  out = {}
  for name, shape in vit.expected_keys().items():
    if name.endswith(".weight") and len(shape) == 1:     # LayerNorm scale
      v = 1 + 0.1 * rng.standard_normal(shape)
    else:
      v = 0.02 * rng.standard_normal(shape)
    out[name] = v.astype(np.float32)
  return out


def resnet_state(seed: int = 0) -> dict[str, np.ndarray]:
  """ResNet-50 in torchvision/timm names: He-normal convolutions and
  non-trivial batch-norm parameters and running statistics."""
  rng = np.random.default_rng(seed)
  out = {}
  for name, shape in resnet.expected_keys().items():
    if len(shape) == 4:
      v = rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))
    elif name.endswith("running_mean"):
      v = rng.uniform(-0.1, 0.1, shape)
    elif name.endswith("running_var"):
      v = rng.uniform(0.5, 2.0, shape)
    elif name.endswith("weight"):
      v = rng.uniform(0.5, 1.5, shape)
    else:
      v = rng.uniform(-0.1, 0.1, shape)
    out[name] = v.astype(np.float32)
  return out


# Strided subsamples of the ResNet stage maps (N, H, W, C) stored in the
# fixture: (spatial step, channel step) per stage.
STAGE_STEPS = {"stage1": (8, 8), "stage2": (4, 16), "stage3": (2, 32),
               "stage4": (1, 64)}


def subsample(name: str, a: np.ndarray) -> np.ndarray:
  s, c = STAGE_STEPS[name]
  return np.asarray(a)[:, ::s, ::s, ::c]


def radn_state(variant: str = "radn", seed: int = 0) -> dict[str, np.ndarray]:
  """RADN or WResNet weights in the authors' names and torch layouts:
  uniform within 1 / sqrt(fan_in) as torch initialises them, and the
  non-local output projections non-zero (so the blocks act)."""
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from iqa_jax.models import radn  # pylint: disable=g-import-not-at-top
  cls = radn.RADN if variant == "radn" else radn.WResNet
  model = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0)))
  rng = np.random.default_rng(seed)
  out = {}
  names = radn.torch_names(model)
  for name, shape in names.items():
    w = names.get(name[:-len("bias")] + "weight", shape)
    fan_in = int(np.prod(w[1:])) if len(w) > 1 else 1
    bound = 1 / np.sqrt(fan_in)
    out[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
  return out


def radn_patches(seed: int = 0, *, images: int = 2, patches: int = 6):
  """(dist, ref) (B, P, 32, 32, 3) in [0, 1]: crops of the real retina and
  colour-wheel pairs shipped with the tests, the same places in both."""
  rng = np.random.default_rng(seed)
  pairs = (("retina_ref.png", "retina_jpeg0.png"),
           ("colorwheel_ref.png", "colorwheel_jpeg1.png"))
  dist, ref = [], []
  for b in range(images):
    r_name, d_name = pairs[b % len(pairs)]
    r = np.asarray(Image.open(DATA / "smic_official" / r_name).convert(
        "RGB"), np.float32) / 255
    d = np.asarray(Image.open(DATA / "smic_official" / d_name).convert(
        "RGB"), np.float32) / 255
    ys = rng.integers(0, r.shape[0] - 31, patches)
    xs = rng.integers(0, r.shape[1] - 31, patches)
    dist.append([d[y:y + 32, x:x + 32] for y, x in zip(ys, xs)])
    ref.append([r[y:y + 32, x:x + 32] for y, x in zip(ys, xs)])
  return np.asarray(dist, np.float32), np.asarray(ref, np.float32)
