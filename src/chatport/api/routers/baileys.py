"""`POST /webhooks/baileys/{channel}`: a Node sidecar running Baileys pushes its history sync
payloads (`messaging-history.set`: one JSON object, or JSON lines of several). Signed like
WAHA's webhooks (HMAC-SHA512 in `X-Webhook-Hmac`) with the channel's `webhook_hmac_key`, else
`CHATPORT_WEBHOOK_HMAC_KEY`, when one is set.

A channel that does not exist is answered 401 like a wrong signature, so that unsigned callers
cannot tell which channels exist; only a caller signed with the global key is told 404 (or
anyone, when no key is set anywhere)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from chatport.api.deps import DatabaseDep, SettingsDep
from chatport.api.params import ChannelName, TenantName
from chatport.api.responses import ERRORS
from chatport.domain.model import Channel
from chatport.errors import BaileysFormatError, NotFoundError
from chatport.ingest.baileys import import_text
from chatport.sources.waha.webhooks import signature_valid
from chatport.store import webhook_receipts
from chatport.store.database import Database
from chatport.store.reads.webhooks import webhook_key

router = APIRouter(tags=["webhooks"], responses=ERRORS)


class BaileysOut(BaseModel):
    """What a push stored."""

    payloads: int
    messages: int
    created: int
    duplicates: int
    invalid: int
    skipped: int
    lid_pairs: int


@router.post(
    "/webhooks/baileys/{channel}",
    response_model=BaileysOut,
    responses={
        400: {"description": "Not history sync payloads (kept in dead_letters)"},
        401: {
            "description": "Missing or wrong signature, or no such channel (only a caller "
            "signed with the global key is told 404)"
        },
        404: {
            "description": "No such channel (to a caller signed with the global key, or "
            "when no key is set anywhere)"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_baileys_history(
    channel: ChannelName,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    tenant: TenantName = "default",
) -> BaileysOut:
    """Store a Baileys `messaging-history.set` payload (or JSON lines of several) as history."""
    body = await request.body()

    def find():
        with database.unit_of_work() as uow:
            target = uow.channel(channel, tenant)
            key = webhook_key(uow.connection, target.id, secrets=database.secrets)
        return target, key

    try:
        target, key = await run_in_threadpool(find)
    except NotFoundError:
        global_key = settings.webhook_hmac_key
        if global_key:
            told = signature_valid(body, request.headers, global_key)
        else:  # no key anywhere: nothing to hide
            told = not await run_in_threadpool(_any_keys, database)
        if told:
            raise HTTPException(404, f"no channel {channel!r} of tenant {tenant!r}") from None
        raise HTTPException(401, _REFUSED) from None
    key = key or settings.webhook_hmac_key
    if key and not signature_valid(body, request.headers, key):
        raise HTTPException(401, _REFUSED)
    try:
        text = body.decode("utf-8")
        report = await run_in_threadpool(import_text, database, target, text)
    except (UnicodeDecodeError, BaileysFormatError) as error:
        reason = str(error) if isinstance(error, BaileysFormatError) else "body is not UTF-8"
        kept = settings.dead_letters_per_channel
        await run_in_threadpool(_keep, database, reason, body, target, kept)
        raise HTTPException(400, reason) from None
    result = report.result
    return BaileysOut(
        payloads=report.parts,
        messages=report.messages,
        created=result.created,
        duplicates=result.duplicates,
        invalid=result.invalid,
        skipped=report.skipped,
        lid_pairs=report.lid_pairs,
    )


_REFUSED = "missing or wrong webhook signature, or no such channel"


def _any_keys(database: Database) -> bool:
    with database.engine.connect() as connection:
        return webhook_receipts.any_webhook_keys(connection)


def _keep(database: Database, reason: str, body: bytes, channel: Channel, kept: int) -> None:
    """Keep a refused push as a dead letter of `channel` (bounded, the channel's oldest past
    `kept` dropped)."""
    for uow in database.transactions():
        with uow:
            webhook_receipts.keep_request(
                uow.connection, database.ops, reason, body, channel, None, "baileys"
            )
            webhook_receipts.trim_dead_letters(uow.connection, channel.id, kept)
            uow.commit()
