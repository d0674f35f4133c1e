"""Where chatport may connect for a tenant (`outbound.py`): which addresses are public, the
check of a URL when a tenant gives it, and the check again when connecting (the resolver, and
IP-literal hosts), against a real socket on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from chatport.errors import UrlRefused
from chatport.outbound import (
    OPERATOR,
    PublicResolver,
    check_tenant_url,
    client_session,
    non_public,
    tenant_trust,
    tenant_url_form,
)

NOT_PUBLIC = [
    "127.0.0.1",
    "127.9.9.9",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared (carrier-grade NAT)
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "fe80::1%lo",
    "fc00::1",
    "fec0::1",
    "ff02::1",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_named(address: str) -> None:
    assert non_public(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert non_public(address) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("python:sys:exit", "in-process agents"),
        ("PYTHON:os:system", "in-process agents"),
        ("ftp://example.com/", "not ftp:"),
        ("file:///etc/passwd", "not file:"),
        ("example.com/agent", "no scheme"),
        ("http:///agent", "names no host"),
        ("http://example.com:99999/", "not a URL"),
    ],
)
def test_a_tenant_gives_http_urls_only(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        tenant_url_form(url)
    with pytest.raises(UrlRefused, match=reason):
        check_tenant_url(url, allow_private=True, name="agent_url")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:9/agent",
        "http://127.0.0.1:9/",
        "http://[::1]:9/",
        "http://0.0.0.0/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/",
        "https://10.1.2.3/",
        "http://2130706433/",  # 127.0.0.1 written as a number
        "http://127.1/",
    ],
)
def test_private_hosts_are_refused_unless_the_operator_allows_them(url: str) -> None:
    with pytest.raises(UrlRefused, match="^waha_url: .*must lead to public addresses"):
        check_tenant_url(url, allow_private=False, name="waha_url")
    check_tenant_url(url, allow_private=True, name="waha_url")


def test_a_public_address_is_accepted() -> None:
    check_tenant_url("https://93.184.216.34/agent", allow_private=False)


class _Answers:
    """A resolver that answers `addresses` for any host (a DNS answer chosen by a tenant)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [
            {"hostname": host, "host": a, "port": port, "family": 0, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


def test_the_resolver_keeps_public_addresses_and_refuses_a_host_with_none() -> None:
    async def resolve(*addresses: str) -> list[str]:
        resolver = PublicResolver()
        resolver._resolver = _Answers(*addresses)
        return [found["host"] for found in await resolver.resolve("rebound.example", 80)]

    assert asyncio.run(resolve("127.0.0.1", "93.184.216.34")) == ["93.184.216.34"]
    with pytest.raises(UrlRefused, match="rebound.example resolves to 169.254.169.254"):
        asyncio.run(resolve("169.254.169.254"))
    with pytest.raises(UrlRefused, match="a loopback address"):
        asyncio.run(resolve("::ffff:127.0.0.1", "::1"))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_a_tenants_session_does_not_connect_to_loopback(host: str) -> None:
    """A name resolved when connecting (DNS rebinding: it was checked earlier) goes through
    the resolver; an IP-literal host, which aiohttp does not resolve, through the middleware.
    The operator's session and a tenant's with private networks allowed connect."""

    async def scenario() -> tuple[list[str], int]:
        connections = 0

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        outcomes = []
        async with server:
            for trust in (tenant_trust(False), OPERATOR, tenant_trust(True)):
                async with client_session(trust) as session:
                    try:
                        async with session.get(f"http://{host}:{port}/") as response:
                            outcomes.append(await response.text())
                    except UrlRefused as refused:
                        outcomes.append(str(refused))
        return outcomes, connections

    (refused, *connected), connections = asyncio.run(scenario())
    assert "a loopback address" in refused and connected == ["ok", "ok"]
    assert connections == 2  # none for the refused request
