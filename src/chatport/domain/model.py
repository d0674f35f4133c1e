"""The domain's value objects: what a message, a contact and a session are, with no I/O.

Sources hand the write path `IncomingMessage` objects (loosely typed, straight from a
payload); `prepare_batch` (domain.batch) turns them into validated `Message` objects or
`Invalid` records. Everything here is immutable and cheap to create in bulk.

The types a message is made of are msgspec Structs, not dataclasses: an import creates them a
million at a time, and chunks of them cross from fetch processes to the writer as MessagePack,
which decodes into Structs several times faster than into dataclasses. They hold no
reference cycles, so the garbage collector does not track them (`gc=False`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec

DEFAULT_SESSION_TIMEOUT = timedelta(minutes=30)

RawPayload = dict[str, Any] | bytes
"""The source's own record of a message, kept verbatim in `messages.raw`: a decoded JSON
object, or the JSON text as bytes when the source still has it (no re-encoding then)."""


class Engine(StrEnum):
    """Where an import job runs; stored in the job's params. Adding an engine: a member here
    and a folder in `chatport/engines/`."""

    INPROCESS = "inprocess"
    TEMPORAL = "temporal"


class Origin(StrEnum):
    """Where a message came from; stored in `messages.origin`."""

    IMPORT = "import"
    LIVE = "live"
    EXPORT = "export"
    AGENT = "agent"
    HUMAN = "human"
    """Written by a person in the CRM (`POST /v1/.../messages`, the console) and sent by
    chatport."""

    @property
    def is_history(self) -> bool:
        """History is quiet: it never raises unread counts nor wakes automations."""
        return self in (Origin.IMPORT, Origin.EXPORT)


class ContentType(StrEnum):
    """The kinds of message body chatport stores (`messages.content_type`)."""

    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    VOICE = "voice"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    POLL = "poll"
    REACTION = "reaction"
    SYSTEM = "system"
    MEDIA = "media"
    """Media of an unknown kind (an export's `<Media omitted>`)."""
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Channel:
    """One WhatsApp number behind one WAHA session, owned by a tenant."""

    id: int
    tenant_id: int
    name: str
    waha_session: str
    session_timeout: timedelta = DEFAULT_SESSION_TIMEOUT
    has_agent: bool = False
    """Whether the channel names an agent: its live inbound messages are tracked in bursts."""
    agent_groups: bool | None = None
    """Whether the agent answers in groups (bursts per participant); None: the setting's."""
    handoff_minutes: float | None = None
    """How long a human's reply pauses the bot in a chat; None: the setting's."""

    @property
    def key(self) -> str:
        """A stable text key of the channel (used to derive session ids)."""
        return str(self.id)


class ContactRef(msgspec.Struct, frozen=True, gc=False):
    """A person as a source names them. `wa_id` is the identity (phone JID, else @lid)."""

    wa_id: str
    phone: str | None = None
    lid: str | None = None
    name: str | None = None


class Media(msgspec.Struct, frozen=True, gc=False):
    """Media metadata only; chatport never downloads media on import."""

    url: str | None = None
    mime: str | None = None
    filename: str | None = None
    size: int | None = None
    """Bytes, when the source says."""


class IncomingMessage(msgspec.Struct, gc=False):
    """A message as a source read it, before validation.

    `sent_at` may be a datetime, or epoch seconds or milliseconds as int, float or str.
    `chat_id` and the author ids may use any JID form (`@s.whatsapp.net`, bare digits, ...).
    `raw` given as bytes must be valid UTF-8 JSON (sources pass the text they decoded).
    `problem`: why the source could not read it (it is then stored as invalid, with `raw`).
    `wa_id`: WhatsApp's own id of the message, when the source has it apart; else it is read
    from a WAHA-form `external_id` (`domain.keys`). `chat_lid`: the `@lid` the source named the
    chat by, when it knew the phone chat it gives as `chat_id` (the pair is then stored, also
    for a batch of the channel's own messages, which name no other person).
    """

    external_id: str | None
    chat_id: str | None
    sent_at: datetime | int | float | str | None
    from_me: bool = False
    author: ContactRef | None = None
    text: str | None = None
    content_type: str = ContentType.TEXT
    media: Media | None = None
    chat_name: str | None = None
    raw: RawPayload | None = None
    problem: str | None = None
    wa_id: str | None = None
    chat_lid: str | None = None


class Message(msgspec.Struct, gc=False):
    """A validated message: normalised JIDs, UTC `sent_at` in whole seconds.

    Treat as immutable. It is not frozen because the write path creates one per message, and
    frozen types are slower to create.
    """

    external_id: str
    chat_id: str
    sent_at: datetime
    from_me: bool
    author: ContactRef | None
    text: str | None
    content_type: str
    media: Media | None
    raw: RawPayload | None
    key: str = ""
    """Its identity in the channel (`domain.keys`), under `chat_id`; the write path moves it
    to the phone chat when `chat_id` is a LID whose phone it knows."""

    @property
    def sort_key(self) -> tuple[datetime, str]:
        """The order of the session rule: (sent_at, external_id)."""
        return (self.sent_at, self.external_id)


class Invalid(msgspec.Struct, frozen=True, gc=False):
    """A message the write path refused, with the reason and what it was given."""

    reason: str
    external_id: str | None
    chat_id: str | None
    raw: RawPayload | None


class ChatInfo(msgspec.Struct, frozen=True, gc=False):
    """What a batch knows about one chat: its kind, name and (1:1) counterpart."""

    chat_id: str
    is_group: bool
    name: str | None
    counterpart: ContactRef | None


@dataclass(frozen=True, slots=True)
class SessionSpan:
    """A stored session of one chat: its time span and size."""

    id: UUID
    started_at: datetime
    last_activity_at: datetime
    message_count: int


@dataclass(slots=True)
class BatchResult:
    """Exact counters of one `write_batch` call."""

    created: int = 0
    duplicates: int = 0
    invalid: int = 0
    sessions_created: int = 0
    sessions_extended: int = 0
    sessions_merged: int = 0
    contacts_created: int = 0
    chats_created: int = 0
    invalid_reasons: list[str] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        """Accumulate another batch's counters into this one."""
        for name in BATCH_COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.invalid_reasons.extend(other.invalid_reasons)

    def as_dict(self) -> dict[str, int]:
        """The counters without the reasons, e.g. for an event payload or JSON output."""
        return {name: getattr(self, name) for name in BATCH_COUNTERS}


BATCH_COUNTERS = (
    "created",
    "duplicates",
    "invalid",
    "sessions_created",
    "sessions_extended",
    "sessions_merged",
    "contacts_created",
    "chats_created",
)
