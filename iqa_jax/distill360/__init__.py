"""The distill360 experiment of source text 001 (see `run.py`)."""

from iqa_jax.distill360.config import get_config
from iqa_jax.distill360.pipeline import run, validate

__all__ = ["get_config", "run", "validate"]
