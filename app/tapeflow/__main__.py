"""``python -m tapeflow``: the same command line as the ``tapeflow`` script."""

import sys

from tapeflow.cli import main

sys.exit(main())
