from __future__ import annotations

import pytest

from protocol import errors
from protocol.errors import ForkError, ProtocolError, error_for_code


def all_errors() -> list[type[ProtocolError]]:
    found, pending = [], [ProtocolError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return found


def test_every_error_code_is_unique() -> None:
    codes = [cls.code for cls in all_errors()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    "cls", [c for c in all_errors() if c is not ForkError], ids=lambda c: c.__name__
)
def test_an_error_is_rebuilt_from_its_code_and_message(cls: type[ProtocolError]) -> None:
    rebuilt = error_for_code(cls.code, "what was wrong")
    assert type(rebuilt) is cls
    assert rebuilt.message == "what was wrong"


def test_an_unknown_code_is_refused() -> None:
    with pytest.raises(ValueError, match="no_such_code"):
        error_for_code("no_such_code", "x")


def test_fork_errors_need_their_proof_and_are_not_rebuilt_from_a_code() -> None:
    assert errors.ForkError.__init__ is not ProtocolError.__init__
    with pytest.raises(ValueError, match="fork"):
        error_for_code(ForkError.code, "x")
