"""libmine 1.2.6 (minepy's C core) through ctypes, as benchmark peer.

Build it once from minepy's sdist (see benchmarks/mic.py):
  gcc -O2 -shared -fPIC minepy-1.2.6/libmine/mine.c -o libmine.so -lm
`libmine_mic` calls `mine_compute_score` + `mine_mic` once per pair, as
minepy's `MINE.compute_score` / `MINE.mic` do for every patch and
projection in SMIC's official code.
"""

import ctypes

import numpy as np


class _Problem(ctypes.Structure):
  _fields_ = [("n", ctypes.c_int), ("x", ctypes.POINTER(ctypes.c_double)),
              ("y", ctypes.POINTER(ctypes.c_double))]


class _Param(ctypes.Structure):
  _fields_ = [("alpha", ctypes.c_double), ("c", ctypes.c_double),
              ("est", ctypes.c_int)]


def load_libmine(path):
  lib = ctypes.CDLL(path)
  lib.mine_compute_score.restype = ctypes.c_void_p
  lib.mine_compute_score.argtypes = [ctypes.POINTER(_Problem),
                                     ctypes.POINTER(_Param)]
  lib.mine_mic.restype = ctypes.c_double
  lib.mine_mic.argtypes = [ctypes.c_void_p]
  lib.mine_free_score.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
  return lib


def libmine_mic(lib, x, y, alpha, c):
  out = np.empty(len(x))
  param = _Param(alpha, c, 0)
  for i in range(len(x)):
    xi = np.ascontiguousarray(x[i], np.float64)
    yi = np.ascontiguousarray(y[i], np.float64)
    prob = _Problem(len(xi), xi.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                    yi.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
    score = ctypes.c_void_p(lib.mine_compute_score(ctypes.byref(prob),
                                                   ctypes.byref(param)))
    out[i] = lib.mine_mic(score)
    lib.mine_free_score(ctypes.byref(score))
  return out
