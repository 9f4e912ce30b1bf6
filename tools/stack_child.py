"""One supervised child of ``cpm-stack``: started, checked, stopped by its PID.

A child gets SIGTERM when the stack dies, even by SIGKILL (Linux's parent-death signal),
so a killed stack never leaves a service answering under its name.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clients.base import ServiceClient
from services.domain.errors import CpmError

log = logging.getLogger("cpm.stack")


@dataclass
class Child:
    """One supervised service process."""

    name: str
    argv: list[str]
    client_factory: Callable[[], ServiceClient]
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    restart_at: float | None = None
    # Restarted and not yet answering its health check: announced once it does.
    awaiting_ready: bool = False
    log_path: Path | None = None
    interactive: bool = False

    def start(self) -> None:
        """Start the process; its log goes to ``log_path``, else to this stack's own stdout
        (routine lines) and stderr (problems), where pm2 or journald collect them."""
        if self.interactive:
            self.process = subprocess.Popen(self.argv)  # the terminal is its own
            return
        tie = functools.partial(_die_with_parent, os.getpid())
        if self.log_path is None:
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, preexec_fn=tie)
            return
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                preexec_fn=tie,
            )

    def ready(self) -> bool:
        """Registered by name and answering its health check."""
        client = self.client_factory()
        try:
            # Degraded is ready too: it answers, and says what is wrong (a peer still starting).
            return client.health_check().get("status") in ("ok", "degraded")
        except CpmError:
            return False
        finally:
            client.close()

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM by PID, SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s; killing it", self.name, timeout_s)
            self.process.kill()
            self.process.wait(timeout=timeout_s)


def _load_prctl() -> Callable[[int, int], int] | None:
    """libc's prctl on Linux (loaded here, not in the forked child), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In the child before exec: SIGTERM when the stack dies, even by SIGKILL.

    An orphaned service would keep answering under its name, and a new stack would then
    (rightly) refuse to start beside it.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the stack died before the tie was made
            os._exit(1)


def describe_exit(code: int) -> str:
    """``exited with code N`` or ``died of SIGNAME``, for a Popen return code."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"died of {signal.Signals(-code).name}"
    except ValueError:
        return f"died of signal {-code}"
