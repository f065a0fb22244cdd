"""Tests of image decoding, resizing and patch extraction."""

import io
import struct
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tifffile
from PIL import Image

from iqa_jax import images

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)
F255 = np.float32(255)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
  buf = io.BytesIO()
  im.save(buf, format=fmt, **kw)
  return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_lossless_formats_exact(fmt):
  out = images.decode(_encode(Image.fromarray(RGB), fmt))
  assert out.dtype == np.float32 and out.shape == (12, 10, 3)
  np.testing.assert_array_equal(out, RGB / F255)


def test_jpeg_decodes_close():
  smooth = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None], 64, 0)
  smooth = np.stack([smooth, smooth.T, smooth // 2], -1)
  out = images.decode(_encode(Image.fromarray(smooth), "JPEG", quality=95))
  assert np.abs(out - smooth / 255.0).max() < 0.05


def test_grey_palette_rgba_cmyk():
  grey = RGB[..., 0]
  out = images.decode(_encode(Image.fromarray(grey), "PNG"))
  np.testing.assert_array_equal(out,
                                np.repeat(grey[..., None], 3, -1) / F255)
  pal = Image.fromarray(RGB).quantize(colors=16)
  out = images.decode(_encode(pal, "PNG"))
  np.testing.assert_array_equal(out, np.asarray(pal.convert("RGB")) / F255)
  rgba = np.concatenate([RGB, RNG.integers(0, 256, (12, 10, 1), np.uint8)], -1)
  out = images.decode(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
  np.testing.assert_array_equal(out, RGB / F255)  # alpha dropped
  la = Image.fromarray(np.stack([grey, grey], -1), "LA")
  np.testing.assert_array_equal(images.decode(_encode(la, "PNG"))[..., 1],
                                grey / F255)
  cmyk = Image.fromarray(RGB).convert("CMYK")
  out = images.decode(_encode(cmyk, "JPEG", quality=100))
  assert out.shape == (12, 10, 3)
  assert np.abs(out - np.asarray(cmyk.convert("RGB")) / 255.0).mean() < 0.05


def _png16(a: np.ndarray) -> bytes:
  """A 16-bit greyscale PNG written by hand (Pillow cannot write one)."""
  h, w = a.shape
  raw = b"".join(b"\x00" + a[i].astype(">u2").tobytes() for i in range(h))

  def chunk(tag, body):
    return (struct.pack(">I", len(body)) + tag + body +
            struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))
  return (b"\x89PNG\r\n\x1a\n" +
          chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)) +
          chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_keeps_precision():
  a = RNG.integers(0, 65536, (5, 7), dtype=np.uint16)
  out = images.decode(_png16(a))
  np.testing.assert_allclose(out[..., 2], a / 65535.0, atol=1e-7)
  rgb16 = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
  buf = io.BytesIO()
  tifffile.imwrite(buf, rgb16)
  out = images.decode(buf.getvalue())
  np.testing.assert_allclose(out, rgb16 / 65535.0, atol=1e-7)


def test_exif_orientation_applied():
  im = Image.fromarray(RGB)  # 12 x 10
  exif = Image.Exif()
  exif[0x0112] = 6  # rotate 90 degrees clockwise to display
  out = images.decode(_encode(im, "JPEG", quality=90, exif=exif.tobytes()))
  plain = images.decode(_encode(im, "JPEG", quality=90))
  assert plain.shape == (12, 10, 3) and out.shape == (10, 12, 3)
  np.testing.assert_array_equal(out, np.rot90(plain, k=-1))  # clockwise


@pytest.mark.parametrize("data", [b"", b"garbage bytes", None])
def test_corrupt_data_raises_with_name(data):
  if data is None:
    data = _encode(Image.fromarray(RGB), "PNG")[:60]  # truncated
  want = "photo.png: the file is empty" if not data else \
      "photo.png: cannot decode"
  with pytest.raises(images.ImageDecodeError, match=want):
    images.decode(data, name="photo.png")
  with pytest.raises(images.ImageDecodeError, match="photo.png"):
    images.verify(data, name="photo.png")


def test_read_missing_file(tmp_path):
  with pytest.raises(images.ImageDecodeError, match="cannot read"):
    images.read(tmp_path / "none.png")


def test_encode_png_round_trip():
  x = RGB / F255
  np.testing.assert_array_equal(images.decode(images.encode_png(x)), x)
  assert images.verify(images.encode_png(x)) == (12, 10)


# ----------------------------------------------------------------------------
# Resize.


def test_area_resize_integer_factor_is_block_mean():
  x = RNG.random((2, 12, 8, 3)).astype(np.float32)
  out = jax.jit(lambda v: images.resize(v, (4, 2), method="area"))(x)
  expected = x.reshape(2, 4, 3, 2, 4, 3).mean(axis=(2, 4))
  np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_area_resize_fractional_preserves_mean_and_constants():
  x = RNG.random((9, 7, 3)).astype(np.float32)
  out = images.resize(x, (4, 3), method="area")
  np.testing.assert_allclose(out.mean(), x.mean(), rtol=1e-5)
  const = np.full((9, 7, 3), 0.25, np.float32)
  np.testing.assert_allclose(images.resize(const, (5, 4), method="area"),
                             0.25, rtol=1e-6)


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "nearest"])
def test_resize_methods_shapes_and_identity(method):
  x = RNG.random((1, 16, 16, 3)).astype(np.float32)
  assert images.resize(x, (8, 24), method=method).shape == (1, 8, 24, 3)
  np.testing.assert_allclose(images.resize(x, (16, 16), method=method), x,
                             atol=1e-6)
  with pytest.raises(ValueError, match="method must be"):
    images.resize(x, (8, 8), method="lanczos")


# ----------------------------------------------------------------------------
# Patches.


def test_grid_positions_and_extract():
  pos = images.grid_positions(10, 9, size=4)
  assert pos.tolist() == [[0, 0], [0, 4], [4, 0], [4, 4]]
  x = jnp.asarray(RNG.random((2, 10, 9, 3)), jnp.float32)
  patches, p = jax.jit(lambda v: images.extract_grid(v, size=4))(x)
  assert patches.shape == (2, 4, 4, 4, 3)
  np.testing.assert_array_equal(patches[1, 3], x[1, 4:8, 4:8])
  overl, p2 = images.extract_grid(x[0], size=4, stride=2)
  assert overl.shape == (len(p2), 4, 4, 3) and len(p2) == 4 * 3
  np.testing.assert_array_equal(overl[1], x[0, 0:4, 2:6])
  del p


def test_extract_patches_traced_positions():
  x = jnp.asarray(RNG.random((20, 20, 3)), jnp.float32)
  pos = jnp.array([[0, 0], [3, 7], [16, 16]])
  out = jax.jit(lambda v, q: images.extract_patches(v, q, size=4))(x, pos)
  np.testing.assert_array_equal(out[1], x[3:7, 7:11])
  np.testing.assert_array_equal(out[2], x[16:20, 16:20])


def test_grid_positions_errors():
  with pytest.raises(ValueError, match="exceeds the image"):
    images.grid_positions(4, 4, size=5)
  with pytest.raises(ValueError, match=">= 1"):
    images.grid_positions(4, 4, size=2, stride=0)


def test_erp_grid_count():
  """4096 x 2048 ERP, 128 x 128 non-overlapping patches: 32 x 16 = 512."""
  assert len(images.grid_positions(2048, 4096, size=128)) == 512
