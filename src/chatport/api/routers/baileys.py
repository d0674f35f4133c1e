"""`POST /webhooks/baileys/{channel}`: a Node sidecar running Baileys pushes its history sync
payloads (`messaging-history.set`: one JSON object, or JSON lines of several). Signed like
WAHA's webhooks (HMAC-SHA512 in `X-Webhook-Hmac`) with the channel's `webhook_hmac_key`, else
`CHATPORT_WEBHOOK_HMAC_KEY`, when one is set."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from chatport.api.deps import DatabaseDep, SettingsDep
from chatport.errors import BaileysFormatError, NotFoundError
from chatport.ingest.baileys import import_text
from chatport.sources.waha.webhooks import signature_valid
from chatport.store import webhook_receipts
from chatport.store.database import Database
from chatport.store.reads.webhooks import webhook_key

router = APIRouter(tags=["webhooks"])


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
        401: {"description": "Missing or wrong signature"},
        404: {"description": "No such channel"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_baileys_history(
    channel: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    tenant: str = "default",
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
        raise HTTPException(404, f"no channel {channel!r} of tenant {tenant!r}") from None
    key = key or settings.webhook_hmac_key
    if key and not signature_valid(body, request.headers, key):
        raise HTTPException(401, "missing or wrong webhook signature")
    try:
        text = body.decode("utf-8")
        report = await run_in_threadpool(import_text, database, target, text)
    except (UnicodeDecodeError, BaileysFormatError) as error:
        reason = str(error) if isinstance(error, BaileysFormatError) else "body is not UTF-8"
        await run_in_threadpool(_keep, database, reason, body)
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


def _keep(database: Database, reason: str, body: bytes) -> None:
    with database.unit_of_work() as uow:
        webhook_receipts.keep_request(uow.connection, database.ops, reason, body, None, None)
        uow.commit()
