"""``hashbank token rotate``: a new operator token, taking effect at once."""

from __future__ import annotations

import argparse
from pathlib import Path

from node.cli.parsing import Commands, add_data
from node.datadir import DataDir, new_token, replace_secret


def cmd_token(args: argparse.Namespace) -> int:
    data = DataDir(Path(args.data))
    data.require()
    replace_secret(data.token, new_token())
    print(f"new operator token written to {data.token} (mode 0600)")
    print("a running node accepts only the new token from its next request on; give it to")
    print("whatever else uses the old one (TX_HASHBANK_TOKEN, HMA's exchange credential)")
    return 0


def add_parsers(commands: Commands) -> None:
    actions = commands.group("token", "the operator token: rotate it", dest="token_command")
    a = actions.add_parser(
        "rotate",
        help="replace the operator token (a running node switches at once)",
        description="replace the operator token (a running node switches at once)",
    )
    add_data(a)
    a.set_defaults(fn=cmd_token)
