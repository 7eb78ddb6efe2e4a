"""Errors a request to the JSON API can meet."""

from __future__ import annotations

import errno

from node.errors import NodeError


class ApiError(NodeError):
    """Base of the API's errors."""

    code = "bad_request"


class BadRequestError(ApiError):
    """A request the API cannot act on (bad JSON, missing field, wrong type)."""

    code = "bad_request"


class NotFoundError(ApiError):
    """A request naming something this node does not hold."""

    code = "not_found"
    status_hint = 404


class UnauthenticatedError(ApiError):
    """A request without valid credentials."""

    code = "unauthenticated"
    status_hint = 401


class PayloadTooLargeError(ApiError):
    """A request body, batch or answer over its limit."""

    code = "payload_too_large"
    status_hint = 413


class SlowClientError(ApiError):
    """A client that did not accept streamed data in time (the stream is then cut)."""

    code = "slow_client"
    status_hint = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the client accepted no data for {seconds:g} s")


LISTEN_REASONS = {
    errno.EADDRINUSE: "the port is in use (another hashbank node, or another program?)",
    errno.EACCES: "this user may not listen on ports below 1024",
    errno.EADDRNOTAVAIL: "the address is not one of this machine's",
}


class ListenError(ApiError):
    """The node cannot listen on its address: the port is taken, privileged, or not ours."""

    code = "cannot_listen"
    status_hint = 500

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        reason = LISTEN_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        super().__init__(f"cannot listen on {host}:{port}: {reason}")
        self.host = host
        self.port = port
        self.errno = exc.errno
