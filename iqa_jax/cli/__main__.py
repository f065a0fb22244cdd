"""`python -m iqa_jax.cli` is `iqa-jax`."""

import sys

from iqa_jax.cli import main

sys.exit(main())
