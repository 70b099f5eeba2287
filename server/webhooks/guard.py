"""Where a webhook may point: never into our own network unless an operator said so.

A url must be https, unless its origin (scheme://host:port) is listed in
``WEBHOOK_ALLOWED_ORIGINS`` (a CRM on the office network, a receiver on loopback in tests).
An https url must not reach a private, loopback, link-local, multicast, reserved or otherwise
non-public address, literally or by name, unless its origin is listed. The check runs when a
webhook is made or changed and again at every delivery: names are resolved, every address
checked, and the connection made only to checked addresses (:class:`GuardedResolver`), so a
name that later resolves inward (DNS rebinding) is refused then. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL = 2048
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """Why a webhook may not use this url (said to the caller as a 422 on ``url``)."""


def origin_of(url: str) -> str:
    """``scheme://host:port``, lower case, the port always written (``https://a.b:443``)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = 0
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def allowed_origins(origins: tuple[str, ...]) -> frozenset[str]:
    """``WEBHOOK_ALLOWED_ORIGINS`` in :func:`origin_of`'s spelling."""
    return frozenset(origin_of(origin) for origin in origins)


def refused_address(address: IpAddress) -> bool:
    """Anything but a public unicast address (an IPv4 address inside IPv6 counts as itself)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast or address.is_reserved


def literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_form(url: str, allowed: frozenset[str]) -> tuple[SplitResult, bool]:
    """The url's parts, and whether its origin is listed; UrlRefused when it may never be
    used (not http(s), no host, credentials in it, plain http to an unlisted origin)."""
    if len(url) > MAX_URL:
        raise UrlRefused(f"at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise UrlRefused("must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry credentials; the signature proves who is sending")
    if parts.fragment:
        raise UrlRefused("must not have a fragment")
    listed = origin_of(url) in allowed
    if parts.scheme.lower() != "https" and not listed:
        raise UrlRefused("must be https (or its origin listed in WEBHOOK_ALLOWED_ORIGINS)")
    return parts, listed


async def check_url(url: str, allowed: frozenset[str]) -> None:
    """Whether a webhook may be made with ``url`` now (see the module docstring)."""
    parts, listed = check_form(url, allowed)
    if listed:
        return
    host = parts.hostname or ""
    literal = literal_address(host)
    if literal is not None:
        if refused_address(literal):
            raise UrlRefused("points to a private or reserved address")
        return
    for address in await resolve(host, parts.port or DEFAULT_PORTS["https"]):
        if refused_address(address):
            raise UrlRefused(f"{host} resolves to a private or reserved address")


async def resolve(host: str, port: int) -> list[IpAddress]:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UrlRefused(f"{host} does not resolve") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name any of whose addresses is not public, unless the
    name and port are those of a listed origin. (aiohttp asks no resolver for a literal
    address: the sender checks those itself, with :func:`check_form` and
    :func:`refused_address`.)"""

    def __init__(self, allowed: frozenset[str]) -> None:
        self._inner = DefaultResolver()
        self._listed = {(urlsplit(o).hostname, urlsplit(o).port) for o in allowed}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if (host.lower(), port) in self._listed:
            return found
        for result in found:
            if refused_address(ipaddress.ip_address(result["host"].split("%")[0])):
                raise OSError(f"{host} resolves to a private or reserved address: refused")
        return found

    async def close(self) -> None:
        await self._inner.close()


def refused_literal(url: str, allowed: frozenset[str]) -> str | None:
    """At sending: why ``url`` may not be posted to now, for what no resolver sees (its form,
    a literal address); None when it may."""
    try:
        parts, listed = check_form(url, allowed)
    except UrlRefused as exc:
        return str(exc)
    literal = literal_address(parts.hostname or "")
    if not listed and literal is not None and refused_address(literal):
        return "points to a private or reserved address"
    return None
