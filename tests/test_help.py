"""Every command's ``--help`` says what the command does in whole sentences, and exits 0."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[tuple[str, str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return [tuple(part.strip() for part in line.split("=")) for line in lines]  # type: ignore[misc]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "target"), _commands())
def test_help_describes_the_command_in_whole_sentences(name: str, target: str) -> None:
    module, function = target.split(":")
    code = f"import sys; from {module} import {function} as m; sys.exit(m(['--help']))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=50, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    description = done.stdout.split("\n\n")[1]
    assert description.rstrip().endswith("."), f"{name}: {description!r}"
