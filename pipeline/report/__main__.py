"""`python -m pipeline.report STORE -o DIR`, the same as `lth report`."""

import sys

from pipeline.cli import main

sys.exit(main(["report", *sys.argv[1:]]))
