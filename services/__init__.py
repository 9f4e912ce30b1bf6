"""The challenge-period and elimination services (server side).

The server classes are imported on first use, so that the rules and models can be imported
without loading Pyro5 and without import cycles through the name-server package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.challengeperiod_manager_server import ChallengePeriodManagerServer
    from services.elimination_manager_server import EliminationManagerServer

__all__ = ["ChallengePeriodManagerServer", "EliminationManagerServer"]


def __getattr__(name: str) -> Any:
    if name == "ChallengePeriodManagerServer":
        from services.challengeperiod_manager_server import ChallengePeriodManagerServer

        return ChallengePeriodManagerServer
    if name == "EliminationManagerServer":
        from services.elimination_manager_server import EliminationManagerServer

        return EliminationManagerServer
    raise AttributeError(f"module 'services' has no attribute {name!r}")
