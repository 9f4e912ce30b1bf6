"""Everything ``cpm-bench`` measures against, started by itself and stopped by PID or handle.

A name server (embedded, in this process), real ``cpm-server`` / ``cpm-elimination-server``
child processes on free ports with temporary state dirs, a raw TCP echo server (a child
process, so a round trip crosses processes like an RPC does) and a
``multiprocessing.Manager``. ``BenchEnv.close()`` stops all of them, also after Ctrl-C.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.managers
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from clients import ChallengePeriodManager, EliminationManager
from clients.base import ServiceClient
from nameserver import EmbeddedNameServer
from services.wire.busy_poll import DEFAULT_BUSY_POLL_US, await_readable
from tools.bench_peer import PeerServer, StockPyro5Server
from tools.stack import READY_TIMEOUT_S, Child

# The challenge-period service must not refresh by itself in the middle of a measurement;
# the bench calls refresh_now. The elimination service keeps its default poll interval,
# since its handoff latency is one of the figures.
BENCH_REFRESH_INTERVAL_MS = 3_600_000

# Both ends of the echo poll for a moment before they block, as our clients and services
# do (services.wire.busy_poll), so the raw round trip stays the floor of a call.
_ECHO_SERVER = """
import socket, sys
from services.wire.busy_poll import DEFAULT_BUSY_POLL_US, await_readable
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    await_readable(conn, DEFAULT_BUSY_POLL_US / 1e6)
    data = conn.recv(65536)
    if not data:
        break
    conn.sendall(data)
"""


class EchoClient:
    """A connection to the echo child process; ``round_trip()`` sends 64 bytes and reads them."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _ECHO_SERVER], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._payload = b"x" * 64

    def round_trip(self) -> None:
        """One 64-byte echo."""
        self.sock.sendall(self._payload)
        received = 0
        while received < len(self._payload):
            await_readable(self.sock, DEFAULT_BUSY_POLL_US / 1e6)
            received += len(self.sock.recv(65536))

    def close(self) -> None:
        """Close the connection (the child exits on EOF) and reap the child by PID."""
        self.sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


class BenchEnv:
    """The processes of one bench run; use as a context manager."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="cpm-bench-")
        self.root = Path(self._tmp.name)
        self.ns = EmbeddedNameServer()
        self.children: dict[str, Child] = {}
        self.echo: EchoClient | None = None
        self.manager: multiprocessing.managers.SyncManager | None = None
        self.peer: PeerServer | None = None
        self.stock_pyro5: StockPyro5Server | None = None
        self._runs = 0

    def _client_kwargs(self) -> dict[str, object]:
        return {"ns_host": self.ns.address.host, "ns_port": self.ns.address.port}

    def cpm_client(self, **kwargs: object) -> ChallengePeriodManager:
        """A new public client of the challenge-period service."""
        return ChallengePeriodManager(**self._client_kwargs(), **kwargs)  # type: ignore[arg-type]

    def elimination_client(self) -> EliminationManager:
        """A new public client of the elimination service."""
        return EliminationManager(**self._client_kwargs())  # type: ignore[arg-type]

    def start(self) -> None:
        """Echo server, Manager, elimination service and a challenge-period service."""
        self.echo = EchoClient()
        self.manager = multiprocessing.Manager()
        self.peer = PeerServer()
        self.stock_pyro5 = StockPyro5Server()
        self.start_service("elimination")
        self.start_service("challengeperiod")

    def start_service(self, kind: str, *extra: str) -> Child:
        """Start (or replace) one service with a fresh state dir; returns it once ready."""
        self.stop_service(kind)
        self._runs += 1
        state_dir = self.root / f"{kind}-{self._runs}"
        module = {
            "challengeperiod": "services.challengeperiod_manager_server",
            "elimination": "services.elimination_manager_server",
        }[kind]
        argv = [
            sys.executable,
            "-m",
            module,
            "--ns-port",
            str(self.ns.address.port),
            "--state-dir",
            str(state_dir),
            "--log-level",
            "WARNING",
            *extra,
        ]
        factory: Callable[[], ServiceClient] = self.elimination_client
        if kind == "challengeperiod":
            argv += ["--refresh-interval-ms", str(BENCH_REFRESH_INTERVAL_MS)]
            factory = self.cpm_client
        # The services' own lines (the bench restarts them, and they say so) go to a file
        # beside their state, so the console shows the bench's progress and tables only.
        log_path = self.root / f"{kind}-{self._runs}.log"
        child = Child(kind, argv, factory, log_path=log_path)
        child.start()
        self.children[kind] = child
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not child.ready():
            assert child.process is not None
            if child.process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"{module} did not become ready: " + " | ".join(tail))
            time.sleep(0.05)
        return child

    def pid(self, kind: str) -> int:
        """PID of a running service."""
        process = self.children[kind].process
        assert process is not None
        return process.pid

    def stop_service(self, kind: str) -> None:
        """SIGTERM by PID (SIGKILL if it hangs); no-op when not running."""
        child = self.children.pop(kind, None)
        if child is not None:
            child.stop()

    def close(self) -> None:
        """Stop everything this run started, each part even when another fails to stop."""
        steps: list[Callable[[], object]] = [
            *(lambda kind=kind: self.stop_service(kind) for kind in list(self.children)),
            self._close_echo,
            self._close_manager,
            self._close_peer,
            self._close_stock_pyro5,
            self.ns.stop,
            self._tmp.cleanup,
        ]
        for step in steps:
            # After Ctrl-C a child may have died of the same SIGINT; stopping goes on.
            with contextlib.suppress(Exception):
                step()

    def _close_echo(self) -> None:
        if self.echo is not None:
            self.echo.close()
            self.echo = None

    def _close_peer(self) -> None:
        if self.peer is not None:
            self.peer.close()
            self.peer = None

    def _close_stock_pyro5(self) -> None:
        if self.stock_pyro5 is not None:
            self.stock_pyro5.close()
            self.stock_pyro5 = None

    def _close_manager(self) -> None:
        if self.manager is not None:
            self.manager.shutdown()
            self.manager = None

    def __enter__(self) -> BenchEnv:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def scoped_environ(name: str, value: str | None) -> Iterator[None]:
    """Environment variable ``name`` set to ``value`` (unset for None) inside the block,
    for the services started and the clients made there; as it was afterwards."""
    before = os.environ.pop(name, None)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)
        if before is not None:
            os.environ[name] = before


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc/PID/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
