"""Live ingest: WAHA webhook deliveries through the core write path (origin `live`).

One writer thread per process takes the deliveries that have arrived (whatever came in while
the previous write ran, up to `max_batch`) and writes each channel's share as ONE batch in ONE
transaction, with the envelope receipts, dead letters and status changes of those deliveries:
under load a transaction carries many webhooks (group commit), alone a webhook waits for
nobody. A delivery's future completes once its transaction committed, so a 2xx answer means
durable. A group that fails is written again one delivery at a time, so one bad delivery
cannot fail its neighbours; a delivery the database itself refuses as data (a value out of
range, text it cannot store) is refused as invalid and kept as a dead letter, so WAHA does not
retry it for ever. Other errors (the database is down) fail the delivery: WAHA retries it.
What a group writes is planned by `plan.py`; `Outcome` and `Result` (`outcomes.py`) are
re-exported here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from chatport.domain.batch import PreparedBatch
from chatport.domain.model import BatchResult, Channel, Invalid, Origin
from chatport.errors import DatabaseUnavailable
from chatport.live.lid_lookups import LidLookups, StoredLids
from chatport.live.outcomes import Outcome, Result
from chatport.live.plan import apply_plan, plan_in_transaction
from chatport.sources.waha.webhooks import Envelope
from chatport.store import webhook_receipts
from chatport.store.database import Database
from chatport.store.webhook_receipts import trim_dead_letters
from chatport.store.write_path.events import insert_dead_letters

__all__ = ["LiveWriter", "Outcome", "Result"]

logger = logging.getLogger(__name__)

_REFUSED_AS_DATA = (DataError, OverflowError, ValueError)
"""Errors of one delivery's own data (a value out of range, text a store cannot take), not
of the database (those fail the delivery, and WAHA retries it)."""
_UNREACHABLE = (OperationalError, InterfaceError, PoolTimeout)
"""What SQLAlchemy raises when the database cannot be reached or used: the delivery fails with
DatabaseUnavailable (503), and WAHA retries it."""

_PRUNE_SLICE = 1_000
_PRUNE_EVERY_SECONDS = 600.0


@dataclass
class _Delivery:
    channel: Channel
    envelope: Envelope
    tag: Any = None
    future: Future[Result] = field(default_factory=Future)

    def outcome(self) -> Result | str:
        """Its result, or its error's text (once the future is done)."""
        error = self.future.exception()
        return self.future.result() if error is None else f"{error}"


