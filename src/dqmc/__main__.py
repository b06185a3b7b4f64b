"""`python -m dqmc`: the same entry point as the `dqmc` console script."""

import sys

from dqmc.cli import main

sys.exit(main())
