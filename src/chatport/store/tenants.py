"""Tenants and their API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update

from chatport.errors import NotFoundError
from chatport.store.tables import api_keys, tenants

KEY_PREFIX = "cp_"


@dataclass(frozen=True)
class Tenant:
    """A tenant, as the API sees it."""

    id: int
    name: str


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without the key itself."""

    id: int
    tenant: str
    name: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def find_tenant(connection: Connection, name: str) -> Tenant | None:
    """The tenant `name`, or None."""
    found = connection.execute(select(tenants.c.id).where(tenants.c.name == name)).scalar()
    return None if found is None else Tenant(found, name)


def ensure_tenant(connection: Connection, name: str) -> tuple[Tenant, bool]:
    """The tenant `name`, created when missing (and whether it was)."""
    row = connection.execute(select(tenants.c.id).where(tenants.c.name == name)).first()
    if row is not None:
        return Tenant(row.id, name), False
    now = datetime.now(UTC)
    result = connection.execute(insert(tenants).values(name=name, created_at=now, updated_at=now))
    return Tenant(result.inserted_primary_key[0], name), True


def create_key(connection: Connection, tenant: Tenant, name: str | None = None) -> str:
    """A new key for `tenant`; the only time the key exists in clear is this return value."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    connection.execute(
        insert(api_keys).values(
            tenant_id=tenant.id,
            name=name,
            prefix=key[:10],
            key_hash=hash_key(key),
            created_at=datetime.now(UTC),
        )
    )
    return key


def tenant_of_key(connection: Connection, key: str) -> Tenant | None:
    """The tenant a valid, unrevoked key belongs to."""
    row = connection.execute(
        select(tenants.c.id, tenants.c.name)
        .join(api_keys, api_keys.c.tenant_id == tenants.c.id)
        .where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None))
    ).first()
    return Tenant(row.id, row.name) if row else None


def list_keys(connection: Connection, tenant: str | None = None) -> list[ApiKey]:
    """Keys (all tenants, or one), oldest first."""
    query = (
        select(api_keys, tenants.c.name.label("tenant"))
        .join(tenants, tenants.c.id == api_keys.c.tenant_id)
        .order_by(api_keys.c.id)
    )
    if tenant is not None:
        query = query.where(tenants.c.name == tenant)
    return [
        ApiKey(row.id, row.tenant, row.name, row.prefix, row.created_at, row.revoked_at)
        for row in connection.execute(query)
    ]


def revoke_key(connection: Connection, prefix: str) -> int:
    """Revoke the unrevoked keys starting with `prefix` (at least 6 characters); how many."""
    if len(prefix) < 6:
        raise NotFoundError("give at least the first 6 characters of the key")
    result = connection.execute(
        update(api_keys)
        .where(api_keys.c.prefix.startswith(prefix[:10]), api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    if not result.rowcount:
        raise NotFoundError(f"no active key starts with {prefix!r}")
    return result.rowcount
