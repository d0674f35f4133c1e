"""The schema, as SQLAlchemy Core tables. Other tools read these tables: keep them stable.

Every change here needs an Alembic revision in `store/migrations/versions`; a test compares
the migrated database with this metadata on both back ends.

The hot tables (`messages`, `sessions`, `events`) carry no foreign keys: chatport's write path
is their only writer and keeps them consistent, and a foreign-key check per row would cost the
bulk paths a large share of their speed. Their reference columns are indexed for joins.

The tables are defined by area, in modules of this package: `accounts` (tenants, API keys,
channels), `history` (contacts, chats, sessions, messages, their raw payloads), `import_runs`
(import jobs and their chats), `agent` (bursts, agent jobs, outbound messages) and `edge`
(events, dead letters, LID mappings, webhook receipts), on the `metadata` of `base`; every
table is re-exported here, so `from chatport.store.tables import messages` holds.
"""

from __future__ import annotations

from chatport.store.tables.accounts import api_keys, channels, tenants
from chatport.store.tables.agent import agent_jobs, bursts, outbound_messages
from chatport.store.tables.base import metadata
from chatport.store.tables.edge import dead_letters, events, lid_mappings, webhook_receipts
from chatport.store.tables.history import chats, contacts, message_raws, messages, sessions
from chatport.store.tables.import_runs import import_job_chats, import_jobs

__all__ = [
    "metadata",
    "STABLE_TABLES",
    "tenants",
    "api_keys",
    "channels",
    "contacts",
    "chats",
    "sessions",
    "messages",
    "message_raws",
    "import_jobs",
    "import_job_chats",
    "agent_jobs",
    "bursts",
    "outbound_messages",
    "events",
    "dead_letters",
    "lid_mappings",
    "webhook_receipts",
]

STABLE_TABLES = (
    "tenants",
    "api_keys",
    "channels",
    "contacts",
    "chats",
    "sessions",
    "messages",
    "message_raws",
    "import_jobs",
    "import_job_chats",
    "agent_jobs",
    "events",
    "dead_letters",
    "webhook_receipts",
    "lid_mappings",
    "bursts",
    "outbound_messages",
)
