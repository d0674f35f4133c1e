"""Baileys history sync through the write path (both back ends): from a file read as a stream,
from a file's text and over real HTTP (`POST /webhooks/baileys/{channel}`): exact,
idempotent, chunked, LIDs joined; bad files refused with the line, nothing written."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from chatport.errors import BaileysFormatError
from chatport.ingest import baileys
from chatport.ingest.baileys import CHUNK, import_file, import_text
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


def test_a_file_is_read_as_json_lines_or_one_document(database, tmp_path: Path) -> None:
    lines = tmp_path / "history.jsonl"
    lines.write_bytes(
        b"\xef\xbb\xbf"
        + orjson.dumps(history(3))
        + b"\n\n"
        + orjson.dumps(history(2, start=3)).replace(b"m3", b"m3 \xe2\x80\xa8 (U+2028)")
        + b"\r\n"
    )
    report = import_file(database, database.channel(), lines)
    assert (report.parts, report.messages, report.result.created) == (2, 5, 5)
    document = tmp_path / "history.json"
    document.write_bytes(orjson.dumps(history(4, start=5), option=orjson.OPT_INDENT_2))
    report = import_file(database, database.channel(), document)
    assert (report.parts, report.result.created) == (1, 4)
    with database.engine.connect() as connection:
        texts = set(connection.execute(select(messages.c.text)).scalars())
    assert "m3 \u2028 (U+2028)" in texts and count(database) == 9


GOOD = orjson.dumps(history(3))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (GOOD + b'\n{"messages": ["\xff"]}\n', "line 2: not UTF-8 text"),
        (GOOD + b'\n\n{"messages": [}\n', "line 3: not JSON"),
        (GOOD + b"\n[1, 2]\n", "line 2: not a messaging-history.set payload"),
        (b'{\n  "messages": [\n    "\xc3"\n  ]\n}\n', "line 3: not UTF-8 text"),
        (b'{\n  "messages": [\n', "line 1: not JSON"),
        (b"{broken", "line 1: not JSON"),
        (b"\n \n", "line 1: not JSON (the file is empty)"),
        (b"\0" * 100, "line 1: not JSON"),
    ],
)
def test_bad_files_write_nothing_and_name_the_line(database, tmp_path, data, reason) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(data)
    with pytest.raises(BaileysFormatError) as refused:
        import_file(database, database.channel(), path)
    assert str(refused.value).startswith(reason)
    assert count(database) == 0


def test_payloads_over_the_bound_are_refused(database, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(baileys, "MAX_PAYLOAD_BYTES", 1_000)
    path = tmp_path / "history.jsonl"
    path.write_bytes(orjson.dumps(history(1)) + b"\n" + orjson.dumps(history(40)) + b"\n")
    with pytest.raises(BaileysFormatError, match="^line 2: a payload of more than"):
        import_file(database, database.channel(), path)
    path.write_bytes(orjson.dumps(history(40), option=orjson.OPT_INDENT_2))
    with pytest.raises(BaileysFormatError, match="too large to be one JSON document"):
        import_file(database, database.channel(), path)
    assert count(database) == 0
