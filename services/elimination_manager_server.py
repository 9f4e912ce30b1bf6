"""``cpm-elimination-server``: the elimination service's launcher.

Parses the flags, builds ``EliminationManagerServer`` wired to its peer (a
``ChallengePeriodManager`` client, found by name), hosts it until SIGTERM or Ctrl-C. The
class itself lives in ``services.shells.elimination``; it is re-exported here under the name
the contract gives this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from clients.challengeperiod_manager import ChallengePeriodManager
from services.launch.cli import UsageError
from services.launch.run import ServerSettings, ServiceSpec, run_service
from services.shells.elimination import DEFAULT_POLL_INTERVAL_MS, EliminationManagerServer
from services.shells.registration import ServiceInfo
from services.wire.names import ELIMINATION_SERVICE

__all__ = ["EliminationManagerServer", "main"]


def _add_flags(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    parser.add_argument(
        "--poll-interval-ms",
        type=int,
        default=DEFAULT_POLL_INTERVAL_MS,
        help="how often to ask the challenge-period service for pending reasons [%(default)s]",
    )
    parser.add_argument(
        "--check-interval-ms",
        type=int,
        default=None,
        help="run the whole elimination round this often [the rule set's interval]",
    )


def _build(args: argparse.Namespace, settings: ServerSettings) -> EliminationManagerServer:
    if args.poll_interval_ms <= 0:
        raise UsageError("--poll-interval-ms must be a positive number of milliseconds")
    if args.check_interval_ms is not None and args.check_interval_ms <= 0:
        raise UsageError("--check-interval-ms must be a positive number of milliseconds")
    source = ChallengePeriodManager(**settings.peer_client_options())
    return EliminationManagerServer(
        settings.state_dir,
        fsync=settings.fsync,
        reasons_source=source,
        poll_interval_ms=args.poll_interval_ms,
        check_interval_ms=args.check_interval_ms,
    )


SPEC = ServiceSpec(
    prog="cpm-elimination-server",
    description="The elimination service: records what the challenge-period service eliminates.",
    info=ServiceInfo(ELIMINATION_SERVICE, frozenset({"cpm", "elimination", "cpm.api.v1"})),
    add_flags=_add_flags,
    build=_build,
)


def main(argv: list[str] | None = None) -> int:
    """``cpm-elimination-server``: run the elimination service until SIGTERM / Ctrl-C."""
    return run_service(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
