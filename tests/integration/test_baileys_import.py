"""Baileys history sync through the write path (both back ends): from a file's text and over
real HTTP (`POST /webhooks/baileys/{channel}`): exact, idempotent, chunked, LIDs joined."""

from __future__ import annotations

import httpx
import orjson
from sqlalchemy import func, select

from chatport.errors import BaileysFormatError
from chatport.ingest.baileys import CHUNK, import_text
from chatport.sources.waha.webhooks import sign
from chatport.store.tables import chats, contacts, dead_letters, messages
from tests.integration.conftest import WEBHOOK_KEY
from tests.unit.test_baileys_history import LID, PHONE, message


def count(database, table=messages) -> int:
    with database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def history(n: int, start: int = 0, remote: str = PHONE, **extra) -> dict:
    items = []
    for i in range(start, start + n):
        item = message({"conversation": f"m{i}"}, remote=remote, stamp=1_700_000_000 + i * 60)
        item["key"]["id"] = f"3EB0{i:012d}"
        items.append(item)
    return {"messages": items, "chats": [{"id": remote, "name": "Ana"}], **extra}


def test_a_file_of_payloads_imports_exactly_once_in_chunks(database) -> None:
    text = "\n".join(
        orjson.dumps(payload).decode()
        for payload in (history(CHUNK + 500), history(300, start=CHUNK + 200))
    )
    first = import_text(database, database.channel(), text)
    assert (first.parts, first.messages) == (2, CHUNK + 800)
    assert (first.result.created, first.result.duplicates) == (CHUNK + 500, 300)
    again = import_text(database, database.channel(), text)
    assert again.result.created == 0
    assert count(database) == CHUNK + 500


def test_a_lid_chat_is_stored_as_the_phone_chat(database) -> None:
    import_text(database, database.channel(), orjson.dumps(history(3)).decode())
    payload = history(2, start=10, remote=LID, lidPnMappings=[{"lid": LID, "pn": PHONE}])
    import_text(database, database.channel(), orjson.dumps(payload).decode())
    with database.engine.connect() as connection:
        chat_ids = set(connection.execute(select(chats.c.chat_id)).scalars())
        people = connection.execute(select(contacts.c.wa_id, contacts.c.lid)).all()
    assert chat_ids == {"5511900000001@c.us"} and count(database) == 5
    assert [tuple(row) for row in people] == [("5511900000001@c.us", LID)]


def test_bad_files_are_refused_with_the_line(database) -> None:
    for text, reason in (
        ('{"messages": []}\nnope', "line 2: not JSON"),
        ("[1, 2]", "line 1: not a messaging-history.set payload"),
    ):
        try:
            import_text(database, database.channel(), text)
        except BaileysFormatError as error:
            assert str(error).startswith(reason)
        else:
            raise AssertionError(text)


def test_the_sidecar_route_stores_signed_pushes(webhook_api) -> None:
    url, services = webhook_api
    database = services.database
    body = orjson.dumps(history(40))
    route = f"{url}/webhooks/baileys/default"
    with httpx.Client(timeout=30) as client:
        assert client.post(route, content=body).status_code == 401
        signed = sign(body, WEBHOOK_KEY) | {"Content-Type": "application/json"}
        stored = client.post(route, content=body, headers=signed)
        assert stored.status_code == 200, stored.text
        assert stored.json()["created"] == 40
        again = client.post(route, content=body, headers=signed).json()
        assert (again["created"], again["duplicates"]) == (0, 40)
        broken = b'{"messages": [}'
        refused = client.post(route, content=broken, headers=sign(broken, WEBHOOK_KEY))
        assert refused.status_code == 400 and "line 1" in refused.json()["detail"]
        missing = client.post(f"{url}/webhooks/baileys/nope", content=body, headers=signed)
        assert missing.status_code == 404
    assert count(database) == 40 and count(database, dead_letters) == 1
