"""What the elimination service knows of the challenge-period service, kept current cheaply.

The validator submits its inputs once, to the challenge-period service. This view asks it
with ``get_elimination_inputs(since)``: None when nothing changed, else the MAINCOMP hotkeys
and rule set, plus the inputs only when they changed, so a round costs one small call.
While the peer is down the view keeps what it last received and says so once in the log.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from services.domain import config
from services.domain.config import VANTA_2025_12, RulesConfig
from services.domain.errors import InvalidInputError, ServiceUnavailableError
from services.domain.models import check_hotkeys
from services.domain.ports import ChallengePeriodPort
from services.domain.refresh_inputs import RefreshInputs, parse_refresh_inputs

log = logging.getLogger("cpm.elimination")


class PeerView:
    """The latest inputs, MAINCOMP set and rule set the challenge-period service reported."""

    def __init__(self, source: ChallengePeriodPort | None) -> None:
        self.source = source
        self.inputs: RefreshInputs | None = None
        self.metagraph: frozenset[str] = frozenset()
        self.maincomp: tuple[str, ...] = ()
        self.rules: RulesConfig = VANTA_2025_12
        self.down = False
        self._since: list[object] | None = None
        self._lock = threading.Lock()

    def sync(self) -> bool:
        """Take what changed since the last answer; True when the peer answered."""
        if self.source is None:
            return False
        with self._lock:
            try:
                reply = self.source.get_elimination_inputs(self._since)
            except ServiceUnavailableError as exc:
                self.mark(up=False, reason=str(exc))
                return False
            self.mark(up=True)
            if reply is not None:
                self._take(reply)
            return True

    def _take(self, reply: dict[str, Any]) -> None:
        since, name, maincomp = reply.get("since"), reply.get("ruleset"), reply.get("maincomp")
        if not isinstance(since, list) or not isinstance(maincomp, list):
            raise InvalidInputError(f"the challenge-period service sent {reply!r:.80}")
        self.maincomp = tuple(check_hotkeys(maincomp, "maincomp"))
        if name != self.rules.name:
            try:
                self.rules = config.ruleset(name if isinstance(name, str) else None)
            except InvalidInputError:
                log.warning("unknown rule set %r from the challenge-period service", name)
        if "inputs" in reply:
            if reply["inputs"] is not None:
                self.inputs = parse_refresh_inputs(reply["inputs"])
                self.metagraph = frozenset(self.inputs.metagraph_hotkeys)
            elif self.inputs is not None:
                # A restarted peer has no inputs until the validator's next cycle; the last
                # ones are still the latest the validator sent.
                log.info("the challenge-period service has no inputs yet; keeping the last ones")
        self._since = since

    def mark(self, *, up: bool, reason: str = "") -> None:
        """Note whether the peer answers; logs each change once."""
        if up and self.down:
            log.info("challenge-period service answers again")
        elif not up and not self.down:
            log.warning(
                "challenge-period service unavailable (%s); rounds do what they can without it",
                reason,
            )
        self.down = not up
