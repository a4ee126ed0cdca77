"""What every HTTP fetch of veille obeys: which addresses it may reach, and how much a body may inflate to.

Addresses (issue 15, SSRF). A hostile feed must not make veille fetch the cloud's metadata service or an
intranet page by redirecting there. The rule, checked on the address a connection really goes to (after DNS
resolution, on every redirect hop):

- link-local and cloud metadata addresses are always refused;
- other internal addresses (private, loopback, shared, reserved, unspecified, multicast) are refused, except the
  addresses of the configured source's own host (a demo or intranet source keeps working, but a redirect from it
  to ANOTHER internal address is refused), or everywhere when `collect.allow_private: true`;
- numeric forms (`2130706434`, `0x7f.1`, `017700000001`, `::ffff:127.0.0.1`) are read as the address they
  stand for before the check.

Bodies (decompression bombs). Only `gzip` and `deflate` are asked for; a body in any other coding (`br`, `zstd`,
stacked `gzip, gzip`) is refused rather than decoded. Decoding is done here with zlib, in a stream, and stops as
soon as the DECODED size passes the cap: a 6 KB body can no longer inflate to gigabytes in one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from watch.i18n import tx

ACCEPT_ENCODING = "gzip, deflate"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Link-local ranges hold the metadata services of AWS, GCP, Azure and OpenStack (169.254.169.254); the others are
# metadata or host services outside them (Alibaba, AWS over IPv6, Azure's wire server).
ALWAYS_REFUSED = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128", "168.63.129.16/32"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)
_CHUNK = 65536  # decoded bytes produced per zlib call


class AddressRefused(Exception):
    """A fetch would reach an address the policy refuses."""


class BodyRefused(Exception):
    """A body that is not read: in a coding veille did not ask for, over the size cap once decoded, or corrupt."""

    def __init__(self, message: str, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


# -- addresses ------------------------------------------------------------------------------------------------


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host stands for when it is written as one, in any form inet_aton reads, else None."""
    host = host.strip("[]").rstrip(".")
    try:
        return _unwrap(ipaddress.ip_address(host.split("%")[0]))
    except ValueError:
        pass
    if _NUMERIC.match(host):  # 2130706434, 0x7f.1, 017700000001, 127.1: what the C resolver would connect to
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _unwrap(address: IPAddress) -> IPAddress:
    """An IPv4 address carried inside IPv6 (mapped, 6to4, NAT64) is checked as that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.sixtofour:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_internal(address: IPAddress) -> bool:
    return not address.is_global or address.is_multicast


class AddressPolicy:
    """The addresses one source's fetches may reach: see the module's docstring for the rule.

    `home` is the configured URL (or the URL given on the command line); its host's own addresses are allowed even
    when internal. They are resolved on first need and kept for the policy's life (one collection run).
    """

    def __init__(self, home: str | Iterable[str] = (), allow_private: bool = False):
        homes = [home] if isinstance(home, str) else list(home)
        self.home_hosts = {(urlsplit(url).hostname or "").lower() for url in homes} - {""}
        self.allow_private = allow_private
        self._home_addresses: set[IPAddress] | None = None

    def refusal(self, host: str, address: IPAddress, home_addresses: set[IPAddress]) -> str | None:
        """Why `host` at `address` must not be reached, or None."""
        address = _unwrap(address)
        if any(address in network for network in ALWAYS_REFUSED):
            return tx("{host} ({address}) is a link-local or cloud metadata address: always refused", host=host, address=address)
        if not is_internal(address) or self.allow_private or address in home_addresses:
            return None
        return tx("{host} ({address}) is an internal (private, loopback or reserved) address that is not the "
                 "source's own: refused; `collect.allow_private: true` in sources.yaml allows it if that network "
                 "is trusted", host=host, address=address)

    def needs_resolution(self) -> bool:
        return self._home_addresses is None

    def home_addresses(self) -> set[IPAddress]:
        if self._home_addresses is None:
            found: set[IPAddress] = set()
            for host in self.home_hosts:
                found.update(resolve(host))
            self._home_addresses = found
        return self._home_addresses

    def check(self, host: str, addresses: list[IPAddress]) -> list[IPAddress]:
        """The addresses of `host` that may be reached; AddressRefused when there is none."""
        if not addresses:
            return addresses  # the caller fails with the resolver's message
        homes = self.home_addresses() if host.lower() not in self.home_hosts else set(addresses)
        reasons = [self.refusal(host, a, homes) for a in addresses]
        allowed = [a for a, reason in zip(addresses, reasons) if reason is None]
        if not allowed:
            raise AddressRefused(next(r for r in reasons if r))
        return allowed

    def check_url(self, url: str) -> None:
        """Check a URL's host by resolving it now (for fetchers that resolve on their own, such as Scrapy)."""
        host = urlsplit(url).hostname or ""
        if host:
            self.check(host, resolve(host))


