"""The package version (single source for pyproject.toml and `iqa-jax --version`)."""

__version__ = "0.1.0.dev0"
