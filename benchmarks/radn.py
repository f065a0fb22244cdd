"""Benchmark: RADN's training step and inference, iqa_jax against the same
network in torch.

  pip install torch==2.14.1 torchvision==0.29.1          # the peer
  python benchmarks/radn.py                 # RADN, 2 images x 32 patches
  python benchmarks/radn.py --variant wresnet
  python benchmarks/radn.py --tiny          # widths / 16 (a quick check)

The peer is RADN written below in torch from the paper and the authors'
description (../shared/notes/authors_code.md, s. 3), with torchvision's
`deform_conv2d` for the reference-oriented deformable convolution. Its
parameter names are the authors', so ours load into it unchanged: both
sides hold the same weights and the largest score difference is reported.
The peer is batched as ours is (every patch of every image through the
trunk at once; the non-local block as one batched product per image), so
it is faster than the authors' per-image loop.

Measured, float32, the same random patches on both sides:

* `train_step`: one step at `--images` x `--patches` patch pairs: forward,
  MSE against the targets, backward, Adam (lr 1e-4), dropout on;
* `predict`: eval-mode scores of the same pairs, and of `--images` PIPAL-
  sized pairs (288 x 288: 81 patches each), per image pair.

Times are medians over `--repeats` rounds after a warm-up (compilation
excluded), the sides taking turns; figures go to benchmarks/results/radn.json
("speedup" = torch time / ours).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F
import torchvision
from _timing import interleaved_times, machine
from flax import nnx
from torch import nn

from iqa_jax import parallel, training
from iqa_jax.models import radn
from iqa_jax.radn import train as radn_train


def _conv(cin, cout, stride=1):
  return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class TorchRADN(nn.Module):
  """RADN (or WResNet) in the authors' parameter names, batched."""

  def __init__(self, variant="radn", w=1):
    super().__init__()
    c = lambda n: n if n == 3 else n // w
    self.variant = variant
    if variant == "wresnet":
      widths, strides = (3, 64, 128, 256, 256, 512), (1, 2, 2, 2, 2)
    else:
      widths, strides = (3, 64, 128, 256, 256, 512), (1, 2, 2, 1, 2)
    convs, cin = [], 3
    for cout, stride in zip(widths[1:], strides):
      convs.append(_conv(c(cin), c(cout), stride))
      convs += [_conv(c(cout), c(cout)) for _ in range(3)]
      cin = cout
    for i, conv in enumerate(convs):
      setattr(self, f"conv{i + 1}", conv)
    self.n_convs = len(convs)
    if variant != "wresnet":
      self.conv21 = _conv(c(512), c(512), 2)
      self.conv22 = _conv(c(512), c(512))
      self.conv_offset = nn.Conv2d(c(256), 18, 3, padding=1)
      self.deform = torchvision.ops.DeformConv2d(c(256), c(256), 3,
                                                 padding=1)
      self.deform2 = torchvision.ops.DeformConv2d(c(256), c(256), 3,
                                                  padding=1)
      for k in (1, 2):
        block = nn.Module()
        for part, (i, o) in (("g", (512, 256)), ("theta", (512, 256)),
                             ("phi", (512, 256)), ("W", (256, 512))):
          setattr(block, part, nn.Conv2d(c(i), c(o), 1))
        setattr(self, f"Nonlocal{k}", block)
    d = c(512)
    self.fc1_q, self.fc2_q = nn.Linear(3 * d, d), nn.Linear(d, 1)
    self.fc1_w, self.fc2_w = nn.Linear(3 * d, d), nn.Linear(d, 1)
    self.dropout = nn.Dropout()

  def _stage(self, x, s, first_relu=True):
    a = getattr(self, f"conv{4 * s + 1}")(x)
    if first_relu:
      a = F.relu(a)
    y = a
    for j in (2, 3, 4):
      y = F.relu(getattr(self, f"conv{4 * s + j}")(y))
    return y + a

  @staticmethod
  def _nonlocal(block, h):              # h: B P D
    def lin(conv, v):
      return F.linear(v, conv.weight[:, :, 0, 0], conv.bias)
    a = torch.softmax(lin(block.theta, h) @ lin(block.phi, h).transpose(1, 2),
                      -1)
    return h + lin(block.W, a @ lin(block.g, h))

  def features(self, x):                # (N, 3, 32, 32) -> (N, D)
    if self.variant == "wresnet":
      for s in range(5):
        x = self._stage(x, s, first_relu=s > 0)
      return x.mean((2, 3))
    raise NotImplementedError

  def forward(self, dist, ref):         # (B, P, 3, 32, 32) each
    b, p = dist.shape[:2]
    x = torch.cat([dist, ref]).flatten(0, 1)
    if self.variant == "wresnet":
      h = self.features(x).reshape(2, b, p, -1)
      hd, hr = h[0], h[1]
    else:
      for s in range(4):
        x = self._stage(x, s)
      hd, hr = x[:b * p], x[b * p:]
      off = self.conv_offset(hr)
      hd, hr = self.deform(hd, off), self.deform2(hr, off)

      def tail(v):
        v = self._stage(v, 4)
        v = F.relu(self.conv22(F.relu(self.conv21(v))))
        return v.mean((2, 3)).reshape(b, p, -1)
      hd = self._nonlocal(self.Nonlocal1, tail(hd))
      hr = self._nonlocal(self.Nonlocal2, tail(hr))
    f = torch.cat([hd - hr, hd, hr], -1)
    s = self.fc2_q(self.dropout(F.relu(self.fc1_q(f))))[..., 0]
    w = F.relu(self.fc2_w(self.dropout(F.relu(self.fc1_w(f)))))[..., 0]
    w = w + 1e-6
    return (s * w).sum(1) / w.sum(1)


