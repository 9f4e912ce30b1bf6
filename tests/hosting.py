"""Services hosted in this process, for tests of the network path that need no subprocess.

Like Pyro5's own tests: a real name server and a real daemon, each on port 0 (so no
free-port race) in a thread, stopped in teardown. Subprocesses stay for what only a
process shows: commands, exit codes, signals and kills.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clients import ChallengePeriodManager, EliminationManager
from nameserver import EmbeddedNameServer
from services import ChallengePeriodManagerServer, EliminationManagerServer
from services.domain.config import VANTA_2025_12, RulesConfig
from services.shells.hosting import ServiceHost
from services.shells.registration import ServiceInfo
from services.wire.names import CHALLENGEPERIOD_SERVICE, ELIMINATION_SERVICE
from services.wire.naming import NameServerAddress

READY_TIMEOUT_S = 10.0


@contextmanager
def hosted(obj: object, name: str, ns: NameServerAddress) -> Iterator[ServiceHost]:
    """Serve ``obj`` under ``name`` on 127.0.0.1, port 0, until the block ends."""
    host = ServiceHost(
        obj, ServiceInfo(name, frozenset({"cpm"})), host="127.0.0.1", port=0, ns_address=ns
    )
    host.start()
    try:
        if not host.registration.registered.wait(READY_TIMEOUT_S):
            raise TimeoutError(f"{name} did not register within {READY_TIMEOUT_S} s")
        yield host
    finally:
        host.stop()


@contextmanager
def hosted_challengeperiod(
    state_dir: Path, ns: NameServerAddress, rules: RulesConfig = VANTA_2025_12
) -> Iterator[ServiceHost]:
    """A ChallengePeriodManagerServer on its own state dir, registered in ``ns``."""
    server = ChallengePeriodManagerServer(state_dir, rules=rules)
    try:
        with hosted(server, CHALLENGEPERIOD_SERVICE, ns) as host:
            yield host
    finally:
        server.close()


@contextmanager
def hosted_elimination(
    state_dir: Path, ns: NameServerAddress, peer: ChallengePeriodManager | None = None
) -> Iterator[ServiceHost]:
    """An EliminationManagerServer on its own state dir, registered in ``ns``, with
    ``peer`` (a client of the challenge-period service) as a launcher would wire it."""
    server = EliminationManagerServer(state_dir, reasons_source=peer)
    try:
        with hosted(server, ELIMINATION_SERVICE, ns) as host:
            yield host
    finally:
        server.close()


@contextmanager
def embedded_nameserver() -> Iterator[NameServerAddress]:
    """A real Pyro5 name server on 127.0.0.1, port 0, in a thread."""
    with EmbeddedNameServer("127.0.0.1", 0) as ns:
        yield ns.address


@contextmanager
def client_of(mode: str, rules: RulesConfig, state_dir: Path) -> Iterator[ChallengePeriodManager]:
    """A client of a service under ``rules``: in direct mode, or over TCP to one in a thread."""
    if mode == "direct":
        with ChallengePeriodManager(
            running_unit_tests=True, state_dir=state_dir, ruleset=rules.name
        ) as client:
            yield client
        return
    with (
        embedded_nameserver() as ns,
        hosted_challengeperiod(state_dir, ns, rules),
        ChallengePeriodManager(ns_host=ns.host, ns_port=ns.port, timeout_s=5.0) as client,
    ):
        yield client


@contextmanager
def pair_of(
    mode: str, rules: RulesConfig, state_dir: Path
) -> Iterator[tuple[ChallengePeriodManager, EliminationManager]]:
    """Both clients, paired: in direct mode, or over TCP to both services in threads."""
    if mode == "direct":
        with (
            ChallengePeriodManager(
                running_unit_tests=True, state_dir=state_dir / "cp", ruleset=rules.name
            ) as cpm,
            EliminationManager(
                running_unit_tests=True, state_dir=state_dir / "em", challengeperiod_manager=cpm
            ) as em,
        ):
            yield cpm, em
        return
    with (
        embedded_nameserver() as ns,
        hosted_challengeperiod(state_dir / "cp", ns, rules),
        ChallengePeriodManager(ns_host=ns.host, ns_port=ns.port, timeout_s=5.0) as peer,
        hosted_elimination(state_dir / "em", ns, peer),
        ChallengePeriodManager(ns_host=ns.host, ns_port=ns.port, timeout_s=5.0) as cpm,
        EliminationManager(ns_host=ns.host, ns_port=ns.port, timeout_s=5.0) as em,
    ):
        yield cpm, em


def unknown_method(service: str, method: str) -> AttributeError:
    """The error Pyro5's daemon raises for a call the service lacks: what an older
    service answers to a call added since."""
    return AttributeError(
        f"remote object 'PYRO:{service}@127.0.0.1:1' has no exposed attribute or method {method!r}"
    )
