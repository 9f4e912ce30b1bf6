"""One service per state dir: a kernel lock (flock) on a lock file that names its holder."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from services.domain.errors import StateWriteError


class DirLock:
    """The flock on ``lock_path``, which holds the owner's pid."""

    def __init__(self, state_dir: Path, lock_path: Path) -> None:
        self.state_dir = state_dir
        self.lock_path = lock_path
        self._fd: int | None = None

    def take(self) -> None:
        """Own the state dir for this store's files, or say which process does.

        Two processes appending to one journal would interleave and lose changes. The lock
        is the kernel's (flock), so a process that dies, even by SIGKILL, releases it.
        """
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateWriteError(
                f"state dir {self.state_dir} is in use by another process (pid {holder}): "
                f"one service per state dir ({self.lock_path.name} is held)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def holder(self) -> str | None:
        """The pid of the process holding the lock, or None when nobody does."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        finally:
            os.close(fd)  # also releases a shared lock taken just now
        return None
