"""`python -m pipeline.reduce RUNS_DIR STORE`, the same as `lth reduce`."""

import sys

from .cli import main

sys.exit(main())
