"""``cpm-load``: N client threads of mixed reads, writes and refreshes for T seconds.

By default it starts its own name server and ``cpm-server`` in a temporary state dir, so
it can end by SIGKILLing the service, starting it again and checking that the state it
reads back equals the last snapshot. With ``--ns-port`` of a running stack it loads that
stack instead and skips the restart check.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import extras

try:
    from rich.console import Console
    from rich.table import Table
except ModuleNotFoundError as _exc:  # the "tools" extra is not installed
    raise SystemExit(extras.missing(_exc, "cpm-load")) from None

from clients import ChallengePeriodManager
from nameserver import EmbeddedNameServer
from services.domain.models import MinerBucket
from services.launch import cli

BUCKETS = [b.value for b in MinerBucket]


@dataclass
class Tally:
    """Latencies (seconds) per operation and errors, shared by the worker threads."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: str, seconds: float) -> None:
        with self.lock:
            self.latencies[op].append(seconds)

    def fail(self, op: str, exc: Exception) -> None:
        with self.lock:
            self.errors.append(f"{op}: {type(exc).__name__}: {exc}")


def _one_op(client: ChallengePeriodManager, rng: random.Random, miners: int, n: int) -> str:
    hotkey = f"load{rng.randrange(miners)}"
    roll = rng.random()
    if roll < 0.40:
        client.has_miner(hotkey)
        return "has_miner"
    if roll < 0.60:
        client.get_miner_bucket(hotkey)
        return "get_miner_bucket"
    if roll < 0.65:
        client.get_snapshot()
        return "get_snapshot"
    if roll < 0.85:
        client.set_miner_bucket(hotkey, rng.choice(BUCKETS), 1_000 + rng.randrange(10**9))
        return "set_miner_bucket"
    if roll < 0.92:
        client.update_elimination_reasons({hotkey: ("ZOMBIE", -1)})
        return "update_elimination_reasons"
    if roll < 0.97:
        client.pop_elimination_reasons([hotkey])
        return "pop_elimination_reasons"
    if n % 10 == 0:
        hotkeys = [f"load{i}" for i in range(miners)]
        client.submit_refresh_inputs({"metagraph_hotkeys": hotkeys, "miners": {}})
    client.refresh_now()
    return "refresh_now"


def _worker(
    ns_port: int, seed: int, miners: int, deadline: float, tally: Tally, token: str | None
) -> None:
    rng = random.Random(seed)
    with ChallengePeriodManager(ns_port=ns_port, timeout_s=10, auth_token=token) as client:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            started = time.perf_counter()
            try:
                op = _one_op(client, rng, miners, n)
            except Exception as exc:  # a load tool counts every failure, of any kind
                tally.fail("op", exc)
                continue
            tally.add(op, time.perf_counter() - started)


def _check_invariants(client: ChallengePeriodManager) -> dict[str, Any]:
    snapshot = client.get_snapshot()
    listings = {
        "CHALLENGE": client.get_testing_miners(),
        "MAINCOMP": client.get_success_miners(),
        "PROBATION": client.get_probation_miners(),
        "PLAGIARISM": client.get_plagiarism_miners(),
    }
    seen: dict[str, int] = defaultdict(int)
    for group in listings.values():
        for hotkey in group:
            seen[hotkey] += 1
    in_two = sorted(hk for hk, n in seen.items() if n > 1)
    return {
        "snapshot": snapshot,
        "hotkeys_in_more_than_one_bucket": in_two,
        "listings_match_snapshot": set(seen) == set(snapshot["miners"]),
    }


def _report(tally: Tally, seconds: float, clients: int, checks: dict[str, Any]) -> dict[str, Any]:
    ops = {}
    for op, values in sorted(tally.latencies.items()):
        ordered = sorted(values)
        ops[op] = {
            "count": len(values),
            "p50_us": round(statistics.median(ordered) * 1e6, 1),
            "p99_us": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6, 1),
        }
    total = sum(v["count"] for v in ops.values())
    return {
        "clients": clients,
        "seconds": seconds,
        "ops": total,
        "ops_per_s": round(total / seconds, 1),
        "errors": len(tally.errors),
        "first_errors": tally.errors[:5],
        "per_op": ops,
        **checks,
    }


def _print(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"cpm-load: {report['clients']} clients, {report['seconds']:.0f} s")
    for column in ("operation", "count", "p50 µs", "p99 µs"):
        table.add_column(column, justify="right" if column != "operation" else "left")
    for op, figures in report["per_op"].items():
        table.add_row(op, str(figures["count"]), str(figures["p50_us"]), str(figures["p99_us"]))
    console.print(table)
    console.print(f"{report['ops']} ops, {report['ops_per_s']} ops/s, {report['errors']} errors")
    for key in ("hotkeys_in_more_than_one_bucket", "listings_match_snapshot", "restart_matches"):
        if key in report:
            console.print(f"{key}: {report[key]}")


class _OwnService:
    """A name server and a cpm-server in a temp dir, for a self-contained run."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="cpm-load-")
        self.ns = EmbeddedNameServer()
        self.port = self.ns.address.port
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable,
            "-m",
            "services.challengeperiod_manager_server",
            "--ns-port",
            str(self.port),
            "--state-dir",
            str(Path(self.tmp.name) / "state"),
            "--log-level",
            "WARNING",
        ]
        # The service's log goes to a file in the temp dir, not over the load figures.
        with open(Path(self.tmp.name) / "server.log", "ab") as log:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
            )
        assert process.stdout is not None
        process.stdout.readline()  # the "serving at" line: registered and serving
        return process

    def kill_and_restart(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = self._start()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.ns.stop()
        self.tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Run the load, print the figures and invariants; exit 1 on any error or violation."""
    env = cli.environ()
    parser = cli.ArgumentParser(prog="cpm-load", description=cli.summary(__doc__))
    parser.add_argument(
        "--ns-port",
        type=cli.port_number,
        default=None,
        help="load the stack registered in this name server (127.0.0.1)",
    )
    parser.add_argument("--clients", type=int, default=16, help="client threads [16]")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration [60]")
    parser.add_argument("--miners", type=int, default=256, help="distinct hotkeys [256]")
    parser.add_argument("--json", dest="json_path", help="also write the report here")
    try:
        args = parser.parse_args(argv)
        if args.clients < 1 or args.seconds <= 0 or args.miners < 1:
            raise cli.UsageError("cpm-load: --clients, --seconds and --miners must be positive")
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    token = env.get("CPM_AUTH_TOKEN") or None
    own = _OwnService() if args.ns_port is None else None
    ns_port = own.port if own is not None else args.ns_port
    try:
        tally = Tally()
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=_worker, args=(ns_port, seed, args.miners, deadline, tally, token)
            )
            for seed in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with ChallengePeriodManager(ns_port=ns_port, auth_token=token) as client:
            checks = _check_invariants(client)
        before = checks.pop("snapshot")
        if own is not None:
            own.kill_and_restart()
            with ChallengePeriodManager(ns_port=ns_port, auth_token=token) as client:
                after = client.get_snapshot()
            checks["restart_matches"] = (
                after["miners"] == before["miners"]
                and after["elimination_reasons"] == before["elimination_reasons"]
                and after["version"] == before["version"]
            )
    finally:
        if own is not None:
            own.close()
    report = _report(tally, args.seconds, args.clients, checks)
    _print(report, Console())
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2))
    healthy = (
        report["errors"] == 0
        and not report["hotkeys_in_more_than_one_bucket"]
        and report["listings_match_snapshot"]
        and report.get("restart_matches", True)
    )
    return cli.EXIT_OK if healthy else cli.EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
