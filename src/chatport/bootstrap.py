"""The composition root: settings in, ready-to-use services out. The only module that picks
adapters (which bulk path, which engine) and builds the long-lived services of
`chatport serve` (`serve_services`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chatport.services import Services
from chatport.store.database import Database, open_database
from chatport.store.migrate import ensure_schema
from chatport.store.secret_box import SecretBox

if TYPE_CHECKING:  # at run time only where settings are read: a fetch process has none
    from chatport.agent.debouncer import Debouncer
    from chatport.agent.delivery import AgentDeliverer
    from chatport.api.directory import ChannelDirectory
    from chatport.api.feed import ChatFeed
    from chatport.api.keys import KeyCache
    from chatport.api.metrics import Metrics
    from chatport.engines.catch_ups import CatchUpTriggers
    from chatport.engines.inprocess.runner import ImportRunner
    from chatport.live.writer_process import LiveWriterProcess
    from chatport.settings import Settings

logger = logging.getLogger(__name__)


def secret_box(settings: Settings) -> SecretBox:
    """The box of the channel secrets stored, from `CHATPORT_SECRET_KEY` (none: clear);
    SecretKeyError when the setting holds something else than Fernet keys."""
    key = settings.secret_key
    return SecretBox.from_setting(key.get_secret_value() if key is not None else None)


def build_database(settings: Settings, *, check_schema: bool = True) -> Database:
    """The database of `settings`, reached (DatabaseUnavailable when it cannot be opened),
    migrated (SQLite) or checked (PostgreSQL) unless told not, its channel secrets sealed with
    `CHATPORT_SECRET_KEY` (`secret_box`)."""
    secrets = secret_box(settings)
    database = open_database(settings.database_url, settings.session_timeout, secrets)
    database.reach()
    if check_schema:
        backend = database.ops.name
        auto_upgrade = backend == "sqlite" and settings.auto_migrate_sqlite
        ensure_schema(database.engine, auto_upgrade=auto_upgrade)
    return database


def build(settings: Settings | None = None) -> Services:
    """Build the services of one process."""
    if settings is None:
        from chatport.settings import Settings

        settings = Settings()
    return Services(settings=settings, database=build_database(settings))


def security_warnings(services: Services) -> list[str]:
    """What `chatport serve` warns about once at start, each logged as a warning: channel
    secrets stored in clear (no `CHATPORT_SECRET_KEY`); webhooks accepted unsigned (no
    `CHATPORT_WEBHOOK_HMAC_KEY` and no channel with a key of its own)."""
    from chatport.store.reads.webhooks import any_channel_key

    warnings = []
    if not services.database.secrets.encrypts:
        warnings.append(
            "CHATPORT_SECRET_KEY is not set: channel secrets (WAHA API keys, webhook HMAC "
            "keys) are stored in clear in the database (`chatport secrets generate-key`)"
        )
    if not services.settings.webhook_hmac_key:
        with services.database.engine.connect() as connection:
            signed = any_channel_key(connection)
        if not signed:
            warnings.append(
                "no webhook HMAC key is configured (CHATPORT_WEBHOOK_HMAC_KEY, or a channel's "
                "own): unsigned webhooks are accepted from anyone who can reach the server"
            )
    for warning in warnings:
        logger.warning(warning)
    return warnings


@dataclass(frozen=True)
class ServerServices:
    """The long-lived services of one `chatport serve` process, built and started by
    `serve_services`; the API's routes get them through `api/deps.py`."""

    services: Services
    metrics: Metrics
    """The process's Prometheus counters (`GET /metrics`)."""
    keys: KeyCache
    """API keys checked lately (the REST API's `X-Api-Key`, the console's cookie)."""
    directory: ChannelDirectory
    """The channels webhook deliveries go to."""
    imports: ImportRunner
    """The import jobs running in this process."""
    live: LiveWriterProcess
    """The live writer (in processes of its own) webhook deliveries are written by."""
    debouncer: Debouncer
    """Closes the bursts of inbound messages into agent jobs."""
    deliverer: AgentDeliverer
    """Delivers agent jobs to the channels' agents, and sends what chatport sends."""
    feed: ChatFeed
    """What changes in chats, for the live views (server-sent events)."""
    catch_ups: CatchUpTriggers
    """Starts the catch-ups of what outages missed (at start, periodically, on a reconnected
    session, by hand)."""

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def database(self) -> Database:
        return self.services.database


