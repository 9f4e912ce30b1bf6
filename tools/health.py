"""``cpm-health``: one check of both services, found by name, for monitors and scripts.

Exit 0 when both say "ok"; 1 when either is degraded, or the last refresh is older than
``--max-refresh-age-s``; 2 when the name server or a service does not answer (or on a bad
flag), with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from clients import ChallengePeriodManager, EliminationManager
from clients.base import ServiceClient
from services.domain.errors import CpmError
from services.domain.timeutil import now_ms
from services.launch import cli

PROG = "cpm-health"
TIMEOUT_S = 5.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.ArgumentParser(prog=PROG, description="Check both services once.")
    cli.add_nameserver_flags(parser, cli.environ())
    parser.add_argument(
        "--max-refresh-age-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also degraded when the last challenge-period refresh is older than this",
    )
    parser.add_argument("--json", action="store_true", help="print both health dicts as JSON")
    args = parser.parse_args(argv)
    if args.max_refresh_age_s is not None and not args.max_refresh_age_s > 0:
        raise cli.UsageError(f"{PROG}: --max-refresh-age-s must be a positive number of seconds")
    return args


def _health(client: ServiceClient[Any]) -> dict[str, Any]:
    with client:
        return dict(client.health_check())


def judge(
    cpm: dict[str, Any], em: dict[str, Any], max_refresh_age_s: float | None, now: int
) -> list[str]:
    """One line per reason the pair is not healthy; empty when both are."""
    reasons: list[str] = []
    for name, health in (("challenge-period", cpm), ("elimination", em)):
        if health.get("status") != "ok":
            problems = "; ".join(str(p) for p in health.get("problems") or []) or "no reason given"
            reasons.append(f"{name} service is {health.get('status')}: {problems}")
    if max_refresh_age_s is not None:
        last = cpm.get("last_refresh_ms")
        if not isinstance(last, int):
            reasons.append("challenge-period service has not refreshed yet")
        elif (now - last) / 1000 > max_refresh_age_s:
            age = (now - last) / 1000
            reasons.append(f"last refresh {age:.0f} s ago (over {max_refresh_age_s:g} s)")
    return reasons


def main(argv: list[str] | None = None) -> int:
    """Check both services once; returns 0 healthy, 1 degraded, 2 unreachable."""
    try:
        args = _parse(argv)
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    cli.quiet_pyro_logging()  # Pyro5 logs refused connections itself; ours is one line
    address = {"ns_host": args.ns_host, "ns_port": args.ns_port, "timeout_s": TIMEOUT_S}
    try:
        cpm = _health(ChallengePeriodManager(**address))
        em = _health(EliminationManager(**address))
    except (CpmError, ConnectionError, PermissionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return cli.fail(f"{PROG}: unreachable: {first}", cli.EXIT_USAGE)
    reasons = judge(cpm, em, args.max_refresh_age_s, now_ms())
    if args.json:
        print(json.dumps({"challengeperiod": cpm, "elimination": em}, indent=2, default=str))
    elif not reasons:
        print(f"ok: challenge-period pid {cpm.get('pid')}, elimination pid {em.get('pid')}")
    for reason in reasons:
        print(f"{PROG}: {reason}", file=sys.stderr)
    return cli.EXIT_FAILURE if reasons else cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
