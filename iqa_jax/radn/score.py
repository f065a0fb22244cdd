"""Scoring reference/distorted pairs with a trained RADN or WResNet.

  export(model, "model.npz", config=cfg, target_scale=s)   # after training
  model, info = load("model.npz")                # or an authors' .pth
  q = score_pairs(model, [("ref.png", "dist.png"), ...])   # (n,)

  iqa-jax score --metric radn --checkpoint model.npz --ref R --dist D \\
      --out S.csv

A file written by `export` (`radn train` writes WORKDIR/model_<network>_
fold<k>.npz) holds the network's variant and width ("variant",
"width_divisor"), the experiment's configuration ("config", JSON), the
target's divisor ("target_scale": predictions times it are in the
dataset's score units; NaN when the targets were normalised scores) and
every parameter under the authors' names in torch layouts. An authors'
state dict (`torch.save(model.state_dict())`, .pth; or its tensors in
.safetensors / .npz) is read as `variant` (default "radn"); a file of the
other network is refused with the variant to pass. Each pair is scored as
at test time: all non-overlapping 32 x 32 patch pairs, the weighted
average of their scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flax import nnx

from iqa_jax import images as images_lib
from iqa_jax import weights
from iqa_jax.models import radn as radn_lib
from iqa_jax.radn.patches import TestPairs

__all__ = ["export", "load", "score_pairs"]


def _torch_layout(a, kind):
  a = np.asarray(a, np.float32)
  return (a.transpose(3, 2, 0, 1) if kind == "conv" else
          a.T[:, :, None, None] if kind == "conv1x1" else
          a.T if kind == "linear" else a)


def export(model, path, *, config=None, target_scale: float = float("nan")
           ) -> Path:
  """Writes `model` as the module docstring says; returns path."""
  arrays = {"variant": np.array(radn_lib.variant_of(model)),
            "width_divisor": np.array(_width_divisor(model)),
            "target_scale": np.array(target_scale, np.float64),
            "config": np.array(json.dumps(config.to_dict()
                                          if config is not None else {}))}
  for name, (var, kind) in radn_lib._targets(model):  # pylint: disable=protected-access
    arrays[name] = _torch_layout(var[...], kind)
  return weights.write_npz(path, arrays)


def _width_divisor(model) -> int:
  return 64 // model.stages[0].convs[0].out_features


def _read(path: Path) -> dict:
  if not path.is_file():
    raise FileNotFoundError(
        f"{path}: no such RADN checkpoint. Train one with `iqa-jax radn "
        "train` (it writes WORKDIR/model_<network>_fold<k>.npz).")
  return weights.read_state_dict(path)


def load(path, *, variant: str = ""):
  """(network in eval mode, info dict: variant, width_divisor,
  target_scale, config) from `export`'s file or an authors' state dict.
  `variant` overrides the file's (an authors' file has none: "radn")."""
  path = Path(path)
  state = _read(path)
  saved = str(state.pop("variant")) if "variant" in state else ""
  width = int(state.pop("width_divisor")) if "width_divisor" in state else 1
  scale = float(state.pop("target_scale")) if "target_scale" in state \
      else float("nan")
  config = json.loads(str(state.pop("config"))) if "config" in state else {}
  chosen = variant or saved or "radn"
  if variant and saved and variant != saved:
    raise ValueError(f"{path} holds a {saved} network, not {variant}; "
                     f"drop the variant or pass variant={saved}.")
  model = radn_lib.build(chosen, width_divisor=width, rngs=nnx.Rngs(0))
  try:
    radn_lib.load_torch_state(model, state, source=str(path))
  except (KeyError, ValueError) as e:
    msg = e.args[0] if e.args else str(e)
    raise type(e)(f"{msg} (read as {chosen}; pass the variant the file "
                  f"holds: one of {', '.join(radn_lib.VARIANTS)}).") from e
  model.eval()
  return model, {"variant": chosen, "width_divisor": width,
                 "target_scale": scale, "config": config}


def score_pairs(model, pairs, *, batch_size: int = 4, progress=False,
                mesh=None) -> np.ndarray:
  """(len(pairs),) scores of (reference path, distorted path) pairs."""
  from iqa_jax.radn.train import predict  # pylint: disable=g-import-not-at-top
  pairs = [(Path(r), Path(d)) for r, d in pairs]

  def load_pair(i):
    r, d = pairs[i]
    return (images_lib.to_uint8(images_lib.read(d)),
            images_lib.to_uint8(images_lib.read(r)))
  test = TestPairs(load_pair, len(pairs),
                   names=[f"{d} (reference {r})" for r, d in pairs])
  return predict(model, test, batch_size=batch_size, mesh=mesh,
                 progress=progress)
