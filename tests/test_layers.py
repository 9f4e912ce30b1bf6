"""The shape of the code: layers that import one way, no circles, small modules, and the
server classes exposing exactly the calls their API protocols name."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from services import ChallengePeriodManagerServer, EliminationManagerServer
from services.wire.api import (
    CHALLENGEPERIOD_READ_ONLY,
    ELIMINATION_READ_ONLY,
    ChallengePeriodAPI,
    EliminationAPI,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("services", "clients", "nameserver", "tools")
MAX_LINES = 400

# Lower layers never import higher ones. A module's layer is that of its longest prefix.
LAYERS = {
    "services.domain": 0,
    "services.storage": 1,
    "services.wire": 2,
    "services.shells": 3,
    "services": 3,  # the package re-exports the two server classes
    "clients": 4,
    "services.launch": 5,
    "services.challengeperiod_manager_server": 5,
    "services.elimination_manager_server": 5,
    "nameserver": 6,
    "tools": 7,
}
# What the domain may not use: it does no I/O, starts no thread and knows no network.
DOMAIN_FORBIDDEN = {"Pyro5", "serpent", "threading", "socket", "os", "pathlib", "subprocess"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file, in functions and
    ``if TYPE_CHECKING`` blocks too: a circle hidden there is still a circle."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from pkg import sub` imports the module pkg.sub when there is one.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _project_edges() -> dict[str, set[str]]:
    return {mod: _imports(path) & MODULES.keys() - {mod} for mod, path in MODULES.items()}


def _layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_a_circle_and_a_hidden_import(tmp_path: Path) -> None:
    hidden = tmp_path / "m.py"
    hidden.write_text("def f():\n    from clients.base import ServiceClient\n")
    assert "clients.base" in _imports(hidden)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_between_modules() -> None:
    assert _cycles(_project_edges()) == []


def test_no_import_circle_between_packages() -> None:
    def package(module: str) -> str:
        return (
            ".".join(module.split(".")[:2])
            if module.startswith("services.")
            else (module.split(".")[0])
        )

    packages: dict[str, set[str]] = {}
    for mod, targets in _project_edges().items():
        packages.setdefault(package(mod), set()).update(package(t) for t in targets)
    for name, targets in packages.items():
        targets.discard(name)
        # A package's __init__ re-exporting its own sub-packages is not a circle.
        if name == "services":
            targets.clear()
    assert _cycles(packages) == []


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{mod} (layer {_layer(mod)}) imports {target} (layer {_layer(target)})"
        for mod, targets in _project_edges().items()
        for target in sorted(targets)
        if _layer(target) > _layer(mod)
    ]
    assert upward == []


def test_the_domain_does_no_io_and_knows_no_pyro5() -> None:
    used = {
        mod: sorted({name.split(".")[0] for name in _imports(path)} & DOMAIN_FORBIDDEN)
        for mod, path in MODULES.items()
        if mod.startswith("services.domain")
    }
    assert {mod: names for mod, names in used.items() if names} == {}


def test_the_shells_never_import_clients() -> None:
    edges = _project_edges()
    assert not [
        (mod, t)
        for mod, targets in edges.items()
        if mod.startswith("services.shells")
        for t in targets
        if t.split(".")[0] == "clients"
    ]


def test_no_module_is_over_400_lines() -> None:
    long = {mod: n for mod, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def _exposed(cls: type) -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if getattr(fn, "_pyroExposed", False)
    }


def _declared(protocol: type) -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in vars(protocol).items()
        if name.endswith("_rpc") and callable(fn)
    }


@pytest.mark.parametrize(
    ("server", "api", "read_only"),
    [
        (ChallengePeriodManagerServer, ChallengePeriodAPI, CHALLENGEPERIOD_READ_ONLY),
        (EliminationManagerServer, EliminationAPI, ELIMINATION_READ_ONLY),
    ],
)
def test_each_server_exposes_exactly_its_api(server: type, api: type, read_only: frozenset) -> None:
    assert _exposed(server) == _declared(api)
    assert read_only <= _declared(api).keys()


@pytest.mark.parametrize("server", [ChallengePeriodManagerServer, EliminationManagerServer])
def test_every_exposed_method_goes_through_the_rpc_boundary(server: type) -> None:
    """``rpc`` is where an authenticated connection's calls are checked and sealed: an
    exposed method without it would answer a relay's call unchecked."""
    bare = [
        name
        for name, fn in inspect.getmembers(server, inspect.isfunction)
        if getattr(fn, "_pyroExposed", False) and not getattr(fn, "cpm_rpc", False)
    ]
    assert bare == []


def _conforms(
    cpm: ChallengePeriodManagerServer, em: EliminationManagerServer
) -> tuple[ChallengePeriodAPI, EliminationAPI]:
    # Never called: mypy (run over tests/ too) checks the servers against the protocols here.
    return cpm, em
