"""Log lines: key=value fields out of format strings, untrusted values in both formats."""

from __future__ import annotations

import json
import logging

import pytest

from node.logs import JsonFormatter, split_fields, untrusted


def test_fields_come_out_of_the_format_string() -> None:
    text, fields = split_fields("pdq index %s items=%d s=%.2f", ("built", 12, 0.123456))
    assert text == "pdq index built"
    assert fields == {"items": 12, "s": 0.12}


def test_untrusted_values_are_quoted_in_text_and_plain_in_json() -> None:
    value = untrusted('a"\nb')
    assert str(value) == "'a\"\\nb'"  # text mode: repr, one line
    assert f"sync peer={value}" == "sync peer='a\"\\nb'"
    _, fields = split_fields("sync peer=%s", (value,))
    assert fields == {"peer": 'a"\nb'}


def test_reserved_names_and_percent_signs() -> None:
    text, fields = split_fields("done 100%% message=%s level=%d", ("x", 3))
    assert text == "done 100%"
    assert fields == {"field_message": "x", "field_level": 3}


@pytest.mark.parametrize(
    ("msg", "args"), [("no fields at all", ()), ("odd %s and %d", ("x", 2)), ("n=%d", ("x",))]
)
def test_every_record_is_one_json_object(msg: str, args: tuple[object, ...]) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    doc = json.loads(JsonFormatter().format(record))
    assert doc["logger"] == "t"
    assert doc["level"] == "INFO"
    assert isinstance(doc["message"], str)
