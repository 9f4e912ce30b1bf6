"""``cpm-nameserver``: run a Pyro5 name server until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading
from collections.abc import Mapping

from nameserver import EmbeddedNameServer, parse_storage
from services.launch.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    ArgumentParser,
    UsageError,
    add_log_level_flag,
    env_port,
    environ,
    fail,
    install_stop_handlers,
    port_number,
    setup_logging,
)
from services.wire.names import DEFAULT_NS_HOST, DEFAULT_NS_PORT
from services.wire.serializers import harden_serializers

PROG = "cpm-nameserver"

log = logging.getLogger("nameserver")


def _default_port(env: Mapping[str, str]) -> int:
    try:
        return env_port(env, "CPM_NS_PORT", DEFAULT_NS_PORT)
    except UsageError as exc:
        raise UsageError(f"{PROG}: {exc}") from None


def _parse_args(argv: list[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    parser = ArgumentParser(prog=PROG, description="Run a Pyro5 name server.")
    parser.add_argument("--host", default=DEFAULT_NS_HOST, help="address to bind [%(default)s]")
    parser.add_argument(
        "--port",
        type=port_number,
        default=_default_port(env),
        help="port to bind, 0 = any free port [CPM_NS_PORT, default %(default)s]",
    )
    parser.add_argument(
        "--storage",
        default="memory",
        metavar="memory|sql:PATH",
        help="keep registrations in memory or in an sqlite file [%(default)s]",
    )
    add_log_level_flag(parser)
    options = parser.parse_args(argv)
    try:
        parse_storage(options.storage)
    except ValueError as exc:
        raise UsageError(f"{PROG}: {exc}") from None
    token = env.get("CPM_AUTH_TOKEN")
    if token == "":
        raise UsageError(f"{PROG}: CPM_AUTH_TOKEN is set but empty; unset it or give a token")
    options.auth_token = token
    return options


def main(argv: list[str] | None = None) -> int:
    """Serve names until SIGTERM / SIGINT; 0 after a clean stop, 2 on a bad flag or busy port."""
    try:
        options = _parse_args(argv, environ())
    except UsageError as exc:
        return fail(str(exc), EXIT_USAGE)
    setup_logging(options.log_level, options.log_file)

    stop = threading.Event()
    # Put the caller's handlers back afterwards, so main() can also run inside a test.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    install_stop_handlers(stop)
    try:
        return _serve(options, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(options: argparse.Namespace, stop: threading.Event) -> int:
    location = f"{options.host}:{options.port}"
    harden_serializers()
    try:
        server = EmbeddedNameServer(
            options.host, options.port, storage=options.storage, auth_token=options.auth_token
        )
    except sqlite3.Error as exc:
        return fail(f"{PROG}: cannot use storage {options.storage} ({exc})", EXIT_FAILURE)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return fail(f"{PROG}: cannot listen on {location} ({reason.lower()})", EXIT_USAGE)
    with server:
        guarded = "; names change only with CPM_AUTH_TOKEN's proof" if options.auth_token else ""
        print(
            f"name server ready at {server.address} (storage {server.storage}{guarded})",
            flush=True,
        )
        # Wake now and then so a dead request loop ends the process instead of a silent hang.
        while not stop.wait(0.5):
            if not server.running:
                return fail(f"{PROG}: the request loop at {server.address} died", EXIT_FAILURE)
        log.info("stopping the name server at %s", server.address)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
