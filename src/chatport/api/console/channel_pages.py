"""Console pages of a channel's settings: the edit form, and its deletion with a confirmation
step (the channel's name typed again). Same rules as `PATCH` and `DELETE /v1/channels`."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from chatport.api.console.auth import ConsoleTenant, SameOrigin
from chatport.api.console.pages import channel_of
from chatport.api.console.render import render
from chatport.api.deps import DatabaseDep, ImportRunnerDep, ServicesDep, SettingsDep
from chatport.api.params import ChannelName
from chatport.api.routers.channels import run_read
from chatport.api.schemas import ChannelPatch
from chatport.engines.cancel import delete_channel
from chatport.errors import ChannelConflict, UrlRefused
from chatport.outbound import check_tenant_urls
from chatport.store import channel_admin
from chatport.store.reads import console as console_reads

router = APIRouter(include_in_schema=False)
_NUMBERS = (
    "session_timeout_minutes",
    "debounce_quiet_ms",
    "debounce_max_wait_ms",
    "handoff_minutes",
)
_TEXTS = ("waha_url", "waha_session", "agent_url")
_SECRETS = ("waha_api_key", "webhook_hmac_key")


@router.get("/channels/{channel}/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, database: DatabaseDep, tenant: ConsoleTenant, channel: ChannelName
) -> Response:
    row = await run_read(database, lambda c: channel_of(c, tenant, channel))
    return render(request, "channel_settings.html", channel=row, error=None, saved=False)


@router.post("/channels/{channel}/settings", dependencies=[SameOrigin])
async def save_settings(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    tenant: ConsoleTenant,
    channel: ChannelName,
) -> Response:
    """Every field of the form is the setting (empty: its default), but a secret left empty
    stays as it is unless its `clear_…` box is ticked."""
    form = await request.form()
    row = await run_read(database, lambda c: channel_of(c, tenant, channel))
    changes: dict[str, Any] = {}
    for name in (*_TEXTS, *_NUMBERS):
        value = str(form.get(name, "")).strip()
        changes[name] = value or None
    for name in _SECRETS:
        value = str(form.get(name, ""))
        if value:
            changes[name] = value
        elif form.get(f"clear_{name}"):
            changes[name] = None
    groups = str(form.get("agent_groups", ""))
    changes["agent_groups"] = {"on": True, "off": False}.get(groups)
    try:
        patch = ChannelPatch(**changes)
        checked = {
            name: value
            for name, value in patch.model_dump(exclude_unset=True).items()
            if name in _SECRETS or not _same(row, name, value)
        }  # what changed only: an operator's WAHA URL, untouched, stays the operator's
        urls = {name: checked.get(name) for name in ("waha_url", "agent_url")}
        await run_in_threadpool(check_tenant_urls, urls, allow_private=settings.allow_private_urls)

        def update() -> None:
            with database.unit_of_work() as uow:
                channel_admin.update_channel(
                    uow.connection, row.id, checked, secrets=database.secrets, trusted=False
                )
                uow.commit()

        await run_in_threadpool(update)
    except (ValidationError, UrlRefused, ChannelConflict) as refused:
        reason = (
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in refused.errors())
            if isinstance(refused, ValidationError)
            else str(refused)
        )
        status = 409 if isinstance(refused, ChannelConflict) else 422
        return render(
            request,
            "channel_settings.html",
            status_code=status,
            channel=row,
            error=f"Not saved: {reason}",
            saved=False,
        )
    row = await run_read(database, lambda c: channel_of(c, tenant, channel))
    return render(request, "channel_settings.html", channel=row, error=None, saved=True)


def _same(row: Any, name: str, value: Any) -> bool:
    """Whether `value` is what the channel has for setting `name` (the form shows it)."""
    if name == "session_timeout_minutes":
        seconds = row.session_timeout_seconds
        return (value is None and not seconds) or (
            value is not None and bool(seconds) and abs(seconds / 60 - value) < 0.01
        )
    return getattr(row, name) == value


@router.get("/channels/{channel}/delete", response_class=HTMLResponse)
async def delete_page(
    request: Request, database: DatabaseDep, tenant: ConsoleTenant, channel: ChannelName
) -> Response:
    """The confirmation step: what goes, and the channel's name to type again."""

    def read(connection: Any) -> tuple[Any, Any]:
        row = channel_of(connection, tenant, channel)
        return row, console_reads.channel_summaries(connection, tenant.id).get(row.id)

    row, summary = await run_read(database, read)
    return render(request, "channel_delete.html", channel=row, summary=summary, error=None)


@router.post("/channels/{channel}/delete", dependencies=[SameOrigin])
async def delete(
    request: Request,
    database: DatabaseDep,
    services: ServicesDep,
    runner: ImportRunnerDep,
    tenant: ConsoleTenant,
    channel: ChannelName,
    confirm: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    row = await run_read(database, lambda c: channel_of(c, tenant, channel))
    if confirm.strip() != row.name:
        return render(
            request,
            "channel_delete.html",
            status_code=422,
            channel=row,
            summary=None,
            error="Not deleted: type the channel's name exactly to confirm.",
        )
    await run_in_threadpool(partial(delete_channel, services, row.id, runner=runner))
    return RedirectResponse("/", status_code=303)
