"""EliminationManager: the client of the elimination service; one RPC per method."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from clients.base import ServiceClient, lacks_call
from clients.transport import Transport
from services.domain.elimination_rules import check_given_rows, check_row_dict
from services.domain.errors import RemoteError
from services.domain.models import check_hotkey, check_hotkeys, check_reason, check_time
from services.domain.ports import ChallengePeriodPort
from services.shells.elimination import EliminationManagerServer
from services.wire.api import ELIMINATION_READ_ONLY, EliminationAPI
from services.wire.codec import dumps_arg
from services.wire.names import ELIMINATION_SERVICE


class EliminationManager(ServiceClient[EliminationAPI]):
    """Client of EliminationManagerServer (or, in direct mode, an in-process server)."""

    service_name = ELIMINATION_SERVICE
    server_module = "services.elimination_manager_server"
    read_only_methods = ELIMINATION_READ_ONLY

    def __init__(
        self,
        *,
        running_unit_tests: bool = False,
        ns_host: str | None = None,
        ns_port: int | None = None,
        spawn_server: bool = False,
        state_dir: str | Path | None = None,
        timeout_s: float = 10.0,
        auth_token: str | None = None,
        challengeperiod_manager: ChallengePeriodPort | None = None,
        transport: Transport | None = None,
    ) -> None:
        def make_server(path: Path) -> EliminationManagerServer:
            return EliminationManagerServer(
                path, reasons_source=challengeperiod_manager, fold_every_change=True
            )

        super().__init__(
            running_unit_tests=running_unit_tests,
            ns_host=ns_host,
            ns_port=ns_port,
            spawn_server=spawn_server,
            state_dir=state_dir,
            timeout_s=timeout_s,
            auth_token=auth_token,
            make_server=make_server,
            transport=transport,
        )
        # The eliminated hotkeys as of the service's answer at ``_since`` [epoch, version].
        self._eliminated: frozenset[str] = frozenset()
        self._since: list[Any] | None = None
        self._eliminated_lock = threading.Lock()
        cpm_server = getattr(challengeperiod_manager, "direct_server", None)
        if running_unit_tests and cpm_server is not None and not cpm_server.has_eliminated_source:
            # A direct-mode pair: the challenge-period side was built first and could not be
            # given this client, so it learns eliminated hotkeys from it now, through its API.
            cpm_server.set_eliminated_source(self.get_eliminated_hotkeys_frozen)

    def __enter__(self) -> EliminationManager:
        return self

    def get_eliminations(self) -> list[dict[str, Any]]:
        """Every elimination row."""
        rows: list[dict[str, Any]] = json.loads(self._service.get_eliminations_rpc())
        return rows

    def get_eliminated_hotkeys(self) -> set[str]:
        """Every eliminated hotkey: one call, which brings only what changed since this
        client's last answer."""
        return set(self.get_eliminated_hotkeys_frozen())

    def get_eliminated_hotkeys_frozen(self) -> frozenset[str]:
        """``get_eliminated_hotkeys`` as a frozenset that stays the same object while the
        set does not change: the challenge-period service asks before each refresh, and
        with thousands of eliminated hotkeys copying them cost more than the call."""
        with self._eliminated_lock:
            try:
                raw = self._service.get_eliminated_hotkeys_since_rpc(self._since)
            except RemoteError as exc:
                if not lacks_call(exc, "get_eliminated_hotkeys_since_rpc"):
                    raise
                everything = json.loads(self._service.get_eliminated_hotkeys_rpc())
                return frozenset(check_hotkeys(everything, "eliminated hotkeys"))
            reply = json.loads(raw)
            if "all" in reply:
                self._eliminated = frozenset(check_hotkeys(reply["all"], "eliminated hotkeys"))
            else:
                removed = check_hotkeys(reply["removed"], "removed")
                added = check_hotkeys(reply["added"], "added")
                if removed or added:
                    self._eliminated = self._eliminated.difference(removed).union(added)
            self._since = reply["since"]
            return self._eliminated

    def get_elimination(self, hotkey: str) -> dict[str, Any] | None:
        """The hotkey's row, or None."""
        row: dict[str, Any] | None = self._service.get_elimination_rpc(check_hotkey(hotkey))
        return row

    def is_eliminated(self, hotkey: str) -> bool:
        """True when the hotkey has a row."""
        return bool(self._service.is_eliminated_rpc(check_hotkey(hotkey)))

    def append_elimination_row(
        self,
        hotkey: str,
        current_dd: float | None,
        reason: str,
        t_ms: int | None = None,
        price_info: dict[str, Any] | None = None,
        return_info: dict[str, Any] | None = None,
    ) -> bool:
        """Add a row; False (and nothing written) when the hotkey already has one."""
        checked_reason, dd = check_reason((reason, 0 if current_dd is None else current_dd))
        t = None if t_ms is None else check_time(t_ms, "t_ms")
        prices = _row_dict(price_info, "price_info")
        returns = _row_dict(return_info, "return_info")
        return bool(
            self._service.append_elimination_row_rpc(
                check_hotkey(hotkey),
                None if current_dd is None else dd,
                checked_reason,
                t,
                prices,
                returns,
            )
        )

    def delete_eliminations(self, hotkeys: list[str]) -> int:
        """Remove the rows of ``hotkeys``; returns how many were removed."""
        return int(
            self._service.delete_eliminations_rpc(
                dumps_arg(check_hotkeys(hotkeys, "hotkeys"), "hotkeys")
            )
        )

    def process_eliminations(self, current_time_ms: int | None = None) -> dict[str, list[str]]:
        """One round: departed, handoff, MAX_TOTAL_DRAWDOWN, ZOMBIE, expiry; returns the
        hotkeys added, skipped (a row existed) and deleted (expired)."""
        t = None if current_time_ms is None else check_time(current_time_ms, "current_time_ms")
        result: dict[str, list[str]] = self._service.process_eliminations_rpc(t)
        return result

    def sync_eliminations(self, rows: list[dict[str, Any]]) -> list[str]:
        """Replace every row at once; returns the hotkeys whose rows were removed."""
        arg = dumps_arg(list(check_given_rows(rows).values()), "rows")
        removed: list[str] = json.loads(self._service.sync_eliminations_rpc(arg))
        return removed

    def write_eliminations_to_disk(self, rows: list[dict[str, Any]]) -> None:
        """Replace every row at once and rewrite eliminations.json (restore from a backup)."""
        arg = dumps_arg(list(check_given_rows(rows).values()), "rows")
        self._service.write_eliminations_to_disk_rpc(arg)

    def is_hotkey_re_registered(self, hotkey: str) -> bool:
        """True when the hotkey departed earlier and is back in the latest metagraph."""
        if hotkey is None or hotkey == "":
            return False
        return bool(self._service.is_hotkey_re_registered_rpc(check_hotkey(hotkey)))

    def get_departed_hotkey_info(self, hotkey: str) -> dict[str, int] | None:
        """{"detected_ms": int} when the hotkey was seen leaving the metagraph, else None."""
        info: dict[str, int] | None = self._service.get_departed_hotkey_info_rpc(
            check_hotkey(hotkey)
        )
        return info

    def export_state(self) -> dict[str, Any]:
        """{file name: document} of every state file at one instant (``cpm-backup``)."""
        documents: dict[str, Any] = json.loads(self._service.export_state_rpc())
        return documents

    # The validator's names for calls above.

    def get_eliminations_from_memory(self) -> list[dict[str, Any]]:
        """Every elimination row (the validator's name for ``get_eliminations``)."""
        return self.get_eliminations()

    def hotkey_in_eliminations(self, hotkey: str) -> dict[str, Any] | None:
        """The hotkey's row or None (the validator's name for ``get_elimination``)."""
        return self.get_elimination(hotkey)

    def is_hotkey_eliminated(self, hotkey: str) -> bool:
        """True when the hotkey has a row (the validator's name for ``is_eliminated``)."""
        return self.is_eliminated(hotkey)

    def get_elimination_local_cache(self, hotkey: str) -> dict[str, Any] | None:
        """The hotkey's row or None: the validator's signal path calls it by this name."""
        return self.get_elimination(hotkey)

    def get_departed_hotkey_info_local_cache(self, hotkey: str) -> dict[str, int] | None:
        """The validator's signal-path name for ``get_departed_hotkey_info``."""
        return self.get_departed_hotkey_info(hotkey)

    def get_departed_hotkeys(self) -> dict[str, dict[str, int]]:
        """{hotkey: {"detected_ms": int}} of every hotkey seen leaving the metagraph."""
        departed: dict[str, dict[str, int]] = json.loads(self._service.get_departed_hotkeys_rpc())
        return departed


def _row_dict(value: dict[str, Any] | None, name: str) -> str | None:
    """A row's extra dict as JSON for the wire, checked here so a bad one sends nothing."""
    return None if value is None else dumps_arg(check_row_dict(value, name), name)
