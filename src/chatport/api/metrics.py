"""Prometheus metrics of one process: `GET /metrics` of `chatport serve`, and the
`--metrics-port` of `chatport worker` and the import commands (`serve_on`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from chatport.domain.progress import ImportObserver, ImportProgress, RequestSeen, rates

if TYPE_CHECKING:
    from chatport.agent.delivery import DeliveryObserver


class Metrics:
    """The process's counters, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, memory, fds
        PlatformCollector(registry=self.registry)  # python_info
        GCCollector(registry=self.registry)  # python_gc_*
        self.webhooks_received = Counter(
            "chatport_webhooks_received",
            "Webhook deliveries accepted, by event",
            ["event"],
            registry=self.registry,
        )
        self.webhooks_rejected = Counter(
            "chatport_webhooks_rejected",
            "Webhook deliveries refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.messages_written = Counter(
            "chatport_messages_written",
            "Messages stored, by origin",
            ["origin"],
            registry=self.registry,
        )
        self.write_seconds = Histogram(
            "chatport_write_seconds",
            "Duration of one live write transaction (a group of deliveries)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )

        self.waha_request_seconds = Histogram(
            "chatport_waha_request_seconds",
            "WAHA requests by endpoint and outcome (ok, an HTTP status, an exception's name)",
            ["endpoint", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.waha_request_errors = Counter(
            "chatport_waha_request_errors",
            "WAHA requests that failed (an HTTP status of 400 or more, or no answer), by "
            "endpoint and outcome",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.import_chunk_seconds = Histogram(
            "chatport_import_chunk_seconds",
            "One import chunk's transaction: the write path and the job's checkpoint",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.import_chunk_messages = Histogram(
            "chatport_import_chunk_messages",
            "Messages in one import chunk",
            buckets=(10, 100, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000),
            registry=self.registry,
        )
        self._progress = _ProgressCollector()
        self.registry.register(self._progress)

    def import_observer(self) -> ImportObserver:
        """The hooks through which the imports of this process feed these metrics."""
        return ImportObserver(
            requests=self.requests_seen, chunk=self.chunk_written, progress=self._progress.update
        )

    def requests_seen(self, requests: Sequence[RequestSeen]) -> None:
        """WAHA requests made: (endpoint, outcome, seconds) each."""
        for endpoint, outcome, seconds in requests:
            self.waha_request_seconds.labels(endpoint, outcome).observe(seconds)
            if outcome != "ok":
                self.waha_request_errors.labels(endpoint, outcome).inc()

    def chunk_written(self, messages: int, seconds: float) -> None:
        """An import chunk of `messages` committed in `seconds`."""
        self.import_chunk_seconds.observe(seconds)
        self.import_chunk_messages.observe(messages)

    def serve_on(self, port: int, address: str = "0.0.0.0") -> None:  # noqa: S104
        """Serve these metrics at http://ADDRESS:PORT/metrics from a thread of this process
        (`chatport worker --metrics-port`, `chatport import … --metrics-port`)."""
        start_http_server(port, address, registry=self.registry)

    def watch_imports(self, runner) -> None:
        """Gauges of the import jobs `runner` (an ImportRunner) runs in this process."""
        running = Gauge(
            "chatport_imports_running",
            "Import jobs running in this process",
            registry=self.registry,
        )
        running.set_function(runner.count)
        messages = Gauge(
            "chatport_import_messages",
            "Messages read so far by the import jobs running in this process",
            registry=self.registry,
        )
        messages.set_function(runner.messages)

    def watch_agent(self, database) -> None:
        """Gauges of bursts and agent jobs (read from the database at each scrape), and the
        debounce delay histogram (`debounced`)."""
        self.debounce_seconds = Histogram(
            "chatport_debounce_seconds",
            "From a burst's last bubble to its agent job",
            buckets=(0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60),
            registry=self.registry,
        )
        self.registry.register(_AgentCollector(database))

    def watch_delivery(self) -> DeliveryObserver:
        """The agent deliverer's histograms and counters, and the observer that feeds them:
        `chatport_agent_job_wait_seconds` (a new job's creation to its first claim),
        `chatport_agent_delivery_seconds{outcome}` (one attempt, asking the agent to storing
        the reply) and `chatport_agent_replies_total{outcome}`."""
        from chatport.agent.delivery import DeliveryObserver

        waited = Histogram(
            "chatport_agent_job_wait_seconds",
            "From an agent job's creation to its delivery's start",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        took = Histogram(
            "chatport_agent_delivery_seconds",
            "One delivery attempt: asking the agent, sending and storing its reply",
            ["outcome"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        replies = Counter(
            "chatport_agent_replies",
            "Delivery attempts by outcome: sent (through WAHA), stored (no WAHA), no_reply, "
            "waiting (the agent answers later), failed, send_failed, taken_over, released",
            ["outcome"],
            registry=self.registry,
        )

        def delivered(outcome: str, seconds: float) -> None:
            took.labels(outcome).observe(seconds)
            replies.labels(outcome).inc()

        return DeliveryObserver(claimed=waited.observe, delivered=delivered)

    def debounced(self, jobs: list) -> None:
        """Agent jobs were created: `[(job id, seconds since the last bubble), …]`."""
        for _, seconds in jobs:
            self.debounce_seconds.observe(seconds)

    def written(self, created: int, seconds: float) -> None:
        """A live group was committed: `created` new messages in `seconds`."""
        self.messages_written.labels("live").inc(created)
        self.write_seconds.observe(seconds)


class _AgentCollector:
    """`chatport_bursts_open` and `chatport_agent_jobs{status}`, counted at scrape time."""

    def __init__(self, database) -> None:
        self.database = database

    def collect(self):
        from chatport.store.jobs import agent_jobs, bursts

        with self.database.engine.connect() as connection:
            open_bursts = bursts.open_count(connection)
            by_status = agent_jobs.count_by_status(connection)
        yield GaugeMetricFamily("chatport_bursts_open", "Bursts open now", value=open_bursts)
        jobs = GaugeMetricFamily("chatport_agent_jobs", "Agent jobs by status", labels=["status"])
        for status in agent_jobs.STATUSES:
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs


class _ProgressCollector:
    """`chatport_import_chats_done|planned|failed`, `chatport_import_messages_read`,
    `chatport_import_eta_seconds` by job, for the jobs running in this process (a Temporal
    worker: the chunk activities it runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[ImportProgress, float]] = {}

    def update(self, job_id: str, progress: ImportProgress | None) -> None:
        with self._lock:
            if progress is None:
                self._jobs.pop(job_id, None)
                return
            started = self._jobs.get(job_id, (None, time.monotonic()))[1]
            self._jobs[job_id] = (ImportProgress(**vars(progress)), started)

    def collect(self):
        with self._lock:
            jobs = dict(self._jobs)
        families = {
            name: GaugeMetricFamily(f"chatport_import_{name}", text, labels=["job"])
            for name, text in (
                ("chats_done", "Chats done of a running import job (those done before it too)"),
                (
                    "chats_planned",
                    "Chats a running import job covers (an estimate while it lists them)",
                ),
                ("chats_failed", "Chats that failed in a running import job's run"),
                ("messages_read", "Messages a running import job's run has written"),
                ("eta_seconds", "Time left of a running import job, at its pace"),
            )
        }
        for job_id, (progress, started) in jobs.items():
            pace = rates(progress, time.monotonic() - started)
            families["chats_done"].add_metric([job_id], progress.chats_done)
            families["chats_planned"].add_metric([job_id], pace.chats_planned)
            families["chats_failed"].add_metric([job_id], progress.chats_failed)
            families["messages_read"].add_metric([job_id], progress.messages)
            if pace.eta_seconds is not None:
                families["eta_seconds"].add_metric([job_id], pace.eta_seconds)
        yield from families.values()
