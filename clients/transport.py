"""How a client reaches a service: in-process (direct mode) or over Pyro5, found by name.

``RemoteTransport`` keeps one Pyro5 proxy per thread (a proxy belongs to the thread that
made it) and translates Pyro5's errors into the project's exception tree. Retry policy:
when a connection cannot be made, the name is looked up again and the call is tried once
more, because nothing was sent. When a connection breaks during a call, only read-only
calls are repeated: a mutating call might already have been applied, and repeating
``pop_elimination_reasons`` or ``set_miner_bucket`` blindly could lose or misreport data, so
the caller gets a ``ServiceUnavailableError`` saying the outcome is unknown.
"""

from __future__ import annotations

import functools
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import Pyro5.errors
from Pyro5.api import Proxy

from services.domain.errors import (
    AuthenticationError,
    ServiceNotRegisteredError,
    ServiceUnavailableError,
)
from services.wire import session
from services.wire.auth import client_hello
from services.wire.busy_poll import buffered
from services.wire.errors import from_wire_error
from services.wire.names import WIRE_SERIALIZER
from services.wire.naming import NameServerAddress, connect_nameserver
from services.wire.session import authenticating_proxy_class

# Below this much time left, a call does not start another attempt.
MIN_ATTEMPT_S = 0.05


class Transport(Protocol):
    """Calls ``method(*args)`` on a service; clients can be given one (see MockTransport)."""

    def call(self, method: str, *args: Any) -> Any:
        """One call; raises the project's errors."""

    def close(self) -> None:
        """Release connections."""


class ServiceStub:
    """``stub.has_miner_rpc(x)`` is ``transport.call("has_miner_rpc", x)``.

    Clients hold it typed as the service's API protocol (``services.wire.api``), so every
    call names its server method in the source, where a reader and mypy can follow it.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if not method.endswith("_rpc"):
            raise AttributeError(method)
        bound = functools.partial(self._transport.call, method)
        setattr(self, method, bound)  # found without __getattr__ from the next call on
        return bound


class MockTransport:
    """A transport that hands every call to ``handler(method, args)``: no server, no socket.

    For tests of a client's own work (argument checks, encoding, decoding, error
    translation), like httpx's ``MockTransport``.
    """

    def __init__(self, handler: Callable[[str, tuple[Any, ...]], Any]) -> None:
        self.handler = handler
        self.closed = False

    def call(self, method: str, *args: Any) -> Any:
        """Pass the call to the handler; errors come back translated, as over the wire."""
        try:
            return self.handler(method, args)
        except Exception as exc:
            raise from_wire_error(exc) from exc

    def close(self) -> None:
        """Note that the client closed it."""
        self.closed = True


def _release_from_any_thread(proxy: Proxy) -> None:
    """Close a proxy's connection, whichever thread made it."""
    proxy._pyroClaimOwnership()
    proxy._pyroRelease()


def _connection_closed_by_peer(proxy: Proxy) -> bool:
    """True when the peer has closed the proxy's socket (checked without blocking)."""
    conn = proxy._pyroConnection
    if conn is None:
        return True
    # Between calls nothing may arrive on a live connection, so a readable socket means the
    # peer closed it (or reset it). A poll with zero timeout never waits; a plain recv on a
    # socket with a timeout would wait for that timeout.
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


def _restore_timeout(proxy: Proxy, timeout_s: float) -> None:
    """Give the proxy its own timeout back after a call that connected it with less; a
    proxy that has it already is left alone (setting it costs a system call)."""
    if proxy._pyroTimeout != timeout_s:
        proxy._pyroTimeout = timeout_s


class DirectTransport:
    """Calls the server object in this process: no network, no threads."""

    def __init__(self, server: Any, on_close: Callable[[], None]) -> None:
        self.server = server
        self._on_close = on_close

    def call(self, method: str, *args: Any) -> Any:
        """Call ``method`` on the server object."""
        try:
            return getattr(self.server, method)(*args)
        except Exception as exc:
            raise from_wire_error(exc) from exc

    def close(self) -> None:
        """Close the server object (folds its journal into the files)."""
        self._on_close()


