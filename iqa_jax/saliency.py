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

__all__ = ["spectral_residual", "grey"]


def grey(image: jax.Array) -> jax.Array:
  """BT.601 luma (H, W) of an (H, W, 3) image (a 2-D input passes through)."""
  image = jnp.asarray(image, jnp.float32)
  if image.ndim == 2:
    return image
  return image @ jnp.array([0.299, 0.587, 0.114], jnp.float32)


def _gauss_kernel(sigma: float) -> np.ndarray:
  r = max(1, int(np.ceil(3 * sigma)))
  t = np.arange(-r, r + 1, dtype=np.float64)
  k = np.exp(-0.5 * (t / sigma) ** 2)
  return (k / k.sum()).astype(np.float32)


def _blur_axis(x, kernel, axis, wrap):
  r = len(kernel) // 2
  pad = [(0, 0)] * x.ndim
  pad[axis] = (r, r)
  x = jnp.pad(x, pad, mode="wrap" if wrap else "reflect")
  n = x.shape[axis] - 2 * r
  return sum(float(kernel[i]) * jax.lax.slice_in_dim(x, i, i + n, axis=axis)
             for i in range(len(kernel)))


def spectral_residual(image: jax.Array, *, width: int = 64,
                      sigma: float | None = None,
                      wrap: bool = False) -> jax.Array:
  """Spectral-residual saliency (H, W) in [0, 1] of an (H, W[, 3]) image."""
  return _spectral_residual(jnp.asarray(image, jnp.float32), width=width,
                            sigma=sigma, wrap=wrap)


@functools.partial(jax.jit, static_argnames=("width", "sigma", "wrap"))
def _spectral_residual(image, *, width, sigma, wrap):
  g = grey(image)
  h, w = g.shape
  small_hw = (max(4, int(round(h * width / w))), width)
  small = images.resize(g[..., None], small_hw, method="area")[..., 0]
  f = jnp.fft.fft2(small)
  log_amp = jnp.log(jnp.abs(f) + 1e-8)
  phase = jnp.angle(f)
  box = np.ones(3, np.float32) / 3.0
  smooth = _blur_axis(_blur_axis(log_amp, np.asarray(box), 0, True),
                      np.asarray(box), 1, True)
  sal = jnp.abs(jnp.fft.ifft2(jnp.exp(log_amp - smooth + 1j * phase))) ** 2
  k = _gauss_kernel(sigma if sigma is not None else 3.0 * width / 64)
  sal = _blur_axis(_blur_axis(sal, k, 0, False), k, 1, wrap)
  sal = images.resize(sal[..., None], (h, w), method="bilinear")[..., 0]
  sal = sal - sal.min()
  return sal / jnp.maximum(sal.max(), 1e-12)
