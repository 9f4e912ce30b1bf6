"""Where one call's time goes: ``python tools/bench_profile.py [--calls N]``.

Starts a name server and a ``cpm-server``, then makes N ``has_miner`` calls and prints the
wall time per call, the CPU each process spent per call (user / system, from
/proc/PID/stat), and the client's cProfile by own time. Run as a file, not a module, so
that ``PYTHONPATH=<another checkout>`` profiles that checkout's client and server the same
way (docs/PERFORMANCE.md compares two versions of the code like that). To see the service's
side, point ``py-spy record -p <printed pid>`` at the server while this runs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time

from clients import ChallengePeriodManager
from nameserver import EmbeddedNameServer


def _cpu_s(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def main(argv: list[str] | None = None) -> int:
    """Profile ``--calls`` has_miner calls; prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args(argv)
    with EmbeddedNameServer() as ns, tempfile.TemporaryDirectory() as state:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.challengeperiod_manager_server",
                "--ns-port",
                str(ns.address.port),
                "--state-dir",
                state,
            ],
            stdout=subprocess.PIPE,
        )
        try:
            assert server.stdout is not None
            server.stdout.readline()  # "... serving at ..."
            print(f"server pid {server.pid}", flush=True)
            with ChallengePeriodManager(ns_port=ns.address.port) as client:
                client.set_miner_bucket("5F" + "0" * 46, "CHALLENGE", 1_700_000_000_000)
                _measure(client, server.pid, args.calls)
        finally:
            server.terminate()
            server.wait(timeout=15)
    return 0


def _measure(client: ChallengePeriodManager, server_pid: int, calls: int) -> None:
    hotkey = "5F" + "0" * 46
    for _ in range(500):
        client.has_miner(hotkey)
    samples = []
    mine, theirs = _cpu_s(os.getpid()), _cpu_s(server_pid)
    for _ in range(calls):
        start = time.perf_counter()
        client.has_miner(hotkey)
        samples.append(time.perf_counter() - start)
    mine_after, theirs_after = _cpu_s(os.getpid()), _cpu_s(server_pid)

    def per_call(before: float, after: float) -> str:
        return f"{(after - before) / calls * 1e6:5.1f}"

    print(f"has_miner p50 {statistics.median(samples) * 1e6:.1f} µs over {calls} calls")
    print(
        f"CPU per call, µs: client user {per_call(mine[0], mine_after[0])} "
        f"sys {per_call(mine[1], mine_after[1])}; server user "
        f"{per_call(theirs[0], theirs_after[0])} sys {per_call(theirs[1], theirs_after[1])}"
    )
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(min(calls, 5000)):
        client.has_miner(hotkey)
    profile.disable()
    pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    sys.exit(main())
