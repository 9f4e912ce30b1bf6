"""A service's name in the name server: registered, kept registered, removed at the end.

The registration is kept by a small thread that checks about once a second that the name
still points at this daemon and registers it again when it does not (a name server that
started late, restarted, or lost its memory). A name held by another service that answers
is never taken: at start that is a ``NameTakenError``, later one warning while it lasts.
Outages and recoveries are logged once each.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import Pyro5.errors
from Pyro5.api import Proxy
from Pyro5.callcontext import current_context

from services.domain.errors import ServiceUnavailableError
from services.storage.failure_log import FailureLog
from services.wire import session
from services.wire.auth import NAME_PROOF_ANNOTATION, client_hello, name_proof
from services.wire.naming import NameServerAddress, connect_nameserver
from services.wire.session import authenticating_proxy_class

log = logging.getLogger("services.shells.hosting")

REGISTRATION_CHECK_S = 1.0
# Short: a holder that does not answer this quickly is treated as gone.
HOLDER_PING_TIMEOUT_S = 1.0
REGISTER_ATTEMPTS = 3
CONFIRM_S = 0.05


class NameTakenError(Exception):
    """The name is registered to another service that answers; this one must not start."""


def describe_holder(
    uri: str, token: str | None = None, timeout_s: float = HOLDER_PING_TIMEOUT_S
) -> str | None:
    """A one-line description of the live service at ``uri``, or None when it does not answer."""
    proxy = Proxy(uri) if not token else authenticating_proxy_class(token)(uri)
    proxy._pyroTimeout = timeout_s
    if token:
        # Our token's proof, so a holder of the same deployment tells its pid and state dir.
        proxy._pyroHandshake = client_hello(token, proxy._pyroUri.object)
    try:
        with proxy:
            proxy._pyroBind()
            health = session.call(proxy, "health_check_rpc", ())
    except Pyro5.errors.CommunicationError as exc:
        # "unknown object": another daemon took the dead service's port; the name is stale.
        if "rejected" in str(exc) and "unknown object" not in str(exc):
            # Its handshake refused ours (another auth token): it is alive all the same.
            return f"{proxy._pyroUri.location} (pid unknown, state dir unknown)"
        return None
    except Exception:  # it answered, with an error of its own: alive
        return f"{proxy._pyroUri.location} (pid unknown, state dir unknown)"
    pid = health.get("pid", "unknown") if isinstance(health, dict) else "unknown"
    state_dir = health.get("state_dir", "unknown") if isinstance(health, dict) else "unknown"
    return f"{proxy._pyroUri.location} (pid {pid}, state dir {state_dir})"


@contextlib.contextmanager
def name_change_proof(token: str | None, op: str, name: str) -> Iterator[None]:
    """Calls inside carry the token's proof for ``op`` of ``name`` (Pyro5 annotations)."""
    if token is None:
        yield
        return
    current_context.annotations = {NAME_PROOF_ANNOTATION: name_proof(token, op, name)}
    try:
        yield
    finally:
        current_context.annotations = {}


@dataclass(frozen=True)
class ServiceInfo:
    """What a service registers: its name and the metadata describing it."""

    name: str
    metadata: frozenset[str]


def taken_message(name: str, address: NameServerAddress, holder: str) -> str:
    """The one line a service (or a stack) refuses to start with."""
    return (
        f"{name} is already registered in name server {address.host}:{address.port} by a "
        f"running service at {holder}; use another name server for this one "
        "(CPM_NS_PORT / --ns-port)"
    )


def live_holder(address: NameServerAddress, name: str, token: str | None = None) -> str | None:
    """The live service registered as ``name`` (described), or None when none answers."""
    try:
        with connect_nameserver(address, timeout_s=2.0) as ns:
            uri = str(ns.lookup(name))
    except (ServiceUnavailableError, Pyro5.errors.PyroError):
        return None
    return describe_holder(uri, token)


