"""A message's identity whatever the alias a source named its chat by (design 2.4). Pure.

A message is (channel, canonical chat, WhatsApp message id, fromMe): its key is the text
`{fromMe}_{chat}_{id}` (`true` / `false`), WAHA's serialised id without the group
participant, with the chat the phone chat (`…@c.us`) when the alias is known. So Baileys'
`false_5511…@c.us_3EB0…`, WAHA's `false_9000…@lid_3EB0…` of the same message (once that LID's
phone is known) and WAHA's group id `…@g.us_3EB0…_{participant}` (whatever alias names the
participant) are one key. A message of no WhatsApp id (an export's line, an agent reply not
sent yet) is keyed by its source's id. `messages.external_id` keeps the source's id verbatim.

A WhatsApp id is unique per sender device, and the participant of a group is an alias like
any other (LID or phone), so the key leaves it out, as the design's identity does.
"""

from __future__ import annotations

MAX_KEY_LENGTH = 400
"""The longest key (`messages.message_key`): `false_`, a chat id (128), `_`, a message id
(256)."""


def whatsapp_id(external_id: str) -> str | None:
    """The WhatsApp message id inside a WAHA-form id `{fromMe}_{chat}_{id}[_{participant}]`
    (the participant a JID), or None when `external_id` is not of that form."""
    parts = _parts(external_id.split("_"))
    return parts[2] if parts is not None else None


def waha_id_parts(external_id: str) -> tuple[bool, str, str] | None:
    """(fromMe, chat, WhatsApp id) of a WAHA-form id (see `whatsapp_id`), else None."""
    return _parts(external_id.split("_"))


def _parts(parts: list[str]) -> tuple[bool, str, str] | None:
    if len(parts) < 3 or (parts[0] != "false" and parts[0] != "true") or "@" not in parts[1]:
        return None
    if len(parts) == 3:
        wa_id = parts[2]
    elif "@" in parts[-1]:  # a participant
        wa_id = "_".join(parts[2:-1])
    else:
        wa_id = "_".join(parts[2:])
    return (parts[0] == "true", parts[1], wa_id) if wa_id else None


def message_key(from_me: bool, chat_id: str, external_id: str, wa_id: str | None = None) -> str:
    """The key of message `external_id` of chat `chat_id` (canonical), with WhatsApp id
    `wa_id` when the source has it apart, else the one `external_id` holds in WAHA's form;
    `external_id` itself when it holds none."""
    if wa_id is None:
        parts = external_id.split("_")
        # Most ids are already their key (`{side}_{chat_id}_{id}`): the same string, no copy.
        if (
            len(parts) == 3
            and parts[1] == chat_id
            and parts[0] == ("true" if from_me else "false")
            and parts[2]
        ):
            return external_id
        found = _parts(parts)
        if found is None:
            return external_id
        wa_id = found[2]
    return f"true_{chat_id}_{wa_id}" if from_me else f"false_{chat_id}_{wa_id}"


def rekey(key: str, chat_id: str, canonical: str) -> str:
    """`key` of a message of chat `chat_id`, for the same message in chat `canonical` (a key
    of no WhatsApp id is unchanged)."""
    for side in ("false_", "true_"):
        if key.startswith(side) and key.startswith(chat_id, len(side)):
            start = len(side) + len(chat_id)
            if key.startswith("_", start):
                return f"{side}{canonical}{key[start:]}"
    return key


def key_prefixes(chat_id: str) -> tuple[str, str]:
    """The beginnings of the keys of a chat's messages that have a WhatsApp id."""
    return f"false_{chat_id}_", f"true_{chat_id}_"
