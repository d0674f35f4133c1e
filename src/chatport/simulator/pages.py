"""Message pages of the WAHA simulator: each chat's records encoded once, pages as slices."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Any

import msgspec

from chatport.simulator.world import Record, SimChat, World

_encode = msgspec.json.Encoder().encode


class EncodedChat:
    """A chat's records encoded once, so a page is a slice and a join: the simulator stays
    cheap next to the importer it serves (real WAHA runs on another machine)."""

    def __init__(self, records: list[Record]) -> None:
        self.timestamps = [r.timestamp for r in records]
        self.bodies = [None if r.hidden else _encode(r.message) for r in records]

    def page(
        self, gte: int | None, lte: int | None, offset: int, limit: int, newest_first: bool
    ) -> bytes:
        low = 0 if gte is None else bisect_left(self.timestamps, gte)
        high = len(self.timestamps) if lte is None else bisect_right(self.timestamps, lte)
        offset, limit = max(offset, 0), max(limit, 0)
        if newest_first:
            start, stop = max(high - offset - limit, low), max(high - offset, low)
            chosen = self.bodies[start:stop][::-1]
        else:
            start = min(low + offset, high)
            chosen = self.bodies[start : min(start + limit, high)]
        return b"[" + b",".join(body for body in chosen if body is not None) + b"]"


@lru_cache(maxsize=256)
def encoded_chat(world: World, chat: SimChat) -> EncodedChat:
    return EncodedChat(world.messages(chat))


def with_media(message: dict[str, Any]) -> dict[str, Any]:
    if not message["hasMedia"]:
        return message
    content = next(iter(message["_data"]["message"].values()))
    wa_id = message["_data"]["key"]["id"]
    return {
        **message,
        "media": {
            "url": f"http://localhost/api/files/default/{wa_id}",
            "mimetype": content["mimetype"],
        },
    }
