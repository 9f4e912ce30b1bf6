"""What the elimination service knows of the challenge-period service, kept current cheaply.

The validator submits its inputs once, to the challenge-period service. This view asks it
with ``get_elimination_changes(since)``: None when nothing changed, else the MAINCOMP hotkeys
and rule set, plus the inputs only when they changed (as changes to the ones held, when
the service can tell them), so a round costs one small call.
While the peer is down the view keeps what it last received and says so once in the log.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from services.domain import config
from services.domain.config import VANTA_2025_12, RulesConfig
from services.domain.errors import InvalidInputError, ServiceUnavailableError
from services.domain.inputs_changes import (
    InputsChanges,
    StaleChanges,
    apply_changes,
    elimination_digest,
)
from services.domain.models import check_hotkeys
from services.domain.ports import ChallengePeriodPort
from services.domain.refresh_inputs import RefreshInputs, parse_refresh_inputs

log = logging.getLogger("cpm.elimination")

MISMATCHED_HELP = (
    "Inputs changes from the challenge-period service refused because they made other "
    "inputs than it holds (a fault; the whole inputs followed), since start"
)


class PeerView:
    """The latest inputs, MAINCOMP set and rule set the challenge-period service reported."""

    def __init__(self, source: ChallengePeriodPort | None) -> None:
        self.source = source
        self.inputs: RefreshInputs | None = None
        self.metagraph: frozenset[str] = frozenset()
        self.maincomp: tuple[str, ...] = ()
        self.rules: RulesConfig = VANTA_2025_12
        self.down = False
        # Changes whose rebuilt inputs had another digest than the peer's (see _as_sent).
        self.mismatched = 0
        self._since: list[object] | None = None
        self._lock = threading.Lock()

    def sync(self) -> bool:
        """Take what changed since the last answer; True when the peer answered."""
        if self.source is None:
            return False
        with self._lock:
            try:
                reply = self.source.get_elimination_changes(self._since)
                if reply is not None and not self._take(reply):
                    # Changes that do not fit the inputs held: the whole inputs instead.
                    reply = self.source.get_elimination_changes(None)
                    if reply is not None:
                        self._take(reply)
            except ServiceUnavailableError as exc:
                self.mark(up=False, reason=str(exc))
                return False
            self.mark(up=True)
            return True

    def _take(self, reply: dict[str, Any]) -> bool:
        """Take the answer; False (nothing taken) when its changes do not fit."""
        since, name, maincomp = reply.get("since"), reply.get("ruleset"), reply.get("maincomp")
        if not isinstance(since, list) or not isinstance(maincomp, list):
            raise InvalidInputError(f"the challenge-period service sent {reply!r:.80}")
        self.maincomp = tuple(check_hotkeys(maincomp, "maincomp"))
        if name != self.rules.name:
            try:
                self.rules = config.ruleset(name if isinstance(name, str) else None)
            except InvalidInputError:
                log.warning("unknown rule set %r from the challenge-period service", name)
        if "changes" in reply:
            try:
                rebuilt = self._changed(reply["changes"])
            except StaleChanges as exc:
                log.warning(
                    "the challenge-period service's changes do not fit the inputs held "
                    "(%s); asking for the whole inputs",
                    exc,
                )
                return False
            if not self._as_sent(rebuilt, reply.get("digest")):
                return False
            self.inputs = rebuilt
            self.metagraph = frozenset(self.inputs.metagraph_hotkeys)
        elif "inputs" in reply:
            if reply["inputs"] is not None:
                self.inputs = parse_refresh_inputs(reply["inputs"])
                self.metagraph = frozenset(self.inputs.metagraph_hotkeys)
            elif self.inputs is not None:
                # A restarted peer has no inputs until the validator's next cycle; the last
                # ones are still the latest the validator sent.
                log.info("the challenge-period service has no inputs yet; keeping the last ones")
        self._since = since
        return True

    def _changed(self, changes: object) -> RefreshInputs:
        """The inputs held, changed; StaleChanges when they are not the changes' base."""
        held, since = self.inputs, self._since
        if not isinstance(changes, InputsChanges):
            raise StaleChanges(f"changes of an unknown shape: {changes!r:.80}")
        if held is None or since is None or since[1] != changes.base:
            raise StaleChanges(f"changes from inputs {changes.base}, not the ones held")
        return apply_changes(held, changes)

    def _as_sent(self, rebuilt: RefreshInputs, digest: object) -> bool:
        """False, logged and counted, when ``rebuilt`` is not the document whose digest the
        changes came with (a fault in the rebuilding); True without a digest (a peer from
        before it), which the tests alone then vouch for."""
        if digest is None:
            return True
        made = elimination_digest(rebuilt)
        if made == digest:
            return True
        self.mismatched += 1
        log.error(
            "the challenge-period service's changes made other inputs than it holds "
            "(digest %s, expected %s); not kept, asking for the whole inputs",
            made,
            digest,
        )
        return False

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
