"""chatport's exceptions that reach a user: the CLI prints one as one line and exits 2, the
API answers it with a 4xx. Every such error is here; an error a module raises and catches
itself (a webhook refused, a message unreadable, a duplicate found elsewhere) lives with that
module. Callers catch at the level they mean:

ChatportError
├── ConfigurationError      bad settings or URL
│   ├── MissingExtra        an optional extra (`chatport[postgres]`, …) is not installed
│   └── UrlRefused          a tenant's URL: not http(s), or its host is on a private network
│   └── SecretKeyError      CHATPORT_SECRET_KEY is malformed, or opens no stored secret
│   └── ChannelConflict     a channel's WAHA session (server and name) is another channel's
├── DatabaseUnavailable     the database cannot be opened (not reachable, refused, no such file)
├── SchemaError             the database is not migrated to this version's schema
├── NotFoundError           a named tenant, channel or job does not exist
├── JobBusy                 another process runs the import job
├── JobEnded                the import job has ended: nothing to cancel
├── JobTakenOver            another process claimed the running job's lease
│   └── JobCancelled            the job was cancelled (or its channel deleted)
├── ImportStopped           the import was stopped before its end
├── ExportFormatError       not a WhatsApp export chatport can read (names the line)
├── BaileysFormatError      not Baileys history sync payloads (names the line)
└── WahaError               WAHA refused or failed
    ├── WahaAuthError           wrong or missing API key
    ├── WahaSessionNotReady     the session does not exist or is not WORKING
    ├── WahaUnavailable         an answer chatport cannot use
    └── WahaDown                unreachable past the circuit's patience
        └── WahaUnreachable         never answered the first session check (DNS, refused, TLS,
                                    no answer in time): no patience for a WAHA never reached
"""

from __future__ import annotations


class ChatportError(Exception):
    """Base of every error chatport raises on purpose."""


class ConfigurationError(ChatportError):
    """Settings, URLs or installed extras do not allow what was asked."""


class MissingExtra(ConfigurationError):
    """What was asked needs an optional extra that is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} is not installed: pip install 'chatport[{extra}]'")


class UrlRefused(ConfigurationError):
    """A URL a tenant gave may not be used: another scheme than http(s), an in-process agent,
    or a host that resolves to a loopback, private or otherwise non-public address (when it is
    given, or when chatport connects to it)."""


class SecretKeyError(ConfigurationError):
    """`CHATPORT_SECRET_KEY` is not a list of Fernet keys, or no key of it (or no key at all)
    decrypts a stored channel secret (the API answers 503 for that channel)."""


class ChannelConflict(ConfigurationError):
    """A channel would be configured for a WAHA session (server URL and session name) that
    another channel already has: the session's webhooks could not tell them apart (the API
    answers 409)."""


class DatabaseUnavailable(ChatportError):
    """The database cannot be opened or used: a PostgreSQL server that does not answer or
    refuses the connection (wrong host, port, password, database name), a SQLite file that
    cannot be created or is not a database. Raised when a process first opens it
    (`bootstrap`: the CLI exits 2) and when the server loses it (the API answers 503 with
    Retry-After: try again)."""

    PREFIX = "database unavailable: "
    """How the live writer's outcome text says it (it crosses a pipe as text)."""


class SchemaError(ChatportError):
    """The database schema is missing or at another revision than this code expects."""


class NotFoundError(ChatportError):
    """A named tenant, channel or job does not exist."""


class JobBusy(ChatportError):
    """An import job is running in another process (its heartbeat is fresh)."""


class JobEnded(ChatportError):
    """The import job has ended (completed, failed, ...): there is nothing to cancel (the API
    answers 409)."""


class JobTakenOver(ChatportError):
    """Another process claimed this job (this run's heartbeat had gone stale): stop."""


class JobCancelled(JobTakenOver):
    """The import job was cancelled (`chatport import cancel`, the API, the console) or its
    channel deleted: its run stops and writes nothing more; it is not resumed."""


class ImportStopped(ChatportError):
    """The run of an import was asked to stop (a cancelled Temporal activity)."""


class WahaError(ChatportError):
    """A request to a WAHA server failed."""


class WahaAuthError(WahaError):
    """WAHA refused the API key (401, or 403 for a key without the right)."""


class WahaSessionNotReady(WahaError):
    """The WAHA session does not exist (404, or 422 "does not exist") or is not WORKING
    (422, or a status other than WORKING)."""


class WahaUnavailable(WahaError):
    """WAHA kept failing (5xx, timeouts, connection errors, malformed pages) through retries."""


class WahaDown(WahaError):
    """A WAHA server's circuit stayed open (failures in a row, no recovery) too long to wait
    (an import stops `interrupted`, resumable)."""


class WahaUnreachable(WahaDown):
    """The first session check of a run got no answer: the host does not resolve, refuses
    the connection, fails the TLS handshake, or does not answer in time. The circuit's
    patience is for a WAHA that was working; one never reached fails at once."""


class ExportFormatError(ChatportError):
    """The text is not a WhatsApp export chatport can read (the message says where)."""


class BaileysFormatError(ChatportError):
    """Not Baileys history sync payloads (the message names the line)."""
