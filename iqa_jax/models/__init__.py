"""Flax NNX models: encoders (VGG16, ResNet-50, AlexNet, ViT-B/16), the
patch regressor, LoDa (`models.loda`), RADN and WResNet (`models.radn`),
deformable convolution (`models.deform`)."""

from iqa_jax.models.alexnet import AlexNet
from iqa_jax.models.resnet import ResNet50
from iqa_jax.models.vgg import VGG16

__all__ = ["AlexNet", "ResNet50", "VGG16"]