class LiveWriter:
    """Writes webhook deliveries (group commit, see the module docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        max_batch: int = 1_000,
        look_up_lids: bool = True,
        allow_private_urls: bool = False,
        receipts_kept: timedelta = timedelta(hours=48),
        dead_letters_kept: int = 10_000,
        agent_everywhere: bool = False,
        agent_groups: bool = False,
        handoff_minutes: float = 30,
        on_written: Callable[[Channel, BatchResult, float], None] | None = None,
        on_results: Callable[[list[tuple[Any, Result | str]]], None] | None = None,
        on_reconnected: Callable[[Channel], None] | None = None,
    ) -> None:
        """`look_up_lids`: ask WAHA (channels with credentials) for LIDs met without a known phone
        (`lid_lookups.py`); `allow_private_urls`: the operator's `CHATPORT_ALLOW_PRIVATE_URLS`, for
        the WAHA URLs tenants gave; `agent_everywhere`: follow every channel's bursts (a global
        agent URL), not only those of channels with an agent of their own; `agent_groups`,
        `handoff_minutes`: `CHATPORT_AGENT_GROUPS` and `CHATPORT_HANDOFF_MINUTES`, for channels
        without their own; `receipts_kept`: how long envelope ids are remembered (older ones are
        pruned a little after each group); `dead_letters_kept`: the most dead letters a channel
        keeps (each new one past it drops the oldest); `on_written(channel, result, seconds)` is
        told of every committed group (metrics); `on_results([(tag, result or error text), …])` of
        the outcomes of each round of groups, at once (the writer process answers with one frame per
        round); `on_reconnected(channel)` of a channel whose session is WORKING after another
        state, once that is committed (a catch-up follows)."""
        self.database = database
        self.max_batch = max_batch
        self.receipts_kept = receipts_kept
        self.dead_letters_kept = dead_letters_kept
        self.agent_everywhere = agent_everywhere
        self.agent_groups = agent_groups
        self.handoff_minutes = handoff_minutes
        self._next_prune = 0.0
        self._lids = StoredLids(database)
        self._lookups = (
            LidLookups(database, self._lids.learn, allow_private_urls=allow_private_urls)
            if look_up_lids
            else None
        )
        self._on_written = on_written or (lambda channel, result, seconds: None)
        self._on_results = on_results
        self._on_reconnected = on_reconnected or (lambda channel: None)
        self._queue: queue.SimpleQueue[_Delivery | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="live-writer", daemon=True)
        self._thread.start()

    def submit(self, channel: Channel, envelope: Envelope, tag: Any = None) -> Future[Result]:
        """Queue a delivery; the future completes when it is committed (or failed). `tag`
        names it to `on_results`."""
        delivery = _Delivery(channel, envelope, tag)
        self._queue.put(delivery)
        return delivery.future

    def close(self) -> None:
        """Write what is queued, then stop the writer thread (and the LID lookups)."""
        self._queue.put(None)
        self._thread.join()
        if self._lookups is not None:
            self._lookups.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
            by_channel: dict[int, list[_Delivery]] = {}
            for delivery in group:
                by_channel.setdefault(delivery.channel.id, []).append(delivery)
            for deliveries in by_channel.values():
                self._write_group(deliveries)
            if self._on_results is not None:
                self._on_results([(delivery.tag, delivery.outcome()) for delivery in group])
            self._prune_receipts()

    def _prune_receipts(self) -> None:
        """Forget a bounded slice of expired receipts, so no group waits long for it."""
        if time.monotonic() < self._next_prune:
            return
        try:
            with self.database.unit_of_work() as uow:
                before = datetime.now(UTC) - self.receipts_kept
                pruned = webhook_receipts.prune_receipts(uow.connection, before, _PRUNE_SLICE)
                uow.commit()
        except Exception:  # noqa: BLE001 - pruning is housekeeping; the next round retries
            logger.exception("pruning webhook receipts failed")
            pruned = 0
        more = pruned == _PRUNE_SLICE
        self._next_prune = time.monotonic() + (0.0 if more else _PRUNE_EVERY_SECONDS)

    def _write_group(self, deliveries: list[_Delivery]) -> None:
        try:
            results = self._write(deliveries)
        except Exception as error:  # noqa: BLE001 - isolate the delivery that fails
            if len(deliveries) > 1:
                for delivery in deliveries:
                    self._write_group([delivery])
                return
            delivery = deliveries[0]
            if isinstance(error, _REFUSED_AS_DATA):
                self._refuse(delivery, error)
                return
            if isinstance(error, _UNREACHABLE):  # one line, not a traceback: WAHA retries
                reason = str(getattr(error, "orig", error)).strip().partition("\n")[0]
                logger.warning("webhook delivery %s not written: %s", delivery.envelope.id, reason)
                unavailable = DatabaseUnavailable(DatabaseUnavailable.PREFIX + reason)
                delivery.future.set_exception(unavailable)
                return
            logger.exception("webhook delivery %s not written", delivery.envelope.id)
            delivery.future.set_exception(error)
            return
        for index, delivery in enumerate(deliveries):
            delivery.future.set_result(results[index])

    def _refuse(self, delivery: _Delivery, error: Exception) -> None:
        """A delivery the database refused as data: invalid, kept as a dead letter."""
        envelope = delivery.envelope
        reason = f"the database refused the {envelope.event} payload: {type(error).__name__}"
        logger.warning("webhook delivery %s refused: %s", envelope.id, error)
        refused = Invalid(reason, envelope.id, None, bytes(envelope.payload))
        try:
            with self.database.unit_of_work() as uow:
                now = datetime.now(UTC)
                channel = delivery.channel
                connection, ops = uow.connection, uow.ops
                insert_dead_letters(connection, ops, channel, Origin.LIVE, [refused], now)
                trim_dead_letters(connection, channel.id, self.dead_letters_kept)
                receipt = [(envelope.id, envelope.event)]  # WAHA's retries are duplicates
                webhook_receipts.record_receipts(connection, ops, channel.id, receipt, now)
                uow.commit()
        except Exception as failed:  # noqa: BLE001 - not even its dead letter: WAHA retries
            logger.exception("webhook delivery %s not written", envelope.id)
            delivery.future.set_exception(failed)
            return
        delivery.future.set_result(Result(Outcome.INVALID, reason))

    def _write(self, deliveries: list[_Delivery]) -> dict[int, Result]:
        channel = deliveries[0].channel
        if self.agent_everywhere and not channel.has_agent:
            channel = replace(channel, has_agent=True)
        if channel.agent_groups is None or channel.handoff_minutes is None:
            channel = replace(
                channel,
                agent_groups=(
                    self.agent_groups if channel.agent_groups is None else channel.agent_groups
                ),
                handoff_minutes=channel.handoff_minutes or self.handoff_minutes,
            )
        lids = self._lids(channel)
        started = time.monotonic()
        for uow in self.database.transactions():
            with uow:
                envelopes = [delivery.envelope for delivery in deliveries]
                plan, batch = plan_in_transaction(uow, channel, envelopes, lids)
                result = uow.write_batch(channel, batch, origin=Origin.LIVE)
                missing, reconnected = apply_plan(uow, channel, plan)
                if plan.refused or batch.invalid:
                    trim_dead_letters(uow.connection, channel.id, self.dead_letters_kept)
                uow.commit()
        self._on_written(channel, result, time.monotonic() - started)
        if reconnected:
            self._on_reconnected(channel)
        self._follow_lids(channel, batch)
        for index in missing:
            plan.results[index] = Result(Outcome.MISSING, "no stored message matches it (yet)")
        return plan.results

    def _follow_lids(self, channel: Channel, batch: PreparedBatch) -> None:
        """Use the pairs the batch stored at once; look up the LIDs it met without one."""
        learned = batch.lid_pairs()
        if learned:
            self._lids.learn(channel, learned)
        unknown = batch.unknown_lids()
        if unknown and self._lookups is not None:
            self._lookups.ask(channel, unknown)
