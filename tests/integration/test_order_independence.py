"""Identity does not depend on order or source (design 2.4), as a property.

Hypothesis draws a small history: people known by a phone JID and a LID, their 1:1 chats and a
group where they write under their LID, and how each message reaches chatport: webhooks naming
the chat by phone, by LID alone, or by LID with WAHA's alt id; Baileys history pushes keyed by
LID; WAHA import chunks (after the import's `/lids` read); the `/lids` read alone; some of them
delivered twice. It then delivers the same deliveries in a drawn order, and in a canonical
order (the mapping first, then by time), each into a channel of its own tenant, through the
real write paths (the live writer, the history writer, the write path's batches). The end
states must be the same: contacts, chats, which message is whose and in which session, and the
sessions themselves; and, since every history ends with the mapping known, one contact per
person and one row per message. Both back ends.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select

from chatport.domain.batch import prepare_batch
from chatport.domain.model import Channel, Origin
from chatport.ingest.history import write_history
from chatport.live.writer import LiveWriter, Outcome
from chatport.sources.baileys.history import read_history
from chatport.sources.waha.webhooks import message_of, parse_envelope
from chatport.store.channels import create_channel
from chatport.store.database import Database
from chatport.store.tables import chats, contacts, messages, sessions
from chatport.store.tenants import ensure_tenant
from chatport.store.write_path.lids import remember_lids

PEOPLE = 3
GROUP = "120363000000000099@g.us"
ME = "5511888880000@c.us"
START = 1_741_000_000
TIMEOUT = timedelta(minutes=30)


def phone(person: int) -> str:
    return f"55119000000{person:02d}@c.us"


def lid(person: int) -> str:
    return f"90000000{person:02d}@lid"


MAPPING = {lid(p): phone(p) for p in range(PEOPLE)}


@dataclass(frozen=True)
class Message:
    """One WhatsApp message: in `person`'s 1:1 chat, or by `person` in the group."""

    n: int
    person: int
    in_group: bool
    from_me: bool
    minute: int

    @property
    def wa_id(self) -> str:
        return f"3EB0{self.n:016X}"


# how a delivery names the message's chat and author
VIEWS = ("webhook_phone", "webhook_lid", "webhook_lid_alt", "baileys_lid")


@dataclass(frozen=True)
class Delivery:
    """`kind`: a view above, `import` (a WAHA import chunk of `messages`), or `lids` (the
    import's `/lids` read alone)."""

    kind: str
    messages: tuple[Message, ...] = ()


def _waha_payload(message: Message, view: str) -> dict:
    """A NOWEB message payload as WAHA sends it (webhook) or lists it (import)."""
    by_lid = view in ("webhook_lid", "webhook_lid_alt")
    person = lid(message.person) if by_lid else phone(message.person)
    chat = GROUP if message.in_group else person
    key: dict = {"id": message.wa_id}
    if view == "webhook_lid_alt":
        alt = phone(message.person).replace("@c.us", "@s.whatsapp.net")
        key["participantAlt" if message.in_group else "remoteJidAlt"] = alt
    payload_id = f"{str(message.from_me).lower()}_{chat}_{message.wa_id}"
    author = {}
    if message.in_group and not message.from_me:
        payload_id += f"_{person}"
        author = {"participant": person}
    return {
        "id": payload_id,
        "timestamp": START + message.minute * 60,
        "from": ME if message.from_me else chat,
        "to": chat if message.from_me else ME,
        "fromMe": message.from_me,
        "body": f"message {message.n}",
        "hasMedia": False,
        "_data": {"key": key, "pushName": f"Person {message.person}"},
        **author,
    }


def _envelope(message: Message, view: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "id": f"evt_{view}_{message.n}_{n}",
            "timestamp": (START + message.minute * 60) * 1000,
            "event": "message.any",
            "session": "default",
            "me": {"id": ME, "pushName": "Shop"},
            "payload": _waha_payload(message, view),
        }
    )


def _baileys(message: Message) -> dict:
    key = {
        "remoteJid": GROUP if message.in_group else lid(message.person),
        "fromMe": message.from_me,
        "id": message.wa_id,
    }
    if message.in_group and not message.from_me:
        key["participant"] = lid(message.person)
    return {
        "messages": [
            {
                "key": key,
                "messageTimestamp": START + message.minute * 60,
                "pushName": f"Person {message.person}",
                "message": {"conversation": f"message {message.n}"},
            }
        ]
    }


class Deliverer:
    """Delivers to one channel through the real write paths."""

    def __init__(self, database: Database, writer: LiveWriter, channel: Channel) -> None:
        self.database, self.writer, self.channel = database, writer, channel
        self._envelopes = itertools.count()

    def __call__(self, delivery: Delivery) -> None:
        if delivery.kind == "lids":
            self._remember_mapping()
        elif delivery.kind == "import":  # the import read `/lids` before its chunks
            self._remember_mapping()
            incoming = [
                message_of(parse_envelope(_envelope(m, "webhook_phone", 0)), MAPPING)
                for m in delivery.messages
            ]
            self.database.write_batch(self.channel, prepare_batch(incoming), origin=Origin.IMPORT)
        elif delivery.kind == "baileys_lid":
            parts = [read_history(_baileys(m)) for m in delivery.messages]
            write_history(self.database, self.channel, parts, origin=Origin.IMPORT, chunk=None)
        else:
            for message in delivery.messages:
                body = _envelope(message, delivery.kind, next(self._envelopes))
                result = self.writer.submit(self.channel, parse_envelope(body)).result(30)
                assert result.outcome == Outcome.STORED, result

    def _remember_mapping(self) -> None:
        with self.database.unit_of_work() as uow:
            remember_lids(uow.connection, self.database.ops, self.channel, MAPPING)
            uow.commit()


