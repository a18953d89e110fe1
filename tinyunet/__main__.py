"""The command line: ``python -m tinyunet <command> ...``.

A small dispatcher: each part of the package adds its own subcommand with an
``add_commands(subparsers)`` function that sets ``run`` on its parsers.

    python -m tinyunet data phantom --out DIR --subjects N --seed S [--size 256]
    python -m tinyunet data check DIR
    python -m tinyunet data preview [DIR] --out sheet.png
    python -m tinyunet data bench
"""

import argparse
import sys

from .data import cli as data_cli


def main(argv=None):
    """Parse ``argv`` and run the command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tinyunet",
                                     description="tinyunet: a from-scratch U-Net on NumPy / CuPy")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_cli.add_commands(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
