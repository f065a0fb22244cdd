"""Data parallelism over every device: the mesh and THE sharded batch loop.

  mesh = data_mesh()                                # axis "data", all devices
  out = map_batches(fn, x, y, batch_size=64)        # fn(xb, yb) per batch
  groups = group_by_shape(images)                   # {shape: [indices]}

`map_batches` is the one place where a function is mapped over many rows on
all devices: rows are cut into batches of `batch_size` (rounded up to a
multiple of the device count), the last batch is padded by repeating its
last row so that every step has one shape and compiles once, each batch is
placed with its rows split over the mesh (`put_rows`), and the padded
results are dropped. Parameters that every device needs go through
`replicate` once. The training core (`iqa_jax.training`) uses the same two
placements.

In a multi-process run (`iqa_jax.distributed`) the mesh spans the devices
of every process, ordered by process; `put_rows` then reads only the rows
of this process's devices (`process_rows`) and assembles the global batch
with `jax.make_array_from_process_local_data`, and `map_batches` returns
every row's result to every process.

Also here: `progress_bar` (tqdm, or a silent stand-in) and
`lapack_single_thread`, which keeps SciPy's OpenBLAS threads from competing
with XLA's on the CPU backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["data_mesh", "pad_rows", "round_up", "replicate", "shard",
           "process_rows", "put_rows", "to_host", "map_batches", "map_model",
           "group_by_shape", "progress_bar", "lapack_single_thread"]


def data_mesh(devices: Sequence | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh with axis "data" over `devices` (default: all), ordered by
  process, so that each process's devices hold consecutive rows."""
  devices = list(devices if devices is not None else jax.devices())
  devices.sort(key=lambda d: (d.process_index, d.id))
  return jax.sharding.Mesh(np.asarray(devices), ("data",))


def _multiprocess(mesh: jax.sharding.Mesh) -> bool:
  return jax.process_count() > 1 and any(
      d.process_index != jax.process_index() for d in mesh.devices.flat)


def pad_rows(x, size: int):
  """x (n, ...) with its last row repeated up to `size` rows (NumPy or JAX
  arrays; n >= 1)."""
  pad = size - x.shape[0]
  if pad <= 0:
    return x
  xp = np if isinstance(x, np.ndarray) else jax.numpy
  return xp.concatenate([x, xp.repeat(x[-1:], pad, axis=0)])


def round_up(n: int, mesh: jax.sharding.Mesh) -> int:
  """n rounded up to a multiple of the mesh's device count."""
  return -(-int(n) // mesh.size) * mesh.size


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """`tree` on every device of `mesh` (parameters, optimiser state). In a
  multi-process run every process must pass the same values."""
  sharding = NamedSharding(mesh, P())
  if _multiprocess(mesh):
    return jax.tree.map(lambda x: _global_copy(x, sharding), tree)
  return jax.device_put(tree, sharding)


def _global_copy(x, sharding):
  """One leaf replicated over a mesh that spans processes (from this
  process's copy of it)."""
  if isinstance(x, jax.Array) and jax.dtypes.issubdtype(
      x.dtype, jax.dtypes.prng_key):
    data = _global_copy(jax.random.key_data(x), sharding)
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
  if isinstance(x, jax.Array) and x.sharding == sharding:
    return x
  x = np.asarray(x)
  return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def shard(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """`tree` with its leading (batch) axis split over the "data" axis."""
  return jax.device_put(tree, NamedSharding(mesh, P("data")))


def process_rows(size: int, mesh: jax.sharding.Mesh) -> tuple[int, int]:
  """(start, stop): the rows of a `size`-row batch that this process's
  devices hold under `shard` (all of them in a single-process run)."""
  if not _multiprocess(mesh):
    return 0, size
  per = size // mesh.size
  mine = [i for i, d in enumerate(mesh.devices.flat)
          if d.process_index == jax.process_index()]
  return mine[0] * per, (mine[-1] + 1) * per


def put_rows(read: Callable[[int, int], Any], size: int,
             mesh: jax.sharding.Mesh) -> Any:
  """A `size`-row batch split over "data", from read(start, stop), which
  returns the pytree of rows [start, stop) as arrays; in a multi-process
  run each process reads only its own rows (`process_rows`)."""
  if not _multiprocess(mesh):
    return shard(read(0, size), mesh)
  start, stop = process_rows(size, mesh)
  sharding = NamedSharding(mesh, P("data"))
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(
          sharding, np.asarray(x), (size, *np.shape(x)[1:])),
      read(start, stop))


def to_host(tree: Any) -> Any:
  """NumPy copies of a pytree of (possibly sharded) arrays; in a
  multi-process run rows held by other processes are gathered first."""
  if jax.process_count() > 1 and any(
      isinstance(x, jax.Array) and not x.is_fully_addressable
      and not x.is_fully_replicated for x in jax.tree.leaves(tree)):
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    tree = multihost_utils.process_allgather(tree, tiled=True)
  return jax.tree.map(np.asarray, tree)


def progress_bar(*, total: int | None = None, desc: str = "",
                 unit: str = "it", enabled: bool = True, **kwargs):
  """A tqdm bar, or (enabled=False) a stand-in whose methods do nothing."""
  if not enabled:
    return _NoBar()
  from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total, desc=desc, unit=unit, **kwargs)


