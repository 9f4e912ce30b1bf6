"""A service's name in the name server: registered, kept registered, removed at the end.

The registration is kept by a small thread that checks about once a second that the name
still points at this daemon and registers it again when it does not (a name server that
started late, restarted, or lost its memory). Outages and recoveries are logged once each.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import Pyro5.errors
from Pyro5.api import Proxy

from services.wire.naming import NameServerAddress

log = logging.getLogger("services.shells.hosting")

REGISTRATION_CHECK_S = 1.0


@dataclass(frozen=True)
class ServiceInfo:
    """What a service registers: its name and the metadata describing it."""

    name: str
    metadata: frozenset[str]


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

    def start(self) -> None:
        """Register now if the name server answers, and keep the registration alive."""
        self._check_logging_outage()
        self._thread.start()

    def _check_logging_outage(self) -> None:
        try:
            self._check_once()
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

    def _check_once(self) -> None:
        with self._ns_proxy() as ns:
            try:
                current = str(ns.lookup(self.info.name))
            except Pyro5.errors.NamingError:
                current = None
            if current != self.uri:
                ns.register(self.info.name, self.uri, metadata=set(self.info.metadata))
                log.info(
                    "registered %s as %s in name server %s:%d",
                    self.uri,
                    self.info.name,
                    self.address.host,
                    self.address.port,
                )
                if current is not None:
                    log.warning("replaced a stale registration of %s (%s)", self.info.name, current)
            elif self._outage_logged:
                log.info("name server %s:%d answers again", self.address.host, self.address.port)
        self._outage_logged = False
        self.registered.set()

    def stop(self) -> None:
        """Stop checking and remove the name, if it still points at this service."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            with self._ns_proxy() as ns:
                if str(ns.lookup(self.info.name)) == self.uri:
                    ns.remove(self.info.name)
                    log.info("unregistered %s", self.info.name)
        except (Pyro5.errors.CommunicationError, Pyro5.errors.NamingError):
            pass
