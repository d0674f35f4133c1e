"""JSON for stored documents: orjson, made safe for PostgreSQL's jsonb on both back ends."""

from __future__ import annotations

import json
from typing import Any

import orjson

_NUL_ESCAPE = b"\\u0000"
_REPLACEMENT_ESCAPE = b"\\ufffd"


def dumps(document: Any) -> bytes:
    """Serialise `document` as UTF-8 JSON bytes that both back ends accept.

    NUL characters (which jsonb refuses) become U+FFFD, lone surrogates become U+FFFD and
    values JSON cannot represent are stored as their `str()`. Bytes are taken as JSON text
    already serialised and only get the NUL treatment.
    """
    if isinstance(document, bytes):
        data = document
    else:
        try:
            data = orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            data = json.dumps(_scrub(document), default=str, ensure_ascii=False).encode()
    # A search for one byte is a memchr, several times faster than one for the escape; most
    # documents have no backslash at all.
    if b"\\" in data and _NUL_ESCAPE in data:
        data = data.replace(_NUL_ESCAPE, _REPLACEMENT_ESCAPE)
    return data


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes or text."""
    return orjson.loads(data)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_scrub(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value
