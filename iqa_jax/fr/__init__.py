"""Full-reference metrics: a registry, pure functions with their maps, and
SMIC re-weighting (source text 003).

  scorer = fr.get("psnr_smic")          # weights, options, preprocessing
  scores = scorer(ref, dist)            # (N, H, W, 3) x 2 -> (N,)
  fr.psnr_smic(ref, dist)               # the pure function (no resizing)

  registry     MetricSpec, METRICS (psnr, ssim, lpips_vgg, lpips_alex,
               dists, deepwsd, the SMIC versions psnr_smic, ssim_smic,
               lpips_smic, dists_smic, deepwsd_smic, and Table II's
               "w/ MIC" baselines psnr_mic ... deepwsd_mic)
  scoring      Scorer / get: a metric over many pairs, on all devices
  preprocess   the official resizes (SMIC, DISTS, DeepWSD), image loading
  psnr, ssim   PSNR, local MSE map; SSIM and its map
  lpips        LPIPS v0.1 (vgg, alex), its map, LPIPS-SMIC
  dists        DISTS, DISTS-SMIC
  deepwsd      DeepWSD, DeepWSD-SMIC (1-D Wasserstein: iqa_jax.wasserstein)
  smic         attention (SMIC, or pixel-domain MIC), smic_version
               (map x attention -> pooling)
  maps         the distortion / attention / weighted maps as PNGs (Fig. 5)
"""

from iqa_jax.fr import (deepwsd, dists, lpips, maps, preprocess, registry,
                        smic)
from iqa_jax.fr.psnr import mse_map, psnr
from iqa_jax.fr.registry import METRICS, MetricSpec, register
from iqa_jax.fr.scoring import Scorer, get
from iqa_jax.fr.smic import (psnr_mic, psnr_smic, smic_version, ssim_mic,
                             ssim_smic)
from iqa_jax.fr.ssim import ssim, ssim_map

__all__ = ["get", "Scorer", "METRICS", "MetricSpec", "register",
           "preprocess", "registry", "smic", "maps", "lpips", "dists", "deepwsd", "psnr", "mse_map", "ssim",
           "ssim_map", "psnr_smic", "ssim_smic", "psnr_mic", "ssim_mic",
           "smic_version"]
