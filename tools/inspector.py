"""``cpm-inspect``: a rich terminal view of the live challenge-period and elimination state.

One fetch is a name lookup (to show where the service was found), a health check, ONE
``get_snapshot`` (so the tables are a consistent view) and the elimination rows. The
tables themselves are built by ``tools.inspector_view``; only ``main()`` prints.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from typing import Any

from tools import extras

try:
    from rich.console import Console
    from rich.live import Live
except ModuleNotFoundError as _exc:  # the "tools" extra is not installed
    raise SystemExit(extras.missing(_exc, "cpm-inspect")) from None

from clients import ChallengePeriodManager, EliminationManager
from services.domain.errors import CpmError
from services.domain.models import BUCKET_NAMES, MinerBucket
from services.launch import cli
from services.wire.naming import NameServerAddress
from tools.inspector_layout import fitted_screen, miner_detail
from tools.inspector_view import ScreenData, build_json, hotkey_json, render_screen

# Short, so a dead service shows up as "reconnecting…" quickly instead of freezing the view.
CLIENT_TIMEOUT_S = 3.0
DEFAULT_INTERVAL_S = 2.0
DEFAULT_LIMIT = 20


class Source:
    """Both clients of one stack, fetching everything a screen needs."""

    def __init__(self, ns: NameServerAddress, timeout_s: float = CLIENT_TIMEOUT_S) -> None:
        self.ns = ns
        self.timeout_s = timeout_s
        self.cpm = ChallengePeriodManager(ns_host=ns.host, ns_port=ns.port, timeout_s=timeout_s)
        self.em = EliminationManager(ns_host=ns.host, ns_port=ns.port, timeout_s=timeout_s)

    def fetch(self) -> ScreenData:
        """One screen's data; raises the project's errors when the challenge-period side fails."""
        uri = self.cpm.service_uri()
        health = self.cpm.health_check()
        snapshot = self.cpm.get_snapshot()
        eliminations: list[dict[str, Any]] | None
        try:
            eliminations = self.em.get_eliminations()
        except (CpmError, ConnectionError):
            eliminations = None
        return ScreenData(snapshot, health, eliminations, uri, str(self.ns))

    def close(self) -> None:
        """Release both clients' connections."""
        self.cpm.close()
        self.em.close()


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _bucket(text: str) -> MinerBucket:
    name = text.upper()
    if name not in BUCKET_NAMES:
        choices = ", ".join(b.value for b in MinerBucket)
        raise argparse.ArgumentTypeError(f"unknown bucket {text!r}; choose one of {choices}")
    return MinerBucket(name)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="cpm-inspect", description="Show the live challenge-period and elimination state."
    )
    cli.add_nameserver_flags(parser, cli.environ())
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--watch", action="store_true", help="redraw in place until Ctrl-C")
    mode.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    parser.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_INTERVAL_S,
        metavar="SECONDS",
        help="seconds between redraws with --watch [%(default)s]",
    )
    parser.add_argument(
        "--bucket", type=_bucket, metavar="NAME", help="show only this bucket (any case)"
    )
    parser.add_argument("--hotkey", metavar="HOTKEY", help="show everything known about one miner")
    parser.add_argument(
        "--limit",
        type=_limit,
        metavar="N",
        help="rows per table [what fits the terminal; 20 when not on a terminal]",
    )
    args = parser.parse_args(argv)
    if args.ns_port == 0:
        raise cli.UsageError("cpm-inspect: --ns-port must name the name server's port, not 0")
    return args


def _exit_code(exc: BaseException) -> int:
    # Unreachable or refused (auth) is the contract's "service unreachable": 2. Anything
    # else, say a service answering with an internal error, is a failure: 1.
    if isinstance(exc, (ConnectionError, PermissionError)):
        return cli.EXIT_USAGE
    return cli.EXIT_FAILURE


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _screen(
    console: Console, data: ScreenData, args: argparse.Namespace, status: str | None = None
) -> Any:
    if args.hotkey is not None:
        return miner_detail(data, args.hotkey)
    width, height = console.size
    if not console.is_terminal and args.limit is None:
        return render_screen(data, bucket=args.bucket, limit=DEFAULT_LIMIT)
    return fitted_screen(data, width, height, bucket=args.bucket, status=status, limit=args.limit)


def _watch(console: Console, source: Source, first: ScreenData, args: argparse.Namespace) -> int:
    stop = threading.Event()
    cli.install_stop_handlers(stop)
    data, fetched_at = first, time.monotonic()
    with Live(_screen(console, data, args), console=console, auto_refresh=False) as live:
        while not stop.wait(args.interval):
            status = None
            try:
                data, fetched_at = source.fetch(), time.monotonic()
            except (CpmError, ConnectionError) as exc:
                # Keep the last good tables on screen, saying how old they are; the clients
                # look the name up again on the next fetch, wherever the service now listens.
                age = time.monotonic() - fetched_at
                status = f"reconnecting… ({_first_line(exc)}); the data shown is {age:.0f} s old"
            live.update(_screen(console, data, args, status), refresh=True)
    return cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Print the live state once, as JSON, or redraw it until Ctrl-C; returns the exit code."""
    try:
        args = _parse(argv)
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    cli.quiet_pyro_logging()  # Pyro5 logs refused connections itself; ours is one line
    source: Source | None = None
    try:
        source = Source(NameServerAddress(args.ns_host, args.ns_port))
        data = source.fetch()
        if args.json:
            document = build_json(data.snapshot, data.health, data.eliminations, args.bucket)
            if args.hotkey is not None:
                document = hotkey_json(document, args.hotkey)
            print(json.dumps(document, indent=2))
            return cli.EXIT_OK
        console = Console()
        if args.watch:
            return _watch(console, source, data, args)
        console.print(_screen(console, data, args))
        return cli.EXIT_OK
    except (CpmError, ConnectionError, PermissionError) as exc:
        return cli.fail(f"cpm-inspect: {_first_line(exc)}", _exit_code(exc))
    except KeyboardInterrupt:
        return cli.EXIT_OK
    finally:
        if source is not None:
            source.close()


if __name__ == "__main__":
    sys.exit(main())