def _torch_state(model):
  """Our parameters as the authors' state dict (torch layouts)."""
  from iqa_jax.radn.score import _torch_layout  # pylint: disable=g-import-not-at-top
  return {k: torch.from_numpy(np.array(_torch_layout(v[...], kind)))
          for k, (v, kind) in radn._targets(model)}  # pylint: disable=protected-access


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--variant", default="radn", choices=("radn", "wresnet"))
  p.add_argument("--tiny", action="store_true", help="widths / 16")
  p.add_argument("--images", type=int, default=2)
  p.add_argument("--patches", type=int, default=32)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--out", default=None,
                 help="results file (default benchmarks/results/radn.json; "
                 "with --tiny nothing is written unless --out is given)")
  args = p.parse_args(argv)
  w = 16 if args.tiny else 1
  ours = radn.build(args.variant, width_divisor=w, rngs=nnx.Rngs(0))
  # Non-zero non-local projections, so the blocks act on both sides.
  if args.variant == "radn":
    for blk in (ours.nonlocal1, ours.nonlocal2):
      blk.W.kernel[...] = 0.01 * jax.random.normal(jax.random.key(5),
                                                   blk.W.kernel.shape)
  peer = TorchRADN(args.variant, w)
  peer.load_state_dict(_torch_state(ours), strict=True)

  rng = np.random.default_rng(0)
  b, n = args.images, args.patches
  d = rng.random((b, n, 32, 32, 3), np.float32)
  r = rng.random((b, n, 32, 32, 3), np.float32)
  y = rng.random(b).astype(np.float32)
  dt = torch.from_numpy(d.transpose(0, 1, 4, 2, 3).copy())
  rt = torch.from_numpy(r.transpose(0, 1, 4, 2, 3).copy())
  yt = torch.from_numpy(y)
  big = rng.random((b, 81, 32, 32, 3), np.float32)
  bigt = torch.from_numpy(big.transpose(0, 1, 4, 2, 3).copy())

  ours.eval()
  peer.eval()
  with torch.no_grad():
    want = peer(dt, rt).numpy()
  mesh = parallel.data_mesh()
  graphdef, state = nnx.split(ours)
  state = parallel.replicate(jax.tree.map(jnp.copy, state), mesh)
  fwd = jax.jit(lambda s, a, c: nnx.merge(graphdef, s)(a, c))
  got = np.asarray(fwd(state, d, r))
  max_diff = float(np.abs(got - want).max())

  def ours_predict():
    fwd(state, d, r).block_until_ready()

  def peer_predict():
    with torch.inference_mode():
      peer(dt, rt)

  def ours_predict_big():
    fwd(state, big, big).block_until_ready()

  def peer_predict_big():
    with torch.inference_mode():
      peer(bigt, bigt)

  ours.train()
  tx = optax.adam(1e-4)
  # Replicated first, as `training.fit` does (else the second call
  # compiles again for the committed output sharding).
  st = [parallel.replicate(training.TrainState.create(ours, tx), mesh)]
  step = training.compiled_step(radn_train.loss_fn, tx, mesh)
  batch = parallel.shard({"dist": d, "ref": r, "y": y,
                          "weight": np.ones_like(y)}, mesh)

  def ours_train():
    st[0], loss = step(st[0], batch)
    loss.block_until_ready()
  peer.train()
  opt = torch.optim.Adam(peer.parameters(), lr=1e-4)

  def peer_train():
    opt.zero_grad(set_to_none=True)
    ((peer(dt, rt) - yt) ** 2).mean().backward()
    opt.step()

  peer.eval()
  pred = interleaved_times({"ours": ours_predict, "torch": peer_predict},
                           args.repeats)
  pred_big = interleaved_times({"ours": ours_predict_big,
                                "torch": peer_predict_big}, args.repeats)
  peer.train()
  tr = interleaved_times({"ours": ours_train, "torch": peer_train},
                         args.repeats)
  rec = {
      "model": f"{args.variant}" + (" (widths / 16)" if args.tiny else "")
               + f", {radn.parameter_count(type(ours), width_divisor=w)}"
               " parameters",
      "images": b, "patches": n, "torch": torch.__version__,
      "torchvision": torchvision.__version__,
      "torch_threads": torch.get_num_threads(),
      "max_score_difference": max_diff,
      "train_step_s": tr, "train_step_speedup": tr["torch"] / tr["ours"],
      "predict_s_per_pair": {k: v / b for k, v in pred.items()},
      "predict_speedup": pred["torch"] / pred["ours"],
      "predict_288_s_per_pair": {k: v / b for k, v in pred_big.items()},
      "predict_288_speedup": pred_big["torch"] / pred_big["ours"],
      "machine": machine(),
  }
  print(json.dumps(rec, indent=1))
  if args.out or not args.tiny:
    out = Path(args.out or Path(__file__).parent / "results" / "radn.json")
    old = json.loads(out.read_text()) if out.exists() else {}
    old[args.variant] = rec
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(old, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
  main()
