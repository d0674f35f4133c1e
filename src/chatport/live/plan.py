"""One group's plan: what a channel's webhook deliveries write in the live writer's transaction.

`plan_in_transaction` reads which envelopes were handled before (their receipts) and maps the
others by event (messages, state changes, presence, session status; any other acknowledged
as ignored; a payload that cannot be read refused as invalid, kept as a dead letter);
`apply_plan` writes the plan's state changes, receipts, dead letters, session status and
typing in the batch's transaction. The writer itself is `writer.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chatport.domain.batch import PreparedBatch, prepare_batch
from chatport.domain.changes import MessageChange
from chatport.domain.model import Channel, IncomingMessage, Invalid, Origin
from chatport.domain.normalise import own_number
from chatport.live.outcomes import Outcome, Result
from chatport.sources.waha.presence import typing_of
from chatport.sources.waha.webhooks import (
    MESSAGE_EVENTS,
    STATE_EVENTS,
    Envelope,
    SessionStatus,
    WebhookRejected,
    change_of,
    message_of,
    session_status_of,
)
from chatport.store import webhook_receipts
from chatport.store.jobs.bursts import typing_in_bursts
from chatport.store.write_path.changes import apply_change
from chatport.store.write_path.events import insert_dead_letters
from chatport.store.write_path.unit_of_work import UnitOfWork


@dataclass
class Plan:
    """What one group's transaction writes besides its messages."""

    incoming: list[IncomingMessage] = field(default_factory=list)
    owners: dict[int, int] = field(default_factory=dict)  # id(raw) -> delivery index
    results: dict[int, Result] = field(default_factory=dict)
    receipts: dict[int, tuple[str, str]] = field(default_factory=dict)
    changes: dict[int, MessageChange] = field(default_factory=dict)
    refused: list[Invalid] = field(default_factory=list)
    statuses: list[SessionStatus] = field(default_factory=list)
    """The session statuses the group's `session.status` deliveries report, in order."""
    me_id: str | None = None
    typing: list[tuple[str, str]] = field(default_factory=list)  # (chat, participant)


def plan_in_transaction(
    uow: UnitOfWork,
    channel: Channel,
    envelopes: list[Envelope],
    lids: Mapping[str, str],
) -> tuple[Plan, PreparedBatch]:
    """Plan the group in its transaction, so the receipt check and the write agree."""
    ids = [envelope.id for envelope in envelopes]
    seen = webhook_receipts.seen_envelopes(uow.connection, uow.ops, channel.id, ids)
    plan = _plan(envelopes, seen, lids)
    batch = prepare_batch(plan.incoming)
    for invalid in batch.invalid:
        index = plan.owners.get(id(invalid.raw))
        if index is not None:
            plan.results[index] = Result(Outcome.INVALID, invalid.reason)
    return plan, batch


def apply_plan(uow: UnitOfWork, channel: Channel, plan: Plan) -> tuple[set[int], bool]:
    """Write the plan's state changes, receipts, dead letters and session status in the
    batch's transaction; the indexes of the changes whose message is not stored, and
    whether the session is WORKING again after another state."""
    now = datetime.now(UTC)
    connection, ops = uow.connection, uow.ops
    missing = {
        i for i, change in plan.changes.items() if not apply_change(connection, channel.id, change)
    }
    receipts = [r for index, r in plan.receipts.items() if index not in missing]
    webhook_receipts.record_receipts(connection, ops, channel.id, receipts, now)
    insert_dead_letters(connection, ops, channel, Origin.LIVE, plan.refused, now)
    reports = [(reported.status, reported.latest) for reported in plan.statuses]
    reconnected = webhook_receipts.record_statuses(connection, channel.id, reports, plan.me_id)
    if plan.typing and channel.has_agent:  # the contact is still writing: wait for it
        typing_in_bursts(connection, channel.id, plan.typing, now)
    return missing, reconnected


def _plan(envelopes: list[Envelope], seen: set[str], lids: Mapping[str, str]) -> Plan:
    plan = Plan()
    for index, envelope in enumerate(envelopes):
        if envelope.id in seen:
            plan.results[index] = Result(Outcome.DUPLICATE)
            continue
        seen.add(envelope.id)
        plan.receipts[index] = (envelope.id, envelope.event)
        plan.results[index] = Result(Outcome.STORED)
        try:
            if envelope.event in MESSAGE_EVENTS:
                message = message_of(envelope, lids)
                plan.owners[id(message.raw)] = index
                plan.incoming.append(message)
            elif envelope.event in STATE_EVENTS:
                plan.changes[index] = change_of(envelope, lids)
            elif envelope.event == "presence.update":
                plan.typing.extend(typing_of(envelope, lids))
                if not plan.typing:
                    plan.results[index] = Result(Outcome.IGNORED)
            elif envelope.event == "session.status":
                plan.statuses.append(session_status_of(envelope))
                plan.me_id = own_number(envelope.me.id) if envelope.me else plan.me_id
            else:
                plan.results[index] = Result(Outcome.IGNORED)
        except Exception as error:  # noqa: BLE001 - a payload of any shape is refused, kept
            reason = (
                error.reason
                if isinstance(error, WebhookRejected)
                else f"cannot read the {envelope.event} payload: {type(error).__name__}"
            )
            plan.results[index] = Result(Outcome.INVALID, reason)
            plan.refused.append(Invalid(reason, envelope.id, None, bytes(envelope.payload)))
    return plan
