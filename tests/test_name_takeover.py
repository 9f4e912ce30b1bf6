"""A name belongs to the live service holding it: no second service or stack takes it over."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from Pyro5.api import Proxy
from Pyro5.errors import NamingError

from clients import ChallengePeriodManager
from services import ChallengePeriodManagerServer
from services.shells.hosting import ServiceHost
from services.shells.registration import (
    NameRegistration,
    NameTakenError,
    ServiceInfo,
    describe_holder,
)
from tests.hosting import embedded_nameserver, hosted_challengeperiod
from tests.processes import (
    Proc,
    command,
    free_port,
    start_cpm_server,
    start_nameserver,
    start_stack,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

NAME = "ChallengePeriodManagerServer"
CPM = "services.challengeperiod_manager_server"


def _lookup(ns_port: int) -> str:
    with Proxy(f"PYRO:Pyro.NameServer@127.0.0.1:{ns_port}") as ns:
        return str(ns.lookup(NAME))


def _lookup_or_none(ns_port: int) -> str | None:
    try:
        return _lookup(ns_port)
    except NamingError:
        return None


def _register(ns_port: int, uri: str) -> None:
    with Proxy(f"PYRO:Pyro.NameServer@127.0.0.1:{ns_port}") as ns:
        ns.register(NAME, uri)


def test_a_second_server_on_a_held_name_exits_1_naming_the_holder(tmp_path: Path) -> None:
    ns_port = free_port()
    ns = start_nameserver(ns_port)
    first = start_cpm_server(ns_port, tmp_path / "a")
    second: Proc | None = None
    try:
        held = _lookup(ns_port)
        second = Proc(command(CPM, ns_port, tmp_path / "b"))
        assert second.popen.wait(timeout=30) == 1
        lines = second.errors().strip().splitlines()
        assert len(lines) == 1, lines
        assert f"pid {first.pid}" in lines[0]
        assert str((tmp_path / "a").resolve()) in lines[0]
        assert held.split("@")[1] in lines[0]
        assert "--ns-port" in lines[0] and "CPM_NS_PORT" in lines[0]
        assert _lookup(ns_port) == held
        assert first.alive()
    finally:
        if second is not None:
            second.close()
        first.close()
        ns.close()


def test_a_registration_whose_service_is_gone_is_replaced(tmp_path: Path) -> None:
    ns_port = free_port()
    ns = start_nameserver(ns_port)
    dead = f"PYRO:{NAME}@127.0.0.1:{free_port()}"
    _register(ns_port, dead)
    server = start_cpm_server(ns_port, tmp_path / "a")
    try:
        wait_until(lambda: _lookup(ns_port) != dead, 10, "the stale name to be replaced")
        with ChallengePeriodManager(ns_port=ns_port) as cpm:
            assert cpm.health_check()["pid"] == server.pid
    finally:
        server.close()
        ns.close()


def test_a_running_server_does_not_fight_for_its_name(tmp_path: Path) -> None:
    ns_a, ns_b = free_port(), free_port()
    ns = start_nameserver(ns_a)
    other_ns = start_nameserver(ns_b)
    mine = start_cpm_server(ns_a, tmp_path / "a")
    other = start_cpm_server(ns_b, tmp_path / "b")
    try:
        other_uri = _lookup(ns_b)
        _register(ns_a, other_uri)  # another live instance takes the name
        wait_until(lambda: "leaving it to that service" in mine.errors(), 10, "the warning")
        time.sleep(2.5)  # a few registration checks later: still not taken back
        assert _lookup(ns_a) == other_uri
        assert mine.errors().count("leaving it to that service") == 1
        other.kill()
        # The stale entry is removed before the name is registered again: in between, a
        # lookup finds no name at all.
        wait_until(
            lambda: _lookup_or_none(ns_a) not in (None, other_uri),
            10,
            "the name back once it is gone",
        )
        with ChallengePeriodManager(ns_port=ns_a) as cpm:
            assert cpm.health_check()["pid"] == mine.pid
    finally:
        other.close()
        mine.close()
        other_ns.close()
        ns.close()


def test_a_second_stack_on_one_name_server_fails_and_leaves_the_first_alone(
    tmp_path: Path,
) -> None:
    ns_port = free_port()
    first = start_stack(ns_port, tmp_path / "real")
    try:
        second = Proc(command("tools.stack", ns_port, tmp_path / "demo", "--demo", "--no-view"))
        try:
            assert second.popen.wait(timeout=30) == 1
            assert "already registered" in second.errors()
            assert "--ns-port" in second.errors()
            assert "Ctrl-C stops everything" not in second.output()
        finally:
            second.close()
        assert first.alive()
        with ChallengePeriodManager(ns_port=ns_port) as cpm:
            assert cpm.get_all_miner_hotkeys() == []
            assert str((tmp_path / "real").resolve()) == cpm.health_check()["state_dir"]
        assert first.terminate(timeout_s=30) == 0
    finally:
        first.close()


def test_with_auth_the_refusal_still_names_the_holders_pid(tmp_path: Path) -> None:
    env = {"CPM_AUTH_TOKEN": "one-deployment"}
    ns_port = free_port()
    ns = start_nameserver(ns_port, env=env)
    first = start_cpm_server(ns_port, tmp_path / "a", env=env)
    try:
        second = Proc(command(CPM, ns_port, tmp_path / "b"), env=env)
        try:
            assert second.popen.wait(timeout=30) == 1
            assert f"pid {first.pid}" in second.errors()
        finally:
            second.close()
        assert first.alive()
    finally:
        first.close()
        ns.close()


def test_describe_holder_tells_a_live_service_from_a_gone_one(tmp_path: Path) -> None:
    with embedded_nameserver() as ns, hosted_challengeperiod(tmp_path, ns) as host:
        described = describe_holder(host.uri)
        assert described is not None and f"pid {os.getpid()}" in described
        assert str(tmp_path.resolve()) in described
        assert describe_holder(f"PYRO:{NAME}@127.0.0.1:{free_port()}") is None  # closed port
        other = host.uri.replace(NAME, "SomethingElse")  # a daemon that no longer has it
        assert describe_holder(other) is None
        with (
            pytest.raises(NameTakenError, match=f"pid {os.getpid()}"),
            hosted_challengeperiod(tmp_path / "second", ns),
        ):
            pass


@pytest.mark.parametrize("found", ["free", "stale"])
def test_two_services_starting_at_the_same_instant_leave_one_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, found: str
) -> None:
    """Both look the name up before either registers (forced by a barrier): only one may
    serve under it; the other refuses to start, naming it."""
    barrier = threading.Barrier(2, timeout=10)
    first_lookup: set[int] = set()
    real_lookup = NameRegistration._lookup

    def racing_lookup(self: NameRegistration, ns: Proxy) -> str | None:
        current = real_lookup(self, ns)
        if id(self) not in first_lookup:
            first_lookup.add(id(self))
            barrier.wait()  # the other service has looked too, and found the same
        return current

    monkeypatch.setattr(NameRegistration, "_lookup", racing_lookup)
    servers = [ChallengePeriodManagerServer(tmp_path / side) for side in "ab"]
    with embedded_nameserver() as ns:
        if found == "stale":
            _register(ns.port, f"PYRO:{NAME}@127.0.0.1:{free_port()}")
        hosts = [
            ServiceHost(
                s, ServiceInfo(NAME, frozenset({"cpm"})), host="127.0.0.1", port=0, ns_address=ns
            )
            for s in servers
        ]
        refused: list[str] = []
        started: list[ServiceHost] = []

        def start(host: ServiceHost) -> None:
            try:
                host.start()
                started.append(host)
            except NameTakenError as exc:
                refused.append(str(exc))

        threads = [threading.Thread(target=start, args=(h,)) for h in hosts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        try:
            assert len(started) == 1 and len(refused) == 1, (started, refused)
            assert _lookup(ns.port) == started[0].uri
            assert started[0].location in refused[0]
        finally:
            for host in started:
                host.stop()
            for server in servers:
                server.close()
