"""Files replaced whole or not at all, and read back with a clear error.

A reader (another program, a backup, the service after a crash) sees the old file or the
new one, never half of one: the new content goes to a temp file in the same directory,
is flushed, renamed over the old one, and the directory is flushed too.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.domain.errors import CorruptStateError


def json_file_bytes(document: Any) -> bytes:
    """A state file's JSON: compact, keys sorted, ASCII only (non-ASCII as escapes)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def write_json_atomic(
    path: Path, document: Any, encode: Callable[[Any], bytes] = json_file_bytes
) -> None:
    """Replace ``path`` with ``document`` so that a reader sees the old or new file, never half."""
    write_bytes_atomic(path, encode(document))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file in the same dir, fsync, rename, fsync the dir."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; the state files are data other tools read, not secrets.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path: Path) -> Any:
    """The JSON document in ``path``, None when the file is missing."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptStateError(f"cannot read state file {path}: {exc.strerror}") from exc
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptStateError(f"state file {path} is not valid JSON: {exc}") from exc
