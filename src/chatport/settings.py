"""Settings from the environment (prefix CHATPORT_) and an optional .env file."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chatport.domain.bursts import BurstRules


class Settings(BaseSettings):
    """Validated once per process; command-line options override fields with `model_copy`."""

    model_config = SettingsConfigDict(
        env_prefix="CHATPORT_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///chatport.db",
        description="sqlite:///FILE (embedded default) or postgresql://USER@HOST/DB",
    )
    session_timeout_minutes: float = Field(
        default=30, gt=0, description="Global default gap that ends a conversation session"
    )
    auto_migrate_sqlite: bool = Field(
        default=True, description="Upgrade a SQLite database to the newest schema on first use"
    )
    waha_circuit_threshold: int = Field(
        default=5, ge=1, description="Server-down failures in a row that open a WAHA circuit"
    )
    waha_circuit_open_seconds: float = Field(
        default=30, gt=0, description="How long an open circuit sends nothing before a probe"
    )
    waha_give_up_minutes: float = Field(
        default=10, gt=0, description="An import stops (resumably) after WAHA is down this long"
    )
    webhook_hmac_key: str | None = Field(
        default=None,
        description="Key of WAHA's webhook HMAC for channels without their own; when set, "
        "unsigned webhooks are refused",
    )
    webhook_receipt_hours: float = Field(
        default=48,
        gt=0,
        description="How long a webhook envelope id is remembered against WAHA's retries "
        "(its default retries end within 18 hours)",
    )
    live_writers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Writer processes of `chatport serve` for webhooks, deliveries split by "
        "chat (PostgreSQL; on 2 cores one is faster, measured)",
    )
    agent_url: str | None = Field(
        default=None,
        description="The AI agent's URL for channels without their own (`channels.agent_url`); "
        "when set, every channel's live inbound messages are debounced into agent jobs",
    )
    agent_hmac_key: str | None = Field(
        default=None,
        description="Key of the HMAC-SHA256 signature (`X-Chatport-Signature`) on jobs posted "
        "to agents",
    )
    agent_send_via_waha: bool = Field(
        default=True,
        description="Send agent replies through the channel's WAHA (`POST /api/sendText`) when "
        "it has one, before storing them",
    )
    agent_timeout_seconds: float = Field(
        default=30, gt=0, description="How long an agent may take to answer a job"
    )
    debounce_quiet_ms: int = Field(
        default=3_000, gt=0, description="A burst closes after this long without a new bubble"
    )
    debounce_max_wait_ms: int = Field(
        default=20_000, gt=0, description="A burst closes at this age however busy it is"
    )
    debounce_takeover: bool = Field(
        default=True,
        description="A message sent from the phone during an open burst closes it without a "
        "job (a human took over)",
    )
    webhook_create_channels: bool = Field(
        default=False,
        description="Create a channel (default tenant) for a webhook from an unknown WAHA session",
    )

    temporal_address: str = Field(
        default="localhost:7233", description="Temporal frontend (`--engine temporal`, workers)"
    )
    temporal_namespace: str = Field(default="default", description="Temporal namespace")
    temporal_task_queue: str = Field(
        default="chatport-imports", description="Task queue of import workflows and activities"
    )
    temporal_chats_per_activity: int = Field(
        default=1_000, ge=1, description="Chats per chunk activity of a Temporal import"
    )
    temporal_max_parallel: int = Field(
        default=2, ge=1, description="Chunk activities one Temporal import runs at once"
    )
    temporal_heartbeat_seconds: float = Field(
        default=60,
        gt=0,
        description="A chunk activity silent this long (no page read) is retried elsewhere",
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
        default=5, ge=1, description="Attempts of an activity before its chats are failed"
    )
    temporal_retry_initial_seconds: float = Field(
        default=1, gt=0, description="First retry delay of an activity (then x2)"
    )
    temporal_retry_maximum_seconds: float = Field(
        default=60, gt=0, description="Longest retry delay of an activity"
    )

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
