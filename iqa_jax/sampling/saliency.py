"""Training-free saliency: the spectral residual (Hou & Zhang, CVPR 2007).

  s = spectral_residual(image)            # (H, W) in [0, 1], same size

The grey image is resized to `width` columns (64 in the paper, aspect kept);
with A the log amplitude and P the phase of its Fourier transform, the
spectral residual is R = A - box3(A) (a 3 x 3 average), and the saliency map
is |IFFT(exp(R + iP))|^2 smoothed by a Gaussian (our default: sigma of
3 pixels of the 64-pixel map, i.e. width / 21; the paper smooths with a
Gaussian too but its width does not transfer across map sizes) and resized
back. `wrap=True` treats the columns as periodic (an ERP panorama), so the
smoothing crosses the 180-degree meridian. Pure JAX and jittable.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from iqa_jax import images

__all__ = ["spectral_residual"]


def spectral_residual(image: jax.Array, *, width: int = 64,
                      sigma: float | None = None,
                      wrap: bool = False) -> jax.Array:
  """Spectral-residual saliency (H, W) in [0, 1] of an (H, W[, 3]) image."""
  return _spectral_residual(jnp.asarray(image, jnp.float32), width=width,
                            sigma=sigma, wrap=wrap)


@functools.partial(jax.jit, static_argnames=("width", "sigma", "wrap"))
def _spectral_residual(image, *, width, sigma, wrap):
  g = images.grey(image)
  h, w = g.shape
  small_hw = (max(4, int(round(h * width / w))), width)
  small = images.resize(g[..., None], small_hw, method="area")[..., 0]
  f = jnp.fft.fft2(small)
  log_amp = jnp.log(jnp.abs(f) + 1e-8)
  phase = jnp.angle(f)
  box = np.ones(3) / 3.0
  smooth = images.filter_axis(images.filter_axis(log_amp, box, axis=0,
                                                 mode="wrap"),
                              box, axis=1, mode="wrap")
  sal = jnp.abs(jnp.fft.ifft2(jnp.exp(log_amp - smooth + 1j * phase))) ** 2
  sigma = sigma if sigma is not None else 3.0 * width / 64
  k = images.gaussian_kernel(sigma, radius=max(1, int(np.ceil(3 * sigma))))
  sal = images.filter_axis(sal, k, axis=0, mode="reflect")
  sal = images.filter_axis(sal, k, axis=1, mode="wrap" if wrap else "reflect")
  sal = images.resize(sal[..., None], (h, w), method="bilinear")[..., 0]
  sal = sal - sal.min()
  return sal / jnp.maximum(sal.max(), 1e-12)
