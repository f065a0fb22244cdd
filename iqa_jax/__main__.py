"""`python -m iqa_jax` is `iqa-jax`."""

import sys

from iqa_jax.cli import main

sys.exit(main())