class _NoBar:
  """The silent progress bar."""

  def update(self, n=1):
    del n

  def set_postfix(self, *args, **kwargs):
    del args, kwargs

  def close(self):
    pass

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False


def map_batches(fn: Callable, *arrays, batch_size: int,
                mesh: jax.sharding.Mesh | None = None,
                progress: bool | Any = False, desc: str = "",
                unit: str = "row") -> Any:
  """fn over the rows of `arrays`, batch by batch, on every device.

  Args:
    fn: called as fn(*batches), each batch (b, ...) sharded over "data"; it
      returns a pytree of arrays with a leading axis of b (usually a jitted
      function; state it needs is best bound with `functools.partial` after
      `replicate`).
    *arrays: sequences of n rows each: NumPy or JAX arrays, or any object
      with `len()` whose slices `a[i:j]` convert to arrays (so images can be
      read from disk one batch at a time) or are dicts of such arrays (fn
      then gets the dict).
    batch_size: rows per step, rounded up to a multiple of the devices. When
      n is smaller, one step of n rows (rounded up) runs instead.
    mesh: a 1-D mesh with axis "data" (default: all devices).
    progress: show a progress bar over rows (True), or an open tqdm bar to
      advance.

  Returns:
    fn's pytree with leading axis n, as NumPy arrays on the host.
  """
  if not arrays:
    raise ValueError("map_batches needs at least one array of rows.")
  n = len(arrays[0])
  if any(len(a) != n for a in arrays):
    raise ValueError(f"the arrays have different row counts "
                     f"{[len(a) for a in arrays]}.")
  if n == 0:
    raise ValueError("map_batches got no rows.")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
  mesh = mesh if mesh is not None else data_mesh()
  b = min(round_up(batch_size, mesh), round_up(n, mesh))
  own_bar = progress is True
  bar = progress_bar(total=n, desc=desc, unit=unit, enabled=own_bar) \
      if progress is True or progress is False else progress
  parts = []
  try:
    for s in range(0, n, b):
      m = min(b, n - s)
      chunk = put_rows(lambda lo, hi, s=s, m=m: [
          _rows_of(a, s, m, lo, hi) for a in arrays], b, mesh)
      out = to_host(fn(*chunk))
      parts.append(jax.tree.map(lambda y, m=m: y[:m], out))
      bar.update(m)
  finally:
    if own_bar:
      bar.close()
  if len(parts) == 1:
    return parts[0]
  return jax.tree.map(lambda *ys: np.concatenate(ys), *parts)


def map_model(fn: Callable, model, *arrays, batch_size: int,
              mesh: jax.sharding.Mesh | None = None,
              progress: bool | Any = False, desc: str = "",
              unit: str = "row") -> Any:
  """`map_batches` of fn(graphdef, state, *batches) with an NNX model's
  variables replicated on every device: `fn` is jitted with the graphdef
  static (`jax.jit(..., static_argnums=0)`). Put the model in the mode it
  should run in (`model.eval()`) first."""
  import functools  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  mesh = mesh if mesh is not None else data_mesh()
  graphdef, state = nnx.split(model)
  state = replicate(state, mesh)
  return map_batches(functools.partial(fn, graphdef, state), *arrays,
                     batch_size=batch_size, mesh=mesh, progress=progress,
                     desc=desc, unit=unit)


def _rows_of(a, s: int, m: int, lo: int, hi: int):
  """Rows [lo, hi) of the batch that starts at row s of `a` and holds m
  real rows (the rows past them repeat its last real row); reads only the
  rows needed."""
  real_hi = min(hi, m)
  part = a[s + lo:s + real_hi] if lo < real_hi else a[s + m - 1:s + m]
  return _padded(part, hi - lo)


def _padded(part, size: int):
  if isinstance(part, Mapping):
    return {k: pad_rows(np.asarray(v), size) for k, v in part.items()}
  return pad_rows(np.asarray(part), size)


def group_by_shape(items: Iterable, *,
                   shape_of: Callable = np.shape) -> dict[tuple, list[int]]:
  """{shape: indices of the items of that shape}, in first-seen order."""
  groups: dict[tuple, list[int]] = {}
  for i, item in enumerate(items):
    groups.setdefault(tuple(shape_of(item)), []).append(i)
  return groups


@contextlib.contextmanager
def lapack_single_thread():
  """Runs SciPy's OpenBLAS single-threaded inside the block (CPU only).

  jaxlib's CPU LAPACK kernels (Cholesky, eigh, triangular solves) call
  SciPy's OpenBLAS, whose worker threads keep spinning after each call and
  compete with XLA's thread pool: the W/R solver ran about twice as slow on
  2 cores (4.8 ms against 2.6 ms per image and iteration at n = 180,
  d = 2048). NumPy's own OpenBLAS is untouched. JAX dispatches
  asynchronously: block on the results inside the block.
  """
  if jax.default_backend() != "cpu":
    yield
    return
  try:
    import scipy.linalg.cython_lapack  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    from threadpoolctl import ThreadpoolController  # pylint: disable=g-import-not-at-top
  except ImportError:
    yield
    return
  libs = [lc for lc in ThreadpoolController().lib_controllers
          if lc.internal_api == "openblas" and "scipy.libs" in lc.filepath]
  old = [lc.num_threads for lc in libs]
  for lc in libs:
    lc.set_num_threads(1)
  try:
    yield
  finally:
    for lc, n in zip(libs, old):
      lc.set_num_threads(n)
