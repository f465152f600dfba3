"""The elements of a top-level JSON array, one at a time, from a file of any size."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import IO, Any

CHUNK = 1024 * 1024
_WHITESPACE = " \t\r\n"


def iter_array(stream: IO[bytes]) -> Iterator[Any]:
    """Yield each element of the JSON array in ``stream`` (UTF-8); memory holds about one element.

    Raises ValueError when the text is not a JSON array.
    """
    decoder = json.JSONDecoder()
    text_decoder = codecs.getincrementaldecoder("utf-8-sig")()
    buffer = ""
    position = 0
    finished = False

    def fill() -> bool:
        nonlocal buffer, position, finished
        if finished:
            return False
        chunk = stream.read(CHUNK)
        finished = not chunk
        buffer = buffer[position:] + text_decoder.decode(chunk, final=finished)
        position = 0
        return True

    def skip_whitespace() -> str:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in _WHITESPACE:
                position += 1
            if position < len(buffer):
                return buffer[position]
            if not fill():
                return ""

    if skip_whitespace() != "[":
        raise ValueError("not a JSON array")
    position += 1
    expect_value = True
    while True:
        char = skip_whitespace()
        if char == "]":
            return
        if char == "":
            raise ValueError("the JSON array is not closed")
        if char == ",":
            if expect_value:
                raise ValueError("unexpected ',' in the JSON array")
            position += 1
            expect_value = True
            continue
        wanted = len(buffer) - position
        while True:
            try:
                value, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError:
                if finished:
                    raise
                # An element that does not fit yet: read at least as much again before retrying.
                wanted *= 2
                while not finished and len(buffer) - position < wanted:
                    fill()
                continue
            # A number may continue in the next chunk; objects, arrays and strings cannot.
            if end == len(buffer) and not finished and not isinstance(value, dict | list | str):
                fill()
                continue
            break
        position = end
        expect_value = False
        yield value
