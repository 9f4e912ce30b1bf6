"""``cpm-backup DIR``: a consistent copy of a running stack's state, without stopping it.

Each service hands over every one of its state files as they stand at one instant (taken
under its lock, the journal included), and the files are written into DIR the way the
services write them (each atomically). DIR then is a state dir like any other: check it
with ``cpm-migrate --check DIR``, start services on it, or copy it back to restore. The
two services are copied one after the other, so a reason handed over in between may be in
both copies; the handoff skips a row that already exists, so nothing is doubled.
Exit 0: written; 2: a service did not answer, or DIR exists and is not empty (a backup is
never overwritten).
"""

from __future__ import annotations

import sys
from pathlib import Path

from clients import ChallengePeriodManager, EliminationManager
from services.domain.errors import CpmError
from services.launch import cli
from services.storage.atomic_files import write_json_atomic

PROG = "cpm-backup"


def backup(cpm: ChallengePeriodManager, em: EliminationManager, target: Path) -> list[str]:
    """Write both services' state files into ``target``; returns the file names."""
    documents = {**cpm.export_state(), **em.export_state()}
    target.mkdir(parents=True, exist_ok=True)
    for name, document in sorted(documents.items()):
        write_json_atomic(target / name, document)
    return sorted(documents)


def main(argv: list[str] | None = None) -> int:
    """Copy the live state of the stack found in the name server into DIR."""
    parser = cli.ArgumentParser(prog=PROG, description=cli.summary(__doc__))
    cli.add_nameserver_flags(parser, cli.environ())
    parser.add_argument("dir", metavar="DIR", help="where to write the copy (new or empty)")
    try:
        args = parser.parse_args(argv)
    except cli.UsageError as exc:
        return cli.fail(str(exc), cli.EXIT_USAGE)
    target = Path(args.dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        return cli.fail(f"{PROG}: {target} exists and is not an empty directory", cli.EXIT_USAGE)
    try:
        with (
            ChallengePeriodManager(ns_host=args.ns_host, ns_port=args.ns_port) as cpm,
            EliminationManager(ns_host=args.ns_host, ns_port=args.ns_port) as em,
        ):
            names = backup(cpm, em, target)
    except (CpmError, ConnectionError, PermissionError) as exc:
        return cli.fail(f"{PROG}: {str(exc).splitlines()[0]}", cli.EXIT_USAGE)
    except OSError as exc:
        return cli.fail(f"{PROG}: cannot write {target}: {exc}", cli.EXIT_FAILURE)
    print(f"{PROG}: wrote {', '.join(names)} to {target}")
    return cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
