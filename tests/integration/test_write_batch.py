"""The one write path, the same suite on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from chatport.domain.batch import prepare_batch
from chatport.domain.model import ContactRef, Origin
from chatport.domain.sessions import partition, session_id_for
from chatport.store.database import Database
from chatport.store.raw_archive import raw_payload
from chatport.store.tables import chats, contacts, dead_letters, events, messages, sessions
from chatport.store.write_path.batch import DuplicateElsewhere
from chatport.store.write_path.lids import channel_lids
from tests.builders import BASE, at, incoming

CHAT = "5511999990001@c.us"
GROUP = "120363000000000001@g.us"


def rows(database: Database, query):
    with database.engine.connect() as connection:
        return connection.execute(query).all()


def stored_partition(database: Database, chat: str) -> set[frozenset[str]]:
    groups: dict[object, set[str]] = {}
    for external_id, session_id in rows(
        database,
        select(messages.c.external_id, messages.c.session_id).where(messages.c.chat_id == chat),
    ):
        groups.setdefault(session_id, set()).add(external_id)
    return {frozenset(group) for group in groups.values()}


def test_first_write_counts_everything_and_a_rerun_is_all_duplicates(database: Database) -> None:
    channel = database.channel()
    batch = [incoming(f"m{i}", minutes=i * 10) for i in range(5)] + [
        incoming(f"g{i}", minutes=i * 50, chat=GROUP, author=ContactRef(f"55119000000{i % 2}@c.us"))
        for i in range(4)
    ]
    first = database.write_batch(channel, batch, origin=Origin.IMPORT)
    assert (first.created, first.duplicates, first.invalid) == (9, 0, 0)
    assert (first.sessions_created, first.sessions_extended, first.sessions_merged) == (5, 0, 0)
    assert (first.chats_created, first.contacts_created) == (2, 3)

    again = database.write_batch(channel, batch, origin=Origin.IMPORT)
    assert (again.created, again.duplicates, again.sessions_created, again.contacts_created) == (
        0,
        9,
        0,
        0,
    )
    assert rows(database, select(func.count()).select_from(messages)) == [(9,)]
    assert rows(database, select(func.count()).select_from(sessions)) == [(5,)]


def test_sessions_equal_the_one_shot_rule_for_any_order_and_batching(database: Database) -> None:
    channel = database.channel()
    rng = random.Random(5)
    minutes = sorted(rng.choice(range(0, 600, 5)) for _ in range(120))
    history = [incoming(f"m{i:03d}", minutes=m) for i, m in enumerate(minutes)]
    shuffled = history[:]
    rng.shuffle(shuffled)
    position = 0
    while position < len(shuffled):
        size = rng.randint(1, 15)
        database.write_batch(channel, shuffled[position : position + size], origin=Origin.LIVE)
        position += size
    expected = partition(prepare_batch(history).messages, channel.session_timeout)
    assert stored_partition(database, CHAT) == {
        frozenset(m.external_id for m in session) for session in expected
    }
    spans = rows(
        database,
        select(sessions.c.started_at, sessions.c.last_activity_at, sessions.c.message_count)
        .where(sessions.c.chat_id == CHAT)
        .order_by(sessions.c.started_at),
    )
    assert [tuple(r) for r in spans] == [(s[0].sent_at, s[-1].sent_at, len(s)) for s in expected]


def test_a_bridging_message_merges_sessions_into_the_older_one(database: Database) -> None:
    channel = database.channel()
    database.write_batch(
        channel, [incoming("a", 0), incoming("b", 10), incoming("z", 70)], origin=Origin.IMPORT
    )
    assert len(stored_partition(database, CHAT)) == 2
    result = database.write_batch(channel, [incoming("bridge", 40)], origin=Origin.LIVE)
    assert (result.sessions_extended, result.sessions_merged, result.sessions_created) == (1, 1, 0)
    assert stored_partition(database, CHAT) == {frozenset({"a", "b", "bridge", "z"})}
    survivor = session_id_for(channel.key, "a")
    assert rows(database, select(sessions.c.id, sessions.c.message_count)) == [(survivor, 4)]
    merged = rows(database, select(events.c.payload).where(events.c.type == "session.merged"))
    assert merged[0].payload["survivor"] == str(survivor)


def test_history_is_quiet_and_live_inbound_is_not(database: Database) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("h1", 0), incoming("h2", 1)], origin=Origin.IMPORT)
    unread = select(chats.c.unread_count).where(chats.c.chat_id == CHAT)
    received = select(func.count()).select_from(events).where(events.c.type == "message.received")
    assert rows(database, unread) == [(0,)]
    assert rows(database, received) == [(0,)]
    assert rows(database, select(events.c.type).where(events.c.type == "history.imported")) == [
        ("history.imported",)
    ]

    database.write_batch(channel, [incoming("l1", 5), incoming("l2", 6)], origin=Origin.LIVE)
    assert rows(database, unread) == [(2,)]
    assert rows(database, received) == [(2,)]

    database.write_batch(channel, [incoming("me1", 7, from_me=True)], origin=Origin.LIVE)
    assert rows(database, unread) == [(0,)]
    assert rows(database, received) == [(2,)]


def test_the_chat_preview_only_moves_forward(database: Database) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("new", 100, text="newest")], origin=Origin.LIVE)
    database.write_batch(channel, [incoming("old", 5, text="older")], origin=Origin.IMPORT)
    preview = rows(
        database, select(chats.c.last_message_text, chats.c.last_message_at, chats.c.last_sender)
    )
    assert preview == [("newest", BASE + timedelta(minutes=100), CHAT)]


def test_bad_input_is_counted_dead_lettered_and_the_rest_is_stored(database: Database) -> None:
    channel = database.channel()
    batch = [
        incoming(None, 0),
        incoming("no-time", sent_at=""),
        incoming("bad-chat", chat="not a jid!"),
        incoming("bool-time", sent_at=True),
        incoming("   ", 1),
        incoming("good", 2),
    ]
    result = database.write_batch(channel, batch, origin=Origin.IMPORT)
    assert (result.created, result.invalid) == (1, 5)
    assert "missing message id" in result.invalid_reasons
    assert "missing timestamp" in result.invalid_reasons
    letters = rows(
        database, select(dead_letters.c.reason, dead_letters.c.external_id, dead_letters.c.payload)
    )
    assert len(letters) == 5
    bad_chat = [letter for letter in letters if letter.external_id == "bad-chat"]
    assert "not a WhatsApp id" in bad_chat[0].reason and '"bad-chat"' in bad_chat[0].payload


def test_millisecond_timestamps_and_jid_forms_are_normalised(database: Database) -> None:
    channel = database.channel()
    seconds = at(3)
    first = database.write_batch(
        channel,
        [incoming("x", sent_at=seconds * 1000, chat="5511999990001@s.whatsapp.net")],
        origin=Origin.IMPORT,
    )
    again = database.write_batch(
        channel, [incoming("x", sent_at=str(seconds), chat="5511999990001")], origin=Origin.LIVE
    )
    assert (first.created, again.duplicates) == (1, 1)
    assert rows(database, select(messages.c.chat_id, messages.c.sent_at)) == [
        (CHAT, datetime.fromtimestamp(seconds, UTC))
    ]


def test_any_unicode_is_stored_and_nul_is_replaced_not_fatal(database: Database) -> None:
    channel = database.channel()
    texts = {
        "zwj": "family 👩‍👩‍👧‍👦 and flag 🏳️‍🌈",
        "rtl": "مرحبا بالعالم שלום",
        "combining": "e\u0301 ñ ǅ",
        "nul": "before\x00after",
        "surrogate": "lone \ud83d half",
    }
    batch = [
        incoming(key, i, text=text, raw={"body": text, "nested": [text]})
        for i, (key, text) in enumerate(texts.items())
    ]
    assert database.write_batch(channel, batch, origin=Origin.IMPORT).created == 5
    stored = dict(rows(database, select(messages.c.external_id, messages.c.text)))
    assert stored["zwj"] == texts["zwj"] and stored["rtl"] == texts["rtl"]
    assert stored["combining"] == texts["combining"]
    assert stored["nul"] == "before\ufffdafter"
    assert "\ud83d" not in stored["surrogate"] and stored["surrogate"].startswith("lone ")
    ids = dict(rows(database, select(messages.c.external_id, messages.c.id)))
    with database.engine.connect() as connection:
        raw = {key: raw_payload(connection, ids[key]) for key in ids}
    assert raw["zwj"] == {"body": texts["zwj"], "nested": [texts["zwj"]]}
    assert raw["nul"]["body"] == "before\ufffdafter"


def test_an_id_already_stored_in_another_chat_counts_as_a_duplicate(database: Database) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("shared", 0)], origin=Origin.IMPORT)
    result = database.write_batch(
        channel,
        [
            incoming("shared", 500, chat=GROUP, author=ContactRef("5511000@c.us")),
            incoming("new", 0, chat=GROUP, author=ContactRef("5511000@c.us")),
        ],
        origin=Origin.IMPORT,
    )
    assert (result.created, result.duplicates, result.sessions_created) == (1, 1, 1)
    assert stored_partition(database, GROUP) == {frozenset({"new"})}


def test_contacts_one_person_one_contact(database: Database) -> None:
    channel = database.channel()
    ann = ContactRef("5511888880000@s.whatsapp.net", lid="123456789@lid", name="Ann")
    database.write_batch(
        channel,
        [
            incoming("g1", 0, chat=GROUP, author=ann),
            incoming("g2", 1, chat=GROUP, author=ContactRef("5511888880000@c.us")),
            incoming("only-me", 2, chat="5511777770000@c.us", from_me=True),
        ],
        origin=Origin.IMPORT,
    )
    people = rows(
        database,
        select(contacts.c.wa_id, contacts.c.phone, contacts.c.lid, contacts.c.name).order_by(
            contacts.c.wa_id
        ),
    )
    assert [tuple(p) for p in people] == [
        ("5511777770000@c.us", "5511777770000", None, None),
        ("5511888880000@c.us", "5511888880000", "123456789@lid", "Ann"),
    ]
    chat_contact = rows(
        database,
        select(contacts.c.wa_id)
        .join(chats, chats.c.contact_id == contacts.c.id)
        .where(chats.c.chat_id == "5511777770000@c.us"),
    )
    assert chat_contact == [("5511777770000@c.us",)]
    authors = rows(
        database,
        select(messages.c.external_id, messages.c.contact_id).order_by(messages.c.external_id),
    )
    assert authors[0].contact_id == authors[1].contact_id is not None
    assert authors[2].contact_id is None


def test_a_contact_name_learned_later_is_filled_in(database: Database) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("a", 0)], origin=Origin.IMPORT)
    database.write_batch(
        channel, [incoming("b", 1, author=ContactRef(CHAT, name="Bea"))], origin=Origin.LIVE
    )
    assert rows(database, select(contacts.c.name)) == [("Bea",)]


def test_sessions_use_the_channel_timeout(database: Database) -> None:
    with database.unit_of_work() as uow:
        short = uow.create_channel("short", session_timeout=timedelta(minutes=5))
        uow.commit()
    database.write_batch(
        short, [incoming("a", 0), incoming("b", 5), incoming("c", 11)], origin=Origin.IMPORT
    )
    assert len(stored_partition(database, CHAT)) == 2


def test_an_uncommitted_unit_of_work_writes_nothing(database: Database) -> None:
    channel = database.channel()
    with database.unit_of_work() as uow:
        assert uow.write_batch(channel, [incoming("a", 0)], origin=Origin.IMPORT).created == 1
    assert rows(database, select(func.count()).select_from(messages)) == [(0,)]


@pytest.mark.parametrize("size", [5, 300])  # one INSERT, and COPY, on PostgreSQL
def test_an_id_stored_in_another_chat_at_another_time_is_skipped_not_doubled(
    database: Database, size: int
) -> None:
    channel = database.channel()
    database.write_batch(channel, [incoming("moved", minutes=0)], origin=Origin.IMPORT)
    batch = [incoming(f"n{i}", minutes=600 + i, chat=GROUP) for i in range(size)]
    batch.insert(size // 2, incoming("moved", minutes=900, chat=GROUP))  # WAHA moved it
    result = database.write_batch(channel, batch, origin=Origin.IMPORT)
    assert (result.created, result.duplicates) == (size, 1)
    assert rows(database, select(func.count()).select_from(messages))[0][0] == size + 1
    assert stored_partition(database, GROUP) == {frozenset(f"n{i}" for i in range(size))}


@pytest.mark.parametrize("size", [5, 300])  # one INSERT, and COPY, on PostgreSQL
def test_new_chats_skips_the_duplicate_check_yet_a_message_stored_since_is_not_doubled(
    database: Database, size: int
) -> None:
    channel = database.channel()
    batch = [incoming(f"n{i}", minutes=i, chat=GROUP) for i in range(size)]
    # the import believed the chat new; a live delivery stored one of its messages meanwhile
    database.write_batch(channel, [batch[size // 2]], origin=Origin.LIVE)
    result = database.write_batch(channel, batch, origin=Origin.IMPORT, new_chats=True)
    assert (result.created, result.duplicates) == (size - 1, 1)
    assert rows(database, select(func.count()).select_from(messages))[0][0] == size
    # a minute apart: one session, the live message's included
    assert stored_partition(database, GROUP) == {frozenset(f"n{i}" for i in range(size))}


def test_known_lid_pairs_are_not_stored_again_and_new_ones_are(database: Database) -> None:
    channel = database.channel()
    known_lid, new_lid = "1000000000000001@lid", "2000000000000002@lid"
    batch = [
        incoming("k1", 0, chat=GROUP, author=ContactRef("5511911110001@c.us", lid=known_lid)),
        incoming("n1", 1, chat=GROUP, author=ContactRef("5511922220002@c.us", lid=new_lid)),
    ]
    known = {known_lid: "5511911110001@c.us"}  # the caller says it stored this pair already
    database.write_batch(channel, batch, origin=Origin.IMPORT, known_lids=known)
    with database.engine.connect() as connection:
        assert channel_lids(connection, channel.id) == {new_lid: "5511922220002@c.us"}


def test_one_attempt_refuses_an_id_stored_elsewhere_for_the_exact_pass(database: Database) -> None:
    """A unit of work outside `Database.transactions()`: the insert meets an id the skipped
    duplicate check missed (PostgreSQL's COPY raises; SQLite's insert skips it and the count
    shows it): DuplicateElsewhere, for the caller's loop to try again with every id checked."""
    channel = database.channel()
    batch = [incoming(f"x{i}", minutes=i, chat=GROUP) for i in range(150)]  # COPY-sized
    database.write_batch(channel, [batch[75]], origin=Origin.LIVE)
    with database.unit_of_work() as uow, pytest.raises(DuplicateElsewhere):
        uow.write_batch(channel, batch, origin=Origin.IMPORT, new_chats=True)


def test_a_unit_of_work_is_used_in_a_with_block(database: Database) -> None:
    uow = database.unit_of_work()
    with pytest.raises(RuntimeError, match="with"):
        uow.connection  # noqa: B018
    assert uow.__exit__(None, None, None) is False  # never entered: nothing to close
