"""A small synchronous client of a node's JSON API, for the CLI's thin commands."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from node.cli.errors import ClientError
from node.config import load_config
from node.datadir import DataDir, read_secret, running_url


class Client:
    """Calls one node's API with its operator token."""

    def __init__(self, base_url: str, token: str, timeout: float = 60.0, hint: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.hint = hint  # the next step when the node cannot be reached

    @classmethod
    def for_data(cls, data: DataDir, url: str | None = None) -> Client:
        """A client for the node whose data directory is ``data``.

        ``--url`` wins; then the URL the node running on ``data`` serves (``node.url``, so
        ``run --port N`` is found); then what config.toml says.
        """
        data.require()
        base = url or running_url(data)
        hint = ""
        if not base:
            base = load_config(data).url
            hint = f"; is the node running? (start it with: hashbank run --data {data.root})"
        return cls(reachable(base), read_secret(data.token), hint=hint)

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._call("GET", path + query, None)

    def post(self, path: str, doc: Any) -> Any:
        return self._call("POST", path, json.dumps(doc).encode())

    def _call(self, method: str, path: str, body: bytes | None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own node
            self.base_url + path,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(
                f"cannot reach the node at {self.base_url}: {reason}{self.hint}"
            ) from None


def reachable(url: str) -> str:
    """``url`` with a wildcard listen address replaced by this machine's loopback."""
    parts = urllib.parse.urlsplit(url)
    loopback = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}  # noqa: S104
    host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    if host in loopback:
        netloc = loopback[host] + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def _api_error(exc: urllib.error.HTTPError) -> ClientError:
    try:
        error = json.loads(exc.read())["error"]
        return ClientError(str(error["message"]), exc.code, str(error["code"]))
    except (ValueError, KeyError, TypeError):
        return ClientError(f"the node answered HTTP {exc.code} {exc.reason}", exc.code)
