"""Flax NNX models: encoders (VGG16, ResNet-50, AlexNet); regressors, LoDa
and RADN later."""

from iqa_jax.models.alexnet import AlexNet
from iqa_jax.models.resnet import ResNet50
from iqa_jax.models.vgg import VGG16

__all__ = ["AlexNet", "ResNet50", "VGG16"]
