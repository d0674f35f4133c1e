"""The error answers every API route documents (`responses=` of its router): each is JSON
`{"detail": …}` with the reason."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """An error: `detail` says why (a text; for 422, FastAPI's list of the invalid fields)."""

    detail: Any = Field(description="The reason")


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "model": ErrorOut}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("A malformed request: a NUL character in the URL, an invalid cursor"),
    401: _error("A missing or unknown credential (API key, webhook signature, metrics token)"),
    404: _error("Nothing of that name for this tenant (another tenant's things answer so too)"),
    409: _error("In conflict with the current state (a name taken, a job running)"),
    413: _error("A body over CHATPORT_MAX_BODY_BYTES"),
    422: _error("A parameter or body that is not valid (the reason names it)"),
}
"""What a route may answer besides its success (routes may override a description)."""
