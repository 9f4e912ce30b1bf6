"""deploy/: the pm2 and systemd files run the commands they name, and those commands work.

Each file's command line and environment are read from the file itself, with only the
install paths (/opt/cpm, /var/lib/cpm) and the name-server port swapped for this test's.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from tests.processes import Proc, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
BIN = Path(sys.executable).parent


def _localize(text: str, root: Path, port: int) -> str:
    text = text.replace("/opt/cpm/.venv/bin", str(BIN)).replace("/opt/cpm", str(root))
    return text.replace("/var/lib/cpm", str(root / "var")).replace("9090", str(port))


def unit(name: str, root: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """ExecStart and Environment of a systemd unit, localized."""
    argv: list[str] = []
    env: dict[str, str] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart":
            argv = shlex.split(_localize(value, root, port))
        elif key == "Environment":
            var, _, setting = value.partition("=")
            env[var] = _localize(setting, root, port)
    assert argv, f"{name} has no ExecStart"
    return argv, env


def pm2_app(name: str, root: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """script + args and env of one app of the pm2 ecosystem file, localized."""
    apps = json.loads((DEPLOY / "pm2" / "ecosystem.json").read_text())["apps"]
    app = next(a for a in apps if a["name"] == name)
    assert app["interpreter"] == "none"
    argv = [_localize(app["script"], root, port), *app["args"]]
    return argv, {k: _localize(v, root, port) for k, v in app["env"].items()}


def _both_healthy(port: int) -> bool:
    try:
        with (
            ChallengePeriodManager(ns_port=port, timeout_s=2.0) as cpm,
            EliminationManager(ns_port=port, timeout_s=2.0) as em,
        ):
            return cpm.health_check()["status"] == "ok" and em.health_check()["status"] == "ok"
    except ConnectionError:
        return False


def test_the_systemd_units_of_each_service_run(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "var").mkdir()
    procs = [
        Proc(*unit(name, tmp_path, port))
        for name in (
            "cpm-nameserver.service",
            "cpm-server.service",
            "cpm-elimination-server.service",
        )
    ]
    try:
        wait_until(lambda: _both_healthy(port), 30, "both services healthy by name")
        assert (tmp_path / "var" / "validation").is_dir()  # CPM_STATE_DIR from the units
        for proc in reversed(procs):
            assert proc.terminate(timeout_s=30) == 0  # systemd's stop: SIGTERM, exit 0
    finally:
        for proc in procs:
            proc.close()


@pytest.mark.parametrize(
    "read", [lambda r, p: unit("cpm-stack.service", r, p), lambda r, p: pm2_app("cpm-stack", r, p)]
)
def test_the_stack_unit_and_the_pm2_app_run(read, tmp_path: Path) -> None:
    port = free_port()
    proc = Proc(*read(tmp_path, port))
    try:
        proc.wait_for_output("Ctrl-C stops everything", timeout_s=60)
        wait_until(lambda: _both_healthy(port), 30, "both services healthy by name")
        assert proc.terminate(timeout_s=30) == 0
    finally:
        proc.close()
