"""The launcher both services share: flags, Pyro5 settings, start-up, clean stop, exit codes."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from Pyro5 import config as pyro_config

from services.domain.errors import CorruptStateError, StateWriteError
from services.launch import cli
from services.shells.hosting import ServiceHost
from services.shells.metrics import Sample, ServiceMetrics
from services.shells.registration import NameTakenError, ServiceInfo
from services.wire.busy_poll import DEFAULT_BUSY_POLL_US, MAX_BUSY_POLL_US
from services.wire.names import MAX_MESSAGE_BYTES
from services.wire.naming import NameServerAddress
from services.wire.serializers import HANDSHAKE_DEADLINE_S, HANDSHAKE_MAX_BYTES, harden_serializers

log = logging.getLogger("cpm.launch")

DEFAULT_IDLE_TIMEOUT_S = 60.0
DEFAULT_MAX_CONNECTIONS = 80
# A client sends its handshake at once; an unauthenticated socket gets no more than this.
# Short, so a refresh or a handoff round waits little on a peer that is down.
PEER_TIMEOUT_S = 5.0


class Service(Protocol):
    """What a launcher runs: an exposed object with background work and a clean close."""

    def start_background(self) -> None:
        """Start the service's own threads."""

    def close(self) -> None:
        """Stop them and leave consistent files behind."""

    metrics_label: str

    def metrics_sample(self) -> Sample:
        """The state's figures for a Prometheus scrape."""


@dataclass(frozen=True)
class ServerSettings:
    """The flags every service takes, resolved against the environment."""

    host: str
    port: int
    ns: NameServerAddress
    state_dir: Path
    fsync: bool
    auth_token: str | None

    def peer_client_options(self) -> dict[str, Any]:
        """Keyword arguments for a client of the other service, found in the same name server.

        The token is passed explicitly ("" for none), so the client reads no environment.
        """
        return {
            "ns_host": self.ns.host,
            "ns_port": self.ns.port,
            "timeout_s": PEER_TIMEOUT_S,
            "auth_token": self.auth_token or "",
        }


@dataclass(frozen=True)
class ServiceSpec:
    """How to launch one service."""

    prog: str
    description: str
    info: ServiceInfo
    add_flags: Callable[[argparse.ArgumentParser, Mapping[str, str]], None]
    build: Callable[[argparse.Namespace, ServerSettings], Service]


