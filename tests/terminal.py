"""A child process on a real pseudo-terminal, its screen output drained by a thread."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B]|[=>])")


class PtyProcess:
    """``argv`` with stdin, stdout and stderr on a pty of ``rows`` x ``cols``."""

    def __init__(
        self,
        argv: list[str],
        *,
        rows: int = 100,
        cols: int = 160,
        env: dict[str, str] | None = None,
    ) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {**os.environ, "TERM": "xterm-256color", **(env or {})}
        for name in ("COLUMNS", "LINES", "NO_COLOR", "TERM_PROGRAM"):
            full_env.pop(name, None)
        self.popen = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=full_env, start_new_session=True
        )
        os.close(slave)
        self._master = master
        self._lock = threading.Lock()
        self._data = bytearray()
        # Drained all the time: a child writing to a full pty would block mid-redraw.
        self._reader = threading.Thread(target=self._drain, name="pty-drain", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the child exited and the slave side is closed
                return
            if not chunk:
                return
            with self._lock:
                self._data.extend(chunk)

    def size(self) -> int:
        """Bytes of output so far; pass it to ``text`` to read only what came later."""
        with self._lock:
            return len(self._data)

    def text(self, since: int = 0) -> str:
        """The output from byte ``since`` on, escape sequences removed."""
        with self._lock:
            raw = bytes(self._data[since:])
        return ANSI.sub("", raw.decode(errors="replace"))

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the child, by PID."""
        os.kill(self.pid, signum)

    def wait(self, timeout_s: float) -> int:
        return self.popen.wait(timeout=timeout_s)

    def close(self) -> None:
        """Kill the child if it still runs (by PID), stop draining, close the pty."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)
        self._reader.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._master)
