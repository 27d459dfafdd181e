"""The package's layers point one way: a module imports only from its own layer or lower ones."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parent.parent / "src" / "tally"

# Lowest first. The SDK (client) needs only the core; dev tooling (demo, local
# network, processes, benchmarks) sits above the API and below the CLI. Settlement (bank files, the bank
# adapter) talks to a node through the SDK only.
LAYERS = {
    "core": 0, "store": 1, "client": 1, "qr": 1, "settlement": 2, "ordering": 2, "node": 3, "web": 4, "api": 4,
    "dev": 5, "cli": 6,
}  # fmt: skip


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "tally" and parts[1] in LAYERS else None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Every module a file imports, absolute, including imports inside functions."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                found.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.append(node.module)
    return found


def test_no_module_imports_from_a_layer_above_it() -> None:
    violations = []
    checked = 0
    for path in sorted(SRC.rglob("*.py")):
        own = _layer_of(_module_name(path))
        if own is None:
            continue
        checked += 1
        for imported in _imports(path):
            other = _layer_of(imported)
            if other is not None and LAYERS[other] > LAYERS[own]:
                violations.append(f"{path.relative_to(SRC)} ({own}) imports {imported} ({other})")
    assert checked > 40
    assert violations == []


def test_the_check_sees_an_upward_import() -> None:
    """The check itself: a relative import from ordering/ into node/ is resolved and is upward."""
    resolved = _imports(SRC / "ordering" / "base.py")
    assert "tally.ordering.mempool" in resolved
    assert LAYERS[_layer_of("tally.node.node") or ""] > LAYERS["ordering"]


def test_the_sqlite_store_is_named_only_where_a_store_is_chosen() -> None:
    named = sorted(
        str(p.relative_to(SRC.parent.parent))
        for root in (SRC, SRC.parent.parent / "tests", SRC.parent.parent / "bench")
        for p in root.rglob("*.py")
        if "SqliteStore" in p.read_text() and p.name != Path(__file__).name
    )
    # make_reference_ledger.py runs against commit 1ef47bc, whose layout it names.
    assert named == [
        "src/tally/store/__init__.py",
        "src/tally/store/sqlite.py",
        "tests/fixtures/make_reference_ledger.py",
    ]


def test_core_is_pure() -> None:
    """core/ does no I/O and reads no clock or randomness."""
    banned = {"os", "time", "random", "socket", "sqlite3", "threading", "asyncio", "httpx", "subprocess", "datetime"}
    for path in (SRC / "core").rglob("*.py"):
        roots = {m.split(".")[0] for m in _imports(path)}
        assert not roots & banned, f"{path.relative_to(SRC)} imports {sorted(roots & banned)}"
