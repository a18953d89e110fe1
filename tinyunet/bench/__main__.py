"""``python -m tinyunet.bench``: see tinyunet.bench.cli for the options."""

import sys

from .cli import main

main(sys.argv[1:])
