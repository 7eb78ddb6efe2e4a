"""``python -m node.cli``: the ``hashbank`` command line."""

import sys

from node.cli.main import main

sys.exit(main())
