"""`python -m poller` runs the same command line as the console script."""

import sys

from poller.cli import main

sys.exit(main())
