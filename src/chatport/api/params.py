"""Typed path and query parameters shared by the API's and the console's routes: bounded
like the columns they are looked up in, so an absurd value is a 422, never a query; and
`TextBody`, the base of request bodies whose texts are stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, field_validator

from chatport.api.cursors import MAX_LENGTH

ChannelName = Annotated[str, Path(min_length=1, max_length=100, description="The channel's name")]
ChatId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        description="The chat's WhatsApp id (e.g. 5511999999999@c.us or a group's …@g.us)",
    ),
]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_LENGTH, description="`next_cursor` of the previous page"),
]
TenantName = Annotated[str, Query(min_length=1, max_length=100, description="The tenant's name")]


class TextBody(BaseModel):
    """A request body whose texts no store may refuse: a NUL character in any text field is a
    422 (PostgreSQL text cannot hold it)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("a NUL character is not allowed")
        return value
