"""The terminal tools' optional dependency, rich: the "tools" extra of the package.

A validator's venv installs only what the clients need; ``cpm-inspect``, ``cpm-bench`` and
``cpm-load`` then say what to install instead of failing with a traceback.
"""

from __future__ import annotations


def missing(exc: ModuleNotFoundError, prog: str) -> str:
    """The one line a tool exits with when ``exc`` is a missing extra (else re-raise)."""
    if exc.name is None or exc.name.split(".")[0] != "rich":
        raise exc
    return f"{prog} needs rich, the 'tools' extra: pip install 'cpm-services[tools]'"