class NameRegistration:
    """Keeps ``info.name`` registered for ``uri`` in the name server at ``address``."""

    def __init__(
        self,
        address: NameServerAddress,
        info: ServiceInfo,
        uri: str,
        *,
        check_interval_s: float = REGISTRATION_CHECK_S,
    ) -> None:
        self.address = address
        self.info = info
        self.uri = uri
        self.check_interval_s = check_interval_s
        self.registered = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"{info.name}-registration", daemon=True
        )
        self._outage_logged = False
        self._taken_by: str | None = None
        # Set by the launcher before start(): proves our token when pinging a holder, and
        # to a name server that requires it for registrations and removals.
        self.auth_token: str | None = None
        self._refusals = FailureLog(log, f"registering {info.name}")

    def start(self) -> None:
        """Register now if the name server answers, and keep the registration alive.

        Raises NameTakenError when another service that answers holds the name.
        """
        self._check_logging_outage(starting=True)
        if self.registered.is_set():
            # A service that found the name stale at the same instant may have replaced
            # ours: look once more before serving, and refuse if it is live.
            time.sleep(CONFIRM_S)
            self._check_logging_outage(starting=True)
        self._thread.start()

    def _check_logging_outage(self, *, starting: bool = False) -> None:
        try:
            self._check_once(starting=starting)
        except PermissionError as exc:
            # A name server that checks the token refused our change: wrong or no token.
            self.registered.clear()
            self._refusals.failed(exc)
        except Pyro5.errors.CommunicationError as exc:
            self.registered.clear()
            if not self._outage_logged:
                log.warning(
                    "name server %s:%d does not answer (%s); %s keeps serving and will "
                    "register when it answers",
                    self.address.host,
                    self.address.port,
                    exc,
                    self.info.name,
                )
                self._outage_logged = True

    def _ns_proxy(self) -> Proxy:
        proxy = Proxy(f"PYRO:Pyro.NameServer@{self.address.host}:{self.address.port}")
        proxy._pyroTimeout = 2.0
        return proxy

    def _run(self) -> None:
        while not self._stop.wait(self.check_interval_s):
            self._check_logging_outage()

    def _lookup(self, ns: Proxy) -> str | None:
        try:
            return str(ns.lookup(self.info.name))
        except Pyro5.errors.NamingError:
            return None

    def _check_once(self, *, starting: bool = False) -> None:
        with self._ns_proxy() as ns:
            for _ in range(REGISTER_ATTEMPTS):
                current = self._lookup(ns)
                holder = None
                if current not in (None, self.uri):
                    holder = describe_holder(str(current), self.auth_token)
                if holder is not None:
                    self._yield_to(holder, starting=starting)
                    return
                if self._taken_by is not None:
                    log.info("%s is no longer held by %s", self.info.name, self._taken_by)
                    self._taken_by = None
                if current == self.uri:
                    if self._outage_logged:
                        log.info(
                            "name server %s:%d answers again", self.address.host, self.address.port
                        )
                    break
                if self._register(ns, current):
                    break
            else:
                return  # others kept registering in between; the next check looks again
        self._outage_logged = False
        self.registered.set()

    def _register(self, ns: Proxy, stale: str | None) -> bool:
        """Take the name, found free or held by the dead ``stale``; False when another
        service registered it meanwhile (the caller looks again).

        Registration is ``safe`` (the name server refuses a name already taken), so of two
        services starting at once only one gets the name and the other finds it live.
        """
        if stale is not None:
            if self._lookup(ns) != stale:
                return False
            with name_change_proof(self.auth_token, "remove", self.info.name):
                ns.remove(self.info.name)
        try:
            with name_change_proof(self.auth_token, "register", self.info.name):
                ns.register(self.info.name, self.uri, safe=True, metadata=set(self.info.metadata))
        except Pyro5.errors.NamingError:
            return False
        self._refusals.succeeded()
        log.info(
            "registered %s as %s in name server %s:%d",
            self.uri,
            self.info.name,
            self.address.host,
            self.address.port,
        )
        if stale is not None:
            log.warning("replaced a stale registration of %s (%s)", self.info.name, stale)
        return True

    def _yield_to(self, holder: str, *, starting: bool) -> None:
        """Leave the name to the live service holding it: refuse at start, else warn once."""
        if starting:
            raise NameTakenError(taken_message(self.info.name, self.address, holder))
        self.registered.clear()
        if self._taken_by != holder:
            log.warning(
                "%s in name server %s:%d is now held by another running service at %s; "
                "leaving it to that service while it answers",
                self.info.name,
                self.address.host,
                self.address.port,
                holder,
            )
            self._taken_by = holder

    def stop(self) -> None:
        """Stop checking and remove the name, if it still points at this service."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            with self._ns_proxy() as ns:
                if str(ns.lookup(self.info.name)) == self.uri:
                    with name_change_proof(self.auth_token, "remove", self.info.name):
                        ns.remove(self.info.name)
                    log.info("unregistered %s", self.info.name)
        except (Pyro5.errors.CommunicationError, Pyro5.errors.NamingError, PermissionError):
            pass
