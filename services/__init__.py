"""The challenge-period and elimination services, in layers that import one way only.

``domain`` (rules, models, errors) ← ``storage`` (journal, files, state) ← ``wire`` (names,
encoding, auth, the error table) ← ``shells`` (the exposed classes) ← ``launch`` and the entry
modules ``challengeperiod_manager_server`` / ``elimination_manager_server``. See
docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from services.shells.challengeperiod import ChallengePeriodManagerServer
from services.shells.elimination import EliminationManagerServer

__all__ = ["ChallengePeriodManagerServer", "EliminationManagerServer"]
