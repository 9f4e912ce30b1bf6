"""What each service needs of its peer, as protocols: the peer is injected, never imported.

The launchers pass a client of the other service; direct mode passes the other direct-mode
client. Neither service holds a reference into the other's memory.
"""

from __future__ import annotations

from typing import Protocol

from services.domain.models import ReasonTuple


class EliminationsPort(Protocol):
    """The elimination side, as the challenge-period refresh sees it."""

    def get_eliminated_hotkeys(self) -> set[str]: ...


class ChallengePeriodPort(Protocol):
    """The challenge-period side, as the elimination handoff sees it."""

    def has_elimination_reasons(self) -> bool: ...

    def get_all_elimination_reasons(self) -> dict[str, ReasonTuple]: ...

    def pop_elimination_reasons(
        self, hotkeys: list[str] | None = None
    ) -> dict[str, ReasonTuple]: ...

    def get_elimination_changes(
        self, since: list[object] | None = None
    ) -> dict[str, object] | None: ...

    def remove_miners(self, hotkeys: list[str]) -> int: ...
