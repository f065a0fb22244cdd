"""Benchmark: LoDa's training step and 15-crop inference, iqa_jax against
the same model in torch.

  pip install torch==2.14.1 torchvision==0.29.1 timm     # the peer
  python benchmarks/loda.py                  # ViT-B/16 + ResNet-50, batch 8
  python benchmarks/loda.py --tiny           # the toy LoDa (a quick check)

The peer is timm's `vit_base_patch16_224` and `resnet50` with the learner
written below in torch from the paper and the authors' description
(../shared/notes/authors_code.md, s. 2: per-stage 1x1 conv, GELU, 3x3 conv,
7 x 7 adaptive pooling; before every ViT block a down MLP, cross-attention
over the CNN tokens, an up MLP scaled per layer; the normed linear head).
Its parameter names are the authors', so ours load into it unchanged: both
sides hold the same weights (seeded backbones, our random learner), and the
largest score difference is reported.

Measured, both sides in float32 on the same random 224 x 224 crops:

* `train_step`: one step at batch 8: the frozen ResNet (batch-statistics
  BN, as the authors' `net.train()`) and ViT forward, the PLCC loss, the
  backward pass to the learner only, AdamW (lr 3e-4, weight decay 0.01).
  Ours: `training.compiled_step` on `TrainState(trainable=loda.LEARNER)`.
* `predict`: 8 images x 15 crops (120 crops, one call), the mean score per
  image, eval mode. Ours: the jitted forward of `loda.train.predict`.

Times are medians over `--repeats` rounds after a warm-up (compilation
excluded), the sides taking turns; figures go to benchmarks/results/loda.json
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
from _timing import interleaved_times, machine
from flax import nnx
from torch import nn

from iqa_jax import parallel, training
from iqa_jax.loda import train as loda_train
from iqa_jax.models import loda, resnet, vit


class TorchMlp(nn.Module):

  def __init__(self, din, hidden, dout):
    super().__init__()
    self.fc1, self.fc2 = nn.Linear(din, hidden), nn.Linear(hidden, dout)

  def forward(self, x):
    return self.fc2(F.gelu(self.fc1(x)))


class TorchCrossAttention(nn.Module):

  def __init__(self, dim, heads):
    super().__init__()
    self.heads = heads
    self.q = nn.Linear(dim, dim, bias=False)
    self.kv = nn.Linear(dim, 2 * dim, bias=False)
    self.proj = nn.Linear(dim, dim)

  def forward(self, x, tokens):
    n, t, d = x.shape
    h = self.heads
    q = self.q(x).reshape(n, t, h, d // h).transpose(1, 2)
    k, v = self.kv(tokens).reshape(n, -1, 2, h, d // h).permute(
        2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(q, k, v)
    return self.proj(y.transpose(1, 2).reshape(n, t, d))


class NormedHead(nn.Module):
  """cos(x, w): the weight (in, 1) is used column-normalised."""

  def __init__(self, dim):
    super().__init__()
    self.weight = nn.Parameter(torch.zeros(dim, 1))

  def forward(self, x):
    return (F.normalize(x, dim=-1) @ F.normalize(self.weight, dim=0))[:, 0]


class TorchLearner(nn.Module):
  """The trainable part, in the authors' parameter names."""

  def __init__(self, channels, *, r, heads, n, dim, grid):
    super().__init__()
    self.conv = nn.ModuleList([nn.Sequential(
        nn.Conv2d(c, r, 1), nn.GELU(), nn.Conv2d(r, r, 3, padding=1,
                                                 bias=False),
        nn.AdaptiveAvgPool2d(grid)) for c in channels])
    self.down_proj = nn.ModuleList([TorchMlp(dim, r, r) for _ in range(n)])
    self.cross_attn = nn.ModuleList([TorchCrossAttention(r, heads)
                                     for _ in range(n)])
    self.up_proj = nn.ModuleList([TorchMlp(r, dim, dim) for _ in range(n)])
    self.scale_factor = nn.Parameter(torch.zeros(n, dim))
    self.head = NormedHead(dim)


class TorchLoDa(nn.Module):
  """timm's ViT and ResNet-50 (frozen) with `TorchLearner`."""

  def __init__(self, vit_model, cnn, learner, *, dropout=0.1):
    super().__init__()
    self.vit, self.cnn, self.learner = vit_model, cnn, learner
    self.dropout = nn.Dropout(dropout)
    for p in list(vit_model.parameters()) + list(cnn.parameters()):
      p.requires_grad_(False)

  def cnn_tokens(self, x):
    c = self.cnn
    h = c.maxpool(c.act1(c.bn1(c.conv1(x))))
    out = []
    for layer, ext in zip((c.layer1, c.layer2, c.layer3, c.layer4),
                          self.learner.conv):
      h = layer(h)
      out.append(ext(h).flatten(2).transpose(1, 2))
    return torch.cat(out, 1)

  def forward(self, x):
    tokens = self.cnn_tokens(x)
    v, lr = self.vit, self.learner
    t = v._pos_embed(v.patch_embed(x))  # pylint: disable=protected-access
    every = len(v.blocks) // len(lr.down_proj)
    for i, block in enumerate(v.blocks):
      if i % every == 0:
        k = i // every
        d = lr.down_proj[k](t)
        d = d + lr.cross_attn[k](d, tokens)
        t = t + lr.up_proj[k](d) * lr.scale_factor[k]
      t = block(t)
    cls = self.dropout(v.norm(t)[:, 0])
    return lr.head(cls)


