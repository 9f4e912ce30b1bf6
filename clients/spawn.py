"""Starting a service in a child process for a client (``spawn_server=True``)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from services.domain.errors import ServiceUnavailableError
from services.wire.naming import NameServerAddress

POLL_S = 0.05


class SpawnedService:
    """A service process started by a client; ``stop()`` ends it by its PID."""

    def __init__(
        self,
        module: str,
        ns: NameServerAddress,
        state_dir: Path | None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.module = module
        argv = [sys.executable, "-m", module, "--ns-host", ns.host, "--ns-port", str(ns.port)]
        if state_dir is not None:
            argv += ["--state-dir", str(state_dir)]
        argv += extra_args
        # stderr goes to a file, not a pipe: nobody reads a pipe while the service runs, and
        # a full pipe would stall the service.
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log
        )

    def wait_ready(self, is_ready: Callable[[], bool], timeout_s: float) -> None:
        """Poll ``is_ready`` until it is True; stop the child and raise if it never is."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise ServiceUnavailableError(
                    f"{self.module} exited with code {self.process.returncode} at start-up: "
                    f"{self.stderr_tail()}"
                )
            if is_ready():
                return
            time.sleep(POLL_S)
        self.stop()
        raise ServiceUnavailableError(
            f"{self.module} was not ready within {timeout_s:.0f} s: {self.stderr_tail()}"
        )

    def stderr_tail(self) -> str:
        """The last line the child wrote to stderr."""
        self._log.seek(0)
        lines = [line for line in self._log.read().decode(errors="replace").splitlines() if line]
        return lines[-1] if lines else "(no output)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        with contextlib.suppress(OSError):
            self._log.close()
