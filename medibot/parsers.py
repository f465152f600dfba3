"""Request parsers."""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class _Refused(ValueError):
    """A value no field can store: refused once here instead of crashing deeper down."""


def _bounded_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _Refused("JSON parse error - integers must fit in 64 bits.")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused("JSON parse error - number out of range.")
    return value


def _refuse_constant(text: str) -> None:
    raise _Refused(f"JSON parse error - {text} is not valid JSON.")


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refuse_lone_surrogates(document: Any) -> None:
    """Walks the parsed document without recursion (it may be thousands of levels deep)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                raise _Refused("JSON parse error - text contains a lone surrogate (invalid Unicode).")
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, refusing as a 400 what would otherwise be a 500 further down.

    * absurdly nested documents: ``json`` recurses once per level and raises ``RecursionError``;
    * integers outside int64 (MongoDB/MySQL cannot store them, BSON raises ``OverflowError``),
      and numbers that overflow to infinity, ``NaN`` and ``Infinity``;
    * lone surrogates (``"\\ud800"``) in any key or value: valid JSON escapes, but not Unicode, so
      every later ``encode()`` — BSON, MySQL, an error message echoing the value — fails.
    """

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            document = json.loads(
                text, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_refuse_constant
            )
            _refuse_lone_surrogates(document)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        except _Refused as exc:
            raise ParseError(str(exc)) from exc
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from exc
        return document
