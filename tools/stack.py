"""``cpm-stack``: a name server (unless one answers already) and both services, as one unit.

The services run as child processes, exactly as ``cpm-server`` and
``cpm-elimination-server`` would. The stack says "ready" once each health check answers. A
child that exits is restarted with a growing delay; one that keeps exiting (more than
``MAX_RESTARTS_PER_MINUTE``) or dies of a signal stops the stack with exit 1, naming it.
Ctrl-C or SIGTERM stops everything, by PID, and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from clients import ChallengePeriodManager, EliminationManager
from nameserver import EmbeddedNameServer
from services.launch import cli
from services.shells.registration import live_holder, taken_message
from services.wire.naming import NameServerAddress, ping_nameserver
from services.wire.serializers import harden_serializers
from tools.demo import start_demo
from tools.stack_child import Child, describe_exit

log = logging.getLogger("cpm.stack")

READY_TIMEOUT_S = 30.0
MAX_RESTARTS_PER_MINUTE = 5
# The delay before a restart doubles with each restart in the last minute, up to the cap.
RESTART_BACKOFF_S = 0.5
RESTART_BACKOFF_MAX_S = 10.0
SUPERVISE_POLL_S = 0.2
INSPECTOR = "cpm-inspect"
# The demo refreshes at its own accelerated clock; a service refresh at the wall-clock time
# would judge the miners days "in the past" (promoting at an older time, moving the last
# refresh time back), so with --demo the service's own loop waits a day unless told otherwise.
DEMO_REFRESH_INTERVAL_MS = 86_400_000
DEMO_STATE_DIR = "./validation-demo"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    env = cli.environ()
    parser = cli.ArgumentParser(
        prog="cpm-stack", description="Name server and both services, stopped together."
    )
    cli.add_nameserver_flags(parser, env)
    cli.add_state_dir_flag(parser, env)
    cli.add_ruleset_flags(parser, env)
    parser.add_argument(
        "--demo",
        action="store_true",
        help=f"feed the stack a simulated validator (state in {DEMO_STATE_DIR} unless given)",
    )
    parser.add_argument(
        "--view",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the live inspector in this terminal, logs to STATE_DIR/logs "
        "[default: with --demo on a terminal]",
    )
    cli.add_log_level_flag(parser)
    # Passed on to the services, as each takes them (see cpm-server --help).
    parser.add_argument(
        "--fsync",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="services flush every change to the device before acknowledging it [on]",
    )
    parser.add_argument("--max-connections", type=int, help="each service's connection limit")
    parser.add_argument("--idle-timeout-s", type=float, help="each service's idle timeout")
    parser.add_argument(
        "--handshake-timeout-s", type=float, help="each service's handshake deadline"
    )
    parser.add_argument(
        "--handshake-max-bytes", type=int, help="each service's limit on a handshake's size"
    )
    parser.add_argument(
        "--busy-poll-us", type=int, help="each service's poll for the next request (0: off)"
    )
    parser.add_argument(
        "--poll-interval-ms", type=int, help="the elimination service's poll for pending reasons"
    )
    args = parser.parse_args(argv)
    if env.get("CPM_AUTH_TOKEN") == "":
        raise cli.UsageError("cpm-stack: CPM_AUTH_TOKEN is set but empty; unset it or give a token")
    words = sys.argv[1:] if argv is None else argv
    state_dir_given = any(a == "--state-dir" or a.startswith("--state-dir=") for a in words)
    if args.demo and not state_dir_given and not env.get("CPM_STATE_DIR"):
        # Synthetic miners must never mix with a validator's real state in ./validation.
        args.state_dir = DEMO_STATE_DIR
    if args.view is None:
        args.view = args.demo and sys.stdin.isatty() and sys.stdout.isatty()
    if args.refresh_interval_ms is None and args.demo:
        args.refresh_interval_ms = DEMO_REFRESH_INTERVAL_MS
    args.rules = cli.resolve_rules(args)
    return args


def _children(args: argparse.Namespace) -> list[Child]:
    ns = ["--ns-host", args.ns_host, "--ns-port", str(args.ns_port)]
    common = [*ns, "--state-dir", args.state_dir, "--log-level", args.log_level]
    common.append("--fsync" if args.fsync else "--no-fsync")
    for flag, value in (
        ("--max-connections", args.max_connections),
        ("--idle-timeout-s", args.idle_timeout_s),
        ("--handshake-timeout-s", args.handshake_timeout_s),
        ("--handshake-max-bytes", args.handshake_max_bytes),
        ("--busy-poll-us", args.busy_poll_us),
    ):
        if value is not None:
            common += [flag, str(value)]
    elimination_extra = (
        [] if args.poll_interval_ms is None else ["--poll-interval-ms", str(args.poll_interval_ms)]
    )
    python = [sys.executable, "-m"]
    address = {"ns_host": args.ns_host, "ns_port": args.ns_port, "timeout_s": 2.0}
    return [
        Child(
            "ChallengePeriodManagerServer",
            [
                *python,
                "services.challengeperiod_manager_server",
                *common,
                "--ruleset",
                args.rules.name,
                "--refresh-interval-ms",
                str(args.rules.refresh_interval_ms),
            ],
            lambda: ChallengePeriodManager(**address),
        ),
        Child(
            "EliminationManagerServer",
            [*python, "services.elimination_manager_server", *common, *elimination_extra],
            lambda: EliminationManager(**address),
        ),
    ]


def _wait_ready(children: list[Child], stop: threading.Event) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = list(children)
    while pending and time.monotonic() < deadline and not stop.is_set():
        for child in list(pending):
            assert child.process is not None
            if child.process.poll() is not None:
                print(
                    f"cpm-stack: {child.name} {describe_exit(child.process.returncode)}",
                    file=sys.stderr,
                )
                return False
            if child.ready():
                pending.remove(child)
        time.sleep(0.1)
    if pending and not stop.is_set():
        names = ", ".join(c.name for c in pending)
        print(f"cpm-stack: not ready within {READY_TIMEOUT_S:.0f} s: {names}", file=sys.stderr)
    return not pending


def _supervise(children: list[Child], stop: threading.Event) -> int:
    """Restart a service that exited, with backoff; returns the stack's exit code.

    A child that keeps exiting, or died of a signal (ours are sent only after this returns),
    ends the supervision with EXIT_FAILURE; leaving the view or a stop request with EXIT_OK.
    """
    while not stop.wait(SUPERVISE_POLL_S):
        for child in children:
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                if child.awaiting_ready and child.ready():
                    child.awaiting_ready = False
                    print(f"{child.name} ready again (pid {child.process.pid})", flush=True)
                continue
            if child.name == INSPECTOR:
                stop.set()
                return cli.EXIT_OK
            now = time.monotonic()
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    child.restarts.append(now)
                    child.start()
                    child.awaiting_ready = True
                continue
            child.restarts = [t for t in child.restarts if now - t < 60]
            if code < 0 or len(child.restarts) >= MAX_RESTARTS_PER_MINUTE:
                why = "" if code < 0 else f" ({len(child.restarts)} restarts within a minute)"
                print(
                    f"cpm-stack: {child.name} {describe_exit(code)}{why}; stopping the stack",
                    file=sys.stderr,
                    flush=True,
                )
                return cli.EXIT_FAILURE
            delay = min(RESTART_BACKOFF_S * 2 ** len(child.restarts), RESTART_BACKOFF_MAX_S)
            log.warning("%s %s; restarting it in %.1f s", child.name, describe_exit(code), delay)
            child.restart_at = now + delay
    return _signal_deaths(children)


def _signal_deaths(children: list[Child]) -> int:
    """EXIT_FAILURE when a child died of a signal before our stop, so a stop never hides it."""
    for child in children:
        code = None if child.process is None else child.process.poll()
        if code is not None and code < 0:
            print(f"cpm-stack: {child.name} {describe_exit(code)}", file=sys.stderr, flush=True)
            return cli.EXIT_FAILURE
    return cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Start the stack, wait for Ctrl-C / SIGTERM, stop everything; returns the exit code."""
    try:
        args = _parse(argv)
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    log_dir = Path(args.state_dir) / "logs"
    if args.view:
        log_dir.mkdir(parents=True, exist_ok=True)
    # With the view on, log lines would tear through the live screen: they go to files.
    cli.setup_logging(args.log_level, log_dir / "stack.log" if args.view else None)
    stop = threading.Event()
    cli.install_stop_handlers(stop)
    address = NameServerAddress(args.ns_host, args.ns_port)
    embedded: EmbeddedNameServer | None = None
    if ping_nameserver(address):
        print(f"using the name server already at {address}", flush=True)
    else:
        harden_serializers()
        try:
            embedded = EmbeddedNameServer(
                host=args.ns_host, port=args.ns_port, auth_token=cli.environ().get("CPM_AUTH_TOKEN")
            )
        except OSError as exc:
            return cli.fail(
                f"cpm-stack: cannot start a name server at {address}: {exc}", cli.EXIT_USAGE
            )
        print(f"name server started at {address}", flush=True)
    children = _children(args)
    for child in children:
        holder = live_holder(address, child.name, cli.environ().get("CPM_AUTH_TOKEN"))
        if holder is not None:
            # Another stack owns these names and their data; starting would fight over them.
            return cli.fail(f"cpm-stack: {taken_message(child.name, address, holder)}", 1)
    if args.view:
        for child in children:
            child.log_path = log_dir / f"{child.name}.log"
    try:
        for child in children:
            child.start()
        if not _wait_ready(children, stop):
            return cli.EXIT_OK if stop.is_set() else cli.EXIT_FAILURE
        for child in children:
            assert child.process is not None
            print(f"{child.name} ready (pid {child.process.pid})", flush=True)
        print(
            f"state dir {args.state_dir}\n"
            f"watch it live, in another terminal: {_inspect_command()} --ns-port {args.ns_port} "
            "--watch\nCtrl-C stops everything",
            flush=True,
        )
        extra = _start_demo(args, stop) if args.demo else None
        if args.view:
            print(f"logs in {log_dir}", flush=True)
            children.append(_inspector_child(args))
            children[-1].start()
        code = _supervise(children, stop)
        if extra is not None:
            extra()
        return code
    finally:
        for child in reversed(children):
            child.stop()
        if embedded is not None:
            embedded.stop()


def _inspector_child(args: argparse.Namespace) -> Child:
    """cpm-inspect --watch in this terminal (it inherits stdin, stdout and stderr)."""
    argv = [
        sys.executable,
        "-m",
        "tools.inspector",
        "--ns-host",
        args.ns_host,
        "--ns-port",
        str(args.ns_port),
        "--watch",
    ]
    return Child(
        INSPECTOR,
        argv,
        lambda: ChallengePeriodManager(ns_port=args.ns_port),
        interactive=True,
    )


def _inspect_command() -> str:
    """cpm-inspect next to this interpreter (the venv's), so it works without activating it."""
    beside = Path(sys.executable).parent / "cpm-inspect"
    return str(beside) if beside.exists() else "cpm-inspect"


def _start_demo(args: argparse.Namespace, stop: threading.Event) -> Callable[[], None] | None:
    return start_demo(NameServerAddress(args.ns_host, args.ns_port), stop)


if __name__ == "__main__":
    sys.exit(main())
