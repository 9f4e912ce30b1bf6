"""Command-line plumbing shared by every launcher: flags with environment defaults,
logging, and the exit-code convention (0 ok, 1 failure, 2 usage or unreachable)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import logging.handlers
import os
import signal
import sys
import threading
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from services.domain.config import DEFAULT_RULESET, RULESETS, RulesConfig, ruleset
from services.domain.errors import InvalidInputError
from services.wire.names import DEFAULT_NS_HOST, DEFAULT_NS_PORT, DEFAULT_STATE_DIR

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so ``main()`` owns the exit code;
    every command built on it takes ``--version``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"{self.prog} {package_version()}")

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def summary(doc: str | None) -> str:
    """A module docstring's first paragraph as one line: a command's ``--help`` text."""
    first = (doc or "").strip().split("\n\n", 1)[0]
    return " ".join(first.split())


class UsageError(Exception):
    """A flag or environment value is wrong; the launcher exits 2 with this message."""


def env_port(env: Mapping[str, str], name: str, default: int) -> int:
    """A port number from environment variable ``name``, or ``default`` when unset."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return port_number(raw)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{name}: {exc}") from None


def port_number(text: str) -> int:
    """argparse type for a TCP port (0 = any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0..65535: {port}")
    return port


def add_nameserver_flags(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """--ns-host / --ns-port, defaulting to CPM_NS_HOST / CPM_NS_PORT."""
    parser.add_argument(
        "--ns-host",
        default=env.get("CPM_NS_HOST") or DEFAULT_NS_HOST,
        help="name server host [CPM_NS_HOST, default %(default)s]",
    )
    parser.add_argument(
        "--ns-port",
        type=port_number,
        default=env_port(env, "CPM_NS_PORT", DEFAULT_NS_PORT),
        help="name server port [CPM_NS_PORT, default %(default)s]",
    )


def add_ruleset_flags(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """--ruleset (CPM_RULESET) and --refresh-interval-ms, whose default is the rule set's."""
    parser.add_argument(
        "--ruleset",
        default=env.get("CPM_RULESET") or DEFAULT_RULESET,
        help=f"the rule set the decisions follow: {', '.join(sorted(RULESETS))} "
        "[CPM_RULESET, default %(default)s]",
    )
    parser.add_argument(
        "--refresh-interval-ms",
        type=int,
        default=None,
        help="how often the challenge-period service refreshes by itself "
        "[default: the rule set's refresh interval]",
    )


def resolve_rules(args: argparse.Namespace) -> RulesConfig:
    """The rules chosen by --ruleset and --refresh-interval-ms; a bad value is a UsageError."""
    try:
        rules = ruleset(args.ruleset)
    except InvalidInputError as exc:
        raise UsageError(f"--ruleset: {exc}") from None
    if args.refresh_interval_ms is not None:
        if args.refresh_interval_ms <= 0:
            raise UsageError("--refresh-interval-ms must be a positive number of milliseconds")
        rules = dataclasses.replace(rules, refresh_interval_ms=args.refresh_interval_ms)
    return rules


def add_state_dir_flag(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """--state-dir, defaulting to CPM_STATE_DIR."""
    parser.add_argument(
        "--state-dir",
        default=env.get("CPM_STATE_DIR") or DEFAULT_STATE_DIR,
        help="directory of the state files [CPM_STATE_DIR, default %(default)s]",
    )


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """--host / --port / --fsync, --no-fsync / --log-level for a service."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind [%(default)s]")
    parser.add_argument(
        "--port", type=port_number, default=0, help="port to bind, 0 = any free port [0]"
    )
    parser.add_argument(
        "--fsync",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="flush every change to the device before the call returns, so an acknowledged "
        "change survives a power loss or a file-system error [on]; --no-fsync: to the file "
        "system only (survives a killed process, not a power loss)",
    )
    add_log_level_flag(parser)


def add_log_level_flag(parser: argparse.ArgumentParser) -> None:
    """--log-level and --log-file."""
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level [%(default)s]",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="append the log to PATH, rotated at 10 MiB (5 kept) "
        "[default: INFO on stdout, warnings and errors on stderr]",
    )


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def setup_logging(level: str, path: Path | None = None) -> None:
    """One line per record, with the time and the component.

    Without ``path``: INFO and DEBUG on stdout, warnings and errors on stderr (pm2 and
    journald file stderr as errors, so routine lines must not go there). With ``path``:
    everything appended to that file, rotated at 10 MiB, five old files kept.
    """
    whole_lines()
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler]
    if path is not None:
        handlers = [
            logging.handlers.RotatingFileHandler(
                path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS
            )
        ]
    else:
        routine = logging.StreamHandler(sys.stdout)
        routine.addFilter(_BelowWarning())
        problems = logging.StreamHandler(sys.stderr)
        problems.setLevel(logging.WARNING)
        handlers = [routine, problems]
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=getattr(logging, level), handlers=handlers)
    logging.getLogger("Pyro5").setLevel(logging.WARNING)
    # Pyro5's client logs every refused connection at ERROR; our callers turn those into
    # one outage line (and one recovery line) of their own.
    logging.getLogger("Pyro5.client").setLevel(logging.CRITICAL)


def whole_lines() -> None:
    """stdout and stderr write each line with one write, as soon as it ends.

    With PYTHONUNBUFFERED=1 (common under pm2 and in containers) Python writes a printed
    line and its newline separately, so the lines of a stack's processes, which share its
    stdout, came out run together ("... auth offChallengePeriodManagerServer serving at").
    Line buffering writes each line whole, as soon as it ends.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True, write_through=False)


def quiet_pyro_logging() -> None:
    """Silence Pyro5's own log lines: a one-shot client command prints its one line instead."""
    logging.getLogger("Pyro5").setLevel(logging.CRITICAL)
    logging.getLogger("Pyro5").addHandler(logging.NullHandler())


def fail(message: str, code: int) -> int:
    """Print a one-line reason on stderr and return the exit code."""
    print(message.splitlines()[0] if message else "error", file=sys.stderr)
    return code


# How often a launcher's main thread wakes while it waits to be stopped. The kernel may
# hand SIGTERM to any thread; Python runs the handler only in the main thread, when that
# thread next wakes, so a wait without a timeout can sleep through the signal for ever.
STOP_POLL_S = 0.2


def wait_for_stop(stop: threading.Event) -> None:
    """Block until ``stop`` is set, waking often enough to run a pending signal handler."""
    while not stop.wait(STOP_POLL_S):
        pass


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM, SIGINT and SIGHUP set ``stop``, so the launcher shuts down cleanly, exit 0.

    SIGHUP too: closing the terminal of a stack must not orphan its services.
    """

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _handler)


def package_version() -> str:
    """This package's version, as installed."""
    try:
        return metadata.version("cpm-services")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def environ() -> Mapping[str, str]:
    """The process environment; only launchers call this."""
    return os.environ
