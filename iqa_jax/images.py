"""Image decoding, resizing and patch extraction.

Decoding is host-side (Pillow, and tifffile for 16-bit TIFF) and returns float32
RGB in [0, 1], HWC. Resizing and patch extraction are pure JAX functions on
NHWC (or HWC) float arrays, jittable with static sizes.

Conversions done by `decode` (never a rejection):
* greyscale (1-bit, 8-bit, 16-bit, 32-bit integer, float) -> replicated to RGB;
* palette -> RGB through the palette;
* RGBA / LA / PA -> RGB with the alpha channel *dropped* (not composited: IQA
  databases store opaque content, and compositing would invent a background);
* CMYK and YCbCr -> RGB by Pillow's conversion;
* 16-bit greyscale PNG and 16-bit TIFF keep their full precision (divided by
  65535); 16-bit RGB PNG is read at 8-bit precision (Pillow's limit);
* floating-point data (TIFF) is clipped to [0, 1];
* the EXIF orientation tag is applied, so phone photos come out upright.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "ImageDecodeError",
    "decode",
    "verify",
    "read",
    "read_size",
    "to_uint8",
    "encode_png",
    "resize",
    "grid_positions",
    "extract_patches",
    "extract_grid",
    "filter_axis",
    "grey",
    "gaussian_kernel",
    "patch_variance",
    "LUMA",
]

LUMA = (0.299, 0.587, 0.114)   # ITU-R BT.601 luma weights

ResizeMethod = Literal["bilinear", "bicubic", "area", "nearest"]


class ImageDecodeError(ValueError):
  """An image file is missing, corrupt, truncated or of an unknown format."""


def _scale_integer(a: np.ndarray) -> np.ndarray:
  """8-bit data / 255, wider integers / 65535 (clipped), floats clipped."""
  if a.dtype == bool:
    return a.astype(np.float32)
  if a.dtype.kind in "iu":
    scale = 255.0 if a.dtype.itemsize == 1 else 65535.0
    return np.clip(a.astype(np.float32) / scale, 0.0, 1.0)
  return np.clip(a.astype(np.float32), 0.0, 1.0)


def _to_rgb(a: np.ndarray) -> np.ndarray:
  if a.ndim == 2:
    a = a[..., None]
  if a.shape[-1] == 1:
    return np.repeat(a, 3, axis=-1)
  if a.shape[-1] == 2:  # grey + alpha
    return np.repeat(a[..., :1], 3, axis=-1)
  return a[..., :3]  # drop alpha


def _decode_pil(im: Image.Image) -> np.ndarray:
  im = ImageOps.exif_transpose(im)
  mode = im.mode
  if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
    a = np.asarray(im, dtype=np.uint16)
    return _to_rgb(a.astype(np.float32) / 65535.0)
  if mode == "I":  # 16-bit PNG in older Pillows, 32-bit integer TIFF
    return _to_rgb(np.clip(np.asarray(im, np.float32) / 65535.0, 0.0, 1.0))
  if mode == "F":
    return _to_rgb(np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0))
  if mode == "1":
    return _to_rgb(np.asarray(im, dtype=np.float32))
  if mode in ("L", "LA"):
    return _to_rgb(np.asarray(im.convert("L"), np.float32) / 255.0)
  if mode != "RGB":
    im = im.convert("RGB")  # P, PA, RGBA, CMYK, YCbCr, LAB, HSV ...
  return np.asarray(im, dtype=np.float32) / 255.0


_FIX = "replace it with a complete copy"


def _check_not_empty(data, name, fix):
  if not data:
    raise ImageDecodeError(f"{name}: the file is empty (0 bytes); "
                           f"{fix or _FIX}.")


def _decode_error(name, e, fix):
  return ImageDecodeError(
      f"{name}: cannot decode the image ({type(e).__name__}: {e}). The file "
      f"is corrupt, truncated or not an image; {fix or _FIX}.")


def decode(data: bytes, *, name: str = "<bytes>",
           fix: str | None = None) -> np.ndarray:
  """Decodes an encoded image (JPEG, PNG, BMP, TIFF, ...) to RGB float32.

  Args:
    data: the file's bytes.
    name: the image's name, for error messages.
    fix: what the error message tells the user to do (default: replace the
      file with a complete copy; dataset builders say "re-extract it from
      the official archive").

  Returns:
    (H, W, 3) float32 in [0, 1].

  Raises:
    ImageDecodeError: corrupt, truncated or unknown data.
  """
  if data[:4] in (b"II*\x00", b"MM\x00*"):  # TIFF: keep 16-bit precision
    try:
      import tifffile  # pylint: disable=g-import-not-at-top

      a = tifffile.imread(io.BytesIO(data))
      if a.ndim in (2, 3) and a.dtype.kind in "uif":
        return np.ascontiguousarray(_to_rgb(_scale_integer(a)))
    except Exception:  # pylint: disable=broad-except
      pass  # compressed or exotic TIFF: let Pillow try
  _check_not_empty(data, name, fix)
  try:
    with Image.open(io.BytesIO(data)) as im:
      im.load()
      return np.ascontiguousarray(_decode_pil(im))
  except Exception as e:  # pylint: disable=broad-except
    raise _decode_error(name, e, fix) from None


def verify(data: bytes, *, name: str = "<bytes>",
           fix: str | None = None) -> tuple[int, int]:
  """Checks that `data` decodes completely (cheaper than `decode`).

  Returns:
    The image's (height, width).

  Raises:
    ImageDecodeError: corrupt, truncated or unknown data.
  """
  _check_not_empty(data, name, fix)
  try:
    with Image.open(io.BytesIO(data)) as im:
      im.load()
      return im.height, im.width
  except Exception as e:  # pylint: disable=broad-except
    raise _decode_error(name, e, fix) from None


def read(path: str | os.PathLike) -> np.ndarray:
  """Reads and decodes an image file; see `decode`."""
  path = Path(path)
  try:
    data = path.read_bytes()
  except OSError as e:
    raise ImageDecodeError(f"{path}: cannot read the file ({e}).") from e
  return decode(data, name=str(path))


def read_size(path: str | os.PathLike, *,
              fix: str | None = None) -> tuple[int, int]:
  """(height, width) of an image file from its header (the EXIF rotation
  applied), without decoding the pixels."""
  path = Path(path)
  try:
    empty = path.stat().st_size == 0
  except OSError as e:
    raise ImageDecodeError(f"{path}: cannot read the file ({e}).") from None
  _check_not_empty(b"" if empty else b"-", str(path), fix)
  try:
    with Image.open(path) as im:
      w, h = im.size
      if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):   # EXIF rotation
        w, h = h, w
  except Exception as e:  # pylint: disable=broad-except
    raise _decode_error(str(path), e, fix) from None
  return h, w


def to_uint8(image) -> np.ndarray:
  """Rounds a float image in [0, 1] to uint8 (values outside are clipped)."""
  return np.clip(np.rint(np.asarray(image, np.float32) * 255.0), 0,
                 255).astype(np.uint8)


def encode_png(image) -> bytes:
  """Lossless 8-bit PNG bytes of a float (in [0, 1]) or uint8 HWC image."""
  a = np.asarray(image)
  if a.dtype != np.uint8:
    a = to_uint8(a)
  buf = io.BytesIO()
  # Level 1: four times faster than 6 on photographs, for files about a
  # tenth larger (the pixels are the same at every level).
  Image.fromarray(a).save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


# ----------------------------------------------------------------------------
# Resizing (JAX).


@functools.lru_cache(maxsize=64)
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) weights: output pixel i averages input [i s, (i + 1) s)."""
  scale = n_in / n_out
  lo = np.arange(n_out)[:, None] * scale
  hi = lo + scale
  left = np.arange(n_in)[None, :]
  overlap = np.clip(np.minimum(hi, left + 1) - np.maximum(lo, left), 0, None)
  return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def resize(images: jax.Array, shape: tuple[int, int], *,
           method: ResizeMethod = "bilinear",
           antialias: bool = True) -> jax.Array:
  """Resizes (..., H, W, C) images to (..., h, w, C).

  Args:
    images: float array, HWC or NHWC.
    shape: the output (h, w), static.
    method: "bilinear", "bicubic" (Keys a = -0.5, as `jax.image.resize`),
      "nearest", or "area" (each output pixel is the overlap-weighted mean of
      the input pixels it covers: the box filter of OpenCV's INTER_AREA when
      shrinking; exact block means for integer factors).
    antialias: widen the bilinear/bicubic kernel when shrinking (as PIL and
      `jax.image.resize` do); ignored by "area" and "nearest".
  """
  h, w = shape
  if method == "area":
    mh = jnp.asarray(_area_matrix(images.shape[-3], h))
    mw = jnp.asarray(_area_matrix(images.shape[-2], w))
    return jnp.einsum("hH,...HWc,wW->...hwc", mh, images, mw,
                      precision=jax.lax.Precision.HIGHEST)
  jmethod = {"bilinear": "linear", "bicubic": "cubic",
             "nearest": "nearest"}.get(method)
  if jmethod is None:
    raise ValueError(f"method must be 'bilinear', 'bicubic', 'area' or "
                     f"'nearest', got {method!r}.")
  out_shape = images.shape[:-3] + (h, w, images.shape[-1])
  return jax.image.resize(images, out_shape, method=jmethod,
                          antialias=antialias)


# ----------------------------------------------------------------------------
# Patches (JAX).


def grid_positions(height: int, width: int, *, size: int,
                   stride: int | None = None) -> np.ndarray:
  """Top-left corners (y, x) of a grid of size x size patches, row-major.

  With stride = size (the default) the patches do not overlap; a remainder at
  the bottom/right edge that cannot hold a whole patch is left out.

  Returns:
    (P, 2) int32.
  """
  stride = size if stride is None else stride
  if size < 1 or stride < 1:
    raise ValueError(f"size and stride must be >= 1, got {size}, {stride}.")
  if size > height or size > width:
    raise ValueError(f"patch size {size} exceeds the image ({height} x "
                     f"{width}).")
  ys = np.arange(0, height - size + 1, stride)
  xs = np.arange(0, width - size + 1, stride)
  yy, xx = np.meshgrid(ys, xs, indexing="ij")
  return np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.int32)


