"""Full-reference measures with their maps (source text 003 re-weights them).

  psnr, mse_map    iqa_jax.fr.psnr
  ssim, ssim_map   iqa_jax.fr.ssim
"""

from iqa_jax.fr.psnr import mse_map, psnr
from iqa_jax.fr.ssim import ssim, ssim_map

__all__ = ["psnr", "mse_map", "ssim", "ssim_map"]
