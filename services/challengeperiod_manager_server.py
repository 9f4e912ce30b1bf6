"""``cpm-server``: the challenge-period service's launcher.

Parses the flags, builds ``ChallengePeriodManagerServer`` wired to its peer (an
``EliminationManager`` client, found by name), hosts it until SIGTERM or Ctrl-C. The class
itself lives in ``services.shells.challengeperiod``; it is re-exported here under the name
the contract gives this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from clients.elimination_manager import EliminationManager
from services.launch.cli import add_ruleset_flags, resolve_rules
from services.launch.run import ServerSettings, ServiceSpec, run_service
from services.shells.challengeperiod import ChallengePeriodManagerServer
from services.shells.registration import ServiceInfo
from services.wire.names import CHALLENGEPERIOD_SERVICE

__all__ = ["ChallengePeriodManagerServer", "main"]


def _add_flags(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    add_ruleset_flags(parser, env)


def _build(args: argparse.Namespace, settings: ServerSettings) -> ChallengePeriodManagerServer:
    rules = resolve_rules(args)
    # Found by name on every refresh's first call after an outage, so a restarted
    # elimination service on a new port is picked up without a restart here.
    eliminations = EliminationManager(**settings.peer_client_options())
    return ChallengePeriodManagerServer(
        settings.state_dir,
        rules=rules,
        fsync=settings.fsync,
        eliminated_source=eliminations.get_eliminated_hotkeys_frozen,
    )


SPEC = ServiceSpec(
    prog="cpm-server",
    description="The challenge-period service: buckets, refresh loop, pending eliminations.",
    info=ServiceInfo(CHALLENGEPERIOD_SERVICE, frozenset({"cpm", "challengeperiod", "cpm.api.v1"})),
    add_flags=_add_flags,
    build=_build,
)


def main(argv: list[str] | None = None) -> int:
    """``cpm-server``: run the challenge-period service until SIGTERM / Ctrl-C."""
    return run_service(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