def torch_plcc_loss(pred, y):
  """The PLCC loss of `losses.plcc_loss`, in torch."""
  def standardise(v):
    m = v.mean()
    return (v - m) / (((v - m) ** 2).mean().sqrt() + 1e-8)
  p, y = standardise(pred), standardise(y)
  rho = (p * y).mean()
  return (((p - y) ** 2).mean() / 4 + ((rho * p - y) ** 2).mean() / 4) / 2


def _seeded_state(keys, seed):
  """Backbone weights from a seed (torch layouts), norm scales near 1."""
  rng = np.random.default_rng(seed)
  out = {}
  for name, shape in keys.items():
    if name.endswith("running_var"):
      v = rng.uniform(0.5, 2.0, shape)
    elif len(shape) == 1 and name.endswith(("weight", "scale")):
      v = rng.uniform(0.8, 1.2, shape)
    elif len(shape) == 4:
      v = rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))
    else:
      v = 0.02 * rng.standard_normal(shape)
    out[name] = v.astype(np.float32)
  return out


def build(tiny: bool):
  """(ours, the torch peer), holding the same weights."""
  import timm  # pylint: disable=g-import-not-at-top
  cfg = loda.TINY if tiny else loda.LodaConfig()
  vcfg = cfg.vit_config
  vit_state = _seeded_state(vit.expected_keys(**vcfg), 0)
  ours_vit = vit.VisionTransformer.from_state_dict(vit_state, **vcfg)
  cnn_state = _seeded_state(resnet.expected_keys(), 1)
  if tiny:    # the toy ResNet keeps the structure at 1/16 of the widths
    ours_cnn = resnet.ResNet50(rngs=nnx.Rngs(1), width_divisor=cfg.cnn_width)
  else:
    ours_cnn = resnet.ResNet50.from_state_dict(cnn_state)
  ours = loda.LoDa(cfg, rngs=nnx.Rngs(2), vit=ours_vit, cnn=ours_cnn)

  t_vit = timm.models.VisionTransformer(
      img_size=vcfg["image_size"], patch_size=vcfg["patch"],
      embed_dim=vcfg["dim"], depth=vcfg["depth"], num_heads=vcfg["heads"],
      mlp_ratio=vcfg["mlp_ratio"], num_classes=0)
  t_vit.load_state_dict({k: torch.from_numpy(v) for k, v in
                         vit_state.items()})
  if tiny:
    t_cnn = _timm_resnet_divided(cfg.cnn_width)
    state = {k: torch.from_numpy(np.array(v)) for k, v in
             _resnet_torch_state(ours_cnn).items()}
  else:
    t_cnn = timm.create_model("resnet50", pretrained=False, num_classes=0)
    state = {k: torch.from_numpy(v) for k, v in cnn_state.items()}
  absent = t_cnn.load_state_dict(state, strict=False)
  assert not absent.unexpected_keys and all(
      k.endswith("num_batches_tracked") for k in absent.missing_keys), absent
  dim = vcfg["dim"]
  learner = TorchLearner(cfg.channels, r=cfg.latent, heads=cfg.heads,
                         n=cfg.interactions, dim=dim, grid=cfg.grid)
  learner.load_state_dict({k: torch.from_numpy(np.array(_torch_layout(
      v[...], kind))) for k, (v, kind) in loda._learner_targets(  # pylint: disable=protected-access
          ours.learner)})
  return ours, TorchLoDa(t_vit, t_cnn, learner, dropout=cfg.dropout), cfg


def _torch_layout(a, kind):
  a = np.asarray(a)
  return (a.transpose(3, 2, 0, 1) if kind == "conv" else
          a.T if kind == "linear" else a)


def _resnet_torch_state(model):
  return {k: _torch_layout(v[...], "conv" if c else "plain")
          for k, (v, c) in resnet._targets(model)}  # pylint: disable=protected-access