@contextmanager
def serve_services(services: Services, *, close_services: bool = False) -> Iterator[ServerServices]:
    """Build and start the long-lived services of `chatport serve` over `services`, then
    freeze the heap built so far (`runtime.heap.freeze_heap`); on leaving, close them in the
    reverse order, and `services` last when `close_services`."""
    from chatport.agent.debouncer import Debouncer
    from chatport.agent.delivery import AgentDeliverer
    from chatport.api.directory import ChannelDirectory
    from chatport.api.feed import ChatFeed
    from chatport.api.keys import KeyCache
    from chatport.api.metrics import Metrics
    from chatport.engines.inprocess.runner import ImportRunner
    from chatport.live.writer_process import LiveWriterProcess
    from chatport.runtime.heap import freeze_heap

    settings, database = services.settings, services.database
    with ExitStack() as stack:
        if close_services:
            stack.callback(services.close)
        metrics = Metrics()
        services = replace(services, observer=metrics.import_observer())
        imports = ImportRunner(services, on_created=metrics.messages_written.labels("import").inc)
        stack.callback(imports.close)  # after the services registered below, before `services`
        metrics.watch_imports(imports)
        metrics.watch_agent(database)
        catch_ups = catch_up_triggers(services, imports)
        stack.callback(catch_ups.close)
        writers = settings.live_writers if database.ops.name == "postgresql" else 1
        live = LiveWriterProcess(
            settings,
            on_written=metrics.written,
            writers=writers,
            on_reconnected=catch_ups.reconnected,
        )
        stack.callback(live.close)
        deliverer = AgentDeliverer(database, settings, observer=metrics.watch_delivery())
        stack.callback(deliverer.close)  # closed after the debouncer: its last jobs wake it

        def debounced(jobs: list) -> None:
            metrics.debounced(jobs)
            deliverer.wake()

        debouncer = Debouncer(database, settings.burst_rules, on_jobs=debounced).start()
        stack.callback(debouncer.close)
        deliverer.start()
        server = ServerServices(
            services=services,
            metrics=metrics,
            keys=KeyCache(database),
            directory=ChannelDirectory(database, create_unknown=settings.webhook_create_channels),
            imports=imports,
            live=live,
            debouncer=debouncer,
            deliverer=deliverer,
            feed=ChatFeed(database),
            catch_ups=catch_ups,
        )
        freeze_heap()
        catch_ups.start()
        yield server


def catch_up_triggers(services: Services, imports: ImportRunner) -> CatchUpTriggers:
    """The catch-up triggers of a server, on the engine `CHATPORT_CATCHUP_ENGINE` names."""
    from datetime import timedelta

    from chatport.domain.model import Engine
    from chatport.engines.catch_ups import CatchUpTriggers
    from chatport.ingest.catch_up import channels_to_catch_up

    settings = services.settings
    overlap = timedelta(minutes=settings.catchup_overlap_minutes)
    every = timedelta(minutes=settings.catchup_every_minutes) or None
    if settings.catchup_engine is Engine.TEMPORAL:
        from chatport.engines.temporal.catch_ups import TemporalCatchUps

        starter = TemporalCatchUps(settings)
        return CatchUpTriggers(starter, lambda: channels_to_catch_up(services.database), every)
    from chatport.engines.inprocess.catch_ups import InProcessCatchUps

    starter = InProcessCatchUps(imports, overlap)
    triggers = CatchUpTriggers(starter, lambda: channels_to_catch_up(services.database), every)
    starter.again = triggers.reconnected
    return triggers
