"""Fixtures shared by the suite; a run in which no test passed fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clients import ChallengePeriodManager, EliminationManager
from tests.hosting import embedded_nameserver, hosted_challengeperiod
from tests.processes import Proc, free_port, start_cpm_server, start_nameserver


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak", action="store_true", help="also run the long soak tests (minutes each)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak test: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A suite that collected or ran nothing must never look green (pytest's "no tests ran"
    # is exit 5, but an all-skipped run exits 0). Under pytest-xdist the controller sees
    # every worker's results; a worker, which has no reporter of its own, is left alone.
    if hasattr(session.config, "workerinput"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = len(reporter.stats.get("passed", [])) if reporter else 0
    if exitstatus == 0 and passed == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.fixture
def direct_client(tmp_path: Path) -> Iterator[ChallengePeriodManager]:
    client = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "state")
    yield client
    client.close()


@pytest.fixture
def network_client(tmp_path: Path) -> Iterator[ChallengePeriodManager]:
    """A client talking over TCP to a service hosted in this process (port 0, in a thread)."""
    with (
        embedded_nameserver() as ns,
        hosted_challengeperiod(tmp_path / "state", ns),
        ChallengePeriodManager(ns_host=ns.host, ns_port=ns.port, timeout_s=5.0) as client,
    ):
        yield client


@pytest.fixture
def direct_pair(tmp_path: Path) -> Iterator[tuple[ChallengePeriodManager, EliminationManager]]:
    """Both clients in direct mode, their files in tmp_path / "cpm" and tmp_path / "em"."""
    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cpm")
    em = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=cpm
    )
    yield cpm, em
    em.close()
    cpm.close()


@pytest.fixture
def ns_port() -> Iterator[int]:
    port = free_port()
    proc = start_nameserver(port)
    yield port
    proc.close()


@pytest.fixture
def cpm_process(ns_port: int, tmp_path: Path) -> Iterator[Proc]:
    proc = start_cpm_server(ns_port, tmp_path / "state")
    yield proc
    proc.close()


@pytest.fixture
def remote_client(ns_port: int, cpm_process: Proc) -> Iterator[ChallengePeriodManager]:
    client = ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0)
    yield client
    client.close()
