"""The ``hashbank`` command line: the parser, and the one place errors become exit statuses.

Each command group lives in its own module (``node``, ``bank``, ``peers``, ``charter``,
``platform`` via ``bank``, ``importer``, ``users``) and declares its commands through
``node.cli.parsing.Commands``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from node import __version__
from node.cli import bank, charter, importer, node, peers, users
from node.cli.errors import CliError
from node.cli.parsing import Commands
from node.errors import ConfigError, NodeError
from node.logs import setup_logging
from protocol.errors import ProtocolError

log = logging.getLogger("hashbank")
GROUPS = (node, bank, peers, charter, importer, users)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hashbank", description="A federated, signed hash bank for NCII."
    )
    parser.add_argument("--version", action="version", version=f"hashbank {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for group in GROUPS:
        group.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            # Output still buffered here would otherwise meet a reader that went away in
            # Python's own exit flush, which reports it ("Exception ignored …", status 120).
            sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.fn(args))
    except CliError as exc:
        print(f"hashbank: error: {exc.message}", file=sys.stderr)
        return exc.exit_status
    except (NodeError, ProtocolError) as exc:
        print(f"hashbank: error: {exc.message}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except Exception as exc:  # a bug, not bad input: say so briefly, details with -v
        log.debug("internal error", exc_info=True)
        print(f"hashbank: internal error: {exc!r} (run with -v for details)", file=sys.stderr)
        return 70


def _quiet_broken_pipe() -> int:
    """The reader went away (``hashbank … | head``): stop without a word."""
    # Python flushes stdout again at exit and would complain about the closed pipe then.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0
