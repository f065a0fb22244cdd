"""Test set-up: 8 simulated CPU devices, and access to ../shared when present.

XLA reads the device count when JAX's CPU backend starts, so it is set here,
before any test imports JAX. Multi-device code is then tested on CPU exactly as
it runs on 8 accelerators.
"""

import os
import re
from pathlib import Path

import pytest

_flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                os.environ.get("XLA_FLAGS", ""))
os.environ["XLA_FLAGS"] = (
    _flags + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
# Tests that call the command line in-process must not fill the user's
# compilation cache (tests/test_cli_score.py measures the cache in a
# subprocess of its own).
os.environ["IQA_JAX_COMPILATION_CACHE"] = "0"

# The project's shared material (data, reference values); absent for users.
SHARED = Path(os.environ.get(
    "IQA_JAX_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
  """The ../shared folder; skips the test when it is absent."""
  if not SHARED.is_dir():
    pytest.skip(f"{SHARED} is absent (project-internal material)")
  return SHARED


@pytest.fixture(scope="session")
def livec_mos(shared) -> Path:
  path = shared / "data" / "livec" / "mos.csv"
  if not path.is_file():
    pytest.skip(f"{path} is absent")
  return path


@pytest.fixture(scope="session")
def iqa_home(tmp_path_factory) -> Path:
  """One $IQA_JAX_HOME for the tests that use the built-in datasets: demo2d
  and demo360 are generated and prepared once per session, under
  iqa_home / "datasets" (never in the user's cache)."""
  return tmp_path_factory.mktemp("iqa_jax_home")


@pytest.fixture(scope="session")
def demo_datasets(iqa_home) -> Path:
  """The prepared-datasets folder of `iqa_home` (a `data_dir`)."""
  return iqa_home / "datasets"