def extract_patches(image: jax.Array, positions: jax.Array, *,
                    size: int) -> jax.Array:
  """Square patches of one (H, W, C) image at top-left `positions` (P, 2).

  Positions may be traced values (jittable); they are clamped to the image
  as `lax.dynamic_slice` does.

  Returns:
    (P, size, size, C).
  """
  def one(pos):
    return jax.lax.dynamic_slice(image, (pos[0], pos[1], 0),
                                 (size, size, image.shape[-1]))
  return jax.vmap(one)(jnp.asarray(positions, jnp.int32))


def extract_grid(images: jax.Array, *, size: int,
                 stride: int | None = None) -> tuple[jax.Array, np.ndarray]:
  """Grid patches of (H, W, C) or (N, H, W, C) images.

  Returns:
    (patches, positions): patches (P, size, size, C) or (N, P, size, size, C),
    positions (P, 2) as `grid_positions`.
  """
  h, w = images.shape[-3], images.shape[-2]
  pos = grid_positions(h, w, size=size, stride=stride)
  fn = functools.partial(extract_patches, positions=pos, size=size)
  patches = fn(images) if images.ndim == 3 else jax.vmap(fn)(images)
  return patches, pos


def filter_axis(x: jax.Array, kernel, *, axis: int,
                mode: str = "symmetric") -> jax.Array:
  """Correlates x with an odd-length 1-D `kernel` (NumPy, static) along
  `axis`. `mode` is jnp.pad's border mode ("symmetric" is scipy.ndimage's
  "reflect", "reflect" its "mirror", "wrap", or "constant" for zeros), with
  a same-size result, or "valid": no padding, len(kernel) - 1 fewer values.
  Shifted slices, so any dtype and shape works under jit."""
  r = len(kernel) // 2
  axis = axis % x.ndim
  if mode == "valid":
    xp, n = x, x.shape[axis] - 2 * r
    if n < 1:
      raise ValueError(f"a {len(kernel)}-tap kernel does not fit {x.shape[axis]}"
                       f" values along axis {axis}.")
  else:
    pad = [(0, 0)] * x.ndim
    pad[axis] = (r, r)
    xp, n = jnp.pad(x, pad, mode=mode), x.shape[axis]
  return sum(float(kernel[i]) * jax.lax.slice_in_dim(xp, i, i + n, axis=axis)
             for i in range(len(kernel)) if kernel[i] != 0)


def gaussian_kernel(sigma: float, *, truncate: float = 4.0,
                    radius: int | None = None) -> np.ndarray:
  """The normalised 1-D Gaussian (float64) of `scipy.ndimage.gaussian_filter`
  (radius int(truncate sigma + 0.5) unless given)."""
  if radius is None:
    radius = int(truncate * sigma + 0.5)
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  k = np.exp(-0.5 * (x / sigma) ** 2)
  return k / k.sum()


def grey(image):
  """BT.601 luma (..., H, W) of RGB images (..., H, W, 3): NumPy in, NumPy
  out (in the input's float precision), otherwise a jnp array (float32 for
  non-float input). An (H, W) input passes through."""
  xp = np if isinstance(image, np.ndarray) else jnp
  image = xp.asarray(image)
  if not xp.issubdtype(image.dtype, xp.floating):
    image = image.astype(xp.float32)
  if image.ndim == 2:
    return image
  return image @ xp.asarray(LUMA, image.dtype)


def patch_variance(patches) -> jax.Array:
  """Grey-level (BT.601) variance of each patch, (n, H, W, 3) -> (n,)."""
  return jnp.var(grey(jnp.asarray(patches, jnp.float32)), axis=(-2, -1))
