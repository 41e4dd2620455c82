"""``python -m benchmarks core|security [--smoke] [--db sqlite|postgresql|all]``."""

import sys

from benchmarks.cli import main

sys.exit(main())
