"""The peer design for ``cpm-bench``: the validators' RPC today, ``BaseManager`` + pickle.

The reference validators moved their managers behind ``multiprocessing.managers.BaseManager``
servers: one object in its own process, its methods called through an auto-proxy that
pickles arguments and results. This module runs such a server with the same methods and
payloads as our challenge-period service (plain dicts, no disk), so ``cpm-bench`` can time
both side by side in one run.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.managers
import subprocess
import sys
from typing import Any

from Pyro5.api import Proxy

AUTHKEY = b"cpm-bench-peer"


class PeerChallengePeriod:
    """The reference's challenge-period state as its BaseManager server holds it."""

    def __init__(self) -> None:
        self.miners: dict[str, tuple[str, int, str | None, int | None]] = {}
        self.reasons: dict[str, tuple[str, float]] = {}

    def has_miner(self, hotkey: str) -> bool:
        """True when the hotkey is in a bucket."""
        return hotkey in self.miners

    def set_miner_bucket(self, hotkey: str, bucket: str, start: int) -> bool:
        """Place a miner; True when it was new."""
        new = hotkey not in self.miners
        self.miners[hotkey] = (bucket, start, None, None)
        return new

    def update_elimination_reasons(self, reasons: dict[str, tuple[str, float]]) -> int:
        """Merge reasons in; returns how many are pending."""
        self.reasons.update(reasons)
        return len(self.reasons)

    def clear_elimination_reasons(self) -> None:
        """Drop every pending reason."""
        self.reasons.clear()

    def to_checkpoint_dict(self) -> dict[str, dict[str, Any]]:
        """Every miner's entry, as the reference's snapshot call returns it."""
        return {
            hk: {
                "bucket": b,
                "bucket_start_time": s,
                "previous_bucket": pb,
                "previous_bucket_start_time": pt,
            }
            for hk, (b, s, pb, pt) in self.miners.items()
        }


class PeerManager(multiprocessing.managers.BaseManager):
    """The BaseManager the peer server and its clients share."""


_STATE = PeerChallengePeriod()


def _shared_state() -> PeerChallengePeriod:
    return _STATE


PeerManager.register("ChallengePeriod", callable=_shared_state)


class PeerServer:
    """A BaseManager server process on 127.0.0.1, and one client proxy of its object."""

    def __init__(self) -> None:
        self._server = PeerManager(address=("127.0.0.1", 0), authkey=AUTHKEY)
        self._server.start()
        client = PeerManager(address=self._server.address, authkey=AUTHKEY)
        client.connect()
        self.proxy: Any = client.ChallengePeriod()  # type: ignore[attr-defined]

    def close(self) -> None:
        """Stop the server process."""
        self._server.shutdown()


# Stock Pyro5 as it comes, for the fast-path comparison: its own Daemon and Proxy with its
# msgpack serializer, no guard, no buffering, no polling, a plain set behind has_miner.
_STOCK_PYRO5 = """
from Pyro5.api import Daemon, expose

@expose
class Miners:
    def __init__(self):
        self.miners = set()

    def set_miner_bucket(self, hotkey, bucket, start):
        new = hotkey not in self.miners
        self.miners.add(hotkey)
        return new

    def has_miner(self, hotkey):
        return hotkey in self.miners

daemon = Daemon(host="127.0.0.1")
print(daemon.register(Miners(), "miners"), flush=True)
daemon.requestLoop()
"""


class StockPyro5Server:
    """A stock Pyro5 daemon in a child process on 127.0.0.1, and a stock Proxy of it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _STOCK_PYRO5], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        self.proxy: Any = Proxy(self.process.stdout.readline().decode().strip())
        self.proxy._pyroSerializer = "msgpack"
        self.proxy._pyroTimeout = 10

    def close(self) -> None:
        """Release the proxy and stop the child by PID."""
        self.proxy._pyroRelease()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
