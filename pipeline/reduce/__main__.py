"""`python -m pipeline.reduce RUNS_DIR STORE`, the same as `lth reduce`."""

import sys

from pipeline.cli import main

sys.exit(main(["reduce", *sys.argv[1:]]))
