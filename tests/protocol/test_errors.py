from __future__ import annotations

import pytest

from protocol.errors import (
    AuthError,
    CharterForkError,
    ForkError,
    ProtocolError,
    TooLargeError,
    UnauthorizedError,
    error_for_code,
)


def all_errors() -> list[type[ProtocolError]]:
    found, pending = [], [ProtocolError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return found


def carries_proof(cls: type[ProtocolError]) -> bool:
    return cls.__init__ is not ProtocolError.__init__


def test_every_error_carries_a_client_error_status_hint() -> None:
    for cls in all_errors():
        assert 400 <= cls.status_hint < 500, cls


def test_the_status_hints_that_are_not_400() -> None:
    hints = {cls: cls.status_hint for cls in all_errors() if cls.status_hint != 400}
    assert hints == {
        AuthError: 401,
        UnauthorizedError: 403,
        TooLargeError: 413,
        ForkError: 409,
        CharterForkError: 409,
    }


def test_every_error_code_is_unique() -> None:
    codes = [cls.code for cls in all_errors()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    "cls", [c for c in all_errors() if not carries_proof(c)], ids=lambda c: c.__name__
)
def test_an_error_is_rebuilt_from_its_code_and_message(cls: type[ProtocolError]) -> None:
    rebuilt = error_for_code(cls.code, "what was wrong")
    assert type(rebuilt) is cls
    assert rebuilt.message == "what was wrong"


def test_an_unknown_code_is_refused() -> None:
    with pytest.raises(ValueError, match="no_such_code"):
        error_for_code("no_such_code", "x")


@pytest.mark.parametrize(
    "cls", [c for c in all_errors() if carries_proof(c)], ids=lambda c: c.__name__
)
def test_errors_that_carry_a_proof_are_not_rebuilt_from_a_code(cls: type[ProtocolError]) -> None:
    with pytest.raises(ValueError, match=cls.code):
        error_for_code(cls.code, "x")
