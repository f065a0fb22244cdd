"""ViT-B/16 and ResNet-50 against timm (issue: LoDa's backbones).

Two checks of the same definition:

* with the fixture (always, CI included): the seeded weights of
  tests/seeded_weights.py, converted from timm's names, give timm's own
  outputs on two real crops to 1e-4 of each output's scale. The numbers come
  from timm (tests/data/timm_parity/make_fixture.py; versions inside).
* with torch and timm installed: randomly initialised timm models
  (`vit_base_patch16_224`, `resnet50`) converted to ours, live.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seeded_weights as sw
from iqa_jax.models import resnet, vit

FIXTURE = sw.DATA / "timm_parity" / "timm_outputs.npz"


def _close(ours, theirs, what):
  theirs = np.asarray(theirs)
  scale = max(np.abs(theirs).max(), 1e-6)
  np.testing.assert_allclose(np.asarray(ours), theirs, atol=1e-4 * scale,
                             rtol=1e-4, err_msg=what)


@functools.cache
def _crops():
  return jnp.asarray(sw.real_crops())


def _vit_outputs(model):
  pre = jax.jit(lambda x: model(x, pre_logits=True))(_crops())
  return pre, model.head(pre)


def test_seeded_vit_b16_gives_timms_outputs():
  want = np.load(FIXTURE)
  model = vit.VisionTransformer.from_state_dict(sw.vit_state(0))
  pre, logits = _vit_outputs(model)
  _close(pre, want["vit_pre_logits"], "pre-logits")
  _close(logits, want["vit_logits"], "logits")


def test_seeded_resnet50_gives_timms_stage_maps():
  want = np.load(FIXTURE)
  model = resnet.ResNet50.from_state_dict(sw.resnet_state(0))
  got = jax.jit(model)(_crops())
  for name in sw.STAGE_STEPS:
    _close(sw.subsample(name, got[name]), want[f"resnet_{name}"], name)
  _close(got["embedding"], want["resnet_embedding"], "embedding")


def test_random_timm_models_convert_to_ours():
  torch = pytest.importorskip("torch")
  timm = pytest.importorskip("timm")
  x = torch.from_numpy(sw.real_crops().transpose(0, 3, 1, 2))
  torch.manual_seed(0)
  v = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
  r = timm.create_model("resnet50", pretrained=False).eval()
  with torch.no_grad():
    for m in r.modules():      # timm zero-initialises the last BN of a block
      if isinstance(m, torch.nn.BatchNorm2d):
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.1, 0.1)
        m.running_mean.uniform_(-0.1, 0.1)
        m.running_var.uniform_(0.5, 2.0)
    feats = v.forward_features(x)
    want_pre = v.forward_head(feats, pre_logits=True).numpy()
    want_logits = v.forward_head(feats).numpy()
    h = r.maxpool(r.act1(r.bn1(r.conv1(x))))
    want_stages = []
    for layer in (r.layer1, r.layer2, r.layer3, r.layer4):
      h = layer(h)
      want_stages.append(h.numpy().transpose(0, 2, 3, 1))
  pre, logits = _vit_outputs(vit.VisionTransformer.from_state_dict(
      {k: t.numpy() for k, t in v.state_dict().items()}))
  _close(pre, want_pre, "pre-logits")
  _close(logits, want_logits, "logits")
  ours = resnet.ResNet50.from_state_dict(
      {k: t.numpy() for k, t in r.state_dict().items()})
  got = jax.jit(ours)(_crops())
  for i, want in enumerate(want_stages):
    _close(got[f"stage{i + 1}"], want, f"stage{i + 1}")
