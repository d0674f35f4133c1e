"""PostgreSQL planner statistics kept up with tables that grow fast (first bulk loads)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine
from sqlalchemy import text as text_sql
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)


class PlannerStatistics:
    """ANALYZE the write path's tables when they have outgrown their statistics.

    During a first bulk load the tables grow from nothing faster than autovacuum analyses
    them, and a planner that believes a table is tiny picks a scan per key instead of an index
    lookup: imports slow down quadratically. After 1,000, 2,000, 4,000 … written rows, then
    every `check_every`, this checks `pg_stat_user_tables` (one cheap query) and analyses a
    table never analysed or modified by more than four times the rows it had at its last
    analyse: a handful of ANALYZEs over a load of millions of rows.

    Live ingest needs the early checks: its lookups are prepared statements whose generic plan
    is made once, on the statistics of the moment, and kept until an ANALYZE invalidates it; on
    a table never analysed that plan scans the table for every key (a new database receiving
    webhooks slowed from 8 to 36 ms per group of 50 before its first 10,000 messages).
    """

    TABLES = {
        "messages": (
            "(channel_id, message_key, external_id, chat_id, sent_at, session_id, contact_id)"
        ),
        "sessions": "(channel_id, chat_id, last_activity_at, started_at)",
        "chats": "(channel_id, chat_id, last_message_at)",
        "contacts": "(tenant_id, wa_id, phone, lid)",
        "webhook_receipts": "(channel_id, envelope_id, received_at)",
    }
    """The tables and the columns their lookups filter on (the wide text columns are left
    out: sampling them is most of an ANALYZE's cost and no plan depends on them)."""

    def __init__(self, check_every: int = 10_000, first_check: int = 1_000) -> None:
        self._check_every = check_every
        self._next_check = min(first_check, check_every)
        self._written = 0
        self._since_check = 0
        self._checking = False
        self._lock = threading.Lock()

    def note(self, engine: Engine, written: int) -> None:
        """Count written rows; when enough were written, check (and analyse) in a thread of
        its own, so the writer does not wait for an ANALYZE (one check at a time)."""
        with self._lock:
            self._since_check += written
            self._written += written
            if self._since_check < self._next_check or self._checking:
                return
            self._since_check = 0
            self._next_check = min(self._check_every, self._written)  # doubling, then fixed
            self._checking = True
        threading.Thread(target=self._check, args=(engine,), daemon=True).start()

    def _check(self, engine: Engine) -> None:
        try:
            self._analyse_stale(engine)
        except SQLAlchemyError as error:  # housekeeping: the batch is committed already
            logger.warning("planner statistics not refreshed: %s", error)
        finally:
            with self._lock:
                self._checking = False

    def _analyse_stale(self, engine: Engine) -> None:
        with engine.connect() as connection:
            stale = [
                name
                for name, tuples, modified in connection.execute(
                    _STALE_QUERY, {"names": list(self.TABLES)}
                )
                if tuples < 0 or modified > max(1_000, 4 * tuples)
            ]
            if stale:  # the lookups' plans need the tables' sizes, not fine distributions
                connection.exec_driver_sql(f"SET LOCAL default_statistics_target = {_TARGET}")
            for name in stale:
                connection.exec_driver_sql(f"ANALYZE {name} {self.TABLES[name]}")
            connection.commit()


_TARGET = 10
"""The statistics target of these ANALYZEs: a sample of 3,000 rows instead of 30,000 (messages
at 34,000 rows: 14 instead of 86 ms of server time, taken from a 2-core machine under live
load); autovacuum's later analyses use the server's default again."""
_STALE_QUERY = text_sql(
    "SELECT c.relname, c.reltuples, coalesce(s.n_mod_since_analyze, 0) "
    "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE c.relname = ANY(:names) AND c.relnamespace = current_schema()::regnamespace"
)
