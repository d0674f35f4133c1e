"""WAHA's `presence.update` deliveries: who is typing in which chat (`shared/waha-api.md`
4.3: `{id, presences: [{participant, lastKnownPresence, lastSeen}]}`). Pure."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from chatport.domain.normalise import InvalidValue, normalise_jid
from chatport.sources.waha.messages import resolve
from chatport.sources.waha.webhooks import Envelope, WebhookRejected

TYPING = frozenset({"typing", "composing", "recording"})
"""`lastKnownPresence` values that say a contact is writing (or recording a voice note)."""

_decode = msgspec.json.Decoder().decode


def typing_of(envelope: Envelope, lids: Mapping[str, str]) -> list[tuple[str, str]]:
    """Who is typing by a `presence.update` delivery: `(chat, participant)` pairs, phone JIDs
    where known (empty when nobody is composing; WebhookRejected 422 for a payload without a
    chat)."""
    payload = _decode(envelope.payload)
    chat = payload.get("id") if isinstance(payload, dict) else None
    if not isinstance(chat, str) or not chat:
        raise WebhookRejected(422, "presence.update payload without a chat id")
    presences = payload.get("presences")
    typing = []
    for presence in presences if isinstance(presences, list) else []:
        if not isinstance(presence, dict) or presence.get("lastKnownPresence") not in TYPING:
            continue
        who = presence.get("participant")
        who = who if isinstance(who, str) and who else chat
        try:
            typing.append((_jid(chat, lids), _jid(who, lids)))
        except InvalidValue as invalid:
            raise WebhookRejected(422, f"presence.update payload: {invalid}") from None
    return typing


def _jid(value: str, lids: Mapping[str, str]) -> str:
    return normalise_jid(resolve(value, None, lids) or value)
