"""What a validator's venv gets: the clients (and services) without the tools' extra."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A process in which rich cannot be imported, as in a venv without the "tools" extra.
WITHOUT_RICH = "import sys; sys.modules['rich'] = None\n"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_RICH + code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_rich_is_an_extra_not_a_requirement() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    required = setup["options"]["install_requires"]
    assert "Pyro5" in required and "serpent" in required and "rich" not in required
    assert "rich" in setup["options.extras_require"]["tools"]


def test_clients_and_services_work_without_rich() -> None:
    done = _run(
        "from clients import ChallengePeriodManager\n"
        "import services\n"
        "with ChallengePeriodManager(running_unit_tests=True) as cpm:\n"
        "    cpm.set_miner_bucket('a', 'MAINCOMP', 1)\n"
        "    print(cpm.get_miner_bucket('a'))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "MAINCOMP"


def test_a_tool_without_rich_says_what_to_install() -> None:
    done = _run("import runpy; runpy.run_module('tools.inspector', run_name='__main__')")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "cpm-inspect needs rich, the 'tools' extra: pip install 'cpm-services[tools]'"
    )
