"""What every client shares: direct or remote mode, spawning, closing, ``with`` support."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar, cast

from clients.spawn import SpawnedService
from clients.transport import DirectTransport, RemoteTransport, ServiceStub, Transport
from services.domain.errors import (
    InvalidInputError,
    InvalidTypeError,
    RemoteError,
    ServiceNotRegisteredError,
    ServiceUnavailableError,
)
from services.wire import busy_poll
from services.wire.names import DEFAULT_NS_HOST, DEFAULT_NS_PORT
from services.wire.naming import NameServerAddress

SPAWN_TIMEOUT_S = 30.0


def lacks_call(exc: RemoteError, method: str) -> bool:
    """True when the service refused ``method`` as unknown: one from before that call (one
    side upgraded first), which the caller then asks the older way."""
    return method in str(exc)


# How long a client goes without a call the service lacked before it tries it again: the
# service may have been upgraded meanwhile.
RETRY_LACKING_CALL_S = 600.0


class LackedCalls:
    """The calls an older service refused as unknown, skipped for ``RETRY_LACKING_CALL_S``,
    so a call that carries a whole document is not sent twice each time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    def skip(self, method: str) -> bool:
        """True while ``method`` is known to be lacking."""
        until = self._until.get(method)
        return until is not None and self._clock() < until

    def lacked(self, exc: RemoteError, method: str) -> bool:
        """True, and remembered, when ``exc`` is the service refusing ``method`` as unknown
        (``lacks_call``); False for any other error, which the caller raises."""
        if not lacks_call(exc, method):
            return False
        self._until[method] = self._clock() + RETRY_LACKING_CALL_S
        return True


def client_nameserver(ns_host: str | None, ns_port: int | None) -> NameServerAddress:
    """The name server a client uses: arguments, else CPM_NS_HOST / CPM_NS_PORT, else defaults.

    Clients read these two variables (and CPM_AUTH_TOKEN) themselves, as the contract says,
    so a validator configures them the same way as the commands.
    """
    host = ns_host or os.environ.get("CPM_NS_HOST") or DEFAULT_NS_HOST
    if ns_port is None:
        raw = os.environ.get("CPM_NS_PORT")
        try:
            ns_port = int(raw) if raw else DEFAULT_NS_PORT
        except ValueError:
            raise InvalidInputError(f"CPM_NS_PORT must be a port number, got {raw!r}") from None
    if isinstance(ns_port, bool) or not isinstance(ns_port, int):
        raise InvalidTypeError(f"ns_port must be an int, got {type(ns_port).__name__}")
    if not 0 < ns_port <= 65535:
        raise InvalidInputError(f"ns_port must be 1..65535, got {ns_port}")
    return NameServerAddress(host, ns_port)


class _HasHealthCheck(Protocol):
    def health_check_rpc(self) -> dict[str, Any]: ...


API = TypeVar("API", bound=_HasHealthCheck)


class ServiceClient(Generic[API]):
    """Base of the public clients; subclasses add one method per RPC.

    ``self._service`` is the service's API protocol: the server object itself in direct
    mode, else a stub over the transport; each client method calls one of its methods.
    """

    service_name: str = ""
    server_module: str = ""
    read_only_methods: frozenset[str] = frozenset()
    spawn_args: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        running_unit_tests: bool,
        ns_host: str | None,
        ns_port: int | None,
        spawn_server: bool,
        state_dir: str | Path | None,
        timeout_s: float,
        auth_token: str | None,
        make_server: Callable[[Path], Any],
        transport: Transport | None = None,
    ) -> None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)):
            raise InvalidTypeError(f"timeout_s must be a number, got {type(timeout_s).__name__}")
        if not timeout_s > 0:
            raise InvalidInputError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self.auth_token = auth_token if auth_token is not None else os.environ.get("CPM_AUTH_TOKEN")
        self._spawned: SpawnedService | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._transport: Transport
        if transport is not None:
            self._use(transport)
            return
        if running_unit_tests:
            if state_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="cpm-direct-")
                state_dir = self._tmp.name
            server = make_server(Path(state_dir))
            self._use(DirectTransport(server, server.close))
            return
        self.ns = client_nameserver(ns_host, ns_port)
        self._remote = RemoteTransport(
            self.service_name,
            self.ns,
            timeout_s=self.timeout_s,
            read_only=self.read_only_methods,
            auth_token=self.auth_token,
            busy_poll_us=busy_poll.budget_from_environment(),
        )
        self._use(self._remote)
        if spawn_server:
            self._spawn_if_missing(None if state_dir is None else Path(state_dir))

    def _spawn_if_missing(self, state_dir: Path | None) -> None:
        try:
            self._remote.resolve()
            return
        except ServiceNotRegisteredError:
            pass
        self._spawned = SpawnedService(self.server_module, self.ns, state_dir, self.spawn_args)
        self._spawned.wait_ready(self._is_ready, SPAWN_TIMEOUT_S)

    def _is_ready(self) -> bool:
        try:
            self._remote.resolve()
            return self.health_check().get("status") == "ok"
        except ServiceUnavailableError:
            return False

    def _use(self, transport: Transport) -> None:
        self._transport = transport
        self._service: API = cast(API, ServiceStub(transport))

    def service_uri(self) -> str:
        """The URI the name server gives for the service now; "in-process" in direct mode."""
        if self.direct_server is not None:
            return "in-process"
        return self._remote.resolve()

    def health_check(self) -> dict[str, Any]:
        """Status and counts of the service; ``status`` is "ok" when it is ready."""
        return self._service.health_check_rpc()

    @property
    def direct_server(self) -> Any:
        """The in-process server object in direct mode (None otherwise)."""
        return getattr(self._transport, "server", None)

    def close(self) -> None:
        """Release connections; stop a server this client spawned; close a direct server."""
        with contextlib.suppress(Exception):
            self._transport.close()
        if self._spawned is not None:
            self._spawned.stop()
            self._spawned = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ServiceClient[API]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
