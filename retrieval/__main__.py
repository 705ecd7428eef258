"""`python -m retrieval`: see retrieval/cli.py."""

import sys

from .cli import main

sys.exit(main())