def resolve(host: str, port: int = 0) -> list[IPAddress]:
    """Addresses of `host`, literal forms read directly; [] when it does not resolve."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port or None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return list(dict.fromkeys(_unwrap(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving names itself and connecting only to addresses the policy allows:
    the address checked is the address connected to, so a name that changes its answer between the two (DNS
    rebinding) gains nothing."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        literal = literal_address(host)
        addresses = [literal] if literal is not None else await loop.run_in_executor(None, resolve, host, port)
        if host.lower() not in self.policy.home_hosts and self.policy.needs_resolution():
            await loop.run_in_executor(None, self.policy.home_addresses)  # the resolver blocks: not on the loop
        error: Exception = httpcore.ConnectError(_unresolved(host))
        for address in self.policy.check(host, addresses):
            try:
                return await self.inner.connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise AddressRefused(tx("Unix socket refused"))

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _unresolved(host: str) -> str:
    return tx("the name {host} does not resolve (DNS)", host=host)


def client_options(policy: AddressPolicy, limits: httpx.Limits, verify: ssl.SSLContext) -> dict[str, Any]:
    """Keyword arguments of an httpx client whose every connection goes through the policy.

    Behind an HTTP proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), the proxy resolves and connects: the client is left
    as httpx makes it, so that it still uses the proxy (httpx ignores them once given a transport).
    """
    if any(urllib.request.getproxies().get(scheme) for scheme in ("http", "https", "all")):
        return {"verify": verify}
    options = {"ssl_context": verify, "max_connections": limits.max_connections,
               "max_keepalive_connections": limits.max_keepalive_connections, "keepalive_expiry": limits.keepalive_expiry}
    # httpx takes no network backend, its connection pool does: the transport is httpx's, with its pool replaced.
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(**options, network_backend=_GuardedBackend(policy))
    return {"transport": transport}


# -- redirects ------------------------------------------------------------------------------------------------
# Followed here, not by httpx: httpx reads a redirect's whole body through its own decoders (brotli included),
# so a 302 carrying a bomb would inflate before any check of ours could run.

DRAIN = 65536  # bytes of a redirect's or an error's body read (raw) before the connection is given up


@contextlib.asynccontextmanager
async def open_stream(client: httpx.AsyncClient, url: str, headers: dict[str, str], max_redirects: int
                      ) -> AsyncIterator[httpx.Response]:
    """The streamed response at the end of `url`'s redirects (at most `max_redirects`), closed on exit."""
    request = client.build_request("GET", url, headers=headers)
    history: list[httpx.Response] = []
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        if response.next_request is None:
            break
        history.append(response)
        await drain(response)
        if len(history) > max_redirects:
            raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)
        request = response.next_request
    response.history = history
    try:
        yield response
    finally:
        await response.aclose()


async def drain(response: httpx.Response) -> None:
    """Read a little of a body nobody needs, undecoded (a short one lets httpx keep the connection), then close."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > DRAIN:
            break
    await response.aclose()


# -- bodies ---------------------------------------------------------------------------------------------------


class BodyDecoder:
    """Decode a body as it arrives, raising BodyRefused as soon as the decoded size passes `limit`."""

    def __init__(self, content_encoding: str, limit: int):
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() not in ("", "identity")]
        if len(codings) > 1:
            raise BodyRefused(tx("response in stacked codings ({content_encoding}), never asked for: refused", content_encoding=content_encoding))
        self.coding = codings[0] if codings else ""
        if self.coding not in ("", "gzip", "x-gzip", "deflate"):
            raise BodyRefused(tx("response in coding {coding!r}, not asked for (only gzip and deflate are): refused", coding=self.coding))
        self.limit = limit
        self.size = 0
        self._started = False
        self._zlib = self._decompressor()

    def _decompressor(self) -> Any:
        if self.coding == "deflate":
            return zlib.decompressobj()  # zlib-wrapped, as RFC 9110 says; raw deflate is tried on the first error
        return zlib.decompressobj(16 + zlib.MAX_WBITS) if self.coding else None

    def feed(self, raw: bytes) -> bytes:
        if self._zlib is None:
            self._count(len(raw))
            return raw
        out = []
        data = raw
        while data:
            if self._zlib.eof:
                if self.coding == "deflate" or not data.startswith(b"\x1f\x8b"):
                    break  # what follows the end of the stream is not part of the body (httpx and browsers agree)
                self._zlib = self._decompressor()  # a gzip body may hold several members, one after the other
            try:
                piece = self._zlib.decompress(data, _CHUNK)
            except zlib.error as exc:
                if self.coding == "deflate" and not self._started:
                    self._started = True
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send it
                    continue
                raise BodyRefused(tx("unreadable compressed body ({coding}): {exc}", coding=self.coding, exc=exc)) from None
            self._started = True
            self._count(len(piece))
            out.append(piece)
            data = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail
        return b"".join(out)

    def _count(self, produced: int) -> None:
        self.size += produced
        if self.size > self.limit:
            raise BodyRefused(too_large=True, message=tx("response too large (over {limit} bytes once decoded): "
                                                        "dropped; raise collect.max_bytes if the source is "
                                                        "trusted", limit=self.limit))


async def read_body(response: httpx.Response, limit: int) -> bytes:
    """The decoded body of a streamed response, at most `limit` bytes once decoded (BodyRefused otherwise)."""
    decoder = BodyDecoder(response.headers.get("content-encoding", ""), limit)
    chunks = [decoder.feed(raw) async for raw in response.aiter_raw()]
    return b"".join(chunks)

