"""Benchmark: patch embeddings per second, iqa_jax against torchvision.

  pip install torch==2.14.1 torchvision==0.29.1   # the peer
  python benchmarks/embed.py [--batch 32] [--repeats 3]

VGG16 (relu5_3 GAP, 512-d) and ResNet-50 (GAP, 2048-d) on 64 x 64 and 128 x
128 patches, the same random weights in both, measured in one run on the
same machine: ours is `iqa_jax.embed.embed` (jitted, float32), the peer
torchvision's model in eval mode under `torch.inference_mode()` with
torch's default thread count. Reports the median of `repeats` timed passes
after a warm-up, patches per second and the ratio (ours / torchvision, keys
containing "speedup"). Figures go to benchmarks/results/embed.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _timing import machine, median_time
from flax import nnx

from iqa_jax import embed
from iqa_jax.models import resnet, vgg
from iqa_jax.models.vgg import IMAGENET_MEAN, IMAGENET_STD


def main(argv=None):
  import torch  # pylint: disable=g-import-not-at-top
  import torchvision  # pylint: disable=g-import-not-at-top

  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                      "embed.json"))
  args = p.parse_args(argv)
  torch.manual_seed(0)
  # features[:30] ends at relu5_3 (index 30 is the last max-pool).
  tv_vgg = torchvision.models.vgg16(weights=None).features[:30].eval()
  tv_res = torchvision.models.resnet50(weights=None).eval()
  tv_res.fc = torch.nn.Identity()
  ours_vgg = vgg.VGG16(rngs=nnx.Rngs(0))
  ours_vgg.load_arrays([(c.weight.detach().numpy().transpose(2, 3, 1, 0),
                         c.bias.detach().numpy())
                        for c in tv_vgg if isinstance(c, torch.nn.Conv2d)])
  ours_res = resnet.ResNet50.from_state_dict(
      {k: v.detach().numpy() for k, v in tv_res.state_dict().items()})
  mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
  std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

  def tv_embed(model, x, is_vgg):
    with torch.inference_mode():
      y = model((x - mean) / std)
      return y.mean(dim=(2, 3)) if is_vgg else y

  rows = []
  for name, ours, theirs, is_vgg in (("vgg16", ours_vgg, tv_vgg, True),
                                     ("resnet50", ours_res, tv_res, False)):
    for size in (64, 128):
      x = np.random.default_rng(0).random(
          (args.batch, size, size, 3)).astype(np.float32)
      xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
      a = embed.embed(ours, x, batch_size=args.batch)
      b = tv_embed(theirs, xt, is_vgg).numpy()
      err = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
      t_ours = median_time(lambda: embed.embed(ours, x,
                                                batch_size=args.batch),
                            args.repeats)
      t_tv = median_time(lambda: tv_embed(theirs, xt, is_vgg), args.repeats)
      row = {"model": name, "patch": size, "batch": args.batch,
             "ours_patches_per_second": args.batch / t_ours,
             "torchvision_patches_per_second": args.batch / t_tv,
             "speedup_vs_torchvision": t_tv / t_ours,
             "max_relative_difference": err}
      rows.append(row)
      print(f"{name:8s} {size:3d}px: ours {row['ours_patches_per_second']:7.1f}"
            f" patches/s, torchvision "
            f"{row['torchvision_patches_per_second']:7.1f}, ratio "
            f"{row['speedup_vs_torchvision']:.2f}x, max rel. diff {err:.1e}",
            flush=True)
  out = {"benchmark": "embed", "rows": rows,
         "machine": {**machine(), "torch": torch.__version__,
                     "torch_threads": torch.get_num_threads()}}
  Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
