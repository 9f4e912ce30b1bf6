"""Breaking things on purpose: restarts, malformed calls, garbage, pool exhaustion, full disks.

Malformed calls sent by a foreign Pyro5 client straight to the service's ``*_rpc``
methods (each must raise ValueError or TypeError, change nothing, and leave the service
serving):

 1. has_miner_rpc(123)                       2. has_miner_rpc("")
 3. has_miner_rpc("x" * 300)                 4. has_miner_rpc(None)
 5. get_miner_bucket_rpc([1])                6. get_miner_start_time_rpc({"a": 1})
 7. get_hotkeys_by_bucket_rpc("challenge")   8. get_hotkeys_by_bucket_rpc(5)
 9. set_miner_bucket_rpc("a", "NOPE", 1)    10. set_miner_bucket_rpc("a", "CHALLENGE", "1")
11. set_miner_bucket_rpc(.., -1)            12. set_miner_bucket_rpc(.., 10**20)
13. set_miner_bucket_rpc(.., 1.5)           14. set_miner_bucket_rpc(.., True)
15. set_miner_bucket_rpc(.., 1, "WRONG", 1) 16. set_miner_bucket_rpc(.., 1, "MAINCOMP", "x")
17. remove_miner_rpc(b"bytes")              18. update_elimination_reasons_rpc("not json")
19. update_elimination_reasons_rpc({"a": ["NOPE", 1]})
20. update_elimination_reasons_rpc({"a": ["ZOMBIE"]})
21. update_elimination_reasons_rpc({"a": ["ZOMBIE", "x"]})
22. update_elimination_reasons_rpc({"a": ["ZOMBIE", inf]})
23. update_elimination_reasons_rpc([1, 2])  24. update_elimination_reasons_rpc({5: ["ZOMBIE", 1]})
25. pop_elimination_reasons_rpc("x")        26. pop_elimination_reasons_rpc({"a": 1})
27. submit_refresh_inputs_rpc(None)         28. submit_refresh_inputs_rpc(metagraph as a str)
29. submit_refresh_inputs_rpc(negative n_positions)
30. submit_refresh_inputs_rpc(an unknown key)
31. submit_refresh_inputs_rpc("[1,2")       32. refresh_now_rpc("now")
33. refresh_now_rpc(-5)                     34. has_miner_rpc() (missing argument)
35. set_miner_bucket_rpc("a")               36. update_elimination_reasons_rpc({"a": None})
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from Pyro5.api import Proxy
from Pyro5.errors import CommunicationError

from clients import ChallengePeriodManager
from services.domain.errors import InvalidInputError, ServiceUnavailableError, StateWriteError
from services.storage import durable_store
from services.wire import codec
from tests.processes import (
    Proc,
    closed_by_server,
    free_port,
    start_cpm_server,
    start_elimination_server,
    start_nameserver,
    wait_until,
)

GOOD_MINER = {
    "first_order_time_ms": 1,
    "n_positions": 1,
    "ledger_start_ms": 1,
    "n_checkpoints": 1,
    "min_mdd": 0.99,
    "trading_days": 1,
}

MALFORMED: list[tuple[str, tuple[Any, ...]]] = [
    ("has_miner_rpc", (123,)),
    ("has_miner_rpc", ("",)),
    ("has_miner_rpc", ("x" * 300,)),
    ("has_miner_rpc", (None,)),
    ("get_miner_bucket_rpc", ([1],)),
    ("get_miner_start_time_rpc", ({"a": 1},)),
    ("get_hotkeys_by_bucket_rpc", ("challenge",)),
    ("get_hotkeys_by_bucket_rpc", (5,)),
    ("set_miner_bucket_rpc", ("a", "NOPE", 1)),
    ("set_miner_bucket_rpc", ("a", "CHALLENGE", "1")),
    ("set_miner_bucket_rpc", ("a", "CHALLENGE", -1)),
    ("set_miner_bucket_rpc", ("a", "CHALLENGE", 10**20)),
    ("set_miner_bucket_rpc", ("a", "CHALLENGE", 1.5)),
    ("set_miner_bucket_rpc", ("a", "CHALLENGE", True)),
    ("set_miner_bucket_rpc", ("a", "PLAGIARISM", 1, "WRONG", 1)),
    ("set_miner_bucket_rpc", ("a", "PLAGIARISM", 1, "MAINCOMP", "x")),
    ("remove_miner_rpc", (b"bytes",)),
    ("update_elimination_reasons_rpc", ("not json",)),
    ("update_elimination_reasons_rpc", ({"a": ["NOPE", 1]},)),
    ("update_elimination_reasons_rpc", ({"a": ["ZOMBIE"]},)),
    ("update_elimination_reasons_rpc", ({"a": ["ZOMBIE", "x"]},)),
    ("update_elimination_reasons_rpc", ({"a": ["ZOMBIE", float("inf")]},)),
    ("update_elimination_reasons_rpc", ([1, 2],)),
    ("update_elimination_reasons_rpc", ({5: ["ZOMBIE", 1]},)),
    ("pop_elimination_reasons_rpc", ("x",)),
    ("pop_elimination_reasons_rpc", ({"a": 1},)),
    ("submit_refresh_inputs_rpc", (None,)),
    ("submit_refresh_inputs_rpc", ({"metagraph_hotkeys": "abc", "miners": {}},)),
    (
        "submit_refresh_inputs_rpc",
        ({"metagraph_hotkeys": [], "miners": {"a": {**GOOD_MINER, "n_positions": -1}}},),
    ),
    ("submit_refresh_inputs_rpc", ({"metagraph_hotkeys": [], "miners": {}, "extra": 1},)),
    ("submit_refresh_inputs_rpc", ("[1,2",)),
    ("refresh_now_rpc", ("now",)),
    ("refresh_now_rpc", (-5,)),
    ("has_miner_rpc", ()),
    ("set_miner_bucket_rpc", ("a",)),
    ("update_elimination_reasons_rpc", ({"a": None},)),
]


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_malformed_calls_are_refused_and_change_nothing(ns_port: int, cpm_process: Proc) -> None:
    assert len(MALFORMED) >= 30
    with Proxy(f"PYRONAME:ChallengePeriodManagerServer@127.0.0.1:{ns_port}") as raw:
        raw.set_miner_bucket_rpc("keep", "MAINCOMP", 5)
        raw.submit_refresh_inputs_rpc({"metagraph_hotkeys": ["keep"], "miners": {}})
        before = raw.get_snapshot_rpc()["body"]
        for method, args in MALFORMED:
            with pytest.raises((ValueError, TypeError)) as caught:
                getattr(raw, method)(*args)
            assert str(caught.value), f"{method}{args!r:.60} raised without a message"
        assert raw.get_snapshot_rpc()["body"] == before
        assert raw.health_check_rpc()["inputs_seq"] == 1  # every bad input was refused whole


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_garbage_bytes_are_dropped_and_the_service_keeps_serving(
    ns_port: int, cpm_process: Proc
) -> None:
    with socket.create_connection(("127.0.0.1", cpm_process.port()), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256)) * 64)
        assert closed_by_server(sock, 10)
    with ChallengePeriodManager(ns_port=ns_port) as client:
        assert client.health_check()["status"] == "ok"


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_half_open_connections_are_dropped_and_cannot_exhaust_the_pool(
    ns_port: int, tmp_path: Path
) -> None:
    server = start_cpm_server(
        ns_port, tmp_path / "s", "--idle-timeout-s", "1", "--max-connections", "2"
    )
    try:
        port = server.port()
        silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        try:
            assert all(closed_by_server(s, 10) for s in silent)
        finally:
            for s in silent:
                s.close()
        with ChallengePeriodManager(ns_port=ns_port) as client:
            assert client.health_check()["status"] == "ok"
    finally:
        server.close()


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_full_pool_refuses_new_clients_clearly_until_one_leaves(
    ns_port: int, tmp_path: Path
) -> None:
    server = start_cpm_server(ns_port, tmp_path / "s", "--max-connections", "2")
    holders = [ChallengePeriodManager(ns_port=ns_port) for _ in range(2)]
    try:
        for holder in holders:
            holder.health_check()  # each keeps its connection, and so a worker
        extra = ChallengePeriodManager(ns_port=ns_port, timeout_s=3)
        with pytest.raises(ServiceUnavailableError, match="no free workers"):
            extra.health_check()
        holders.pop().close()
        wait_until(lambda: _answers(extra), 10, "a worker to free up")
        extra.close()
        assert "client connection was denied" in server.errors()
    finally:
        for holder in holders:
            holder.close()
        server.close()


def _answers(client: ChallengePeriodManager) -> bool:
    try:
        return client.health_check()["status"] == "ok"
    except ServiceUnavailableError:
        return False


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_oversized_message_is_refused_and_the_service_keeps_running(
    ns_port: int, cpm_process: Proc
) -> None:
    huge = "x" * (65 * 1024 * 1024)
    # Our clients refuse before sending ...
    with pytest.raises(InvalidInputError, match="64 MiB"):
        codec.dumps_arg([huge], "reasons")
    # ... and a foreign client's oversized message is refused by the service.
    with (
        Proxy(f"PYRONAME:ChallengePeriodManagerServer@127.0.0.1:{ns_port}") as raw,
        pytest.raises(CommunicationError),
    ):
        raw.update_elimination_reasons_rpc(huge)
    with ChallengePeriodManager(ns_port=ns_port) as client:
        assert client.health_check()["status"] == "ok"
    assert "too large" in cpm_process.errors()


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_services_reregister_within_3_s_after_a_memory_name_server_restarts(
    tmp_path: Path,
) -> None:
    port = free_port()
    ns = start_nameserver(port)
    cpm = start_cpm_server(port, tmp_path / "c")
    em = start_elimination_server(port, tmp_path / "e")
    try:
        ns.kill()
        ns.close()
        ns = start_nameserver(port)
        restarted = time.monotonic()
        with Proxy(f"PYRO:Pyro.NameServer@127.0.0.1:{port}") as proxy:
            wait_until(
                lambda: (
                    {"ChallengePeriodManagerServer", "EliminationManagerServer"}
                    <= set(proxy.list())
                ),
                3.0,
                "both names back in the restarted name server",
            )
        print(f"\nre-registered {time.monotonic() - restarted:.2f} s after the restart")
        with ChallengePeriodManager(ns_port=port) as client:
            assert client.health_check()["status"] == "ok"
    finally:
        em.close()
        cpm.close()
        ns.close()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_sigkill_and_restart_under_load_keeps_every_acknowledged_write(
    ns_port: int, tmp_path: Path
) -> None:
    state = tmp_path / "s"
    server = start_cpm_server(ns_port, state)
    acknowledged: list[str] = []
    errors = 0
    stop = threading.Event()
    lock = threading.Lock()

    def worker(n: int) -> None:
        nonlocal errors
        with ChallengePeriodManager(ns_port=ns_port, timeout_s=3) as client:
            i = 0
            while not stop.is_set():
                i += 1
                hotkey = f"w{n}-{i}"
                try:
                    client.set_miner_bucket(hotkey, "CHALLENGE", i)
                    client.has_miner(hotkey)
                    client.get_snapshot()
                except ServiceUnavailableError:
                    with lock:
                        errors += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    acknowledged.append(hotkey)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acknowledged) >= 100, 30, "load before the kill")
        server.kill()
        server.close()
        server = start_cpm_server(ns_port, state)
        mark = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= mark + 100, 30, "load after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    try:
        with ChallengePeriodManager(ns_port=ns_port) as client:
            miners = client.get_snapshot()["miners"]
    finally:
        server.close()
    assert [hk for hk in acknowledged if hk not in miners] == []
    print(f"\n{len(acknowledged)} acknowledged writes, {errors} refused during the restart")


def test_unwritable_state_dir_refuses_mutations_keeps_reads_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path)
    try:
        client.set_miner_bucket("kept", "MAINCOMP", 7)
        client.update_elimination_reasons({"r": ("ZOMBIE", -1)})
        before = client.get_snapshot()
        real_write = durable_store._write_all

        def read_only(fd: int, data: bytes) -> None:
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(durable_store, "_write_all", read_only)
        with pytest.raises(StateWriteError, match="Read-only file system"):
            client.set_miner_bucket("new", "CHALLENGE", 1)
        with pytest.raises(OSError, match="not applied"):
            client.pop_elimination_reasons()
        assert client.get_snapshot()["miners"] == before["miners"]
        assert client.get_all_elimination_reasons() == {"r": ("ZOMBIE", -1)}
        assert client.get_snapshot()["version"] == before["version"]
        monkeypatch.setattr(durable_store, "_write_all", real_write)
        assert client.set_miner_bucket("new", "CHALLENGE", 1) is True
    finally:
        client.close()
    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as reopened:
        assert set(reopened.get_all_miner_hotkeys()) == {"kept", "new"}
        assert reopened.get_all_elimination_reasons() == {"r": ("ZOMBIE", -1)}
    json.loads((tmp_path / "challengeperiod.json").read_text())
