"""The name server package: the embedded server, ping/connect, and the cpm-nameserver command."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import Pyro5.errors
import Pyro5.server
import pytest

from nameserver import EmbeddedNameServer, parse_storage
from nameserver.__main__ import main
from services.domain.errors import ServiceUnavailableError
from services.wire.naming import NameServerAddress, connect_nameserver, ping_nameserver

REPO_ROOT = Path(__file__).resolve().parents[1]
NSC = Path(sys.executable).parent / "pyro5-nsc"
READY = re.compile(r"^name server ready at 127\.0\.0\.1:(\d+) \(storage (\S+)\)$")
SOME_URI = "PYRO:some.object@127.0.0.1:4321"


def free_port() -> int:
    """A port nothing listens on (free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def embedded() -> Iterator[EmbeddedNameServer]:
    server = EmbeddedNameServer()
    yield server
    server.stop()


@pytest.fixture
def silent_listener() -> Iterator[NameServerAddress]:
    """A TCP server that accepts connections and never sends a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    done = threading.Event()
    accepted: list[socket.socket] = []

    def accept_and_hold() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    yield NameServerAddress("127.0.0.1", int(listener.getsockname()[1]))
    done.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def plain_pyro_daemon() -> Iterator[NameServerAddress]:
    """A Pyro5 daemon that is not a name server."""
    daemon = Pyro5.server.Daemon(host="127.0.0.1", port=0)
    thread = threading.Thread(target=daemon.requestLoop, daemon=True)
    thread.start()
    yield NameServerAddress("127.0.0.1", int(daemon.sock.getsockname()[1]))
    daemon.shutdown()
    thread.join(timeout=5)


@pytest.mark.timeout(20)
def test_embedded_server_registers_and_looks_up_a_name(embedded: EmbeddedNameServer) -> None:
    assert embedded.address.host == "127.0.0.1"
    assert embedded.address.port > 0
    assert embedded.uri == f"PYRO:Pyro.NameServer@127.0.0.1:{embedded.address.port}"
    ns = connect_nameserver(embedded.address)
    try:
        ns.register("some.object", SOME_URI)
        assert str(ns.lookup("some.object")) == SOME_URI
        assert set(ns.list()) == {"Pyro.NameServer", "some.object"}
    finally:
        ns._pyroRelease()


@pytest.mark.timeout(20)
def test_stop_is_idempotent_and_closes_the_port() -> None:
    server = EmbeddedNameServer()
    assert server.running
    assert ping_nameserver(server.address)
    server.stop()
    server.stop()
    assert not server.running
    assert not ping_nameserver(server.address)


@pytest.mark.timeout(20)
def test_stop_ends_connections_already_open() -> None:
    with EmbeddedNameServer() as server:
        ns = connect_nameserver(server.address)
    try:
        with pytest.raises(Pyro5.errors.CommunicationError):
            ns.ping()
    finally:
        ns._pyroRelease()


@pytest.mark.timeout(20)
def test_sql_storage_keeps_a_registration_across_a_restart(tmp_path: Path) -> None:
    storage = f"sql:{tmp_path / 'names.sqlite'}"
    with EmbeddedNameServer(storage=storage) as first:
        assert first.storage == storage
        ns = connect_nameserver(first.address)
        ns.register("some.object", SOME_URI)
        ns._pyroRelease()
    with EmbeddedNameServer(storage=storage) as second:
        ns = connect_nameserver(second.address)
        try:
            assert str(ns.lookup("some.object")) == SOME_URI
        finally:
            ns._pyroRelease()


@pytest.mark.timeout(20)
def test_memory_storage_forgets_on_restart() -> None:
    with EmbeddedNameServer() as first:
        ns = connect_nameserver(first.address)
        ns.register("some.object", SOME_URI)
        ns._pyroRelease()
    with EmbeddedNameServer() as second:
        ns = connect_nameserver(second.address)
        try:
            assert "some.object" not in ns.list()
        finally:
            ns._pyroRelease()


@pytest.mark.timeout(20)
def test_embedded_server_on_a_busy_port_raises_oserror(embedded: EmbeddedNameServer) -> None:
    with pytest.raises(OSError):
        EmbeddedNameServer(port=embedded.address.port)


@pytest.mark.parametrize("text", ["memory", "sql:names.sqlite", "sql:/tmp/x/names.sqlite"])
def test_parse_storage_accepts(text: str) -> None:
    assert parse_storage(text) == text


@pytest.mark.parametrize("text", ["", "disk", "sql:", "sql::memory:", "Memory", "sqlite:x.db"])
def test_parse_storage_refuses_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError, match="--storage"):
        parse_storage(text)


def test_embedded_server_refuses_a_bad_storage() -> None:
    with pytest.raises(ValueError, match="--storage"):
        EmbeddedNameServer(storage="disk")


@pytest.mark.timeout(20)
def test_ping_is_true_for_a_running_name_server(embedded: EmbeddedNameServer) -> None:
    assert ping_nameserver(embedded.address) is True


@pytest.mark.timeout(20)
def test_ping_is_false_on_a_closed_port() -> None:
    started = time.monotonic()
    assert ping_nameserver(NameServerAddress("127.0.0.1", free_port())) is False
    assert time.monotonic() - started < 1.0


@pytest.mark.timeout(20)
def test_ping_is_false_and_quick_on_a_silent_listener(silent_listener: NameServerAddress) -> None:
    started = time.monotonic()
    assert ping_nameserver(silent_listener, timeout_s=1.0) is False
    assert time.monotonic() - started < 2.0


@pytest.mark.timeout(20)
def test_ping_is_false_on_a_pyro_daemon_that_is_not_a_name_server(
    plain_pyro_daemon: NameServerAddress,
) -> None:
    assert ping_nameserver(plain_pyro_daemon) is False


@pytest.mark.timeout(20)
def test_connect_on_a_closed_port_raises_service_unavailable_fast() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as caught:
        connect_nameserver(NameServerAddress("127.0.0.1", port), timeout_s=2.0)
    assert time.monotonic() - started < 2.0
    assert isinstance(caught.value, ConnectionError)
    assert str(caught.value) == (
        f"no Pyro5 name server answers at 127.0.0.1:{port} (connection refused)"
    )


@pytest.mark.timeout(20)
def test_connect_to_a_silent_listener_gives_up_after_the_timeout(
    silent_listener: NameServerAddress,
) -> None:
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as caught:
        connect_nameserver(silent_listener, timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert str(silent_listener) in str(caught.value)
    assert "no answer within 0.5 s" in str(caught.value)


@pytest.mark.timeout(20)
def test_connect_to_a_pyro_daemon_that_is_not_a_name_server_says_so(
    plain_pyro_daemon: NameServerAddress,
) -> None:
    with pytest.raises(ServiceUnavailableError, match="not a name server"):
        connect_nameserver(plain_pyro_daemon, timeout_s=2.0)


def test_connect_refuses_a_timeout_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        connect_nameserver(NameServerAddress("127.0.0.1", 9090), timeout_s=0)


def test_address_prints_as_host_and_port() -> None:
    assert str(NameServerAddress("127.0.0.1", 9090)) == "127.0.0.1:9090"
    assert str(NameServerAddress("::1", 9090)) == "[::1]:9090"


@pytest.mark.parametrize(
    "argv",
    [
        ["--storage", "disk"],
        ["--storage", "sql:"],
        ["--port", "70000"],
        ["--port", "ninety"],
        ["--log-level", "LOUD"],
        ["--no-such-flag"],
    ],
)
def test_main_refuses_a_bad_flag_with_exit_2_and_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CPM_NS_PORT", raising=False)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("cpm-nameserver: ")


def test_main_refuses_a_bad_cpm_ns_port(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CPM_NS_PORT", "ninety")
    assert main([]) == 2
    assert "CPM_NS_PORT" in capsys.readouterr().err


# --- the real command, in a child process ---------------------------------------------------


class NameServerProcess:
    """A ``python -m nameserver`` child, its stdout read line by line in a thread."""

    def __init__(self, args: list[str], stderr_path: Path, env: dict[str, str]) -> None:
        self.stderr_path = stderr_path
        with stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nameserver", *args],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_ready(self, timeout_s: float = 15.0) -> re.Match[str]:
        """The ready line, or fail when it does not come before the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no ready line within {timeout_s} s")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"exited before ready: {self.stderr()}")
            match = READY.match(line)
            if match:
                return match

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., NameServerProcess]]:
    """Start ``python -m nameserver ARGS``; every child still alive at teardown is killed."""
    children: list[NameServerProcess] = []
    env = {k: v for k, v in os.environ.items() if k != "CPM_NS_PORT"}

    def start(*args: str, extra_env: dict[str, str] | None = None) -> NameServerProcess:
        stderr_path = tmp_path / f"stderr-{len(children)}.txt"
        child = NameServerProcess(list(args), stderr_path, {**env, **(extra_env or {})})
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()


