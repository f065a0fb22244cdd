"""Thread pools on the CPU backend.

jaxlib's CPU LAPACK kernels (Cholesky, eigh, triangular solves) call SciPy's
OpenBLAS. Its worker threads keep spinning after each call and then compete
with XLA's own thread pool for the cores, which made the W/R solver's
iterations about twice as slow on 2 cores (4.8 ms against 2.6 ms per image
and iteration at n = 180, d = 2048). The small factorisations gain nothing
from OpenBLAS threads, so `lapack_single_thread` runs SciPy's OpenBLAS with
one thread for the duration of a block (NumPy's own OpenBLAS is untouched)
and restores it afterwards. Without threadpoolctl, or off the CPU, it does
nothing.
"""

from __future__ import annotations

import contextlib

import jax

__all__ = ["lapack_single_thread"]


@contextlib.contextmanager
def lapack_single_thread():
  """Runs SciPy's OpenBLAS single-threaded inside the block (CPU only).

  JAX dispatches asynchronously: block on the results inside the block.
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
