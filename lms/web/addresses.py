"""Requests the platform makes to addresses people give it (a webhook's endpoint, an
organization's single sign-on provider) reach public addresses only (SSRF): a host name may
have come to point at the site's own network since it was registered, or point there only
for the connection (DNS rebinding). Webhooks, unless ``WEBHOOK_ALLOW_LOCAL_HTTP``, resolve
the name before each attempt (``public_addresses``: a refusal with its reason is recorded),
and the HTTP session's connections (``guard``) resolve it once more and connect only to the
addresses they have just checked, so no second look-up can swap one in. TLS still checks
the certificate against the host name."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError


class NotPublic(OSError):
    """The host does not resolve, or resolves to an address that is not public."""


def public_addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (in the resolver's order), when each is public:
    not loopback, private, link-local, shared, reserved...; else NotPublic saying which."""
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as exc:
        raise NotPublic(f"The endpoint's host name does not resolve: {exc}") from None
    addresses: list[str] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global:
            raise NotPublic(f"Refused: {host} resolves to {address}, a local or private address "
                            "(allowed only in development).")
        addresses.append(str(sockaddr[0]))
    return list(dict.fromkeys(addresses))


def _connect_public(connection: HTTPConnection, connect: Callable[[], socket.socket]) -> socket.socket:
    """Open ``connection``'s socket to a checked address of its host (each in turn)."""
    host = connection._dns_host
    try:
        addresses = public_addresses(host, connection.port)
    except NotPublic as exc:
        raise NewConnectionError(connection, str(exc)) from exc
    error: Exception | None = None
    for address in addresses:
        connection._dns_host = address  # the socket's peer; TLS still verifies the name (connection.host)
        try:
            return connect()
        except ConnectTimeoutError as exc:  # refused or timed out (NewConnectionError is one): the next address
            error = exc
        finally:
            connection._dns_host = host
    assert error is not None
    raise error


class PublicHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_public(self, super()._new_conn)


class PublicHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_public(self, super()._new_conn)


class PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = PublicHTTPConnection


class PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": PublicHTTPPool, "https": PublicHTTPSPool}


def guard(http: requests.Session) -> None:
    """Let ``http`` connect to public addresses only."""
    adapter = PublicOnlyAdapter()
    http.mount("http://", adapter)
    http.mount("https://", adapter)
