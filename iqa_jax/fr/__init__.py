"""Full-reference measures with their maps, and SMIC re-weighting (source
text 003).

  psnr, mse_map                 iqa_jax.fr.psnr
  ssim, ssim_map                iqa_jax.fr.ssim
  smic.attention, psnr_smic,    iqa_jax.fr.smic
  ssim_smic
  Scorer                        iqa_jax.fr.scoring (batched, all devices)
"""

from iqa_jax.fr import smic
from iqa_jax.fr.psnr import mse_map, psnr
from iqa_jax.fr.scoring import METRICS, Scorer
from iqa_jax.fr.smic import psnr_smic, ssim_smic
from iqa_jax.fr.ssim import ssim, ssim_map

__all__ = ["psnr", "mse_map", "ssim", "ssim_map", "smic", "psnr_smic",
           "ssim_smic", "Scorer", "METRICS"]
