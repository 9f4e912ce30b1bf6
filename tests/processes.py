"""Real processes for integration tests: started on free ports, stopped by their PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail the test with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _read_shared(file: IO[bytes]) -> str:
    """All a child wrote so far. The child shares the file's offset with this process (it
    inherited the descriptor), so this reads with pread and never moves it: a seek here
    would make the child's next write land over what it wrote before."""
    fd = file.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


class Proc:
    """One child process with its output in files, stopped by PID."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        # Files, not pipes: nobody drains a pipe while the process runs.
        self.stdout: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        full_env = {**os.environ, **(env or {})}
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.stdout, stderr=self.stderr, env=full_env
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return _read_shared(self.stdout)

    def uri(self) -> str:
        """The Pyro5 URI of a service, from its "... serving at URI, ..." line."""
        return self.output().split("serving at ", 1)[1].split(",", 1)[0]

    def port(self) -> int:
        """The TCP port a service serves on."""
        return int(self.uri().rsplit(":", 1)[1])

    def errors(self) -> str:
        return _read_shared(self.stderr)

    def wait_for_output(self, text: str, timeout_s: float = READY_TIMEOUT_S) -> None:
        def seen() -> bool:
            if not self.alive():
                raise AssertionError(
                    f"{self.argv[2:4]} exited with {self.popen.returncode}: {self.errors()[-2000:]}"
                )
            return text in self.output()

        wait_until(seen, timeout_s, f"{text!r} from {self.argv}")

    def terminate(self, timeout_s: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
        return self.popen.wait(timeout=timeout_s)

    def kill(self) -> None:
        """SIGKILL by PID and reap."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def close(self) -> None:
        """Stop the process if it still runs (SIGTERM, then SIGKILL) and free its files."""
        if self.alive():
            try:
                self.terminate(timeout_s=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.stdout.close()
        self.stderr.close()


def start_nameserver(port: int, *extra: str, env: dict[str, str] | None = None) -> Proc:
    proc = Proc([sys.executable, "-m", "nameserver", "--port", str(port), *extra], env=env)
    proc.wait_for_output("ready")
    return proc


def command(module: str, ns_port: int, state_dir: Path, *extra: str) -> list[str]:
    """``python -m module`` with our name server and state dir, and ``extra`` flags."""
    return [
        sys.executable,
        "-m",
        module,
        "--ns-port",
        str(ns_port),
        "--state-dir",
        str(state_dir),
        *extra,
    ]


def start_service(
    module: str, ns_port: int, state_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> Proc:
    """Start ``python -m module`` as a service and wait until it serves and is registered."""
    proc = Proc(command(module, ns_port, state_dir, *extra), env=env)
    proc.wait_for_output("serving at")
    return proc


def start_cpm_server(
    ns_port: int, state_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> Proc:
    return start_service(
        "services.challengeperiod_manager_server", ns_port, state_dir, *extra, env=env
    )


def start_elimination_server(
    ns_port: int, state_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> Proc:
    return start_service("services.elimination_manager_server", ns_port, state_dir, *extra, env=env)


def start_stack(ns_port: int, state_dir: Path, *extra: str) -> Proc:
    """Start ``cpm-stack`` and wait until it says everything is ready."""
    proc = Proc(command("tools.stack", ns_port, state_dir, *extra))
    proc.wait_for_output("Ctrl-C stops everything", timeout_s=60)
    return proc


def closed_by_server(sock: socket.socket, timeout_s: float) -> bool:
    """True when the far end closes ``sock`` (read until it does), False when a read waits
    ``timeout_s`` for nothing."""
    sock.settimeout(timeout_s)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
