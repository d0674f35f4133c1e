"""Prometheus metrics of one API process (`GET /metrics`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from chatport.agent.delivery import DeliveryObserver


class Metrics:
    """The process's counters, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
