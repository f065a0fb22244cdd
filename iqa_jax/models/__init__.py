"""Flax NNX models: encoders (VGG16) and, later, regressors, LoDa, RADN."""

from iqa_jax.models.vgg import VGG16

__all__ = ["VGG16"]