class RemoteTransport:
    """Calls a named service through Pyro5, one proxy per thread."""

    def __init__(
        self,
        service_name: str,
        ns: NameServerAddress,
        *,
        timeout_s: float,
        read_only: frozenset[str],
        auth_token: str | None = None,
        busy_poll_us: int = 0,
    ) -> None:
        self.service_name = service_name
        # How long a call polls for its reply before it blocks (services.wire.busy_poll).
        self.busy_poll_us = busy_poll_us
        self.ns = ns
        self.timeout_s = timeout_s
        self.read_only = read_only
        self._auth_token = auth_token or None
        self._proxy_class = (
            Proxy if self._auth_token is None else authenticating_proxy_class(self._auth_token)
        )
        self._uri: str | None = None
        self._uri_lock = threading.Lock()
        self._local = threading.local()
        # Every proxy made, with its thread, so close() can release them all and proxies of
        # threads that ended are released instead of holding a service worker each.
        self._proxies: list[tuple[threading.Thread, Proxy]] = []
        self._closed = False

    def resolve(self, timeout_s: float | None = None) -> str:
        """Look the service up by name; raises ServiceUnavailableError naming what was tried."""
        ns = connect_nameserver(self.ns, timeout_s=timeout_s or self.timeout_s)
        try:
            uri = str(ns.lookup(self.service_name))
        except Pyro5.errors.NamingError:
            raise ServiceNotRegisteredError(
                f"no service named {self.service_name} in the name server at "
                f"{self.ns.host}:{self.ns.port}"
            ) from None
        except Pyro5.errors.CommunicationError as exc:
            raise ServiceUnavailableError(
                f"name server at {self.ns.host}:{self.ns.port} failed during lookup: {exc}"
            ) from exc
        finally:
            ns._pyroRelease()
        with self._uri_lock:
            self._uri = uri
        return uri

    def _remaining(self, deadline: float) -> float:
        """Seconds left of a call's ``timeout_s``; none left is ServiceUnavailableError."""
        left = deadline - time.monotonic()
        if left <= MIN_ATTEMPT_S:
            raise ServiceUnavailableError(
                f"{self.service_name} did not answer within {self.timeout_s:g} s "
                f"(name server {self.ns.host}:{self.ns.port})"
            )
        return left

    def _connect(self, fresh_lookup: bool, deadline: float) -> Proxy:
        uri = self._uri
        if uri is None or fresh_lookup:
            uri = self.resolve(self._remaining(deadline))
        proxy = self._proxy_class(uri)
        # msgpack: Pyro5's own serializer over a maintained C codec (see WIRE_SERIALIZER).
        proxy._pyroSerializer = WIRE_SERIALIZER
        # Connecting and the call that follows share what is left of this call's timeout;
        # call() puts the proxy's own timeout back for the calls after it.
        proxy._pyroTimeout = self._remaining(deadline)
        if self._auth_token is not None:
            proxy._pyroHandshake = client_hello(self._auth_token, self.service_name)
        try:
            proxy._pyroBind()
        except AuthenticationError:
            proxy._pyroRelease()
            raise
        except Pyro5.errors.CommunicationError as exc:
            proxy._pyroRelease()
            if "authentication" in str(exc):
                reason = str(exc).rsplit("rejected: ", 1)[-1]
                raise AuthenticationError(
                    f"{self.service_name} at {uri} refused this client: {reason} "
                    "(check CPM_AUTH_TOKEN)"
                ) from None
            raise ServiceUnavailableError(
                f"{self.service_name} at {uri} (found in name server "
                f"{self.ns.host}:{self.ns.port}) does not answer: {exc}"
            ) from None
        conn = proxy._pyroConnection
        if conn is not None:
            # Pyro5 sets TCP_NODELAY from its global config; a client library must not
            # change that, so it sets the option on its own sockets.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffered(conn, self.busy_poll_us)
        with self._uri_lock:
            ended = [p for thread, p in self._proxies if not thread.is_alive()]
            self._proxies = [(t, p) for t, p in self._proxies if t.is_alive()]
            self._proxies.append((threading.current_thread(), proxy))
        for orphan in ended:
            _release_from_any_thread(orphan)
        self._local.proxy = proxy
        return proxy

    def _proxy(self, deadline: float) -> Proxy:
        if self._closed:
            raise ServiceUnavailableError(f"client of {self.service_name} is closed")
        proxy: Proxy | None = getattr(self._local, "proxy", None)
        if proxy is not None:
            if not _connection_closed_by_peer(proxy):
                return proxy
            # The service closed this connection (it restarted, or dropped an idle
            # client); nothing was sent on it, so any call may safely go on a new one.
            self._drop(proxy)
        if self._uri is None:
            return self._connect(fresh_lookup=True, deadline=deadline)
        try:
            return self._connect(fresh_lookup=False, deadline=deadline)
        except ServiceUnavailableError:
            # The service may have restarted on another port: look the name up again.
            return self._connect(fresh_lookup=True, deadline=deadline)

    def _drop(self, proxy: Proxy) -> None:
        self._local.proxy = None
        with self._uri_lock:
            self._proxies = [(t, p) for t, p in self._proxies if p is not proxy]
        proxy._pyroRelease()

    def call(self, method: str, *args: Any) -> Any:
        """One call, within ``timeout_s`` in all; a broken connection is retried only for
        read-only methods, in what is left of that time."""
        deadline = time.monotonic() + self.timeout_s
        proxy = self._proxy(deadline)
        try:
            return session.call(proxy, method, args)
        except AuthenticationError:
            self._drop(proxy)  # a reply that is not authentic: this connection is not ours
            raise
        except Pyro5.errors.CommunicationError as exc:
            self._drop(proxy)
            if method not in self.read_only:
                raise ServiceUnavailableError(
                    f"connection to {self.service_name} broke during {method}; "
                    f"it may or may not have been applied: {exc}"
                ) from exc
        except Exception as exc:
            raise from_wire_error(exc) from exc
        finally:
            _restore_timeout(proxy, self.timeout_s)
        proxy = self._connect(fresh_lookup=True, deadline=deadline)
        try:
            return session.call(proxy, method, args)
        except AuthenticationError:
            self._drop(proxy)
            raise
        except Pyro5.errors.CommunicationError as exc:
            self._drop(proxy)
            raise ServiceUnavailableError(f"{self.service_name} does not answer: {exc}") from exc
        except Exception as exc:
            raise from_wire_error(exc) from exc
        finally:
            _restore_timeout(proxy, self.timeout_s)

    def close(self) -> None:
        """Release every proxy this transport made, in any thread."""
        self._closed = True
        with self._uri_lock:
            proxies, self._proxies = self._proxies, []
        for _, proxy in proxies:
            _release_from_any_thread(proxy)
