"""ResNet-50 (NNX) loaded from a synthetic torchvision-style checkpoint.

torch/torchvision are not needed: the checkpoint is written here as a
.safetensors file in torchvision's names and layouts, and the model's output
is compared with a reference forward pass written plainly in NCHW/OIHW (the
torch layout) below.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from iqa_jax import weights
from iqa_jax.models import resnet

STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))


def _torchvision_state(seed=0):
  """Random weights under torchvision's resnet50 names (OIHW convs)."""
  rng = np.random.default_rng(seed)
  state = {}

  def conv(name, cout, cin, k):
    std = np.sqrt(2.0 / (cin * k * k))
    state[f"{name}.weight"] = (std * rng.normal(size=(cout, cin, k, k))
                               ).astype(np.float32)

  def bn(name, c):
    state[f"{name}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    state[f"{name}.bias"] = rng.normal(0, 0.1, c).astype(np.float32)
    state[f"{name}.running_mean"] = rng.normal(0, 0.1, c).astype(np.float32)
    state[f"{name}.running_var"] = rng.uniform(0.5, 2, c).astype(np.float32)
    state[f"{name}.num_batches_tracked"] = np.array(7, np.int64)

  conv("conv1", 64, 3, 7)
  bn("bn1", 64)
  cin = 64
  for li, (width, blocks) in enumerate(STAGES):
    for b in range(blocks):
      p = f"layer{li + 1}.{b}"
      conv(f"{p}.conv1", width, cin, 1)
      bn(f"{p}.bn1", width)
      conv(f"{p}.conv2", width, width, 3)
      bn(f"{p}.bn2", width)
      conv(f"{p}.conv3", 4 * width, width, 1)
      bn(f"{p}.bn3", 4 * width)
      if b == 0:
        conv(f"{p}.downsample.0", 4 * width, cin, 1)
        bn(f"{p}.downsample.1", 4 * width)
      cin = 4 * width
  state["fc.weight"] = rng.normal(size=(1000, 2048)).astype(np.float32)
  state["fc.bias"] = np.zeros(1000, np.float32)
  return state


def _write_safetensors(path, state, bf16=()):
  header, blobs, offset = {}, [], 0
  for name, a in state.items():
    if name in bf16:
      raw = (a.astype(np.float32).view(np.uint32) >> 16).astype("<u2")
      dtype = "BF16"
    else:
      raw = a.astype(a.dtype.newbyteorder("<"))
      dtype = {np.float32: "F32", np.int64: "I64"}[a.dtype.type]
    b = raw.tobytes()
    header[name] = {"dtype": dtype, "shape": list(a.shape),
                    "data_offsets": [offset, offset + len(b)]}
    blobs.append(b)
    offset += len(b)
  head = json.dumps(header).encode()
  path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


def _reference(state, x):
  """torchvision's forward pass, NCHW, written out."""
  hp = jax.lax.Precision.HIGHEST

  def conv(name, x, stride, pad):
    return jax.lax.conv_general_dilated(
        x, state[f"{name}.weight"], (stride, stride), [(pad, pad)] * 2,
        dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=hp)

  def bn(name, x):
    g = lambda k: state[f"{name}.{k}"][None, :, None, None]
    return (x - g("running_mean")) / np.sqrt(g("running_var") + 1e-5) * g(
        "weight") + g("bias")

  relu = jax.nn.relu
  x = relu(bn("bn1", conv("conv1", x, 2, 3)))
  x = jax.lax.reduce_window(x, -np.inf, jax.lax.max, (1, 1, 3, 3),
                            (1, 1, 2, 2), ((0, 0), (0, 0), (1, 1), (1, 1)))
  outs = []
  for li, (_, blocks) in enumerate(STAGES):
    for b in range(blocks):
      p = f"layer{li + 1}.{b}"
      stride = 2 if (b == 0 and li > 0) else 1
      y = relu(bn(f"{p}.bn1", conv(f"{p}.conv1", x, 1, 0)))
      y = relu(bn(f"{p}.bn2", conv(f"{p}.conv2", y, stride, 1)))
      y = bn(f"{p}.bn3", conv(f"{p}.conv3", y, 1, 0))
      if b == 0:
        x = bn(f"{p}.downsample.1", conv(f"{p}.downsample.0", x, stride, 0))
      x = relu(y + x)
    outs.append(x)
  return outs


def test_synthetic_checkpoint_matches_reference_forward(tmp_path):
  state = _torchvision_state()
  path = tmp_path / "resnet50.safetensors"
  _write_safetensors(path, state)
  loaded = weights.read_state_dict(path)
  assert set(loaded) == set(state)
  model = resnet.ResNet50.from_state_dict(loaded)
  x = np.random.default_rng(1).random((2, 64, 64, 3)).astype(np.float32)
  out = model(jnp.asarray(x))
  ref = _reference(state, jnp.asarray(x.transpose(0, 3, 1, 2)))
  for i, r in enumerate(ref):
    got = np.asarray(out[f"stage{i + 1}"]).transpose(0, 3, 1, 2)
    scale = np.abs(np.asarray(r)).max()
    np.testing.assert_allclose(got, r, atol=1e-4 * scale, rtol=1e-4)
  assert out["stage4"].shape == (2, 2, 2, 2048)
  np.testing.assert_allclose(out["embedding"], np.asarray(ref[3]).mean((2, 3)),
                             rtol=1e-4, atol=1e-4 * scale)
  assert model.embed(jnp.asarray(x)).shape == (2, 2048)


def test_expected_keys_and_clear_errors(tmp_path):
  state = _torchvision_state()
  keys = resnet.expected_keys()
  assert set(keys) == {k for k in state if not k.startswith("fc.")
                       and not k.endswith("num_batches_tracked")}
  assert all(keys[k] == state[k].shape for k in keys)
  del state["layer3.2.bn2.running_var"]
  with pytest.raises(KeyError, match=r"1 missing key\(s\) \['layer3.2.bn2"):
    resnet.ResNet50.from_state_dict(state)
  state = _torchvision_state()
  state["layer1.0.conv2.weight"] = state["layer1.0.conv2.weight"][:, :32]
  with pytest.raises(ValueError, match="layer1.0.conv2.weight: expected"):
    resnet.ResNet50.from_state_dict(state)
  with pytest.raises(weights.WeightsNotFound, match="no such weights file"):
    weights.read_state_dict(tmp_path / "none.safetensors")


def test_bf16_safetensors(tmp_path):
  a = np.array([1.0, -2.5, 3.140625], np.float32)  # exact in bfloat16
  path = tmp_path / "t.safetensors"
  _write_safetensors(path, {"w": a}, bf16={"w"})
  np.testing.assert_array_equal(weights.read_safetensors(path)["w"], a)
  (tmp_path / "bad.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00"
                                             b"{oops")
  with pytest.raises(weights.WeightsCorrupt, match="not JSON"):
    weights.read_safetensors(tmp_path / "bad.safetensors")
