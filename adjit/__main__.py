"""`python -m adjit`: the command line (see adjit/cli.py)."""

import sys

from .cli import main

sys.exit(main())
