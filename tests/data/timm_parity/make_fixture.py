"""Writes timm_outputs.npz: timm's outputs for the seeded weights of
tests/seeded_weights.py on two real crops (needs torch and timm).

  pip install torch==2.14.1 torchvision==0.29.1 timm
  python tests/data/timm_parity/make_fixture.py

The weights go into timm's own `vit_base_patch16_224` and `resnet50` with
strict loading (so the names are timm's); the outputs are timm's.
"""

import sys
from pathlib import Path

import numpy as np
import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import seeded_weights as sw  # pylint: disable=g-import-not-at-top


def main():
  x = torch.from_numpy(sw.real_crops().transpose(0, 3, 1, 2))
  out = {"timm_version": np.array(timm.__version__),
         "torch_version": np.array(torch.__version__)}
  with torch.no_grad():
    v = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
    v.load_state_dict({k: torch.from_numpy(a) for k, a in
                       sw.vit_state(0).items()}, strict=True)
    feats = v.forward_features(x)
    out["vit_pre_logits"] = v.forward_head(feats, pre_logits=True).numpy()
    out["vit_logits"] = v.forward_head(feats).numpy()
    r = timm.create_model("resnet50", pretrained=False).eval()
    state = sw.resnet_state(0)
    full = r.state_dict()
    ours = {k for k in full if not k.startswith("fc.")
            and not k.endswith("num_batches_tracked")}
    assert ours == set(state), sorted(ours ^ set(state))[:5]
    for k in full:       # fc and num_batches_tracked keep timm's values
      if k in state:
        full[k] = torch.from_numpy(state[k])
    r.load_state_dict(full, strict=True)
    h = r.maxpool(r.act1(r.bn1(r.conv1(x))))
    for i, layer in enumerate((r.layer1, r.layer2, r.layer3, r.layer4)):
      h = layer(h)
      name = f"stage{i + 1}"
      out[f"resnet_{name}"] = sw.subsample(name, h.numpy().transpose(
          0, 2, 3, 1))
    out["resnet_embedding"] = h.mean((2, 3)).numpy()
  path = Path(__file__).parent / "timm_outputs.npz"
  np.savez_compressed(path, **out)
  print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
  main()
