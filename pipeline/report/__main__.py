"""`python -m pipeline.report STORE -o DIR`, the same as `lth report`."""

import sys

from .cli import main

sys.exit(main())
