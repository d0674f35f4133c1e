"""Settings from the environment (prefix CHATPORT_) and an optional .env file."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chatport.domain.bursts import BurstRules
from chatport.domain.model import Engine


class Settings(BaseSettings):
    """Every chatport setting, read once per process from `CHATPORT_*` environment variables
    or a `.env` file in the working directory (empty values count as unset). A command's
    options, such as `--db`, override fields with `model_copy`."""

    model_config = SettingsConfigDict(
        env_prefix="CHATPORT_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///chatport.db",
        description="The database: sqlite:///FILE (embedded default) or "
        "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (`postgres://` too; needs the postgres "
        "extra)",
    )
    session_timeout_minutes: float = Field(
        default=30,
        gt=0,
        description="Silence (minutes) that ends a conversation session, for channels and "
        "tenants without their own",
    )
    default_region: str | None = Field(
        default=None,
        description="Two-letter region (e.g. BR, DE, US) of phone numbers written without a "
        "country code: export authors (`chatport import export --region` overrides it) and "
        "console searches. Unset, an export with such an author is refused and a search "
        "matches the digits as typed",
    )
    auto_migrate_sqlite: bool = Field(
        default=True,
        description="Migrate a SQLite database to this version's schema when a command opens "
        "it (PostgreSQL is migrated only by `chatport db upgrade`)",
    )
    waha_timeout_seconds: float = Field(
        default=120,
        gt=0,
        le=3600,
        description="How long one request to WAHA may take during an import (its pages can be "
        "slow: WEBJS lists chats in minutes); a run's first session check waits 30 s at most, "
        "and any request 10 s at most for its connection",
    )
    waha_retry_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Attempts of a WAHA request that fails transiently (5xx, timeouts, "
        "connection errors, malformed pages) before its chat is recorded as failed",
    )
    waha_retry_max_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="The longest wait between two attempts of a WAHA request (exponential "
        "backoff with jitter, from 0.2 s)",
    )
    waha_circuit_threshold: int = Field(
        default=5,
        ge=1,
        description="Server-down failures in a row (connection errors, timeouts, 429, 502, "
        "503, 504) that open a WAHA server's circuit",
    )
    waha_circuit_open_seconds: float = Field(
        default=30,
        gt=0,
        description="How long an open circuit sends nothing to WAHA before one probe request",
    )
    waha_give_up_minutes: float = Field(
        default=10,
        gt=0,
        description="An import stops as `interrupted` (resumable) once WAHA has been down this "
        "long",
    )
    webhook_hmac_key: str | None = Field(
        default=None,
        description="WAHA's webhook HMAC key for channels without their own; when a key "
        "applies, unsigned or wrongly signed webhooks are refused with 401",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, newest first, that encrypt the channel "
        "secrets stored in the database (WAHA API keys, webhook HMAC keys); without it they "
        "are stored in clear. `chatport secrets generate-key` makes a key, `chatport secrets "
        "rotate` re-encrypts every stored secret with the first key",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="The largest request body `chatport serve` accepts (webhooks, API, console, "
        "Baileys uploads); a larger one is refused with 413 while it streams in",
    )
    dead_letters_per_channel: int = Field(
        default=10_000,
        ge=1,
        description="Dead letters `chatport serve` keeps per channel (those of no channel "
        "count as one): past it, each new one drops the oldest. Each keeps at most the first "
        "64 KiB of what was refused, with its length and SHA-256",
    )
    metrics_token: str | None = Field(
        default=None,
        description="When set, `GET /metrics` needs `Authorization: Bearer <token>` (401 "
        "without it); unset, the metrics are open",
    )
    webhook_receipt_hours: float = Field(
        default=48,
        gt=0,
        description="How long webhook envelope ids are kept, so that WAHA's retries are "
        "answered as duplicates (WAHA's default retries end within 18 hours)",
    )
    live_writers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Webhook writer processes of each `chatport serve` process on PostgreSQL, "
        "deliveries split among them by chat (SQLite always uses one)",
    )
    agent_url: str | None = Field(
        default=None,
        description="The AI agent for channels without their own (`channels.agent_url`): an "
        "http(s) URL, or `python:module:function` called in the server; when set, every "
        "channel's live inbound messages are debounced into agent jobs",
    )
    allow_private_urls: bool = Field(
        default=False,
        description="Let tenants (API keys) give `waha_url` and `agent_url` whose hosts are on "
        "loopback, private or link-local networks (self-hosting, WAHA or the agent beside "
        "chatport); without it such URLs are refused, when given and when connecting",
    )
    agent_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Standard Webhooks secret (`whsec_<base64>`) that signs jobs posted to "
        "agents (`webhook-id`, `webhook-timestamp`, `webhook-signature`): agents verify them "
        "with any Standard Webhooks library",
    )
    agent_hmac_key: str | None = Field(
        default=None,
        description="Deprecated (removed in the next release): key of the HMAC-SHA256 "
        "signature `X-Chatport-Signature: sha256=<hex>` on jobs posted to agents. Without "
        "CHATPORT_AGENT_WEBHOOK_SECRET it also signs the Standard Webhooks headers (secret "
        "`whsec_` + base64 of the key)",
    )
    agent_send_via_waha: bool = Field(
        default=True,
        description="Send agent replies through the channel's WAHA (`POST /api/sendText`) when "
        "it has one, before storing them",
    )
    agent_timeout_seconds: float = Field(
        default=30, gt=0, description="How long an agent may take to answer a job"
    )
    agent_concurrency: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="Agent jobs each `chatport serve` delivers at once (asking the agent), "
        "all channels together; as many sends of replies besides",
    )
    agent_channel_concurrency: int = Field(
        default=4,
        ge=1,
        le=1024,
        description="Agent jobs of one channel each `chatport serve` delivers at once (asking "
        "the agent), and as many sends through its WAHA: a channel whose agent hangs or "
        "whose WAHA is down holds no more slots than this",
    )
    waha_send_timeout_seconds: float = Field(
        default=15,
        gt=0,
        le=300,
        description="How long WAHA may take to answer one `sendText` (a reply or a CRM "
        "message); a send that times out is tried again later, never at once",
    )
    debounce_quiet_ms: int = Field(
        default=3_000,
        gt=0,
        description="A burst closes after this long without a new bubble (channels may set "
        "their own)",
    )
    debounce_max_wait_ms: int = Field(
        default=20_000,
        gt=0,
        description="A burst closes at this age however busy it is (channels may set their own)",
    )
    debounce_takeover: bool = Field(
        default=True,
        description="A message sent from the phone during an open burst closes it without a "
        "job (a human took over)",
    )
    send_rate_per_minute: float = Field(
        default=20,
        gt=0,
        le=6000,
        description="Messages chatport sends through one channel's WAHA per minute at most "
        "(agent replies and CRM messages together), to keep the number clear of WhatsApp's "
        "spam rules; past it, sends wait their turn",
    )
    agent_groups: bool = Field(
        default=False,
        description="Agent jobs in group chats too (channels may set their own, `agent_groups`): "
        "then bursts are per (chat, participant) and a job names its participant; off, groups "
        "never wake the agent",
    )
    handoff_minutes: float = Field(
        default=30,
        gt=0,
        le=60 * 24 * 30,
        description="A human's reply in a chat (from the phone, or from the CRM) pauses the bot "
        "there this long (channels may set their own, `handoff_minutes`)",
    )
    webhook_create_channels: bool = Field(
        default=False,
        description="A webhook from an unknown WAHA session creates a channel (default tenant, "
        "named after the session) instead of being refused with 404",
    )
    catchup_overlap_minutes: float = Field(
        default=10,
        ge=0,
        description="A catch-up starts this long before the newest message stored for the "
        "channel (or the end of its last catch-up, whichever is older)",
    )
    catchup_every_minutes: float = Field(
        default=15,
        ge=0,
        description="`chatport serve` catches up every channel with a WAHA URL this often, "
        "repairing webhooks lost without a session status change (0: never; a reconnected "
        "session and the server's start still trigger one)",
    )
    catchup_engine: Engine = Field(
        default=Engine.INPROCESS,
        description="Where the catch-ups `chatport serve` triggers run: `inprocess` (threads of "
        "the server) or `temporal` (one workflow per channel on the Temporal workers, "
        "`CHATPORT_TEMPORAL_*`)",
    )

    temporal_address: str = Field(
        default="localhost:7233",
        description="Temporal frontend HOST:PORT of `--engine temporal` imports and workers",
    )
    temporal_namespace: str = Field(
        default="default", description="Temporal namespace of import workflows"
    )
    temporal_task_queue: str = Field(
        default="chatport-imports", description="Task queue of import workflows and activities"
    )
    temporal_chats_per_activity: int = Field(
        default=1_000,
        ge=1,
        description="Chats per chunk activity of a Temporal import (read by the process "
        "that starts it)",
    )
    temporal_max_parallel: int = Field(
        default=2,
        ge=1,
        description="Chunk activities one Temporal import runs at once, across all workers",
    )
    temporal_heartbeat_seconds: float = Field(
        default=60,
        gt=0,
        description="A chunk activity that reads no page this long (its worker died) is "
        "retried on another worker",
    )
    temporal_list_page: int = Field(
        default=500, ge=1, description="Chats listed per planning step of a Temporal import"
    )
    temporal_history_limit: int = Field(
        default=20_000,
        ge=100,
        description="A Temporal import continues as new once its history has this many events",
    )
    temporal_retry_attempts: int = Field(
        default=5,
        ge=1,
        description="Attempts of a chunk activity before its chats are recorded as failed",
    )
    temporal_retry_initial_seconds: float = Field(
        default=1, gt=0, description="First retry delay of an activity (then doubled)"
    )
    temporal_retry_maximum_seconds: float = Field(
        default=60, gt=0, description="Longest retry delay of an activity"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="Log records shown on stderr by `chatport serve`, `chatport worker` and "
        "the import commands (`--log-level` overrides it)",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How log records are written: text lines, or one JSON object a line "
        "(`time`, `level`, `logger`, `message` and the record's fields; `--log-format`)",
    )

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        from chatport.phones import region_code  # phonenumbers only when a region is set

        return None if value is None else region_code(value)

    @field_validator("agent_webhook_secret")
    @classmethod
    def _standard_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        """A Standard Webhooks secret: `whsec_` and base64 of at least 16 bytes."""
        if secret is None:
            return None
        text = secret.get_secret_value().removeprefix("whsec_")
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not whsec_<base64>") from None
        if len(key) < 16:
            raise ValueError("shorter than 16 bytes: make one with `openssl rand -base64 32`")
        return secret

    @property
    def burst_rules(self) -> BurstRules:
        """The global debounce rules (channels may set their own windows)."""
        return BurstRules(
            quiet=timedelta(milliseconds=self.debounce_quiet_ms),
            max_wait=timedelta(milliseconds=self.debounce_max_wait_ms),
            takeover=self.debounce_takeover,
        )

    @property
    def session_timeout(self) -> timedelta:
        """The global session timeout as a timedelta."""
        return timedelta(minutes=self.session_timeout_minutes)


_PROBLEMS = {
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "enum": "must be {expected}",
}


def settings_problems(error: ValidationError) -> str:
    """What is wrong with the settings, as one line naming each environment variable (the
    value itself is left out: it may be a secret), e.g.
    `CHATPORT_WAHA_TIMEOUT_SECONDS: must be a number`."""
    problems = []
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        name = f"CHATPORT_{field.upper()}" if field else "settings"
        template = _PROBLEMS.get(problem["type"])
        if template is not None:
            text = template.format(**problem.get("ctx", {}))
        else:
            text = str(problem["msg"]).removeprefix("Value error, ")
            text = text[:1].lower() + text[1:]
        problems.append(f"{name}: {text}")
    return "; ".join(problems)
