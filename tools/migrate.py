"""``cpm-migrate --check DIR``: what the services would load from a validator's directory.

A dry run, read-only: it opens no lock, writes nothing and folds no journal. It reads the
files the validator (or an earlier version of these services) wrote in DIR, reports what
they hold and every fix-up the services will make when they load them (integral float
times, rows missing fields, a duplicate row, a legacy shape), and says whether the services
can start on DIR. Exit 0: they can; 1: a file is corrupt (named); 2: usage, or no DIR.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.domain.errors import CorruptStateError
from services.launch import cli
from services.storage import challengeperiod_files, elimination_state
from services.storage.durable_store import DurableStore

PROG = "cpm-migrate"


@dataclass
class Report:
    """What a check found: counts per store, fix-ups, problems."""

    directory: str
    found: dict[str, dict[str, Any]] = field(default_factory=dict)
    fixups: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the services can start on the directory."""
        return not self.problems


class _Collect(logging.Handler):
    """Keeps the warnings the loaders log: each is a fix-up the services will make."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _files(store: DurableStore, names: list[str]) -> dict[str, bool]:
    return {name: (store.state_dir / name).exists() for name in names}


def _read(store: DurableStore, report: Report) -> tuple[dict[str, dict[str, Any]], int] | None:
    holder = store.holder()
    if holder is not None:
        report.problems.append(
            f"{store.state_dir} is in use by a running service (pid {holder}): stop it first"
        )
    try:
        return store.read()
    except CorruptStateError as exc:
        report.problems.append(str(exc))
        return None


def check(directory: Path) -> Report:
    """Read every state file of ``directory`` as the services would, changing nothing."""
    report = Report(str(directory))
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        cp = challengeperiod_files.open_store(directory)
        cp_read = _read(cp, report)
        cp_files = [challengeperiod_files.CHALLENGEPERIOD_FILE, challengeperiod_files.REASONS_FILE]
        if cp_read is not None:
            tables, version = cp_read
            buckets = Counter(entry.bucket.value for entry in tables["miners"].values())
            report.found["challengeperiod"] = {
                "files": _files(cp, cp_files),
                "version": version,
                "miners": dict(sorted(buckets.items())),
                "pending_reasons": len(tables["reasons"]),
            }
            raw = _raw(directory / challengeperiod_files.CHALLENGEPERIOD_FILE)
            if isinstance(raw, dict) and set(raw) == {"testing", "success"}:
                report.fixups.append(
                    "challengeperiod.json is in the legacy {testing, success} shape: it is "
                    "read as CHALLENGE and MAINCOMP and written back in the current shape"
                )
        em = elimination_state.open_store(directory)
        em_read = _read(em, report)
        if em_read is not None:
            tables, version = em_read
            reasons = Counter(str(row.get("reason")) for row in tables["rows"].values())
            report.found["eliminations"] = {
                "files": _files(
                    em, [elimination_state.ELIMINATIONS_FILE, elimination_state.DEPARTED_FILE]
                ),
                "version": version,
                "rows": dict(sorted(reasons.items())),
                "departed_hotkeys": len(tables["departed"]),
            }
    finally:
        root.removeHandler(collect)
    report.fixups += collect.messages
    return report


def _raw(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def format_report(report: Report) -> str:
    """The report as lines for a terminal."""
    lines = [f"{PROG} --check {report.directory} (read-only: nothing was written)"]
    for store, found in report.found.items():
        present = ", ".join(
            f"{n} {'found' if ok else 'absent (starts empty)'}" for n, ok in found["files"].items()
        )
        lines.append(f"  {store}: {present}; version {found['version']}")
        for key, value in found.items():
            if key not in ("files", "version"):
                lines.append(f"    {key.replace('_', ' ')}: {value}")
    lines += [f"  will fix up: {message}" for message in report.fixups]
    lines += [f"  problem: {message}" for message in report.problems]
    lines.append(
        "  the services can start on this directory"
        if report.ok
        else "  the services would refuse this directory (see the problems above)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Check a validator's directory; 0 when the services can start on it."""
    parser = cli.ArgumentParser(prog=PROG, description=cli.summary(__doc__))
    parser.add_argument("--check", metavar="DIR", required=True, help="the directory to check")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    try:
        args = parser.parse_args(argv)
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    directory = Path(args.check)
    if not directory.is_dir():
        return cli.fail(f"{PROG}: {directory} is not a directory", cli.EXIT_USAGE)
    report = check(directory)
    if args.json:
        print(json.dumps({**report.__dict__, "ok": report.ok}, indent=2))
    else:
        print(format_report(report))
    return cli.EXIT_OK if report.ok else cli.EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