def nsc_list(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NSC), "-n", "127.0.0.1", "-p", str(port), "list"],
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.integration
@pytest.mark.timeout(60)
@pytest.mark.parametrize("storage", ["memory", "sql"])
def test_command_serves_pyro5_nsc_and_exits_0_on_sigterm(
    spawn: Callable[..., NameServerProcess], tmp_path: Path, storage: str
) -> None:
    port = free_port()
    storage_flag = "memory" if storage == "memory" else f"sql:{tmp_path / 'names.sqlite'}"
    child = spawn("--port", str(port), "--storage", storage_flag)
    ready = child.wait_ready()
    assert int(ready.group(1)) == port
    assert ready.group(2) == storage_flag

    listed = nsc_list(port)
    assert listed.returncode == 0, listed.stderr
    assert f"Pyro.NameServer --> PYRO:Pyro.NameServer@127.0.0.1:{port}" in listed.stdout

    child.proc.send_signal(signal.SIGTERM)
    assert child.proc.wait(timeout=15) == 0
    assert "Traceback" not in child.stderr()
    assert not ping_nameserver(NameServerAddress("127.0.0.1", port))


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_command_takes_its_default_port_from_cpm_ns_port(
    spawn: Callable[..., NameServerProcess],
) -> None:
    port = free_port()
    child = spawn(extra_env={"CPM_NS_PORT": str(port)})
    assert int(child.wait_ready().group(1)) == port
    assert ping_nameserver(NameServerAddress("127.0.0.1", port))
    child.proc.send_signal(signal.SIGINT)
    assert child.proc.wait(timeout=15) == 0


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_command_on_a_busy_port_exits_2_with_one_line(
    spawn: Callable[..., NameServerProcess],
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = int(busy.getsockname()[1])
        child = spawn("--port", str(port))
        assert child.proc.wait(timeout=20) == 2
    lines = child.stderr().strip().splitlines()
    assert lines == [f"cpm-nameserver: cannot listen on 127.0.0.1:{port} (address already in use)"]


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_command_with_a_bad_storage_exits_2_with_one_line(
    spawn: Callable[..., NameServerProcess],
) -> None:
    child = spawn("--port", str(free_port()), "--storage", "disk")
    assert child.proc.wait(timeout=20) == 2
    lines = child.stderr().strip().splitlines()
    assert len(lines) == 1
    assert "--storage" in lines[0]
