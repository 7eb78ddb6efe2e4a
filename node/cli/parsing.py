"""The pieces every command group uses to declare its commands."""

from __future__ import annotations

import argparse
import enum
from collections.abc import Callable

DEFAULT_DATA = ".hashbank"
Run = Callable[[argparse.Namespace], int]


def names(codes: type[enum.IntEnum]) -> list[str]:
    """The CLI spelling of a protocol enum's members (as the JSON API spells them)."""
    return [member.name.lower() for member in codes]


class Commands:
    """The ``hashbank`` subcommands, as each group declares them."""

    def __init__(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self.sub = sub

    def add(
        self, name: str, run: Run, help: str, *, data: bool = True, client: bool = False
    ) -> argparse.ArgumentParser:
        """A command; ``data`` adds ``--data``, ``client`` adds ``--url`` (an API client)."""
        p = self.sub.add_parser(name, help=help, description=help)
        if data:
            add_data(p)
        if client:
            p.add_argument("--url", help="node URL (default: from the data directory)")
        p.set_defaults(fn=run)
        return p

    def group(
        self, name: str, help: str, dest: str
    ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        """A command with actions of its own (``peers add``, ``charter sign`` …)."""
        p = self.sub.add_parser(name, help=help, description=help)
        return p.add_subparsers(dest=dest, required=True, metavar="ACTION")


def add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=DEFAULT_DATA, help="node data directory")