def _timm_resnet_divided(w):
  """A timm ResNet-50 whose every width is divided by `w` (the toy CNN)."""
  import timm  # pylint: disable=g-import-not-at-top
  net = timm.models.ResNet(timm.models.resnet.Bottleneck, [3, 4, 6, 3],
                           num_classes=0)
  # Rebuild the stages at 1/w of the widths with timm's own constructors.
  stem = 64 // w
  net.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
  net.bn1 = nn.BatchNorm2d(stem)
  cin = stem
  for i, (width, blocks, stride) in enumerate(resnet.STAGES):
    width //= w
    layers = []
    for b in range(blocks):
      s = stride if b == 0 else 1
      down = None
      if s != 1 or cin != 4 * width:
        down = nn.Sequential(nn.Conv2d(cin, 4 * width, 1, s, bias=False),
                             nn.BatchNorm2d(4 * width))
      layers.append(timm.models.resnet.Bottleneck(cin, width, stride=s,
                                                  downsample=down))
      cin = 4 * width
    setattr(net, f"layer{i + 1}", nn.Sequential(*layers))
  return net


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--tiny", action="store_true",
                 help="the toy LoDa at 32 x 32 (a quick check)")
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--crops", type=int, default=15)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--threads", type=int, default=0,
                 help="torch threads (0: torch's default)")
  p.add_argument("--out", default=None,
                 help="results file (default benchmarks/results/loda.json; "
                 "with --tiny nothing is written unless --out is given)")
  args = p.parse_args(argv)
  if args.threads:
    torch.set_num_threads(args.threads)
  ours, peer, cfg = build(args.tiny)
  size = cfg.vit_config["image_size"]
  rng = np.random.default_rng(0)
  x = rng.standard_normal((args.batch, size, size, 3)).astype(np.float32)
  y = rng.random(args.batch).astype(np.float32)
  xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
  yt = torch.from_numpy(y)

  # Scores agree (eval mode: no dropout, running statistics).
  ours.eval()
  peer.eval()
  with torch.no_grad():
    want = peer(xt).numpy()
  got = np.asarray(jax.jit(lambda m, v: m(v))(ours, jnp.asarray(x)))
  max_diff = float(np.abs(got - want).max())

  # The eval-mode model for inference, copied: the training step donates
  # (deletes) the arrays it is given.
  mesh = parallel.data_mesh()
  graphdef, vars_ = nnx.split(ours)
  vars_ = parallel.replicate(jax.tree.map(jnp.copy, vars_), mesh)

  # Training step.
  tx = optax.adamw(3e-4, weight_decay=0.01)
  ours.train()
  if cfg.cnn_bn == "eval":
    ours.cnn.eval()
  # Replicated first, as `training.fit` does (else the second call
  # compiles again for the committed output sharding).
  state = [parallel.replicate(training.TrainState.create(
      ours, tx, trainable=loda_train.LEARNER), mesh)]
  step = training.compiled_step(loda_train.loss_fn, tx, mesh)
  batch = parallel.shard({"x": x, "y": y, "weight": np.ones_like(y)}, mesh)

  def ours_train():
    state[0], loss = step(state[0], batch)
    jax.block_until_ready(loss)
  peer.train()
  opt = torch.optim.AdamW([q for q in peer.parameters() if q.requires_grad],
                          lr=3e-4, weight_decay=0.01)

  def peer_train():
    opt.zero_grad(set_to_none=True)
    torch_plcc_loss(peer(xt), yt).backward()
    opt.step()

  # 15-crop inference of `batch` images.
  peer.eval()
  xc = rng.standard_normal((args.batch * args.crops, size, size, 3)).astype(
      np.float32)
  xct = torch.from_numpy(xc.transpose(0, 3, 1, 2).copy())
  xcj = parallel.shard(xc, mesh)

  def ours_predict():
    s = loda_train._forward(graphdef, vars_, xcj)  # pylint: disable=protected-access
    np.asarray(s).reshape(args.batch, args.crops).mean(1)

  def peer_predict():
    with torch.inference_mode():
      peer(xct).numpy().reshape(args.batch, args.crops).mean(1)

  train_t = interleaved_times({"ours": ours_train, "torch": peer_train},
                              args.repeats)
  pred_t = interleaved_times({"ours": ours_predict, "torch": peer_predict},
                             args.repeats)
  rec = {
      "model": "tiny LoDa (loda.TINY)" if args.tiny else
               "LoDa: ViT-B/16 + ResNet-50, r 64, 4 heads, N 12",
      "batch": args.batch, "crops": args.crops,
      "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
      "max_score_difference": max_diff,
      "train_step_s": train_t,
      "train_step_speedup": train_t["torch"] / train_t["ours"],
      "predict_s_per_image": {k: v / args.batch for k, v in pred_t.items()},
      "predict_speedup": pred_t["torch"] / pred_t["ours"],
      "machine": machine(),
  }
  print(json.dumps(rec, indent=1))
  if args.out or not args.tiny:
    out = Path(args.out or Path(__file__).parent / "results" / "loda.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
  main()
