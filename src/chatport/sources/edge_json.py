"""JSON from outside, checked at the edge before anything stores it. Pure.

`decode` reads JSON bytes into plain values (dict, list, str, int, float, bool, None) and
refuses, with a reason, whatever a store or a later step could not take:

- bytes that are not JSON, or not UTF-8, or strings with lone surrogates (`\\ud800`);
- nesting deeper than `MAX_DEPTH` (an object in an array in an object … counts each level);
- a NUL character (`\\u0000`) in any string or key (PostgreSQL text refuses it);
- an integer outside the signed 64-bit range (every integer column is at most that).

Unknown fields and types are left alone: this is the shape every value must have, the typed
decoders of each source say which fields they read.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

MAX_DEPTH = 64
"""The deepest nesting accepted (WAHA's deepest payloads nest about 10 levels)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_decode_any = msgspec.json.Decoder().decode
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


class UnsafeJson(ValueError):
    """JSON refused at the edge; `status` is the HTTP answer (400 unreadable, 422 a value out
    of range), the text its reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def decode(data: bytes | memoryview | msgspec.Raw, what: str = "JSON") -> Any:
    """The JSON value in `data`, checked (see the module docstring); UnsafeJson otherwise.
    `what` names the document in reasons (`payload`, `body`)."""
    try:
        value = _decode_any(data)
    except RecursionError:
        raise UnsafeJson(400, f"{what} nested deeper than {MAX_DEPTH} levels") from None
    except msgspec.ValidationError as error:  # a number too large even for a float
        raise UnsafeJson(422, f"{what}: {error}") from None
    except msgspec.DecodeError as error:
        raise UnsafeJson(400, f"malformed {what}: {error}") from None
    if _may_break_a_rule(bytes(data)):
        check(value, what)
    return value


def _may_break_a_rule(data: bytes) -> bool:
    """False when `data` (valid JSON) cannot break a rule, found by a few scans in C: no
    `\\u0000` escape (a NUL can only be escaped), no run of 19 digits (an integer beyond 64
    bits has 19 or more), fewer brackets than `MAX_DEPTH` levels; most payloads need no walk."""
    return (
        (b"\\" in data and b"\\u0000" in data)
        or data.count(b"{") + data.count(b"[") > MAX_DEPTH
        or _LONG_NUMBER.search(data) is not None
    )


def check(value: Any, what: str = "JSON") -> None:
    """Refuse (UnsafeJson) a decoded value that breaks a rule of the module docstring."""
    stack: list[tuple[Any, int, tuple]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise UnsafeJson(400, f"{what} nested deeper than {MAX_DEPTH} levels")
        if type(node) is dict:
            for key, item in node.items():
                if "\x00" in key:
                    raise UnsafeJson(422, f"{what}: a key at {_path(path)} has a NUL character")
                _scalar_or_push(stack, item, depth, path, key, what)
        elif type(node) is list:
            for index, item in enumerate(node):
                _scalar_or_push(stack, item, depth, path, index, what)
        else:
            _scalar_or_push(stack, node, 0, (), None, what)


def _scalar_or_push(stack: list, item: Any, depth: int, path: tuple, key: Any, what: str) -> None:
    kind = type(item)
    if kind is str:
        if "\x00" in item:
            where = _path((*path, key)) if key is not None else "$"
            raise UnsafeJson(422, f"{what}: {where} has a NUL character")
    elif kind is dict or kind is list:
        stack.append((item, depth + 1, (*path, key)))
    elif kind is int and not INT64_MIN <= item <= INT64_MAX:
        where = _path((*path, key)) if key is not None else "$"
        raise UnsafeJson(422, f"{what}: {where} is an integer out of the 64-bit range")


def _path(path: tuple) -> str:
    text = "$" + "".join(f"[{step}]" if type(step) is int else f".{step}" for step in path)
    return text if len(text) <= 200 else text[:199] + "…"
