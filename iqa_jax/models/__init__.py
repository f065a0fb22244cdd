"""Flax NNX models: encoders (VGG16, ResNet-50); regressors, LoDa and RADN
later."""

from iqa_jax.models.resnet import ResNet50
from iqa_jax.models.vgg import VGG16

__all__ = ["ResNet50", "VGG16"]
