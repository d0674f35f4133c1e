"""PostgreSQL: the write path's statements whose answers nobody reads travel together.

Updates and inserts without a count (sessions, chat previews, events, dead letters, webhook
receipts) are queued on the transaction's connection instead of each waiting for its answer.
The queue goes to the server in ONE round trip (psycopg pipeline mode) together with the next
statement, whichever it is: an insert that counts its rows travels with the queue in the same
round trip; any other statement (SQLAlchemy's, a COPY) first sends the queue; the COMMIT
travels with the queue. Statements keep their order, so nothing reads around a queued write;
an error in a queued statement is raised by the statement it travels with (or the commit),
and the transaction is rolled back as before. A rollback drops the queue.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, event

_queues: weakref.WeakKeyDictionary[Connection, list[tuple[str, Sequence[Any]]]] = (
    weakref.WeakKeyDictionary()
)  # per checked-out connection: a queue never outlives it into the pool
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def queue(connection: Connection, sql: str, params: Sequence[Any]) -> None:
    """Send `sql` with the transaction's next statement (or its commit)."""
    engine = connection.engine
    if engine not in _engines:
        _install(engine)
    _begun(connection)
    _queues.setdefault(connection, []).append((sql, params))


def execute(connection: Connection, sql: str, params: Sequence[Any]) -> int:
    """Run `sql` after the queued statements, in the same round trip; its row count."""
    _begun(connection)
    driver = connection.connection.driver_connection
    queued = _queues.pop(connection, None)
    if not queued:
        with driver.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
    with driver.cursor() as cursor:
        with driver.pipeline():  # the cursor's answer arrives when the pipeline ends
            _send(driver, queued)
            cursor.execute(sql, params)
        return cursor.rowcount


def fetch(connection: Connection, sql: str, params: Sequence[Any]) -> list[tuple]:
    """Run the query `sql` after the queued statements, in the same round trip; its rows."""
    _begun(connection)
    driver = connection.connection.driver_connection
    queued = _queues.pop(connection, None)
    with driver.cursor() as cursor:
        if not queued:
            cursor.execute(sql, params)
            return cursor.fetchall()
        with driver.pipeline():
            _send(driver, queued)
            cursor.execute(sql, params)
        return cursor.fetchall()


def send_queued(connection: Connection) -> None:
    """Send the queued statements now (before a statement that bypasses SQLAlchemy: COPY)."""
    queued = _queues.pop(connection, None)
    if queued:
        driver = connection.connection.driver_connection
        with driver.pipeline():
            _send(driver, queued)


def _begun(connection: Connection) -> None:
    """SQLAlchemy's transaction, begun as its own `execute` would (so that its commit commits
    what the driver's cursors wrote)."""
    if not connection.in_transaction():
        connection.begin()


def _send(driver: Any, queued: list[tuple[str, Sequence[Any]]]) -> None:
    for sql, params in queued:
        with driver.cursor() as cursor:
            cursor.execute(sql, params)


def _install(engine: Engine) -> None:
    """Send the queue before any other statement and with the commit; drop it on rollback."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before(connection, cursor, statement, parameters, context, executemany) -> None:
        if connection in _queues:
            send_queued(connection)

    @event.listens_for(engine, "commit")
    def _commit(connection: Connection) -> None:
        queued = _queues.pop(connection, None)
        if queued:
            driver = connection.connection.driver_connection
            try:
                with driver.pipeline():  # one sync for all (driver.commit() would add one)
                    _send(driver, [*queued, ("COMMIT", ())])
            except BaseException:
                driver.rollback()  # SQLAlchemy counts a failed commit as the end of it
                raise
            # SQLAlchemy's own COMMIT then finds the driver idle: nothing left to send

    @event.listens_for(engine, "rollback")
    def _rollback(connection: Connection) -> None:
        _queues.pop(connection, None)

    _engines.add(engine)
