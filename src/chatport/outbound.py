"""Where chatport connects for a tenant (design 2.5). The operator's URLs (settings, the CLI)
are trusted; a tenant's (a channel's `agent_url` and `waha_url`, given with an API key) are
checked when given and again at every connection.

A tenant's URL must be http(s) (in-process agents, `python:module:function`, are the
operator's to name) and, unless the operator sets `CHATPORT_ALLOW_PRIVATE_URLS`, its host must
lead to public addresses only: not loopback, private, link-local, multicast, reserved,
unspecified or shared (100.64.0.0/10) ones, IPv4 or IPv6, an IPv4 address inside an IPv6 one
(IPv4-mapped, 6to4, NAT64) included. `check_tenant_url` checks a URL when it is given (the API
answers 422 with the reason). `client_session` checks at every connection: its resolver drops
non-public addresses and refuses a host that has no other (a name whose DNS answer changed
since it was checked, DNS rebinding, gains nothing), and a middleware refuses IP-literal hosts,
which aiohttp does not resolve, redirects included. Such a session ignores the environment's
proxy settings (a proxy resolves names itself, out of reach of the check).

What a tenant's host answers stays out of the errors a tenant sees (`Trust.tenant`): they keep
the status code and a generic reason, and the body is logged, truncated (`answer_detail`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from chatport.errors import UrlRefused

logger = logging.getLogger(__name__)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_KINDS = (
    ("loopback", "a loopback address"),
    ("unspecified", "the unspecified address"),
    ("link_local", "a link-local address"),
    ("multicast", "a multicast address"),
    ("private", "a private address"),
    ("reserved", "a reserved address"),
)
_ALLOW = "the operator may allow private networks with CHATPORT_ALLOW_PRIVATE_URLS=true"


@dataclass(frozen=True)
class Trust:
    """Who chose a URL chatport connects to, and so what chatport may do with it."""

    tenant: bool = False
    """A tenant chose it: errors a tenant sees leave out what its host answers."""
    public_only: bool = False
    """Connect to public addresses only (a tenant's URL; private networks not allowed)."""


OPERATOR = Trust()
"""The operator's URLs (settings, the CLI): any host, errors with what it answered."""


def tenant_trust(allow_private_urls: bool) -> Trust:
    """How a tenant's URL is treated, under the operator's `CHATPORT_ALLOW_PRIVATE_URLS`."""
    return Trust(tenant=True, public_only=not allow_private_urls)


def non_public(address: str) -> str | None:
    """Why a tenant's URL may not lead to `address` (an IP address; IPv6 with its scope, IPv4
    in canonical form), such as "a loopback address"; None when it is a public address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    return _non_public(ip)


def _non_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # the IPv4 address itself, on a dual-stack socket
            return _non_public(ip.ipv4_mapped)
        embedded = ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None and (why := _non_public(embedded)):
            return why
        if ip.is_site_local:
            return "a site-local address"
    for kind, name in _KINDS:
        if getattr(ip, f"is_{kind}"):
            return name
    if not ip.is_global:
        return "not a public address"
    return None


def _refusal(host: str, address: str, why: str) -> str:
    where = f"{host} is" if host == address else f"{host} resolves to {address},"
    return f"{where} {why}: a tenant's URLs must lead to public addresses ({_ALLOW})"


def tenant_url_form(url: str) -> str:
    """`url` when its form is one a tenant may give: an http(s) URL with a host; else
    ValueError with the reason (request bodies' validators call it)."""
    if url.strip().lower().startswith("python:"):
        raise ValueError(
            "in-process agents (python:module:function) are the operator's to name "
            "(CHATPORT_AGENT_URL); a channel's agent is an http(s) URL"
        )
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as error:
        raise ValueError(f"not a URL ({error})") from None
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise ValueError(f"must be an http:// or https:// URL, not {scheme}")
    if not parts.hostname:
        raise ValueError("names no host")
    return url


def check_tenant_url(url: str, *, allow_private: bool, name: str = "URL") -> None:
    """Refuse (UrlRefused, its message starting with `name`) a URL a tenant may not give: not
    http(s), or, unless `allow_private`, a host that does not resolve or resolves to any
    non-public address. Blocking (it asks DNS, `socket.getaddrinfo`): from async code, call
    it in a thread."""
    try:
        tenant_url_form(url)
    except ValueError as error:
        raise UrlRefused(f"{name}: {error}") from None
    if allow_private:
        return
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise UrlRefused(f"{name}: its host {host} does not resolve ({error})") from None
    for *_, sockaddr in found:
        address = str(sockaddr[0])
        if why := non_public(address):
            raise UrlRefused(f"{name}: {_refusal(host, address, why)}")


def check_tenant_urls(urls: dict[str, str | None], *, allow_private: bool) -> None:
    """`check_tenant_url` for each URL given (by name; None: not given)."""
    for name, url in urls.items():
        if url is not None:
            check_tenant_url(url, allow_private=allow_private, name=name)


class PublicResolver(AbstractResolver):
    """aiohttp's threaded resolver (`socket.getaddrinfo` in a thread) that keeps public
    addresses only; a host with none is refused (UrlRefused). Create it in the event loop."""

    def __init__(self) -> None:
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        public = [result for result in found if non_public(result["host"]) is None]
        if not public:
            address = found[0]["host"] if found else "no address"
            raise UrlRefused(_refusal(host, address, non_public(address) or "no address"))
        if len(public) < len(found):
            dropped = sorted({r["host"] for r in found} - {r["host"] for r in public})
            logger.warning("%s: non-public addresses %s left out", host, ", ".join(dropped))
        return public

    async def close(self) -> None:
        await self._resolver.close()


@lru_cache(maxsize=4096)
def _literal_refusal(host: str) -> str | None:
    """Why a request may not go to `host` when it is an IP address (None for a name: names go
    through the resolver)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    why = _non_public(ip)
    return _refusal(host, host, why) if why else None


async def _refuse_non_public_ip_hosts(
    request: aiohttp.ClientRequest, handler: Any
) -> aiohttp.ClientResponse:
    """A client middleware (it sees every request, redirects included)."""
    if request.url.host and (refusal := _literal_refusal(request.url.host)):
        raise UrlRefused(refusal)
    return await handler(request)


def client_session(trust: Trust, *, limit: int = 100, **options: Any) -> aiohttp.ClientSession:
    """An aiohttp session that connects only where `trust` allows (create it in the event
    loop); `options` go to `aiohttp.ClientSession`. UrlRefused is raised by a request whose
    host may not be reached (it is not an aiohttp.ClientError)."""
    if not trust.public_only:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), **options)
    return aiohttp.ClientSession(
        **{
            **options,
            "connector": aiohttp.TCPConnector(limit=limit, resolver=PublicResolver()),
            "middlewares": (_refuse_non_public_ip_hosts,),
            "trust_env": False,
        }
    )


def answer_detail(trust: Trust, what: str, body: bytes, limit: int = 300) -> str:
    """What an error about an answer (`body`) says of it: `: <body>` (truncated) when the
    operator chose the host; nothing when a tenant did (the body is logged instead, with
    `what`, such as "POST /api/sendText: HTTP 500")."""
    text = body.decode(errors="replace")[:limit]
    if not text:
        return ""
    if trust.tenant:
        logger.warning("%s: %s", what, text)
        return ""
    return f": {text}"
