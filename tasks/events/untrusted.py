"""Reading an untrusted message: bounded JSON, fields of the type they claim, finite amounts.

Pure logic, shared by :mod:`tasks.events.classify` for every kind of message the queue carries.
Every refusal is an :class:`UnclassifiedMessage` whose text is the reason, one line, quoting
the offending value short and escaped (:func:`shown`).  Each check runs in linear time and
without recursion, so no single message can stall or crash the listener.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import accumulate, repeat
from typing import Any

#: The largest body SQS delivers (256 KiB, in UTF-8 bytes); anything larger did not come through
#: SQS as AWS sends it, and is refused before it is read.
MAX_BODY_BYTES = 256 * 1024
#: The deepest JSON nesting accepted.  AWS's notifications nest four or five levels; 64 leaves
#: room for any real ``detail`` while keeping every later recursion (the JSON decoder, pydantic,
#: the Prefect client's serialiser) far from Python's recursion limit.
MAX_JSON_DEPTH = 64

#: A JSON string, escapes included; an unterminated one runs to the end (so the pattern never
#: fails, and never backtracks).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\[\s\S][^"\\]*)*(?:"|\\?\Z)')
#: How each bracket changes the nesting depth (any other character: 0).
_JSON_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class UnclassifiedMessage(ValueError):
    """The message is malformed or of an unknown kind; the text is the reason, one line."""


def shown(value: Any, limit: int = 80) -> str:
    """How a reason quotes a value a message held: its ``repr``, cut to ``limit`` characters.

    Reasons are logged and sent as an SQS message attribute, so hostile input appears in them
    escaped (no control characters, no lone surrogates) and short, never raw.

    Example:
        >>> shown("x" * 100, 10)
        "'xxxxxxxx…"
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(text: str, limit: int = 100) -> str:
    """``text`` itself when short and printable (a topic ARN, a key), else :func:`shown`."""
    return text if len(text) <= limit and text.isprintable() else shown(text, limit)


def json_depth(text: str) -> int:
    r"""How deeply ``text``'s JSON nests, counted without recursion and in linear time.

    Strings are cut out first (brackets in them are text), then the brackets left are summed
    up, ``[``/``{`` as +1 and ``]``/``}`` as -1, and the deepest running total is the depth.
    The string pattern cannot fail (an unterminated string runs to the end), so it never
    backtracks.  Malformed JSON gets some count; ``json.loads`` then says what is wrong with it.

    Example:
        >>> json_depth('{"a": [1, "]]"], "b": {"c": "\\"["}}')
        2
    """
    outside = _JSON_STRING.sub("", text)
    return max(accumulate(map(_JSON_DEPTH_STEP.get, outside, repeat(0))), default=0)


def no_constant(name: str) -> Any:
    """``json.loads`` hook: ``NaN``, ``Infinity`` and ``-Infinity`` are JavaScript, not JSON."""
    raise ValueError(f"{name} is not a JSON number")


def finite_float(text: str) -> float:
    """``json.loads`` hook: a number too large for a float (``1e400``) is refused, not infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {shown(text, 40)} is not finite")
    return value


def parse_json(text: str, what: str) -> Any:
    """Parse ``text`` as JSON: bounded in depth, strict about numbers.

    The depth is checked by :func:`json_depth` first, so ``json.loads`` never recurses deeper
    than :data:`MAX_JSON_DEPTH`; the ``RecursionError`` clause is the last guard all the same.
    """
    if json_depth(text) > MAX_JSON_DEPTH:
        raise UnclassifiedMessage(f"{what} nests JSON deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=no_constant, parse_float=finite_float)
    except RecursionError:
        raise UnclassifiedMessage(f"{what} nests JSON too deeply to decode") from None
    except (TypeError, ValueError) as error:
        raise UnclassifiedMessage(f"{what} is not JSON ({error})") from None


def text_field(document: dict[str, Any], key: str, what: str) -> str:
    """``document[key]`` if a string, ``''`` if absent or null; any other type is refused."""
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UnclassifiedMessage(f"{what} {key} {shown(value)} is not a string")
    return value


def timestamp(value: Any, fallback: datetime, what: str) -> datetime:
    """An ISO 8601 timestamp (UTC if it names no zone); ``fallback`` when absent or empty."""
    if value is None or value == "":
        return fallback
    if not isinstance(value, str):
        raise UnclassifiedMessage(f"{what} {shown(value)} is not an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UnclassifiedMessage(f"{what} {shown(value)} is not ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def finite_amount(value: Any, what: str) -> str:
    """A JSON number (or numeric string) as a string of Decimal; NaN and infinities refused."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            return str(number)
    raise UnclassifiedMessage(f"{what} {shown(value)} is not a finite number")
