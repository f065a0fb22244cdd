"""The supplement's analyses of LoDa (source text 002, Sec. 9; Fig. 8-9).

  f, rel = relative_log_amplitude(tokens)     # (K,), (K,): 0 ... pi
  _, attn = model.blocks(x)                   # LoDa; inject=False: the ViT
  a = class_token_attention(attn)             # (N, g, g), heads averaged

Fourier analysis (as Park and Kim 2022 draw it, which the paper follows):
the patch tokens of a block, reshaped to their g x g grid, are Fourier
transformed per channel; the log amplitude, averaged over images and
channels, is read along the diagonal from the zero frequency to the
highest (pi), and the value at zero is subtracted. A curve that stays
higher at high frequencies keeps more high-frequency signal (the paper:
LoDa more than the ViT).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["relative_log_amplitude", "class_token_attention",
           "fourier_figure", "attention_figure"]


def relative_log_amplitude(tokens) -> tuple[np.ndarray, np.ndarray]:
  """(frequencies 2 pi k / g for k = 0 ... g // 2, up to pi for even g;
  log amplitude minus its value at 0) of (N, 1 + g^2, C) tokens (the
  class token is dropped)."""
  t = np.asarray(tokens, np.float64)[:, 1:]
  n, p, c = t.shape
  g = int(round(p ** 0.5))
  if g * g != p:
    raise ValueError(f"{p} patch tokens do not form a square grid.")
  f = np.fft.fftshift(np.fft.fft2(t.reshape(n, g, g, c), axes=(1, 2)),
                      axes=(1, 2))
  amp = np.log(np.abs(f) + 1e-12).mean(axis=(0, 3))      # (g, g)
  centre = g // 2        # zero frequency after fftshift; index 0 is -pi
  diag = np.array([amp[centre - k, centre - k] for k in range(centre + 1)])
  freqs = 2 * np.pi * np.arange(centre + 1) / g
  return freqs, diag - diag[0]


def class_token_attention(attn) -> np.ndarray:
  """(N, g, g): the class token's attention to the patches, averaged over
  heads, from a block's (N, heads, 1 + g^2, 1 + g^2) attention."""
  a = jnp.mean(jnp.asarray(attn)[:, :, 0, 1:], axis=1)
  g = int(round(a.shape[-1] ** 0.5))
  return np.asarray(a).reshape(-1, g, g)


def fourier_figure(vit_blocks, loda_blocks):
  """Fig. 8: relative log amplitude of the last block's features (ViT
  against LoDa), and its value at pi through the depth."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(9, 3.6))
  ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
  for name, blocks in (("ViT", vit_blocks), ("LoDa", loda_blocks)):
    f, rel = relative_log_amplitude(blocks[-1])
    ax1.plot(f / np.pi, rel, marker="o", label=name)
    ax2.plot(np.arange(1, len(blocks) + 1),
             [relative_log_amplitude(b)[1][-1] for b in blocks], marker="o",
             label=name)
  ax1.set_xlabel("frequency (x pi)")
  ax1.set_ylabel("relative log amplitude")
  ax1.set_title("last block")
  ax2.set_xlabel("block")
  ax2.set_ylabel("relative log amplitude at pi")
  for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  return fig


def attention_figure(crops, vit_attention, loda_attention):
  """Fig. 9: each crop with the class token's attention of the ViT and of
  LoDa (crops (N, H, W, 3) in [0, 1])."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  n = len(crops)
  fig = Figure(figsize=(6.6, 2.2 * n))
  axes = fig.subplots(n, 3, squeeze=False)
  for i in range(n):
    for j, (img, title) in enumerate(((crops[i], "crop"),
                                      (vit_attention[i], "ViT"),
                                      (loda_attention[i], "LoDa"))):
      ax = axes[i, j]
      ax.imshow(np.clip(img, 0, 1) if j == 0 else img,
                cmap=None if j == 0 else "viridis")
      ax.set_xticks([])
      ax.set_yticks([])
      if i == 0:
        ax.set_title(title)
  fig.tight_layout()
  return fig