class _QuietIdleTimeouts(logging.Filter):
    """Pyro5 logs a warning each time it drops an idle connection; that is routine here."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("error during handleRequest") and "timeout" in message)


def configure_pyro(*, handshake_timeout_s: float, max_connections: int) -> None:
    """Pyro5 settings for a service process; only launchers call this."""
    pyro_config.SERVERTYPE = "thread"
    # Without TCP_NODELAY, small replies wait on Nagle's algorithm.
    pyro_config.SOCK_NODELAY = True
    pyro_config.MAX_MESSAGE_SIZE = MAX_MESSAGE_BYTES
    # Each open connection holds a worker thread. Pyro5 gives an accepted socket this
    # timeout; the daemon's guard (services.wire.handshake_guard) then holds the whole
    # handshake to it, and it stays Pyro5's own per-receive deadline on a TLS listener,
    # which the guard leaves alone. After the handshake CpmDaemon sets the idle timeout;
    # idle sessions are dropped after that, and clients reconnect transparently.
    pyro_config.COMMTIMEOUT = handshake_timeout_s
    pyro_config.THREADPOOL_SIZE = max_connections
    pyro_config.THREADPOOL_SIZE_MIN = min(4, max_connections)
    logging.getLogger("Pyro5.svr_threads").addFilter(_QuietIdleTimeouts())


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_settings(args: argparse.Namespace, token: str | None) -> None:
    if not token and not is_loopback(args.host) and not args.insecure:
        raise cli.UsageError(
            f"refusing to listen on {args.host} without CPM_AUTH_TOKEN: anyone who reaches "
            "it could change the state; set the token, or pass --insecure to accept that"
        )
    if args.handshake_timeout_s <= 0:
        raise cli.UsageError("--handshake-timeout-s must be positive")
    if not 256 <= args.handshake_max_bytes <= MAX_MESSAGE_BYTES:
        raise cli.UsageError(f"--handshake-max-bytes must be between 256 and {MAX_MESSAGE_BYTES}")
    if args.idle_timeout_s <= 0:
        raise cli.UsageError("--idle-timeout-s must be positive")
    if not 0 <= args.busy_poll_us <= MAX_BUSY_POLL_US:
        raise cli.UsageError(f"--busy-poll-us must be between 0 and {MAX_BUSY_POLL_US}")
    if not 1 <= args.max_connections <= 10_000:
        raise cli.UsageError("--max-connections must be between 1 and 10000")


def run_service(spec: ServiceSpec, argv: list[str] | None) -> int:
    """Parse flags, start the service, serve until SIGTERM / SIGINT; returns the exit code."""
    env = cli.environ()
    parser = cli.ArgumentParser(prog=spec.prog, description=spec.description)
    cli.add_nameserver_flags(parser, env)
    cli.add_state_dir_flag(parser, env)
    cli.add_server_flags(parser)
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without CPM_AUTH_TOKEN",
    )
    parser.add_argument(
        "--idle-timeout-s",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_S,
        help="drop a connection idle this long [%(default)s]",
    )
    parser.add_argument(
        "--handshake-timeout-s",
        type=float,
        default=HANDSHAKE_DEADLINE_S,
        help="drop a connection that has not completed its handshake this long [%(default)s]",
    )
    parser.add_argument(
        "--handshake-max-bytes",
        type=int,
        default=HANDSHAKE_MAX_BYTES,
        help="refuse a larger handshake before decoding it [%(default)s]",
    )
    parser.add_argument(
        "--busy-poll-us",
        type=int,
        default=DEFAULT_BUSY_POLL_US,
        help="poll a connection this many µs for the next request before blocking; "
        "0 turns it off [%(default)s]",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="open connections served at once; more are refused [%(default)s]",
    )
    parser.add_argument(
        "--metrics-port",
        type=cli.port_number,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics [off]",
    )
    spec.add_flags(parser, env)
    token = env.get("CPM_AUTH_TOKEN") or None
    try:
        args = parser.parse_args(argv)
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    try:
        _check_settings(args, token)
    except cli.UsageError as exc:
        return cli.fail(f"{spec.prog}: {exc}", cli.EXIT_USAGE)
    settings = ServerSettings(
        host=args.host,
        port=args.port,
        ns=NameServerAddress(args.ns_host, args.ns_port),
        state_dir=Path(args.state_dir),
        fsync=args.fsync,
        auth_token=token,
    )
    cli.setup_logging(args.log_level, args.log_file)
    configure_pyro(
        handshake_timeout_s=args.handshake_timeout_s, max_connections=args.max_connections
    )
    harden_serializers(args.handshake_max_bytes)
    stop = threading.Event()
    cli.install_stop_handlers(stop)
    try:
        service = spec.build(args, settings)
    except cli.UsageError as exc:
        return cli.fail(f"{spec.prog}: {exc}", cli.EXIT_USAGE)
    except (CorruptStateError, StateWriteError) as exc:
        return cli.fail(f"{spec.prog}: {exc}", cli.EXIT_FAILURE)
    metrics: ServiceMetrics | None = None
    if args.metrics_port is not None:
        metrics = ServiceMetrics(service.metrics_sample, service.metrics_label)
        metrics.instrument(service)
        try:
            metrics.serve(args.metrics_port)
        except OSError as exc:
            service.close()
            return cli.fail(
                f"{spec.prog}: cannot serve metrics on 127.0.0.1:{args.metrics_port}: {exc}",
                cli.EXIT_USAGE,
            )
    try:
        host = ServiceHost(
            service,
            spec.info,
            host=settings.host,
            port=settings.port,
            ns_address=settings.ns,
            auth_token=token,
            idle_timeout_s=args.idle_timeout_s,
            handshake_timeout_s=args.handshake_timeout_s,
            handshake_max_bytes=args.handshake_max_bytes,
            busy_poll_us=args.busy_poll_us,
        )
    except OSError as exc:
        service.close()
        return cli.fail(
            f"{spec.prog}: cannot listen on {settings.host}:{settings.port}: {exc}",
            cli.EXIT_USAGE,
        )
    host.registration.auth_token = token
    if metrics is not None:
        host.daemon.on_refused = metrics.auth_refusals.inc
        drops = metrics.handshake_drops
        host.daemon.on_dropped = lambda reason: drops.labels(reason).inc()
    try:
        host.start()
    except NameTakenError as exc:
        # Another live stack owns the name (and its data): this one must not serve under it.
        host.stop()
        service.close()
        return cli.fail(f"{spec.prog}: {exc}", cli.EXIT_FAILURE)
    service.start_background()
    print(
        f"{spec.info.name} serving at {host.uri}, state dir {settings.state_dir}, "
        f"name server {settings.ns.host}:{settings.ns.port}, "
        f"auth {'on' if token else 'off'}",
        flush=True,
    )
    cli.wait_for_stop(stop)
    log.info("stopping %s", spec.info.name)
    host.stop()
    service.close()
    return cli.EXIT_OK
