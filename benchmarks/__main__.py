"""``python -m benchmarks core|security|events|api [--smoke] [--db sqlite|postgresql|all]``."""

import sys

from benchmarks.cli import main

sys.exit(main())
