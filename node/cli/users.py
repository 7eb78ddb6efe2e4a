"""``hashbank user add/list/disable/enable/reset/audit``: the console's accounts, for the operator.

These talk to the running node (its API, with the operator token), so a change takes effect at
once — disabling an account ends its sessions before the command returns — and every change
goes through the node's one transaction door with its audit line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from node.cli.client import Client
from node.cli.errors import UsageError
from node.cli.parsing import Commands
from node.datadir import DataDir

ROLES = ("caseworker", "operator")


def _client(args: argparse.Namespace) -> Client:
    return Client.for_data(DataDir(Path(args.data)), args.url)


def _path(name: str, action: str) -> str:
    return f"/v1/users/{urllib.parse.quote(name.strip(), safe='')}/{action}"


def _ask_password(name: str) -> str | None:
    """On a terminal, the operator may type the password (empty: the node makes one)."""
    first = getpass.getpass(f"password for {name} (Enter: make a one-time password): ")
    if not first:
        return None
    if getpass.getpass("the same password again: ") != first:
        raise UsageError("the two passwords differ; nothing was changed")
    return first


def _wanted_password(args: argparse.Namespace) -> str | None:
    if args.ask and not sys.stdin.isatty():
        raise UsageError("--ask needs a terminal to type the password on")
    if args.ask or (sys.stdin.isatty() and not args.generate):
        return _ask_password(args.name)
    return None


def _print_issued(doc: dict[str, Any], verb: str) -> None:
    user = doc["user"]
    print(f"{verb} {user['role']} {user['name']}")
    if "password" in doc:
        print(f"one-time password: {doc['password']}")
        print("  (give it to them in person or by phone; the console asks for a new one at once)")
    else:
        print("  (they must choose a new password at their first login)")


def cmd_add(args: argparse.Namespace) -> int:
    password = _wanted_password(args)
    body: dict[str, Any] = {"name": args.name, "role": args.role}
    if password is not None:
        body["password"] = password
    _print_issued(_client(args).post("/v1/users", body), "added")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    password = _wanted_password(args)
    body = {} if password is None else {"password": password}
    _print_issued(_client(args).post(_path(args.name, "reset"), body), "reset")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    doc = _client(args).post(_path(args.name, "disable"), {})
    print(f"disabled {doc['user']['name']}; sessions ended: {doc['sessions_ended']}")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    doc = _client(args).post(_path(args.name, "enable"), {})
    print(f"enabled {doc['user']['name']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    users = _client(args).get("/v1/users")["users"]
    if args.json:
        print(json.dumps(users, indent=2))
        return 0
    if not users:
        print("no console users yet (add one: hashbank user add NAME --role operator)")
    for u in users:
        state = [s for s, on in (("disabled", u["disabled"]), ("locked", u["locked"])) if on]
        if u["must_change_password"]:
            state.append("password not yet changed")
        print(f"{u['name']:<24} {u['role']:<11} {', '.join(state) or 'active'}")
    return 0


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cmd_audit(args: argparse.Namespace) -> int:
    params = {"limit": str(args.limit)}
    for key in ("actor", "action", "before"):
        if getattr(args, key):
            params[key] = str(getattr(args, key))
    doc = _client(args).get("/v1/audit", params)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    for e in doc["entries"]:
        detail = " ".join(f"{k}={v}" for k, v in sorted(e["detail"].items()))
        print(f"{_when(e['at_ms'])}  {e['actor']:<20} {e['action']:<17} {e['subject']} {detail}")
    if doc["before"]:
        print(f"(older lines: --before {doc['before']})")
    return 0


def add_parsers(commands: Commands) -> None:
    actions = commands.group("user", "console accounts (the node must be running)", "action")
    cmds = Commands(actions)
    p = cmds.add("add", cmd_add, "add a console account", client=True)
    p.add_argument("name", help="login name (letters, digits, . _ @ -)")
    p.add_argument("--role", choices=ROLES, required=True)
    _password_options(p)
    p = cmds.add("reset", cmd_reset, "a new password; ends the account's sessions", client=True)
    p.add_argument("name")
    _password_options(p)
    p = cmds.add("disable", cmd_disable, "disable an account, ending its sessions", client=True)
    p.add_argument("name")
    p = cmds.add("enable", cmd_enable, "enable a disabled account again", client=True)
    p.add_argument("name")
    p = cmds.add("list", cmd_list, "list the console accounts", client=True)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = cmds.add("audit", cmd_audit, "read the audit log, newest first", client=True)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--actor", help="only lines of this actor (a user name)")
    p.add_argument("--action", help="only lines of this action (login, user_added …)")
    p.add_argument("--before", type=int, help="continue: lines older than this id")
    p.add_argument("--json", action="store_true", help="print JSON")


def _password_options(p: argparse.ArgumentParser) -> None:
    how = p.add_mutually_exclusive_group()
    how.add_argument("--ask", action="store_true", help="type the password (default on a terminal)")
    how.add_argument(
        "--generate",
        action="store_true",
        help="make and print a one-time password (default when not on a terminal)",
    )
