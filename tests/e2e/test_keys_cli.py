"""`chatport keys`: a key is printed once, stored hashed, listed by prefix, revocable."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import create_engine, select

from chatport.store import tenants
from chatport.store.tables import api_keys
from tests.e2e.test_cli import run


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_create_list_and_revoke_a_key(database_url: str) -> None:
    created = run("keys", "create", "--tenant", "acme", "--name", "crm", "--db", database_url)
    assert created.returncode == 0, created.stderr
    assert "created tenant 'acme'" in created.stdout
    key = next(line for line in created.stdout.split() if line.startswith("cp_"))
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        assert tenants.tenant_of_key(connection, key).name == "acme"
        stored = connection.execute(select(api_keys.c.key_hash, api_keys.c.prefix)).one()
        assert key not in stored and stored.key_hash == tenants.hash_key(key)
    listed = run("keys", "list", "--db", database_url)
    assert key[:10] in listed.stdout and "acme" in listed.stdout and key not in listed.stdout
    listed = run("keys", "list", "--db", database_url, "--json")
    [row] = orjson.loads(listed.stdout)
    assert (row["prefix"], row["tenant"], row["name"], row["revoked_at"]) == (
        key[:10], "acme", "crm", None
    )  # fmt: skip
    again = run("keys", "create", "--tenant", "acme", "--db", database_url)
    assert "created tenant" not in again.stdout
    revoked = run("keys", "revoke", key[:10], "--db", database_url)
    assert revoked.returncode == 0 and "revoked 1 key" in revoked.stdout
    with engine.connect() as connection:
        assert tenants.tenant_of_key(connection, key) is None
    unknown = run("keys", "revoke", "cp_nothing", "--db", database_url)
    assert unknown.returncode != 0 and "no active key" in unknown.stderr
    engine.dispose()
