"""The simulated WhatsApp account behind the WAHA simulator: deterministic chats and messages.

Everything derives from (chats, messages, seed): the same arguments give the same ids,
timestamps and texts on every run. A chat's messages are generated on demand and cached, so a
simulator serving a million messages holds only the chats being read.

Shapes follow `shared/waha-api.md` for the NOWEB engine: message ids
`{fromMe}_{chatId}_{waId}[_{participant}]`, `participant` in groups (sometimes a `@lid` with the
phone twin in `_data.key.participantAlt`), `@lid` chats with `_data.key.remoteJidAlt`, media
messages with `hasMedia: true` and `media: null` (not downloaded), and some non-displayable
records (reactions, protocol messages) that WAHA drops after paging, making pages short.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chatport.synthetic import WORDS as _WORDS

BASE_TIMESTAMP = 1_735_689_600  # 2025-01-01T00:00:00Z
ME = "5511900000000@c.us"
_MEDIA = (
    ("imageMessage", "image/jpeg"),
    ("audioMessage", "audio/ogg"),
    ("documentMessage", "application/pdf"),
)


@dataclass(frozen=True, slots=True)
class SimChat:
    """One chat as WAHA lists it; `phone_twin` is the phone JID of a `@lid` chat."""

    index: int
    id: str
    name: str
    is_group: bool
    message_count: int
    phone_twin: str | None


class World:
    """`chats` chats holding `messages` messages in all, from `seed`."""

    def __init__(self, chats: int, messages: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        weights = [rng.paretovariate(1.5) for _ in range(chats)]
        total = sum(weights)
        counts = [max(1, int(messages * w / total)) for w in weights]
        counts[0] += messages - sum(counts)
        self.seed = seed
        self.chats = [self._chat(index, max(1, count)) for index, count in enumerate(counts)]
        self.by_id = {chat.id: chat for chat in self.chats}
        self.lids = sorted(
            [(chat.id, chat.phone_twin) for chat in self.chats if chat.phone_twin]
            + self._participant_lids()
        )

    def _chat(self, index: int, count: int) -> SimChat:
        if index % 10 == 9:
            return SimChat(index, f"120363{index:012d}@g.us", f"Group {index}", True, count, None)
        phone = f"55119{index:08d}@c.us"
        if index % 7 == 3:  # a chat WhatsApp shows under the contact's LID
            return SimChat(index, f"{9000000000 + index}@lid", f"Lid {index}", False, count, phone)
        return SimChat(index, phone, f"Contact {index}", False, count, None)

    def _participant_lids(self) -> list[tuple[str, str]]:
        return [
            (f"8{chat.index:06d}{p}@lid", f"55218{chat.index:05d}{p:03d}@c.us")
            for chat in self.chats
            if chat.is_group
            for p in range(0, 6, 2)
        ]

    def messages(self, chat: SimChat) -> list[Record]:
        """The chat's records, oldest first, non-displayable ones (`hidden`) included."""
        return _messages(self.seed, chat)

    def last_message(self, chat: SimChat) -> dict[str, Any] | None:
        """The newest displayable message of a chat; None when it has none (a small chat
        whose records are all reactions or protocol messages)."""
        return next((r.message for r in reversed(self.messages(chat)) if not r.hidden), None)

    def last_activity(self, chat: SimChat) -> int:
        """The timestamp of the chat's newest record (WAHA's `conversationTimestamp`)."""
        return self.messages(chat)[-1].timestamp


@dataclass(frozen=True, slots=True)
class Record:
    """A message record; `hidden` ones (reactions, protocol) WAHA drops after paging."""

    timestamp: int
    from_me: bool
    hidden: bool
    message: dict[str, Any]


LAST_TIMESTAMP = BASE_TIMESTAMP + 86_400 * 360
"""Long pauses stop here (2025-12-27): with minutes between messages after it, even a chat
of 100,000 messages ends in 2026, in the past of any import (whose range ends at its start)."""


@lru_cache(maxsize=512)
def _messages(seed: int, chat: SimChat) -> list[Record]:
    rng = random.Random(seed * 1_000_003 + chat.index)
    timestamp = BASE_TIMESTAMP + rng.randint(0, 86_400 * 60)
    # Pauses of hours or days between bursts, fewer in big chats so that a chat's history
    # spans months, not years.
    pause_rate = min(0.12, 86_400 * 200 / (200_000 * chat.message_count))
    records = []
    for n in range(chat.message_count):
        if n:
            long = rng.random() < pause_rate and timestamp < LAST_TIMESTAMP - 400_000
            timestamp += rng.randint(7_200, 400_000) if long else rng.randint(1, 900)
        records.append(_message(rng, chat, n, timestamp))
    return records


def message_record(rng: random.Random, chat: SimChat, n: int, timestamp: int) -> Record:
    """The chat's `n`-th record at `timestamp`, drawn from `rng` (live messages use it)."""
    return _message(rng, chat, n, timestamp)


def _message(rng: random.Random, chat: SimChat, n: int, timestamp: int) -> Record:
    from_me = rng.random() < 0.4
    wa_id = f"3EB0{chat.index:06X}{n:08X}"
    participant = alt = None
    if chat.is_group and not from_me:
        p = rng.randrange(6)
        phone = f"55218{chat.index:05d}{p:03d}@c.us"
        participant, alt = (f"8{chat.index:06d}{p}@lid", phone) if p % 2 == 0 else (phone, None)
    message_id = f"{str(from_me).lower()}_{chat.id}_{wa_id}" + (
        f"_{participant}" if participant else ""
    )
    kind = rng.random()
    has_media = 0.90 <= kind < 0.97
    hidden = kind >= 0.97  # a reaction or protocol record: dropped by WAHA after paging
    body = (
        ""
        if has_media and rng.random() < 0.5
        else " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 10)))
    )
    content = {"conversation": body}
    if has_media:
        field, mime = rng.choice(_MEDIA)
        size = str(1_000 + n * 7_919 % 5_000_000)  # NOWEB sends Longs as strings
        content = {field: {"mimetype": mime, "caption": body, "fileLength": size}}
    key = {
        "remoteJid": chat.id.replace("@c.us", "@s.whatsapp.net"),
        "fromMe": from_me,
        "id": wa_id,
    }
    if chat.phone_twin:
        key["remoteJidAlt"] = chat.phone_twin.replace("@c.us", "@s.whatsapp.net")
    if participant:
        key["participant"] = participant.replace("@c.us", "@s.whatsapp.net")
        if alt:
            key["participantAlt"] = alt.replace("@c.us", "@s.whatsapp.net")
    message = {
        "id": message_id,
        "timestamp": timestamp,
        "from": ME if from_me else chat.id,
        "fromMe": from_me,
        "source": "app",
        "to": chat.id if from_me else ME,
        "participant": participant,
        "body": body,
        "hasMedia": has_media,
        "media": None,
        "ack": 3 if from_me else None,
        "ackName": "READ" if from_me else "UNKNOWN",
        "_data": {
            "key": key,
            "messageTimestamp": timestamp,
            "pushName": None if from_me else f"Person {chat.index}",
            "message": {"reactionMessage": {"text": "👍"}} if hidden else content,
        },
    }
    return Record(timestamp, from_me, hidden, message)
