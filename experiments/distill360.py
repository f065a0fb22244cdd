"""The distill360 experiment (source text 001, Sec. IV) as a script.

  # The paper's protocol on an official set (prepared once from its archive):
  python experiments/distill360.py --workdir /tmp/d360_cviq \
      --set dataset=cviq --set manual_dir=/data/CVIQ
  # The small variant behind `iqa-jax demo` (built-in demo360, CPU minutes):
  python experiments/distill360.py --config runlocal --workdir /tmp/d360_demo
  # The 2-D mode on LIVEC (grid patches; the project's real-data check):
  python experiments/distill360.py --config livec --workdir /tmp/d360_livec \
      --set manual_dir=../shared/data/livec/ChallengeDB_release

`get_config(arg)` is `iqa_jax.distill360.config.get_config` (arg: None for
the paper's protocol, "runlocal", "livec"); every key is documented there.
This script is `iqa-jax distill360` (see `iqa_jax/cli/distill360.py`).
"""

import sys

from iqa_jax.cli import main as cli_main
from iqa_jax.distill360.config import get_config

__all__ = ["get_config"]

if __name__ == "__main__":
  sys.exit(cli_main(["distill360", *sys.argv[1:]]))