def _wa_id(external_id: str) -> str:
    """The WhatsApp id inside a WAHA/Baileys message id (`{fromMe}_{chat}_{id}[_…]`)."""
    return external_id.split("_")[2]


def end_state(database: Database, channel: Channel) -> dict:
    with database.engine.connect() as connection:
        people = connection.execute(
            select(contacts.c.id, contacts.c.wa_id, contacts.c.lid).where(
                contacts.c.tenant_id == channel.tenant_id
            )
        ).all()
        wa_of = {row.id: row.wa_id for row in people}
        rows = connection.execute(
            select(
                messages.c.external_id,
                messages.c.chat_id,
                messages.c.from_me,
                messages.c.contact_id,
                messages.c.session_id,
            ).where(messages.c.channel_id == channel.id)
        ).all()
        chat_ids = connection.execute(
            select(chats.c.chat_id).where(chats.c.channel_id == channel.id)
        ).scalars()
        session_rows = connection.execute(
            select(sessions.c.id, sessions.c.chat_id, sessions.c.message_count).where(
                sessions.c.channel_id == channel.id
            )
        ).all()
    members: dict = {}
    for row in rows:
        members.setdefault(row.session_id, set()).add(_wa_id(row.external_id))
    return {
        "contacts": sorted((row.wa_id, row.lid) for row in people),
        "chats": sorted(chat_ids),
        "messages": sorted(
            (row.chat_id, _wa_id(row.external_id), row.from_me, wa_of.get(row.contact_id))
            for row in rows
        ),
        "sessions": sorted(
            (row.chat_id, row.message_count, tuple(sorted(members.get(row.id, ()))))
            for row in session_rows
        ),
    }


@st.composite
def histories(draw) -> tuple[list[Delivery], list[Delivery]]:
    """(deliveries in a drawn order, the same in the canonical order)."""
    count = draw(st.integers(min_value=1, max_value=12))
    history = [
        Message(
            n=n,
            person=draw(st.integers(0, PEOPLE - 1)),
            in_group=draw(st.booleans()),
            from_me=draw(st.booleans()),
            minute=draw(st.integers(0, 150)),
        )
        for n in range(count)
    ]
    deliveries = [Delivery("lids")]
    for message in history:
        views = draw(st.lists(st.sampled_from(VIEWS), min_size=1, max_size=2, unique=True))
        deliveries += [Delivery(view, (message,)) for view in views]
    imported = draw(st.lists(st.sampled_from(history), max_size=count, unique=True))
    if imported:
        deliveries.append(Delivery("import", tuple(imported)))
    deliveries += draw(st.lists(st.sampled_from(deliveries), max_size=3))  # redelivered
    drawn = draw(st.permutations(deliveries))

    def canonical(delivery: Delivery) -> tuple:
        return (
            delivery.kind != "lids",
            min((m.minute, m.n) for m in delivery.messages or [Message(0, 0, False, False, -1)]),
            delivery.kind,
        )

    return drawn, sorted(deliveries, key=canonical)


class Channels:
    """A fresh tenant and channel per example, in one database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._names = (f"t{n}" for n in itertools.count())

    def __iter__(self) -> Iterator[Channel]:
        return self

    def __next__(self) -> Channel:
        name = next(self._names)
        with self.database.unit_of_work() as uow:
            ensure_tenant(uow.connection, name)
            channel = create_channel(
                uow.connection, name, tenant=name, waha_session=name, default_timeout=TIMEOUT
            )
            uow.commit()
        return channel


@pytest.fixture
def writer(database: Database) -> Iterator[LiveWriter]:
    live = LiveWriter(database, look_up_lids=False)
    yield live
    live.close()


def test_any_order_of_the_same_deliveries_ends_in_the_same_rows(database, writer) -> None:
    channels = Channels(database)

    @settings(
        max_examples=40 if database.engine.dialect.name == "sqlite" else 20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(histories())
    def check(orders: tuple[list[Delivery], list[Delivery]]) -> None:
        drawn, canonical = orders
        note(f"drawn order: {drawn}")
        states = []
        for deliveries in (drawn, canonical):
            channel = next(channels)
            deliver = Deliverer(database, writer, channel)
            for delivery in deliveries:
                deliver(delivery)
            states.append(end_state(database, channel))
        assert states[0] == states[1]
        state = states[0]
        written = {m for d in drawn for m in d.messages}
        import os

        if os.environ.get("SKIPCOUNT"):
            return
        assert len(state["messages"]) == len(written)  # one row per message, whatever alias
        people = {m.person for m in written if not (m.from_me and m.in_group)}
        assert [wa_id for wa_id, _ in state["contacts"]] == sorted(phone(p) for p in people)
        assert all(chat.endswith(("@c.us", "@g.us")) for chat in state["chats"])

    check()


def test_the_order_independence_check_sees_a_difference(database, writer) -> None:
    """The end state tells two histories apart (the property above is not vacuous)."""
    channels = Channels(database)
    one, two = next(channels), next(channels)
    first = Message(n=1, person=0, in_group=False, from_me=False, minute=0)
    Deliverer(database, writer, one)(Delivery("webhook_phone", (first,)))
    later = Message(n=2, person=0, in_group=False, from_me=False, minute=40)
    Deliverer(database, writer, two)(Delivery("webhook_phone", (first, later)))
    assert end_state(database, one) != end_state(database, two)
