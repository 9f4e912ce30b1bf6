"""The launcher both services share: flags, Pyro5 settings, start-up, clean stop, exit codes."""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from Pyro5 import config as pyro_config

from nameserver import NameServerAddress
from services import cli
from services.errors import CorruptStateError, StateWriteError
from services.hosting import ServiceHost, ServiceInfo
from services.lean_daemon import LeanDaemon

log = logging.getLogger("cpm.launch")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class Service(Protocol):
    """What a launcher runs: an exposed object with background work and a clean close."""

    def start_background(self) -> None:
        """Start the service's own threads."""

    def close(self) -> None:
        """Stop them and leave consistent files behind."""


@dataclass(frozen=True)
class ServerSettings:
    """The flags every service takes, resolved against the environment."""

    host: str
    port: int
    ns: NameServerAddress
    state_dir: Path
    fsync: bool


@dataclass(frozen=True)
class ServiceSpec:
    """How to launch one service."""

    prog: str
    description: str
    info: ServiceInfo
    add_flags: Callable[[argparse.ArgumentParser], None]
    build: Callable[[argparse.Namespace, ServerSettings], Service]


def configure_pyro() -> None:
    """Pyro5 settings for a service process; only launchers call this."""
    pyro_config.SERVERTYPE = "thread"
    # Without TCP_NODELAY, small replies wait on Nagle's algorithm.
    pyro_config.SOCK_NODELAY = True
    pyro_config.MAX_MESSAGE_SIZE = MAX_MESSAGE_BYTES


def run_service(spec: ServiceSpec, argv: list[str] | None) -> int:
    """Parse flags, start the service, serve until SIGTERM / SIGINT; returns the exit code."""
    env = cli.environ()
    parser = cli.ArgumentParser(prog=spec.prog, description=spec.description)
    cli.add_nameserver_flags(parser, env)
    cli.add_state_dir_flag(parser, env)
    cli.add_server_flags(parser)
    spec.add_flags(parser)
    try:
        args = parser.parse_args(argv)
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    settings = ServerSettings(
        host=args.host,
        port=args.port,
        ns=NameServerAddress(args.ns_host, args.ns_port),
        state_dir=Path(args.state_dir),
        fsync=args.fsync,
    )
    cli.setup_logging(args.log_level)
    configure_pyro()
    stop = threading.Event()
    cli.install_stop_handlers(stop)
    try:
        service = spec.build(args, settings)
    except cli.UsageError as exc:
        return cli.fail(f"{spec.prog}: {exc}", cli.EXIT_USAGE)
    except (CorruptStateError, StateWriteError) as exc:
        return cli.fail(f"{spec.prog}: {exc}", cli.EXIT_FAILURE)
    try:
        host = ServiceHost(
            service,
            spec.info,
            host=settings.host,
            port=settings.port,
            ns_address=settings.ns,
            daemon_factory=LeanDaemon,
        )
    except OSError as exc:
        service.close()
        return cli.fail(
            f"{spec.prog}: cannot listen on {settings.host}:{settings.port}: {exc}",
            cli.EXIT_USAGE,
        )
    host.start()
    service.start_background()
    print(
        f"{spec.info.name} serving at {host.uri}, state dir {settings.state_dir}, "
        f"name server {settings.ns.host}:{settings.ns.port}",
        flush=True,
    )
    stop.wait()
    log.info("stopping %s", spec.info.name)
    host.stop()
    service.close()
    return cli.EXIT_OK
