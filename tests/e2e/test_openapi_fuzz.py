"""Schemathesis over the served OpenAPI (real HTTP, SQLite): for every operation, whatever
the schema allows (with the tenant's key on /v1), no answer is a 5xx and every answer's status
is one the operation documents. Bounded examples (25 per operation) so it runs in CI."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from chatport.bootstrap import build
from chatport.settings import Settings
from chatport.store import tenants
from tests.servers import serve_app


def test_no_operation_answers_5xx_or_an_undocumented_status(tmp_path: Path) -> None:
    services = build(Settings(database_url=f"sqlite:///{tmp_path / 'fuzz.db'}"))
    with services.database.unit_of_work() as uow:
        key = tenants.create_key(uow.connection, tenants.ensure_tenant(uow.connection, "fuzz")[0])
        uow.commit()
    tried = []
    try:
        with serve_app(services) as url:
            schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
            for result in schema.get_all_operations():
                operation = result.ok()
                tried.append(operation.label)
                auth = {"X-Api-Key": key} if operation.path.startswith("/v1") else {}
                check(operation, url, auth)
    finally:
        services.close()
    assert any("/webhooks/waha" in label for label in tried) and len(tried) >= 15


def check(operation, url: str, headers: dict[str, str]) -> None:
    """Up to 25 generated requests to `operation`: none may answer 5xx, or a status the
    operation does not document."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def no_server_error(case) -> None:
        response = case.call(base_url=url, headers=headers, timeout=30)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )
        case.validate_response(
            response, checks=[not_a_server_error, status_code_conformance], headers=headers
        )

    no_server_error()
