"""Architecture parity with torchvision (skipped when torch is absent).

The same random weights go into torchvision's vgg16/resnet50 and ours; every
returned layer must agree to 1e-4 (relative to the layer's scale). Install the
peers with `pip install torch==2.14.1 torchvision==0.29.1` to run it.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from iqa_jax.models import resnet, vgg  # pylint: disable=g-import-not-at-top

# Indices of the ReLUs after conv1_2, conv2_2, conv3_3, conv4_3, conv5_3 in
# torchvision's vgg16().features.
_VGG_RELUS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22,
              "relu5_3": 29}


def _close(ours, theirs):
  theirs = np.asarray(theirs)
  scale = max(np.abs(theirs).max(), 1e-6)
  np.testing.assert_allclose(np.asarray(ours), theirs, atol=1e-4 * scale,
                             rtol=1e-4)


def test_vgg16_matches_torchvision():
  torch.manual_seed(0)
  net = torchvision.models.vgg16(weights=None).features.eval()
  convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
  ours = vgg.VGG16(rngs=nnx.Rngs(0))
  ours.load_arrays([(c.weight.detach().numpy().transpose(2, 3, 1, 0),
                     c.bias.detach().numpy()) for c in convs])
  x = np.random.default_rng(0).random((2, 64, 64, 3)).astype(np.float32)
  got = ours(jnp.asarray(x), layers=vgg.LAYERS)
  h = torch.from_numpy(x.transpose(0, 3, 1, 2))
  with torch.no_grad():
    for i, layer in enumerate(net):
      h = layer(h)
      for name, idx in _VGG_RELUS.items():
        if idx == i:
          _close(got[name], h.numpy().transpose(0, 2, 3, 1))


def test_resnet50_matches_torchvision():
  torch.manual_seed(0)
  net = torchvision.models.resnet50(weights=None).eval()
  with torch.no_grad():  # non-trivial batch-norm statistics
    for m in net.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1)
        m.running_var.uniform_(0.5, 2.0)
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.1, 0.1)
  state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
  ours = resnet.ResNet50.from_state_dict(state)
  x = np.random.default_rng(0).random((2, 64, 64, 3)).astype(np.float32)
  got = ours(jnp.asarray(x))
  h = torch.from_numpy(x.transpose(0, 3, 1, 2))
  with torch.no_grad():
    h = net.maxpool(net.relu(net.bn1(net.conv1(h))))
    for i, layer in enumerate((net.layer1, net.layer2, net.layer3,
                               net.layer4)):
      h = layer(h)
      _close(got[f"stage{i + 1}"], h.numpy().transpose(0, 2, 3, 1))
    _close(got["embedding"], torch.flatten(net.avgpool(h), 1).numpy())
