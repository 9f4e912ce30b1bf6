"""The contract's public names: imports, enums, console scripts, client signatures."""

from __future__ import annotations

import configparser
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import clients
import services
from clients import ChallengePeriodManager, EliminationManager, EliminationReason, MinerBucket
from services import ChallengePeriodManagerServer, EliminationManagerServer

ROOT = Path(__file__).resolve().parent.parent


def test_contract_imports() -> None:
    assert {
        "ChallengePeriodManager",
        "EliminationManager",
        "MinerBucket",
        "EliminationReason",
    } <= set(clients.__all__)
    assert services.ChallengePeriodManagerServer.__name__ == "ChallengePeriodManagerServer"
    assert services.EliminationManagerServer.__name__ == "EliminationManagerServer"


def test_enums_are_strings_with_the_contract_values() -> None:
    assert [b.value for b in MinerBucket] == ["CHALLENGE", "MAINCOMP", "PROBATION", "PLAGIARISM"]
    assert MinerBucket.CHALLENGE == "CHALLENGE" and isinstance(MinerBucket.MAINCOMP, str)
    assert {r.value for r in EliminationReason} == {
        "ZOMBIE",
        "PLAGIARISM",
        "MAX_TOTAL_DRAWDOWN",
        "FAILED_CHALLENGE_PERIOD_TIME",
        "FAILED_CHALLENGE_PERIOD_DRAWDOWN",
        "LIQUIDATED",
    }


@pytest.mark.parametrize(
    ("command", "module"),
    [
        ("cpm-nameserver", "nameserver"),
        ("cpm-server", "services.challengeperiod_manager_server"),
        ("cpm-elimination-server", "services.elimination_manager_server"),
        ("cpm-stack", "tools.stack"),
        ("cpm-inspect", "tools.inspector"),
        ("cpm-bench", "tools.bench"),
    ],
)
def test_console_scripts_point_at_main_functions(command: str, module: str) -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = dict(
        line.split(" = ", 1)
        for line in config["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    target_module, function = scripts[command].split(":")
    assert target_module in (module, f"{module}.__main__")
    main = getattr(importlib.import_module(target_module), function)
    assert list(inspect.signature(main).parameters) == ["argv"]


@pytest.mark.parametrize(
    ("cls", "peer"),
    [
        (ChallengePeriodManager, "elimination_manager"),
        (EliminationManager, "challengeperiod_manager"),
    ],
)
def test_client_constructor_keywords(cls: type, peer: str) -> None:
    params = inspect.signature(cls).parameters
    expected = {
        "running_unit_tests": False,
        "ns_host": None,
        "ns_port": None,
        "spawn_server": False,
        "state_dir": None,
        "timeout_s": 10.0,
        "auth_token": None,
        peer: None,
    }
    for name, default in expected.items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default


# Drop-in names of the validator's code that call a method of ours under another name.
ALIASES = {
    "refresh": "refresh_now",
    "get_eliminations_from_memory": "get_eliminations",
    "hotkey_in_eliminations": "get_elimination",
    "is_hotkey_eliminated": "is_eliminated",
    "get_elimination_local_cache": "get_elimination",
    "get_departed_hotkey_info_local_cache": "get_departed_hotkey_info",
    # One call bringing the changes since the client's last answer (a change feed).
    "get_eliminated_hotkeys": "get_eliminated_hotkeys_since",
    "get_eliminated_hotkeys_frozen": "get_eliminated_hotkeys_since",
}


def test_every_client_method_has_one_server_method() -> None:
    for client_cls, server_cls in [
        (ChallengePeriodManager, ChallengePeriodManagerServer),
        (EliminationManager, EliminationManagerServer),
    ]:
        public = [
            name
            for name, _ in inspect.getmembers(client_cls, inspect.isfunction)
            if not name.startswith("_") and name not in {"close", "service_uri"}
        ]
        for name in public:
            # The validator's names for a call that exists under our name are aliases.
            target = ALIASES.get(name, name)
            assert hasattr(server_cls, f"{target}_rpc"), f"{server_cls.__name__} lacks {target}_rpc"


def _console_scripts() -> list[tuple[str, str]]:
    setup = configparser.ConfigParser()
    setup.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    entries = setup["options.entry_points"]["console_scripts"].strip().splitlines()
    return [
        (name.strip(), target.split(":")[0].strip())
        for name, target in (line.split("=") for line in entries)
    ]


@pytest.mark.parametrize(("command", "module"), _console_scripts())
def test_every_command_answers_version(command: str, module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == command and done.stdout.split()[1][0].isdigit()
